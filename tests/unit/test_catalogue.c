/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the catalogue: shipped files load, bad files fail naming the field, rules work. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "badgeflow/catalogue.h"
#include "bf_test.h"

static char src_dir[1024];
static char cat_dir[1100];
static char bad_dir[1100];

static void set_dirs(void)
{
    const char *s = getenv("BF_SOURCE_DIR");

    snprintf(src_dir, sizeof(src_dir), "%s", s && *s ? s : ".");
    snprintf(cat_dir, sizeof(cat_dir), "%s/config/catalogue", src_dir);
    snprintf(bad_dir, sizeof(bad_dir), "%s/tests/data/catalogue-bad", src_dir);
}

static struct bf_cat *shipped(void)
{
    struct bf_err err = {0};
    struct bf_cat *cat = bf_cat_load_dir(cat_dir, &err);

    if (!cat)
        fprintf(stderr, "shipped catalogue: %s\n", err.msg);
    return cat;
}

/* ---- the shipped catalogue ----------------------------------------------------------- */

static void check_every_cred(const struct bf_cat *cat)
{
    for (size_t i = 0; i < bf_cat_cred_count(cat); i++) {
        const struct bf_cat_cred *c = bf_cat_cred_at(cat, i);
        CHECK(strlen(bf_cat_cred_sha256(c)) == BF_CAT_SHA256_HEXLEN);
        CHECK(bf_cat_evreq_count(c) >= 1);
        CHECK(bf_cat_criterion_count(c) >= 1);
        CHECK(strncmp(bf_cat_cred_image(c), "https://", 8) == 0);
        CHECK(bf_cat_cred_policy(c)->turnaround_days >= 1);
        CHECK(bf_cat_cred_find(cat, bf_cat_cred_id(c), 0) == c);
    }
}

static void test_shipped_loads(void)
{
    struct bf_cat *cat = shipped();
    const struct bf_cat_stack *s;
    const struct bf_cat_cred *c;

    CHECK(cat != NULL);
    if (!cat)
        return;
    CHECK(bf_cat_stack_count(cat) == 5);
    CHECK(bf_cat_cred_count(cat) == 20);
    s = bf_cat_stack_find(cat, "collective-leadership");
    CHECK(s != NULL);
    CHECK_STR(bf_cat_stack_name(s), "Collective Leadership");
    CHECK_STR(bf_cat_stack_author_name(s), "Center for Teaching Quality");
    CHECK(bf_cat_stack_cred_count(s) == 4);
    CHECK_STR(bf_cat_cred_id(bf_cat_stack_cred_at(s, 0)), "cl.cultivating-a-shared-purpose");
    CHECK(bf_cat_stack_cred_at(s, 4) == NULL);
    CHECK(bf_cat_stack_find(cat, "going-public") != NULL);
    CHECK(bf_cat_stack_find(cat, "personalized-learning") != NULL);
    CHECK(bf_cat_stack_find(cat, "nope") == NULL);
    check_every_cred(cat);

    c = bf_cat_cred_find(cat, "cl.cultivating-a-shared-purpose", 0);
    CHECK(c != NULL && bf_cat_cred_version(c) == 2);
    CHECK(bf_cat_cred_find(cat, "cl.cultivating-a-shared-purpose", 2) == c);
    CHECK(bf_cat_cred_find(cat, "cl.cultivating-a-shared-purpose", 1) == NULL);
    CHECK(bf_cat_cred_find(cat, "no.such", 0) == NULL);
    if (!c)
        goto out;
    CHECK(bf_cat_cred_stack(c) == s);
    CHECK_CONTAINS(bf_cat_cred_origin(c), "collective-leadership.json");
    CHECK(bf_cat_cred_policy(c)->continuity_on_resubmission);
    CHECK(bf_cat_cred_policy(c)->attempts_allowed == 3);
    CHECK(bf_cat_cred_rule(c) == BF_CAT_RULE_CONJUNCTIVE);
    CHECK(bf_cat_criterion_count(c) == 3);
    {
        const struct bf_cat_criterion *k = bf_cat_criterion_find(c, "co-construction");
        const struct bf_cat_level *l = k ? bf_cat_level_find(k, "proficient") : NULL;
        CHECK(k && bf_cat_criterion_index(k) == 0 && bf_cat_level_count(k) == 4);
        CHECK(l && bf_cat_level_rank(l) == 2 && bf_cat_level_index(l) == 2);
        CHECK(l && bf_cat_level_passes(l));
        CHECK(k && !bf_cat_level_passes(bf_cat_level_find(k, "developing")));
        CHECK(k && bf_cat_criterion_passing(k) == l);
        CHECK(k && bf_cat_cred_rule_requires(c, k));
    }
    {
        const struct bf_cat_evreq *r = bf_cat_evreq_find(c, "classroom-video");
        CHECK(r && bf_cat_evreq_kind(r) == BF_CAT_VIDEO && bf_cat_evreq_max_duration_s(r) == 1200);
        CHECK(r && bf_cat_evreq_min_items(r) == 1 && bf_cat_evreq_max_items(r) == 1);
        r = bf_cat_evreq_find(c, "meeting-agenda");
        CHECK(r && bf_cat_evreq_kind(r) == BF_CAT_DOCUMENT && bf_cat_evreq_max_duration_s(r) == 0);
    }
    c = bf_cat_cred_find(cat, "lpl.facilitating-adult-learning", 0);
    CHECK(c && bf_cat_cred_policy(c)->expires_after_days == 1095);
    CHECK(c && bf_cat_cred_policy(c)->assessors_required == 2);
out:
    bf_cat_free(cat);
}

