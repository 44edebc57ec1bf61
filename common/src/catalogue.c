/* SPDX-License-Identifier: Apache-2.0 */
/* Catalogue loader and validator: stack files into credential versions, rubrics, evidence rules. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "badgeflow/catalogue.h"
#include "badgeflow/json.h"
#include "badgeflow/util.h"

#define PATH_LEN 192
#define KINDS    "video|audio|image|document|text"

struct bf_cat_level {
    const char *id;
    const char *name;
    const char *description;
    int rank;
    size_t index;
    const struct bf_cat_criterion *crit;
};

struct bf_cat_criterion {
    const char *id;
    const char *name;
    const char *description;
    struct bf_cat_level levels[BF_CAT_MAX_LEVELS];
    size_t n_levels;
    size_t passing; /* index of the lowest passing level */
    size_t index;
    bool required; /* named in a minimum_count rule's "required" */
};

struct bf_cat_evreq {
    const char *id;
    const char *description;
    enum bf_cat_kind kind;
    int min_items;
    int max_items;
    int max_duration_s;
};

struct bf_cat_cred {
    json_t *src; /* owns every borrowed string below */
    const char *id;
    const char *name;
    const char *description;
    const char *skill;
    const char *key_method;
    const char *image;
    int version;
    struct bf_cat_evreq evidence[BF_CAT_MAX_EVIDENCE];
    size_t n_evidence;
    struct bf_cat_criterion criteria[BF_CAT_MAX_CRITERIA];
    size_t n_criteria;
    enum bf_cat_rule rule;
    int rule_count;
    struct bf_cat_policy policy;
    struct bf_cat_stack *stack;
    char *origin;
    char sha256[BF_CAT_SHA256_HEXLEN + 1];
};

struct bf_cat_stack {
    json_t *src;
    const char *id;
    const char *name;
    const char *description;
    const char *image;
    const char *author_name;
    const char *author_url;
    const char *cred_ids[BF_CAT_MAX_CREDS_PER_STACK]; /* borrowed from the credentials */
    size_t n_creds;
    const struct bf_cat *cat;
    char *origin;
    char sha256[BF_CAT_SHA256_HEXLEN + 1];
};

struct bf_cat {
    struct bf_cat_stack **stacks;
    size_t n_stacks;
    size_t cap_stacks;
    struct bf_cat_cred **creds;
    size_t n_creds;
    size_t cap_creds;
};

/* ---- small helpers ------------------------------------------------------------------ */

/* "<path>.<name>", or name alone at the top. */
static void sub_path(char *out, size_t n, const char *path, const char *name)
{
    if (path && *path)
        snprintf(out, n, "%s.%s", path, name);
    else
        snprintf(out, n, "%s", name);
}

/* "<path>.<name>[i]". */
static void idx_path(char *out, size_t n, const char *path, const char *name, size_t i)
{
    char base[PATH_LEN];

    sub_path(base, sizeof(base), path, name);
    snprintf(out, n, "%s[%zu]", base, i);
}

/* An error about field name of the object at path: "<path>.<name>: <message>". */
static int field_err(struct bf_err *err, const char *path, const char *name, const char *fmt, ...)
    BF_PRINTF(4, 5);
static int field_err(struct bf_err *err, const char *path, const char *name, const char *fmt, ...)
{
    char f[PATH_LEN];
    char msg[400];
    va_list ap;

    sub_path(f, sizeof(f), path, name);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return bf_err_set(err, BF_EINVAL, "%s: %s", f, msg);
}

/* Prefix err with the origin (file name) on the way up, keeping rc. */
static int with_origin(int rc, struct bf_err *err, const char *origin)
{
    if (rc < 0 && err && origin)
        bf_err_prefix(err, "%s", origin);
    return rc;
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20)
            return true;
    return false;
}

static bool cat_id_valid(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > 64 || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool https_valid(const char *s)
{
    if (strncmp(s, "https://", 8) != 0 || s[8] == '\0' || s[8] == '/')
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f)
            return false;
    return true;
}

static bool present(const json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);

    return v && !json_is_null(v);
}

/* A text member: min..max bytes, no control characters; *out NULL when optional and absent. */
static int get_text(const json_t *o, const char *path, const char *name, size_t min, size_t max,
                    bool required, const char **out, struct bf_err *err)
{
    int rc;

    *out = NULL;
    rc = required ? bf_json_str(o, path, name, min, max, out, err)
                  : bf_json_str_opt(o, path, name, min, max, out, err);
    if (rc < 0)
        return rc;
    if (*out && has_control(*out))
        return field_err(err, path, name, "must not contain control characters");
    return 0;
}

/* A catalogue id member: a lower-case letter, then up to 63 of [a-z0-9._-]. */
static int get_id(const json_t *o, const char *path, const char *name, const char **out,
                  struct bf_err *err)
{
    int rc = bf_json_str(o, path, name, 1, 64, out, err);

    if (rc < 0)
        return rc;
    if (!cat_id_valid(*out))
        return field_err(err, path, name,
                         "'%s' is not a catalogue id: a lower-case letter, then up to 63 of "
                         "a-z 0-9 . _ -",
                         *out);
    return 0;
}

static int get_https(const json_t *o, const char *path, const char *name, bool required,
                     const char **out, struct bf_err *err)
{
    int rc = get_text(o, path, name, 9, 2048, required, out, err);

    if (rc < 0)
        return rc;
    if (*out && !https_valid(*out))
        return field_err(err, path, name, "must be an https URL");
    return 0;
}

/* An optional integer in [min, max], def when absent. */
static int get_int_def(const json_t *o, const char *path, const char *name, int min, int max,
                       int def, int *out, struct bf_err *err)
{
    long long v = def;
    int rc = bf_json_int_opt(o, path, name, min, max, &v, err);

    if (rc < 0)
        return rc;
    *out = (int)v;
    return 0;
}

static int get_int(const json_t *o, const char *path, const char *name, int min, int max, int *out,
                   struct bf_err *err)
{
    long long v = 0;
    int rc = bf_json_int(o, path, name, min, max, &v, err);

    if (rc < 0)
        return rc;
    *out = (int)v;
    return 0;
}

static void sha256_hex(const char *buf, size_t len, char out[BF_CAT_SHA256_HEXLEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        memset(out, '0', BF_CAT_SHA256_HEXLEN);
        out[BF_CAT_SHA256_HEXLEN] = '\0';
        return;
    }
    bf_hex(md, 32, out);
}

/* ---- kinds --------------------------------------------------------------------------- */

static const char *const kind_names[] = {
    [BF_CAT_VIDEO] = "video",       [BF_CAT_AUDIO] = "audio", [BF_CAT_IMAGE] = "image",
    [BF_CAT_DOCUMENT] = "document", [BF_CAT_TEXT] = "text",
};

const char *bf_cat_kind_name(enum bf_cat_kind kind)
{
    if ((size_t)kind >= BF_ARRAY_LEN(kind_names))
        return "unknown";
    return kind_names[kind];
}

int bf_cat_kind_parse(const char *s, enum bf_cat_kind *kind)
{
    for (size_t i = 0; s && i < BF_ARRAY_LEN(kind_names); i++) {
        if (strcmp(s, kind_names[i]) == 0) {
            *kind = (enum bf_cat_kind)i;
            return 0;
        }
    }
    return -BF_EINVAL;
}

