/* SPDX-License-Identifier: Apache-2.0 */
/* The router as a daemon: config table, handler table, init, timers, shutdown. */
#include <stdlib.h>
#include <string.h>

#include "badgeflow/events.h"
#include "badgeflow/log.h"
#include "router.h"

#define MS(x) (x)
#define S(x)  ((x)*1000LL)

const struct bf_cfg_def router_cfg_defs[] = {
    {"router", "redis_prefix", BF_CFG_STR, "bf:router:", 0, 0, NULL, 0,
     "prefix of the router's Redis keys (one per deployment sharing a Redis)"},
    {"router", "batch", BF_CFG_INT, "100", 1, 10000, NULL, 0,
     "waiting items looked at per retry pass (tenants in turn)"},
    {"router", "retry_interval", BF_CFG_DURATION, "5s", MS(50), S(600), NULL, 0,
     "how often the whole waiting batch is retried (roster changes); freed places retry at once"},
    {"router", "reconcile_interval", BF_CFG_DURATION, "5s", MS(100), S(3600), NULL, 0,
     "how often Redis load is recomputed from PostgreSQL's open assignments"},
    {"router", "expire_interval", BF_CFG_DURATION, "1s", MS(50), S(600), NULL, 0,
     "how often overdue assignments are looked for"},
    {"router", "claim_grace", BF_CFG_DURATION, "30s", S(1), S(3600), NULL, 0,
     "a Redis lease unknown to PostgreSQL is kept this long (its transaction may be committing)"},
    {"router", "allow_same_district", BF_CFG_BOOL, "false", 0, 0, NULL, 0,
     "default of a tenant's allow_same_district_assessor setting"},
    {"router", "allow_same_school", BF_CFG_BOOL, "false", 0, 0, NULL, 0,
     "default of a tenant's allow_same_school_assessor setting"},
    {NULL, NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};

void router_cfg_read(const struct bf_cfg *cfg, struct router_cfg *out)
{
    bf_strlcpy(out->prefix, bf_cfg_str(cfg, "router.redis_prefix"), sizeof(out->prefix));
    out->batch = (int)bf_cfg_int(cfg, "router.batch");
    out->retry_ms = bf_cfg_int(cfg, "router.retry_interval");
    out->reconcile_ms = bf_cfg_int(cfg, "router.reconcile_interval");
    out->expire_ms = bf_cfg_int(cfg, "router.expire_interval");
    out->grace_ms = bf_cfg_int(cfg, "router.claim_grace");
    out->allow_same_district = bf_cfg_bool(cfg, "router.allow_same_district");
    out->allow_same_school = bf_cfg_bool(cfg, "router.allow_same_school");
}

static int router_init(struct bf_daemon *d, void **state, struct bf_err *err)
{
    struct router *rt = calloc(1, sizeof(*rt));
    int rc;

    if (!rt)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    rt->d = d;
    rt->pg = bf_daemon_pg(d);
    rt->redis = bf_daemon_redis(d);
    router_cfg_read(bf_daemon_cfg(d), &rt->cfg);
    router_metrics_init();
    if ((rc = router_sql_prepare(rt->pg, err)) < 0 ||
        (rc = router_queue_prepare(rt->pg, err)) < 0) {
        free(rt);
        return rc;
    }
    *state = rt;
    return 0;
}

/* Run fn when its time has come; transient failures are retried at the next interval. */
static void timer(struct router *rt, int64_t now, int64_t *next, int64_t every,
                  int (*fn)(struct router *, struct bf_err *), const char *what)
{
    struct bf_err err;

    if (now < *next)
        return;
    *next = now + every;
    if (fn(rt, &err) < 0)
        bf_log_kv(BF_LOG_WARN, "BF_ROUTER_TICK", "timer failed; retried", "timer", what, "error",
                  err.msg, NULL);
}

static int retry_all(struct router *rt, struct bf_err *err)
{
    return router_retry_waiting(rt, 0, err);
}

/* The eligibility query is long to plan and its plan does not depend on the submission:
 * plan it once per connection (custom plans cost ~10 ms a decision). */
static void session_settings(struct router *rt)
{
    struct bf_err err;
    PGresult *res;

    if (!bf_pg_connected(rt->pg) || bf_pg_generation(rt->pg) == rt->pg_generation)
        return;
    res = bf_pg_query(rt->pg, "SET plan_cache_mode = force_generic_plan", 0, NULL, &err);
    if (res)
        rt->pg_generation = bf_pg_generation(rt->pg);
    PQclear(res);
}

static int reconcile(struct router *rt, struct bf_err *err)
{
    int rc = router_redis_ensure(rt, err);

    return rc < 0 ? rc : router_redis_reconcile(rt, err);
}

static void router_tick(struct bf_daemon *d, void *state)
{
    struct router *rt = state;
    int64_t now = bf_mono_ms();

    struct bf_err err;

    (void)d;
    session_settings(rt);
    router_settle(rt); /* the leases the last record's transaction touched */
    /* Places freed: the queue moves at once (at most every 100 ms, to batch them). */
    if (rt->freed > 0 && now >= rt->next_triggered) {
        int freed = rt->freed;

        rt->freed = 0;
        rt->next_triggered = now + 100;
        if (router_retry_waiting(rt, freed, &err) < 0)
            bf_log_kv(BF_LOG_WARN, "BF_ROUTER_TICK", "timer failed; retried", "timer", "queue",
                      "error", err.msg, NULL);
    }
    timer(rt, now, &rt->next_reconcile, rt->cfg.reconcile_ms, reconcile, "reconcile");
    timer(rt, now, &rt->next_expire, rt->cfg.expire_ms, router_expire_due, "expire");
    timer(rt, now, &rt->next_retry, rt->cfg.retry_ms, retry_all, "retry");
}

static void router_fini(void *state)
{
    free(state);
}

static const struct bf_event_handler router_handlers[] = {
    {"submissions.ready", BF_EV_SUBMISSION_READY, router_on_ready},
    {"routing", BF_EV_ROUTING_REQUESTED, router_on_routing},
    {"routing", BF_EV_ASSIGNMENT_SCORED, router_on_scored},
    {"routing", BF_EV_ASSIGNMENT_RELEASE_REQUESTED, router_on_release},
    {NULL, NULL, NULL},
};

const struct bf_service router_service = {
    .name = "router",
    .cfg_defs = router_cfg_defs,
    .handlers = router_handlers,
    .needs = BF_NEEDS_KAFKA_CONSUMER | BF_NEEDS_REDIS,
    /* Several ready records per transaction: a record's own work is a few statements, and
     * BEGIN/COMMIT and the loop turn around it cost as much again (docs/router.md). */
    .batch_max = 32,
    .init = router_init,
    .tick = router_tick,
    .fini = router_fini,
};
