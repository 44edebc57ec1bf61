/* SPDX-License-Identifier: Apache-2.0 */
/* The transcoder daemon's internals shared by its files (not part of the core's API). */
#ifndef BADGEFLOW_TRANSCODER_INT_H
#define BADGEFLOW_TRANSCODER_INT_H

#include <limits.h>
#include <sys/types.h>

#include "badgeflow/catalogue.h"
#include "badgeflow/daemon.h"
#include "badgeflow/metrics.h"
#include "badgeflow/pg.h"
#include "transcoder.h"

/* A named statement. */
struct tc_sql {
    const char *name, *sql;
};

PGresult *tc_q(struct bf_pg *pg, const struct tc_sql *s, int n, const char *const *p,
               struct bf_err *err);
int tc_cmd(struct bf_pg *pg, const struct tc_sql *s, int n, const char *const *p, long long *rows,
           struct bf_err *err) BF_MUST_CHECK;
const char *tc_val(const PGresult *r, int row, int col);

extern const struct tc_sql tc_sql_tenant, tc_sql_exists, tc_sql_pilot, tc_sql_educator,
    tc_sql_submission, tc_sql_lock_sub, tc_sql_item, tc_sql_job, tc_sql_set_state, tc_sql_withdraw,
    tc_sql_cancel, tc_sql_claim, tc_sql_renew, tc_sql_release, tc_sql_backlog, tc_sql_lock_item,
    tc_sql_rendition, tc_sql_processed, tc_sql_failed, tc_sql_job_done, tc_sql_counts,
    tc_sql_failures, tc_sql_refs, tc_sql_sub_info, tc_sql_release_all;

/* One running worker. */
struct tc_slot {
    bool used;
    bool light; /* the pool of document and text jobs (badgeflow-transcode-docworker) */
    pid_t pid;
    int pfd;               /* progress pipe, read end */
    long long start, last; /* monotonic ms: started, last progress */
    const char *killed;    /* why we killed it: "deadline", "stall", NULL */
    char dir[PATH_MAX];    /* its scratch directory */
    char tenant[130], sub[130], item[130], kind[16];
    int attempts;
};

struct tc_state {
    struct bf_daemon *d;
    struct tc_runner_cfg rc;
    struct bf_cat *cat;
    long long cat_loaded; /* monotonic ms of the last (re)load */
    char owner[160];      /* this instance's lease owner id */
    struct tc_slot *slots;
    long long next_claim[2], next_renew, next_backlog; /* next_claim per pool */
    long long backlog;
    bool paused;
    long long test_delay_ms;
    struct bf_metric *m_jobs, *m_running, *m_seconds, *m_paused;
};

/* Intake (inside the record's transaction). */
int tc_on_submitted(void *state, struct bf_event *ev, struct bf_err *err);
int tc_on_withdrawn(void *state, struct bf_event *ev, struct bf_err *err);

/* The credential version, reloading the catalogue from PostgreSQL (at most every 5 s) when
 * it is not known yet: the catalogue may be loaded after the daemon started. */
const struct bf_cat_cred *tc_cat_find(struct tc_state *s, struct bf_pg *pg, const char *id,
                                      int version);

/* Settle a submission whose items may all be done: ready or rejected, with its event. */
int tc_settle(struct tc_state *s, struct bf_pg *pg, const char *tenant, const char *sub,
              struct bf_err *err) BF_MUST_CHECK;

/* The job runner, from tick(). */
void tc_runner_tick(struct tc_state *s);
/* Kill and reap every worker (shutdown): their leases expire and the jobs are redone. */
void tc_runner_stop(struct tc_state *s);

/* Record a worker's result (or failure) in one transaction with its events. */
int tc_finish(struct tc_state *s, const struct tc_slot *slot, const json_t *result,
              struct bf_err *err) BF_MUST_CHECK;

#endif