static bool kind_is_media(enum bf_cat_kind kind)
{
    return kind == BF_CAT_VIDEO || kind == BF_CAT_AUDIO;
}

/* ---- parsing: rubric ----------------------------------------------------------------- */

static int parse_level(const json_t *o, const char *path, struct bf_cat_level *l,
                       struct bf_err *err)
{
    static const char *const allowed[] = {"id", "name", "description", "rank", NULL};
    int rc;

    if (!json_is_object(o))
        return bf_err_set(err, BF_EINVAL, "%s: must be an object", path);
    if ((rc = bf_json_only(o, path, allowed, err)) < 0 ||
        (rc = get_id(o, path, "id", &l->id, err)) < 0 ||
        (rc = get_text(o, path, "name", 1, 100, true, &l->name, err)) < 0 ||
        (rc = get_text(o, path, "description", 1, 1000, true, &l->description, err)) < 0 ||
        (rc = get_int(o, path, "rank", 0, 1000, &l->rank, err)) < 0)
        return rc;
    return 0;
}

static int parse_levels(const json_t *o, const char *path, struct bf_cat_criterion *k,
                        struct bf_err *err)
{
    char lpath[PATH_LEN];
    json_t *arr = NULL;
    int rc = bf_json_array(o, path, "levels", 2, BF_CAT_MAX_LEVELS, &arr, err);

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        struct bf_cat_level *l = &k->levels[i];

        idx_path(lpath, sizeof(lpath), path, "levels", i);
        if ((rc = parse_level(json_array_get(arr, i), lpath, l, err)) < 0)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(k->levels[j].id, l->id) == 0)
                return field_err(err, lpath, "id", "'%s' is already a level of this criterion",
                                 l->id);
        if (i > 0 && l->rank <= k->levels[i - 1].rank)
            return field_err(err, lpath, "rank",
                             "%d must be greater than the rank of the level before it (%d): "
                             "levels go from lowest to highest",
                             l->rank, k->levels[i - 1].rank);
        l->index = i;
        l->crit = k;
        k->n_levels = i + 1;
    }
    return 0;
}

static int parse_criterion(const json_t *o, const char *path, struct bf_cat_criterion *k,
                           struct bf_err *err)
{
    static const char *const allowed[] = {"id",     "name",          "description",
                                          "levels", "passing_level", NULL};
    const char *passing = NULL;
    int rc;

    if (!json_is_object(o))
        return bf_err_set(err, BF_EINVAL, "%s: must be an object", path);
    if ((rc = bf_json_only(o, path, allowed, err)) < 0 ||
        (rc = get_id(o, path, "id", &k->id, err)) < 0 ||
        (rc = get_text(o, path, "name", 1, 200, true, &k->name, err)) < 0 ||
        (rc = get_text(o, path, "description", 1, 1000, true, &k->description, err)) < 0 ||
        (rc = parse_levels(o, path, k, err)) < 0 ||
        (rc = get_id(o, path, "passing_level", &passing, err)) < 0)
        return rc;
    for (size_t i = 0; i < k->n_levels; i++) {
        if (strcmp(k->levels[i].id, passing) == 0) {
            k->passing = i;
            return 0;
        }
    }
    return field_err(err, path, "passing_level", "'%s' is not a level of this criterion", passing);
}

static struct bf_cat_criterion *crit_by_id(struct bf_cat_cred *c, const char *id)
{
    for (size_t i = 0; i < c->n_criteria; i++)
        if (strcmp(c->criteria[i].id, id) == 0)
            return &c->criteria[i];
    return NULL;
}

/* The "required" list of a minimum_count rule: real criteria, each once. */
static int parse_rule_required(const json_t *rule, const char *path, struct bf_cat_cred *c,
                               size_t *n_required, struct bf_err *err)
{
    char ipath[PATH_LEN];
    json_t *arr = NULL;
    int rc;

    *n_required = 0;
    if (!present(rule, "required"))
        return 0;
    if ((rc = bf_json_array(rule, path, "required", 0, c->n_criteria, &arr, err)) < 0)
        return rc;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *v = json_array_get(arr, i);
        struct bf_cat_criterion *k;

        idx_path(ipath, sizeof(ipath), path, "required", i);
        if (!json_is_string(v))
            return bf_err_set(err, BF_EINVAL, "%s: must be a criterion id", ipath);
        k = crit_by_id(c, json_string_value(v));
        if (!k)
            return bf_err_set(err, BF_EINVAL, "%s: '%s' is not a criterion of this credential",
                              ipath, json_string_value(v));
        if (k->required)
            return bf_err_set(err, BF_EINVAL, "%s: '%s' is named twice", ipath, k->id);
        k->required = true;
        (*n_required)++;
    }
    return 0;
}

static int parse_rule(const json_t *rubric, const char *rpath, struct bf_cat_cred *c,
                      struct bf_err *err)
{
    static const char *const allowed[] = {"type", "count", "required", NULL};
    char path[PATH_LEN];
    json_t *rule = NULL;
    const char *type = NULL;
    size_t n_required = 0;
    int rc;

    c->rule = BF_CAT_RULE_CONJUNCTIVE;
    c->rule_count = (int)c->n_criteria;
    if (!present(rubric, "passing_rule"))
        return 0;
    sub_path(path, sizeof(path), rpath, "passing_rule");
    if ((rc = bf_json_object(rubric, rpath, "passing_rule", &rule, err)) < 0 ||
        (rc = bf_json_only(rule, path, allowed, err)) < 0 ||
        (rc = bf_json_enum(rule, path, "type", "conjunctive|minimum_count", &type, err)) < 0)
        return rc;
    if (strcmp(type, "conjunctive") == 0) {
        if (present(rule, "count") || present(rule, "required"))
            return field_err(err, path, present(rule, "count") ? "count" : "required",
                             "only a minimum_count rule has it");
        return 0;
    }
    c->rule = BF_CAT_RULE_MINIMUM_COUNT;
    if ((rc = get_int(rule, path, "count", 1, BF_CAT_MAX_CRITERIA, &c->rule_count, err)) < 0)
        return rc;
    if ((size_t)c->rule_count > c->n_criteria)
        return field_err(err, path, "count", "%d is more than the number of criteria (%zu)",
                         c->rule_count, c->n_criteria);
    if ((rc = parse_rule_required(rule, path, c, &n_required, err)) < 0)
        return rc;
    if ((size_t)c->rule_count < n_required)
        return field_err(err, path, "count",
                         "%d is less than the number of required criteria (%zu)", c->rule_count,
                         n_required);
    return 0;
}

static int parse_feedback(const json_t *rubric, const char *path, struct bf_cat_cred *c,
                          struct bf_err *err)
{
    const char *v = NULL;
    int rc;

    c->policy.feedback_required = BF_CAT_FEEDBACK_BELOW_PASSING;
    if (!present(rubric, "feedback_required"))
        return 0;
    rc = bf_json_enum(rubric, path, "feedback_required", "below_passing|all|none", &v, err);
    if (rc < 0)
        return rc;
    if (strcmp(v, "all") == 0)
        c->policy.feedback_required = BF_CAT_FEEDBACK_ALL;
    else if (strcmp(v, "none") == 0)
        c->policy.feedback_required = BF_CAT_FEEDBACK_NONE;
    return 0;
}

static int parse_rubric(const json_t *o, const char *cpath, struct bf_cat_cred *c,
                        struct bf_err *err)
{
    static const char *const allowed[] = {"criteria", "passing_rule", "feedback_required", NULL};
    char path[PATH_LEN], kpath[PATH_LEN];
    json_t *rubric = NULL, *arr = NULL;
    int rc;

