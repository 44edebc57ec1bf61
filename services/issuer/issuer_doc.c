/* SPDX-License-Identifier: Apache-2.0 */
/* Open Badges 3.0 documents: OpenBadgeCredential (OB 3.0 §B.1.1), Profile, Achievement with
 * its rubric as ResultDescriptions, AchievementSubject with a hashed identifier, Results. */
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "badgeflow/util.h"
#include "issuer.h"

#define CTX_VC  "https://www.w3.org/ns/credentials/v2"
#define CTX_OB  "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
#define CTX_EXT "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json"
#define SCHEMA                                                                                     \
    "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/"                                         \
    "ob_v3p0_achievementcredential_schema.json"
/* A fixed namespace for badgeflow's name-based UUIDs (subject ids). */
#define NS_SUBJECT "6f1c2a4e-3b7d-5e8f-9a0b-1c2d3e4f5a6b"

void issuer_time_iso(int64_t secs, char out[32])
{
    time_t t = (time_t)secs;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void issuer_profile_id(const char *base, const char *tenant, char *out, size_t n)
{
    snprintf(out, n, "%s/issuers/%s", base, tenant);
}

void issuer_cred_url(const char *base, const char *cred_id, const char *suffix, char *out, size_t n)
{
    snprintf(out, n, "%s/credentials/%s%s", base, cred_id, suffix ? suffix : "");
}

void issuer_subject_id(const char *tenant, const char *educator, char *out, size_t n)
{
    char name[300], u[BF_UUID_STRLEN + 1] = "";

    /* Stable per (tenant, educator): every credential of one educator names one subject. */
    snprintf(name, sizeof(name), "%s/%s", tenant, educator);
    if (bf_uuid_v5(NS_SUBJECT, name, u) < 0)
        u[0] = '\0';
    snprintf(out, n, "urn:uuid:%s", u);
}

json_t *issuer_doc_profile(const char *base, const char *tenant_id, const char *tenant_name)
{
    char id[ISSUER_URL_MAX + 200];

    issuer_profile_id(base, tenant_id, id, sizeof(id));
    return json_pack("{sss[s]ss}", "id", id, "type", "Profile", "name", tenant_name);
}

/* OB 3.0 §B.1.17 IdentityObject: identityHash = "sha256$" + hex(sha256(email + salt)). */
static json_t *identifier(const char *email, const char *salt)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1], hash[80], buf[400];

    snprintf(buf, sizeof(buf), "%s%s", email, salt);
    SHA256((const unsigned char *)buf, strlen(buf), md);
    bf_hex(md, sizeof(md), hex);
    snprintf(hash, sizeof(hash), "sha256$%s", hex);
    return json_pack("[{sssssssbss}]", "type", "IdentityObject", "identityHash", hash,
                     "identityType", "emailAddress", "hashed", 1, "salt", salt);
}

static json_t *subject(const char *tenant, const char *educator, const char *email,
                       const char *salt, json_t *achievement)
{
    char sid[80];
    json_t *s;

    issuer_subject_id(tenant, educator, sid, sizeof(sid));
    s = json_pack("{sss[s]so}", "id", sid, "type", "AchievementSubject", "achievement",
                  achievement);
    if (s && email)
        json_object_set_new(s, "identifier", identifier(email, salt));
    return s;
}

static void level_id(const char *ach, const char *crit, const char *level, char *out, size_t n)
{
    snprintf(out, n, "%s#%s.%s", ach, crit, level);
}

