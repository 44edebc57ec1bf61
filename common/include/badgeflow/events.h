/* SPDX-License-Identifier: Apache-2.0 */
/* Typed decoders for every badgeflow event type, applying the rules of schemas/events/. */
#ifndef BADGEFLOW_EVENTS_H
#define BADGEFLOW_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "badgeflow/err.h"

/*
 * How to read this header
 * -----------------------
 * One struct per event type (`struct bf_ev_<thing>_<verb>` for `org.badgeflow.<thing>.<verb>.v1`)
 * and one decoder:
 *
 *     int bf_ev_<name>_decode(const json_t *data, struct bf_ev_<name> *out, struct bf_err *err);
 *
 * It checks `data` (the event's JSON object) against every rule of its schema a consumer
 * depends on (required fields, types, enums, bounds, id/UUID/URI/time formats, closed objects,
 * the rules between fields) and fills *out. Returns 0, or -BF_EINVAL with err naming the field
 * ("evidence[2].uri: must be an https:// or file:/// URI"); paths are relative to `data`.
 *
 * Ownership: strings and json_t pointers in *out are BORROWED from data and live as long as it
 * does. Lists the schema bounds tightly are fixed arrays inside the struct; longer ones are one
 * heap block owned by *out, and those types have `bf_ev_<name>_clear()` (safe on a zeroed or
 * failed struct, and twice). On failure nothing is left allocated.
 *
 * Absent optional values: strings and objects are NULL; numbers use a sentinel written beside
 * the field (0 when the schema's minimum is 1, -1 when it is 0); nullable figures are -1 (counts),
 * NAN (ratios, seconds) or -1/0/1 (booleans) when null. Times are milliseconds since the epoch.
 */

/* ---------------------------------------------------------------- event types */

#define BF_EV_SUBMISSION_SUBMITTED         "org.badgeflow.submission.submitted.v1"
#define BF_EV_SUBMISSION_WITHDRAWN         "org.badgeflow.submission.withdrawn.v1"
#define BF_EV_EVIDENCE_PROCESSED           "org.badgeflow.evidence.processed.v1"
#define BF_EV_EVIDENCE_FAILED              "org.badgeflow.evidence.failed.v1"
#define BF_EV_SUBMISSION_READY             "org.badgeflow.submission.ready.v1"
#define BF_EV_SUBMISSION_REJECTED          "org.badgeflow.submission.rejected.v1"
#define BF_EV_ROUTING_REQUESTED            "org.badgeflow.routing.requested.v1"
#define BF_EV_ASSIGNMENT_SCORED            "org.badgeflow.assignment.scored.v1"
#define BF_EV_ASSIGNMENT_RELEASE_REQUESTED "org.badgeflow.assignment.release_requested.v1"
#define BF_EV_ASSIGNMENT_CREATED           "org.badgeflow.assignment.created.v1"
#define BF_EV_ASSIGNMENT_RELEASED          "org.badgeflow.assignment.released.v1"
#define BF_EV_ASSIGNMENT_EXPIRED           "org.badgeflow.assignment.expired.v1"
#define BF_EV_ASSIGNMENT_COMPLETED         "org.badgeflow.assignment.completed.v1"
#define BF_EV_SCORE_SUBMITTED              "org.badgeflow.score.submitted.v1"
#define BF_EV_DECISION_OVERRIDE_REQUESTED  "org.badgeflow.decision.override_requested.v1"
#define BF_EV_DECISION_MADE                "org.badgeflow.decision.made.v1"
#define BF_EV_SCORE_REJECTED               "org.badgeflow.score.rejected.v1"
#define BF_EV_CREDENTIAL_ISSUED            "org.badgeflow.credential.issued.v1"
#define BF_EV_CREDENTIAL_REVOKED           "org.badgeflow.credential.revoked.v1"
#define BF_EV_WEBHOOK_ENDPOINT_DISABLED    "org.badgeflow.webhook.endpoint_disabled.v1"
#define BF_EV_STATEMENT_RECORDED           "org.badgeflow.statement.recorded.v1"
#define BF_EV_PILOT_METRICS                "org.badgeflow.pilot.metrics.v1"