    sub_path(path, sizeof(path), cpath, "rubric");
    if ((rc = bf_json_object(o, cpath, "rubric", &rubric, err)) < 0 ||
        (rc = bf_json_only(rubric, path, allowed, err)) < 0 ||
        (rc = bf_json_array(rubric, path, "criteria", 1, BF_CAT_MAX_CRITERIA, &arr, err)) < 0)
        return rc;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        struct bf_cat_criterion *k = &c->criteria[i];

        idx_path(kpath, sizeof(kpath), path, "criteria", i);
        if ((rc = parse_criterion(json_array_get(arr, i), kpath, k, err)) < 0)
            return rc;
        if (crit_by_id(c, k->id))
            return field_err(err, kpath, "id", "'%s' is already a criterion of this credential",
                             k->id);
        k->index = i;
        c->n_criteria = i + 1;
    }
    if ((rc = parse_rule(rubric, path, c, err)) < 0)
        return rc;
    return parse_feedback(rubric, path, c, err);
}

/* ---- parsing: evidence, policy, credential ------------------------------------------- */

static int parse_evreq(const json_t *o, const char *path, struct bf_cat_evreq *r,
                       struct bf_err *err)
{
    static const char *const allowed[] = {"id",        "kind",           "description", "min_items",
                                          "max_items", "max_duration_s", NULL};
    const char *kind = NULL;
    int rc;

    if (!json_is_object(o))
        return bf_err_set(err, BF_EINVAL, "%s: must be an object", path);
    if ((rc = bf_json_only(o, path, allowed, err)) < 0 ||
        (rc = get_id(o, path, "id", &r->id, err)) < 0 ||
        (rc = bf_json_enum(o, path, "kind", KINDS, &kind, err)) < 0 ||
        (rc = get_text(o, path, "description", 1, 1000, true, &r->description, err)) < 0 ||
        (rc = get_int(o, path, "min_items", 0, BF_CAT_MAX_ITEMS, &r->min_items, err)) < 0 ||
        (rc = get_int(o, path, "max_items", 1, BF_CAT_MAX_ITEMS, &r->max_items, err)) < 0)
        return rc;
    if (bf_cat_kind_parse(kind, &r->kind) < 0)
        return field_err(err, path, "kind", "must be one of " KINDS);
    if (r->min_items > r->max_items)
        return field_err(err, path, "min_items", "%d is more than max_items (%d)", r->min_items,
                         r->max_items);
    r->max_duration_s = 0;
    if (!kind_is_media(r->kind)) {
        if (present(o, "max_duration_s"))
            return field_err(err, path, "max_duration_s",
                             "only video and audio evidence have a duration");
        return 0;
    }
    return get_int(o, path, "max_duration_s", 1, 14400, &r->max_duration_s, err);
}

static int parse_evidence(const json_t *o, const char *cpath, struct bf_cat_cred *c,
                          struct bf_err *err)
{
    char path[PATH_LEN];
    json_t *arr = NULL;
    int rc = bf_json_array(o, cpath, "evidence", 1, BF_CAT_MAX_EVIDENCE, &arr, err);

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        struct bf_cat_evreq *r = &c->evidence[i];

        idx_path(path, sizeof(path), cpath, "evidence", i);
        if ((rc = parse_evreq(json_array_get(arr, i), path, r, err)) < 0)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->evidence[j].id, r->id) == 0)
                return field_err(err, path, "id",
                                 "'%s' is already an evidence requirement of this credential",
                                 r->id);
        c->n_evidence = i + 1;
    }
    return 0;
}

static int parse_policy(const json_t *o, const char *path, struct bf_cat_cred *c,
                        struct bf_err *err)
{
    struct bf_cat_policy *p = &c->policy;
    int rc;

    p->continuity_on_resubmission = false;
    if ((rc = get_int_def(o, path, "assessors_required", 1, 2, 1, &p->assessors_required, err)) <
            0 ||
        (rc = get_int_def(o, path, "attempts_allowed", 1, 10, 3, &p->attempts_allowed, err)) < 0 ||
        (rc = get_int(o, path, "turnaround_days", 1, 90, &p->turnaround_days, err)) < 0 ||
        (rc = get_int_def(o, path, "disagreement_threshold", 0, 9, 1, &p->disagreement_threshold,
                          err)) < 0 ||
        (rc = get_int_def(o, path, "expires_after_days", 1, 36500, 0, &p->expires_after_days,
                          err)) < 0)
        return rc;
    if (present(o, "continuity_on_resubmission"))
        return bf_json_bool(o, path, "continuity_on_resubmission", &p->continuity_on_resubmission,
                            err);
    return 0;
}

static int cred_digest(struct bf_cat_cred *c);

/* Parse and validate one credential object at path into c (which borrows from o). */
static int parse_cred(json_t *o, const char *path, struct bf_cat_cred *c, struct bf_err *err)
{
    static const char *const allowed[] = {"id",
                                          "version",
                                          "name",
                                          "description",
                                          "skill",
                                          "key_method",
                                          "image",
                                          "evidence",
                                          "rubric",
                                          "assessors_required",
                                          "attempts_allowed",
                                          "turnaround_days",
                                          "continuity_on_resubmission",
                                          "disagreement_threshold",
                                          "expires_after_days",
                                          NULL};
    int rc;

    if (!json_is_object(o))
        return bf_err_set(err, BF_EINVAL, "%s: must be an object", *path ? path : "value");
    c->src = json_incref(o);
    if ((rc = bf_json_only(o, path, allowed, err)) < 0 ||
        (rc = get_id(o, path, "id", &c->id, err)) < 0 ||
        (rc = get_int(o, path, "version", 1, 1000000, &c->version, err)) < 0 ||
        (rc = get_text(o, path, "name", 1, 200, true, &c->name, err)) < 0 ||
        (rc = get_text(o, path, "description", 1, 4000, true, &c->description, err)) < 0 ||
        (rc = get_text(o, path, "skill", 1, 1000, true, &c->skill, err)) < 0 ||
        (rc = get_text(o, path, "key_method", 1, 2000, true, &c->key_method, err)) < 0 ||
        (rc = get_https(o, path, "image", true, &c->image, err)) < 0 ||
        (rc = parse_evidence(o, path, c, err)) < 0 || (rc = parse_rubric(o, path, c, err)) < 0 ||
        (rc = parse_policy(o, path, c, err)) < 0)
        return rc;
    if (cred_digest(c) < 0)
        return bf_err_set(err, BF_ENOMEM, "%s: out of memory", *path ? path : "credential");
    return 0;
}

/* ---- parsing: stacks ----------------------------------------------------------------- */

static int parse_author(const json_t *o, struct bf_cat_stack *s, struct bf_err *err)
{
    static const char *const allowed[] = {"name", "url", NULL};
    json_t *a = NULL;
    int rc;

    if (!present(o, "author"))
        return 0;
    if ((rc = bf_json_object(o, "", "author", &a, err)) < 0 ||
        (rc = bf_json_only(a, "author", allowed, err)) < 0 ||
        (rc = get_text(a, "author", "name", 1, 200, true, &s->author_name, err)) < 0 ||
        (rc = get_https(a, "author", "url", false, &s->author_url, err)) < 0)
        return rc;
    return 0;
}

static int stack_digest(struct bf_cat_stack *s);

