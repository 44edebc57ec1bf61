/* SPDX-License-Identifier: Apache-2.0 */
/* xAPI statements (1.0.3, valid as 2.0) built from what a handler knows: pseudonyms only. */
#include <string.h>

#include "analytics.h"

#define EXT_CRITERIA      "https://badgeflow.org/xapi/ext/criteria"
#define EXT_ATTEMPT       "https://badgeflow.org/xapi/ext/attempt"
#define EXT_ATTEMPTS_LEFT "https://badgeflow.org/xapi/ext/attempts-left"

static const struct {
    const char *iri, *word;
} verbs[] = {
    {AN_VERB_REGISTERED, "registered"}, {AN_VERB_SUBMITTED, "submitted"},
    {AN_VERB_SCORED, "scored"},         {AN_VERB_PASSED, "passed"},
    {AN_VERB_FAILED, "failed"},         {AN_VERB_EARNED, "earned"},
    {AN_VERB_COMPLETED, "completed"},   {AN_VERB_VOIDED, "voided"},
};

const char *an_verb_display(const char *verb)
{
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcmp(verbs[i].iri, verb) == 0)
            return verbs[i].word;
    }
    return NULL;
}

/* An Agent identified by an account only: never a name, mbox or openid. */
static json_t *agent(const char *home_page, const char *pseudonym)
{
    return json_pack("{s:s, s:{s:s, s:s}}", "objectType", "Agent", "account", "homePage", home_page,
                     "name", pseudonym);
}

static json_t *object(const struct an_stmt *s)
{
    if (s->statement_ref)
        return json_pack("{s:s, s:s}", "objectType", "StatementRef", "id", s->object_id);
    if (s->object_kind)
        return json_pack("{s:s, s:s, s:{s:s}}", "objectType", "Activity", "id", s->object_id,
                         "definition", "type", s->object_kind);
    return json_pack("{s:s, s:s}", "objectType", "Activity", "id", s->object_id);
}

/* Add [{"objectType": "Activity", "id": iri}] under name when iri is set. */
static int add_ctx_activity(json_t *acts, const char *name, const char *iri)
{
    if (!iri)
        return 0;
    return json_object_set_new(acts, name,
                               json_pack("[{s:s, s:s}]", "objectType", "Activity", "id", iri));
}

static int add_ctx_extensions(json_t *ctx, const struct an_stmt *s)
{
    json_t *ext;

    if (s->attempt <= 0 && s->attempts_left < 0)
        return 0;
    ext = json_object();
    if (!ext)
        return -1;
    if (s->attempt > 0)
        json_object_set_new(ext, EXT_ATTEMPT, json_integer(s->attempt));
    if (s->attempts_left >= 0)
        json_object_set_new(ext, EXT_ATTEMPTS_LEFT, json_integer(s->attempts_left));
    return json_object_set_new(ctx, "extensions", ext);
}

/* context: registration, instructor, contextActivities, extensions (a voiding statement
 * gets none: it only points at what it voids). */
static json_t *context(const struct an_stmt *s)
{
    json_t *ctx = json_object(), *acts = json_object();

    if (!ctx || !acts)
        goto fail;
    if (s->registration)
        json_object_set_new(ctx, "registration", json_string(s->registration));
    if (s->instructor)
        json_object_set_new(ctx, "instructor", agent(s->home_page, s->instructor));
    if (add_ctx_activity(acts, "parent", s->parent) < 0 ||
        add_ctx_activity(acts, "grouping", s->grouping) < 0 ||
        add_ctx_activity(acts, "category", s->category) < 0)
        goto fail;
    if (json_object_size(acts) > 0)
        json_object_set(ctx, "contextActivities", acts);
    json_decref(acts);
    if (add_ctx_extensions(ctx, s) < 0)
        goto fail_ctx;
    return ctx;
fail:
    json_decref(acts);
fail_ctx:
    json_decref(ctx);
    return NULL;
}

static json_t *result(const struct an_stmt *s)
{
    json_t *r;

    if (s->success < 0 && !s->criteria)
        return NULL;
    r = json_object();
    if (!r)
        return NULL;
    if (s->success >= 0) {
        json_object_set_new(r, "success", json_boolean(s->success));
        json_object_set_new(r, "completion", json_true());
    }
    if (s->criteria)
        json_object_set_new(r, "extensions",
                            json_pack("{s:O}", EXT_CRITERIA, (json_t *)s->criteria));
    return r;
}

json_t *an_stmt_build(const struct an_stmt *s)
{
    char ts[BF_TIME_STRLEN];
    const char *word = an_verb_display(s->verb);
    json_t *st;

    bf_time_format(s->timestamp_ms, ts);
    st = json_pack("{s:s, s:s, s:o, s:{s:s, s:{s:s}}, s:o, s:s}", "id", s->id, "version", "1.0.3",
                   "actor", agent(s->home_page, s->actor), "verb", "id", s->verb, "display",
                   "en-US", word ? word : "did", "object", object(s), "timestamp", ts);
    if (!st)
        return NULL;
    if (!s->statement_ref) {
        json_t *ctx = context(s), *res = result(s);

        if (ctx && json_object_size(ctx) > 0)
            json_object_set(st, "context", ctx);
        json_decref(ctx);
        if (res)
            json_object_set_new(st, "result", res);
    }
    return st;
}