/* One row of the event-type table. */
struct bf_ev_type {
    const char *type;  /* CloudEvents type, e.g. BF_EV_SUBMISSION_SUBMITTED */
    const char *topic; /* topic without the configured prefix, e.g. "submissions" */
    /* Decode data as this type and throw the result away: 0 or -BF_EINVAL with err. */
    int (*check)(const json_t *data, struct bf_err *err);
};

/* Every event type badgeflow knows, in the order of docs/architecture.md; ends with type NULL. */
extern const struct bf_ev_type bf_ev_types[];

/* The row of type (full "org.badgeflow.…" name), or NULL. */
const struct bf_ev_type *bf_ev_type_find(const char *type);

/*
 * Validate data as an event of type. Returns 0, -BF_EINVAL with the field named in err, or
 * -BF_ENOTFOUND ("unknown event type <type>") when type is not in bf_ev_types. Nothing is kept.
 */
int bf_ev_check(const char *type, const json_t *data, struct bf_err *err) BF_MUST_CHECK;

/* Topic (without prefix) that carries type, or NULL for an unknown type. Static string. */
const char *bf_ev_topic_of(const char *type);

/* ---------------------------------------------------------------- shared definitions */

/* Bounds of the lists kept as fixed arrays (the schemas' maxItems). */
#define BF_EV_MAX_RENDITIONS 8  /* renditions */
#define BF_EV_MAX_FEEDBACK   16 /* criterion_decision.feedback, decision overall_feedback */
#define BF_EV_MAX_ASSESSORS  16 /* assessor_ids, exclude_assessor_ids */
#define BF_EV_MAX_CRITERIA   50 /* criterion_scores */
#define BF_EV_MAX_REASONS    64 /* submission.rejected reasons */
#define BF_EV_MAX_COMPONENTS 50 /* credential.issued component_credential_ids */
#define BF_EV_MAX_SUPPRESSED 15 /* pilot.metrics suppressed */

/* evidence_item: one evidence item of a submission; exactly one of uri and text. */
struct bf_ev_evidence_item {
    const char *item_id;
    const char *kind;         /* video|audio|image|document|text */
    const char *requirement;  /* the credential's requirement id */
    const char *uri;          /* https://… or file:///…; NULL when text is given */
    const char *text;         /* inline text, kind "text" only; NULL when uri is given */
    const char *sha256;       /* lower-case hex; NULL when absent */
    const char *content_type; /* declared media type; NULL when absent */
    int64_t size;             /* declared bytes; -1 when absent */
};

/* rendition: a stored rendition of an evidence item. */
struct bf_ev_rendition {
    const char *name; /* 720p|360p|poster|audio|original|image */
    const char *uri;  /* media store key (relative path) */
    const char *content_type;
    int width, height; /* pixels; 0 when absent (always set for 720p/360p/poster/image) */
    int duration_ms;   /* -1 when absent (always set for 720p/360p/audio) */
    int64_t bytes;
    const char *sha256;
    const char *codec; /* NULL when absent (always set for 720p/360p/audio) */
};

/* evidence_ref: a processed evidence item as reviewers see it. */
struct bf_ev_evidence_ref {
    const char *item_id;
    const char *kind;
    const char *requirement;
    size_t n_renditions; /* 1..BF_EV_MAX_RENDITIONS */
    struct bf_ev_rendition renditions[BF_EV_MAX_RENDITIONS];
};

/* media_metadata: what the probe found; every field optional. */
struct bf_ev_media_metadata {
    int duration_ms;         /* -1 when absent */
    int width, height;       /* 0 when absent */
    const char *video_codec; /* NULL when absent, as the strings below */
    const char *audio_codec;
    const char *container;
    const char *content_type;
};

/* criterion_score: one assessor's level on one criterion. */
struct bf_ev_criterion_score {
    const char *criterion_id;
    const char *level_id;
    const char *feedback; /* NULL when absent */
};

/* criterion_decision: the aggregated level on one criterion. */
struct bf_ev_criterion_decision {
    const char *criterion_id;
    const char *level_id;
    bool passing;
    size_t n_feedback; /* 0..BF_EV_MAX_FEEDBACK, in scoring order */
    const char *feedback[BF_EV_MAX_FEEDBACK];
};

