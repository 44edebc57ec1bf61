/* SPDX-License-Identifier: Apache-2.0 */
/* The outbox: events written in the effect's transaction, and the relay that publishes them. */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/json.h"
#include "badgeflow/log.h"
#include "badgeflow/metrics.h"
#include "badgeflow/pg.h"
#include "badgeflow/trace.h"

#define OUTBOX_INSERT "bf_outbox_insert"
#define OUTBOX_INSERT_SQL                                                                          \
    "INSERT INTO outbox (service, topic, msg_key, headers, payload)"                               \
    " VALUES ($1, $2, $3, $4::jsonb, $5)"
#define B64_MARK "base64"

/* ---- writing rows ---- */

struct outbox_row {
    const char *service;
    const char *topic;
    const void *key;
    size_t klen;
    const char *headers; /* JSON text */
    const void *value;
    size_t vlen;
};

static int row_insert(struct bf_pg *pg, const struct outbox_row *r, struct bf_err *err)
{
    const char *p[5] = {r->service, r->topic, r->key, r->headers, r->value ? r->value : ""};
    const int len[5] = {0, 0, (int)r->klen, 0, (int)r->vlen};
    const int fmt[5] = {0, 0, 1, 0, 1};
    PGresult *res;
    int rc;

    if (r->vlen > INT32_MAX || r->klen > INT32_MAX)
        return bf_err_set(err, BF_ETOOBIG, "outbox: record too big");
    rc = bf_pg_prepare(pg, OUTBOX_INSERT, OUTBOX_INSERT_SQL, err);
    if (rc < 0)
        return rc;
    res = bf_pg_execb(pg, OUTBOX_INSERT, 5, p, len, fmt, err);
    if (!res)
        return err ? -err->code : -BF_EINTERNAL;
    PQclear(res);
    return 0;
}

/* Append [name, value] to the header array; false on ENOMEM. */
static bool header_pair(json_t *arr, const char *name, const char *value)
{
    return json_array_append_new(arr, json_pack("[ss]", name, value)) == 0;
}

static json_t *ce_headers(const struct bf_outbox_ctx *ctx, const struct bf_emit *e, const char *id,
                          const char *tp)
{
    char now[BF_TIME_STRLEN];
    json_t *h = json_array();
    bool ok;

    bf_time_format(bf_now_ms(), now);
    ok = h && header_pair(h, BF_CE_SPECVERSION, "1.0") && header_pair(h, BF_CE_ID, id) &&
         header_pair(h, BF_CE_SOURCE, ctx->source) && header_pair(h, BF_CE_TYPE, e->type) &&
         header_pair(h, BF_CE_TIME, now) &&
         (!e->subject || header_pair(h, BF_CE_SUBJECT, e->subject)) &&
         header_pair(h, BF_CE_CONTENT_TYPE, "application/json") &&
         header_pair(h, BF_CE_TRACEPARENT, tp);
    if (!ok) {
        json_decref(h);
        return NULL;
    }
    return h;
}

static int emit_check(const struct bf_emit *e, struct bf_err *err)
{
    if (!e->topic || !e->topic[0] || !e->type || !e->type[0])
        return bf_err_set(err, BF_EINTERNAL, "outbox: emit needs a topic and a type");
    if (!json_is_object(e->data))
        return bf_err_set(err, BF_EINTERNAL, "outbox: %s: data must be a JSON object", e->type);
    return 0;
}

