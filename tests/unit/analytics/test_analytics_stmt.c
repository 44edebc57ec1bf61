/* SPDX-License-Identifier: Apache-2.0 */
/* xAPI statements of every verb: required fields present, accounts only, nothing personal. */
#include <string.h>

#include "analytics.h"
#include "bf_test.h"

#define HOME    "https://badgeflow.org/tenants/district-a"
#define ACTOR   "b827a6e144aa037500d569967fb3e368f2392a83bc1885e897233faf4003ebf7"
#define ASR     "2797ee1e6889a16df95a06d8040b18cc73cac807608e279206f4272777b955d6"
#define CRED    "https://badgeflow.org/xapi/credentials/cl.shared-purpose/2"
#define REG     "1e45a8f8-4279-5ee4-a59c-24fbf1bc443a"
#define SID     "60ae0340-fd0e-53de-a53e-b9ed0089ddc7"
#define EXT_CRI "https://badgeflow.org/xapi/ext/criteria"

static const char *const verbs[] = {AN_VERB_REGISTERED, AN_VERB_SUBMITTED, AN_VERB_SCORED,
                                    AN_VERB_PASSED,     AN_VERB_FAILED,    AN_VERB_EARNED,
                                    AN_VERB_COMPLETED,  AN_VERB_VOIDED};

static void stmt_base(struct an_stmt *s, const char *verb)
{
    memset(s, 0, sizeof(*s));
    s->id = SID;
    s->home_page = HOME;
    s->actor = ACTOR;
    s->verb = verb;
    s->object_id = CRED;
    s->object_kind = "http://adlnet.gov/expapi/activities/assessment";
    s->registration = REG;
    s->parent = "https://badgeflow.org/xapi/stacks/collective-leadership";
    s->grouping = "https://badgeflow.org/xapi/pilots/district-a/fall";
    s->category = "https://badgeflow.org/xapi/profile";
    s->attempts_left = -1;
    s->success = -1;
    s->timestamp_ms = 1790845200000; /* 2026-10-01T09:00:00Z */
}

static const char *str_at(const json_t *j, const char *path)
{
    char key[128];
    const char *dot;

    while (j && (dot = strchr(path, '.'))) {
        snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
        j = json_object_get(j, key);
        path = dot + 1;
    }
    return json_string_value(json_object_get(j, path));
}

/* An Agent by account only: objectType, account{homePage, name}, and nothing else. */
static void check_agent(const json_t *a, const char *name)
{
    CHECK(json_object_size(a) == 2);
    CHECK_STR(str_at(a, "objectType"), "Agent");
    CHECK(json_object_size(json_object_get(a, "account")) == 2);
    CHECK_STR(str_at(a, "account.homePage"), HOME);
    CHECK_STR(str_at(a, "account.name"), name);
}

/* No key that identifies a person, anywhere: mbox, mbox_sha1sum, openid, email, or a "name"
 * outside an account. */
static int pii_keys(const json_t *j, bool in_account)
{
    const char *k;
    json_t *v;
    size_t i;
    int n = 0;

    if (json_is_array(j)) {
        json_array_foreach((json_t *)j, i, v) n += pii_keys(v, false);
        return n;
    }
    json_object_foreach((json_t *)j, k, v)
    {
        if (!strcmp(k, "mbox") || !strcmp(k, "mbox_sha1sum") || !strcmp(k, "openid") ||
            !strcmp(k, "email") || (!strcmp(k, "name") && !in_account))
            n++;
        n += pii_keys(v, !strcmp(k, "account"));
    }
    return n;
}

static void check_required(const json_t *st, const char *verb)
{
    CHECK_STR(str_at(st, "id"), SID);
    CHECK_STR(str_at(st, "version"), "1.0.3");
    CHECK_STR(str_at(st, "timestamp"), "2026-10-01T09:00:00.000Z");
    CHECK_STR(str_at(st, "verb.id"), verb);
    CHECK_STR(str_at(st, "verb.display.en-US"), an_verb_display(verb));
    CHECK(str_at(st, "object.id") != NULL);
    check_agent(json_object_get(st, "actor"), ACTOR);
    CHECK(pii_keys(st, false) == 0);
}

static void test_every_verb(void)
{
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        struct an_stmt s;
        json_t *st;

        stmt_base(&s, verbs[i]);
        s.statement_ref = strcmp(verbs[i], AN_VERB_VOIDED) == 0;
        st = an_stmt_build(&s);
        CHECK(st != NULL);
        check_required(st, verbs[i]);
        json_decref(st);
    }
    CHECK(an_verb_display("http://example.org/unknown") == NULL);
}

