/* SPDX-License-Identifier: Apache-2.0 */
/* Kafka over librdkafka: consumer with explicit offset store, idempotent producer, admin. */
#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "badgeflow/kafka.h"
#include "badgeflow/log.h"
#include "badgeflow/util.h"

#define ERRSTR_LEN       512
#define ADMIN_TIMEOUT_MS 15000
#define CLOSE_COMMIT_MS  5000
#define CLOSE_LEAVE_MS   5000

struct bf_kafka_msg_priv {
    rd_kafka_message_t *rkm;
    struct bf_kafka_header *hdrs;
    char *ce_buf;
};

struct bf_kafka_consumer {
    rd_kafka_t *rk;
    bool paused;
    char group[256];
};

struct bf_kafka_producer {
    rd_kafka_t *rk;
    bf_kafka_dr_fn *dr;
    void *opaque;
    atomic_bool fatal;
};

/* ---- configuration ---- */

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, struct bf_err *err)
{
    char errstr[ERRSTR_LEN];

    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        return bf_err_set(err, BF_EINVAL, "kafka: %s: %s", name, errstr);
    return 0;
}

static int conf_set_ms(rd_kafka_conf_t *conf, const char *name, long long ms, struct bf_err *err)
{
    char v[32];

    snprintf(v, sizeof(v), "%lld", ms);
    return conf_set(conf, name, v, err);
}

/* Trim spaces at both ends of s in place. */
static char *trim(char *s)
{
    char *end;

    while (*s == ' ' || *s == '\t')
        s++;
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    return s;
}

/* One "name=value" item of kafka.extra (modified in place). */
static int conf_set_item(rd_kafka_conf_t *conf, char *item, struct bf_err *err)
{
    char *eq = strchr(item, '=');

    if (*trim(item) == '\0')
        return 0;
    if (!eq)
        return bf_err_set(err, BF_EINVAL, "kafka.extra: \"%s\": must be name=value", trim(item));
    *eq = '\0';
    if (conf_set(conf, trim(item), trim(eq + 1), err) < 0)
        return bf_err_prefix(err, "kafka.extra");
    return 0;
}

/* kafka.extra: "name=value,name=value" passed through to librdkafka. */
static int conf_set_extra(rd_kafka_conf_t *conf, const char *extra, struct bf_err *err)
{
    char *copy = strdup(extra), *item, *comma;
    int rc = 0;

    if (!copy)
        return bf_err_set(err, BF_ENOMEM, "kafka.extra: out of memory");
    for (item = copy; item && rc == 0; item = comma ? comma + 1 : NULL) {
        comma = strchr(item, ',');
        if (comma)
            *comma = '\0';
        rc = conf_set_item(conf, item, err);
    }
    free(copy);
    return rc;
}

/* kafka.client_id, or "<fallback>-<hostname>" when empty. */
static void client_id(const struct bf_cfg *cfg, const char *fallback, char *buf, size_t n)
{
    const char *id = bf_cfg_str(cfg, "kafka.client_id");
    char host[128] = "localhost";

    if (id[0]) {
        bf_strlcpy(buf, id, n);
        return;
    }
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(buf, n, "%s-%s", fallback, host);
}

static enum bf_log_level syslog_level(int level)
{
    if (level <= 3)
        return BF_LOG_ERROR;
    if (level == 4)
        return BF_LOG_WARN;
    return level <= 6 ? BF_LOG_INFO : BF_LOG_DEBUG;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    bf_log(syslog_level(level), "BF_KAFKA_LOG", "%s: %s: %s", rd_kafka_name(rk), fac, buf);
}

/* Settings every handle shares: brokers, client id, logging, extra properties. */
static rd_kafka_conf_t *conf_base(const struct bf_cfg *cfg, const char *who, struct bf_err *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char id[256];

    client_id(cfg, who, id, sizeof(id));
    if (conf_set(conf, "bootstrap.servers", bf_cfg_str(cfg, "kafka.brokers"), err) < 0 ||
        conf_set(conf, "client.id", id, err) < 0 ||
        conf_set(conf, "log.connection.close", "false", err) < 0 ||
        conf_set_extra(conf, bf_cfg_str(cfg, "kafka.extra"), err) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    return conf;
}

/* rd_kafka_new() that frees conf on failure (librdkafka owns it on success). */
static rd_kafka_t *handle_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, struct bf_err *err)
{
    char errstr[ERRSTR_LEN];
    rd_kafka_t *rk;

    /* librdkafka blocks every signal in the threads it starts (rd_kafka_new). */
    rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        bf_err_set(err, BF_EINVAL, "kafka: %s", errstr);
    }
    return rk;
}