int bf_outbox_emit(struct bf_pg *pg, const struct bf_outbox_ctx *ctx, const struct bf_emit *emit,
                   char id_out[BF_UUID_STRLEN + 1], struct bf_err *err)
{
    char id[BF_UUID_STRLEN + 1], tp[BF_TRACEPARENT_LEN + 1], topic[512];
    char *hdr_text = NULL, *payload = NULL;
    json_t *hdrs = NULL;
    int rc = emit_check(emit, err);

    if (rc < 0)
        return rc;
    if (bf_uuid_v4(id) < 0 || bf_trace_child(emit->traceparent, tp) < 0)
        return bf_err_set(err, BF_EIO, "outbox: no randomness for ids");
    snprintf(topic, sizeof(topic), "%s%s", ctx->topic_prefix, emit->topic);
    hdrs = ce_headers(ctx, emit, id, tp);
    hdr_text = hdrs ? json_dumps(hdrs, JSON_COMPACT) : NULL;
    payload = bf_json_dump(emit->data);
    if (!hdr_text || !payload) {
        rc = bf_err_set(err, BF_ENOMEM, "outbox: out of memory");
        goto out;
    }
    struct outbox_row row = {
        ctx->service, topic,   emit->key,      emit->key ? strlen(emit->key) : 0,
        hdr_text,     payload, strlen(payload)};
    rc = row_insert(pg, &row, err);
    if (rc == 0 && id_out)
        memcpy(id_out, id, sizeof(id));
out:
    free(hdr_text);
    free(payload);
    json_decref(hdrs);
    return rc;
}

/* len bytes as base64 (caller frees), NULL on ENOMEM. */
static char *b64_encode(const void *in, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);

    if (out)
        EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return out;
}

/* A header value is stored as a JSON string when it is UTF-8 without NUL (jsonb refuses
 * \u0000); otherwise name and value go base64-encoded with a third element "base64". */
static json_t *raw_header(const struct bf_kafka_header *h)
{
    json_t *v, *entry;
    char *n64, *v64;

    if (!h->value)
        return json_pack("[so]", h->name, json_null());
    v = memchr(h->value, '\0', h->len) ? NULL : json_stringn(h->value, h->len);
    if (v && (entry = json_pack("[so]", h->name, v)) != NULL)
        return entry;
    n64 = b64_encode(h->name, strlen(h->name));
    v64 = b64_encode(h->value, h->len);
    entry = n64 && v64 ? json_pack("[sss]", n64, v64, B64_MARK) : NULL;
    free(n64);
    free(v64);
    return entry;
}

static char *raw_headers_text(const struct bf_kafka_header *headers, size_t n)
{
    json_t *arr = json_array();
    char *text = NULL;

    for (size_t i = 0; arr && i < n; i++) {
        if (json_array_append_new(arr, raw_header(&headers[i])) < 0)
            goto out;
    }
    text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
out:
    json_decref(arr);
    return text;
}

int bf_outbox_add_raw(struct bf_pg *pg, const char *service, const char *topic, const void *key,
                      size_t klen, const struct bf_kafka_header *headers, size_t nheaders,
                      const void *value, size_t vlen, struct bf_err *err)
{
    char *hdr_text = raw_headers_text(headers, nheaders);
    struct outbox_row row = {service, topic, key, key ? klen : 0, hdr_text, value, vlen};
    int rc;

    if (!hdr_text)
        return bf_err_set(err, BF_ENOMEM, "outbox: out of memory");
    rc = row_insert(pg, &row, err);
    free(hdr_text);
    return rc;
}

int bf_outbox_dead_letter(struct bf_pg *pg, const char *service, const char *consumer,
                          const struct bf_kafka_msg *msg, const char *reason, struct bf_err *err)
{
    char part[16], off[24], now[BF_TIME_STRLEN], dlq[512];
    struct bf_kafka_header *h = calloc(msg->nheaders + 6, sizeof(*h));
    size_t n = msg->nheaders;
    int rc;

    if (!h)
        return bf_err_set(err, BF_ENOMEM, "outbox: out of memory");
    snprintf(part, sizeof(part), "%d", (int)msg->partition);
    snprintf(off, sizeof(off), "%lld", (long long)msg->offset);
    snprintf(dlq, sizeof(dlq), "%s%s", msg->topic, BF_DLQ_SUFFIX);
    bf_time_format(bf_now_ms(), now);
    memcpy(h, msg->headers, n * sizeof(*h));
    h[n++] = (struct bf_kafka_header){BF_DLQ_REASON, reason, strlen(reason)};
    h[n++] = (struct bf_kafka_header){BF_DLQ_TOPIC, msg->topic, strlen(msg->topic)};
    h[n++] = (struct bf_kafka_header){BF_DLQ_PARTITION, part, strlen(part)};
    h[n++] = (struct bf_kafka_header){BF_DLQ_OFFSET, off, strlen(off)};
    h[n++] = (struct bf_kafka_header){BF_DLQ_CONSUMER, consumer, strlen(consumer)};
    h[n++] = (struct bf_kafka_header){BF_DLQ_TIME, now, strlen(now)};
    rc = bf_outbox_add_raw(pg, service, dlq, msg->key, msg->key_len, h, n, msg->value,
                           msg->value_len, err);
    free(h);
    return rc;
}

