/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon skeleton: start-up, the consume loop with exactly-once effects, shutdown. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "badgeflow/daemon.h"
#include "badgeflow/json.h"
#include "badgeflow/log.h"
#include "badgeflow/metrics.h"
#include "badgeflow/redis.h"
#include "badgeflow/trace.h"
#include "badgeflow/util.h"

#define POLL_MS       100
#define IDLE_MS       50
#define KAFKA_PING_MS 1000
#define TOPICS_MAX    32
#define HTTP_MAX_BODY ((size_t)(1024 * 1024))

enum fault_point { FAULT_NONE, FAULT_AFTER_EFFECT, FAULT_AFTER_COMMIT };
enum outcome { DONE, RETRY };

/*
 * Readiness of one dependency: ready while the monotonic clock is before `until`, i.e. it
 * answered within the last window. A single slow or failed check does not flip /readyz (a
 * loaded host would flap); an outage does once the window passes.
 */
struct ready {
    _Atomic int64_t until;
    bool reported; /* the state last logged (main loop only) */
};

struct bf_daemon {
    const struct bf_service *svc;
    struct bf_cfg *cfg;
    struct bf_pg *pg;
    struct bf_outbox_relay *relay;
    struct bf_kafka_consumer *consumer;
    struct bf_redis *redis; /* when the service needs Redis */
    struct bf_http_server *http;
    struct bf_http_route *routes;
    _Atomic(void *) state;
    struct bf_outbox_ctx octx;
    char group[256], source[160], prefix[128];
    char *topics[TOPICS_MAX + 1]; /* full names consumed, NULL-terminated */
    sigset_t sigs;
    volatile sig_atomic_t stop;
    /* the record held for a retry after a transient failure */
    struct bf_kafka_msg *held;
    /* the service asked to stop fetching (bf_daemon_pause): back-pressure */
    bool service_paused;
    unsigned attempt;
    int64_t retry_at;
    bool emitted; /* the record in hand emitted events: kick the relay after commit */
    /* readiness, written by the main loop, read by the HTTP threads */
    struct ready kafka_ok, pg_ok, redis_ok, svc_ok;
    int64_t next_check;
    /* config */
    int64_t retry_base, retry_max, shutdown_ms, ready_ms;
    int batch;                  /* outbox rows per relay turn */
    int batch_max;              /* records per transaction */
    struct bf_kafka_msg **msgs; /* the records of the batch in hand (batch_max slots) */
    struct rec *recs;           /* and their decoded state */
    bool dlq;
    enum fault_point fault;
};

/* One record being handled: its envelope, decoded, and where it stands. */
struct rec {
    struct bf_kafka_msg *msg;
    char event_id[160];
    char topic_short[256];
    char traceparent[BF_TRACEPARENT_LEN + 1];
    const struct bf_event_handler *handler;
    json_t *data;
    bool duplicate;
    const char *dlq_kind; /* metric label when dead-lettered */
};

static struct {
    struct bf_metric *consumed, *applied, *duplicates, *dead_lettered, *retries, *revoked;
    struct bf_metric *latency, *ready;
} m;

/* ---- small helpers ---- */

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Reason text that is safe in a PostgreSQL text column and a log line: control bytes and
 * bytes outside ASCII become '?'. */
static void sanitize(char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            *s = '?';
    }
}

static const char *topic_short(const struct bf_daemon *d, const char *full)
{
    size_t n = strlen(d->prefix);

    return strncmp(full, d->prefix, n) == 0 ? full + n : full;
}

static void metrics_init(void)
{
    static const double bounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};

    if (m.consumed)
        return;
    m.consumed = bf_metrics_counter("consumed_total", "Records received", "topic");
    m.applied = bf_metrics_counter("applied_total", "Records whose effect was committed", "topic");
    m.duplicates = bf_metrics_counter("duplicates_total", "Records skipped by the inbox", "topic");
    m.dead_lettered =
        bf_metrics_counter("dead_lettered_total", "Records sent to the DLQ", "topic,kind");
    m.retries = bf_metrics_counter("retries_total", "Transient failures retried", "topic");
    m.revoked = bf_metrics_counter("offsets_not_stored_total",
                                   "Records handled after their partition was revoked", "topic");
    m.latency = bf_metrics_histogram("handler_seconds", "Time to handle one record", "topic",
                                     bounds, (int)BF_ARRAY_LEN(bounds));
    m.ready = bf_metrics_gauge("ready", "1 when the dependency answered recently", "component");
}

/* ---- signals ---- */

/* Block the daemon's signals in this thread, so every thread started later has them
 * blocked too; the main loop takes them with sigtimedwait(), no handler runs anywhere. */
static void signals_block(struct bf_daemon *d)
{
    sigemptyset(&d->sigs);
    sigaddset(&d->sigs, SIGTERM);
    sigaddset(&d->sigs, SIGINT);
    sigaddset(&d->sigs, SIGHUP);
    sigaddset(&d->sigs, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &d->sigs, NULL);
}

static void signals_check(struct bf_daemon *d)
{
    const struct timespec zero = {0, 0};
    int sig;

    while ((sig = sigtimedwait(&d->sigs, NULL, &zero)) > 0) {
        if (sig == SIGTERM || sig == SIGINT) {
            if (!d->stop)
                bf_log_info("BF_DAEMON_SIGNAL", "%s: shutting down",
                            sig == SIGTERM ? "SIGTERM" : "SIGINT");
            d->stop = 1;
        } else if (sig == SIGHUP) {
            bf_log_info("BF_DAEMON_SIGNAL", "SIGHUP ignored (restart to reload the config)");
        }
    }
}

