/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of events.c: every example decodes, every invalid example is refused by name. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>

#include "badgeflow/events.h"
#include "badgeflow/json.h"
#include "badgeflow/util.h"
#include "bf_test.h"

#define PREFIX "org.badgeflow."

static char source_dir[1024];

/* BF_SOURCE_DIR (set by tests/CMakeLists.txt), else three levels above this file. */
static void find_source_dir(void)
{
    const char *env = getenv("BF_SOURCE_DIR");
    char *slash;

    if (env && *env) {
        bf_strlcpy(source_dir, env, sizeof(source_dir));
        return;
    }
    bf_strlcpy(source_dir, __FILE__, sizeof(source_dir));
    for (int i = 0; i < 3 && (slash = strrchr(source_dir, '/')); i++)
        *slash = '\0';
    if (!strchr(__FILE__, '/'))
        bf_strlcpy(source_dir, "../..", sizeof(source_dir));
}

/* Read a whole file; caller frees. NULL if it cannot. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = '\0';
        *len = (size_t)n;
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* The JSON object in <source>/<rel>; NULL (and a failed check) if absent or not JSON. */
static json_t *load(const char *rel)
{
    char path[2048];
    struct bf_err err = {0};
    size_t len = 0;
    char *buf;
    json_t *j = NULL;

    snprintf(path, sizeof(path), "%s/%s", source_dir, rel);
    buf = slurp(path, &len);
    if (buf)
        j = bf_json_parse_object(buf, len, &err);
    if (!j)
        fprintf(stderr, "cannot load %s: %s\n", path, buf ? err.msg : "cannot read");
    CHECK(j != NULL);
    free(buf);
    return j;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in <source>/<rel> ending in suffix; NULL-terminated, caller frees each and all. */
static char **list_dir(const char *rel, const char *suffix)
{
    char path[2048];
    char **names = calloc(512, sizeof(*names));
    size_t n = 0, sl = strlen(suffix);
    struct dirent *de;
    DIR *d;

    snprintf(path, sizeof(path), "%s/%s", source_dir, rel);
    d = opendir(path);
    CHECK(d != NULL && names != NULL);
    while (d && names && n < 511 && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len > sl && strcmp(de->d_name + len - sl, suffix) == 0)
            names[n++] = strdup(de->d_name);
    }
    if (d)
        closedir(d);
    if (names)
        qsort(names, n, sizeof(*names), cmp_names);
    return names;
}

static void free_names(char **names)
{
    for (size_t i = 0; names && names[i]; i++)
        free(names[i]);
    free(names);
}

/* "credential.issued.v1.stack.json" → type "org.badgeflow.credential.issued.v1", rest "stack". */
static void split_name(const char *file, char *type, size_t n, const char **rest)
{
    const char *p = file;

    *rest = "";
    snprintf(type, n, PREFIX "%s", file);
    while ((p = strstr(p, ".v"))) {
        size_t d = strspn(p + 2, "0123456789");
        if (d > 0 && (p[2 + d] == '.' || p[2 + d] == '\0')) {
            type[strlen(PREFIX) + (size_t)(p - file) + 2 + d] = '\0';
            *rest = p[2 + d] ? p + 3 + d : "";
            return;
        }
        p += 2;
    }
}

/* ---------------------------------------------------------------- drift against the contracts */

/* Every schema has a row in bf_ev_types, and every row a schema and an example. */
static void test_types_match_schemas(void)
{
    char **schemas = list_dir("schemas/events", ".schema.json");
    char type[256], rel[512];
    size_t n_schemas = 0, n_types = 0;
    json_t *j;

    for (size_t i = 0; schemas && schemas[i]; i++) {
        if (strcmp(schemas[i], "common.schema.json") == 0)
            continue;
        n_schemas++;
        snprintf(type, sizeof(type), PREFIX "%.*s", (int)(strlen(schemas[i]) - 12), schemas[i]);
        if (!bf_ev_type_find(type))
            fprintf(stderr, "schema without a decoder: %s\n", type);
        CHECK(bf_ev_type_find(type) != NULL);
    }
    for (const struct bf_ev_type *t = bf_ev_types; t->type; t++, n_types++) {
        snprintf(rel, sizeof(rel), "schemas/events/examples/%s.json", t->type + strlen(PREFIX));
        j = load(rel);
        json_decref(j);
    }
    fprintf(stderr, "  %zu schemas, %zu decoders\n", n_schemas, n_types);
    CHECK(n_types == n_schemas && n_types == 22);
    free_names(schemas);
}