/* ---- bad files ----------------------------------------------------------------------- */

/* Load one bad file as its layer says and check the message. */
static void check_bad(const char *file, const char *layer, const char *fragment)
{
    char path[2048];
    struct bf_err err = {0};
    struct bf_cat *cat = strcmp(layer, "catalogue") == 0 ? shipped() : bf_cat_new();
    size_t stacks, creds;
    int rc;

    CHECK(cat != NULL);
    if (!cat)
        return;
    stacks = bf_cat_stack_count(cat);
    creds = bf_cat_cred_count(cat);
    snprintf(path, sizeof(path), "%s/%s", bad_dir, file);
    rc = bf_cat_load_file(cat, path, &err);
    CHECK(rc == -BF_EINVAL);
    CHECK_CONTAINS(err.msg, fragment);
    CHECK(strncmp(err.msg, path, strlen(path)) == 0); /* the message starts with the file */
    CHECK(bf_cat_stack_count(cat) == stacks && bf_cat_cred_count(cat) == creds);
    if (rc != -BF_EINVAL || !strstr(err.msg, fragment))
        fprintf(stderr, "  %s: %s\n", file, err.msg);
    bf_cat_free(cat);
}

static void test_bad_files(void)
{
    char path[1200], line[1024];
    int n = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/expected.tsv", bad_dir);
    f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        char *layer, *frag, *nl;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if ((nl = strchr(line, '\n')))
            *nl = '\0';
        layer = strchr(line, '\t');
        frag = layer ? strchr(layer + 1, '\t') : NULL;
        CHECK(layer && frag);
        if (!layer || !frag)
            continue;
        *layer++ = '\0';
        *frag++ = '\0';
        check_bad(line, layer, frag);
        n++;
    }
    fclose(f);
    CHECK(n >= 30);
}

static void test_dir_errors(void)
{
    char empty[] = "/tmp/bf-cat-empty-XXXXXX";
    struct bf_err err = {0};

    CHECK(bf_cat_load_dir("/nonexistent/catalogue", &err) == NULL);
    CHECK(err.code == BF_EIO);
    CHECK_CONTAINS(err.msg, "/nonexistent/catalogue: cannot open");
    CHECK(mkdtemp(empty) != NULL);
    CHECK(bf_cat_load_dir(empty, &err) == NULL);
    CHECK_CONTAINS(err.msg, "no catalogue files");
    rmdir(empty);
    /* A bad file anywhere in the directory fails the whole load, naming it. */
    CHECK(bf_cat_load_dir(bad_dir, &err) == NULL);
    CHECK_CONTAINS(err.msg, "tests/data/catalogue-bad/");
}