/* The stack's own fields; "credentials" only when with_creds (a file), never from the database. */
static int parse_stack(json_t *o, bool with_creds, struct bf_cat_stack *s, struct bf_err *err)
{
    static const char *const file_fields[] = {"$schema", "id",     "name",        "description",
                                              "image",   "author", "credentials", NULL};
    static const char *const db_fields[] = {"id", "name", "description", "image", "author", NULL};
    const char *schema = NULL;
    int rc;

    s->src = json_incref(o);
    if ((rc = bf_json_only(o, "", with_creds ? file_fields : db_fields, err)) < 0 ||
        (rc = get_text(o, "", "$schema", 1, 2048, false, &schema, err)) < 0 ||
        (rc = get_id(o, "", "id", &s->id, err)) < 0 ||
        (rc = get_text(o, "", "name", 1, 200, true, &s->name, err)) < 0 ||
        (rc = get_text(o, "", "description", 1, 4000, true, &s->description, err)) < 0 ||
        (rc = get_https(o, "", "image", true, &s->image, err)) < 0 ||
        (rc = parse_author(o, s, err)) < 0)
        return rc;
    if (stack_digest(s) < 0)
        return bf_err_set(err, BF_ENOMEM, "stack: out of memory");
    return 0;
}

/* ---- canonical JSON ------------------------------------------------------------------ */

/* Append v (stolen) to arr; false (and v released) on failure. */
static bool append(json_t *arr, json_t *v)
{
    return v && json_array_append_new(arr, v) == 0;
}

static json_t *level_json(const struct bf_cat_level *l)
{
    return json_pack("{s:s, s:s, s:s, s:i}", "id", l->id, "name", l->name, "description",
                     l->description, "rank", l->rank);
}

static json_t *criterion_json(const struct bf_cat_criterion *k)
{
    json_t *levels = json_array();

    for (size_t i = 0; levels && i < k->n_levels; i++) {
        if (!append(levels, level_json(&k->levels[i]))) {
            json_decref(levels);
            return NULL;
        }
    }
    if (!levels)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:o, s:s}", "id", k->id, "name", k->name, "description",
                     k->description, "levels", levels, "passing_level", k->levels[k->passing].id);
}

static json_t *rule_json(const struct bf_cat_cred *c)
{
    json_t *req;

    if (c->rule == BF_CAT_RULE_CONJUNCTIVE)
        return json_pack("{s:s}", "type", "conjunctive");
    req = json_array();
    for (size_t i = 0; req && i < c->n_criteria; i++) {
        if (c->criteria[i].required && !append(req, json_string(c->criteria[i].id))) {
            json_decref(req);
            return NULL;
        }
    }
    if (!req)
        return NULL;
    return json_pack("{s:s, s:i, s:o}", "type", "minimum_count", "count", c->rule_count, "required",
                     req);
}

static const char *feedback_name(enum bf_cat_feedback f)
{
    return f == BF_CAT_FEEDBACK_ALL ? "all" : f == BF_CAT_FEEDBACK_NONE ? "none" : "below_passing";
}

static json_t *rubric_json(const struct bf_cat_cred *c)
{
    json_t *crit = json_array();

    for (size_t i = 0; crit && i < c->n_criteria; i++) {
        if (!append(crit, criterion_json(&c->criteria[i]))) {
            json_decref(crit);
            return NULL;
        }
    }
    if (!crit)
        return NULL;
    return json_pack("{s:o, s:o, s:s}", "criteria", crit, "passing_rule", rule_json(c),
                     "feedback_required", feedback_name(c->policy.feedback_required));
}