/* The topic of each type is the one docs/architecture.md's topics table gives. */
static void test_topics_match_architecture(void)
{
    size_t len = 0;
    char path[2048], needle[128];

    snprintf(path, sizeof(path), "%s/docs/architecture.md", source_dir);
    char *doc = slurp(path, &len);
    CHECK(doc != NULL);
    for (const struct bf_ev_type *t = bf_ev_types; doc && t->type; t++) {
        snprintf(needle, sizeof(needle), "`%s`", t->type + strlen(PREFIX));
        const char *hit = strstr(doc, needle), *line = hit;
        while (line && line > doc && line[-1] != '\n')
            line--;
        CHECK(line && strncmp(line, "| `", 3) == 0);
        if (!line)
            continue;
        size_t tl = strcspn(line + 3, "`");
        if (strlen(t->topic) != tl || strncmp(line + 3, t->topic, tl) != 0)
            fprintf(stderr, "%s: topic %s, architecture.md says %.*s\n", t->type, t->topic, (int)tl,
                    line + 3);
        CHECK(strlen(t->topic) == tl && strncmp(line + 3, t->topic, tl) == 0);
    }
    free(doc);
}

static void test_examples_decode(void)
{
    char **files = list_dir("schemas/events/examples", ".json");
    char type[256], rel[512];
    const char *rest;
    int n = 0;

    for (size_t i = 0; files && files[i]; i++, n++) {
        struct bf_err err = {0};
        snprintf(rel, sizeof(rel), "schemas/events/examples/%s", files[i]);
        split_name(files[i], type, sizeof(type), &rest);
        json_t *j = load(rel);
        int rc = j ? bf_ev_check(type, j, &err) : -1;
        if (rc != 0)
            fprintf(stderr, "  %s refused: %s\n", files[i], err.msg);
        CHECK(rc == 0);
        json_decref(j);
    }
    fprintf(stderr, "  %d examples decoded\n", n);
    CHECK(n >= 23);
    free_names(files);
}