/* ---- the relay ---- */

#define RELAY_MAX_INFLIGHT    10000
#define RELAY_LOCK_RETRY_MS   2000
#define RELAY_IDLE_SELECT_MS  100
#define RELAY_RESCAN_MS       1000
#define RELAY_RESCAN_FORCE_MS 5000
#define RELAY_PENDING_MS      5000
#define RELAY_CLEANUP_MS      600000
#define RELAY_CLEANUP_ROWS    "10000"
#define RELAY_ERROR_LOG_MS    10000

#define S_SELECT "bf_outbox_select"
#define S_SELECT_SQL                                                                               \
    "SELECT id, topic, msg_key, headers::text, payload FROM outbox"                                \
    " WHERE service = $1 AND sent_at IS NULL AND id > $2 ORDER BY id LIMIT $3"
#define S_MARK        "bf_outbox_mark"
#define S_MARK_SQL    "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])"
#define S_LOCK        "bf_outbox_lock"
#define S_LOCK_SQL    "SELECT pg_try_advisory_lock(hashtext('outbox:' || $1))"
#define S_PENDING     "bf_outbox_pending"
#define S_PENDING_SQL "SELECT count(*) FROM outbox WHERE service = $1 AND sent_at IS NULL"
#define S_CLEANUP     "bf_outbox_cleanup"
#define S_CLEANUP_SQL                                                                              \
    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE service = $1"                     \
    " AND sent_at < now() - $2 * interval '1 millisecond' ORDER BY id LIMIT " RELAY_CLEANUP_ROWS   \
    ")"

struct bf_outbox_relay {
    struct bf_pg *pg;
    struct bf_kafka_producer *producer;
    const struct bf_cfg *cfg;
    char service[128];
    bool leader;
    unsigned lock_generation; /* the pg session the lock was taken on */
    int64_t next_lock_try;
    int64_t last_id;    /* cursor: rows up to it were handed to the producer */
    int inflight;       /* produced, no delivery report yet */
    bool rescan;        /* a delivery failed: rewind once nothing is in flight */
    atomic_bool kicked; /* the only field other threads touch */
    bool stopping;
    int64_t next_select, next_rescan, next_pending, next_cleanup;
    int64_t *marks; /* delivered ids not yet marked sent */
    size_t nmarks, capmarks;
    int batch;
    long long retention_ms;
    int64_t next_error_log; /* unpublishable rows are logged at most every few seconds */
    unsigned errors_quiet;
};

static struct bf_metric *m_pending, *m_published, *m_failed;

static void relay_metrics_init(void)
{
    if (m_pending)
        return;
    m_pending = bf_metrics_gauge("outbox_pending", "Outbox rows not yet published", "service");
    m_published =
        bf_metrics_counter("outbox_published_total", "Outbox rows delivered to Kafka", "service");
    m_failed = bf_metrics_counter("outbox_delivery_failed_total",
                                  "Outbox deliveries that failed (retried)", "service");
}

