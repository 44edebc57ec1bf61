/* SPDX-License-Identifier: Apache-2.0 */
/* The router's Prometheus metrics. */
#include "badgeflow/metrics.h"
#include "router.h"

static struct bf_metric *m_assign, *m_claim, *m_noelig, *m_rebuild, *m_guard, *m_waiting;

void router_metrics_init(void)
{
    static const double bounds[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5};

    m_assign = bf_metrics_counter("router_assignments_total",
                                  "assignment changes by kind (created, completed, released, "
                                  "declined, expired)",
                                  "event");
    m_claim = bf_metrics_histogram("router_claim_seconds", "Redis claim latency (Lua script)", NULL,
                                   bounds, (int)(sizeof(bounds) / sizeof(bounds[0])));
    m_noelig = bf_metrics_counter("router_no_eligible_total",
                                  "routing attempts that found nobody eligible", "credential");
    m_rebuild = bf_metrics_counter("router_redis_rebuilds_total",
                                   "Redis state rebuilt from PostgreSQL after a loss", NULL);
    m_guard =
        bf_metrics_counter("router_guard_refusals_total",
                           "claims Redis allowed and PostgreSQL's capacity check refused", NULL);
    m_waiting = bf_metrics_gauge(
        "router_waiting", "waiting items seen by the last retry pass (capped by batch)", NULL);
}

void router_metric_assign(const char *what)
{
    bf_metrics_add(m_assign, what, 1);
}

void router_metric_claim(double seconds)
{
    bf_metrics_observe(m_claim, NULL, seconds);
}

void router_metric_no_eligible(const char *credential_id)
{
    bf_metrics_add(m_noelig, credential_id, 1);
}

void router_metric_rebuild(void)
{
    bf_metrics_add(m_rebuild, NULL, 1);
}

void router_metric_guard(void)
{
    bf_metrics_add(m_guard, NULL, 1);
}

void router_metric_waiting(long long n)
{
    bf_metrics_set(m_waiting, NULL, (double)n);
}
