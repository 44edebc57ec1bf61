/* SPDX-License-Identifier: Apache-2.0 */
/* The analytics core's API: pseudonyms and ids, xAPI statements, facts, pilot metrics, LRS. */
#ifndef BADGEFLOW_ANALYTICS_H
#define BADGEFLOW_ANALYTICS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "badgeflow/daemon.h"
#include "badgeflow/err.h"
#include "badgeflow/util.h"

/* The service the daemon runs (analytics_service.c). */
extern const struct bf_service analytics_service;
extern const struct bf_cfg_def analytics_cfg_defs[];

/* The fixed namespace of every UUIDv5 analytics mints: never change it (ids would change). */
#define AN_NAMESPACE "5c0d3f4e-7b1a-5e2c-9d48-a61f0b3c7e95"

#define AN_PSEUDONYM_LEN 64 /* hex of HMAC-SHA256 */

/* What the handlers need, from config (analytics_service.c owns it). */
struct an_conf {
    const char *key;       /* analytics.pseudonym_key (secret) */
    const char *iri_base;  /* activity IRIs: <iri_base>/credentials/<id>/<version> */
    const char *home_page; /* account homePage: <home_page>/<tenant_id> */
    int64_t grace_ms;      /* how long an event naming an unseen submission is retried */
};

/* The daemon's state (analytics_service.c), handed to every handler. */
struct an_state {
    struct an_conf conf;
    bool lrs; /* an LRS is configured: statements are queued for it */
    int64_t debounce_ms, refresh_ms;
    int64_t next_flush, next_refresh; /* monotonic ms */
    struct an_lrs *lrs_thread;
};

/* The handler table (analytics_handlers.c). */
extern const struct bf_event_handler analytics_handlers[];

/* ---- ids (analytics_ids.c) ---- */

/*
 * The keyed pseudonym of a person: lower-case hex HMAC-SHA256 under key of
 * "<kind>/<tenant>/<id>" (kind "educator" or "assessor"; '/' is not in any id's alphabet,
 * so the input is unambiguous). out gets 64 hex digits. 0 or -BF_EINVAL (empty key).
 */
int an_pseudonym(const char *key, const char *kind, const char *tenant, const char *id,
                 char out[AN_PSEUDONYM_LEN + 1]) BF_MUST_CHECK;

/* Statement id: UUIDv5(AN_NAMESPACE, source_event_id), or of "<source_event_id>/<step>" for a
 * second statement made from the same event (step "registered"). 0 or -BF_EINVAL. */
int an_statement_id(const char *source_event_id, const char *step,
                    char out[BF_UUID_STRLEN + 1]) BF_MUST_CHECK;

/* Registration of a cycle: UUIDv5 of "registration/<pseudonym>/<credential>/<cycle>" (the
 * keyed pseudonym, so the UUID cannot be matched to an educator id by hashing guesses). */
int an_registration(const char *pseudonym, const char *credential_id, int cycle,
                    char out[BF_UUID_STRLEN + 1]) BF_MUST_CHECK;

/* ---- statements (analytics_stmt.c) ---- */

/* Verbs. */
#define AN_VERB_REGISTERED "http://adlnet.gov/expapi/verbs/registered"
#define AN_VERB_SUBMITTED  "http://activitystrea.ms/schema/1.0/submit"
#define AN_VERB_SCORED     "http://adlnet.gov/expapi/verbs/scored"
#define AN_VERB_PASSED     "http://adlnet.gov/expapi/verbs/passed"
#define AN_VERB_FAILED     "http://adlnet.gov/expapi/verbs/failed"
#define AN_VERB_EARNED     "http://id.tincanapi.com/verb/earned"
#define AN_VERB_COMPLETED  "http://adlnet.gov/expapi/verbs/completed"
#define AN_VERB_VOIDED     "http://adlnet.gov/expapi/verbs/voided"

/* Everything a statement may say; strings are borrowed; NULL leaves a part out. */
struct an_stmt {
    const char *id;          /* statement id */
    const char *home_page;   /* actor account homePage */
    const char *actor;       /* educator pseudonym */
    const char *verb;        /* AN_VERB_* */
    const char *object_id;   /* activity IRI, or the voided statement's id */
    const char *object_kind; /* activity definition type IRI; NULL for none */
    bool statement_ref;      /* object is a StatementRef (voiding) */
    const char *registration;
    const char *parent;     /* stack activity IRI */
    const char *grouping;   /* pilot activity IRI */
    const char *category;   /* the badgeflow profile IRI */
    const char *instructor; /* assessor pseudonym */
    int attempt;            /* 0: none */
    int attempts_left;      /* -1: none */
    int success;            /* result.success: -1 none, 0 false, 1 true */
    const json_t *criteria; /* result extension {criterion: level}; borrowed */
    int64_t timestamp_ms;
};

