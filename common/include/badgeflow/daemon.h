/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon skeleton every service runs on: args, config, signals, the consume loop with
 * exactly-once effects, dead-lettering, retries, health, metrics and graceful shutdown. */
#ifndef BADGEFLOW_DAEMON_H
#define BADGEFLOW_DAEMON_H

#include <jansson.h>
#include <stdbool.h>

#include "badgeflow/cfg.h"
#include "badgeflow/err.h"
#include "badgeflow/http.h"
#include "badgeflow/kafka.h"
#include "badgeflow/pg.h"

struct bf_daemon;

/*
 * The event a handler gets. Strings are borrowed for the call; data is the record's JSON
 * object (borrowed); pg is inside the record's transaction (do not begin/commit).
 */
struct bf_event {
    const char *topic;       /* short name: "submissions" */
    const char *type;        /* ce_type */
    const char *id;          /* ce_id */
    const char *subject;     /* ce_subject, NULL if absent */
    const char *source;      /* ce_source */
    const char *time;        /* ce_time */
    const char *traceparent; /* valid traceparent of the record (minted if it had none) */
    const json_t *data;
    const struct bf_kafka_msg *msg;
    struct bf_pg *pg;
    struct bf_daemon *d;
};

/*
 * A handler applies the event's effect through ev->pg and emits with bf_daemon_emit().
 * Returns 0 (commit), -BF_EINVAL with err naming the field (poison: dead-lettered),
 * -BF_ETRANSIENT (rolled back, retried with back-off); any other error is retried as
 * transient and logged as an error.
 */
typedef int bf_event_fn(void *state, struct bf_event *ev, struct bf_err *err);

/* One row of a service's handler table; the table ends with a row of NULLs. */
struct bf_event_handler {
    const char *topic; /* short name */
    const char *type;  /* ce_type, or NULL for any type on the topic */
    bf_event_fn *fn;
};

/* What a service needs from the skeleton (bits of bf_service.needs). */
#define BF_NEEDS_KAFKA_CONSUMER 0x1 /* implied by a non-empty handler table */
#define BF_NEEDS_REDIS          0x2 /* /readyz waits for the service's check() too */

struct bf_service {
    const char *name; /* "router": group badgeflow-router, source /badgeflow/router */
    const struct bf_cfg_def *cfg_defs;       /* the service's own keys, or NULL */
    const struct bf_event_handler *handlers; /* NULL or empty: no consumer */
    unsigned needs;
    /* Records already fetched handled in one transaction when daemon.batch_max is 0 (its
     * default); 0 means 1. A service opts in once its handlers and tests hold with several
     * records per transaction (a fault point then fires after the batch's COMMIT). */
    int batch_max;
    /* Set up *state (may stay NULL) after config, logs, PostgreSQL and Kafka are up. */
    int (*init)(struct bf_daemon *d, void **state, struct bf_err *err);
    /* Every loop turn (about every 100 ms or after each record), for timers. May be NULL. */
    void (*tick)(struct bf_daemon *d, void *state);
    /* A readiness check of the service's own dependencies beyond Kafka, PostgreSQL and
     * Redis, run by the main loop every daemon.ready_interval; 0 when ready. May be NULL. */
    int (*check)(struct bf_daemon *d, void *state, struct bf_err *err);
    /* Free state at shutdown. May be NULL. */
    void (*fini)(void *state);
    /* Extra HTTP routes (ended by a NULL path) served next to /healthz, /readyz, /metrics;
     * handlers get the struct bf_daemon as ctx (bf_daemon_state() is NULL until init()
     * returned: answer 503 then). May be NULL. */
    const struct bf_http_route *routes;
};

/*
 * Run svc as a daemon: parse --config FILE, --check-config, --help; load the common and
 * service config tables; log; block SIGTERM/SIGINT/SIGHUP/SIGPIPE in every thread (the
 * main loop takes them with sigtimedwait(): no handler runs); start HTTP; connect
 * PostgreSQL (retrying); create the outbox relay and Redis (if needed); init; create the
 * topics consumed and their .dlq twins, and the consumer; loop until SIGTERM/SIGINT; shut
 * down: finish the record in hand, leave the group (committing stored offsets), publish and
 * flush the outbox within daemon.shutdown_timeout, fini. Returns the process exit code: 0
 * after a clean shutdown or --help/--check-config, 2 for bad arguments or config, 1
 * otherwise.
 */
int bf_daemon_main(const struct bf_service *svc, int argc, char **argv);

/*
 * Emit an event from a handler, in the record's transaction: bf_outbox_emit() with the
 * daemon's service, source and topic prefix; a NULL emit->traceparent takes the event's,
 * so the new event is a child span of it. id_out (may be NULL) gets the new ce_id.
 */
int bf_daemon_emit(struct bf_event *ev, const struct bf_emit *emit, char id_out[BF_UUID_STRLEN + 1],
                   struct bf_err *err) BF_MUST_CHECK;

/* Emit outside a handler (a timer in tick()) in a transaction the caller opened on pg. */
int bf_daemon_emit_pg(struct bf_daemon *d, struct bf_pg *pg, const struct bf_emit *emit,
                      char id_out[BF_UUID_STRLEN + 1], struct bf_err *err) BF_MUST_CHECK;

/* The loaded config (common and service keys); owned by the daemon. */
const struct bf_cfg *bf_daemon_cfg(const struct bf_daemon *d);

/* The daemon's PostgreSQL connection (outside handlers: for tick() and init()). */
struct bf_pg *bf_daemon_pg(struct bf_daemon *d);

struct bf_redis;

/* The daemon's Redis connection (BF_NEEDS_REDIS; NULL otherwise), pinged for /readyz.
 * Main thread only (handlers, init, tick). */
struct bf_redis *bf_daemon_redis(struct bf_daemon *d);

/* The service being run. */
const struct bf_service *bf_daemon_service(const struct bf_daemon *d);

/* The consumer group id ("badgeflow-<service>" unless kafka.group_id says otherwise). */
const char *bf_daemon_group(const struct bf_daemon *d);

/* The state init() set, NULL before. Thread-safe (for HTTP route handlers). */
void *bf_daemon_state(struct bf_daemon *d);

/*
 * Back-pressure: stop (true) or resume (false) fetching records while the consumer keeps
 * polling to stay in its group, e.g. while all of a service's work slots are busy. From
 * init(), tick() or a handler (main thread).
 */
void bf_daemon_pause(struct bf_daemon *d, bool paused);

/* True once SIGTERM/SIGINT arrived: long work in tick() should stop early. */
bool bf_daemon_stopping(const struct bf_daemon *d);

#endif