/* status_list: the credential's entry in a Bitstring Status List. */
struct bf_ev_status_list {
    const char *url;
    int index;
};

/* ---------------------------------------------------------------- topic submissions */

struct bf_ev_submission_submitted {
    const char *submission_id;
    const char *tenant_id;
    struct {
        const char *id;
        const char *email; /* NULL when absent */
        const char *name;  /* NULL when absent */
        const char *school_id;
        const char *district_id;
    } educator;
    const char *credential_id;
    int credential_version;               /* 0 when absent (the latest) */
    int attempt;                          /* 1..100 */
    const char *previous_submission_id;   /* set exactly when attempt > 1 */
    const char *pilot_id;                 /* NULL when absent */
    size_t n_evidence;                    /* 1..50 */
    struct bf_ev_evidence_item *evidence; /* owned: bf_ev_submission_submitted_clear() */
    int64_t submitted_at;
};

/* Decode org.badgeflow.submission.submitted.v1 (see the top of this header). */
int bf_ev_submission_submitted_decode(const json_t *data, struct bf_ev_submission_submitted *out,
                                      struct bf_err *err) BF_MUST_CHECK;
/* Free what the decoder allocated; the borrowed strings stay with data. */
void bf_ev_submission_submitted_clear(struct bf_ev_submission_submitted *ev);

struct bf_ev_submission_withdrawn {
    const char *submission_id;
    const char *tenant_id;
    const char *reason;
    int64_t withdrawn_at;
};

int bf_ev_submission_withdrawn_decode(const json_t *data, struct bf_ev_submission_withdrawn *out,
                                      struct bf_err *err) BF_MUST_CHECK;

/* ---------------------------------------------------------------- topic evidence */

struct bf_ev_evidence_processed {
    const char *submission_id;
    const char *tenant_id;
    const char *item_id;
    const char *kind;
    size_t n_renditions; /* 1..BF_EV_MAX_RENDITIONS */
    struct bf_ev_rendition renditions[BF_EV_MAX_RENDITIONS];
    struct bf_ev_media_metadata metadata;
};

int bf_ev_evidence_processed_decode(const json_t *data, struct bf_ev_evidence_processed *out,
                                    struct bf_err *err) BF_MUST_CHECK;

struct bf_ev_evidence_failed {
    const char *submission_id;
    const char *tenant_id;
    const char *item_id;
    const char *kind;
    const char *reason_code; /* fetch_refused|fetch_failed|…|timeout (the schema's enum) */
    const char *reason;
};

int bf_ev_evidence_failed_decode(const json_t *data, struct bf_ev_evidence_failed *out,
                                 struct bf_err *err) BF_MUST_CHECK;

/* ---------------------------------------------------------------- topic submissions.ready */

struct bf_ev_submission_ready {
    const char *submission_id;
    const char *tenant_id;
    const char *credential_id;
    int credential_version;
    int attempt;
    const char *previous_submission_id;  /* NULL when absent */
    size_t n_evidence;                   /* 1..50 */
    struct bf_ev_evidence_ref *evidence; /* owned: bf_ev_submission_ready_clear() */
};

int bf_ev_submission_ready_decode(const json_t *data, struct bf_ev_submission_ready *out,
                                  struct bf_err *err) BF_MUST_CHECK;
void bf_ev_submission_ready_clear(struct bf_ev_submission_ready *ev);

/* One reason of a rejection: about one item, or the whole submission. */
struct bf_ev_rejection {
    const char *item_id; /* NULL for a reason about the whole submission */
    const char *code; /* an evidence.failed code, or unknown_credential|… (the schema's enum) */
    const char *message;
};

struct bf_ev_submission_rejected {
    const char *submission_id;
    const char *tenant_id;
    const char *credential_id; /* NULL when absent */
    size_t n_reasons;          /* 1..BF_EV_MAX_REASONS */
    struct bf_ev_rejection reasons[BF_EV_MAX_REASONS];
};

int bf_ev_submission_rejected_decode(const json_t *data, struct bf_ev_submission_rejected *out,
                                     struct bf_err *err) BF_MUST_CHECK;