/* ---- the passing rule ---------------------------------------------------------------- */

static bool passes3(const struct bf_cat_cred *c, const char *a, const char *b, const char *d)
{
    const struct bf_cat_pick p[] = {
        {"co-construction", a}, {"alignment-to-student-outcomes", b}, {"reflection", d}};
    struct bf_err err = {0};
    bool ok = false;

    CHECK(bf_cat_passes(c, p, 3, &ok, &err) == 0);
    return ok;
}

static void test_passes_conjunctive(const struct bf_cat *cat)
{
    const struct bf_cat_cred *c = bf_cat_cred_find(cat, "cl.cultivating-a-shared-purpose", 0);
    struct bf_err err = {0};
    bool ok = true;

    CHECK(c != NULL);
    if (!c)
        return;
    CHECK(passes3(c, "proficient", "proficient", "proficient"));
    CHECK(passes3(c, "exemplary", "proficient", "exemplary"));
    CHECK(!passes3(c, "exemplary", "developing", "exemplary")); /* no averaging across criteria */
    CHECK(!passes3(c, "not_yet", "not_yet", "not_yet"));
    {
        const struct bf_cat_pick p[] = {{"reflection", "proficient"},
                                        {"co-construction", "proficient"},
                                        {"alignment-to-student-outcomes", "exemplary"}};
        CHECK(bf_cat_passes(c, p, 3, &ok, &err) == 0 && ok); /* any order */
    }
    {
        const struct bf_cat_pick p[] = {{"co-construction", "proficient"},
                                        {"alignment-to-student-outcomes", "great"},
                                        {"reflection", "proficient"}};
        CHECK(bf_cat_passes(c, p, 3, &ok, &err) == -BF_EINVAL);
        CHECK_STR(err.msg, "criteria[1].level_id: 'great' is not a level of criterion "
                           "'alignment-to-student-outcomes'");
    }
    {
        const struct bf_cat_pick p[] = {{"co-construction", "proficient"},
                                        {"co-construction", "proficient"}};
        CHECK(bf_cat_passes(c, p, 2, &ok, &err) == -BF_EINVAL);
        CHECK_STR(err.msg, "criteria[1].criterion_id: 'co-construction' is scored more than once");
    }
    {
        const struct bf_cat_pick p[] = {{"co-construction", "proficient"},
                                        {"reflection", "proficient"}};
        CHECK(bf_cat_passes(c, p, 2, &ok, &err) == -BF_EINVAL);
        CHECK_STR(err.msg, "criteria: criterion 'alignment-to-student-outcomes' is not scored");
    }
    {
        const struct bf_cat_pick p[] = {{"clarity", "proficient"}};
        CHECK(bf_cat_passes(c, p, 1, &ok, &err) == -BF_EINVAL);
        CHECK_STR(err.msg, "criteria[0].criterion_id: 'clarity' is not a criterion of "
                           "cl.cultivating-a-shared-purpose v2");
    }
}

/* building-relational-trust: at least 3 of 4, trust-building-actions always. */
static bool trust(const struct bf_cat_cred *c, const char *diag, const char *actions,
                  const char *change, const char *refl)
{
    const struct bf_cat_pick p[] = {{"trust-diagnosis", diag},
                                    {"trust-building-actions", actions},
                                    {"evidence-of-change", change},
                                    {"reflection", refl}};
    struct bf_err err = {0};
    bool ok = false;

    CHECK(bf_cat_passes(c, p, 4, &ok, &err) == 0);
    return ok;
}

