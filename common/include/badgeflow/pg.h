/* SPDX-License-Identifier: Apache-2.0 */
/* PostgreSQL: one connection with retry, prepared statements, transactions, migrations,
 * and the inbox/outbox that make consumers' effects exactly once. */
#ifndef BADGEFLOW_PG_H
#define BADGEFLOW_PG_H

#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "badgeflow/cfg.h"
#include "badgeflow/err.h"
#include "badgeflow/kafka.h"
#include "badgeflow/util.h"

struct bf_pg;

/*
 * A connection to conninfo (a libpq string or URI), not opened yet: the first use, or
 * bf_pg_connect(), opens it. Notices go to the JSON log. NULL on ENOMEM. Caller frees
 * with bf_pg_free().
 */
struct bf_pg *bf_pg_new(const char *conninfo, struct bf_err *err);

/*
 * The same from config: postgres.conninfo, with postgres.connect_timeout and
 * postgres.statement_timeout applied on top of it (they override the same settings in
 * conninfo), application_name "badgeflow-<app>". NULL on ENOMEM.
 */
struct bf_pg *bf_pg_new_cfg(const struct bf_cfg *cfg, const char *app, struct bf_err *err);

/* Close and free; NULL is a no-op. */
void bf_pg_free(struct bf_pg *pg);

/*
 * Open the connection if it is not open, at most once per back-off step (100 ms doubling
 * to 5 s with jitter): returns 0 when connected, or -BF_ETRANSIENT at once while the
 * back-off runs or the attempt fails. Never blocks longer than one connect_timeout.
 * Every registered statement is prepared again on a new connection. A connection lost
 * inside a transaction is not reopened until the transaction ends (commit/rollback).
 */
int bf_pg_ensure(struct bf_pg *pg, struct bf_err *err) BF_MUST_CHECK;

/*
 * Retry bf_pg_ensure() until connected or *stop becomes non-zero (stop may be NULL).
 * Logs each failure with code BF_PG_CONNECT. 0 or -BF_ETRANSIENT (stopped).
 */
int bf_pg_connect(struct bf_pg *pg, const volatile sig_atomic_t *stop,
                  struct bf_err *err) BF_MUST_CHECK;

/* True while the connection is open (as far as the last statement knows). */
bool bf_pg_connected(const struct bf_pg *pg);

/*
 * Number of connections opened so far: a change means a new session (session state such
 * as advisory locks and temporary tables is gone).
 */
unsigned bf_pg_generation(const struct bf_pg *pg);

/*
 * Register statement name as sql ($1.. placeholders) and prepare it now if connected; it is
 * prepared again after every reconnect. Registering the same name with the same sql again
 * is a no-op (so callers may register lazily). 0, -BF_EINVAL (sql refused by the server,
 * or the name registered with other sql), or -BF_ETRANSIENT.
 */
int bf_pg_prepare(struct bf_pg *pg, const char *name, const char *sql,
                  struct bf_err *err) BF_MUST_CHECK;

/*
 * Execute prepared statement name with nparams text parameters (a NULL value is SQL NULL).
 * Returns the result (caller frees with PQclear), or NULL with err classified by SQLSTATE:
 * connection lost, class 08, 53, 57P0x, 40001, 40P01, 55P03, 57014 → BF_ETRANSIENT;
 * 23505 → BF_ECONFLICT; classes 22 and 23 → BF_EINVAL; anything else → BF_EINTERNAL.
 */
PGresult *bf_pg_exec(struct bf_pg *pg, const char *name, int nparams, const char *const *values,
                     struct bf_err *err);

/* The same with lengths and formats (1 = binary, e.g. bytea) per parameter, as PQexecPrepared. */
PGresult *bf_pg_execb(struct bf_pg *pg, const char *name, int nparams, const char *const *values,
                      const int *lengths, const int *formats, struct bf_err *err);

/* Run sql (not prepared) with nparams text parameters; result and errors as bf_pg_exec. */
PGresult *bf_pg_query(struct bf_pg *pg, const char *sql, int nparams, const char *const *values,
                      struct bf_err *err);

