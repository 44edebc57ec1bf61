/* SPDX-License-Identifier: Apache-2.0 */
/* Kafka: consumer with explicit offset store, idempotent producer, CloudEvents headers. */
#ifndef BADGEFLOW_KAFKA_H
#define BADGEFLOW_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "badgeflow/cfg.h"
#include "badgeflow/err.h"

/* CloudEvents 1.0 binary-mode header names. */
#define BF_CE_SPECVERSION  "ce_specversion"
#define BF_CE_ID           "ce_id"
#define BF_CE_SOURCE       "ce_source"
#define BF_CE_TYPE         "ce_type"
#define BF_CE_TIME         "ce_time"
#define BF_CE_SUBJECT      "ce_subject"
#define BF_CE_CONTENT_TYPE "content-type"
#define BF_CE_TRACEPARENT  "traceparent"

/* Headers a dead-letter copy adds to the original headers (architecture.md). */
#define BF_DLQ_REASON    "dlq_reason"
#define BF_DLQ_TOPIC     "dlq_topic"
#define BF_DLQ_PARTITION "dlq_partition"
#define BF_DLQ_OFFSET    "dlq_offset"
#define BF_DLQ_CONSUMER  "dlq_consumer"
#define BF_DLQ_TIME      "dlq_time"
#define BF_DLQ_SUFFIX    ".dlq"

/* One record header; name and value borrowed (value may be NULL with len 0). */
struct bf_kafka_header {
    const char *name;
    const void *value;
    size_t len;
};

/*
 * CloudEvents attributes of a received record: NUL-terminated copies of the header values,
 * owned by the message; NULL when the header is absent (or holds a NUL byte).
 */
struct bf_ce {
    const char *id;
    const char *source;
    const char *type;
    const char *time;
    const char *subject;
    const char *specversion;
    const char *content_type;
    const char *traceparent;
};

struct bf_kafka_msg_priv;

/*
 * A received record. Every pointer is borrowed from the message and valid until
 * bf_kafka_msg_free(); key and value are not NUL-terminated (NULL when absent).
 */
struct bf_kafka_msg {
    const char *topic; /* full name */
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    struct bf_ce ce;
    const struct bf_kafka_header *headers; /* every header, in record order */
    size_t nheaders;
    struct bf_kafka_msg_priv *priv; /* the wrapped rd_kafka_message_t */
};

/* Free a message from bf_kafka_consumer_poll(); NULL is a no-op. */
void bf_kafka_msg_free(struct bf_kafka_msg *msg);

/* The first header called name (value and len set), or NULL. Borrowed from msg. */
const struct bf_kafka_header *bf_kafka_msg_header(const struct bf_kafka_msg *msg, const char *name);

/*
 * Full topic name: kafka.topic_prefix + short ("submissions" → "badgeflow.submissions")
 * into buf of n bytes. Returns 0, or -BF_ETOOBIG if it does not fit.
 */
int bf_kafka_topic_name(const struct bf_cfg *cfg, const char *short_name, char *buf,
                        size_t n) BF_MUST_CHECK;

/* ---- consumer ---- */

struct bf_kafka_consumer;

/*
 * Subscribe group_id to topics (a NULL-terminated array of full names). Offsets are
 * stored only by bf_kafka_store_offset() (enable.auto.offset.store=false) and committed
 * in the background and at close; cooperative-sticky assignment; a new group starts at
 * the earliest offset. Reads kafka.brokers, client_id, session_timeout,
 * max_poll_interval and extra from cfg. NULL on failure with err. Caller frees with
 * bf_kafka_consumer_close().
 */
struct bf_kafka_consumer *bf_kafka_consumer_new(const struct bf_cfg *cfg, const char *group_id,
                                                const char *const *topics, struct bf_err *err);

/*
 * Wait up to timeout_ms for one record. Returns 0 with *out set (caller frees with
 * bf_kafka_msg_free) or NULL on timeout or a non-fatal consumer error (logged with code
 * BF_KAFKA_CONSUMER); -BF_EINTERNAL on a fatal error; -BF_ENOMEM if the record could not be
 * wrapped (its partition is rewound: it comes again). Serves rebalances.
 */
int bf_kafka_consumer_poll(struct bf_kafka_consumer *c, int timeout_ms,
                           struct bf_kafka_msg **out) BF_MUST_CHECK;

/*
 * Mark msg processed: its offset + 1 is committed with the next commit. Returns 0, or
 * -BF_ECONFLICT if msg's partition is no longer assigned (the new owner re-reads it).
 */
int bf_kafka_store_offset(struct bf_kafka_consumer *c,
                          const struct bf_kafka_msg *msg) BF_MUST_CHECK;