static void relay_mark(struct bf_outbox_relay *r, int64_t id)
{
    if (r->nmarks == r->capmarks) {
        size_t cap = r->capmarks ? r->capmarks * 2 : 256;
        int64_t *grown = realloc(r->marks, cap * sizeof(*grown));
        if (!grown) {
            /* Unmarked rows are published again (same ce_id): safe, only wasteful. */
            r->rescan = true;
            return;
        }
        r->marks = grown;
        r->capmarks = cap;
    }
    r->marks[r->nmarks++] = id;
}

/* Rows that fail stay unsent and come again on every rescan (a topic that does not exist,
 * Kafka down for longer than message.timeout.ms): say so at most once per
 * RELAY_ERROR_LOG_MS, with the number of failures in between. */
static void relay_error(struct bf_outbox_relay *r, const char *code, int64_t id, const char *msg)
{
    int64_t now = bf_mono_ms();
    char row[24];

    if (now < r->next_error_log) {
        r->errors_quiet++;
        return;
    }
    snprintf(row, sizeof(row), "%" PRId64, id);
    bf_log_kv(BF_LOG_WARN, code, "outbox row not published; it stays unsent and is retried",
              "service", r->service, "row", row, "error", msg, NULL);
    if (r->errors_quiet)
        bf_log_warn(code, "outbox of %s: %u more rows failed since the last report", r->service,
                    r->errors_quiet);
    r->errors_quiet = 0;
    r->next_error_log = now + RELAY_ERROR_LOG_MS;
}

static void relay_dr(void *opaque, void *msg_opaque, int rc, const char *errstr)
{
    struct bf_outbox_relay *r = opaque;
    int64_t id = (int64_t)(intptr_t)msg_opaque;

    r->inflight--;
    if (rc == 0) {
        relay_mark(r, id);
        return;
    }
    r->rescan = true;
    bf_metrics_add(m_failed, r->service, 1);
    relay_error(r, "BF_OUTBOX_DELIVERY", id, errstr ? errstr : "delivery failed");
}

static int relay_prepare(struct bf_pg *pg, struct bf_err *err)
{
    static const char *const s[][2] = {
        {S_SELECT, S_SELECT_SQL},   {S_MARK, S_MARK_SQL},       {S_LOCK, S_LOCK_SQL},
        {S_PENDING, S_PENDING_SQL}, {S_CLEANUP, S_CLEANUP_SQL},
    };

    for (size_t i = 0; i < BF_ARRAY_LEN(s); i++) {
        int rc = bf_pg_prepare(pg, s[i][0], s[i][1], err);
        if (rc < 0 && rc != -BF_ETRANSIENT)
            return rc;
    }
    return 0;
}

struct bf_outbox_relay *bf_outbox_relay_new(const char *conninfo, const char *service,
                                            const struct bf_cfg *cfg, struct bf_err *err)
{
    struct bf_outbox_relay *r = calloc(1, sizeof(*r));

    if (!r) {
        bf_err_set(err, BF_ENOMEM, "outbox: out of memory");
        return NULL;
    }
    relay_metrics_init();
    r->cfg = cfg;
    bf_strlcpy(r->service, service, sizeof(r->service));
    r->batch = (int)bf_cfg_int(cfg, "daemon.outbox_batch");
    r->retention_ms = bf_cfg_int(cfg, "daemon.outbox_retention");
    if (conninfo) {
        r->pg = bf_pg_new(conninfo, err);
    } else {
        char app[160];
        snprintf(app, sizeof(app), "%s-relay", service);
        r->pg = bf_pg_new_cfg(cfg, app, err);
    }
    if (!r->pg || relay_prepare(r->pg, err) < 0)
        goto fail;
    r->producer = bf_kafka_producer_new(cfg, relay_dr, r, err);
    if (!r->producer)
        goto fail;
    return r;
fail:
    bf_pg_free(r->pg);
    free(r);
    return NULL;
}

void bf_outbox_relay_kick(struct bf_outbox_relay *r)
{
    atomic_store(&r->kicked, true);
}

bool bf_outbox_relay_leader(const struct bf_outbox_relay *r)
{
    return r->leader && bf_pg_connected(r->pg) && bf_pg_generation(r->pg) == r->lock_generation;
}

