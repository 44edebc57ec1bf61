/* SPDX-License-Identifier: Apache-2.0 */
/* The job runner: claim jobs with a lease, run each in a spawned, confined worker process,
 * watch its deadline and progress, record its result. Called from tick(), never blocks. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "badgeflow/log.h"
#include "badgeflow/util.h"
#include "transcoder_int.h"

extern char **environ;

/* ---- scratch directories ------------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void rm_tree(const char *dir)
{
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the job file -------------------------------------------------------------------------- */

static json_t *limits_json(const struct tc_runner_cfg *c, long long max_duration_s)
{
    const struct tc_limits *l = &c->lim;
    long long cap = l->max_duration_ms;

    if (max_duration_s > 0 && max_duration_s * 1000 < cap)
        cap = max_duration_s * 1000;
    return json_pack(
        "{sIsIsIsisisisIsIsIsisisisisi}", "max_bytes", (json_int_t)l->max_bytes, "fetch_timeout_ms",
        (json_int_t)l->fetch_timeout_ms, "max_duration_ms", (json_int_t)cap, "max_width",
        l->max_width, "max_height", l->max_height, "max_streams", l->max_streams, "max_pixels",
        (json_int_t)l->max_pixels, "probe_size", (json_int_t)l->probe_size, "analyze_us",
        (json_int_t)l->analyze_us, "threads", l->threads, "image_max_side", l->image_max_side,
        "crf", l->crf, "maxrate_720_k", l->maxrate_720_k, "maxrate_360_k", l->maxrate_360_k);
}

/* Columns of tc_sql_claim: tenant, sub, item, kind, uri, sha256, text, max_duration_s, attempts. */
static int write_job(struct tc_state *s, const PGresult *r, int i, const char *dir, char *path,
                     size_t n)
{
    const struct tc_runner_cfg *c = &s->rc;
    char prefix[64];
    json_t *j;
    int rc;

    tc_item_prefix(tc_val(r, i, 0), tc_val(r, i, 1), tc_val(r, i, 2), prefix);
    j = json_pack("{sssssssssssbsbsosIs{sIsIsIsi}}", "kind", tc_val(r, i, 3), "prefix", prefix,
                  "media_root", c->media_root, "scratch", dir, "file_root",
                  c->upload_root ? c->upload_root : "", "allow_loopback", c->allow_loopback,
                  "allow_http", c->allow_http, "limits",
                  limits_json(c, strtoll(tc_val(r, i, 7), NULL, 10)), "test_delay_ms",
                  (json_int_t)s->test_delay_ms, "rlimits", "as", (json_int_t)c->mem_bytes, "cpu",
                  (json_int_t)c->cpu_s, "fsize", (json_int_t)c->fsize_bytes, "nofile", 64);
    if (!j)
        return -BF_ENOMEM;
    for (int k = 4; k <= 6; k++)
        if (tc_val(r, i, k))
            json_object_set_new(j,
                                k == 4   ? "uri"
                                : k == 5 ? "sha256"
                                         : "text",
                                json_string(tc_val(r, i, k)));
    snprintf(path, n, "%s/job.json", dir);
    rc = json_dump_file(j, path, JSON_COMPACT) < 0 ? -BF_EIO : 0;
    json_decref(j);
    return rc;
}

/* ---- spawning ------------------------------------------------------------------------------ */

/* posix_spawn (never fork of a daemon holding librdkafka threads): stdout to result.json,
 * fd 3 the progress pipe, stdin from /dev/null, stderr shared (the worker logs little). */
static int spawn_worker(struct tc_state *s, struct tc_slot *sl, const char *job)
{
    posix_spawn_file_actions_t fa;
    char result[PATH_MAX + 16];
    const char *path = sl->light ? s->rc.doc_worker_path : s->rc.worker_path;
    char *argv[] = {(char *)path, (char *)job, NULL};
    int p[2], rc;

    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
        return -BF_EIO;
    snprintf(result, sizeof(result), "%s/result.json", sl->dir);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, result, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, p[1], 3);
    rc = posix_spawn(&sl->pid, path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (rc != 0) {
        close(p[0]);
        bf_log_err("BF_TRANSCODER_SPAWN", "cannot start %s: %s", path, strerror(rc));
        return -BF_EIO;
    }
    sl->pfd = p[0];
    return 0;
}