/* ---- HTTP: health, readiness, metrics ---- */

static bool ready_now(struct ready *r)
{
    return bf_mono_ms() < atomic_load(&r->until);
}

static void http_healthz(void *ctx, const struct bf_http_request *req,
                         struct bf_http_response *resp)
{
    (void)ctx;
    (void)req;
    (void)bf_http_reply(resp, 200, "text/plain", "ok\n");
}

static const char *tf(bool b)
{
    return b ? "true" : "false";
}

static void http_readyz(void *ctx, const struct bf_http_request *req, struct bf_http_response *resp)
{
    struct bf_daemon *d = ctx;
    bool needs_redis = d->svc->needs & BF_NEEDS_REDIS; /* d->redis belongs to the main thread */
    bool k = ready_now(&d->kafka_ok), p = ready_now(&d->pg_ok);
    bool r = !needs_redis || ready_now(&d->redis_ok);
    bool s = !d->svc->check || ready_now(&d->svc_ok);
    bool all = k && p && r && s;
    char body[200];

    (void)req;
    snprintf(body, sizeof(body),
             "{\"ready\":%s,\"kafka\":%s,\"postgres\":%s,\"redis\":%s,\"service\":%s}\n", tf(all),
             tf(k), tf(p), needs_redis ? tf(r) : "null", tf(s));
    (void)bf_http_reply(resp, all ? 200 : 503, "application/json", body);
}

static void http_metrics(void *ctx, const struct bf_http_request *req,
                         struct bf_http_response *resp)
{
    char *text = bf_metrics_render();

    (void)ctx;
    (void)req;
    if (!text) {
        (void)bf_http_reply(resp, 500, "text/plain", "out of memory\n");
        return;
    }
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4";
    resp->body = text;
    resp->body_len = strlen(text);
}

static int http_start(struct bf_daemon *d, struct bf_err *err)
{
    static const struct bf_http_route builtin[] = {
        {"GET", "/healthz", false, http_healthz},
        {"GET", "/readyz", false, http_readyz},
        {"GET", "/metrics", false, http_metrics},
    };
    size_t n = 0, extra = 0;
    char port[16];

    while (d->svc->routes && d->svc->routes[extra].path)
        extra++;
    d->routes = calloc(BF_ARRAY_LEN(builtin) + extra + 1, sizeof(*d->routes));
    if (!d->routes)
        return bf_err_set(err, BF_ENOMEM, "http: out of memory");
    for (size_t i = 0; i < BF_ARRAY_LEN(builtin); i++)
        d->routes[n++] = builtin[i];
    for (size_t i = 0; i < extra; i++)
        d->routes[n++] = d->svc->routes[i];
    d->http = bf_http_start(bf_cfg_str(d->cfg, "http.listen"), d->routes, d, HTTP_MAX_BODY, err);
    if (!d->http)
        return -BF_EINVAL;
    snprintf(port, sizeof(port), "%d", bf_http_port(d->http));
    bf_log_kv(BF_LOG_INFO, "BF_DAEMON_HTTP", "serving /healthz, /readyz and /metrics", "listen",
              bf_cfg_str(d->cfg, "http.listen"), "port", port, NULL);
    return 0;
}

/* ---- readiness checks (main loop only) ---- */

static void ready_set(struct bf_daemon *d, struct ready *r, const char *what, bool ok)
{
    int64_t window = d->ready_ms * 3 > 3000 ? d->ready_ms * 3 : 3000;
    bool now_ok;

    if (ok)
        atomic_store(&r->until, bf_mono_ms() + window);
    now_ok = ready_now(r);
    bf_metrics_set(m.ready, what, now_ok ? 1 : 0);
    if (r->reported != now_ok)
        bf_log(now_ok ? BF_LOG_INFO : BF_LOG_WARN, "BF_DAEMON_READY", "%s %s", what,
               now_ok ? "answers" : "has not answered for a while: not ready");
    r->reported = now_ok;
}

static void ready_checks(struct bf_daemon *d)
{
    struct bf_err err = {0};
    int64_t now = bf_mono_ms();
    int rc;

    if (now < d->next_check)
        return;
    d->next_check = now + d->ready_ms;
    rc = d->consumer ? bf_kafka_consumer_ping(d->consumer, KAFKA_PING_MS)
                     : bf_outbox_relay_ping(d->relay, KAFKA_PING_MS);
    ready_set(d, &d->kafka_ok, "kafka", rc == 0);
    ready_set(d, &d->pg_ok, "postgres", bf_pg_ping(d->pg, &err) == 0);
    if (d->redis)
        ready_set(d, &d->redis_ok, "redis", bf_redis_ping(d->redis));
    if (d->svc->check)
        ready_set(d, &d->svc_ok, d->svc->name, d->svc->check(d, atomic_load(&d->state), &err) == 0);
}

/* ---- the envelope ---- */

static int require(const char *v, const char *name, struct bf_err *err)
{
    if (!v || !v[0])
        return bf_err_set(err, BF_EINVAL, "%s: header is missing", name);
    return 0;
}

static bool content_type_json(const char *ct)
{
    size_t n = strlen("application/json");

    return strncmp(ct, "application/json", n) == 0 && (ct[n] == '\0' || ct[n] == ';');
}