static void test_passes_minimum_count(const struct bf_cat *cat)
{
    const struct bf_cat_cred *c = bf_cat_cred_find(cat, "cl.building-relational-trust", 0);

    CHECK(c != NULL);
    if (!c)
        return;
    CHECK(bf_cat_cred_rule(c) == BF_CAT_RULE_MINIMUM_COUNT && bf_cat_cred_rule_count(c) == 3);
    CHECK(bf_cat_cred_rule_requires(c, bf_cat_criterion_find(c, "trust-building-actions")));
    CHECK(!bf_cat_cred_rule_requires(c, bf_cat_criterion_find(c, "trust-diagnosis")));
    /* all four pass */
    CHECK(trust(c, "proficient", "proficient", "exemplary", "proficient"));
    /* three pass, the one below is not required */
    CHECK(trust(c, "developing", "proficient", "proficient", "proficient"));
    CHECK(trust(c, "proficient", "exemplary", "not_yet", "proficient"));
    /* three pass, but the required one does not */
    CHECK(!trust(c, "exemplary", "developing", "exemplary", "exemplary"));
    /* only two pass */
    CHECK(!trust(c, "developing", "proficient", "developing", "proficient"));
}

static void test_passes_two_levels(const struct bf_cat *cat)
{
    const struct bf_cat_cred *c = bf_cat_cred_find(cat, "pl.learner-profiles", 0);
    const struct bf_cat_pick yes[] = {{"profile-design", "met"},
                                      {"learner-voice", "met"},
                                      {"instructional-use", "met"},
                                      {"reflection", "met"}};
    const struct bf_cat_pick no[] = {{"profile-design", "met"},
                                     {"learner-voice", "not_yet"},
                                     {"instructional-use", "met"},
                                     {"reflection", "met"}};
    struct bf_err err = {0};
    bool ok = false;

    CHECK(c != NULL);
    if (!c)
        return;
    CHECK(bf_cat_passes(c, yes, 4, &ok, &err) == 0 && ok);
    CHECK(bf_cat_passes(c, no, 4, &ok, &err) == 0 && !ok);
}

/* ---- evidence completeness ----------------------------------------------------------- */

static int evidence(const struct bf_cat_cred *c, const struct bf_cat_item *it, size_t n,
                    struct bf_err *err)
{
    bf_err_clear(err);
    return bf_cat_check_evidence(c, it, n, err);
}

static void test_evidence_cultivating(const struct bf_cat *cat)
{
    const struct bf_cat_cred *c = bf_cat_cred_find(cat, "cl.cultivating-a-shared-purpose", 0);
    struct bf_cat_item it[] = {
        {"clip-1", "video", "classroom-video", 14 * 60 * 1000},
        {"plan", "document", "meeting-agenda", -1},
        {"reflection", "text", "reflection", -1},
        {"plan-2", "document", "meeting-agenda", -1},
        {"plan-3", "document", "meeting-agenda", -1},
    };
    struct bf_err err = {0};

    CHECK(c != NULL);
    if (!c)
        return;
    CHECK(evidence(c, it, 3, &err) == 0);
    CHECK(evidence(c, it, 4, &err) == 0); /* meeting-agenda takes up to 2 */
    CHECK(evidence(c, it, 5, &err) == -BF_EINVAL);
    CHECK_STR(err.msg, "evidence: 'meeting-agenda' (document) takes at most 2 items, got 3");
    /* the example submission of the event docs, without its agenda */
    {
        struct bf_cat_item two[] = {it[0], it[2]};
        CHECK(evidence(c, two, 2, &err) == -BF_EINVAL);
        CHECK_STR(err.msg, "evidence: missing 'meeting-agenda' (document): needs at least 1 "
                           "item, got 0");
    }
    it[0].duration_ms = 21 * 60 * 1000 + 40 * 1000;
    CHECK(evidence(c, it, 3, &err) == -BF_EINVAL);
    CHECK_STR(err.msg, "evidence[0]: the video is 21 min 40 s long; 'classroom-video' allows at "
                       "most 20 min");
    it[0].duration_ms = 20 * 60 * 1000; /* exactly the cap is fine */
    CHECK(evidence(c, it, 3, &err) == 0);
    it[0].duration_ms = -1; /* not probed yet: not checked */
    CHECK(evidence(c, it, 3, &err) == 0);
    it[1].requirement = "lesson-plan";
    CHECK(evidence(c, it, 3, &err) == -BF_EINVAL);
    CHECK_STR(err.msg, "evidence[1].requirement: 'lesson-plan' is not an evidence requirement "
                       "of cl.cultivating-a-shared-purpose v2");
    it[1].requirement = "meeting-agenda";
    it[1].kind = "audio";
    CHECK(evidence(c, it, 3, &err) == -BF_EINVAL);
    CHECK_STR(err.msg, "evidence[1].kind: 'meeting-agenda' takes document evidence, not audio");
    it[1].kind = "pdf";
    CHECK(evidence(c, it, 3, &err) == -BF_EINVAL);
    CHECK_CONTAINS(err.msg, "evidence[1].kind: 'pdf' is not an evidence kind");
    it[1].kind = "document";
    it[2].item_id = "clip-1";
    CHECK(evidence(c, it, 3, &err) == -BF_EINVAL);
    CHECK_STR(err.msg, "evidence[2].item_id: 'clip-1' is used twice");
}