static json_t *evreq_json(const struct bf_cat_evreq *r)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i}", "id", r->id, "kind",
                          bf_cat_kind_name(r->kind), "description", r->description, "min_items",
                          r->min_items, "max_items", r->max_items);

    if (o && kind_is_media(r->kind) &&
        json_object_set_new(o, "max_duration_s", json_integer(r->max_duration_s)) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *cred_json(const struct bf_cat_cred *c)
{
    const struct bf_cat_policy *p = &c->policy;
    json_t *ev = json_array(), *o;

    for (size_t i = 0; ev && i < c->n_evidence; i++) {
        if (!append(ev, evreq_json(&c->evidence[i]))) {
            json_decref(ev);
            return NULL;
        }
    }
    if (!ev)
        return NULL;
    o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:i, s:i, s:i, s:b, s:i}", "id",
                  c->id, "version", c->version, "name", c->name, "description", c->description,
                  "skill", c->skill, "key_method", c->key_method, "image", c->image, "evidence", ev,
                  "rubric", rubric_json(c), "assessors_required", p->assessors_required,
                  "attempts_allowed", p->attempts_allowed, "turnaround_days", p->turnaround_days,
                  "continuity_on_resubmission", (int)p->continuity_on_resubmission,
                  "disagreement_threshold", p->disagreement_threshold);
    if (o && p->expires_after_days > 0 &&
        json_object_set_new(o, "expires_after_days", json_integer(p->expires_after_days)) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *stack_json(const struct bf_cat_stack *s)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", s->id, "name", s->name, "description",
                          s->description, "image", s->image);
    json_t *a;

    if (!o || !s->author_name)
        return o;
    a = s->author_url ? json_pack("{s:s, s:s}", "name", s->author_name, "url", s->author_url)
                      : json_pack("{s:s}", "name", s->author_name);
    if (!a || json_object_set_new(o, "author", a) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Serialise j canonically into *out with its digest; j is released. */
static int canonical(json_t *j, char **out, char sha256[BF_CAT_SHA256_HEXLEN + 1])
{
    char *s;

    if (!j)
        return -BF_ENOMEM;
    s = bf_json_dump(j);
    json_decref(j);
    if (!s)
        return -BF_ENOMEM;
    if (sha256)
        sha256_hex(s, strlen(s), sha256);
    *out = s;
    return 0;
}

int bf_cat_version_json(const struct bf_cat_cred *c, char **out,
                        char sha256[BF_CAT_SHA256_HEXLEN + 1])
{
    return canonical(cred_json(c), out, sha256);
}

int bf_cat_stack_json(const struct bf_cat_stack *s, char **out,
                      char sha256[BF_CAT_SHA256_HEXLEN + 1])
{
    return canonical(stack_json(s), out, sha256);
}

static int cred_digest(struct bf_cat_cred *c)
{
    char *s = NULL;
    int rc = bf_cat_version_json(c, &s, c->sha256);

    free(s);
    return rc;
}

static int stack_digest(struct bf_cat_stack *s)
{
    char *j = NULL;
    int rc = bf_cat_stack_json(s, &j, s->sha256);

    free(j);
    return rc;
}

/* ---- the catalogue ------------------------------------------------------------------- */

static void cred_free(struct bf_cat_cred *c)
{
    if (!c)
        return;
    json_decref(c->src);
    free(c->origin);
    free(c);
}

static void stack_free(struct bf_cat_stack *s)
{
    if (!s)
        return;
    json_decref(s->src);
    free(s->origin);
    free(s);
}

struct bf_cat *bf_cat_new(void)
{
    return calloc(1, sizeof(struct bf_cat));
}

void bf_cat_free(struct bf_cat *cat)
{
    if (!cat)
        return;
    for (size_t i = 0; i < cat->n_creds; i++)
        cred_free(cat->creds[i]);
    for (size_t i = 0; i < cat->n_stacks; i++)
        stack_free(cat->stacks[i]);
    free(cat->creds);
    free(cat->stacks);
    free(cat);
}

/*
 * Make room for `more` elements of elem bytes in the array *arrp (of *cap), arrp being
 * the address of the array pointer (copied with memcpy: no type punning). 0 or -BF_ENOMEM.
 */
static int reserve(void *arrp, size_t *cap, size_t n, size_t more, size_t elem)
{
    size_t want = n + more, cap2 = *cap ? *cap : 16;
    void *old, *p;

    if (want <= *cap)
        return 0;
    while (cap2 < want)
        cap2 *= 2;
    memcpy(&old, arrp, sizeof(old));
    p = realloc(old, cap2 * elem);
    if (!p)
        return -BF_ENOMEM;
    memcpy(arrp, &p, sizeof(p));
    *cap = cap2;
    return 0;
}

static int reserve_room(struct bf_cat *cat, size_t stacks, size_t creds)
{
    if (reserve(&cat->stacks, &cat->cap_stacks, cat->n_stacks, stacks,
                sizeof(struct bf_cat_stack *)) < 0 ||
        reserve(&cat->creds, &cat->cap_creds, cat->n_creds, creds, sizeof(struct bf_cat_cred *)) <
            0)
        return -BF_ENOMEM;
    return 0;
}

static struct bf_cat_stack *stack_find(const struct bf_cat *cat, const char *id)
{
    for (size_t i = 0; i < cat->n_stacks; i++)
        if (strcmp(cat->stacks[i]->id, id) == 0)
            return cat->stacks[i];
    return NULL;
}

/* Any version of credential id, or NULL. */
static struct bf_cat_cred *cred_any(const struct bf_cat *cat, const char *id)
{
    for (size_t i = 0; i < cat->n_creds; i++)
        if (strcmp(cat->creds[i]->id, id) == 0)
            return cat->creds[i];
    return NULL;
}

static struct bf_cat_cred *cred_new(const char *origin)
{
    struct bf_cat_cred *c = calloc(1, sizeof(*c));

    if (c && !(c->origin = strdup(origin))) {
        free(c);
        return NULL;
    }
    return c;
}

static struct bf_cat_stack *stack_new(const struct bf_cat *cat, const char *origin)
{
    struct bf_cat_stack *s = calloc(1, sizeof(*s));

    if (s && !(s->origin = strdup(origin))) {
        free(s);
        return NULL;
    }
    if (s)
        s->cat = cat;
    return s;
}

/* ---- loading a stack document -------------------------------------------------------- */

/* A parsed file before it joins the catalogue (so a bad file leaves the catalogue as it was). */
struct pending {
    struct bf_cat_stack *stack;
    struct bf_cat_cred *creds[BF_CAT_MAX_CREDS_PER_STACK];
    size_t n;
};

static void pending_free(struct pending *p)
{
    stack_free(p->stack);
    for (size_t i = 0; i < p->n; i++)
        cred_free(p->creds[i]);
}

/* Credential i must be new to the file and to the catalogue. */
static int check_cred_unique(const struct bf_cat *cat, const struct pending *p, size_t i,
                             const char *path, struct bf_err *err)
{
    const struct bf_cat_cred *c = p->creds[i], *other;

    for (size_t j = 0; j < i; j++)
        if (strcmp(p->creds[j]->id, c->id) == 0)
            return field_err(err, path, "id", "'%s' is already defined by credentials[%zu]", c->id,
                             j);
    other = cred_any(cat, c->id);
    if (other)
        return field_err(err, path, "id", "'%s' is already defined in %s (stack '%s')", c->id,
                         other->origin, other->stack->id);
    return 0;
}

static int parse_creds(const struct bf_cat *cat, json_t *doc, const char *origin, struct pending *p,
                       struct bf_err *err)
{
    char path[PATH_LEN];
    json_t *arr = NULL;
    int rc = bf_json_array(doc, "", "credentials", 1, BF_CAT_MAX_CREDS_PER_STACK, &arr, err);

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        idx_path(path, sizeof(path), "", "credentials", i);
        if (!(p->creds[i] = cred_new(origin)))
            return bf_err_set(err, BF_ENOMEM, "out of memory");
        p->n = i + 1;
        p->creds[i]->stack = p->stack;
        if ((rc = parse_cred(json_array_get(arr, i), path, p->creds[i], err)) < 0 ||
            (rc = check_cred_unique(cat, p, i, path, err)) < 0)
            return rc;
        p->stack->cred_ids[i] = p->creds[i]->id;
        p->stack->n_creds = i + 1;
    }
    return 0;
}

/* The file "dir/x.json" must hold stack "x". */
static int check_file_name(const char *path, const char *id, struct bf_err *err)
{
    const char *base = strrchr(path, '/');
    size_t n;

    base = base ? base + 1 : path;
    n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".json") == 0)
        n -= 5;
    if (strlen(id) == n && strncmp(base, id, n) == 0)
        return 0;
    return bf_err_set(err, BF_EINVAL,
                      "id: '%s' does not match the file name: a stack file is named "
                      "<stack id>.json",
                      id);
}

static json_t *parse_json(const char *buf, size_t len, struct bf_err *err)
{
    json_error_t jerr;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);

    if (!j) {
        bf_err_set(err, BF_EINVAL, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                   jerr.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        bf_err_set(err, BF_EINVAL, "must be a JSON object");
        return NULL;
    }
    return j;
}

static void commit(struct bf_cat *cat, struct pending *p)
{
    cat->stacks[cat->n_stacks++] = p->stack;
    for (size_t i = 0; i < p->n; i++)
        cat->creds[cat->n_creds++] = p->creds[i];
    p->stack = NULL;
    p->n = 0;
}

static int load_doc(struct bf_cat *cat, const char *origin, const char *file, const char *buf,
                    size_t len, struct bf_err *err)
{
    struct pending p = {0};
    const struct bf_cat_stack *other;
    json_t *doc = parse_json(buf, len, err);
    int rc = -BF_EINVAL;

    if (!doc)
        return -BF_EINVAL;
    if (!(p.stack = stack_new(cat, origin))) {
        rc = bf_err_set(err, BF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = parse_stack(doc, true, p.stack, err)) < 0 ||
        (file && (rc = check_file_name(file, p.stack->id, err)) < 0))
        goto out;
    if ((other = stack_find(cat, p.stack->id))) {
        rc = bf_err_set(err, BF_EINVAL, "id: stack '%s' is already defined in %s", p.stack->id,
                        other->origin);
        goto out;
    }
    if ((rc = parse_creds(cat, doc, origin, &p, err)) < 0)
        goto out;
    if (reserve_room(cat, 1, p.n) < 0) {
        rc = bf_err_set(err, BF_ENOMEM, "out of memory");
        goto out;
    }
    commit(cat, &p);
    rc = 0;
out:
    pending_free(&p);
    json_decref(doc);
    return rc;
}

int bf_cat_load_buf(struct bf_cat *cat, const char *origin, const char *buf, size_t len,
                    struct bf_err *err)
{
    return with_origin(load_doc(cat, origin, NULL, buf, len, err), err, origin);
}