/* CloudEvents 1.0 binary-mode checks (architecture.md "Event envelope"). */
static int envelope_check(const struct bf_ce *ce, struct bf_err *err)
{
    int64_t t;

    if (require(ce->specversion, BF_CE_SPECVERSION, err) < 0 ||
        require(ce->id, BF_CE_ID, err) < 0 || require(ce->source, BF_CE_SOURCE, err) < 0 ||
        require(ce->type, BF_CE_TYPE, err) < 0 || require(ce->time, BF_CE_TIME, err) < 0 ||
        require(ce->content_type, BF_CE_CONTENT_TYPE, err) < 0)
        return -BF_EINVAL;
    if (strcmp(ce->specversion, "1.0") != 0)
        return bf_err_set(err, BF_EINVAL, "ce_specversion: must be 1.0, not \"%.32s\"",
                          ce->specversion);
    if (!bf_json_id_valid(ce->id))
        return bf_err_set(err, BF_EINVAL, "ce_id: must be 1..128 characters of [A-Za-z0-9._:-]");
    if (strlen(ce->source) > 512 || strlen(ce->type) > 256)
        return bf_err_set(err, BF_EINVAL, "ce_source or ce_type: too long");
    if (bf_time_parse(ce->time, &t) < 0)
        return bf_err_set(err, BF_EINVAL, "ce_time: must be an RFC 3339 time, not \"%.40s\"",
                          ce->time);
    if (!content_type_json(ce->content_type))
        return bf_err_set(err, BF_EINVAL, "content-type: must be application/json, not \"%.40s\"",
                          ce->content_type);
    return 0;
}

static const struct bf_event_handler *handler_find(const struct bf_daemon *d, const char *topic,
                                                   const char *type)
{
    for (const struct bf_event_handler *h = d->svc->handlers; h && h->topic; h++) {
        if (strcmp(h->topic, topic) == 0 && (!h->type || strcmp(h->type, type) == 0))
            return h;
    }
    return NULL;
}

/* Decode what the record says about itself; -BF_EINVAL (poison) with the reason. */
static int rec_decode(struct bf_daemon *d, struct rec *r, struct bf_err *err)
{
    const struct bf_kafka_msg *msg = r->msg;
    int rc = envelope_check(&msg->ce, err);

    if (rc < 0) {
        r->dlq_kind = "envelope";
        return rc;
    }
    r->handler = handler_find(d, r->topic_short, msg->ce.type);
    if (!r->handler) {
        r->dlq_kind = "unknown_type";
        return bf_err_set(err, BF_EINVAL, "unknown event type %.200s on topic %.200s", msg->ce.type,
                          msg->topic);
    }
    r->data = bf_json_parse_object(msg->value ? msg->value : "", msg->value_len, err);
    if (!r->data) {
        r->dlq_kind = "bad_json";
        return -BF_EINVAL;
    }
    return 0;
}

static void rec_init(struct bf_daemon *d, struct rec *r, struct bf_kafka_msg *msg)
{
    memset(r, 0, sizeof(*r));
    r->msg = msg;
    bf_strlcpy(r->topic_short, topic_short(d, msg->topic), sizeof(r->topic_short));
    if (msg->ce.id && bf_json_id_valid(msg->ce.id))
        bf_strlcpy(r->event_id, msg->ce.id, sizeof(r->event_id));
    else
        snprintf(r->event_id, sizeof(r->event_id), "kafka:%.100s:%d:%lld", msg->topic,
                 (int)msg->partition, (long long)msg->offset);
    if (bf_trace_valid(msg->ce.traceparent))
        bf_strlcpy(r->traceparent, msg->ce.traceparent, sizeof(r->traceparent));
    else if (bf_trace_child(NULL, r->traceparent) < 0)
        r->traceparent[0] = '\0';
}

/* ---- fault points (tests only) ---- */

static void fault(const struct bf_daemon *d, enum fault_point at)
{
    if (d->fault != at)
        return;
    bf_log_warn("BF_DAEMON_FAULT", "daemon.fault_point %s reached: SIGKILL (test only)",
                at == FAULT_AFTER_COMMIT ? "after_commit" : "after_effect");
    raise(SIGKILL);
}

/* ---- one record, exactly once ---- */

static int rec_apply_in_tx(struct bf_daemon *d, struct rec *r, struct bf_err *err)
{
    const struct bf_ce *ce = &r->msg->ce;
    struct bf_event ev = {
        .topic = r->topic_short,
        .type = ce->type,
        .id = ce->id,
        .subject = ce->subject,
        .source = ce->source,
        .time = ce->time,
        .traceparent = r->traceparent,
        .data = r->data,
        .msg = r->msg,
        .pg = d->pg,
        .d = d,
    };
    bool fresh = false;
    int rc = bf_inbox_claim(d->pg, d->group, r->event_id, r->msg->topic, r->msg->partition,
                            r->msg->offset, &fresh, err);

    if (rc < 0)
        return rc;
    if (!fresh) {
        r->duplicate = true;
        return 0;
    }
    rc = r->handler->fn(atomic_load(&d->state), &ev, err);
    if (rc == 0)
        fault(d, FAULT_AFTER_EFFECT);
    return rc;
}