/* For each invalid example, a part of the message that names the field at fault. */
static const struct {
    const char *file;
    const char *field;
} INVALID_FIELDS[] = {
    {"assignment.completed.v1.extra-educator-email.json", "educator_email: unknown field"},
    {"assignment.completed.v1.missing-score-id.json", "score_id: is required"},
    {"assignment.created.v1.bad-enum-role.json", "role: must be one of"},
    {"assignment.created.v1.bad-format-due-at.json", "due_at: must be an RFC 3339"},
    {"assignment.created.v1.extra-educator-name.json", "educator_name: unknown field"},
    {"assignment.created.v1.extra-educator.json", "educator: unknown field"},
    {"assignment.created.v1.missing-evidence.json", "evidence: is required"},
    {"assignment.created.v1.out-of-range-fencing-token.json", "fencing_token: must be"},
    {"assignment.expired.v1.missing-expired-at.json", "expired_at: is required"},
    {"assignment.expired.v1.wrong-type-fencing-token.json", "fencing_token: must be an integer"},
    {"assignment.release_requested.v1.bad-enum-reason.json", "reason: must be one of"},
    {"assignment.release_requested.v1.missing-assessor-id.json", "assessor_id: is required"},
    {"assignment.released.v1.bad-enum-reason.json", "reason: must be one of"},
    {"assignment.released.v1.extra-educator-school.json", "school_id: unknown field"},
    {"assignment.released.v1.missing-reason.json", "reason: is required"},
    {"assignment.scored.v1.bad-format-assignment-id.json", "assignment_id: must be a lower-case"},
    {"assignment.scored.v1.missing-score-id.json", "score_id: is required"},
    {"credential.issued.v1.bad-enum-kind.json", "kind: must be one of"},
    {"credential.issued.v1.bad-format-credential-id.json", "credential_id: must be a lower-case"},
    {"credential.issued.v1.bad-format-url.json", "url: must be an https URL"},
    {"credential.issued.v1.bad-pattern-url.json", "url: must be an https URL"},
    {"credential.issued.v1.inconsistent-stack-with-submission.json",
     "submission_id: must be absent for kind stack"},
    {"credential.issued.v1.missing-stack-components.json",
     "component_credential_ids: is required for kind stack"},
    {"credential.issued.v1.missing-submission-id.json",
     "submission_id: is required for kind credential"},
    {"credential.revoked.v1.missing-status-list.json", "status_list: is required"},
    {"credential.revoked.v1.out-of-range-status-index.json", "status_list.index: must be"},
    {"credential.revoked.v1.wrong-type-reason.json", "reason: must be a string"},
    {"decision.made.v1.bad-enum-aggregation.json", "rule.aggregation: must be one of"},
    {"decision.made.v1.bad-enum-outcome.json", "outcome: must be one of"},
    {"decision.made.v1.inconsistent-final-attempt.json", "final_attempt: must be true"},
    {"decision.made.v1.inconsistent-not-final.json", "final_attempt: must be false"},
    {"decision.made.v1.missing-min-passing-criteria.json",
     "rule.min_passing_criteria: is required"},
    {"decision.made.v1.missing-override.json", "override: is required"},
    {"decision.made.v1.missing-rule.json", "rule: is required"},
    {"decision.made.v1.wrong-type-feedback.json", "criteria[0].feedback: must be an array"},
    {"decision.made.v1.wrong-type-passing.json", "criteria[0].passing: must be true or false"},
    {"decision.override_requested.v1.bad-enum-outcome.json", "outcome: must be one of"},
    {"decision.override_requested.v1.missing-reason.json", "reason: is required"},
    {"decision.override_requested.v1.missing-reviewer-id.json", "reviewer_id: is required"},
    {"evidence.failed.v1.bad-enum-reason-code.json", "reason_code: must be one of"},
    {"evidence.failed.v1.missing-reason.json", "reason: is required"},
    {"evidence.failed.v1.missing-tenant-id.json", "tenant_id: is required"},
    {"evidence.processed.v1.bad-enum-rendition-name.json", "renditions[0].name: must be one of"},
    {"evidence.processed.v1.bad-pattern-media-key.json", "renditions[0].uri: must be a relative"},
    {"evidence.processed.v1.extra-metadata-gps.json", "metadata.location: unknown field"},
    {"evidence.processed.v1.missing-rendition-width.json", "renditions[0].width: is required"},
    {"evidence.processed.v1.missing-renditions.json", "renditions: is required"},
    {"evidence.processed.v1.wrong-type-bytes.json", "renditions[0].bytes: must be an integer"},
    {"pilot.metrics.v1.bad-enum-suppressed.json", "suppressed[0]: must be one of"},
    {"pilot.metrics.v1.bad-format-window-start.json", "window.start: must be a date"},
    {"pilot.metrics.v1.missing-breakdown-suppressed.json",
     "by_credential[0].suppressed: is required"},
    {"pilot.metrics.v1.missing-window.json", "window: is required"},
    {"pilot.metrics.v1.out-of-range-reach-ratio.json", "reach_ratio: must be a number in [0, 1]"},
    {"pilot.metrics.v1.wrong-type-targeted.json", "targeted: must be an integer"},
    {"routing.requested.v1.bad-enum-reason.json", "reason: must be one of"},
    {"routing.requested.v1.inconsistent-duplicate-exclusion.json",
     "exclude_assessor_ids[1]: duplicate of exclude_assessor_ids[0]"},
    {"routing.requested.v1.missing-exclude-assessor-ids.json", "exclude_assessor_ids: is required"},
    {"score.rejected.v1.bad-enum-reason-code.json", "reason_code: must be one of"},
    {"score.rejected.v1.missing-reason.json", "reason: is required"},
    {"score.submitted.v1.bad-format-score-id.json", "score_id: must be a lower-case UUID"},
    {"score.submitted.v1.missing-criteria.json", "criteria: is required"},
    {"score.submitted.v1.missing-level-id.json", "criteria[0].level_id: is required"},
    {"score.submitted.v1.too-long-feedback.json", "criteria[0].feedback: must be a string of"},
    {"score.submitted.v1.wrong-type-criteria.json", "criteria: must be an array"},
    {"statement.recorded.v1.bad-format-statement-id.json", "statement.id: must be a lower-case"},
    {"statement.recorded.v1.bad-format-verb-id.json", "statement.verb.id: must be an http(s) IRI"},
    {"statement.recorded.v1.extra-actor-mbox.json", "statement.actor.mbox: unknown field"},
    {"statement.recorded.v1.extra-actor-name.json", "statement.actor.name: unknown field"},
    {"statement.recorded.v1.extra-property.json", ": unknown field"},
    {"statement.recorded.v1.missing-verb.json", "statement.verb: is required"},
    {"submission.ready.v1.missing-credential-version.json", "credential_version: is required"},
    {"submission.ready.v1.missing-evidence-renditions.json", "evidence[0].renditions: is required"},
    {"submission.ready.v1.wrong-type-credential-version.json", "credential_version: must be"},
    {"submission.rejected.v1.bad-enum-code.json", "reasons[1].code: must be one of"},
    {"submission.rejected.v1.missing-message.json", "reasons[0].message: is required"},
    {"submission.rejected.v1.missing-reasons.json", "reasons: must be an array of 1..64"},
    {"submission.submitted.v1.bad-enum-kind.json", "evidence[1].kind: must be one of"},
    {"submission.submitted.v1.bad-format-email.json", "educator.email: must be an e-mail"},
    {"submission.submitted.v1.bad-format-submitted-at.json", "submitted_at: must be an RFC 3339"},
    {"submission.submitted.v1.bad-pattern-sha256.json", "evidence[0].sha256: must be 64"},
    {"submission.submitted.v1.bad-pattern-submission-id.json", "submission_id: must be an id"},
    {"submission.submitted.v1.bad-pattern-uri-scheme.json", "evidence[0].uri: must be an https"},
    {"submission.submitted.v1.extra-educator-property.json", "educator.photo_url: unknown field"},
    {"submission.submitted.v1.extra-property.json", ": unknown field"},
    {"submission.submitted.v1.inconsistent-no-uri-no-text.json",
     "evidence[2]: must have exactly one of uri and text"},
    {"submission.submitted.v1.inconsistent-previous-on-first-attempt.json",
     "previous_submission_id: must be absent when attempt is 1"},
    {"submission.submitted.v1.inconsistent-text-for-video.json",
     "evidence[0].text: is only allowed for kind text"},
    {"submission.submitted.v1.inconsistent-uri-and-text.json",
     "evidence[0]: must have exactly one of uri and text"},
    {"submission.submitted.v1.missing-educator-district.json", "educator.district_id: is required"},
    {"submission.submitted.v1.missing-educator.json", "educator: is required"},
    {"submission.submitted.v1.missing-evidence.json", "evidence: must be an array of 1..50"},
    {"submission.submitted.v1.missing-previous-submission.json",
     "previous_submission_id: is required when attempt > 1"},
    {"submission.submitted.v1.out-of-range-attempt.json",
     "attempt: must be an integer in [1, 100]"},
    {"submission.submitted.v1.too-long-text.json",
     "evidence[2].text: must be a string of 1..20000"},
    {"submission.submitted.v1.too-many-evidence.json", "evidence: must be an array of 1..50"},
    {"submission.submitted.v1.wrong-type-attempt.json", "attempt: must be an integer"},
    {"submission.withdrawn.v1.bad-format-withdrawn-at.json", "withdrawn_at: must be an RFC 3339"},
    {"submission.withdrawn.v1.missing-reason.json", "reason: is required"},
    {"submission.withdrawn.v1.too-long-reason.json", "reason: must be a string of 1..1000"},
    {"webhook.endpoint_disabled.v1.bad-format-failing-since.json",
     "failing_since: must be an RFC 3339"},
    {"webhook.endpoint_disabled.v1.missing-url.json", "url: is required"},
    {"webhook.endpoint_disabled.v1.out-of-range-last-status.json",
     "last_status: must be an integer in [100, 599] or null"},
};

