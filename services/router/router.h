/* SPDX-License-Identifier: Apache-2.0 */
/* The router's core API: assign eligible, available assessors to ready submissions. */
#ifndef BADGEFLOW_ROUTER_H
#define BADGEFLOW_ROUTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "badgeflow/cfg.h"
#include "badgeflow/daemon.h"
#include "badgeflow/err.h"
#include "badgeflow/pg.h"
#include "badgeflow/redis.h"
#include "badgeflow/util.h"

extern const struct bf_service router_service;
extern const struct bf_cfg_def router_cfg_defs[];

#define ROUTER_MAX_CANDIDATES 512
#define ROUTER_MAX_PENDING    4096
#define ROUTER_ID_LEN         129
#define ROUTER_RETRY_MISSES   16 /* a triggered queue pass stops after this many misses */

/* The [router] keys, read once at init. */
struct router_cfg {
    char prefix[64];      /* Redis key prefix */
    int batch;            /* waiting items looked at per retry pass */
    int64_t retry_ms;     /* how often waiting items are retried */
    int64_t reconcile_ms; /* how often Redis load is recomputed from PostgreSQL */
    int64_t expire_ms;    /* how often overdue leases are looked for */
    int64_t grace_ms;     /* a Redis lease younger than this may still be committing */
    bool allow_same_district;
    bool allow_same_school;
};

/* An eligible assessor as PostgreSQL sees it now (roster read per decision). */
struct router_candidate {
    char id[ROUTER_ID_LEN];
    int max_open;
    int prio; /* 0 = preferred (continuity on resubmission), 1 = any */
};

/* The router's state (opaque to the skeleton). */
struct router {
    struct bf_daemon *d;
    struct bf_pg *pg;
    struct bf_redis *redis;
    struct router_cfg cfg;
    char gen[40]; /* Redis generation we trust; "" unknown */
    char pending[ROUTER_MAX_PENDING][BF_UUID_STRLEN + 1]; /* leases to check after commit */
    int n_pending;
    bool pending_overflow;  /* more than fit: reconcile instead */
    int freed;              /* places freed since the last queue pass */
    unsigned pg_generation; /* session settings are applied once per connection */
    int64_t next_retry, next_reconcile, next_expire, next_triggered;
};

/* A work item being routed: the submission and what it still needs. */
struct router_work {
    char tenant_id[ROUTER_ID_LEN];
    char submission_id[ROUTER_ID_LEN];
    char credential_id[ROUTER_ID_LEN];
    int credential_version;
    int need_primary;
    int need_tie_break;
    int64_t turnaround_ms;
    json_t *evidence; /* owned */
};

/* ---- router_cfg.c */
void router_cfg_read(const struct bf_cfg *cfg, struct router_cfg *out);

/* ---- router_redis.c: load, leases and fencing tokens in Redis (a cache of PostgreSQL) */

/* Claim the best candidate with room for assignment_id: 1 with *pick and *token set, 0 when
 * none has room, -BF_ECONFLICT when Redis lost its state (rebuild first), or -BF_E*. */
int router_redis_claim(struct router *rt, const char *assignment_id,
                       const struct router_candidate *c, int n, int *pick, long long *token,
                       struct bf_err *err) BF_MUST_CHECK;
/* Drop the lease of assignment_id and its load (no-op if absent). 0 or -BF_E*. */
int router_redis_release(struct router *rt, const char *assignment_id,
                         struct bf_err *err) BF_MUST_CHECK;
/* Make sure Redis holds a generation we know, rebuilding from PostgreSQL if it was lost. */
int router_redis_ensure(struct router *rt, struct bf_err *err) BF_MUST_CHECK;
/* Recompute load from PostgreSQL's open assignments plus leases still committing. */
int router_redis_reconcile(struct router *rt, struct bf_err *err) BF_MUST_CHECK;
/* Current load of an assessor in Redis (tests, bench). -1 on error. */
long long router_redis_load(struct router *rt, const char *assessor_id);

/* ---- router_sql.c: the PostgreSQL side */
int router_sql_prepare(struct bf_pg *pg, struct bf_err *err) BF_MUST_CHECK;
int router_sql_candidates(struct router *rt, const struct router_work *w,
                          struct router_candidate *c, int max, int *n,
                          struct bf_err *err) BF_MUST_CHECK;
/* Lock the assessor, check PostgreSQL's own count of open assignments and, if there is room
 * (a hard cap that holds whatever Redis says), insert assignment id of w for it: 1 inserted,
 * 0 no room (nothing written), or -BF_E*. */
int router_sql_guard_assign(struct router *rt, const struct router_work *w, const char *id,
                            const char *assessor, const char *role, long long token, int64_t due_ms,
                            struct bf_err *err) BF_MUST_CHECK;
int router_sql_load_work(struct router *rt, const char *tenant, const char *submission, bool lock,
                         struct router_work *w, struct bf_err *err) BF_MUST_CHECK;
void router_work_clear(struct router_work *w);

/* ---- router_route.c: the routing decisions */

/* Assign as many assessors as w still needs (w locked in the current transaction); ev is
 * the event in hand or NULL in tick(). Items that find no room stay waiting. */
int router_fill(struct router *rt, struct bf_event *ev, struct router_work *w,
                struct bf_err *err) BF_MUST_CHECK;
/* After a transaction ended: check the leases touched against PostgreSQL and release in
 * Redis what is no longer open there (completed, released, rolled back). */
void router_settle(struct router *rt);
void router_pending_add(struct router *rt, const char *assignment_id);
/* tick() work: retry the waiting queue (tenants in turn), expire overdue leases. */
int router_retry_waiting(struct router *rt, int freed, struct bf_err *err) BF_MUST_CHECK;
int router_queue_prepare(struct bf_pg *pg, struct bf_err *err) BF_MUST_CHECK;
int router_expire_due(struct router *rt, struct bf_err *err) BF_MUST_CHECK;

/* ---- router_events.c: the assignment.* events (blind: never the educator) */
json_t *router_event_data(const char *assignment_id, const struct router_work *w,
                          const char *assessor_id, const char *role, int64_t due_ms,
                          long long token);
int router_emit(struct router *rt, struct bf_event *ev, const char *type, const char *key,
                json_t *data, struct bf_err *err) BF_MUST_CHECK;

/* ---- router_handlers.c */
int router_on_ready(void *state, struct bf_event *ev, struct bf_err *err);
int router_on_routing(void *state, struct bf_event *ev, struct bf_err *err);
int router_on_scored(void *state, struct bf_event *ev, struct bf_err *err);
int router_on_release(void *state, struct bf_event *ev, struct bf_err *err);
/* True when the submission is decided, rejected or withdrawn (nothing more to route). */
bool router_submission_final(struct router *rt, const char *tenant, const char *submission);

/* ---- router_metrics.c */
void router_metrics_init(void);
void router_metric_assign(const char *what);
void router_metric_claim(double seconds);
void router_metric_no_eligible(const char *credential_id);
void router_metric_rebuild(void);
void router_metric_guard(void);
void router_metric_waiting(long long n);

#endif