/* inbox claim + handler + COMMIT. 0, -BF_EINVAL (poison), or another error (retry). */
static int rec_apply(struct bf_daemon *d, struct rec *r, struct bf_err *err)
{
    int64_t t0 = bf_mono_ms();
    int rc = bf_pg_begin(d->pg, err);

    if (rc < 0)
        return rc;
    d->emitted = false;
    rc = rec_apply_in_tx(d, r, err);
    if (rc < 0) {
        bf_pg_rollback(d->pg);
        return rc;
    }
    rc = bf_pg_commit(d->pg, err);
    if (rc == 0 && !r->duplicate) {
        bf_metrics_observe(m.latency, r->topic_short, (double)(bf_mono_ms() - t0) / 1000.0);
        fault(d, FAULT_AFTER_COMMIT);
    }
    return rc;
}

struct dead_letter {
    struct bf_daemon *d;
    struct rec *r;
    const char *reason;
};

/* The inbox row (dead_lettered) and the DLQ copy, in one transaction. */
static int rec_dead_letter_tx(struct bf_pg *pg, void *arg, struct bf_err *err)
{
    struct dead_letter *dl = arg;
    const struct bf_kafka_msg *msg = dl->r->msg;
    bool fresh = false;
    int rc = bf_inbox_dead_letter(pg, dl->d->group, dl->r->event_id, msg->topic, msg->partition,
                                  msg->offset, dl->reason, &fresh, err);

    if (rc < 0)
        return rc;
    /* Already there: this is a redelivery of a record dead-lettered before. */
    dl->r->duplicate = !fresh;
    if (fresh && dl->d->dlq)
        rc = bf_outbox_dead_letter(pg, dl->d->svc->name, dl->d->group, msg, dl->reason, err);
    return rc;
}

static void dead_letter_report(struct bf_daemon *d, const struct rec *r, const char *reason)
{
    char part[16], off[24], labels[300];

    snprintf(part, sizeof(part), "%d", (int)r->msg->partition);
    snprintf(off, sizeof(off), "%lld", (long long)r->msg->offset);
    bf_log_kv(BF_LOG_WARN, "BF_DAEMON_DLQ", "record dead-lettered", "topic", r->msg->topic,
              "partition", part, "offset", off, "reason", reason, NULL);
    snprintf(labels, sizeof(labels), "%s,%s", r->topic_short, r->dlq_kind);
    bf_metrics_add(m.dead_lettered, labels, 1);
}

/* Dead-letter r with the reason why (copied first: it may live in err). */
static int rec_dead_letter(struct bf_daemon *d, struct rec *r, const char *why, struct bf_err *err)
{
    char reason[sizeof(err->msg)];
    struct dead_letter dl = {d, r, reason};
    int rc;

    bf_strlcpy(reason, why, sizeof(reason));
    sanitize(reason);
    rc = bf_pg_tx(d->pg, rec_dead_letter_tx, &dl, err);
    if (rc < 0 || r->duplicate)
        return rc;
    dead_letter_report(d, r, reason);
    if (d->dlq)
        bf_outbox_relay_kick(d->relay);
    return 0;
}

/* The record is done: count it and let its offset be committed. */
static void rec_done(struct bf_daemon *d, struct rec *r)
{
    if (r->duplicate)
        bf_metrics_add(m.duplicates, r->topic_short, 1);
    else if (!r->dlq_kind)
        bf_metrics_add(m.applied, r->topic_short, 1);
    if (d->emitted)
        bf_outbox_relay_kick(d->relay);
    /* Refused only when the partition was revoked: its new owner's inbox drops the record
     * (bf_kafka_store_offset logs it). */
    if (bf_kafka_store_offset(d->consumer, r->msg) < 0)
        bf_metrics_add(m.revoked, r->topic_short, 1);
}

/* One attempt at msg. DONE: handled (applied, duplicate or dead-lettered), offset stored.
 * RETRY: a transient failure; err says why. */
static enum outcome rec_process(struct bf_daemon *d, struct bf_kafka_msg *msg, struct bf_err *err)
{
    char trace_id[BF_TRACE_ID_LEN + 1];
    struct rec r;
    int rc;

    rec_init(d, &r, msg);
    bf_trace_id(r.traceparent, trace_id);
    bf_log_set_event(r.event_id, trace_id);
    rc = rec_decode(d, &r, err);
    if (rc == 0) {
        rc = rec_apply(d, &r, err);
        if (rc == -BF_EINVAL && !r.dlq_kind)
            r.dlq_kind = "handler";
    }
    if (rc == -BF_EINVAL)
        rc = rec_dead_letter(d, &r, err->msg, err);
    json_decref(r.data);
    if (rc == 0)
        rec_done(d, &r);
    bf_log_set_event(NULL, NULL);
    return rc == 0 ? DONE : RETRY;
}

/* ---- the loop ---- */

static void hold_for_retry(struct bf_daemon *d, struct bf_kafka_msg *msg, const struct bf_err *err)
{
    int64_t delay = bf_backoff_ms(d->attempt, d->retry_base, d->retry_max);
    char ms[24];

    if (!d->held)
        bf_kafka_consumer_pause_all(d->consumer);
    d->held = msg;
    d->attempt++;
    d->retry_at = bf_mono_ms() + delay;
    snprintf(ms, sizeof(ms), "%lld", (long long)delay);
    bf_metrics_add(m.retries, topic_short(d, msg->topic), 1);
    bf_log_kv(err->code == BF_ETRANSIENT ? BF_LOG_WARN : BF_LOG_ERROR, "BF_DAEMON_RETRY", err->msg,
              "topic", msg->topic, "error", bf_err_name(err->code), "retry_in_ms", ms, NULL);
}