int bf_kafka_topic_name(const struct bf_cfg *cfg, const char *short_name, char *buf, size_t n)
{
    int len = snprintf(buf, n, "%s%s", bf_cfg_str(cfg, "kafka.topic_prefix"), short_name);

    return len < 0 || (size_t)len >= n ? -BF_ETOOBIG : 0;
}

static int metadata_ping(rd_kafka_t *rk, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;

    if (rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -BF_ETRANSIENT;
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* ---- received messages ---- */

static const char *const ce_names[] = {
    BF_CE_ID,      BF_CE_SOURCE,      BF_CE_TYPE,         BF_CE_TIME,
    BF_CE_SUBJECT, BF_CE_SPECVERSION, BF_CE_CONTENT_TYPE, BF_CE_TRACEPARENT,
};

static const char **ce_slot(struct bf_ce *ce, size_t i)
{
    const char **slots[] = {&ce->id,      &ce->source,      &ce->type,         &ce->time,
                            &ce->subject, &ce->specversion, &ce->content_type, &ce->traceparent};

    return slots[i];
}

const struct bf_kafka_header *bf_kafka_msg_header(const struct bf_kafka_msg *msg, const char *name)
{
    for (size_t i = 0; i < msg->nheaders; i++) {
        if (strcmp(msg->headers[i].name, name) == 0)
            return &msg->headers[i];
    }
    return NULL;
}

/* Borrow every header of rkm into msg->headers. */
static int msg_read_headers(struct bf_kafka_msg *msg, rd_kafka_message_t *rkm)
{
    rd_kafka_headers_t *hdrs = NULL;
    size_t n;

    if (rd_kafka_message_headers(rkm, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hdrs)
        return 0;
    n = rd_kafka_header_cnt(hdrs);
    msg->priv->hdrs = calloc(n ? n : 1, sizeof(*msg->priv->hdrs));
    if (!msg->priv->hdrs)
        return -BF_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct bf_kafka_header *h = &msg->priv->hdrs[i];
        if (rd_kafka_header_get_all(hdrs, i, &h->name, &h->value, &h->len) != 0)
            break;
        msg->nheaders++;
    }
    msg->headers = msg->priv->hdrs;
    return 0;
}

/* NUL-terminated copies of the CloudEvents headers, in one buffer owned by msg. */
static int msg_read_ce(struct bf_kafka_msg *msg)
{
    size_t total = 0, used = 0;

    for (size_t i = 0; i < BF_ARRAY_LEN(ce_names); i++) {
        const struct bf_kafka_header *h = bf_kafka_msg_header(msg, ce_names[i]);
        total += h ? h->len + 1 : 0;
    }
    msg->priv->ce_buf = malloc(total ? total : 1);
    if (!msg->priv->ce_buf)
        return -BF_ENOMEM;
    for (size_t i = 0; i < BF_ARRAY_LEN(ce_names); i++) {
        const struct bf_kafka_header *h = bf_kafka_msg_header(msg, ce_names[i]);
        if (!h || !h->value || memchr(h->value, '\0', h->len))
            continue;
        char *s = msg->priv->ce_buf + used;
        memcpy(s, h->value, h->len);
        s[h->len] = '\0';
        used += h->len + 1;
        *ce_slot(&msg->ce, i) = s;
    }
    return 0;
}

/* Wrap rkm (taken over on success: destroyed with the message); NULL on ENOMEM. */
static struct bf_kafka_msg *msg_wrap(rd_kafka_message_t *rkm)
{
    struct bf_kafka_msg *msg = calloc(1, sizeof(*msg));

    if (!msg || !(msg->priv = calloc(1, sizeof(*msg->priv)))) {
        free(msg);
        return NULL;
    }
    msg->priv->rkm = rkm;
    msg->topic = rd_kafka_topic_name(rkm->rkt);
    msg->partition = rkm->partition;
    msg->offset = rkm->offset;
    msg->key = rkm->key;
    msg->key_len = rkm->key ? rkm->key_len : 0;
    msg->value = rkm->payload;
    msg->value_len = rkm->payload ? rkm->len : 0;
    if (msg_read_headers(msg, rkm) < 0 || msg_read_ce(msg) < 0) {
        msg->priv->rkm = NULL;
        bf_kafka_msg_free(msg);
        return NULL;
    }
    return msg;
}

void bf_kafka_msg_free(struct bf_kafka_msg *msg)
{
    if (!msg)
        return;
    if (msg->priv) {
        if (msg->priv->rkm)
            rd_kafka_message_destroy(msg->priv->rkm);
        free(msg->priv->hdrs);
        free(msg->priv->ce_buf);
        free(msg->priv);
    }
    free(msg);
}

/* ---- consumer ---- */

/* "topic[0],topic[3]" of parts into buf for logs. */
static void parts_str(const rd_kafka_topic_partition_list_t *parts, char *buf, size_t n)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int i = 0; i < parts->cnt && used < n; i++) {
        int w = snprintf(buf + used, n - used, "%s%s[%d]", i ? "," : "", parts->elems[i].topic,
                         (int)parts->elems[i].partition);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static void rebalance_log(struct bf_kafka_consumer *c, rd_kafka_resp_err_t what,
                          const rd_kafka_topic_partition_list_t *parts)
{
    char list[1024];
    bool assign = what == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;

    parts_str(parts, list, sizeof(list));
    bf_log_kv(BF_LOG_INFO, assign ? "BF_KAFKA_ASSIGN" : "BF_KAFKA_REVOKE",
              assign ? "partitions assigned" : "partitions revoked", "group", c->group,
              "partitions", list, NULL);
}

/*
 * librdkafka keeps a partition's pause flag across revoke and assign: a partition paused,
 * revoked (session timeout while the broker was away) and assigned again after the consumer
 * resumed would stay paused for good. So every assigned partition is set to the consumer's
 * state now, paused or not.
 */
static void apply_pause(struct bf_kafka_consumer *c, rd_kafka_t *rk,
                        rd_kafka_topic_partition_list_t *parts)
{
    if (c->paused)
        rd_kafka_pause_partitions(rk, parts);
    else
        rd_kafka_resume_partitions(rk, parts);
}

static void rebalance_cooperative(struct bf_kafka_consumer *c, rd_kafka_t *rk,
                                  rd_kafka_resp_err_t what, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_error_t *e;

    if (what == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        e = rd_kafka_incremental_assign(rk, parts);
        if (!e)
            apply_pause(c, rk, parts);
    } else {
        e = rd_kafka_incremental_unassign(rk, parts);
    }
    if (e) {
        bf_log_err("BF_KAFKA_REBALANCE", "incremental %s failed: %s",
                   what == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "assign" : "unassign",
                   rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t what,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct bf_kafka_consumer *c = opaque;

    rebalance_log(c, what, parts);
    if (strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0) {
        rebalance_cooperative(c, rk, what, parts);
        return;
    }
    /* Eager protocol (a group still on range/roundrobin during a migration). */
    if (what == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        apply_pause(c, rk, parts);
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

static void error_cb(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    struct bf_kafka_producer *p = rd_kafka_type(rk) == RD_KAFKA_PRODUCER ? opaque : NULL;
    char fatal[ERRSTR_LEN];

    if (code != RD_KAFKA_RESP_ERR__FATAL) {
        bf_log_warn("BF_KAFKA_ERROR", "%s: %s: %s", rd_kafka_name(rk),
                    rd_kafka_err2name((rd_kafka_resp_err_t)code), reason);
        return;
    }
    rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
    bf_log_err("BF_KAFKA_FATAL", "%s: fatal error: %s", rd_kafka_name(rk), fatal);
    if (p)
        atomic_store(&p->fatal, true);
}

static rd_kafka_conf_t *consumer_conf(const struct bf_cfg *cfg, struct bf_kafka_consumer *c,
                                      struct bf_err *err)
{
    rd_kafka_conf_t *conf = conf_base(cfg, c->group, err);

    if (!conf)
        return NULL;
    if (conf_set(conf, "group.id", c->group, err) < 0 ||
        conf_set(conf, "enable.auto.offset.store", "false", err) < 0 ||
        conf_set(conf, "enable.auto.commit", "true", err) < 0 ||
        conf_set(conf, "auto.offset.reset", "earliest", err) < 0 ||
        conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", err) < 0 ||
        conf_set_ms(conf, "session.timeout.ms", bf_cfg_int(cfg, "kafka.session_timeout"), err) <
            0 ||
        conf_set_ms(conf, "max.poll.interval.ms", bf_cfg_int(cfg, "kafka.max_poll_interval"), err) <
            0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_opaque(conf, c);
    return conf;
}

static int consumer_subscribe(struct bf_kafka_consumer *c, const char *const *topics,
                              struct bf_err *err)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(4);
    rd_kafka_resp_err_t e;

    for (size_t i = 0; topics[i]; i++)
        rd_kafka_topic_partition_list_add(list, topics[i], RD_KAFKA_PARTITION_UA);
    e = rd_kafka_subscribe(c->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (e)
        return bf_err_set(err, BF_EINVAL, "kafka: subscribe: %s", rd_kafka_err2str(e));
    return 0;
}

struct bf_kafka_consumer *bf_kafka_consumer_new(const struct bf_cfg *cfg, const char *group_id,
                                                const char *const *topics, struct bf_err *err)
{
    struct bf_kafka_consumer *c = calloc(1, sizeof(*c));
    rd_kafka_conf_t *conf;

    if (!c) {
        bf_err_set(err, BF_ENOMEM, "kafka: out of memory");
        return NULL;
    }
    if (!bf_strlcpy(c->group, group_id, sizeof(c->group))) {
        bf_err_set(err, BF_EINVAL, "kafka: group id too long");
        goto fail;
    }
    conf = consumer_conf(cfg, c, err);
    if (!conf || !(c->rk = handle_new(RD_KAFKA_CONSUMER, conf, err)))
        goto fail;
    rd_kafka_poll_set_consumer(c->rk);
    if (consumer_subscribe(c, topics, err) < 0)
        goto fail;
    return c;
fail:
    if (c->rk)
        rd_kafka_destroy(c->rk);
    free(c);
    return NULL;
}

/* A consumer error: fatal ones end the daemon, the rest are logged and ridden out. */
static int consumer_error(struct bf_kafka_consumer *c, rd_kafka_message_t *rkm)
{
    char fatal[ERRSTR_LEN];
    rd_kafka_resp_err_t e = rkm->err;

    if (e == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(c->rk, fatal, sizeof(fatal));
        bf_log_err("BF_KAFKA_FATAL", "consumer %s: fatal error: %s", c->group, fatal);
        rd_kafka_message_destroy(rkm);
        return -BF_EINTERNAL;
    }
    if (e != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        bf_log_kv(BF_LOG_WARN, "BF_KAFKA_CONSUMER", rd_kafka_message_errstr(rkm), "group", c->group,
                  "error", rd_kafka_err2name(e), "topic",
                  rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : "", NULL);
    rd_kafka_message_destroy(rkm);
    return 0;
}

static void consumer_seek(struct bf_kafka_consumer *c, const char *topic, int32_t partition,
                          int64_t offset)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_error_t *e;

    rd_kafka_topic_partition_list_add(list, topic, partition)->offset = offset;
    e = rd_kafka_seek_partitions(c->rk, list, 0);
    if (e) {
        bf_log_warn("BF_KAFKA_SEEK", "seek %s[%d] to %lld: %s", topic, (int)partition,
                    (long long)offset, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(list);
}

static void consumer_seek_back(struct bf_kafka_consumer *c, const rd_kafka_message_t *rkm)
{
    consumer_seek(c, rd_kafka_topic_name(rkm->rkt), rkm->partition, rkm->offset);
}

void bf_kafka_consumer_rewind(struct bf_kafka_consumer *c, const struct bf_kafka_msg *msg)
{
    consumer_seek(c, msg->topic, msg->partition, msg->offset);
}

int bf_kafka_consumer_poll(struct bf_kafka_consumer *c, int timeout_ms, struct bf_kafka_msg **out)
{
    rd_kafka_message_t *rkm = rd_kafka_consumer_poll(c->rk, timeout_ms);

    *out = NULL;
    if (!rkm)
        return 0;
    if (rkm->err)
        return consumer_error(c, rkm);
    *out = msg_wrap(rkm);
    if (!*out) {
        /* Never skip a record: seek back so it is fetched again after the back-off. */
        consumer_seek_back(c, rkm);
        rd_kafka_message_destroy(rkm);
        bf_log_err("BF_KAFKA_NOMEM", "out of memory wrapping a record");
        return -BF_ENOMEM;
    }
    return 0;
}

int bf_kafka_store_offset(struct bf_kafka_consumer *c, const struct bf_kafka_msg *msg)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t e;

    rd_kafka_topic_partition_list_add(list, msg->topic, msg->partition)->offset = msg->offset + 1;
    e = rd_kafka_offsets_store(c->rk, list);
    if (!e)
        e = list->elems[0].err;
    rd_kafka_topic_partition_list_destroy(list);
    if (e) {
        bf_log_kv(BF_LOG_WARN, "BF_KAFKA_STORE", "offset not stored: partition not assigned",
                  "topic", msg->topic, "error", rd_kafka_err2name(e), NULL);
        return -BF_ECONFLICT;
    }
    return 0;
}

static void consumer_pause_resume(struct bf_kafka_consumer *c, bool pause)
{
    rd_kafka_topic_partition_list_t *parts = NULL;

    c->paused = pause;
    if (rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    if (pause)
        rd_kafka_pause_partitions(c->rk, parts);
    else
        rd_kafka_resume_partitions(c->rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
}

void bf_kafka_consumer_pause_all(struct bf_kafka_consumer *c)
{
    consumer_pause_resume(c, true);
}

void bf_kafka_consumer_resume_all(struct bf_kafka_consumer *c)
{
    consumer_pause_resume(c, false);
}

bool bf_kafka_consumer_owns(struct bf_kafka_consumer *c, const char *topic, int32_t partition)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    bool owns;

    if (rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    owns = rd_kafka_topic_partition_list_find(parts, topic, partition) != NULL &&
           !rd_kafka_assignment_lost(c->rk);
    rd_kafka_topic_partition_list_destroy(parts);
    return owns;
}

int bf_kafka_consumer_ping(struct bf_kafka_consumer *c, int timeout_ms)
{
    return metadata_ping(c->rk, timeout_ms);
}

/* Commit the stored offsets and wait for the answer at most timeout_ms. */
static rd_kafka_resp_err_t consumer_commit(struct bf_kafka_consumer *c, int timeout_ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
    rd_kafka_resp_err_t e = rd_kafka_commit_queue(c->rk, NULL, q, NULL, NULL);
    rd_kafka_event_t *ev;

    if (!e) {
        ev = rd_kafka_queue_poll(q, timeout_ms);
        e = ev ? rd_kafka_event_error(ev) : RD_KAFKA_RESP_ERR__TIMED_OUT;
        if (ev)
            rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    return e == RD_KAFKA_RESP_ERR__NO_OFFSET ? RD_KAFKA_RESP_ERR_NO_ERROR : e;
}

/* Leave the group (serving the last rebalance) within timeout_ms; false if it did not. */
static bool consumer_leave(struct bf_kafka_consumer *c, int timeout_ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(c->rk, q);
    int64_t until = bf_mono_ms() + timeout_ms;
    bool closed;

    if (e) {
        bf_log_warn("BF_KAFKA_CLOSE", "closing consumer of group %s: %s", c->group,
                    rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    while (!(closed = rd_kafka_consumer_closed(c->rk)) && bf_mono_ms() < until) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
        if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
            rebalance_cb(c->rk, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev),
                         c);
        if (ev)
            rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    return closed;
}

int bf_kafka_consumer_close(struct bf_kafka_consumer *c)
{
    rd_kafka_resp_err_t e;
    int rc = 0;

    if (!c)
        return 0;
    e = consumer_commit(c, CLOSE_COMMIT_MS);
    if (e) {
        bf_log_warn("BF_KAFKA_COMMIT", "final commit of group %s failed: %s", c->group,
                    rd_kafka_err2str(e));
        rc = -BF_ETRANSIENT;
    }
    if (consumer_leave(c, CLOSE_LEAVE_MS)) {
        bf_log_kv(BF_LOG_INFO, "BF_KAFKA_CLOSE", "offsets committed, left the consumer group",
                  "group", c->group, NULL);
        rd_kafka_destroy(c->rk);
    } else {
        /* Brokers gone: the group drops this member after the session timeout. */
        bf_log_warn("BF_KAFKA_CLOSE", "consumer of group %s did not close in time", c->group);
        rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        rc = -BF_ETRANSIENT;
    }
    free(c);
    return rc;
}

/* ---- producer ---- */

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    struct bf_kafka_producer *p = opaque;

    if (!p->dr)
        return;
    if (rkm->err)
        p->dr(p->opaque, rkm->_private, -BF_ETRANSIENT, rd_kafka_err2str(rkm->err));
    else
        p->dr(p->opaque, rkm->_private, 0, NULL);
}

static rd_kafka_conf_t *producer_conf(const struct bf_cfg *cfg, struct bf_kafka_producer *p,
                                      struct bf_err *err)
{
    rd_kafka_conf_t *conf = conf_base(cfg, "badgeflow-producer", err);

    if (!conf)
        return NULL;
    if (conf_set(conf, "enable.idempotence", "true", err) < 0 ||
        conf_set(conf, "acks", "all", err) < 0 ||
        conf_set_ms(conf, "linger.ms", bf_cfg_int(cfg, "kafka.linger"), err) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_opaque(conf, p);
    return conf;
}

struct bf_kafka_producer *bf_kafka_producer_new(const struct bf_cfg *cfg, bf_kafka_dr_fn *dr_cb,
                                                void *opaque, struct bf_err *err)
{
    struct bf_kafka_producer *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf;

    if (!p) {
        bf_err_set(err, BF_ENOMEM, "kafka: out of memory");
        return NULL;
    }
    p->dr = dr_cb;
    p->opaque = opaque;
    atomic_init(&p->fatal, false);
    conf = producer_conf(cfg, p, err);
    if (!conf || !(p->rk = handle_new(RD_KAFKA_PRODUCER, conf, err))) {
        free(p);
        return NULL;
    }
    return p;
}

static rd_kafka_headers_t *headers_new(const struct bf_kafka_header *headers, size_t n)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(n ? n : 1);

    for (size_t i = 0; i < n; i++)
        rd_kafka_header_add(hdrs, headers[i].name, -1, headers[i].value,
                            headers[i].value ? (ssize_t)headers[i].len : 0);
    return hdrs;
}

static int produce_error(rd_kafka_resp_err_t e, const char *topic, struct bf_err *err)
{
    int code = BF_EINVAL;

    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        code = BF_ETRANSIENT;
    else if (e == RD_KAFKA_RESP_ERR__FATAL)
        code = BF_EINTERNAL;
    else if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
        code = BF_ETOOBIG;
    return bf_err_set(err, code, "kafka: produce to %s: %s", topic, rd_kafka_err2str(e));
}

int bf_kafka_produce(struct bf_kafka_producer *p, const char *topic, const void *key, size_t klen,
                     const struct bf_kafka_header *headers, size_t nheaders, const void *value,
                     size_t vlen, void *msg_opaque, struct bf_err *err)
{
    rd_kafka_headers_t *hdrs = headers_new(headers, nheaders);
    rd_kafka_resp_err_t e;

    e = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_KEY(key, key ? klen : 0),
                          RD_KAFKA_V_VALUE((void *)(uintptr_t)value, value ? vlen : 0),
                          RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(hdrs);
        return produce_error(e, topic, err);
    }
    return 0;
}

int bf_kafka_producer_poll(struct bf_kafka_producer *p, int timeout_ms)
{
    return rd_kafka_poll(p->rk, timeout_ms);
}

int bf_kafka_producer_flush(struct bf_kafka_producer *p, int timeout_ms)
{
    return rd_kafka_flush(p->rk, timeout_ms) ? -BF_ETIMEOUT : 0;
}

int bf_kafka_producer_outq(struct bf_kafka_producer *p)
{
    return rd_kafka_outq_len(p->rk);
}

bool bf_kafka_producer_fatal(struct bf_kafka_producer *p)
{
    return atomic_load(&p->fatal);
}

int bf_kafka_producer_ping(struct bf_kafka_producer *p, int timeout_ms)
{
    return metadata_ping(p->rk, timeout_ms);
}

void bf_kafka_producer_free(struct bf_kafka_producer *p)
{
    if (!p)
        return;
    /* Report what is left as failed so owners of msg_opaque see every record once. */
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(p->rk, 0);
    rd_kafka_destroy(p->rk);
    free(p);
}

/* ---- admin ---- */

static rd_kafka_t *admin_handle(const struct bf_cfg *cfg, struct bf_err *err)
{
    rd_kafka_conf_t *conf = conf_base(cfg, "badgeflow-admin", err);

    return conf ? handle_new(RD_KAFKA_PRODUCER, conf, err) : NULL;
}

static int topics_result(rd_kafka_event_t *ev, struct bf_err *err)
{
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    const rd_kafka_topic_result_t **tr;
    size_t cnt = 0;

    if (rd_kafka_event_error(ev))
        return bf_err_set(err, BF_ETRANSIENT, "kafka: create topics: %s",
                          rd_kafka_event_error_string(ev));
    tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            return bf_err_set(err, BF_EINVAL, "kafka: create topic %s: %s",
                              rd_kafka_topic_result_name(tr[i]),
                              rd_kafka_topic_result_error_string(tr[i]));
    }
    return 0;
}

static int create_topics_on(rd_kafka_t *rk, rd_kafka_NewTopic_t **nt, size_t n, struct bf_err *err)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    char errstr[ERRSTR_LEN];
    rd_kafka_event_t *ev;
    int rc;

    rd_kafka_AdminOptions_set_request_timeout(opt, ADMIN_TIMEOUT_MS, errstr, sizeof(errstr));
    rd_kafka_AdminOptions_set_operation_timeout(opt, ADMIN_TIMEOUT_MS, errstr, sizeof(errstr));
    rd_kafka_CreateTopics(rk, nt, n, opt, q);
    ev = rd_kafka_queue_poll(q, ADMIN_TIMEOUT_MS + 5000);
    if (!ev)
        rc = bf_err_set(err, BF_ETRANSIENT, "kafka: create topics: no answer from the brokers");
    else
        rc = topics_result(ev, err);
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    return rc;
}

int bf_kafka_create_topics(const struct bf_cfg *cfg, const char *const *names, size_t n,
                           int partitions, struct bf_err *err)
{
    rd_kafka_NewTopic_t **nt = calloc(n ? n : 1, sizeof(rd_kafka_NewTopic_t *));
    char errstr[ERRSTR_LEN];
    rd_kafka_t *rk = NULL;
    size_t made = 0;
    int rc = -BF_ENOMEM;

    if (!nt)
        return bf_err_set(err, BF_ENOMEM, "kafka: out of memory");
    for (; made < n; made++) {
        nt[made] = rd_kafka_NewTopic_new(names[made], partitions, -1, errstr, sizeof(errstr));
        if (!nt[made]) {
            rc = bf_err_set(err, BF_EINVAL, "kafka: topic %s: %s", names[made], errstr);
            goto out;
        }
    }
    rk = admin_handle(cfg, err);
    rc = rk ? create_topics_on(rk, nt, n, err) : -BF_EINVAL;
out:
    rd_kafka_NewTopic_destroy_array(nt, made);
    free(nt);
    if (rk)
        rd_kafka_destroy(rk);
    return rc;
}

int bf_kafka_ping(const struct bf_cfg *cfg, int timeout_ms, struct bf_err *err)
{
    rd_kafka_t *rk = admin_handle(cfg, err);
    int rc;

    if (!rk)
        return -BF_EINVAL;
    rc = metadata_ping(rk, timeout_ms);
    if (rc < 0)
        bf_err_set(err, BF_ETRANSIENT, "kafka: no broker of %s answered within %d ms",
                   bf_cfg_str(cfg, "kafka.brokers"), timeout_ms);
    rd_kafka_destroy(rk);
    return rc;
}