static void test_evidence_by_kind(const struct bf_cat *cat)
{
    const struct bf_cat_cred *c = bf_cat_cred_find(cat, "cl.building-relational-trust", 0);
    const struct bf_cat_cred *v = bf_cat_cred_find(cat, "vco.hosting-a-virtual-meeting", 0);
    struct bf_cat_item it[] = {
        {"survey", "document", "trust-survey", -1},
        {"talk", "audio", NULL, 300000}, /* the only audio requirement */
        {"refl", "text", NULL, -1},
        {"log", "document", "action-log", -1},
    };
    struct bf_err err = {0};

    CHECK(c && v);
    if (!c || !v)
        return;
    CHECK(evidence(c, it, 3, &err) == 0); /* action-log is optional (min 0) */
    CHECK(evidence(c, it, 4, &err) == 0);
    it[1].duration_ms = 13 * 60 * 1000;
    CHECK(evidence(c, it, 3, &err) == -BF_EINVAL);
    CHECK_STR(err.msg, "evidence[1]: the audio is 13 min long; 'conversation-audio' allows at "
                       "most 12 min");
    it[0].requirement = NULL; /* two document requirements: ambiguous */
    CHECK(evidence(c, it, 3, &err) == -BF_EINVAL);
    CHECK_STR(err.msg, "evidence[0].requirement: is required: cl.building-relational-trust v1 "
                       "takes document evidence for 'trust-survey' and 'action-log'");
    {
        struct bf_cat_item img[] = {{"pic", "image", NULL, -1}};
        CHECK(evidence(v, img, 1, &err) == -BF_EINVAL);
        CHECK_STR(err.msg, "evidence[0].kind: vco.hosting-a-virtual-meeting v1 takes no image "
                           "evidence");
    }
}

/* ---- canonical JSON, immutability, loading from the database form -------------------- */

/* A catalogue holding only the stack of c, rebuilt from canonical JSON (as from PostgreSQL). */
static struct bf_cat *from_db_form(const struct bf_cat_cred *c)
{
    struct bf_cat *db = bf_cat_new();
    struct bf_err err = {0};
    char *sj = NULL, *cj = NULL;

    CHECK(bf_cat_stack_json(bf_cat_cred_stack(c), &sj, NULL) == 0);
    CHECK(bf_cat_version_json(c, &cj, NULL) == 0);
    CHECK(db && sj && cj);
    if (db && sj && cj) {
        CHECK(bf_cat_add_stack(db, "db", sj, strlen(sj), &err) == 0);
        CHECK(bf_cat_add_stack(db, "db", sj, strlen(sj), &err) == 0); /* identical: no-op */
        CHECK(bf_cat_add_version(db, bf_cat_stack_id(bf_cat_cred_stack(c)), "db", cj, strlen(cj),
                                 &err) == 0);
    }
    free(sj);
    free(cj);
    return db;
}