static int start_job(struct tc_state *s, struct tc_slot *sl, const PGresult *r, int i)
{
    char job[PATH_MAX + 16];

    *sl = (struct tc_slot){.pfd = -1};
    snprintf(sl->tenant, sizeof(sl->tenant), "%s", tc_val(r, i, 0));
    snprintf(sl->sub, sizeof(sl->sub), "%s", tc_val(r, i, 1));
    snprintf(sl->item, sizeof(sl->item), "%s", tc_val(r, i, 2));
    snprintf(sl->kind, sizeof(sl->kind), "%s", tc_val(r, i, 3));
    sl->light = strcmp(sl->kind, "document") == 0 || strcmp(sl->kind, "text") == 0;
    sl->attempts = (int)strtol(tc_val(r, i, 8), NULL, 10);
    snprintf(sl->dir, sizeof(sl->dir), "%s/job.XXXXXX", s->rc.scratch_dir);
    if (!mkdtemp(sl->dir) || write_job(s, r, i, sl->dir, job, sizeof(job)) < 0 ||
        spawn_worker(s, sl, job) < 0) {
        rm_tree(sl->dir);
        return -BF_EIO;
    }
    sl->used = true;
    sl->start = sl->last = bf_mono_ms();
    bf_metrics_add(s->m_running, NULL, 1);
    bf_log_kv(BF_LOG_INFO, "BF_TRANSCODER_JOB_START", "job started", "submission", sl->sub, "item",
              sl->item, "kind", sl->kind, NULL);
    return 0;
}

/* ---- results ----------------------------------------------------------------------------------
 */

static json_t *fail_json(const char *code, const char *reason)
{
    return json_pack("{sbssss}", "ok", 0, "code", code, "reason", reason);
}

/* A killed worker's reason names the limit it broke, so the teacher knows what to change. */
static json_t *killed_json(const struct tc_state *s, const struct tc_slot *sl)
{
    bool deadline = strcmp(sl->killed, "deadline") == 0;
    char words[64], reason[256];

    tc_duration_words(deadline ? s->rc.deadline_ms : s->rc.stall_ms, words);
    if (deadline)
        snprintf(reason, sizeof(reason),
                 "processing the file took longer than %s, the time allowed; export a shorter "
                 "or smaller file",
                 words);
    else
        snprintf(reason, sizeof(reason),
                 "processing the file stopped making progress for %s; export the file again "
                 "and resubmit",
                 words);
    return fail_json("timeout", reason);
}

/* What the worker's end means for the item. */
static json_t *outcome(struct tc_state *s, const struct tc_slot *sl, int status)
{
    char path[PATH_MAX + 16];

    if (sl->killed)
        return killed_json(s, sl);
    if (WIFSIGNALED(status))
        return fail_json("worker_crashed", WTERMSIG(status) == SIGXCPU
                                               ? "processing the file used too much time"
                                               : "the file made the media processor fail; "
                                                 "export it again and resubmit");
    snprintf(path, sizeof(path), "%s/result.json", sl->dir);
    json_t *r = json_load_file(path, 0, NULL);
    if (!r || !json_is_object(r)) {
        json_decref(r);
        return fail_json("worker_crashed", "the file made the media processor fail; export it "
                                           "again and resubmit");
    }
    return r;
}

