/* SPDX-License-Identifier: Apache-2.0 */
/* The catalogue: stacks, credential versions, rubrics and evidence rules, validated on load. */
#ifndef BADGEFLOW_CATALOGUE_H
#define BADGEFLOW_CATALOGUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "badgeflow/err.h"

/*
 * A catalogue is a set of stacks, each holding credentials; a credential may be present in
 * several immutable versions. It is loaded from files (config/catalogue/<stack>.json, see
 * docs/catalogue.md) or from the canonical JSON stored in PostgreSQL, and is read-only
 * afterwards: every accessor is safe to call from several threads at once.
 *
 * Every object returned by an accessor is owned by the catalogue and lives until
 * bf_cat_free(). Strings returned are borrowed likewise.
 */
struct bf_cat;
struct bf_cat_stack;
struct bf_cat_cred;      /* one version of one credential */
struct bf_cat_criterion; /* a rubric criterion of a credential version */
struct bf_cat_level;     /* a level of a criterion */
struct bf_cat_evreq;     /* an evidence requirement of a credential version */

/* Bounds the loader enforces (callers may size fixed arrays with them). */
#define BF_CAT_MAX_CRITERIA        20
#define BF_CAT_MAX_LEVELS          10
#define BF_CAT_MAX_EVIDENCE        20
#define BF_CAT_MAX_ITEMS           50 /* evidence items of one requirement, and of a submission */
#define BF_CAT_MAX_CREDS_PER_STACK 50
#define BF_CAT_MAX_FILE_BYTES      4194304 /* 4 MiB */
#define BF_CAT_SHA256_HEXLEN       64

enum bf_cat_kind { BF_CAT_VIDEO, BF_CAT_AUDIO, BF_CAT_IMAGE, BF_CAT_DOCUMENT, BF_CAT_TEXT };

enum bf_cat_rule {
    BF_CAT_RULE_CONJUNCTIVE,   /* every criterion at or above its passing level */
    BF_CAT_RULE_MINIMUM_COUNT, /* at least `count` criteria pass, and every required one */
};

enum bf_cat_feedback {
    BF_CAT_FEEDBACK_BELOW_PASSING, /* feedback required on each criterion scored below passing */
    BF_CAT_FEEDBACK_ALL,           /* on every criterion */
    BF_CAT_FEEDBACK_NONE,          /* optional everywhere */
};

/* The policy values of a credential version, defaults filled in. A plain value. */
struct bf_cat_policy {
    int assessors_required;     /* 1 or 2 (default 1) */
    int attempts_allowed;       /* 1..10 (default 3) */
    int turnaround_days;        /* 1..90: assignment due time */
    int disagreement_threshold; /* more levels apart than this asks for a tie-break (default 1) */
    int expires_after_days;     /* 0 = never expires */
    bool continuity_on_resubmission; /* prefer the earlier assessor for a resubmission */
    enum bf_cat_feedback feedback_required;
};

/* ---- loading ------------------------------------------------------------------------- */

/* An empty catalogue. NULL on ENOMEM. Free with bf_cat_free(). */
struct bf_cat *bf_cat_new(void);

/* Free cat and everything it owns. NULL is allowed. */
void bf_cat_free(struct bf_cat *cat);

/*
 * Load every `*.json` file of directory dir (in name order) into a new catalogue.
 * Returns the catalogue (caller frees with bf_cat_free()), or NULL with err naming the
 * file and the field: "config/catalogue/x.json: credentials[2].rubric.criteria[0].
 * passing_level: 'proficient' is not a level of this criterion". A directory without
 * catalogue files is an error.
 */
struct bf_cat *bf_cat_load_dir(const char *dir, struct bf_err *err);

/*
 * Load one stack file into cat. The file's stack id must equal its name without ".json",
 * and no stack or credential id may already be in cat. On failure cat is unchanged.
 * Returns 0, -BF_EINVAL (bad content, err names file and field), -BF_EIO, -BF_ETOOBIG
 * (over BF_CAT_MAX_FILE_BYTES) or -BF_ENOMEM.
 */
int bf_cat_load_file(struct bf_cat *cat, const char *path, struct bf_err *err) BF_MUST_CHECK;

/*
 * Load a stack document of len bytes (the content of a stack file) into cat; origin names
 * it in messages and in bf_cat_cred_origin(). No file-name rule. Same returns as
 * bf_cat_load_file(). buf is not kept.
 */
int bf_cat_load_buf(struct bf_cat *cat, const char *origin, const char *buf, size_t len,
                    struct bf_err *err) BF_MUST_CHECK;

/*
 * Add a stack's own fields (JSON as from bf_cat_stack_json(), stacks.content in
 * PostgreSQL) to cat. An identical stack already in cat is a no-op; a different one with
 * the same id is -BF_ECONFLICT. Returns 0 or -BF_E*.
 */
int bf_cat_add_stack(struct bf_cat *cat, const char *origin, const char *json, size_t len,
                     struct bf_err *err) BF_MUST_CHECK;

