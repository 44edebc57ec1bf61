/* SPDX-License-Identifier: Apache-2.0 */
/* Signing and storing a credential (micro-credential or stack), and the stack rule: every
 * credential of a stack held valid by the educator earns the stack credential, once. */
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/log.h"
#include "badgeflow/util.h"
#include "issuer.h"

#define MAX_COMPONENTS BF_CAT_MAX_CREDS_PER_STACK

static int store_row(struct bf_pg *pg, const struct issuer_store *st, const char *kid,
                     const char *jwt, const char *doc, struct bf_err *err)
{
    char ver[16], idx[16], until[32] = "";
    const char *p[15] = {st->cred_id,
                         st->tenant,
                         st->educator,
                         st->kind,
                         st->submission_id,
                         st->decision_id,
                         st->credential_id,
                         st->credential_version ? ver : NULL,
                         st->stack_id,
                         st->achievement_id,
                         kid,
                         jwt,
                         doc,
                         st->status_list_id,
                         idx};
    const char *p2[16];
    PGresult *res;

    snprintf(ver, sizeof(ver), "%d", st->credential_version);
    snprintf(idx, sizeof(idx), "%d", st->status_index);
    if (st->valid_until > 0)
        issuer_time_iso(st->valid_until, until);
    memcpy(p2, p, sizeof(p));
    p2[15] = st->valid_until > 0 ? until : NULL;
    res = ISSUER_Q(pg,
                   "INSERT INTO credentials (id, tenant_id, educator_id, kind, submission_id,"
                   " decision_id, credential_id, credential_version, stack_id, achievement_id,"
                   " kid, jwt, document, status_list_id, status_index, valid_until) VALUES"
                   " ($1::uuid, $2, $3, $4, $5, $6::uuid, $7, $8::int, $9, $10, $11, $12,"
                   " $13::jsonb, $14::uuid, $15::int, $16::timestamptz)",
                   16, p2, err);
    if (!res)
        /* Another instance committed the same decision or stack first: retry sees it. */
        return err->code == BF_ECONFLICT
                   ? bf_err_set(err, BF_ETRANSIENT, "credential issued concurrently: %s", err->msg)
                   : -err->code;
    PQclear(res);
    return 0;
}

/* credential.issued: the common fields plus the kind's own (event, merged). */
static int emit_issued(struct issuer *is, struct bf_pg *pg, const struct issuer_emitter *em,
                       const struct issuer_store *st, const json_t *doc, json_t *event,
                       struct bf_err *err)
{
    char url[ISSUER_URL_MAX + 64], jwt[ISSUER_URL_MAX + 64], surl[ISSUER_URL_MAX + 128];
    const json_t *status = json_object_get(doc, "credentialStatus");
    json_t *d;
    int rc;

    issuer_cred_url(is->base, st->cred_id, NULL, url, sizeof(url));
    issuer_cred_url(is->base, st->cred_id, ".jwt", jwt, sizeof(jwt));
    issuer_status_url(is->base, st->tenant, st->status_list_id, surl, sizeof(surl));
    d = json_pack("{sssssssssssssss{sssi}sO}", "credential_id", st->cred_id, "kind", st->kind,
                  "tenant_id", st->tenant, "educator_id", st->educator, "achievement_id",
                  st->kind[0] == 's' ? st->stack_id : st->credential_id, "url", url, "jwt_url", jwt,
                  "status_list", "url", surl, "index", st->status_index, "valid_from",
                  json_object_get(doc, "validFrom"));
    (void)status;
    if (!d)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    json_object_update(d, event);
    if (json_object_get(doc, "validUntil"))
        json_object_set(d, "valid_until", json_object_get(doc, "validUntil"));
    struct bf_emit e = {"credentials",
                        "org.badgeflow.credential.issued.v1",
                        st->kind[0] == 's' ? st->educator : st->submission_id,
                        st->cred_id,
                        NULL,
                        d};
    rc = issuer_emit(em, pg, &e, err);
    json_decref(d);
    return rc;
}

int issuer_sign_store(struct issuer *is, struct bf_pg *pg, const struct issuer_emitter *em,
                      const struct issuer_store *st, const json_t *doc,
                      const struct issuer_key *key, json_t *event, struct bf_err *err)
{
    char kid_url[ISSUER_URL_MAX + ISSUER_KID_MAX + 64];
    json_t *claims = issuer_jwt_claims(doc);
    char *jwt = NULL, *docs = json_dumps(doc, JSON_COMPACT);
    int rc;

    issuer_kid_url(is->base, st->tenant, key->kid, kid_url, sizeof(kid_url));
    rc = claims && docs ? issuer_jwt_sign(claims, key->alg, kid_url, key->pkey, &jwt, err)
                        : bf_err_set(err, BF_ENOMEM, "out of memory");
    if (rc == 0)
        rc = store_row(pg, st, key->kid, jwt, docs, err);
    if (rc == 0)
        rc = emit_issued(is, pg, em, st, doc, event, err);
    if (rc == 0)
        bf_metrics_add(issuer_m.issued, st->kind, 1);
    if (rc == 0)
        bf_log_kv(BF_LOG_INFO, "BF_ISSUER_ISSUED", "credential issued", "credential_id",
                  st->cred_id, "kind", st->kind, "tenant_id", st->tenant, "kid", key->kid, NULL);
    json_decref(claims);
    free(jwt);
    free(docs);
    return rc;
}