/*
 * Execute prepared statement name for its effect only. *rows (may be NULL) gets the
 * number of rows affected. 0 or -BF_E* as bf_pg_exec.
 */
int bf_pg_cmd(struct bf_pg *pg, const char *name, int nparams, const char *const *values,
              long long *rows, struct bf_err *err) BF_MUST_CHECK;

/* Transaction steps. begin fails if one is open; rollback never fails (a lost connection
 * rolls back by itself). 0 or -BF_E*. */
int bf_pg_begin(struct bf_pg *pg, struct bf_err *err) BF_MUST_CHECK;
int bf_pg_commit(struct bf_pg *pg, struct bf_err *err) BF_MUST_CHECK;
void bf_pg_rollback(struct bf_pg *pg);
bool bf_pg_in_tx(const struct bf_pg *pg);

/* A unit of work run inside a transaction: 0 to commit, -BF_E* to roll back. */
typedef int bf_pg_tx_fn(struct bf_pg *pg, void *arg, struct bf_err *err);

/* BEGIN; fn(pg, arg, err); COMMIT, or ROLLBACK if fn or COMMIT failed. Returns fn's error. */
int bf_pg_tx(struct bf_pg *pg, bf_pg_tx_fn *fn, void *arg, struct bf_err *err) BF_MUST_CHECK;

/* Readiness: connect if needed and run SELECT 1. 0 or -BF_ETRANSIENT. */
int bf_pg_ping(struct bf_pg *pg, struct bf_err *err) BF_MUST_CHECK;

/* The libpq connection (NULL when closed), for what this module does not wrap. Borrowed. */
PGconn *bf_pg_conn(struct bf_pg *pg);

/*
 * Apply the migrations of dir: files NNNN_name.sql (4 digits, [a-z0-9_] name), numbered
 * from 0001 without gaps, in order, each in its own transaction under an advisory lock,
 * recorded in schema_migrations with its SHA-256. Already applied files are skipped; a gap,
 * a badly named .sql file, or an applied file whose content changed is an error naming the
 * file. Returns the number of files applied (0 when up to date) or -BF_E*.
 */
int bf_pg_migrate(struct bf_pg *pg, const char *dir, struct bf_err *err) BF_MUST_CHECK;

/* ---- inbox: the event ids a consumer has applied ---- */

/*
 * Record that consumer (its group id) handles event_id (the ce_id, or
 * "kafka:<topic>:<partition>:<offset>" when the record has none), inside the caller's
 * transaction, and set the transaction's badgeflow.event_id to it (submission_events names
 * the event behind each state change). *fresh is false if the id was there already (a
 * duplicate: skip the effect). 0 or -BF_E*.
 */
int bf_inbox_claim(struct bf_pg *pg, const char *consumer, const char *event_id, const char *topic,
                   int32_t partition, int64_t offset, bool *fresh,
                   struct bf_err *err) BF_MUST_CHECK;

/* The same with outcome dead_lettered and reason (the DLQ record goes in the same tx). */
int bf_inbox_dead_letter(struct bf_pg *pg, const char *consumer, const char *event_id,
                         const char *topic, int32_t partition, int64_t offset, const char *reason,
                         bool *fresh, struct bf_err *err) BF_MUST_CHECK;

/* ---- outbox: events written with the effect, published by the relay ---- */

/* Who emits: service "router", source "/badgeflow/router", topic_prefix "badgeflow.". */
struct bf_outbox_ctx {
    const char *service;
    const char *source;
    const char *topic_prefix;
};

/* One event to emit. Strings and data are borrowed for the call. */
struct bf_emit {
    const char *topic;       /* short name: "assignments" */
    const char *type;        /* "org.badgeflow.assignment.created.v1" */
    const char *key;         /* record key (submission id); NULL for none */
    const char *subject;     /* ce_subject; NULL to leave it out */
    const char *traceparent; /* the parent span (the event in hand); NULL starts a trace */
    const json_t *data;      /* a JSON object */
};