/* Read all of path (at most BF_CAT_MAX_FILE_BYTES) into *buf (caller frees). */
static int read_file(const char *path, char **buf, size_t *len, struct bf_err *err)
{
    char ebuf[128];
    struct stat st;
    FILE *f = fopen(path, "rb");
    int rc = 0;

    *buf = NULL;
    if (!f)
        return bf_err_set(err, BF_EIO, "cannot open: %s", strerror_r(errno, ebuf, sizeof(ebuf)));
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = bf_err_set(err, BF_EIO, "not a regular file");
        goto out;
    }
    if (st.st_size > BF_CAT_MAX_FILE_BYTES) {
        rc = bf_err_set(err, BF_ETOOBIG, "larger than %d bytes", BF_CAT_MAX_FILE_BYTES);
        goto out;
    }
    if (!(*buf = malloc((size_t)st.st_size + 1))) {
        rc = bf_err_set(err, BF_ENOMEM, "out of memory");
        goto out;
    }
    *len = fread(*buf, 1, (size_t)st.st_size, f);
    if (ferror(f) || *len != (size_t)st.st_size) {
        rc = bf_err_set(err, BF_EIO, "short read");
        goto out;
    }
out:
    if (rc < 0) {
        free(*buf);
        *buf = NULL;
    }
    fclose(f);
    return rc;
}