/* The educator's valid component credentials of stack: newest per catalogue credential. */
static PGresult *components(struct bf_pg *pg, const char *tenant, const char *educator,
                            const char *stack, struct bf_err *err)
{
    const char *p[3] = {tenant, educator, stack};

    return ISSUER_Q(pg,
                    "SELECT DISTINCT ON (credential_id) id, credential_id,"
                    " document->>'name', (SELECT count(*) FROM credentials s WHERE"
                    " s.tenant_id = $1 AND s.educator_id = $2 AND s.kind = 'stack' AND"
                    " s.stack_id = $3 AND s.revoked_at IS NULL)"
                    " FROM credentials WHERE tenant_id = $1 AND educator_id = $2 AND"
                    " kind = 'credential' AND stack_id = $3 AND revoked_at IS NULL AND"
                    " (valid_until IS NULL OR valid_until > now())"
                    " ORDER BY credential_id, issued_at DESC",
                    3, p, err);
}

/* True when every credential of the stack has a valid component among res's rows. */
static bool stack_complete(const struct bf_cat_stack *st, PGresult *res)
{
    for (size_t i = 0; i < bf_cat_stack_cred_count(st); i++) {
        const char *id = bf_cat_cred_id(bf_cat_stack_cred_at(st, i));
        bool found = false;
        for (int r = 0; r < PQntuples(res) && !found; r++)
            found = strcmp(PQgetvalue(res, r, 1), id) == 0;
        if (!found)
            return false;
    }
    return bf_cat_stack_cred_count(st) > 0;
}

static int stack_issue(struct issuer *is, struct bf_pg *pg, const struct issuer_emitter *em,
                       const char *tenant, const char *educator, const struct bf_cat_stack *st,
                       PGresult *comps, struct bf_err *err)
{
    const char *ids[MAX_COMPONENTS], *names[MAX_COMPONENTS];
    char cred_id[BF_UUID_STRLEN + 1], list_id[BF_UUID_STRLEN + 1], url[ISSUER_URL_MAX + 128];
    char salt[33];
    unsigned char r[16];
    size_t n = 0;
    int index = 0, rc;
    struct issuer_key key = {0};
    const char *p[2] = {tenant, educator};
    PGresult *who = NULL;
    json_t *doc = NULL, *ev = json_array();

    for (int i = 0; i < PQntuples(comps) && n < MAX_COMPONENTS; i++, n++) {
        ids[n] = PQgetvalue(comps, i, 0);
        names[n] = PQgetvalue(comps, i, 2);
        json_array_append_new(ev, json_string(ids[n]));
    }
    rc = issuer_key_active(pg, is->kek, tenant, is->alg, &key, err);
    if (rc == 0 && (bf_uuid_v4(cred_id) < 0 || RAND_bytes(r, 16) != 1))
        rc = bf_err_set(err, BF_EIO, "no randomness");
    if (rc == 0)
        rc = issuer_status_alloc(pg, tenant, list_id, &index, err);
    who = rc == 0 ? ISSUER_Q(pg,
                             "SELECT e.email, t.name FROM educators e JOIN tenants t ON"
                             " t.id = e.tenant_id WHERE e.tenant_id = $1 AND e.id = $2",
                             2, p, err)
                  : NULL;
    if (rc == 0 && (!who || PQntuples(who) != 1))
        rc = who ? bf_err_set(err, BF_EINTERNAL, "educator vanished") : -err->code;
    if (rc < 0)
        goto out;
    bf_hex(r, sizeof(r), salt);
    issuer_status_url(is->base, tenant, list_id, url, sizeof(url));
    int64_t now = bf_now_ms() / 1000;
    struct issuer_stack_in in = {is->base, cred_id,
                                 tenant,   PQgetvalue(who, 0, 1),
                                 educator, PQgetisnull(who, 0, 0) ? NULL : PQgetvalue(who, 0, 0),
                                 salt,     st,
                                 ids,      names,
                                 n,        url,
                                 index,    now,
                                 0};
    doc = issuer_doc_stack(&in);
    json_t *extra =
        json_pack("{sssO}", "stack_id", bf_cat_stack_id(st), "component_credential_ids", ev);
    struct issuer_store store = {cred_id,
                                 tenant,
                                 educator,
                                 "stack",
                                 NULL,
                                 NULL,
                                 NULL,
                                 bf_cat_stack_id(st),
                                 bf_cat_stack_id(st),
                                 0,
                                 list_id,
                                 index,
                                 0};
    rc = doc && extra ? issuer_sign_store(is, pg, em, &store, doc, &key, extra, err)
                      : bf_err_set(err, BF_ENOMEM, "out of memory");
    json_decref(extra);
out:
    json_decref(doc);
    json_decref(ev);
    PQclear(who);
    issuer_key_clear(&key);
    return rc;
}

int issuer_stack_check(struct issuer *is, struct bf_pg *pg, const struct issuer_emitter *em,
                       const char *tenant, const char *educator, const char *stack_id,
                       struct bf_err *err)
{
    const struct bf_cat_stack *st = is->cat ? bf_cat_stack_find(is->cat, stack_id) : NULL;
    PGresult *res;
    int rc = 0;

    if (!st)
        return 0;
    res = components(pg, tenant, educator, stack_id, err);
    if (!res)
        return -err->code;
    bool held = PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 3), "0") != 0;
    if (!held && stack_complete(st, res))
        rc = stack_issue(is, pg, em, tenant, educator, st, res, err);
    PQclear(res);
    return rc;
}