/*
 * Add emit to the outbox inside the caller's transaction: a new ce_id (UUID v4, written
 * to id_out if not NULL), ce_time now, a child traceparent, headers as jsonb
 * [[name, value], ...], payload the compact JSON of data. 0 or -BF_E*.
 */
int bf_outbox_emit(struct bf_pg *pg, const struct bf_outbox_ctx *ctx, const struct bf_emit *emit,
                   char id_out[BF_UUID_STRLEN + 1], struct bf_err *err) BF_MUST_CHECK;

/*
 * Add a record as is (topic is a full name): for dead-letter copies. Header values that
 * are not UTF-8 text are stored base64-encoded and restored by the relay. 0 or -BF_E*.
 */
int bf_outbox_add_raw(struct bf_pg *pg, const char *service, const char *topic, const void *key,
                      size_t klen, const struct bf_kafka_header *headers, size_t nheaders,
                      const void *value, size_t vlen, struct bf_err *err) BF_MUST_CHECK;

/*
 * Add the dead-letter copy of msg to <msg topic>.dlq: key, value and headers of the
 * original plus dlq_reason, dlq_topic, dlq_partition, dlq_offset, dlq_consumer (group)
 * and dlq_time. 0 or -BF_E*.
 */
int bf_outbox_dead_letter(struct bf_pg *pg, const char *service, const char *consumer,
                          const struct bf_kafka_msg *msg, const char *reason,
                          struct bf_err *err) BF_MUST_CHECK;

/* ---- outbox relay ---- */

struct bf_outbox_relay;

/*
 * A relay for service's outbox rows, with its own connection (the advisory lock lives on
 * it) to conninfo, or, if conninfo is NULL, to postgres.* of cfg (with its timeouts), and
 * its own idempotent producer from cfg (kafka.*); daemon.outbox_batch rows at most per
 * run, rows sent longer than daemon.outbox_retention ago deleted. cfg is borrowed and
 * must outlive the relay. Connects lazily. NULL on failure with err. Caller frees with
 * bf_outbox_relay_free().
 */
struct bf_outbox_relay *bf_outbox_relay_new(const char *conninfo, const char *service,
                                            const struct bf_cfg *cfg, struct bf_err *err);

/*
 * One non-blocking step for the daemon loop: serve delivery reports and mark delivered
 * rows sent; if this relay holds pg_try_advisory_lock(hashtext('outbox:' || service))
 * (tried again every few seconds otherwise), publish up to budget unsent rows in id order.
 * Rows that commit late with a smaller id, and rows whose delivery failed, are picked up
 * by a rescan from the smallest unsent id once nothing is in flight. Also deletes rows sent
 * longer than daemon.outbox_retention ago and updates the metrics. Returns the number of
 * rows handed to the producer (>= 0); failures are logged and retried.
 */
int bf_outbox_relay_run(struct bf_outbox_relay *r, int budget);

/* Tell the relay that new rows were committed: the next run looks at once. Thread-safe. */
void bf_outbox_relay_kick(struct bf_outbox_relay *r);

/* True while this relay holds the service's lock (it is the one publishing). */
bool bf_outbox_relay_leader(const struct bf_outbox_relay *r);

/*
 * At shutdown: stop publishing new rows, wait up to timeout_ms for in-flight records and
 * mark them sent. 0 or -BF_ETIMEOUT (unmarked rows are published again later).
 */
int bf_outbox_relay_flush(struct bf_outbox_relay *r, int timeout_ms) BF_MUST_CHECK;

/* Metadata round trip through the relay's producer: 0 or -BF_ETRANSIENT. */
int bf_outbox_relay_ping(struct bf_outbox_relay *r, int timeout_ms) BF_MUST_CHECK;

/* Free (drops what is still in flight: those rows stay unsent). NULL is a no-op. */
void bf_outbox_relay_free(struct bf_outbox_relay *r);

#endif