/* ---------------------------------------------------------------- topic routing */

struct bf_ev_routing_requested {
    const char *submission_id;
    const char *tenant_id;
    const char *reason; /* tie_break|reassign */
    size_t n_exclude;   /* 0..BF_EV_MAX_ASSESSORS, each once */
    const char *exclude_assessor_ids[BF_EV_MAX_ASSESSORS];
};

int bf_ev_routing_requested_decode(const json_t *data, struct bf_ev_routing_requested *out,
                                   struct bf_err *err) BF_MUST_CHECK;

struct bf_ev_assignment_scored {
    const char *assignment_id;
    const char *submission_id;
    const char *tenant_id;
    const char *assessor_id;
    const char *score_id;
};

int bf_ev_assignment_scored_decode(const json_t *data, struct bf_ev_assignment_scored *out,
                                   struct bf_err *err) BF_MUST_CHECK;

struct bf_ev_assignment_release_requested {
    const char *assignment_id;
    const char *submission_id;
    const char *tenant_id;
    const char *assessor_id;
    const char *reason; /* declined|released */
    const char *note;   /* NULL when absent */
};

int bf_ev_assignment_release_requested_decode(const json_t *data,
                                              struct bf_ev_assignment_release_requested *out,
                                              struct bf_err *err) BF_MUST_CHECK;

/* ---------------------------------------------------------------- topic assignments */

/* The fields every assignment.* event carries (blind: never the educator). */
struct bf_ev_assignment {
    const char *assignment_id;
    const char *submission_id;
    const char *tenant_id;
    const char *assessor_id;
    const char *credential_id;
    int credential_version;
    const char *role; /* primary|tie_break */
    int64_t due_at;
    int64_t fencing_token;
    size_t n_evidence;                   /* 0 when absent (never for assignment.created) */
    struct bf_ev_evidence_ref *evidence; /* owned: the event's _clear() */
};

struct bf_ev_assignment_created {
    struct bf_ev_assignment a;
    int64_t assigned_at;
};

struct bf_ev_assignment_released {
    struct bf_ev_assignment a;
    const char *reason; /* declined|released|submission_withdrawn|assessor_deactivated */
    int64_t released_at;
};

struct bf_ev_assignment_expired {
    struct bf_ev_assignment a;
    int64_t expired_at;
};

struct bf_ev_assignment_completed {
    struct bf_ev_assignment a;
    const char *score_id;
    int64_t completed_at;
};

int bf_ev_assignment_created_decode(const json_t *data, struct bf_ev_assignment_created *out,
                                    struct bf_err *err) BF_MUST_CHECK;
void bf_ev_assignment_created_clear(struct bf_ev_assignment_created *ev);
int bf_ev_assignment_released_decode(const json_t *data, struct bf_ev_assignment_released *out,
                                     struct bf_err *err) BF_MUST_CHECK;
void bf_ev_assignment_released_clear(struct bf_ev_assignment_released *ev);
int bf_ev_assignment_expired_decode(const json_t *data, struct bf_ev_assignment_expired *out,
                                    struct bf_err *err) BF_MUST_CHECK;
void bf_ev_assignment_expired_clear(struct bf_ev_assignment_expired *ev);
int bf_ev_assignment_completed_decode(const json_t *data, struct bf_ev_assignment_completed *out,
                                      struct bf_err *err) BF_MUST_CHECK;
void bf_ev_assignment_completed_clear(struct bf_ev_assignment_completed *ev);

/* ---------------------------------------------------------------- topic scores */

struct bf_ev_score_submitted {
    const char *score_id;
    const char *assignment_id;
    const char *submission_id;
    const char *assessor_id;
    const char *tenant_id;
    size_t
        n_criteria; /* 1..BF_EV_MAX_CRITERIA (uniqueness is the scorer's rule, not the schema's) */
    struct bf_ev_criterion_score criteria[BF_EV_MAX_CRITERIA];
    const char *overall_feedback; /* NULL when absent */
    int64_t submitted_at;
};

int bf_ev_score_submitted_decode(const json_t *data, struct bf_ev_score_submitted *out,
                                 struct bf_err *err) BF_MUST_CHECK;