/* OB 3.0 §B.1.27 ResultDescription with §B.1.29 RubricCriterionLevels. */
static json_t *result_description(const char *ach, const struct bf_cat_criterion *k)
{
    const char *kid = bf_cat_criterion_id(k);
    char id[ISSUER_URL_MAX + 200], lid[ISSUER_URL_MAX + 300];
    json_t *levels = json_array(), *allowed = json_array();

    snprintf(id, sizeof(id), "%s#%s", ach, kid);
    for (size_t i = 0; i < bf_cat_level_count(k); i++) {
        const struct bf_cat_level *l = bf_cat_level_at(k, i);
        level_id(ach, kid, bf_cat_level_id(l), lid, sizeof(lid));
        char rank[16];
        snprintf(rank, sizeof(rank), "%d", bf_cat_level_rank(l));
        json_array_append_new(levels,
                              json_pack("{sss[s]ssssss}", "id", lid, "type", "RubricCriterionLevel",
                                        "name", bf_cat_level_name(l), "description",
                                        bf_cat_level_description(l) ?: "", "level", rank));
        json_array_append_new(allowed, json_string(bf_cat_level_name(l)));
    }
    level_id(ach, kid, bf_cat_level_id(bf_cat_criterion_passing(k)), lid, sizeof(lid));
    return json_pack("{sss[s]sssssssoso}", "id", id, "type", "ResultDescription", "name",
                     bf_cat_criterion_name(k), "resultType", "RubricCriterionLevel",
                     "requiredLevel", lid, "rubricCriterionLevel", levels, "allowedValue", allowed);
}

static json_t *achievement(const char *base, const struct bf_cat_cred *c, char *ach, size_t n)
{
    json_t *rds = json_array(), *a;
    char narrative[2048];

    snprintf(ach, n, "%s/achievements/%s/v%d", base, bf_cat_cred_id(c), bf_cat_cred_version(c));
    snprintf(narrative, sizeof(narrative), "%s%s%s", bf_cat_cred_skill(c) ?: "",
             bf_cat_cred_key_method(c) ? " Key method: " : "", bf_cat_cred_key_method(c) ?: "");
    for (size_t i = 0; i < bf_cat_criterion_count(c); i++) {
        json_array_append_new(rds, result_description(ach, bf_cat_criterion_at(c, i)));
    }
    a = json_pack("{sss[s]sssssss{ss}s{ssss}so}", "id", ach, "type", "Achievement", "name",
                  bf_cat_cred_name(c), "description", bf_cat_cred_description(c) ?: "",
                  "achievementType", "MicroCredential", "criteria", "narrative", narrative, "image",
                  "id", bf_cat_cred_image(c), "type", "Image", "resultDescription", rds);
    return a;
}

/* OB 3.0 §B.1.26 Result: one per criterion, pointing at its ResultDescription and level. */
static json_t *results(const char *ach, const json_t *criteria)
{
    json_t *out = json_array(), *item;
    char rd[ISSUER_URL_MAX + 200], lid[ISSUER_URL_MAX + 300];
    size_t i;

    json_array_foreach(criteria, i, item)
    {
        const char *k = json_string_value(json_object_get(item, "criterion_id"));
        const char *l = json_string_value(json_object_get(item, "level_id"));
        snprintf(rd, sizeof(rd), "%s#%s", ach, k ?: "");
        level_id(ach, k ?: "", l ?: "", lid, sizeof(lid));
        json_array_append_new(out, json_pack("{s[s]ssss}", "type", "Result", "resultDescription",
                                             rd, "achievedLevel", lid));
    }
    return out;
}

/* Evidence (OB 3.0 §B.1.11): https items link to their source; the others get a URN. */
static json_t *evidence(const struct issuer_doc_in *in)
{
    json_t *out = json_array(), *item;
    char urn[600];
    size_t i;

    json_array_foreach(in->evidence, i, item)
    {
        const char *uri = json_string_value(json_object_get(item, "source_uri"));
        const char *req = json_string_value(json_object_get(item, "requirement"));
        const char *kind = json_string_value(json_object_get(item, "kind"));
        snprintf(urn, sizeof(urn), "urn:badgeflow:evidence:%s:%s:%s", in->tenant_id,
                 json_string_value(json_object_get(item, "submission_id")) ?: "",
                 json_string_value(json_object_get(item, "item_id")) ?: "");
        bool https = uri && strncmp(uri, "https://", 8) == 0;
        json_array_append_new(out,
                              json_pack("{sss[s]ssss}", "id", https ? uri : urn, "type", "Evidence",
                                        "name", req ?: "evidence", "genre", kind ?: "document"));
    }
    return out;
}