/*
 * Add one credential version (JSON as from bf_cat_version_json(),
 * credential_versions.content in PostgreSQL) to stack stack_id of cat, e.g. an older
 * version submissions still refer to. The same (id, version) with the same digest is a
 * no-op; with another digest it is -BF_ECONFLICT "versions are immutable: bump version";
 * the id in another stack is -BF_ECONFLICT; an unknown stack is -BF_ENOTFOUND.
 */
int bf_cat_add_version(struct bf_cat *cat, const char *stack_id, const char *origin,
                       const char *json, size_t len, struct bf_err *err) BF_MUST_CHECK;

/* ---- stacks -------------------------------------------------------------------------- */

size_t bf_cat_stack_count(const struct bf_cat *cat);
/* The i-th stack in load order; NULL if i is out of range. */
const struct bf_cat_stack *bf_cat_stack_at(const struct bf_cat *cat, size_t i);
/* The stack with this id, or NULL. */
const struct bf_cat_stack *bf_cat_stack_find(const struct bf_cat *cat, const char *id);

const char *bf_cat_stack_id(const struct bf_cat_stack *s);
const char *bf_cat_stack_name(const struct bf_cat_stack *s);
const char *bf_cat_stack_description(const struct bf_cat_stack *s);
const char *bf_cat_stack_image(const struct bf_cat_stack *s);
/* The author (e.g. "Center for Teaching Quality") and its URL; NULL when not given. */
const char *bf_cat_stack_author_name(const struct bf_cat_stack *s);
const char *bf_cat_stack_author_url(const struct bf_cat_stack *s);
/* SHA-256 (hex) of bf_cat_stack_json(). */
const char *bf_cat_stack_sha256(const struct bf_cat_stack *s);

/* Number of distinct credentials of the stack (earning all of them earns the stack). */
size_t bf_cat_stack_cred_count(const struct bf_cat_stack *s);
/* The latest loaded version of the stack's i-th credential; NULL if out of range. */
const struct bf_cat_cred *bf_cat_stack_cred_at(const struct bf_cat_stack *s, size_t i);

/* ---- credentials --------------------------------------------------------------------- */

/*
 * The credential id at version (>= 1), or its latest loaded version when version is 0.
 * NULL when there is none.
 */
const struct bf_cat_cred *bf_cat_cred_find(const struct bf_cat *cat, const char *id, int version);

/* Every loaded credential version, in load order (for storing them). */
size_t bf_cat_cred_count(const struct bf_cat *cat);
const struct bf_cat_cred *bf_cat_cred_at(const struct bf_cat *cat, size_t i);

const struct bf_cat_stack *bf_cat_cred_stack(const struct bf_cat_cred *c);
const char *bf_cat_cred_id(const struct bf_cat_cred *c);
int bf_cat_cred_version(const struct bf_cat_cred *c);
const char *bf_cat_cred_name(const struct bf_cat_cred *c);
const char *bf_cat_cred_description(const struct bf_cat_cred *c);
const char *bf_cat_cred_skill(const struct bf_cat_cred *c); /* the skill statement */
const char *bf_cat_cred_key_method(const struct bf_cat_cred *c);
const char *bf_cat_cred_image(const struct bf_cat_cred *c); /* https URL of the badge image */
/* Where it was loaded from (file path, or the origin given to the loader). */
const char *bf_cat_cred_origin(const struct bf_cat_cred *c);
/* SHA-256 (lower-case hex) of bf_cat_version_json(): the version's identity. */
const char *bf_cat_cred_sha256(const struct bf_cat_cred *c);
const struct bf_cat_policy *bf_cat_cred_policy(const struct bf_cat_cred *c);
enum bf_cat_rule bf_cat_cred_rule(const struct bf_cat_cred *c);
/* minimum_count: how many criteria must pass; conjunctive: the number of criteria. */
int bf_cat_cred_rule_count(const struct bf_cat_cred *c);
/* True if criterion k must pass whatever the rule (every criterion when conjunctive). */
bool bf_cat_cred_rule_requires(const struct bf_cat_cred *c, const struct bf_cat_criterion *k);

/*
 * The canonical JSON of the credential version (sorted keys, no whitespace, UTF-8,
 * defaults filled in) into *out (caller frees with free()), and its SHA-256 in hex into
 * sha256 (may be NULL). This is what credential_versions.content and .sha256 hold.
 * Returns 0 or -BF_ENOMEM.
 */
int bf_cat_version_json(const struct bf_cat_cred *c, char **out,
                        char sha256[BF_CAT_SHA256_HEXLEN + 1]) BF_MUST_CHECK;

/* Same for a stack's own fields (no credentials): stacks.content and .sha256. */
int bf_cat_stack_json(const struct bf_cat_stack *s, char **out,
                      char sha256[BF_CAT_SHA256_HEXLEN + 1]) BF_MUST_CHECK;