static const char *expected_field(const char *file)
{
    for (size_t i = 0; i < BF_ARRAY_LEN(INVALID_FIELDS); i++)
        if (strcmp(INVALID_FIELDS[i].file, file) == 0)
            return INVALID_FIELDS[i].field;
    return NULL;
}

static void test_invalid_refused(void)
{
    char **files = list_dir("schemas/events/invalid", ".json");
    char type[256], rel[512];
    const char *rest, *want;
    size_t n = 0, named = 0;

    for (size_t i = 0; files && files[i]; i++, n++) {
        struct bf_err err = {0};
        snprintf(rel, sizeof(rel), "schemas/events/invalid/%s", files[i]);
        split_name(files[i], type, sizeof(type), &rest);
        json_t *j = load(rel);
        int rc = j ? bf_ev_check(type, j, &err) : 0;
        fprintf(stderr, "  %-66s %s\n", files[i], rc ? err.msg : "ACCEPTED");
        CHECK(rc == -BF_EINVAL);
        if ((want = expected_field(files[i]))) {
            named++;
            CHECK_CONTAINS(err.msg, want);
        }
        json_decref(j);
    }
    fprintf(stderr, "  %zu invalid examples refused, %zu checked for the field named\n", n, named);
    /* A row whose file is gone means the table is stale. */
    CHECK(named == BF_ARRAY_LEN(INVALID_FIELDS));
    CHECK(n >= 100);
    free_names(files);
}

/* ---------------------------------------------------------------- the table and the values */

static void test_type_table(void)
{
    struct bf_err err = {0};
    json_t *empty = json_object();
    json_t *arr = json_array();

    CHECK(bf_ev_check(PREFIX "nope.v1", empty, &err) == -BF_ENOTFOUND);
    CHECK_STR(err.msg, "unknown event type " PREFIX "nope.v1");
    CHECK(bf_ev_check(NULL, empty, &err) == -BF_ENOTFOUND);
    CHECK(bf_ev_check("submission.submitted.v1", empty, &err) == -BF_ENOTFOUND);
    CHECK(bf_ev_topic_of(PREFIX "nope.v1") == NULL);
    CHECK_STR(bf_ev_topic_of(BF_EV_PILOT_METRICS), "metrics.pilot");
    CHECK_STR(bf_ev_topic_of(BF_EV_ASSIGNMENT_SCORED), "routing");
    CHECK_STR(bf_ev_topic_of(BF_EV_CREDENTIAL_REVOKED), "credentials");
    CHECK(bf_ev_check(BF_EV_SUBMISSION_WITHDRAWN, arr, &err) == -BF_EINVAL);
    CHECK_STR(err.msg, "data: must be an object");
    CHECK(bf_ev_check(BF_EV_SUBMISSION_WITHDRAWN, NULL, &err) == -BF_EINVAL);
    CHECK(bf_ev_check(BF_EV_SUBMISSION_WITHDRAWN, empty, NULL) == -BF_EINVAL);
    for (const struct bf_ev_type *t = bf_ev_types; t->type; t++)
        CHECK(t->check(empty, &err) == -BF_EINVAL);
    json_decref(empty);
    json_decref(arr);
}