/* A transient failure (the link's server down): try again later, up to max_attempts. */
static bool retry_later(struct tc_state *s, const struct tc_slot *sl, json_t *res)
{
    char delay[24];
    struct bf_err err = {0};

    if (json_is_true(json_object_get(res, "ok")) || json_object_get(res, "code"))
        return false;
    if (sl->attempts >= s->rc.max_attempts) {
        json_object_set_new(res, "code", json_string("fetch_failed"));
        json_object_set_new(res, "reason",
                            json_string("the file could not be downloaded or stored; try again"));
        return false;
    }
    snprintf(delay, sizeof(delay), "%lld", (long long)bf_backoff_ms(sl->attempts, 1000, 60000));
    const char *p[5] = {sl->tenant, sl->sub, sl->item, s->owner, delay};
    if (tc_cmd(bf_daemon_pg(s->d), &tc_sql_release, 5, p, NULL, &err) < 0)
        bf_log_warn("BF_TRANSCODER_DB", "cannot release a job: %s", err.msg);
    bf_log_kv(BF_LOG_WARN, "BF_TRANSCODER_RETRY", "job will be retried", "item", sl->item, "error",
              json_string_value(json_object_get(res, "error")), NULL);
    return true;
}

static void done(struct tc_state *s, struct tc_slot *sl, int status)
{
    struct bf_err err = {0};
    json_t *res = outcome(s, sl, status);
    const char *what = json_is_true(json_object_get(res, "ok")) ? "processed" : "failed";

    if (res && !retry_later(s, sl, res) && tc_finish(s, sl, res, &err) < 0)
        /* Not recorded: the lease expires and the job runs again (the store keeps it). */
        bf_log_warn("BF_TRANSCODER_DB", "cannot record job %s/%s: %s", sl->sub, sl->item, err.msg);
    bf_metrics_add(s->m_jobs, what, 1);
    bf_metrics_observe(s->m_seconds, NULL, (double)(bf_mono_ms() - sl->start) / 1000.0);
    bf_metrics_add(s->m_running, NULL, -1);
    bf_log_kv(BF_LOG_INFO, "BF_TRANSCODER_JOB_DONE", "job done", "submission", sl->sub, "item",
              sl->item, "outcome", what, NULL);
    json_decref(res);
    close(sl->pfd);
    rm_tree(sl->dir);
    sl->used = false;
    s->next_claim[sl->light] = 0; /* a slot is free: claim at once */
}

/* ---- watching -------------------------------------------------------------------------------- */

static void watch(struct tc_state *s, struct tc_slot *sl, long long now)
{
    char buf[256];
    int status = 0;

    while (read(sl->pfd, buf, sizeof(buf)) > 0)
        sl->last = now;
    if (waitpid(sl->pid, &status, WNOHANG) == sl->pid) {
        done(s, sl, status);
        return;
    }
    if (now - sl->start > s->rc.deadline_ms)
        sl->killed = "deadline";
    else if (now - sl->last > s->rc.stall_ms)
        sl->killed = "stall";
    else
        return;
    bf_log_kv(BF_LOG_WARN, "BF_TRANSCODER_KILL", "worker killed", "item", sl->item, "why",
              sl->killed, NULL);
    kill(sl->pid, SIGKILL);
    waitpid(sl->pid, &status, 0);
    done(s, sl, status);
}

/* Every slot: the media pool [0, jobs), then the document pool [jobs, jobs + doc_jobs). */
static int all_slots(const struct tc_state *s)
{
    return s->rc.jobs + s->rc.doc_jobs;
}

static int free_slots(const struct tc_state *s, bool light)
{
    int n = 0;

    for (int i = 0; i < all_slots(s); i++)
        n += !s->slots[i].used && (i >= s->rc.jobs) == light;
    return n;
}

/* The next free slot of a pool at or after k, or -1. */
static int next_free(const struct tc_state *s, bool light, int k)
{
    for (; k < all_slots(s); k++)
        if (!s->slots[k].used && (k >= s->rc.jobs) == light)
            return k;
    return -1;
}

static void claim(struct tc_state *s, int n, bool light)
{
    char nb[16], lease[24];
    struct bf_err err = {0};
    const char *p[4] = {s->owner, nb, lease, light ? "true" : "false"};
    PGresult *r;

    snprintf(nb, sizeof(nb), "%d", n);
    snprintf(lease, sizeof(lease), "%lld", s->rc.lease_ms);
    if (!(r = tc_q(bf_daemon_pg(s->d), &tc_sql_claim, 4, p, &err))) {
        bf_log_warn("BF_TRANSCODER_DB", "cannot claim jobs: %s", err.msg);
        return;
    }
    for (int i = 0, k = 0; i < PQntuples(r); i++, k++) {
        if ((k = next_free(s, light, k)) < 0 || start_job(s, &s->slots[k], r, i) < 0)
            break; /* unstarted claims run again when their lease expires */
    }
    PQclear(r);
}