/* ---- rubric -------------------------------------------------------------------------- */

size_t bf_cat_criterion_count(const struct bf_cat_cred *c);
/* The i-th criterion in rubric order; NULL if out of range. */
const struct bf_cat_criterion *bf_cat_criterion_at(const struct bf_cat_cred *c, size_t i);
const struct bf_cat_criterion *bf_cat_criterion_find(const struct bf_cat_cred *c, const char *id);
const char *bf_cat_criterion_id(const struct bf_cat_criterion *k);
const char *bf_cat_criterion_name(const struct bf_cat_criterion *k);
const char *bf_cat_criterion_description(const struct bf_cat_criterion *k);
/* Position of k in the rubric (0-based). */
size_t bf_cat_criterion_index(const struct bf_cat_criterion *k);
/* The lowest level that passes this criterion. */
const struct bf_cat_level *bf_cat_criterion_passing(const struct bf_cat_criterion *k);

/* Levels, lowest first (ranks strictly increase). */
size_t bf_cat_level_count(const struct bf_cat_criterion *k);
const struct bf_cat_level *bf_cat_level_at(const struct bf_cat_criterion *k, size_t i);
const struct bf_cat_level *bf_cat_level_find(const struct bf_cat_criterion *k, const char *id);
const char *bf_cat_level_id(const struct bf_cat_level *l);
const char *bf_cat_level_name(const struct bf_cat_level *l);
const char *bf_cat_level_description(const struct bf_cat_level *l);
/* The declared rank (orders levels; may have gaps). */
int bf_cat_level_rank(const struct bf_cat_level *l);
/*
 * Position of the level among its criterion's levels (0 = lowest, no gaps): use it for
 * medians and for "levels apart" (disagreement_threshold).
 */
size_t bf_cat_level_index(const struct bf_cat_level *l);
/* True if l is at or above its criterion's passing level. */
bool bf_cat_level_passes(const struct bf_cat_level *l);

/* One assessor's (or the aggregated) level on one criterion. Strings are borrowed. */
struct bf_cat_pick {
    const char *criterion_id;
    const char *level_id;
};

/*
 * Check n picks (each criterion of c exactly once, each level real) and apply c's passing
 * rule into *passing. Returns 0, or -BF_EINVAL with err naming the pick:
 * "criteria[1].level_id: 'great' is not a level of criterion 'co-construction'",
 * "criteria: criterion 'reflection' is not scored".
 */
int bf_cat_passes(const struct bf_cat_cred *c, const struct bf_cat_pick *picks, size_t n,
                  bool *passing, struct bf_err *err) BF_MUST_CHECK;

/* ---- evidence ------------------------------------------------------------------------ */

size_t bf_cat_evreq_count(const struct bf_cat_cred *c);
const struct bf_cat_evreq *bf_cat_evreq_at(const struct bf_cat_cred *c, size_t i);
const struct bf_cat_evreq *bf_cat_evreq_find(const struct bf_cat_cred *c, const char *id);
const char *bf_cat_evreq_id(const struct bf_cat_evreq *r);
const char *bf_cat_evreq_description(const struct bf_cat_evreq *r);
enum bf_cat_kind bf_cat_evreq_kind(const struct bf_cat_evreq *r);
int bf_cat_evreq_min_items(const struct bf_cat_evreq *r); /* 0 = optional */
int bf_cat_evreq_max_items(const struct bf_cat_evreq *r);
/* Longest allowed duration in seconds (video and audio); 0 for other kinds. */
int bf_cat_evreq_max_duration_s(const struct bf_cat_evreq *r);

/* "video", "audio", "image", "document", "text". */
const char *bf_cat_kind_name(enum bf_cat_kind kind);
/* Parse a kind name. 0 or -BF_EINVAL. */
int bf_cat_kind_parse(const char *s, enum bf_cat_kind *kind) BF_MUST_CHECK;

/* One evidence item of a submission, as the completeness check sees it. Strings borrowed. */
struct bf_cat_item {
    const char *item_id;     /* for messages and the duplicate check; may be NULL */
    const char *kind;        /* "video", "audio", "image", "document" or "text" */
    const char *requirement; /* requirement id; NULL: the only requirement of that kind */
    int64_t duration_ms;     /* probed duration; < 0 when not known yet */
};

/*
 * Check a submission's n evidence items against c's requirements: every item answers a
 * real requirement of its kind, no requirement gets fewer than min_items or more than
 * max_items, no media item is longer than allowed. Returns 0, or -BF_EINVAL with err
 * naming the item or the requirement: "evidence[2].requirement: 'lesson-plan' is not an
 * evidence requirement of cl.cultivating-a-shared-purpose v2", "evidence: missing
 * 'meeting-agenda' (document): needs at least 1 item, got 0".
 */
int bf_cat_check_evidence(const struct bf_cat_cred *c, const struct bf_cat_item *items, size_t n,
                          struct bf_err *err) BF_MUST_CHECK;

#endif