static int64_t ms(const char *t)
{
    int64_t v = 0;

    CHECK(bf_time_parse(t, &v) == 0);
    return v;
}

static void test_submission_submitted_fields(void)
{
    json_t *j = load("schemas/events/examples/submission.submitted.v1.json");
    struct bf_ev_submission_submitted ev;
    struct bf_err err = {0};

    CHECK(bf_ev_submission_submitted_decode(j, &ev, &err) == 0);
    CHECK_STR(ev.submission_id, "wcpss-sub-2026-000481");
    CHECK_STR(ev.educator.email, "maya.thompson@example.org");
    CHECK_STR(ev.educator.district_id, "wcpss");
    CHECK(ev.credential_version == 2 && ev.attempt == 2);
    CHECK_STR(ev.previous_submission_id, "wcpss-sub-2026-000117");
    CHECK_STR(ev.pilot_id, "wcpss-pilot-fall-2026");
    CHECK(ev.n_evidence == 3);
    CHECK_STR(ev.evidence[0].kind, "video");
    CHECK(ev.evidence[0].size == 734003200LL);
    CHECK(ev.evidence[0].text == NULL && ev.evidence[1].sha256 == NULL);
    CHECK(ev.evidence[1].size == 402118);
    CHECK(ev.evidence[2].uri == NULL && ev.evidence[2].size == -1);
    CHECK(strncmp(ev.evidence[2].text, "Our grade-level team", 20) == 0);
    CHECK(ev.submitted_at == ms("2026-11-23T15:58:03Z"));
    bf_ev_submission_submitted_clear(&ev);
    CHECK(ev.evidence == NULL && ev.n_evidence == 0);
    bf_ev_submission_submitted_clear(&ev); /* twice is harmless */
    json_decref(j);
}

static void test_evidence_refs_fields(void)
{
    json_t *j = load("schemas/events/examples/submission.ready.v1.json");
    json_t *c = load("schemas/events/examples/assignment.completed.v1.json");
    struct bf_ev_submission_ready ev;
    struct bf_ev_assignment_completed done;
    struct bf_err err = {0};

    CHECK(bf_ev_submission_ready_decode(j, &ev, &err) == 0);
    CHECK(ev.n_evidence == 3 && ev.evidence[0].n_renditions == 3);
    CHECK_STR(ev.evidence[0].renditions[2].name, "poster");
    CHECK(ev.evidence[0].renditions[2].duration_ms == -1);
    CHECK(ev.evidence[0].renditions[0].width == 1280 && ev.evidence[0].renditions[0].height == 720);
    CHECK(ev.evidence[0].renditions[0].bytes == 48213904);
    CHECK(ev.evidence[1].renditions[0].width == 0 && ev.evidence[1].renditions[0].codec == NULL);
    CHECK_STR(ev.evidence[2].renditions[0].content_type, "text/plain; charset=utf-8");
    bf_ev_submission_ready_clear(&ev);
    CHECK(bf_ev_assignment_completed_decode(c, &done, &err) == 0);
    CHECK(done.a.n_evidence == 0 && done.a.evidence == NULL);
    CHECK(done.a.fencing_token == 1187 && done.a.credential_version == 2);
    CHECK_STR(done.a.role, "primary");
    CHECK_STR(done.score_id, "c8e1f7a2-3b4d-4e6f-8a9b-1c2d3e4f5a6b");
    CHECK(done.completed_at == ms("2026-11-28T19:22:51Z"));
    bf_ev_assignment_completed_clear(&done);
    json_decref(j);
    json_decref(c);
}