/*
 * Pause or resume fetching on every assigned partition (partitions assigned while
 * paused are paused too). A paused consumer must still be polled to serve rebalances.
 */
void bf_kafka_consumer_pause_all(struct bf_kafka_consumer *c);
void bf_kafka_consumer_resume_all(struct bf_kafka_consumer *c);

/*
 * Fetch msg again later: seek its partition back to its offset (for a record that arrived
 * while another was held for retry, so that it is not skipped). Does not free msg.
 */
void bf_kafka_consumer_rewind(struct bf_kafka_consumer *c, const struct bf_kafka_msg *msg);

/* True if topic/partition is still assigned to c (for a record held across a retry). */
bool bf_kafka_consumer_owns(struct bf_kafka_consumer *c, const char *topic, int32_t partition);

/* Metadata round trip to the brokers within timeout_ms: 0 or -BF_ETRANSIENT. */
int bf_kafka_consumer_ping(struct bf_kafka_consumer *c, int timeout_ms) BF_MUST_CHECK;

/*
 * Commit stored offsets (waiting up to 5 s for the answer), leave the group (up to 5 s
 * more) and free c. Logs BF_KAFKA_CLOSE. NULL is a no-op. Returns 0, or -BF_ETRANSIENT if
 * the commit or the leave did not complete (brokers down): the group then drops the member
 * after its session timeout, and records not committed are read again (the inbox drops them).
 */
int bf_kafka_consumer_close(struct bf_kafka_consumer *c);

/* ---- producer ---- */

struct bf_kafka_producer;

/*
 * Delivery report for one record: msg_opaque as given to bf_kafka_produce(), err 0 or
 * -BF_ETRANSIENT (with errstr) when the record was not delivered. Called from
 * bf_kafka_producer_poll()/flush() on the calling thread.
 */
typedef void bf_kafka_dr_fn(void *opaque, void *msg_opaque, int err, const char *errstr);

/*
 * Idempotent producer (enable.idempotence=true, acks=all) reading kafka.brokers,
 * client_id, linger and extra from cfg. dr_cb (may be NULL) gets every delivery report
 * with opaque. NULL on failure with err. Caller frees with bf_kafka_producer_free().
 */
struct bf_kafka_producer *bf_kafka_producer_new(const struct bf_cfg *cfg, bf_kafka_dr_fn *dr_cb,
                                                void *opaque, struct bf_err *err);

/*
 * Queue one record to topic (a full name); key, headers and value are copied.
 * Returns 0, -BF_ETRANSIENT when the local queue is full (poll, then retry),
 * -BF_EINTERNAL after a fatal producer error, or -BF_EINVAL (err says why).
 */
int bf_kafka_produce(struct bf_kafka_producer *p, const char *topic, const void *key, size_t klen,
                     const struct bf_kafka_header *headers, size_t nheaders, const void *value,
                     size_t vlen, void *msg_opaque, struct bf_err *err) BF_MUST_CHECK;

/* Serve delivery reports, waiting up to timeout_ms. Returns the number served. */
int bf_kafka_producer_poll(struct bf_kafka_producer *p, int timeout_ms);

/* Wait up to timeout_ms for every queued record's report. 0 or -BF_ETIMEOUT. */
int bf_kafka_producer_flush(struct bf_kafka_producer *p, int timeout_ms) BF_MUST_CHECK;

/* Records queued or in flight (not yet reported). */
int bf_kafka_producer_outq(struct bf_kafka_producer *p);

/* True after a fatal error (idempotence broken): the producer must be replaced. */
bool bf_kafka_producer_fatal(struct bf_kafka_producer *p);

/* Metadata round trip to the brokers within timeout_ms: 0 or -BF_ETRANSIENT. */
int bf_kafka_producer_ping(struct bf_kafka_producer *p, int timeout_ms) BF_MUST_CHECK;

/* Free p without waiting: unsent records are dropped (reported as failed). NULL: no-op. */
void bf_kafka_producer_free(struct bf_kafka_producer *p);

/* ---- admin ---- */

/*
 * Create topics (full names, n of them) with partitions each and the broker's default
 * replication factor; a topic that exists already is fine. Returns 0, or
 * -BF_ETRANSIENT/-BF_EINVAL with err naming the topic.
 */
int bf_kafka_create_topics(const struct bf_cfg *cfg, const char *const *names, size_t n,
                           int partitions, struct bf_err *err) BF_MUST_CHECK;

/* Readiness without a handle: a metadata request within timeout_ms. 0 or -BF_ETRANSIENT. */
int bf_kafka_ping(const struct bf_cfg *cfg, int timeout_ms, struct bf_err *err) BF_MUST_CHECK;

#endif