/* The frame every credential shares: contexts, id, type, issuer, validity, schema, status. */
static json_t *frame(const char *base, const char *cred_id, const char *tenant,
                     const char *tenant_name, const char *name, int64_t from, int64_t until,
                     const char *status_url, int status_index)
{
    char id[80], t1[32], t2[32], sid[ISSUER_URL_MAX + 32], idx[16];
    json_t *d;

    snprintf(id, sizeof(id), "urn:uuid:%s", cred_id);
    snprintf(sid, sizeof(sid), "%s#%d", status_url, status_index);
    snprintf(idx, sizeof(idx), "%d", status_index);
    issuer_time_iso(from, t1);
    d = json_pack("{s[sss]sss[ss]sssoss}", "@context", CTX_VC, CTX_OB, CTX_EXT, "id", id, "type",
                  "VerifiableCredential", "OpenBadgeCredential", "name", name, "issuer",
                  issuer_doc_profile(base, tenant, tenant_name), "validFrom", t1);
    if (!d)
        return NULL;
    if (until > 0) {
        issuer_time_iso(until, t2);
        json_object_set_new(d, "validUntil", json_string(t2));
    }
    json_object_set_new(
        d, "credentialSchema",
        json_pack("[{ssss}]", "id", SCHEMA, "type", "1EdTechJsonSchemaValidator2019"));
    json_object_set_new(d, "credentialStatus",
                        json_pack("{ssssssssss}", "id", sid, "type", "BitstringStatusListEntry",
                                  "statusPurpose", "revocation", "statusListIndex", idx,
                                  "statusListCredential", status_url));
    return d;
}

json_t *issuer_doc_credential(const struct issuer_doc_in *in)
{
    char ach[ISSUER_URL_MAX + 200];
    json_t *d =
        frame(in->base, in->cred_id, in->tenant_id, in->tenant_name, bf_cat_cred_name(in->cred),
              in->valid_from, in->valid_until, in->status_url, in->status_index);
    json_t *a = achievement(in->base, in->cred, ach, sizeof(ach));
    json_t *s = subject(in->tenant_id, in->educator_id, in->email, in->salt, a);

    if (!d || !s) {
        json_decref(d);
        json_decref(s);
        return NULL;
    }
    json_object_set_new(s, "result", results(ach, in->criteria));
    json_object_set_new(d, "credentialSubject", s);
    json_object_set_new(d, "evidence", evidence(in));
    return d;
}

json_t *issuer_doc_stack(const struct issuer_stack_in *in)
{
    const struct bf_cat_stack *st = in->stack;
    char ach[ISSUER_URL_MAX + 200], url[ISSUER_URL_MAX + 64];
    json_t *d = frame(in->base, in->cred_id, in->tenant_id, in->tenant_name, bf_cat_stack_name(st),
                      in->valid_from, in->valid_until, in->status_url, in->status_index);
    json_t *ev = json_array(), *a, *s;

    snprintf(ach, sizeof(ach), "%s/achievements/stacks/%s", in->base, bf_cat_stack_id(st));
    a = json_pack("{sss[s]sssssss{ss}s{ssss}}", "id", ach, "type", "Achievement", "name",
                  bf_cat_stack_name(st), "description", bf_cat_stack_description(st) ?: "",
                  "achievementType", "Certificate", "criteria", "narrative",
                  "Earned every micro-credential of the stack.", "image", "id",
                  bf_cat_stack_image(st), "type", "Image");
    s = subject(in->tenant_id, in->educator_id, in->email, in->salt, a);
    if (!d || !s) {
        json_decref(d);
        json_decref(s);
        json_decref(ev);
        return NULL;
    }
    for (size_t i = 0; i < in->n_components; i++) {
        issuer_cred_url(in->base, in->component_ids[i], NULL, url, sizeof(url));
        json_array_append_new(ev,
                              json_pack("{sss[s]ssss}", "id", url, "type", "Evidence", "name",
                                        in->component_names[i], "genre", "OpenBadgeCredential"));
    }
    json_object_set_new(d, "credentialSubject", s);
    json_object_set_new(d, "evidence", ev);
    return d;
}