static void test_decision_made_fields(void)
{
    json_t *j = load("schemas/events/examples/decision.made.v1.json");
    struct bf_ev_decision_made ev;
    struct bf_err err = {0};

    CHECK(bf_ev_decision_made_decode(j, &ev, &err) == 0);
    CHECK_STR(ev.outcome, "not_yet");
    CHECK(ev.n_criteria == 3 && ev.criteria[0].passing && !ev.criteria[1].passing);
    CHECK(ev.criteria[0].n_feedback == 2 && ev.criteria[2].n_feedback == 0);
    CHECK_STR(ev.criteria[1].feedback[1], "Add a measure the team will review together.");
    CHECK(ev.n_overall_feedback == 1);
    CHECK_STR(ev.rule.aggregation, "median_lower");
    CHECK(ev.rule.disagreement_levels == 1 && ev.rule.min_passing_criteria == 0);
    CHECK(ev.attempt == 2 && ev.attempts_allowed == 3 && ev.attempts_left == 1);
    CHECK(!ev.final_attempt);
    CHECK(ev.n_assessors == 2);
    CHECK_STR(ev.assessor_ids[1], "nc-assessor-0107");
    CHECK(ev.supersedes_decision_id == NULL && ev.override.reviewer_id == NULL);
    bf_ev_decision_made_clear(&ev);
    json_decref(j);
}

static void test_credential_and_webhook_fields(void)
{
    json_t *j = load("schemas/events/examples/credential.issued.v1.stack.json");
    json_t *w = load("schemas/events/examples/webhook.endpoint_disabled.v1.json");
    struct bf_ev_credential_issued ev;
    struct bf_ev_webhook_endpoint_disabled wh;
    struct bf_err err = {0};

    CHECK(bf_ev_credential_issued_decode(j, &ev, &err) == 0);
    CHECK_STR(ev.kind, "stack");
    CHECK(ev.submission_id == NULL && ev.decision_id == NULL && ev.credential_version == 0);
    CHECK_STR(ev.stack_id, "collective-leadership");
    CHECK(ev.n_components == 3);
    CHECK_STR(ev.component_credential_ids[2], "12ab34cd-56ef-4a78-9bcd-ef0123456789");
    CHECK(ev.status_list.index == 48990 && !ev.has_valid_until);
    CHECK(bf_ev_webhook_endpoint_disabled_decode(w, &wh, &err) == 0);
    CHECK(wh.last_status == 503 && wh.failed_attempts == 41);
    json_object_set_new(w, "last_status", json_null());
    json_object_del(w, "failed_attempts");
    CHECK(bf_ev_webhook_endpoint_disabled_decode(w, &wh, &err) == 0);
    CHECK(wh.last_status == 0 && wh.failed_attempts == 0);
    json_decref(j);
    json_decref(w);
}

static void test_pilot_metrics_fields(void)
{
    json_t *j = load("schemas/events/examples/pilot.metrics.v1.json");
    struct bf_ev_pilot_metrics ev;
    struct bf_err err = {0};

    CHECK(bf_ev_pilot_metrics_decode(j, &ev, &err) == 0);
    CHECK_STR(ev.window_start, "2026-09-01");
    CHECK(ev.target_ratio == 0.75 && ev.suppression_k == 5 && ev.stalled_after_days == 21);
    CHECK(ev.f.targeted == 240 && ev.f.on_target == 1 && ev.f.has_agreement);
    CHECK(ev.f.agreement.kappa == 0.62 && ev.f.has_assessor_turnaround);
    CHECK(ev.n_by_credential == 2 && ev.n_by_stack == 1);
    CHECK_STR(ev.by_credential[1].id, "vco.hosting-a-virtual-meeting");
    CHECK(ev.by_credential[1].f.earned == -1 && isnan(ev.by_credential[1].f.not_yet_rate));
    CHECK(ev.by_credential[1].f.time_to_decision.p50_s == 288000);
    CHECK(isnan(ev.by_credential[1].f.time_to_decision.p90_s));
    CHECK(ev.by_credential[1].f.n_suppressed == 7);
    CHECK_STR(ev.by_credential[1].f.suppressed[6], "stalled");
    CHECK(!ev.by_credential[0].f.has_agreement && ev.by_credential[0].f.on_target == 0);
    CHECK(!ev.by_credential[0].f.has_assessor_turnaround);
    CHECK_STR(ev.by_stack[0].id, "collective-leadership");
    bf_ev_pilot_metrics_clear(&ev);
    CHECK(ev.by_credential == NULL && ev.by_stack == NULL);
    json_decref(j);
}

static void test_statement_fields(void)
{
    json_t *j = load("schemas/events/examples/statement.recorded.v1.json");
    struct bf_ev_statement_recorded ev;
    struct bf_err err = {0};

    CHECK(bf_ev_statement_recorded_decode(j, &ev, &err) == 0);
    CHECK(ev.statement == json_object_get(j, "statement"));
    CHECK_STR(ev.actor_name, "k1_3q9YvTz0bXc2WmR7pLa4");
    CHECK_STR(ev.verb_id, "http://adlnet.gov/expapi/verbs/failed");
    CHECK(ev.verb_display != NULL);
    CHECK_STR(ev.object_type, "Activity");
    CHECK_STR(ev.version, "1.0.3");
    CHECK(ev.timestamp == ms("2026-11-29T08:15:02Z"));
    json_decref(j);
}