static void test_submitted_context(void)
{
    struct an_stmt s;
    json_t *st, *acts;

    stmt_base(&s, AN_VERB_SUBMITTED);
    s.attempt = 2;
    st = an_stmt_build(&s);
    CHECK_STR(str_at(st, "verb.display.en-US"), "submitted");
    CHECK_STR(str_at(st, "object.objectType"), "Activity");
    CHECK_STR(str_at(st, "object.definition.type"), s.object_kind);
    CHECK_STR(str_at(st, "context.registration"), REG);
    acts = json_object_get(json_object_get(st, "context"), "contextActivities");
    CHECK_STR(str_at(json_array_get(json_object_get(acts, "parent"), 0), "id"), s.parent);
    CHECK_STR(str_at(json_array_get(json_object_get(acts, "grouping"), 0), "id"), s.grouping);
    CHECK_STR(str_at(json_array_get(json_object_get(acts, "category"), 0), "id"), s.category);
    CHECK(json_integer_value(
              json_object_get(json_object_get(json_object_get(st, "context"), "extensions"),
                              "https://badgeflow.org/xapi/ext/attempt")) == 2);
    CHECK(json_object_get(st, "result") == NULL);
    json_decref(st);
}

static void test_scored_instructor(void)
{
    struct an_stmt s;
    json_t *st, *levels = json_pack("{s:s}", "reflection", "proficient");

    stmt_base(&s, AN_VERB_SCORED);
    s.instructor = ASR;
    s.criteria = levels;
    st = an_stmt_build(&s);
    check_agent(json_object_get(json_object_get(st, "context"), "instructor"), ASR);
    CHECK(json_equal(
        json_object_get(json_object_get(json_object_get(st, "result"), "extensions"), EXT_CRI),
        levels));
    CHECK(json_object_get(json_object_get(st, "result"), "success") == NULL);
    CHECK(pii_keys(st, false) == 0);
    json_decref(st);
    json_decref(levels);
}

static void test_passed_and_failed(void)
{
    struct an_stmt s;
    json_t *st;

    stmt_base(&s, AN_VERB_PASSED);
    s.success = 1;
    st = an_stmt_build(&s);
    CHECK(json_is_true(json_object_get(json_object_get(st, "result"), "success")));
    CHECK(json_is_true(json_object_get(json_object_get(st, "result"), "completion")));
    json_decref(st);

    /* a not-yet: failed, with the attempts left */
    stmt_base(&s, AN_VERB_FAILED);
    s.success = 0;
    s.attempt = 1;
    s.attempts_left = 2;
    st = an_stmt_build(&s);
    CHECK(json_is_false(json_object_get(json_object_get(st, "result"), "success")));
    CHECK(json_integer_value(
              json_object_get(json_object_get(json_object_get(st, "context"), "extensions"),
                              "https://badgeflow.org/xapi/ext/attempts-left")) == 2);
    json_decref(st);
}

static void test_earned_completed(void)
{
    struct an_stmt s;
    json_t *st;

    stmt_base(&s, AN_VERB_EARNED);
    s.object_id = "https://badgeflow.org/xapi/achievements/cl.shared-purpose";
    s.object_kind = "http://activitystrea.ms/schema/1.0/badge";
    st = an_stmt_build(&s);
    CHECK_STR(str_at(st, "object.id"), s.object_id);
    CHECK_STR(str_at(st, "object.definition.type"), s.object_kind);
    json_decref(st);

    stmt_base(&s, AN_VERB_COMPLETED);
    s.registration = NULL;
    s.parent = NULL;
    st = an_stmt_build(&s);
    CHECK(str_at(st, "context.registration") == NULL);
    CHECK(json_object_get(json_object_get(json_object_get(st, "context"), "contextActivities"),
                          "parent") == NULL);
    json_decref(st);
}

/* Voiding: a StatementRef, and no context or result (xAPI forbids nothing else, but a
 * voiding statement only points at what it voids). */
static void test_voided(void)
{
    struct an_stmt s;
    json_t *st;

    stmt_base(&s, AN_VERB_VOIDED);
    s.statement_ref = true;
    s.object_id = "df0d3404-a7da-5a69-a040-85d49c2ce7e2";
    st = an_stmt_build(&s);
    CHECK(json_object_size(json_object_get(st, "object")) == 2);
    CHECK_STR(str_at(st, "object.objectType"), "StatementRef");
    CHECK_STR(str_at(st, "object.id"), s.object_id);
    CHECK(json_object_get(st, "context") == NULL);
    CHECK(json_object_get(st, "result") == NULL);
    json_decref(st);
}

int main(void)
{
    BF_TEST_RUN(test_every_verb);
    BF_TEST_RUN(test_submitted_context);
    BF_TEST_RUN(test_scored_instructor);
    BF_TEST_RUN(test_passed_and_failed);
    BF_TEST_RUN(test_earned_completed);
    BF_TEST_RUN(test_voided);
    return BF_TEST_DONE();
}