static void release_held(struct bf_daemon *d)
{
    bf_kafka_msg_free(d->held);
    d->held = NULL;
    d->attempt = 0;
    if (!d->service_paused)
        bf_kafka_consumer_resume_all(d->consumer);
}

static void handle(struct bf_daemon *d, struct bf_kafka_msg *msg)
{
    struct bf_err err = {0};

    if (!d->held)
        bf_metrics_add(m.consumed, topic_short(d, msg->topic), 1);
    if (rec_process(d, msg, &err) == RETRY) {
        hold_for_retry(d, msg, &err);
        return;
    }
    if (d->held == msg)
        release_held(d);
    else
        bf_kafka_msg_free(msg);
}

/* While a record is held: keep polling (rebalances), retry it when its time comes, and
 * drop it if its partition went to another member (which will read it again). */
static int turn_held(struct bf_daemon *d)
{
    struct bf_kafka_msg *other = NULL;
    int64_t wait = d->retry_at - bf_mono_ms();
    int rc = bf_kafka_consumer_poll(d->consumer, wait < 0 ? 0 : (int)min64(wait, POLL_MS), &other);

    if (other) {
        /* Paused partitions deliver nothing; a straggler is read again after the retry. */
        bf_kafka_consumer_rewind(d->consumer, other);
        bf_kafka_msg_free(other);
    }
    if (!bf_kafka_consumer_owns(d->consumer, d->held->topic, d->held->partition)) {
        bf_log_info("BF_DAEMON_REVOKED", "partition of the record in retry was revoked; "
                                         "its new owner handles it");
        release_held(d);
    } else if (!d->stop && bf_mono_ms() >= d->retry_at) {
        handle(d, d->held);
    }
    return rc == -BF_EINTERNAL ? rc : 0;
}

/* ---- several records, one transaction ----
 *
 * Why: a record's own work is a few statements; BEGIN, COMMIT and the loop turn around it
 * (relay, timers) cost as much again. Records already fetched are applied in one
 * transaction, each with its inbox row and outbox rows, then their offsets are stored in
 * order. Anything unusual (a poison record, a transient error, a failed COMMIT) rolls the
 * batch back and the same records go through the one-record path, which dead-letters or
 * retries exactly as it always did. */

/* Up to batch_max records: first, then whatever poll has at hand without waiting. */
static int batch_gather(struct bf_daemon *d, struct bf_kafka_msg *first, int *rc)
{
    int n = 0;

    d->msgs[n++] = first;
    while (n < d->batch_max && !d->service_paused) {
        struct bf_kafka_msg *msg = NULL;

        *rc = bf_kafka_consumer_poll(d->consumer, 0, &msg);
        if (*rc < 0 || !msg)
            break;
        d->msgs[n++] = msg;
    }
    if (*rc == -BF_ENOMEM)
        *rc = 0; /* that record's partition was rewound: it comes again */
    return n;
}

/* Decode every record; false if one is poison (the one-record path dead-letters it). */
static bool batch_decode(struct bf_daemon *d, int n)
{
    struct bf_err err = {0};
    bool ok = true;

    for (int i = 0; i < n; i++) {
        rec_init(d, &d->recs[i], d->msgs[i]);
        ok = ok && rec_decode(d, &d->recs[i], &err) == 0;
    }
    return ok;
}

/* BEGIN, every record's inbox row and effect, COMMIT. Returns how many records were
 * applied (fewer than n when a handler asked to pause: the rest is fetched again), or
 * -BF_E* after a rollback. */
static int batch_apply(struct bf_daemon *d, int n, struct bf_err *err)
{
    int k = 0, rc = bf_pg_begin(d->pg, err);
    bool applied = false;

    d->emitted = false;
    while (rc == 0 && k < n && (k == 0 || !d->service_paused)) {
        struct rec *r = &d->recs[k++];
        char trace_id[BF_TRACE_ID_LEN + 1];
        int64_t t0 = bf_mono_ms();

        bf_trace_id(r->traceparent, trace_id);
        bf_log_set_event(r->event_id, trace_id);
        rc = rec_apply_in_tx(d, r, err);
        if (rc == 0 && !r->duplicate) {
            bf_metrics_observe(m.latency, r->topic_short, (double)(bf_mono_ms() - t0) / 1000.0);
            applied = true;
        }
    }
    bf_log_set_event(NULL, NULL);
    if (rc < 0) {
        bf_pg_rollback(d->pg);
        return rc;
    }
    if ((rc = bf_pg_commit(d->pg, err)) < 0)
        return rc;
    if (applied)
        fault(d, FAULT_AFTER_COMMIT);
    return k;
}

static void batch_clear(struct bf_daemon *d, int n)
{
    for (int i = 0; i < n; i++) {
        json_decref(d->recs[i].data);
        d->recs[i].data = NULL;
    }
}

/* Fetch msgs[from..n) again later: seek each partition back to its earliest record there
 * (the last seek of a partition wins, hence backwards). Frees them. */
static void batch_rewind(struct bf_daemon *d, int from, int n)
{
    for (int i = n - 1; i >= from; i--) {
        bf_kafka_consumer_rewind(d->consumer, d->msgs[i]);
        bf_kafka_msg_free(d->msgs[i]);
    }
}

/* The batch failed as a whole: each record on its own, in order, as if never batched. A
 * record held for retry pauses the consumer; the ones after it are fetched again. */