/* ---------------------------------------------------------------- rules, one by one */

/*
 * Load example, set member name (at "a.b" one level down) to v (stolen), decode as type:
 * want "" for success, else a part of the expected message.
 */
static void mutate(const char *example, const char *type, const char *name, json_t *v,
                   const char *want)
{
    char rel[512], key[64];
    struct bf_err err = {0};
    const char *dot = strchr(name, '.');
    json_t *j, *target;

    snprintf(rel, sizeof(rel), "schemas/events/examples/%s", example);
    j = load(rel);
    target = j;
    if (dot) {
        snprintf(key, sizeof(key), "%.*s", (int)(dot - name), name);
        target = json_object_get(j, key);
        name = dot + 1;
    }
    if (v)
        json_object_set_new(target, name, v);
    else
        json_object_del(target, name);
    int rc = bf_ev_check(type, j, &err);
    if (*want == '\0' && rc != 0)
        fprintf(stderr, "  %s %s: refused: %s\n", example, name, err.msg);
    CHECK(*want == '\0' ? rc == 0 : rc == -BF_EINVAL);
    if (*want)
        CHECK_CONTAINS(err.msg, want);
    json_decref(j);
}

#define SUBMITTED "submission.submitted.v1.json", BF_EV_SUBMISSION_SUBMITTED
#define ISSUED    "credential.issued.v1.json", BF_EV_CREDENTIAL_ISSUED

static void test_formats(void)
{
    mutate(SUBMITTED, "submitted_at", json_string("2024-02-29T23:59:60.123456789+05:30"), "");
    mutate(SUBMITTED, "submitted_at", json_string("2023-02-29T10:00:00Z"), "submitted_at: ");
    mutate(SUBMITTED, "submitted_at", json_string("2026-11-23 10:00:00Z"), "submitted_at: ");
    mutate(SUBMITTED, "submitted_at", json_string("2026-11-23T10:00:00.1234567890Z"), "at: must");
    mutate(SUBMITTED, "submission_id", json_string("a/b"), "submission_id: must be an id");
    mutate(SUBMITTED, "educator.email", json_string("a@localhost"), "educator.email: must be");
    mutate(SUBMITTED, "educator.name", json_string(""),
           "educator.name: must be a string of 1..200");
    mutate(ISSUED, "credential_id", json_string("E4B7D2C9-1A3F-4E5B-8C7D-6F0A9B8C7D21"), "lower");
    mutate(ISSUED, "url", json_string("http://localhost:8080/c/1"), "");
    mutate(ISSUED, "url", json_string("http://[::1]/c/1"), "");
    mutate(ISSUED, "url", json_string("http://example.org/c/1"), "url: must be an https URL");
    mutate(ISSUED, "url", json_string("https://x.org/a%zz"), "url: must be an https URL");
    mutate(ISSUED, "jwt_url", json_string("https:///path"), "jwt_url: must be an https URL");
}

static void test_text_counts_characters(void)
{
    /* 5000 'é' are 10,000 bytes but 5000 characters: the schema's maxLength counts characters. */
    const size_t n = 5001;
    char *text = malloc(2 * n + 1);

    CHECK(text != NULL);
    if (!text)
        return;
    for (size_t i = 0; i < n; i++)
        memcpy(text + 2 * i, "\xc3\xa9", 2);
    text[2 * n] = '\0';
    mutate("score.submitted.v1.json", BF_EV_SCORE_SUBMITTED, "overall_feedback", json_string(text),
           "overall_feedback: must be a string of 1..5000 characters");
    text[2 * (n - 1)] = '\0';
    mutate("score.submitted.v1.json", BF_EV_SCORE_SUBMITTED, "overall_feedback", json_string(text),
           "");
    free(text);
}

static void test_nulls_and_integers(void)
{
    mutate(SUBMITTED, "pilot_id", json_null(), "pilot_id: must not be null");
    mutate(SUBMITTED, "educator.email", json_null(), "educator.email: must not be null");
    mutate(SUBMITTED, "attempt", json_real(2.0), "");
    mutate(SUBMITTED, "attempt", json_real(2.5), "attempt: must be an integer in [1, 100]");
    mutate(SUBMITTED, "attempt", json_true(), "attempt: must be an integer");
    mutate("pilot.metrics.v1.json", BF_EV_PILOT_METRICS, "targeted", json_null(), "");
    mutate("pilot.metrics.v1.json", BF_EV_PILOT_METRICS, "targeted", NULL, "targeted: is required");
    mutate("pilot.metrics.v1.json", BF_EV_PILOT_METRICS, "agreement", json_null(),
           "agreement: must not be null");
    mutate("pilot.metrics.v1.json", BF_EV_PILOT_METRICS, "agreement.kappa", json_real(-1.0), "");
    mutate("pilot.metrics.v1.json", BF_EV_PILOT_METRICS, "target_ratio", json_null(),
           "target_ratio: must not be null");
}