/* "{1,2,3}" of the pending marks (caller frees). */
static char *marks_array(const struct bf_outbox_relay *r)
{
    size_t cap = r->nmarks * 21 + 3, used = 1;
    char *s = malloc(cap);

    if (!s)
        return NULL;
    s[0] = '{';
    for (size_t i = 0; i < r->nmarks; i++)
        used += (size_t)snprintf(s + used, cap - used, "%s%" PRId64, i ? "," : "", r->marks[i]);
    snprintf(s + used, cap - used, "}");
    return s;
}

/* Mark delivered rows sent, in one UPDATE; on failure they stay queued for the next run. */
static void relay_flush_marks(struct bf_outbox_relay *r)
{
    struct bf_err err = {0};
    char *arr;
    int rc;

    if (r->nmarks == 0)
        return;
    arr = marks_array(r);
    if (!arr)
        return;
    rc = bf_pg_cmd(r->pg, S_MARK, 1, (const char *const *)&arr, NULL, &err);
    free(arr);
    if (rc < 0) {
        if (rc != -BF_ETRANSIENT)
            bf_log_err("BF_OUTBOX_MARK", "%s", err.msg);
        return;
    }
    bf_metrics_add(m_published, r->service, (double)r->nmarks);
    r->nmarks = 0;
}

/* Take the service's lock if nobody holds it; a new pg session lost the old lock. */
static void relay_lead(struct bf_outbox_relay *r, int64_t now)
{
    const char *p[1] = {r->service};
    struct bf_err err = {0};
    PGresult *res;

    if (bf_outbox_relay_leader(r))
        return;
    if (r->leader)
        bf_log_warn("BF_OUTBOX_LEADER", "outbox of %s: lost the relay lock with the connection",
                    r->service);
    r->leader = false;
    if (now < r->next_lock_try)
        return;
    r->next_lock_try = now + RELAY_LOCK_RETRY_MS;
    res = bf_pg_exec(r->pg, S_LOCK, 1, p, &err);
    if (!res)
        return;
    if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        r->leader = true;
        r->lock_generation = bf_pg_generation(r->pg);
        /* Start from the smallest unsent id once what is still in flight has drained. */
        r->rescan = true;
        bf_log_info("BF_OUTBOX_LEADER", "outbox of %s: this relay publishes", r->service);
    }
    PQclear(res);
}

/* ---- publishing one row ---- */

struct row_headers {
    struct bf_kafka_header *h;
    void **owned; /* decoded base64 buffers */
    size_t n, nowned;
};

static void row_headers_free(struct row_headers *rh)
{
    for (size_t i = 0; i < rh->nowned; i++)
        free(rh->owned[i]);
    free(rh->owned);
    free(rh->h);
}

/* Decode base64 s into a new buffer (owned by rh); NULL on bad input. */
static const char *b64_decode(struct row_headers *rh, const char *s, size_t *len)
{
    size_t slen = strlen(s);
    unsigned char *out = malloc(slen / 4 * 3 + 4);
    int n;

    if (!out)
        return NULL;
    n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)slen);
    if (n < 0) {
        free(out);
        return NULL;
    }
    /* EVP_DecodeBlock counts padding as data: take it off. */
    for (size_t i = slen; i > 0 && s[i - 1] == '='; i--)
        n--;
    out[n] = '\0';
    rh->owned[rh->nowned++] = out;
    *len = (size_t)n;
    return (const char *)out;
}

static int row_header(struct row_headers *rh, json_t *e)
{
    struct bf_kafka_header *h = &rh->h[rh->n];
    json_t *v = json_array_get(e, 1);
    size_t nlen;

    h->name = json_string_value(json_array_get(e, 0));
    if (!h->name)
        return -BF_EINVAL;
    if (json_array_size(e) == 3) {
        h->name = b64_decode(rh, h->name, &nlen);
        h->value = json_is_string(v) ? b64_decode(rh, json_string_value(v), &h->len) : NULL;
        if (!h->name || !h->value)
            return -BF_EINVAL;
    } else if (json_is_string(v)) {
        h->value = json_string_value(v);
        h->len = json_string_length(v);
    }
    rh->n++;
    return 0;
}