struct bf_ev_decision_override_requested {
    const char *submission_id;
    const char *tenant_id;
    const char *reviewer_id;
    const char *overrides_decision_id; /* NULL when absent */
    const char *outcome;               /* earned|not_yet */
    size_t n_criteria;                 /* 0 when absent: keep the current levels */
    struct bf_ev_criterion_score criteria[BF_EV_MAX_CRITERIA];
    const char *reason;
    int64_t requested_at;
};

int bf_ev_decision_override_requested_decode(const json_t *data,
                                             struct bf_ev_decision_override_requested *out,
                                             struct bf_err *err) BF_MUST_CHECK;

/* ---------------------------------------------------------------- topic decisions */

struct bf_ev_decision_made {
    const char *decision_id;
    const char *submission_id;
    const char *tenant_id;
    const char *educator_id;
    const char *credential_id;
    int credential_version;
    const char *outcome;                       /* earned|not_yet */
    size_t n_criteria;                         /* 1..50 */
    struct bf_ev_criterion_decision *criteria; /* owned: bf_ev_decision_made_clear() */
    size_t n_overall_feedback;                 /* 0 when absent */
    const char *overall_feedback[BF_EV_MAX_FEEDBACK];
    struct {
        const char *aggregation;  /* median_lower|median_upper|reviewer */
        const char *passing;      /* conjunctive|min_criteria|reviewer */
        int min_passing_criteria; /* always set when passing is min_criteria; 0 when absent */
        int disagreement_levels;  /* -1 when absent */
    } rule;
    int attempt;
    int attempts_allowed;
    int attempts_left;
    bool final_attempt; /* == (attempts_left == 0) */
    size_t n_assessors;
    const char *assessor_ids[BF_EV_MAX_ASSESSORS]; /* each once */
    const char *supersedes_decision_id;            /* set exactly when override is (an override) */
    struct {
        const char *reviewer_id; /* NULL when there is no override */
        const char *reason;
        int64_t requested_at;
    } override;
    const char *pilot_id; /* NULL when absent */
    int64_t decided_at;
};

int bf_ev_decision_made_decode(const json_t *data, struct bf_ev_decision_made *out,
                               struct bf_err *err) BF_MUST_CHECK;
void bf_ev_decision_made_clear(struct bf_ev_decision_made *ev);

struct bf_ev_score_rejected {
    const char *score_id;
    const char *assignment_id;
    const char *submission_id;
    const char *tenant_id;
    const char *assessor_id;
    const char *reason_code; /* unknown_assignment|…|submission_withdrawn (the schema's enum) */
    const char *reason;
    const char *field; /* NULL when absent */
};

int bf_ev_score_rejected_decode(const json_t *data, struct bf_ev_score_rejected *out,
                                struct bf_err *err) BF_MUST_CHECK;

/* ---------------------------------------------------------------- topic credentials */

struct bf_ev_credential_issued {
    const char *credential_id; /* the issued credential (UUID) */
    const char *kind;          /* credential|stack */
    const char *submission_id; /* kind credential only (else NULL) */
    const char *decision_id;   /* kind credential only (else NULL) */
    const char *tenant_id;
    const char *educator_id;
    const char *achievement_id;
    int credential_version; /* required for kind credential; 0 when absent */
    const char *stack_id;   /* kind stack only (else NULL) */
    size_t n_components;    /* kind stack: 1..BF_EV_MAX_COMPONENTS, each once; else 0 */
    const char *component_credential_ids[BF_EV_MAX_COMPONENTS];
    const char *url;
    const char *jwt_url;
    struct bf_ev_status_list status_list;
    int64_t valid_from;
    bool has_valid_until; /* false when the credential does not expire */
    int64_t valid_until;
};

int bf_ev_credential_issued_decode(const json_t *data, struct bf_ev_credential_issued *out,
                                   struct bf_err *err) BF_MUST_CHECK;

struct bf_ev_credential_revoked {
    const char *credential_id;
    const char *kind; /* credential|stack */
    const char *tenant_id;
    const char *educator_id;
    const char *submission_id; /* NULL when absent */
    const char *reason;
    const char *revoked_by; /* NULL when absent */
    int64_t revoked_at;
    struct bf_ev_status_list status_list;
};