static void test_rules_between_fields(void)
{
    mutate(SUBMITTED, "attempt", json_integer(1), "previous_submission_id: must be absent");
    mutate(ISSUED, "stack_id", json_string("collective-leadership"),
           "stack_id: must be absent for kind credential");
    mutate("credential.issued.v1.stack.json", BF_EV_CREDENTIAL_ISSUED, "decision_id",
           json_string("7b2e9c41-0f3a-4d8e-b5c6-2a1f9e8d7c60"),
           "decision_id: must be absent for kind stack");
    mutate("credential.issued.v1.stack.json", BF_EV_CREDENTIAL_ISSUED, "component_credential_ids",
           json_pack("[ss]", "e4b7d2c9-1a3f-4e5b-8c7d-6f0a9b8c7d21",
                     "e4b7d2c9-1a3f-4e5b-8c7d-6f0a9b8c7d21"),
           "component_credential_ids[1]: duplicate of component_credential_ids[0]");
    mutate("decision.made.v1.json", BF_EV_DECISION_MADE, "supersedes_decision_id",
           json_string("7b2e9c41-0f3a-4d8e-b5c6-2a1f9e8d7c60"), "override: is required");
    mutate("decision.made.v1.json", BF_EV_DECISION_MADE, "override",
           json_pack("{ssssss}", "reviewer_id", "r1", "reason", "appeal", "requested_at",
                     "2026-12-02T14:00:00Z"),
           "supersedes_decision_id: is required");
    mutate("decision.made.v1.json", BF_EV_DECISION_MADE, "assessor_ids",
           json_pack("[ss]", "a1", "a1"), "assessor_ids[1]: duplicate");
    mutate("evidence.processed.v1.json", BF_EV_EVIDENCE_PROCESSED, "renditions",
           json_pack("[{sssssssIss}]", "name", "audio", "uri", "a/b.m4a", "content_type",
                     "audio/mp4", "bytes", (json_int_t)10, "sha256",
                     "9f2b5c0e7d1a4b3c8e6f0a2d4c6b8e0f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b"),
           "renditions[0].duration_ms: is required when name is audio");
}

/* An override decision: the struct carries who, when and why. */
static void test_override_decision(void)
{
    json_t *j = load("schemas/events/examples/decision.made.v1.json");
    struct bf_ev_decision_made ev;
    struct bf_err err = {0};

    json_object_set_new(j, "supersedes_decision_id",
                        json_string("7b2e9c41-0f3a-4d8e-b5c6-2a1f9e8d7c60"));
    json_object_set_new(j, "override",
                        json_pack("{ssssss}", "reviewer_id", "wcpss-staff-1", "reason",
                                  "appeal upheld", "requested_at", "2026-12-02T14:00:00Z"));
    json_object_set_new(j, "attempts_left", json_integer(0));
    json_object_set_new(j, "final_attempt", json_true());
    CHECK(bf_ev_decision_made_decode(j, &ev, &err) == 0);
    CHECK_STR(ev.override.reviewer_id, "wcpss-staff-1");
    CHECK(ev.override.requested_at == ms("2026-12-02T14:00:00Z") && ev.final_attempt);
    bf_ev_decision_made_clear(&ev);
    /* A failed decode leaves nothing allocated and the struct safe to clear. */
    json_object_set_new(j, "decided_at", json_string("yesterday"));
    CHECK(bf_ev_decision_made_decode(j, &ev, &err) == -BF_EINVAL);
    CHECK(ev.criteria == NULL && ev.n_criteria == 0);
    bf_ev_decision_made_clear(&ev);
    json_decref(j);
}

int main(void)
{
    find_source_dir();
    fprintf(stderr, "source dir: %s\n", source_dir);
    BF_TEST_RUN(test_types_match_schemas);
    BF_TEST_RUN(test_topics_match_architecture);
    BF_TEST_RUN(test_examples_decode);
    BF_TEST_RUN(test_invalid_refused);
    BF_TEST_RUN(test_type_table);
    BF_TEST_RUN(test_submission_submitted_fields);
    BF_TEST_RUN(test_evidence_refs_fields);
    BF_TEST_RUN(test_decision_made_fields);
    BF_TEST_RUN(test_credential_and_webhook_fields);
    BF_TEST_RUN(test_pilot_metrics_fields);
    BF_TEST_RUN(test_statement_fields);
    BF_TEST_RUN(test_formats);
    BF_TEST_RUN(test_text_counts_characters);
    BF_TEST_RUN(test_nulls_and_integers);
    BF_TEST_RUN(test_rules_between_fields);
    BF_TEST_RUN(test_override_decision);
    return BF_TEST_DONE();
}