/* The xAPI 1.0.3 statement (also valid 2.0) for s; NULL on ENOMEM. Caller decrefs. */
json_t *an_stmt_build(const struct an_stmt *s);

/* The verb's en-US display word ("submitted"), or NULL for an unknown verb. */
const char *an_verb_display(const char *verb);

/* ---- emitting (analytics_facts.c) ---- */

/*
 * Record the statement in analytics_statements (queued for the LRS when lrs is set) and emit
 * it on the analytics topic keyed by s->actor, in ev's transaction. A statement id already
 * recorded is not emitted again. 0 or -BF_E*.
 */
int an_emit_statement(struct bf_event *ev, const struct an_stmt *s, const char *tenant, bool lrs,
                      struct bf_err *err) BF_MUST_CHECK;

/* The analytics facts of one submission (copied out of the result). */
struct an_sub {
    char educator_id[129], credential_id[129], stack_id[129], pilot_id[129];
    char registration[BF_UUID_STRLEN + 1];
    int credential_version, attempt;
    bool has_stack, has_pilot;
};

/* Load the facts of (tenant, submission) into *out: 0, -BF_ENOTFOUND or -BF_E*. */
int an_sub_load(struct bf_pg *pg, const char *tenant, const char *submission, struct an_sub *out,
                struct bf_err *err) BF_MUST_CHECK;

/* Mark every pilot as changed (metrics are recomputed after the debounce). */
int an_pilots_dirty(struct bf_pg *pg, const char *tenant, struct bf_err *err) BF_MUST_CHECK;

/* ---- pilot metrics (analytics_pilot.c) ---- */

/*
 * Emit pilot.metrics for every pilot marked dirty more than debounce_ms ago whose figures
 * changed since its last record, each in its own transaction. Returns how many records
 * were emitted, or -BF_E*.
 */
int an_pilot_flush(struct bf_daemon *d, int64_t debounce_ms, struct bf_err *err) BF_MUST_CHECK;

/* The pilot.metrics data of one pilot, recomputed now without computed_at (NULL when the
 * pilot does not exist: err says so). Caller decrefs. */
json_t *an_pilot_figures(struct bf_pg *pg, const char *tenant, const char *pilot,
                         struct bf_err *err);

/* ---- rebuild (analytics_pilot.c): the same figures recomputed, compared with the last
 * published record (analytics_pilot_emitted) ---- */

/* Names of the top-level fields where figures a and b differ (a key in one only counts), as
 * a JSON array; NULL on ENOMEM. Caller decrefs. */
json_t *an_figures_diff(const json_t *a, const json_t *b);

/*
 * Recompute the pilot's figures from the stored facts (an_pilot_figures: the SQL the service
 * publishes from) and compare with its last published record. *fields gets the differing
 * field names (empty when equal; caller decrefs). 0 equal, 1 differs, -BF_ENOTFOUND when the
 * pilot was never published, or -BF_E*.
 */
int an_pilot_check(struct bf_pg *pg, const char *tenant, const char *pilot, json_t **fields,
                   struct bf_err *err) BF_MUST_CHECK;

/* Called for each published pilot with its differing fields (empty array: equal). */
typedef void an_rebuild_fn(void *arg, const char *tenant, const char *pilot, const json_t *fields);

/* an_pilot_check of every published pilot (of tenant, or all when NULL), in order. Returns
 * how many differ, or -BF_E*. */
int an_pilot_rebuild(struct bf_pg *pg, const char *tenant, an_rebuild_fn *fn, void *arg,
                     struct bf_err *err) BF_MUST_CHECK;

/* ---- LRS forwarding (analytics_lrs.c) ---- */

struct an_lrs_conf {
    const char *url; /* xAPI endpoint; POST <url>/statements */
    const char *user, *password;
    int batch;
    int64_t timeout_ms, retry_max_ms;
    bool allow_loopback, allow_http;
};

struct an_lrs;

/* Start the forwarding thread on its own connection (cfg's postgres.*). NULL with err. */
struct an_lrs *an_lrs_start(const struct bf_cfg *cfg, const struct an_lrs_conf *c,
                            struct bf_err *err);
/* Stop the thread (finishing the request in hand) and free. NULL is a no-op. */
void an_lrs_stop(struct an_lrs *l);

/*
 * One forwarding round on pg: send up to c->batch due statements, splitting a batch the LRS
 * refuses with a 4xx until the refused statements are alone (marked refused). Returns the
 * number of statements settled (sent or refused), or -BF_E*.
 */
int an_lrs_round(struct bf_pg *pg, const struct an_lrs_conf *c, struct bf_err *err) BF_MUST_CHECK;

#endif