int bf_cat_load_file(struct bf_cat *cat, const char *path, struct bf_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = read_file(path, &buf, &len, err);

    if (rc == 0)
        rc = load_doc(cat, path, path, buf, len, err);
    free(buf);
    return with_origin(rc, err, path);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names of dir's *.json files (not hidden), sorted. Caller frees each and the array. */
static int list_json(const char *dir, char ***names, size_t *n, struct bf_err *err)
{
    char ebuf[128];
    size_t cap = 0;
    struct dirent *de;
    DIR *d = opendir(dir);
    int rc = 0;

    *names = NULL;
    *n = 0;
    if (!d)
        return bf_err_set(err, BF_EIO, "%s: cannot open: %s", dir,
                          strerror_r(errno, ebuf, sizeof(ebuf)));
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        if (reserve(names, &cap, *n, 1, sizeof(**names)) < 0 ||
            !((*names)[*n] = strdup(de->d_name))) {
            rc = bf_err_set(err, BF_ENOMEM, "out of memory");
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (rc == 0 && *n == 0)
        rc = bf_err_set(err, BF_EINVAL, "%s: no catalogue files (*.json)", dir);
    if (rc == 0)
        qsort(*names, *n, sizeof(**names), cmp_str);
    return rc;
}

struct bf_cat *bf_cat_load_dir(const char *dir, struct bf_err *err)
{
    char path[4096];
    char **names = NULL;
    size_t n = 0;
    struct bf_cat *cat = bf_cat_new();
    int rc = cat ? list_json(dir, &names, &n, err) : bf_err_set(err, BF_ENOMEM, "out of memory");

    for (size_t i = 0; rc == 0 && i < n; i++) {
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= sizeof(path))
            rc = bf_err_set(err, BF_EINVAL, "%s/%s: path too long", dir, names[i]);
        else
            rc = bf_cat_load_file(cat, path, err);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc < 0) {
        bf_cat_free(cat);
        return NULL;
    }
    return cat;
}

/* ---- adding from the database -------------------------------------------------------- */

static int add_stack(struct bf_cat *cat, const char *origin, const char *json, size_t len,
                     struct bf_err *err)
{
    struct bf_cat_stack *s = NULL;
    const struct bf_cat_stack *old;
    json_t *doc = parse_json(json, len, err);
    int rc = -BF_EINVAL;

    if (!doc)
        return rc;
    if (!(s = stack_new(cat, origin))) {
        rc = bf_err_set(err, BF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = parse_stack(doc, false, s, err)) < 0)
        goto out;
    if ((old = stack_find(cat, s->id))) {
        rc = strcmp(old->sha256, s->sha256) == 0
                 ? 0
                 : bf_err_set(err, BF_ECONFLICT, "stack '%s' differs from the one loaded from %s",
                              s->id, old->origin);
        goto out;
    }
    if (reserve_room(cat, 1, 0) < 0) {
        rc = bf_err_set(err, BF_ENOMEM, "out of memory");
        goto out;
    }
    cat->stacks[cat->n_stacks++] = s;
    s = NULL;
    rc = 0;
out:
    stack_free(s);
    json_decref(doc);
    return rc;
}

int bf_cat_add_stack(struct bf_cat *cat, const char *origin, const char *json, size_t len,
                     struct bf_err *err)
{
    return with_origin(add_stack(cat, origin, json, len, err), err, origin);
}

/* Where an added version may go: 1 = already there (same digest), 0 = new, < 0 = refused. */
static int version_place(const struct bf_cat *cat, const struct bf_cat_stack *s,
                         const struct bf_cat_cred *c, struct bf_err *err)
{
    const struct bf_cat_cred *any = cred_any(cat, c->id);
    const struct bf_cat_cred *same = bf_cat_cred_find(cat, c->id, c->version);

    if (any && any->stack != s)
        return bf_err_set(err, BF_ECONFLICT, "credential '%s' belongs to stack '%s', not '%s'",
                          c->id, any->stack->id, s->id);
    if (same && strcmp(same->sha256, c->sha256) != 0)
        return bf_err_set(err, BF_ECONFLICT,
                          "credential '%s' version %d differs from the one loaded from %s: "
                          "versions are immutable: bump version",
                          c->id, c->version, same->origin);
    if (same)
        return 1;
    if (!any && s->n_creds >= BF_CAT_MAX_CREDS_PER_STACK)
        return bf_err_set(err, BF_EINVAL, "stack '%s' has %d credentials already", s->id,
                          BF_CAT_MAX_CREDS_PER_STACK);
    return 0;
}

static int add_version(struct bf_cat *cat, const char *stack_id, const char *origin,
                       const char *json, size_t len, struct bf_err *err)
{
    struct bf_cat_stack *s = stack_find(cat, stack_id);
    struct bf_cat_cred *c = NULL;
    json_t *doc;
    int rc;

    if (!s)
        return bf_err_set(err, BF_ENOTFOUND, "stack '%s' is not loaded", stack_id);
    if (!(doc = parse_json(json, len, err)))
        return -BF_EINVAL;
    if (!(c = cred_new(origin))) {
        rc = bf_err_set(err, BF_ENOMEM, "out of memory");
        goto out;
    }
    c->stack = s;
    if ((rc = parse_cred(doc, "", c, err)) < 0 || (rc = version_place(cat, s, c, err)) != 0)
        goto out;
    if (reserve_room(cat, 0, 1) < 0) {
        rc = bf_err_set(err, BF_ENOMEM, "out of memory");
        goto out;
    }
    if (!cred_any(cat, c->id))
        s->cred_ids[s->n_creds++] = c->id;
    cat->creds[cat->n_creds++] = c;
    c = NULL;
out:
    cred_free(c);
    json_decref(doc);
    return rc < 0 ? rc : 0;
}

int bf_cat_add_version(struct bf_cat *cat, const char *stack_id, const char *origin,
                       const char *json, size_t len, struct bf_err *err)
{
    return with_origin(add_version(cat, stack_id, origin, json, len, err), err, origin);
}

/* ---- accessors: stacks --------------------------------------------------------------- */

size_t bf_cat_stack_count(const struct bf_cat *cat)
{
    return cat->n_stacks;
}

const struct bf_cat_stack *bf_cat_stack_at(const struct bf_cat *cat, size_t i)
{
    return i < cat->n_stacks ? cat->stacks[i] : NULL;
}

const struct bf_cat_stack *bf_cat_stack_find(const struct bf_cat *cat, const char *id)
{
    return stack_find(cat, id);
}

const char *bf_cat_stack_id(const struct bf_cat_stack *s)
{
    return s->id;
}
const char *bf_cat_stack_name(const struct bf_cat_stack *s)
{
    return s->name;
}
const char *bf_cat_stack_description(const struct bf_cat_stack *s)
{
    return s->description;
}
const char *bf_cat_stack_image(const struct bf_cat_stack *s)
{
    return s->image;
}
const char *bf_cat_stack_author_name(const struct bf_cat_stack *s)
{
    return s->author_name;
}
const char *bf_cat_stack_author_url(const struct bf_cat_stack *s)
{
    return s->author_url;
}
const char *bf_cat_stack_sha256(const struct bf_cat_stack *s)
{
    return s->sha256;
}
size_t bf_cat_stack_cred_count(const struct bf_cat_stack *s)
{
    return s->n_creds;
}

const struct bf_cat_cred *bf_cat_stack_cred_at(const struct bf_cat_stack *s, size_t i)
{
    return i < s->n_creds ? bf_cat_cred_find(s->cat, s->cred_ids[i], 0) : NULL;
}

/* ---- accessors: credentials ---------------------------------------------------------- */

const struct bf_cat_cred *bf_cat_cred_find(const struct bf_cat *cat, const char *id, int version)
{
    const struct bf_cat_cred *best = NULL;

    for (size_t i = 0; id && i < cat->n_creds; i++) {
        const struct bf_cat_cred *c = cat->creds[i];
        if (strcmp(c->id, id) != 0)
            continue;
        if (version > 0 && c->version == version)
            return c;
        if (version == 0 && (!best || c->version > best->version))
            best = c;
    }
    return best;
}

size_t bf_cat_cred_count(const struct bf_cat *cat)
{
    return cat->n_creds;
}

const struct bf_cat_cred *bf_cat_cred_at(const struct bf_cat *cat, size_t i)
{
    return i < cat->n_creds ? cat->creds[i] : NULL;
}

const struct bf_cat_stack *bf_cat_cred_stack(const struct bf_cat_cred *c)
{
    return c->stack;
}
const char *bf_cat_cred_id(const struct bf_cat_cred *c)
{
    return c->id;
}
int bf_cat_cred_version(const struct bf_cat_cred *c)
{
    return c->version;
}
const char *bf_cat_cred_name(const struct bf_cat_cred *c)
{
    return c->name;
}
const char *bf_cat_cred_description(const struct bf_cat_cred *c)
{
    return c->description;
}
const char *bf_cat_cred_skill(const struct bf_cat_cred *c)
{
    return c->skill;
}
const char *bf_cat_cred_key_method(const struct bf_cat_cred *c)
{
    return c->key_method;
}
const char *bf_cat_cred_image(const struct bf_cat_cred *c)
{
    return c->image;
}
const char *bf_cat_cred_origin(const struct bf_cat_cred *c)
{
    return c->origin;
}
const char *bf_cat_cred_sha256(const struct bf_cat_cred *c)
{
    return c->sha256;
}
const struct bf_cat_policy *bf_cat_cred_policy(const struct bf_cat_cred *c)
{
    return &c->policy;
}
enum bf_cat_rule bf_cat_cred_rule(const struct bf_cat_cred *c)
{
    return c->rule;
}
int bf_cat_cred_rule_count(const struct bf_cat_cred *c)
{
    return c->rule_count;
}

bool bf_cat_cred_rule_requires(const struct bf_cat_cred *c, const struct bf_cat_criterion *k)
{
    return c->rule == BF_CAT_RULE_CONJUNCTIVE || k->required;
}

/* ---- accessors: rubric --------------------------------------------------------------- */

size_t bf_cat_criterion_count(const struct bf_cat_cred *c)
{
    return c->n_criteria;
}

const struct bf_cat_criterion *bf_cat_criterion_at(const struct bf_cat_cred *c, size_t i)
{
    return i < c->n_criteria ? &c->criteria[i] : NULL;
}

const struct bf_cat_criterion *bf_cat_criterion_find(const struct bf_cat_cred *c, const char *id)
{
    for (size_t i = 0; id && i < c->n_criteria; i++)
        if (strcmp(c->criteria[i].id, id) == 0)
            return &c->criteria[i];
    return NULL;
}

const char *bf_cat_criterion_id(const struct bf_cat_criterion *k)
{
    return k->id;
}
const char *bf_cat_criterion_name(const struct bf_cat_criterion *k)
{
    return k->name;
}
const char *bf_cat_criterion_description(const struct bf_cat_criterion *k)
{
    return k->description;
}
size_t bf_cat_criterion_index(const struct bf_cat_criterion *k)
{
    return k->index;
}

const struct bf_cat_level *bf_cat_criterion_passing(const struct bf_cat_criterion *k)
{
    return &k->levels[k->passing];
}

size_t bf_cat_level_count(const struct bf_cat_criterion *k)
{
    return k->n_levels;
}

const struct bf_cat_level *bf_cat_level_at(const struct bf_cat_criterion *k, size_t i)
{
    return i < k->n_levels ? &k->levels[i] : NULL;
}

const struct bf_cat_level *bf_cat_level_find(const struct bf_cat_criterion *k, const char *id)
{
    for (size_t i = 0; id && i < k->n_levels; i++)
        if (strcmp(k->levels[i].id, id) == 0)
            return &k->levels[i];
    return NULL;
}

const char *bf_cat_level_id(const struct bf_cat_level *l)
{
    return l->id;
}
const char *bf_cat_level_name(const struct bf_cat_level *l)
{
    return l->name;
}
const char *bf_cat_level_description(const struct bf_cat_level *l)
{
    return l->description;
}
int bf_cat_level_rank(const struct bf_cat_level *l)
{
    return l->rank;
}
size_t bf_cat_level_index(const struct bf_cat_level *l)
{
    return l->index;
}

bool bf_cat_level_passes(const struct bf_cat_level *l)
{
    return l->index >= l->crit->passing;
}

/* ---- the passing rule ---------------------------------------------------------------- */

/* Resolve pick i to its criterion and level; marks seen[]. */
static int resolve_pick(const struct bf_cat_cred *c, const struct bf_cat_pick *pk, size_t i,
                        bool seen[BF_CAT_MAX_CRITERIA], const struct bf_cat_level **lvl,
                        struct bf_err *err)
{
    const struct bf_cat_criterion *k = bf_cat_criterion_find(c, pk->criterion_id);

    if (!k)
        return bf_err_set(err, BF_EINVAL,
                          "criteria[%zu].criterion_id: '%s' is not a criterion "
                          "of %s v%d",
                          i, pk->criterion_id ? pk->criterion_id : "", c->id, c->version);
    if (seen[k->index])
        return bf_err_set(err, BF_EINVAL,
                          "criteria[%zu].criterion_id: '%s' is scored more than "
                          "once",
                          i, k->id);
    seen[k->index] = true;
    *lvl = bf_cat_level_find(k, pk->level_id);
    if (!*lvl)
        return bf_err_set(err, BF_EINVAL,
                          "criteria[%zu].level_id: '%s' is not a level of "
                          "criterion '%s'",
                          i, pk->level_id ? pk->level_id : "", k->id);
    return 0;
}

int bf_cat_passes(const struct bf_cat_cred *c, const struct bf_cat_pick *picks, size_t n,
                  bool *passing, struct bf_err *err)
{
    bool seen[BF_CAT_MAX_CRITERIA] = {false};
    int passed = 0;
    bool required_ok = true;

    for (size_t i = 0; i < n; i++) {
        const struct bf_cat_level *l = NULL;
        int rc = resolve_pick(c, &picks[i], i, seen, &l, err);
        if (rc < 0)
            return rc;
        if (bf_cat_level_passes(l))
            passed++;
        else if (bf_cat_cred_rule_requires(c, l->crit))
            required_ok = false;
    }
    for (size_t k = 0; k < c->n_criteria; k++)
        if (!seen[k])
            return bf_err_set(err, BF_EINVAL, "criteria: criterion '%s' is not scored",
                              c->criteria[k].id);
    *passing = required_ok && passed >= c->rule_count;
    return 0;
}

/* ---- evidence completeness ----------------------------------------------------------- */

/* The only requirement of this kind, for an item that does not name one. */
static int req_by_kind(const struct bf_cat_cred *c, enum bf_cat_kind kind, size_t i,
                       const struct bf_cat_evreq **out, struct bf_err *err)
{
    *out = NULL;
    for (size_t r = 0; r < c->n_evidence; r++) {
        if (c->evidence[r].kind != kind)
            continue;
        if (*out)
            return bf_err_set(err, BF_EINVAL,
                              "evidence[%zu].requirement: is required: %s v%d "
                              "takes %s evidence for '%s' and '%s'",
                              i, c->id, c->version, bf_cat_kind_name(kind), (*out)->id,
                              c->evidence[r].id);
        *out = &c->evidence[r];
    }
    if (!*out)
        return bf_err_set(err, BF_EINVAL, "evidence[%zu].kind: %s v%d takes no %s evidence", i,
                          c->id, c->version, bf_cat_kind_name(kind));
    return 0;
}

/* "21 min 5 s", "45 s", "20 min". */
static void fmt_duration(int64_t s, char *out, size_t n)
{
    if (s < 60)
        snprintf(out, n, "%lld s", (long long)s);
    else if (s % 60 == 0)
        snprintf(out, n, "%lld min", (long long)(s / 60));
    else
        snprintf(out, n, "%lld min %lld s", (long long)(s / 60), (long long)(s % 60));
}

static int check_duration(const struct bf_cat_evreq *r, const struct bf_cat_item *it, size_t i,
                          struct bf_err *err)
{
    char got[32], max[32];

    if (it->duration_ms < 0 || r->max_duration_s <= 0 ||
        it->duration_ms <= (int64_t)r->max_duration_s * 1000)
        return 0;
    fmt_duration((it->duration_ms + 999) / 1000, got, sizeof(got));
    fmt_duration(r->max_duration_s, max, sizeof(max));
    return bf_err_set(err, BF_EINVAL, "evidence[%zu]: the %s is %s long; '%s' allows at most %s", i,
                      bf_cat_kind_name(r->kind), got, r->id, max);
}

/* Which requirement item i answers, with its kind and duration checked. */
static int match_item(const struct bf_cat_cred *c, const struct bf_cat_item *it, size_t i,
                      const struct bf_cat_evreq **req, struct bf_err *err)
{
    enum bf_cat_kind kind;
    int rc;

    if (bf_cat_kind_parse(it->kind, &kind) < 0)
        return bf_err_set(err, BF_EINVAL, "evidence[%zu].kind: '%s' is not an evidence kind (%s)",
                          i, it->kind ? it->kind : "", "video, audio, image, document or text");
    if (!it->requirement) {
        rc = req_by_kind(c, kind, i, req, err);
        if (rc < 0)
            return rc;
    } else if (!(*req = bf_cat_evreq_find(c, it->requirement))) {
        return bf_err_set(err, BF_EINVAL,
                          "evidence[%zu].requirement: '%s' is not an evidence "
                          "requirement of %s v%d",
                          i, it->requirement, c->id, c->version);
    }
    if ((*req)->kind != kind)
        return bf_err_set(err, BF_EINVAL, "evidence[%zu].kind: '%s' takes %s evidence, not %s", i,
                          (*req)->id, bf_cat_kind_name((*req)->kind), bf_cat_kind_name(kind));
    return check_duration(*req, it, i, err);
}

static int check_item_ids(const struct bf_cat_item *items, size_t n, struct bf_err *err)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; items[i].item_id && j < i; j++)
            if (items[j].item_id && strcmp(items[i].item_id, items[j].item_id) == 0)
                return bf_err_set(err, BF_EINVAL, "evidence[%zu].item_id: '%s' is used twice", i,
                                  items[i].item_id);
    return 0;
}