/* The jobs in the slots now, as [[tenant, submission, item], ...]; caller frees. */
static char *running_jobs(const struct tc_state *s)
{
    json_t *list = json_array();
    char *text;

    for (int i = 0; i < all_slots(s); i++) {
        const struct tc_slot *sl = &s->slots[i];
        if (sl->used)
            json_array_append_new(list, json_pack("[sss]", sl->tenant, sl->sub, sl->item));
    }
    text = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    return text;
}

static void renew(struct tc_state *s)
{
    char lease[24];
    struct bf_err err = {0};
    char *jobs = running_jobs(s);
    const char *p[3] = {s->owner, lease, jobs};

    snprintf(lease, sizeof(lease), "%lld", s->rc.lease_ms);
    if (jobs && tc_cmd(bf_daemon_pg(s->d), &tc_sql_renew, 3, p, NULL, &err) < 0)
        bf_log_warn("BF_TRANSCODER_DB", "cannot renew leases: %s", err.msg);
    free(jobs);
}

/* Back-pressure: pause the consumer while every slot of a pool is busy and the backlog is over
 * the bound; resume when it drains to half. The consumer keeps polling either way. */
static void pressure(struct tc_state *s, long long now)
{
    struct bf_err err = {0};
    PGresult *r;

    if (now >= s->next_backlog) {
        s->next_backlog = now + 1000;
        if ((r = tc_q(bf_daemon_pg(s->d), &tc_sql_backlog, 0, NULL, &err))) {
            long long n;
            if (bf_parse_ll(PQgetvalue(r, 0, 0), 0, 1LL << 62, &n) == 0)
                s->backlog = n;
            PQclear(r);
        }
    }
    bool full = free_slots(s, false) == 0 || free_slots(s, true) == 0;
    bool busy = full && s->backlog > s->rc.backlog_pause;
    if (busy != s->paused && (busy || s->backlog <= s->rc.backlog_pause / 2)) {
        s->paused = busy;
        bf_daemon_pause(s->d, busy);
        bf_metrics_set(s->m_paused, NULL, busy);
        bf_log_kv(BF_LOG_INFO, "BF_TRANSCODER_PAUSE", busy ? "consumer paused" : "consumer resumed",
                  NULL);
    }
}

void tc_runner_tick(struct tc_state *s)
{
    long long now = bf_mono_ms();
    int n;

    for (int i = 0; i < all_slots(s); i++)
        if (s->slots[i].used)
            watch(s, &s->slots[i], now);
    if (bf_pg_in_tx(bf_daemon_pg(s->d)) || bf_daemon_stopping(s->d))
        return;
    if (now >= s->next_renew) {
        s->next_renew = now + s->rc.lease_ms / 3;
        renew(s);
    }
    for (int light = 0; light <= 1; light++)
        if ((n = free_slots(s, light)) > 0 && now >= s->next_claim[light]) {
            s->next_claim[light] = now + 500;
            claim(s, n, light);
        }
    pressure(s, now);
}

void tc_runner_stop(struct tc_state *s)
{
    struct bf_err err = {0};
    const char *p[1] = {s->owner};
    int status;

    for (int i = 0; s->slots && i < all_slots(s); i++) {
        struct tc_slot *sl = &s->slots[i];
        if (!sl->used)
            continue;
        kill(sl->pid, SIGKILL);
        waitpid(sl->pid, &status, 0);
        close(sl->pfd);
        rm_tree(sl->dir);
        sl->used = false;
    }
    /* Hand our jobs back at once rather than when the lease expires. */
    if (tc_cmd(bf_daemon_pg(s->d), &tc_sql_release_all, 1, p, NULL, &err) < 0)
        bf_log_warn("BF_TRANSCODER_DB", "cannot release leases: %s", err.msg);
}