static void batch_redo(struct bf_daemon *d, int n, const struct bf_err *why)
{
    int i = 0;

    bf_log_kv(BF_LOG_DEBUG, "BF_DAEMON_BATCH", "batch rolled back: its records go one by one",
              "error", why->msg, NULL);
    for (; i < n && !d->held; i++)
        handle(d, d->msgs[i]);
    batch_rewind(d, i, n);
}

static void batch_handle(struct bf_daemon *d, int n)
{
    struct bf_err err = {0};
    int k;

    if (batch_decode(d, n))
        k = batch_apply(d, n, &err);
    else
        k = bf_err_set(&err, BF_EINVAL, "a record's envelope or JSON is refused");
    batch_clear(d, n);
    if (k < 0) {
        batch_redo(d, n, &err);
        return;
    }
    for (int i = 0; i < k; i++) {
        bf_metrics_add(m.consumed, d->recs[i].topic_short, 1);
        rec_done(d, &d->recs[i]);
        bf_kafka_msg_free(d->msgs[i]);
    }
    batch_rewind(d, k, n);
}

static int turn_poll(struct bf_daemon *d)
{
    struct bf_kafka_msg *msg = NULL;
    int rc = bf_kafka_consumer_poll(d->consumer, POLL_MS, &msg), n;

    if (rc == -BF_ENOMEM) {
        bf_sleep_ms(1000, NULL);
        return 0;
    }
    if (!msg)
        return rc;
    n = batch_gather(d, msg, &rc);
    if (n == 1)
        handle(d, msg);
    else
        batch_handle(d, n);
    return rc;
}

static int loop(struct bf_daemon *d)
{
    int rc = 0;

    while (rc == 0) {
        signals_check(d);
        if (d->stop)
            break;
        if (!d->consumer)
            bf_sleep_ms(IDLE_MS, NULL);
        else
            rc = d->held ? turn_held(d) : turn_poll(d);
        bf_outbox_relay_run(d->relay, d->batch);
        ready_checks(d);
        if (d->svc->tick)
            d->svc->tick(d, atomic_load(&d->state));
    }
    return rc;
}

/* ---- start-up ---- */

struct args {
    const char *config;
    bool check;
    bool help;
    bool print_config;
};

static void usage(const struct bf_service *svc, const struct bf_cfg_def *const *tables, FILE *out)
{
    fprintf(
        out,
        "usage: badgeflow-%s [--config FILE] [--check-config] [--print-config] [--help]\n"
        "  --config FILE   read the config from FILE (INI); BADGEFLOW_<SECTION>_<KEY>\n"
        "                  environment variables override it\n"
        "  --check-config  validate the config and exit (0: valid, 2: invalid)\n"
        "  --print-config  print a commented config file with every key (config/%s.conf.example)\n"
        "  --help          this text and every config key\n\n"
        "Config keys, with their defaults:\n\n",
        svc->name, svc->name);
    bf_cfg_write_example(NULL, NULL, tables, out);
}

static void print_config(const struct bf_service *svc, const struct bf_cfg_def *const *tables)
{
    char title[96], regen[160];

    snprintf(title, sizeof(title), "badgeflow-%s", svc->name);
    snprintf(regen, sizeof(regen), "badgeflow-%s --print-config > config/%s.conf.example",
             svc->name, svc->name);
    bf_cfg_write_example(title, regen, tables, stdout);
}

static int parse_args(int argc, char **argv, struct args *a, struct bf_err *err)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--config") == 0 || strcmp(s, "-c") == 0) {
            if (i + 1 >= argc)
                return bf_err_set(err, BF_EINVAL, "%s: needs a file name", s);
            a->config = argv[++i];
        } else if (strncmp(s, "--config=", 9) == 0) {
            a->config = s + 9;
        } else if (strcmp(s, "--check-config") == 0) {
            a->check = true;
        } else if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            a->help = true;
        } else if (strcmp(s, "--print-config") == 0) {
            a->print_config = true;
        } else {
            return bf_err_set(err, BF_EINVAL, "%s: unknown argument", s);
        }
    }
    return 0;
}

static int config_derive(struct bf_daemon *d, struct bf_err *err)
{
    const char *fp = bf_cfg_str(d->cfg, "daemon.fault_point");
    const char *group = bf_cfg_str(d->cfg, "kafka.group_id");

    d->retry_base = bf_cfg_int(d->cfg, "daemon.retry_base");
    d->retry_max = bf_cfg_int(d->cfg, "daemon.retry_max");
    d->shutdown_ms = bf_cfg_int(d->cfg, "daemon.shutdown_timeout");
    d->ready_ms = bf_cfg_int(d->cfg, "daemon.ready_interval");
    d->batch = (int)bf_cfg_int(d->cfg, "daemon.outbox_batch");
    d->batch_max = (int)bf_cfg_int(d->cfg, "daemon.batch_max");
    if (d->batch_max == 0)
        d->batch_max = d->svc->batch_max > 0 ? d->svc->batch_max : 1;
    d->dlq = bf_cfg_bool(d->cfg, "kafka.dlq");
    d->fault = strcmp(fp, "after_commit") == 0   ? FAULT_AFTER_COMMIT
               : strcmp(fp, "after_effect") == 0 ? FAULT_AFTER_EFFECT
                                                 : FAULT_NONE;
    if (group[0])
        bf_strlcpy(d->group, group, sizeof(d->group));
    else
        snprintf(d->group, sizeof(d->group), "badgeflow-%s", d->svc->name);
    snprintf(d->source, sizeof(d->source), "/badgeflow/%s", d->svc->name);
    if (!bf_strlcpy(d->prefix, bf_cfg_str(d->cfg, "kafka.topic_prefix"), sizeof(d->prefix)))
        return bf_err_set(err, BF_EINVAL, "kafka.topic_prefix: too long");
    d->octx = (struct bf_outbox_ctx){d->svc->name, d->source, d->prefix};
    if (d->retry_max < d->retry_base)
        return bf_err_set(err, BF_EINVAL, "daemon.retry_max: must not be below daemon.retry_base");
    return 0;
}