static void test_canonical_round_trip(const struct bf_cat *cat)
{
    const struct bf_cat_cred *c = bf_cat_cred_find(cat, "cl.cultivating-a-shared-purpose", 0);
    char sha[BF_CAT_SHA256_HEXLEN + 1];
    char *j = NULL;
    struct bf_cat *db;
    const struct bf_cat_cred *d;

    CHECK(c != NULL);
    if (!c)
        return;
    CHECK(bf_cat_version_json(c, &j, sha) == 0);
    CHECK_STR(sha, bf_cat_cred_sha256(c));
    CHECK(j && strncmp(j, "{\"assessors_required\":1,\"attempts_allowed\":3,", 45) == 0);
    CHECK(j && !strstr(j, "\": ") && !strstr(j, "$schema"));
    free(j);
    db = from_db_form(c);
    d = db ? bf_cat_cred_find(db, "cl.cultivating-a-shared-purpose", 2) : NULL;
    CHECK(d != NULL);
    if (d) {
        CHECK_STR(bf_cat_cred_sha256(d), bf_cat_cred_sha256(c));
        CHECK_STR(bf_cat_stack_sha256(bf_cat_cred_stack(d)),
                  bf_cat_stack_sha256(bf_cat_cred_stack(c)));
        CHECK(bf_cat_stack_cred_count(bf_cat_cred_stack(d)) == 1);
    }
    bf_cat_free(db);
}

/* j with the first occurrence of from replaced by to (caller frees). */
static char *replace(const char *j, const char *from, const char *to)
{
    const char *at = strstr(j, from);
    size_t n = strlen(j) - strlen(from) + strlen(to) + 1;
    char *out = at ? malloc(n) : NULL;

    if (out)
        snprintf(out, n, "%.*s%s%s", (int)(at - j), j, to, at + strlen(from));
    return out;
}

static void test_immutable_versions(struct bf_cat *cat)
{
    const struct bf_cat_cred *c = bf_cat_cred_find(cat, "cl.cultivating-a-shared-purpose", 0);
    const char *stack = "collective-leadership";
    struct bf_err err = {0};
    char *j = NULL, *changed, *v3;

    CHECK(c && bf_cat_version_json(c, &j, NULL) == 0);
    if (!c || !j)
        return;
    CHECK(bf_cat_add_version(cat, stack, "db", j, strlen(j), &err) == 0); /* same: no-op */
    CHECK(bf_cat_cred_count(cat) == 20);
    changed = replace(j, "\"turnaround_days\":14", "\"turnaround_days\":7");
    CHECK(changed &&
          bf_cat_add_version(cat, stack, "db", changed, strlen(changed), &err) == -BF_ECONFLICT);
    CHECK_CONTAINS(err.msg, "versions are immutable: bump version");
    CHECK(bf_cat_add_version(cat, "going-public", "db", j, strlen(j), &err) == -BF_ECONFLICT);
    CHECK_CONTAINS(err.msg, "belongs to stack 'collective-leadership'");
    CHECK(bf_cat_add_version(cat, "no-such-stack", "db", j, strlen(j), &err) == -BF_ENOTFOUND);
    v3 = changed ? replace(changed, "\"version\":2", "\"version\":3") : NULL;
    CHECK(v3 && bf_cat_add_version(cat, stack, "db", v3, strlen(v3), &err) == 0);
    CHECK(bf_cat_cred_count(cat) == 21);
    CHECK(bf_cat_cred_version(bf_cat_cred_find(cat, "cl.cultivating-a-shared-purpose", 0)) == 3);
    CHECK(bf_cat_cred_find(cat, "cl.cultivating-a-shared-purpose", 2) == c);
    CHECK(bf_cat_stack_cred_count(bf_cat_stack_find(cat, stack)) == 4);
    CHECK(bf_cat_cred_version(bf_cat_stack_cred_at(bf_cat_stack_find(cat, stack), 0)) == 3);
    free(j);
    free(changed);
    free(v3);
}

