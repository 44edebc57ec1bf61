/* SPDX-License-Identifier: Apache-2.0 */
/* The transcoder service: its config table, handlers, and the daemon hooks. */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "badgeflow/catalogue_pg.h"
#include "badgeflow/events.h"
#include "badgeflow/log.h"
#include "badgeflow/util.h"
#include "transcoder_int.h"

#define MS(x) ((long long)(x))
#define S(x)  ((long long)(x)*1000)
#define MB(x) ((long long)(x) << 20)

const struct bf_cfg_def transcoder_cfg_defs[] = {
    {"transcoder", "jobs", BF_CFG_INT, "2", 1, 64, NULL, 0,
     "Parallel media jobs (video, audio, image worker processes) per instance"},
    {"transcoder", "doc_jobs", BF_CFG_INT, "4", 1, 64, NULL, 0,
     "Parallel document and text jobs per instance: their own slots, so that long videos"
     " never hold up a reflection"},
    {"transcoder", "worker", BF_CFG_STR, "", 0, 0, NULL, 0,
     "Path of badgeflow-transcode-worker (media jobs); empty: beside this binary"},
    {"transcoder", "doc_worker", BF_CFG_STR, "", 0, 0, NULL, 0,
     "Path of badgeflow-transcode-docworker (document and text jobs, no media libraries);"
     " empty: beside this binary"},
    {"transcoder", "media_root", BF_CFG_STR, "/var/lib/badgeflow/media", 0, 0, NULL, 0,
     "Directory of the local media store (renditions are published here)"},
    {"transcoder", "scratch_dir", BF_CFG_STR, "/var/tmp/badgeflow-transcoder", 0, 0, NULL, 0,
     "Scratch space for downloads and work in progress (one directory per job)"},
    {"transcoder", "upload_root", BF_CFG_STR, "", 0, 0, NULL, 0,
     "file:/// evidence URIs are allowed beneath this directory; empty: https only"},
    {"transcoder", "allow_loopback", BF_CFG_BOOL, "false", 0, 0, NULL, 0,
     "Tests only: let evidence URLs reach 127.0.0.0/8 and ::1"},
    {"transcoder", "allow_http", BF_CFG_BOOL, "false", 0, 0, NULL, 0,
     "Tests only: allow plain http:// evidence URLs"},
    {"transcoder", "max_bytes", BF_CFG_SIZE, "2G", 1, 1LL << 40, NULL, 0,
     "Largest evidence file fetched"},
    {"transcoder", "fetch_timeout", BF_CFG_DURATION, "10m", S(1), S(7200), NULL, 0,
     "Longest download of one evidence file"},
    {"transcoder", "max_duration", BF_CFG_DURATION, "3h", S(1), S(86400), NULL, 0,
     "Longest video or audio accepted (a requirement's max_duration_s may be shorter)"},
    {"transcoder", "max_width", BF_CFG_INT, "7680", 16, 65535, NULL, 0,
     "Widest picture accepted (display orientation)"},
    {"transcoder", "max_height", BF_CFG_INT, "4320", 16, 65535, NULL, 0,
     "Tallest picture accepted (display orientation)"},
    {"transcoder", "max_streams", BF_CFG_INT, "16", 1, 1000, NULL, 0,
     "Most streams (tracks) in one file"},
    {"transcoder", "probe_size", BF_CFG_SIZE, "5M", 32, MB(500), NULL, 0,
     "Bytes libavformat may read to find the streams"},
    {"transcoder", "analyze_duration", BF_CFG_DURATION, "10s", MS(100), S(60), NULL, 0,
     "Media time libavformat may read to find the streams"},
    {"transcoder", "threads", BF_CFG_INT, "2", 1, 64, NULL, 0,
     "Threads of each decoder, x264 encoder and filter graph of a job (capped at the CPUs)"},
    {"transcoder", "image_max_side", BF_CFG_INT, "2048", 64, 16384, NULL, 0,
     "Longest side of a normalised image"},
    {"transcoder", "crf", BF_CFG_INT, "23", 0, 51, NULL, 0, "x264 constant rate factor"},
    {"transcoder", "maxrate_720p", BF_CFG_INT, "2500", 100, 50000, NULL, 0,
     "Max rate of the 720p rendition, kbit/s"},
    {"transcoder", "maxrate_360p", BF_CFG_INT, "800", 50, 20000, NULL, 0,
     "Max rate of the 360p rendition, kbit/s"},
    {"transcoder", "worker_deadline", BF_CFG_DURATION, "30m", S(1), S(86400), NULL, 0,
     "Wall-clock time a worker may take before it is killed (item fails: timeout)"},
    {"transcoder", "worker_stall", BF_CFG_DURATION, "60s", MS(500), S(3600), NULL, 0,
     "Time without progress after which a worker is killed (item fails: timeout)"},
    {"transcoder", "worker_memory", BF_CFG_SIZE, "2G", 0, 1LL << 40, NULL, 0,
     "Address-space limit of a worker (RLIMIT_AS); 0: none (sanitizer builds)"},
    {"transcoder", "worker_cpu", BF_CFG_DURATION, "1h", S(1), S(86400), NULL, 0,
     "CPU time limit of a worker (RLIMIT_CPU)"},
    {"transcoder", "worker_max_file", BF_CFG_SIZE, "8G", MB(1), 1LL << 42, NULL, 0,
     "Largest file a worker may write (RLIMIT_FSIZE)"},
    {"transcoder", "lease", BF_CFG_DURATION, "60s", S(2), S(3600), NULL, 0,
     "Job lease; renewed while the worker runs, taken over by others once expired"},
    {"transcoder", "backlog_pause", BF_CFG_INT, "100", 0, 1000000, NULL, 0,
     "Pause consuming while all slots are busy and more jobs than this wait"},
    {"transcoder", "max_attempts", BF_CFG_INT, "3", 1, 20, NULL, 0,
     "Attempts of a job failing transiently (download errors) before the item fails"},
    {"transcoder", "test_worker_delay", BF_CFG_DURATION, "0", 0, S(600), NULL, 0,
     "Tests only: each worker waits this long (beating) before its work"},
    {NULL, NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};

static const struct bf_event_handler handlers[] = {
    {"submissions", BF_EV_SUBMISSION_SUBMITTED, tc_on_submitted},
    {"submissions", BF_EV_SUBMISSION_WITHDRAWN, tc_on_withdrawn},
    {NULL, NULL, NULL},
};

/* The worker binary `name` beside this binary when the config names none. */
static void worker_path(const char *cfg, const char *name, char *out, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len;

    if (cfg[0]) {
        snprintf(out, n, "%s", cfg);
        return;
    }
    len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[len > 0 ? len : 0] = '\0';
    snprintf(out, n, "%s/%s", dirname(exe), name);
}

static void read_limits(const struct bf_cfg *c, struct tc_limits *l)
{
    tc_limits_default(l);
    l->max_bytes = bf_cfg_int(c, "transcoder.max_bytes");
    l->fetch_timeout_ms = bf_cfg_int(c, "transcoder.fetch_timeout");
    l->max_duration_ms = bf_cfg_int(c, "transcoder.max_duration");
    l->max_width = (int)bf_cfg_int(c, "transcoder.max_width");
    l->max_height = (int)bf_cfg_int(c, "transcoder.max_height");
    l->max_pixels = (long long)l->max_width * l->max_height;
    l->max_streams = (int)bf_cfg_int(c, "transcoder.max_streams");
    l->probe_size = bf_cfg_int(c, "transcoder.probe_size");
    l->analyze_us = bf_cfg_int(c, "transcoder.analyze_duration") * 1000;
    l->threads = (int)bf_cfg_int(c, "transcoder.threads");
    l->image_max_side = (int)bf_cfg_int(c, "transcoder.image_max_side");
    l->crf = (int)bf_cfg_int(c, "transcoder.crf");
    l->maxrate_720_k = (int)bf_cfg_int(c, "transcoder.maxrate_720p");
    l->maxrate_360_k = (int)bf_cfg_int(c, "transcoder.maxrate_360p");
}

static char *dup_cfg(const struct bf_cfg *c, const char *k)
{
    return strdup(bf_cfg_str(c, k));
}

static char worker_buf[PATH_MAX], doc_worker_buf[PATH_MAX];

static void read_runner(const struct bf_cfg *c, struct tc_runner_cfg *r)
{
    worker_path(bf_cfg_str(c, "transcoder.worker"), "badgeflow-transcode-worker", worker_buf,
                sizeof(worker_buf));
    worker_path(bf_cfg_str(c, "transcoder.doc_worker"), "badgeflow-transcode-docworker",
                doc_worker_buf, sizeof(doc_worker_buf));
    r->worker_path = worker_buf;
    r->doc_worker_path = doc_worker_buf;
    r->scratch_dir = dup_cfg(c, "transcoder.scratch_dir");
    r->media_root = dup_cfg(c, "transcoder.media_root");
    r->upload_root = dup_cfg(c, "transcoder.upload_root");
    r->allow_loopback = bf_cfg_bool(c, "transcoder.allow_loopback");
    r->allow_http = bf_cfg_bool(c, "transcoder.allow_http");
    r->jobs = (int)bf_cfg_int(c, "transcoder.jobs");
    r->doc_jobs = (int)bf_cfg_int(c, "transcoder.doc_jobs");
    r->deadline_ms = bf_cfg_int(c, "transcoder.worker_deadline");
    r->stall_ms = bf_cfg_int(c, "transcoder.worker_stall");
    r->lease_ms = bf_cfg_int(c, "transcoder.lease");
    r->mem_bytes = bf_cfg_int(c, "transcoder.worker_memory");
    r->cpu_s = bf_cfg_int(c, "transcoder.worker_cpu") / 1000;
    r->fsize_bytes = bf_cfg_int(c, "transcoder.worker_max_file");
    r->backlog_pause = (int)bf_cfg_int(c, "transcoder.backlog_pause");
    r->max_attempts = (int)bf_cfg_int(c, "transcoder.max_attempts");
    read_limits(c, &r->lim);
}

static void metrics(struct tc_state *s)
{
    static const double secs[] = {0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 1800};

    s->m_jobs = bf_metrics_counter("transcoder_jobs_total", "Jobs finished, by outcome", "outcome");
    s->m_running = bf_metrics_gauge("transcoder_jobs_running", "Worker processes running", NULL);
    s->m_seconds = bf_metrics_histogram("transcoder_job_seconds", "Wall time of a job", NULL, secs,
                                        (int)(sizeof(secs) / sizeof(secs[0])));
    s->m_paused = bf_metrics_gauge("transcoder_consumer_paused",
                                   "1 while back-pressure pauses the consumer", NULL);
}

static int tc_init(struct bf_daemon *d, void **state, struct bf_err *err)
{
    const struct bf_cfg *c = bf_daemon_cfg(d);
    struct tc_state *s = calloc(1, sizeof(*s));
    char host[64] = "";

    if (!s)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    *state = s;
    s->d = d;
    read_runner(c, &s->rc);
    s->test_delay_ms = bf_cfg_int(c, "transcoder.test_worker_delay");
    s->slots = calloc((size_t)s->rc.jobs + (size_t)s->rc.doc_jobs, sizeof(*s->slots));
    if (!s->slots || !s->rc.scratch_dir || !s->rc.media_root || !s->rc.upload_root)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    if (access(s->rc.worker_path, X_OK) < 0)
        return bf_err_set(err, BF_EINVAL, "transcoder.worker: %s is not executable",
                          s->rc.worker_path);
    if (access(s->rc.doc_worker_path, X_OK) < 0)
        return bf_err_set(err, BF_EINVAL, "transcoder.doc_worker: %s is not executable",
                          s->rc.doc_worker_path);
    if (mkdir(s->rc.scratch_dir, 0700) < 0 && access(s->rc.scratch_dir, W_OK) < 0)
        return bf_err_set(err, BF_EINVAL, "transcoder.scratch_dir: cannot use %s",
                          s->rc.scratch_dir);
    gethostname(host, sizeof(host) - 1);
    snprintf(s->owner, sizeof(s->owner), "%s:%d:%lld", host, (int)getpid(), (long long)bf_now_ms());
    metrics(s);
    s->cat = bf_cat_load_pg(bf_daemon_pg(d), err); /* may be empty or fail: reloaded on demand */
    s->cat_loaded = bf_mono_ms();
    bf_log_kv(BF_LOG_INFO, "BF_TRANSCODER_START", "transcoder ready", "worker", s->rc.worker_path,
              "owner", s->owner, NULL);
    bf_err_clear(err);
    return 0;
}

static void tc_tick(struct bf_daemon *d, void *state)
{
    (void)d;
    if (state)
        tc_runner_tick(state);
}

static void tc_fini(void *state)
{
    struct tc_state *s = state;

    if (!s)
        return;
    tc_runner_stop(s);
    bf_cat_free(s->cat);
    free(s->slots);
    free((char *)s->rc.scratch_dir);
    free((char *)s->rc.media_root);
    free((char *)s->rc.upload_root);
    free(s);
}

const struct bf_service transcoder_service = {
    .name = "transcoder",
    .cfg_defs = transcoder_cfg_defs,
    .handlers = handlers,
    .needs = BF_NEEDS_KAFKA_CONSUMER,
    .init = tc_init,
    .tick = tc_tick,
    .fini = tc_fini,
};