/* The distinct topics of the handler table, as full names. */
static int topics_collect(struct bf_daemon *d, struct bf_err *err)
{
    size_t n = 0;
    char name[512];

    for (const struct bf_event_handler *h = d->svc->handlers; h && h->topic; h++) {
        if (bf_kafka_topic_name(d->cfg, h->topic, name, sizeof(name)) < 0)
            return bf_err_set(err, BF_EINVAL, "topic %s: name too long", h->topic);
        bool seen = false;
        for (size_t i = 0; i < n; i++)
            seen = seen || strcmp(d->topics[i], name) == 0;
        if (seen)
            continue;
        if (n == TOPICS_MAX)
            return bf_err_set(err, BF_EINVAL, "more than %d topics", TOPICS_MAX);
        if (!(d->topics[n++] = strdup(name)))
            return bf_err_set(err, BF_ENOMEM, "out of memory");
    }
    return 0;
}

/* Create the consumed topics and their .dlq twins (existing ones are left as they are). */
static void topics_create(struct bf_daemon *d)
{
    char dlq[TOPICS_MAX][520];
    const char *names[2 * TOPICS_MAX];
    struct bf_err err = {0};
    size_t n = 0;

    for (size_t i = 0; d->topics[i]; i++) {
        snprintf(dlq[i], sizeof(dlq[i]), "%s%s", d->topics[i], BF_DLQ_SUFFIX);
        names[n++] = d->topics[i];
        names[n++] = dlq[i];
    }
    if (n > 0 && bf_kafka_create_topics(d->cfg, names, n,
                                        (int)bf_cfg_int(d->cfg, "kafka.partitions"), &err) < 0)
        bf_log_warn("BF_DAEMON_TOPICS", "could not create the topics: %s", err.msg);
}

/* Connect PostgreSQL, retrying with back-off until it answers or a signal stops us. */
static int pg_connect_loop(struct bf_daemon *d, struct bf_err *err)
{
    while (!d->stop) {
        if (bf_pg_ensure(d->pg, err) == 0)
            return 0;
        bf_sleep_ms(POLL_MS, NULL);
        signals_check(d);
    }
    return -BF_ETRANSIENT;
}

static int redis_open(struct bf_daemon *d, struct bf_err *err)
{
    const struct bf_cfg *c = d->cfg;

    d->redis = bf_redis_new(bf_cfg_str(c, "redis.host"), (int)bf_cfg_int(c, "redis.port"),
                            bf_cfg_str(c, "redis.password"), (int)bf_cfg_int(c, "redis.db"),
                            bf_cfg_int(c, "redis.timeout"), err);
    return d->redis ? 0 : -BF_EINVAL;
}

static int daemon_start(struct bf_daemon *d, struct bf_err *err)
{
    void *state = NULL;
    int rc;

    metrics_init();
    if ((rc = topics_collect(d, err)) < 0 || (rc = http_start(d, err)) < 0)
        return rc;
    d->pg = bf_pg_new_cfg(d->cfg, d->svc->name, err);
    if (!d->pg)
        return -BF_ENOMEM;
    if ((rc = pg_connect_loop(d, err)) < 0)
        return rc;
    d->relay = bf_outbox_relay_new(NULL, d->svc->name, d->cfg, err);
    if (!d->relay)
        return -BF_EINVAL;
    if ((d->svc->needs & BF_NEEDS_REDIS) && (rc = redis_open(d, err)) < 0)
        return rc;
    /* The service is ready before its consumer joins the group (no rebalance churn). */
    if (d->svc->init && d->svc->init(d, &state, err) < 0)
        return bf_err_prefix(err, "%s: init", d->svc->name);
    atomic_store(&d->state, state);
    if (d->topics[0]) {
        d->msgs = calloc((size_t)d->batch_max, sizeof(struct bf_kafka_msg *));
        d->recs = calloc((size_t)d->batch_max, sizeof(*d->recs));
        if (!d->msgs || !d->recs)
            return bf_err_set(err, BF_ENOMEM, "out of memory");
        topics_create(d);
        d->consumer = bf_kafka_consumer_new(d->cfg, d->group, (const char *const *)d->topics, err);
        if (!d->consumer)
            return -BF_EINVAL;
    }
    bf_log_kv(BF_LOG_INFO, "BF_DAEMON_START", "started", "group", d->group, NULL);
    return 0;
}

/* ---- shutdown ---- */

/* Publish what is committed and wait for its delivery, within the shutdown budget. */
static void relay_drain(struct bf_daemon *d, int64_t deadline)
{
    int64_t left;

    while (bf_mono_ms() < deadline && bf_outbox_relay_run(d->relay, d->batch) > 0)
        ;
    left = deadline - bf_mono_ms();
    if (bf_outbox_relay_flush(d->relay, left > 0 ? (int)left : 0) < 0)
        return; /* logged; the rows are published again by the next relay */
}