int bf_ev_credential_revoked_decode(const json_t *data, struct bf_ev_credential_revoked *out,
                                    struct bf_err *err) BF_MUST_CHECK;

/* ---------------------------------------------------------------- topic notifications */

struct bf_ev_webhook_endpoint_disabled {
    const char *endpoint_id;
    const char *tenant_id;
    const char *url;
    int64_t failing_since;
    const char *reason;
    int last_status;     /* 100..599; 0 when null or absent (no response) */
    int failed_attempts; /* 0 when absent */
    int64_t disabled_at;
};

int bf_ev_webhook_endpoint_disabled_decode(const json_t *data,
                                           struct bf_ev_webhook_endpoint_disabled *out,
                                           struct bf_err *err) BF_MUST_CHECK;

/* ---------------------------------------------------------------- topic analytics */

/* The statement is an extension point: only its top-level shape is checked. */
struct bf_ev_statement_recorded {
    const char *tenant_id;
    const char *source_event_id;
    const json_t *statement;     /* the whole xAPI statement (borrowed), to forward */
    const char *statement_id;    /* UUIDv5 of source_event_id */
    const char *actor_home_page; /* statement.actor.account.homePage */
    const char *actor_name;      /* statement.actor.account.name: the pseudonym (record key) */
    const char *verb_id;         /* an http(s) IRI */
    const json_t *verb_display;  /* language map; NULL when absent */
    const char *object_id;
    const char *object_type; /* Activity|StatementRef; NULL when absent */
    int64_t timestamp;
    const char *version; /* NULL when absent */
};

int bf_ev_statement_recorded_decode(const json_t *data, struct bf_ev_statement_recorded *out,
                                    struct bf_err *err) BF_MUST_CHECK;

/* ---------------------------------------------------------------- topic metrics.pilot */

/* duration_stats: seconds; NAN when null. */
struct bf_ev_duration_stats {
    double p50_s;
    double p90_s;
};

/* The figures of a pilot, and of each of its credentials and stacks. Counts are -1, ratios and
 * agreement NAN, on_target -1 when null (withheld and named in suppressed, or undefined). */
struct bf_ev_pilot_figures {
    int targeted;
    int reached;
    double reach_ratio;
    int on_target; /* 1, 0, or -1 when null or absent */
    int submissions;
    int earned;
    double first_attempt_pass_rate;
    double not_yet_rate;
    int resubmissions;
    struct bf_ev_duration_stats time_to_decision;
    struct bf_ev_duration_stats time_to_earn;
    bool has_assessor_turnaround;
    struct bf_ev_duration_stats assessor_turnaround;
    int backlog;
    int stalled;
    bool has_agreement;
    struct {
        double exact, adjacent, kappa, alpha;
    } agreement;
    size_t n_suppressed; /* 0..BF_EV_MAX_SUPPRESSED, each once */
    const char *suppressed[BF_EV_MAX_SUPPRESSED];
};

/* One row of by_credential (id is the credential_id) or by_stack (id is the stack_id). */
struct bf_ev_pilot_row {
    const char *id;
    struct bf_ev_pilot_figures f;
};

struct bf_ev_pilot_metrics {
    const char *pilot_id;
    const char *tenant_id;
    const char *window_start; /* YYYY-MM-DD, a real date */
    const char *window_end;
    double target_ratio;
    int suppression_k;
    int stalled_after_days; /* 0 when absent */
    struct bf_ev_pilot_figures f;
    size_t n_by_credential;                /* 0..500 */
    struct bf_ev_pilot_row *by_credential; /* owned: bf_ev_pilot_metrics_clear() */
    size_t n_by_stack;                     /* 0..100 */
    struct bf_ev_pilot_row *by_stack;      /* owned: bf_ev_pilot_metrics_clear() */
    int64_t computed_at;
};

int bf_ev_pilot_metrics_decode(const json_t *data, struct bf_ev_pilot_metrics *out,
                               struct bf_err *err) BF_MUST_CHECK;
void bf_ev_pilot_metrics_clear(struct bf_ev_pilot_metrics *ev);

#endif
