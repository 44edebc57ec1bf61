/* SPDX-License-Identifier: Apache-2.0 */
/* Delivery threads, outside the consumer: each claims a due delivery on its own PostgreSQL
 * connection, sends it and records the outcome, so a slow endpoint costs one thread at most
 * notifier.max_in_flight times, never the consumer nor other tenants. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/log.h"
#include "badgeflow/metrics.h"
#include "notifier.h"

#define LEASE_MARGIN_S 30

struct worker {
    struct notifier_workers *pool;
    pthread_t thread;
    bool started;
    struct bf_pg *pg;
};

struct notifier_workers {
    struct bf_daemon *d;
    const struct notifier_cfg *nc;
    volatile int stop;
    int n;
    struct worker *w;
};

static struct bf_metric *m_attempts, *m_duration;

static void metrics_register(void)
{
    static const double bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

    if (m_attempts)
        return;
    m_attempts = bf_metrics_counter("notifier_attempts_total",
                                    "Webhook delivery attempts by result", "result");
    m_duration = bf_metrics_histogram("notifier_attempt_seconds", "Webhook attempt duration", NULL,
                                      bounds, (int)BF_ARRAY_LEN(bounds));
}

/* Send a claimed job and record what happened. */
static void work_one(struct worker *w, struct notifier_job *job)
{
    const struct notifier_cfg *nc = w->pool->nc;
    struct notifier_outcome o;
    struct bf_err err = {0};

    notifier_deliver(nc, job, &o);
    bf_metrics_add(m_attempts, o.ok ? "delivered" : "failed", 1);
    bf_metrics_observe(m_duration, NULL, (double)o.duration_ms / 1000.0);
    if (!o.ok)
        bf_log_kv(BF_LOG_INFO, "BF_NOTIFIER_ATTEMPT_FAILED", o.error, "delivery_id", job->id,
                  "endpoint_id", job->endpoint_id, "tenant_id", job->tenant_id, NULL);
    /* if recording fails the lease runs out and the delivery is sent again, same webhook-id */
    if (notifier_record(w->pool->d, w->pg, nc, job, &o, &err) < 0)
        bf_log_kv(BF_LOG_ERROR, "BF_NOTIFIER_RECORD", err.msg, "delivery_id", job->id, NULL);
}

/* One turn: true if a delivery was handled (look again at once), false to sleep. */
static bool turn(struct worker *w)
{
    const struct notifier_cfg *nc = w->pool->nc;
    int lease = (int)((nc->policy.timeout_ms + 999) / 1000) + LEASE_MARGIN_S;
    struct notifier_job job;
    struct bf_err err = {0};
    int rc;

    if (bf_pg_ensure(w->pg, &err) < 0)
        return false;
    rc = notifier_claim(w->pg, nc->max_in_flight, lease, &job, &err);
    if (rc < 0)
        bf_log_kv(BF_LOG_WARN, "BF_NOTIFIER_CLAIM", err.msg, NULL);
    if (rc <= 0)
        return false;
    work_one(w, &job);
    notifier_job_clear(&job);
    return true;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    while (!w->pool->stop) {
        if (!turn(w))
            bf_sleep_ms(w->pool->nc->poll_ms, &w->pool->stop);
    }
    return NULL;
}

struct notifier_workers *notifier_workers_start(struct bf_daemon *d, const struct notifier_cfg *nc,
                                                struct bf_err *err)
{
    struct notifier_workers *p = calloc(1, sizeof(*p));

    metrics_register();
    if (!p || !(p->w = calloc((size_t)nc->workers, sizeof(*p->w)))) {
        free(p);
        bf_err_set(err, BF_ENOMEM, "notifier: out of memory");
        return NULL;
    }
    p->d = d;
    p->nc = nc;
    for (p->n = 0; p->n < nc->workers; p->n++) {
        struct worker *w = &p->w[p->n];
        w->pool = p;
        w->pg = bf_pg_new_cfg(bf_daemon_cfg(d), "notifier", err);
        if (!w->pg || pthread_create(&w->thread, NULL, worker_main, w) != 0)
            goto fail;
        w->started = true;
    }
    return p;
fail:
    p->n++;
    notifier_workers_stop(p);
    bf_err_set(err, BF_ENOMEM, "notifier: cannot start worker threads");
    return NULL;
}

void notifier_workers_stop(struct notifier_workers *p)
{
    if (!p)
        return;
    p->stop = 1;
    for (int i = 0; i < p->n; i++) {
        if (p->w[i].started)
            pthread_join(p->w[i].thread, NULL);
        bf_pg_free(p->w[i].pg);
    }
    free(p->w);
    free(p);
}