static void daemon_stop(struct bf_daemon *d)
{
    int64_t deadline = bf_mono_ms() + d->shutdown_ms;

    if (d->held) {
        bf_log_info("BF_DAEMON_STOP", "abandoning the record in retry: it is read again");
        bf_kafka_msg_free(d->held);
        d->held = NULL;
    }
    /* Leave the group first, so the partitions move to another member at once; the
     * outbox rows are safe in PostgreSQL whatever happens to the relay below. */
    if (d->consumer)
        (void)bf_kafka_consumer_close(d->consumer);
    d->consumer = NULL;
    if (d->relay)
        relay_drain(d, deadline);
    if (d->svc->fini && atomic_load(&d->state))
        d->svc->fini(atomic_load(&d->state));
    bf_http_stop(d->http);
    bf_outbox_relay_free(d->relay);
    bf_redis_free(d->redis);
    bf_pg_free(d->pg);
    free(d->routes);
    free(d->msgs);
    free(d->recs);
    for (size_t i = 0; d->topics[i]; i++)
        free(d->topics[i]);
}

static int daemon_run(struct bf_daemon *d)
{
    struct bf_err err = {0};
    int rc;

    signals_block(d);
    rc = daemon_start(d, &err);
    if (rc == 0)
        rc = loop(d);
    else if (!d->stop)
        bf_log_err("BF_DAEMON_START", "%s", err.msg);
    daemon_stop(d);
    if (rc < 0 && !d->stop)
        return 1;
    bf_log_info("BF_DAEMON_STOP", "stopped cleanly");
    return 0;
}

static int log_setup(const struct bf_daemon *d, struct bf_err *err)
{
    enum bf_log_level level;

    if (bf_log_level_parse(bf_cfg_str(d->cfg, "log.level"), &level) < 0)
        return bf_err_set(err, BF_EINVAL, "log.level: unknown level");
    bf_log_init(d->svc->name, level, stderr);
    return 0;
}

int bf_daemon_main(const struct bf_service *svc, int argc, char **argv)
{
    const struct bf_cfg_def *tables[] = {bf_cfg_common_defs, svc->cfg_defs, NULL};
    struct bf_daemon d = {.svc = svc};
    struct args a = {0};
    struct bf_err err = {0};
    int rc;

    if (parse_args(argc, argv, &a, &err) < 0) {
        fprintf(stderr, "badgeflow-%s: %s\n", svc->name, err.msg);
        usage(svc, tables, stderr);
        return 2;
    }
    if (a.help) {
        usage(svc, tables, stdout);
        return 0;
    }
    if (a.print_config) {
        print_config(svc, tables);
        return 0;
    }
    d.cfg = bf_cfg_load(tables, a.config, NULL, &err);
    if (!d.cfg || config_derive(&d, &err) < 0 || log_setup(&d, &err) < 0) {
        fprintf(stderr, "badgeflow-%s: %s\n", svc->name, err.msg);
        bf_cfg_free(d.cfg);
        return 2;
    }
    if (a.check) {
        printf("badgeflow-%s: config ok\n", svc->name);
        bf_cfg_free(d.cfg);
        return 0;
    }
    rc = daemon_run(&d);
    bf_cfg_free(d.cfg);
    return rc;
}

/* ---- for services ---- */

void bf_daemon_pause(struct bf_daemon *d, bool paused)
{
    if (!d->consumer || d->service_paused == paused)
        return;
    d->service_paused = paused;
    if (d->held)
        return; /* the retry path resumes, or not, when it lets go of the record */
    if (paused)
        bf_kafka_consumer_pause_all(d->consumer);
    else
        bf_kafka_consumer_resume_all(d->consumer);
}

int bf_daemon_emit(struct bf_event *ev, const struct bf_emit *emit, char id_out[BF_UUID_STRLEN + 1],
                   struct bf_err *err)
{
    struct bf_emit e = *emit;
    int rc;

    if (!e.traceparent)
        e.traceparent = ev->traceparent;
    rc = bf_outbox_emit(ev->pg, &ev->d->octx, &e, id_out, err);
    if (rc == 0)
        ev->d->emitted = true;
    return rc;
}

int bf_daemon_emit_pg(struct bf_daemon *d, struct bf_pg *pg, const struct bf_emit *emit,
                      char id_out[BF_UUID_STRLEN + 1], struct bf_err *err)
{
    int rc = bf_outbox_emit(pg, &d->octx, emit, id_out, err);

    if (rc == 0 && d->relay)
        bf_outbox_relay_kick(d->relay);
    return rc;
}

const struct bf_cfg *bf_daemon_cfg(const struct bf_daemon *d)
{
    return d->cfg;
}

struct bf_pg *bf_daemon_pg(struct bf_daemon *d)
{
    return d->pg;
}

const struct bf_service *bf_daemon_service(const struct bf_daemon *d)
{
    return d->svc;
}

const char *bf_daemon_group(const struct bf_daemon *d)
{
    return d->group;
}

bool bf_daemon_stopping(const struct bf_daemon *d)
{
    return d->stop != 0;
}

struct bf_redis *bf_daemon_redis(struct bf_daemon *d)
{
    return d->redis;
}

void *bf_daemon_state(struct bf_daemon *d)
{
    return atomic_load(&d->state);
}