static const char minimal_doc[] =
    "{\"id\":\"mini\",\"name\":\"Mini\",\"description\":\"A small stack.\","
    "\"image\":\"https://badges.badgeflow.example/mini.png\",\"credentials\":[{"
    "\"id\":\"mini.one\",\"version\":1,\"name\":\"One\",\"description\":\"d\",\"skill\":\"s\","
    "\"key_method\":\"k\",\"image\":\"https://badges.badgeflow.example/one.png\","
    "\"evidence\":[{\"id\":\"r\",\"kind\":\"text\",\"description\":\"d\",\"min_items\":1,"
    "\"max_items\":1}],\"rubric\":{\"criteria\":[{\"id\":\"c\",\"name\":\"C\","
    "\"description\":\"d\",\"levels\":[{\"id\":\"no\",\"name\":\"No\",\"description\":\"d\","
    "\"rank\":0},{\"id\":\"yes\",\"name\":\"Yes\",\"description\":\"d\",\"rank\":5}],"
    "\"passing_level\":\"yes\"}]%s},\"turnaround_days\":5%s}]}";

static void test_defaults(void)
{
    char a[2048], b[2048];
    struct bf_cat *ca = bf_cat_new(), *cb = bf_cat_new();
    struct bf_err err = {0};
    const struct bf_cat_cred *x, *y;

    snprintf(a, sizeof(a), minimal_doc, "", "");
    snprintf(b, sizeof(b), minimal_doc,
             ",\"passing_rule\":{\"type\":\"conjunctive\"},\"feedback_required\":\"below_passing\"",
             ",\"assessors_required\":1,\"attempts_allowed\":3,\"disagreement_threshold\":1,"
             "\"continuity_on_resubmission\":false");
    CHECK(bf_cat_load_buf(ca, "a", a, strlen(a), &err) == 0);
    CHECK(bf_cat_load_buf(cb, "b", b, strlen(b), &err) == 0);
    x = bf_cat_cred_find(ca, "mini.one", 1);
    y = bf_cat_cred_find(cb, "mini.one", 1);
    CHECK(x && y);
    if (x && y) {
        const struct bf_cat_policy *p = bf_cat_cred_policy(x);
        CHECK(p->assessors_required == 1 && p->attempts_allowed == 3);
        CHECK(p->disagreement_threshold == 1 && !p->continuity_on_resubmission);
        CHECK(p->feedback_required == BF_CAT_FEEDBACK_BELOW_PASSING);
        CHECK(p->expires_after_days == 0 && p->turnaround_days == 5);
        /* spelling the defaults out does not change the version's identity */
        CHECK_STR(bf_cat_cred_sha256(x), bf_cat_cred_sha256(y));
        CHECK(bf_cat_level_rank(bf_cat_level_at(bf_cat_criterion_at(x, 0), 1)) == 5);
        CHECK(bf_cat_level_index(bf_cat_level_at(bf_cat_criterion_at(x, 0), 1)) == 1);
    }
    /* buffers have no file-name rule; errors carry the origin */
    CHECK(bf_cat_load_buf(ca, "again", a, strlen(a), &err) == -BF_EINVAL);
    CHECK_STR(err.msg, "again: id: stack 'mini' is already defined in a");
    bf_cat_free(ca);
    bf_cat_free(cb);
}

static void test_kinds(void)
{
    enum bf_cat_kind k = BF_CAT_TEXT;

    CHECK(bf_cat_kind_parse("audio", &k) == 0 && k == BF_CAT_AUDIO);
    CHECK(bf_cat_kind_parse("Audio", &k) == -BF_EINVAL);
    CHECK(bf_cat_kind_parse(NULL, &k) == -BF_EINVAL);
    CHECK_STR(bf_cat_kind_name(BF_CAT_DOCUMENT), "document");
}

static void test_rules(void)
{
    struct bf_cat *cat = shipped();

    CHECK(cat != NULL);
    if (!cat)
        return;
    test_passes_conjunctive(cat);
    test_passes_minimum_count(cat);
    test_passes_two_levels(cat);
    test_evidence_cultivating(cat);
    test_evidence_by_kind(cat);
    test_canonical_round_trip(cat);
    test_immutable_versions(cat);
    bf_cat_free(cat);
}

int main(void)
{
    set_dirs();
    BF_TEST_RUN(test_shipped_loads);
    BF_TEST_RUN(test_bad_files);
    BF_TEST_RUN(test_dir_errors);
    BF_TEST_RUN(test_rules);
    BF_TEST_RUN(test_defaults);
    BF_TEST_RUN(test_kinds);
    return BF_TEST_DONE();
}