/* Parse the headers column [[name, value(, "base64")], ...]; strings borrowed from arr. */
static int row_headers_parse(json_t *arr, struct row_headers *rh)
{
    size_t n = json_array_size(arr);

    rh->h = calloc(n ? n : 1, sizeof(*rh->h));
    rh->owned = calloc(2 * n + 1, sizeof(*rh->owned));
    if (!rh->h || !rh->owned || !json_is_array(arr))
        return -BF_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (row_header(rh, json_array_get(arr, i)) < 0)
            return -BF_EINVAL;
    }
    return 0;
}

static unsigned char *unescape(const PGresult *res, int row, int col, size_t *len)
{
    *len = 0;
    if (PQgetisnull(res, row, col))
        return NULL;
    return PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), len);
}

/* Hand row i of res to the producer: 0, -BF_ETRANSIENT (queue full), or another error. */
static int relay_produce_row(struct bf_outbox_relay *r, const PGresult *res, int i, int64_t id)
{
    struct row_headers rh = {0};
    json_t *hj = json_loads(PQgetvalue(res, i, 3), 0, NULL);
    size_t klen, vlen;
    unsigned char *key = unescape(res, i, 2, &klen), *val = unescape(res, i, 4, &vlen);
    struct bf_err err = {0};
    int rc = -BF_EINVAL;

    if (!hj || row_headers_parse(hj, &rh) < 0 || !val) {
        bf_log_err("BF_OUTBOX_ROW", "outbox row %" PRId64 ": unreadable headers or payload", id);
        goto out;
    }
    rc = bf_kafka_produce(r->producer, PQgetvalue(res, i, 1), key, klen, rh.h, rh.n, val, vlen,
                          (void *)(intptr_t)id, &err);
    if (rc == 0)
        r->inflight++;
    else if (rc != -BF_ETRANSIENT)
        relay_error(r, "BF_OUTBOX_PUBLISH", id, err.msg);
out:
    row_headers_free(&rh);
    json_decref(hj);
    PQfreemem(key);
    PQfreemem(val);
    return rc;
}

/* Select up to limit unsent rows after the cursor and produce them. Returns rows produced. */
static int relay_publish(struct bf_outbox_relay *r, int limit)
{
    char after[24], lim[16];
    const char *p[3] = {r->service, after, lim};
    struct bf_err err = {0};
    PGresult *res;
    int n, produced = 0;

    snprintf(after, sizeof(after), "%" PRId64, r->last_id);
    snprintf(lim, sizeof(lim), "%d", limit);
    res = bf_pg_exec(r->pg, S_SELECT, 3, p, &err);
    if (!res)
        return 0;
    n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        long long id = 0;
        if (bf_parse_ll(PQgetvalue(res, i, 0), 1, INT64_MAX, &id) < 0)
            break;
        int rc = relay_produce_row(r, res, i, id);
        if (rc == -BF_ETRANSIENT)
            break; /* local queue full: this row again next run */
        r->last_id = id;
        produced += rc == 0;
    }
    PQclear(res);
    /* A full batch means more may be waiting: look again on the next run. */
    r->next_select = bf_mono_ms() + (n == limit ? 0 : RELAY_IDLE_SELECT_MS);
    return produced;
}

/*
 * Rewind the cursor to the smallest unsent id, only when nothing is in flight (so this
 * relay never produces a row twice): after a failed delivery (publishing stops until the
 * in-flight records drain), and every second for rows that committed after rows with
 * larger ids (bigserial order is not commit order): that one waits for a lull in the
 * traffic, and forces one after RELAY_RESCAN_FORCE_MS. False: publish nothing now.
 */