int bf_cat_check_evidence(const struct bf_cat_cred *c, const struct bf_cat_item *items, size_t n,
                          struct bf_err *err)
{
    int counts[BF_CAT_MAX_EVIDENCE] = {0};
    int rc;

    if (n > BF_CAT_MAX_ITEMS)
        return bf_err_set(err, BF_EINVAL, "evidence: %zu items, at most %d are allowed", n,
                          BF_CAT_MAX_ITEMS);
    if ((rc = check_item_ids(items, n, err)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const struct bf_cat_evreq *r = NULL;
        if ((rc = match_item(c, &items[i], i, &r, err)) < 0)
            return rc;
        counts[r - c->evidence]++;
    }
    for (size_t r = 0; r < c->n_evidence; r++) {
        const struct bf_cat_evreq *q = &c->evidence[r];
        if (counts[r] < q->min_items)
            return bf_err_set(err, BF_EINVAL,
                              "evidence: missing '%s' (%s): needs at least %d "
                              "item%s, got %d",
                              q->id, bf_cat_kind_name(q->kind), q->min_items,
                              q->min_items == 1 ? "" : "s", counts[r]);
        if (counts[r] > q->max_items)
            return bf_err_set(err, BF_EINVAL, "evidence: '%s' (%s) takes at most %d item%s, got %d",
                              q->id, bf_cat_kind_name(q->kind), q->max_items,
                              q->max_items == 1 ? "" : "s", counts[r]);
    }
    return 0;
}

/* ---- accessors: evidence ------------------------------------------------------------- */

size_t bf_cat_evreq_count(const struct bf_cat_cred *c)
{
    return c->n_evidence;
}

const struct bf_cat_evreq *bf_cat_evreq_at(const struct bf_cat_cred *c, size_t i)
{
    return i < c->n_evidence ? &c->evidence[i] : NULL;
}

const struct bf_cat_evreq *bf_cat_evreq_find(const struct bf_cat_cred *c, const char *id)
{
    for (size_t i = 0; id && i < c->n_evidence; i++)
        if (strcmp(c->evidence[i].id, id) == 0)
            return &c->evidence[i];
    return NULL;
}

const char *bf_cat_evreq_id(const struct bf_cat_evreq *r)
{
    return r->id;
}
const char *bf_cat_evreq_description(const struct bf_cat_evreq *r)
{
    return r->description;
}
enum bf_cat_kind bf_cat_evreq_kind(const struct bf_cat_evreq *r)
{
    return r->kind;
}
int bf_cat_evreq_min_items(const struct bf_cat_evreq *r)
{
    return r->min_items;
}
int bf_cat_evreq_max_items(const struct bf_cat_evreq *r)
{
    return r->max_items;
}
int bf_cat_evreq_max_duration_s(const struct bf_cat_evreq *r)
{
    return r->max_duration_s;
}