static bool relay_rewind(struct bf_outbox_relay *r, int64_t now)
{
    bool periodic = now >= r->next_rescan;

    if (!r->rescan && !periodic)
        return true;
    if (r->inflight > 0 || r->nmarks > 0)
        return !r->rescan && now < r->next_rescan + RELAY_RESCAN_FORCE_MS;
    r->last_id = 0;
    r->rescan = false;
    r->next_rescan = now + RELAY_RESCAN_MS;
    r->next_select = 0;
    return true;
}

static void relay_housekeeping(struct bf_outbox_relay *r, int64_t now)
{
    const char *p[2] = {r->service, NULL};
    char ret[24];
    struct bf_err err = {0};
    PGresult *res;

    if (now >= r->next_pending) {
        r->next_pending = now + RELAY_PENDING_MS;
        res = bf_pg_exec(r->pg, S_PENDING, 1, p, &err);
        if (res)
            bf_metrics_set(m_pending, r->service, strtod(PQgetvalue(res, 0, 0), NULL));
        PQclear(res);
    }
    if (now >= r->next_cleanup) {
        r->next_cleanup = now + RELAY_CLEANUP_MS;
        snprintf(ret, sizeof(ret), "%lld", r->retention_ms);
        p[1] = ret;
        if (bf_pg_cmd(r->pg, S_CLEANUP, 2, p, NULL, &err) < 0)
            bf_log_warn("BF_OUTBOX_CLEANUP", "%s", err.msg);
    }
}

/* A fatal producer error breaks idempotence: replace the producer (its records fail). */
static void relay_check_producer(struct bf_outbox_relay *r)
{
    struct bf_err err = {0};
    struct bf_kafka_producer *p;

    if (!bf_kafka_producer_fatal(r->producer))
        return;
    p = bf_kafka_producer_new(r->cfg, relay_dr, r, &err);
    if (!p) {
        bf_log_err("BF_OUTBOX_PRODUCER", "cannot replace the failed producer: %s", err.msg);
        return;
    }
    bf_kafka_producer_free(r->producer); /* reports what was in flight as failed */
    r->producer = p;
    r->inflight = 0;
    r->rescan = true;
}

int bf_outbox_relay_run(struct bf_outbox_relay *r, int budget)
{
    int64_t now = bf_mono_ms();
    int room;

    relay_check_producer(r);
    bf_kafka_producer_poll(r->producer, 0);
    relay_flush_marks(r);
    if (r->stopping)
        return 0;
    relay_lead(r, now);
    if (!bf_outbox_relay_leader(r))
        return 0;
    relay_housekeeping(r, now);
    if (!relay_rewind(r, now) || (!atomic_load(&r->kicked) && now < r->next_select))
        return 0;
    atomic_store(&r->kicked, false);
    room = RELAY_MAX_INFLIGHT - r->inflight;
    if (budget > r->batch)
        budget = r->batch;
    if (budget > room)
        budget = room;
    return budget > 0 ? relay_publish(r, budget) : 0;
}

int bf_outbox_relay_flush(struct bf_outbox_relay *r, int timeout_ms)
{
    int rc;

    r->stopping = true;
    rc = bf_kafka_producer_flush(r->producer, timeout_ms);
    relay_flush_marks(r);
    if (rc < 0 || r->nmarks > 0) {
        bf_log_warn("BF_OUTBOX_FLUSH",
                    "outbox of %s: %d records in flight and %zu unmarked at "
                    "shutdown (published again later)",
                    r->service, r->inflight, r->nmarks);
        return -BF_ETIMEOUT;
    }
    return 0;
}

int bf_outbox_relay_ping(struct bf_outbox_relay *r, int timeout_ms)
{
    return bf_kafka_producer_ping(r->producer, timeout_ms);
}

void bf_outbox_relay_free(struct bf_outbox_relay *r)
{
    if (!r)
        return;
    bf_kafka_producer_free(r->producer);
    bf_pg_free(r->pg);
    free(r->marks);
    free(r);
}
