/* SPDX-License-Identifier: Apache-2.0 */
/* decision.made → one signed OpenBadgeCredential per earned decision, in the record's
 * transaction; decisions of tenants without a key are held, never half-issued. */
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/catalogue_pg.h"
#include "badgeflow/events.h"
#include "badgeflow/json.h"
#include "badgeflow/log.h"
#include "badgeflow/metrics.h"
#include "badgeflow/util.h"
#include "issuer.h"

/* Credential ids are derived from the decision: a retried transaction mints the same id. */
#define NS_CREDENTIAL "3d9a51c0-7e2b-5f41-8c6d-0b1a2e3f4c5d"

int issuer_emit(const struct issuer_emitter *em, struct bf_pg *pg, const struct bf_emit *emit,
                struct bf_err *err)
{
    if (em->ev)
        return bf_daemon_emit(em->ev, emit, NULL, err);
    if (em->d)
        return bf_daemon_emit_pg(em->d, pg, emit, NULL, err);
    return bf_outbox_emit(pg, em->ctx, emit, NULL, err);
}

/* Facts about the submission the decision names; res keeps the strings. */
struct subm {
    PGresult *res;
    const char *educator, *email, *tenant_name;
    bool decision_known;
};

static int subm_load(struct bf_pg *pg, const char *tenant, const char *sub, const char *decision,
                     struct subm *s, struct bf_err *err)
{
    const char *p[3] = {tenant, sub, decision};

    s->res = ISSUER_Q(pg,
                      "SELECT s.educator_id, e.email, t.name,"
                      " EXISTS (SELECT 1 FROM decisions d WHERE d.id = $3::uuid"
                      " AND d.tenant_id = $1 AND d.submission_id = $2)"
                      " FROM submissions s JOIN educators e ON e.tenant_id = s.tenant_id"
                      " AND e.id = s.educator_id JOIN tenants t ON t.id = s.tenant_id"
                      " WHERE s.tenant_id = $1 AND s.id = $2",
                      3, p, err);
    if (!s->res)
        return -err->code;
    if (PQntuples(s->res) == 0)
        return bf_err_set(err, BF_EINVAL, "submission_id: unknown submission '%s' of tenant %s",
                          sub, tenant);
    s->educator = PQgetvalue(s->res, 0, 0);
    s->email = PQgetisnull(s->res, 0, 1) ? NULL : PQgetvalue(s->res, 0, 1);
    s->tenant_name = PQgetvalue(s->res, 0, 2);
    s->decision_known = PQgetvalue(s->res, 0, 3)[0] == 't';
    return 0;
}

/* The submission's evidence as [{item_id, kind, requirement, source_uri}]. */
static json_t *evidence_load(struct bf_pg *pg, const char *tenant, const char *sub,
                             struct bf_err *err)
{
    const char *p[2] = {tenant, sub};
    PGresult *res =
        ISSUER_Q(pg,
                 "SELECT coalesce(json_agg(json_build_object('item_id', item_id, 'kind', kind,"
                 " 'requirement', requirement, 'source_uri', source_uri,"
                 " 'submission_id', submission_id) ORDER BY position, item_id),"
                 " '[]')::text FROM evidence_items WHERE tenant_id = $1 AND submission_id = $2",
                 2, p, err);
    json_t *j = res ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;

    PQclear(res);
    return j;
}

/* The catalogue version, reloading from PostgreSQL once if it is new to us. */
static const struct bf_cat_cred *cat_find(struct issuer *is, struct bf_pg *pg, const char *id,
                                          int version, struct bf_err *err)
{
    const struct bf_cat_cred *c = is->cat ? bf_cat_cred_find(is->cat, id, version) : NULL;
    struct bf_cat *fresh;

    if (c)
        return c;
    fresh = bf_cat_load_pg(pg, err);
    if (!fresh)
        return NULL;
    bf_cat_free(is->cat);
    is->cat = fresh;
    c = bf_cat_cred_find(is->cat, id, version);
    if (!c)
        bf_err_set(err, BF_EINVAL, "credential_id: %s v%d is not in the catalogue", id, version);
    return c;
}

static bool already_issued(struct bf_pg *pg, const char *decision, struct bf_err *err, int *rc)
{
    const char *p[1] = {decision};
    PGresult *res =
        ISSUER_Q(pg, "SELECT 1 FROM credentials WHERE decision_id = $1::uuid", 1, p, err);

    *rc = res ? 0 : -err->code;
    bool found = res && PQntuples(res) > 0;
    PQclear(res);
    return found;
}

/* Keep the decision for later: a key may be generated for the tenant. */
static int hold(struct issuer *is, struct bf_pg *pg, const struct bf_ev_decision_made *dm,
                const json_t *data, const struct issuer_emitter *em, const char *reason,
                struct bf_err *err)
{
    char *js = json_dumps(data, JSON_COMPACT);
    const char *tp = em->ev ? em->ev->traceparent : NULL;
    const char *p[6] = {dm->decision_id, dm->tenant_id, dm->submission_id, js, tp, reason};
    PGresult *res;

    (void)is;
    if (!js)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    res = ISSUER_Q(pg,
                   "INSERT INTO issuer_held (decision_id, tenant_id, submission_id, data,"
                   " traceparent, reason) VALUES ($1::uuid, $2, $3, $4::jsonb, $5, $6)"
                   " ON CONFLICT (decision_id) DO UPDATE SET attempts = issuer_held.attempts"
                   " + 1, last_try_at = now(), reason = EXCLUDED.reason",
                   6, p, err);
    free(js);
    if (!res)
        return -err->code;
    PQclear(res);
    bf_log_kv(BF_LOG_WARN, "BF_ISSUER_HELD", "earned decision held: no signing key", "decision_id",
              dm->decision_id, "tenant_id", dm->tenant_id, "reason", reason, NULL);
    return 0;
}

static int unhold(struct bf_pg *pg, const char *decision, struct bf_err *err)
{
    const char *p[1] = {decision};
    PGresult *res = ISSUER_Q(pg, "DELETE FROM issuer_held WHERE decision_id = $1::uuid", 1, p, err);

    if (!res)
        return -err->code;
    PQclear(res);
    return 0;
}

/* Build, sign and store the micro-credential of dm. */
static int issue(struct issuer *is, struct bf_pg *pg, const struct issuer_emitter *em,
                 const struct bf_ev_decision_made *dm, const json_t *data, const struct subm *s,
                 const struct bf_cat_cred *c, const struct issuer_key *key, struct bf_err *err)
{
    char cred_id[BF_UUID_STRLEN + 1], list_id[BF_UUID_STRLEN + 1], url[ISSUER_URL_MAX + 128];
    char salt[33], name[160];
    unsigned char r[16];
    int index = 0, rc;
    int64_t now = bf_now_ms() / 1000, days = bf_cat_cred_policy(c)->expires_after_days;
    json_t *ev = NULL, *doc = NULL,
           *evidence = evidence_load(pg, dm->tenant_id, dm->submission_id, err);

    snprintf(name, sizeof(name), "credential:%s", dm->decision_id);
    if (!evidence || bf_uuid_v5(NS_CREDENTIAL, name, cred_id) < 0 || RAND_bytes(r, 16) != 1) {
        rc = evidence ? bf_err_set(err, BF_EIO, "no randomness") : -BF_ETRANSIENT;
        goto out;
    }
    bf_hex(r, sizeof(r), salt);
    rc = issuer_status_alloc(pg, dm->tenant_id, list_id, &index, err);
    if (rc < 0)
        goto out;
    issuer_status_url(is->base, dm->tenant_id, list_id, url, sizeof(url));
    struct issuer_doc_in in = {is->base,
                               cred_id,
                               dm->tenant_id,
                               s->tenant_name,
                               dm->educator_id,
                               s->email,
                               salt,
                               c,
                               json_object_get(data, "criteria"),
                               evidence,
                               url,
                               index,
                               now,
                               days > 0 ? now + days * 86400 : 0};
    doc = issuer_doc_credential(&in);
    ev = json_pack("{sssssi}", "submission_id", dm->submission_id, "decision_id", dm->decision_id,
                   "credential_version", dm->credential_version);
    const struct bf_cat_stack *st = bf_cat_cred_stack(c);
    struct issuer_store store = {cred_id,           dm->tenant_id,
                                 dm->educator_id,   "credential",
                                 dm->submission_id, dm->decision_id,
                                 dm->credential_id, st ? bf_cat_stack_id(st) : NULL,
                                 dm->credential_id, dm->credential_version,
                                 list_id,           index,
                                 in.valid_until};
    rc = doc && ev ? issuer_sign_store(is, pg, em, &store, doc, key, ev, err)
                   : bf_err_set(err, BF_ENOMEM, "out of memory");
    if (rc == 0 && st)
        rc = issuer_stack_check(is, pg, em, dm->tenant_id, dm->educator_id, bf_cat_stack_id(st),
                                err);
out:
    json_decref(evidence);
    json_decref(doc);
    json_decref(ev);
    return rc;
}

/* Everything but the signing: checks, hold, skip. */
static int issue_checked(struct issuer *is, struct bf_pg *pg, const struct issuer_emitter *em,
                         const struct bf_ev_decision_made *dm, const json_t *data, bool from_held,
                         bool *issued, struct bf_err *err)
{
    struct subm s = {0};
    struct issuer_key key = {0};
    const struct bf_cat_cred *c;
    int rc = 0;

    if (already_issued(pg, dm->decision_id, err, &rc) || rc < 0)
        return rc; /* a replay under another ce_id: the credential exists */
    rc = subm_load(pg, dm->tenant_id, dm->submission_id, dm->decision_id, &s, err);
    if (rc == 0 && !s.decision_known)
        rc = bf_err_set(err, BF_EINVAL, "decision_id: %s is not a recorded decision of %s",
                        dm->decision_id, dm->submission_id);
    c = rc == 0 ? cat_find(is, pg, dm->credential_id, dm->credential_version, err) : NULL;
    if (rc == 0 && !c)
        rc = -err->code;
    if (rc == 0)
        rc = issuer_key_active(pg, is->kek, dm->tenant_id, is->alg, &key, err);
    if (rc == -BF_ENOTFOUND) {
        rc = from_held ? 0 : hold(is, pg, dm, data, em, err->msg, err);
        goto out;
    }
    if (rc == 0)
        rc = issue(is, pg, em, dm, data, &s, c, &key, err);
    if (rc == 0)
        rc = unhold(pg, dm->decision_id, err);
    *issued = rc == 0;
out:
    issuer_key_clear(&key);
    PQclear(s.res);
    return rc;
}

/* An override replaces a decision: a credential issued for the old one no longer stands. */
static int revoke_superseded(struct issuer *is, struct bf_pg *pg, const struct issuer_emitter *em,
                             const struct bf_ev_decision_made *dm, struct bf_err *err)
{
    const char *p[1] = {dm->supersedes_decision_id};
    char reason[400];
    PGresult *res = ISSUER_Q(pg,
                             "SELECT id FROM credentials WHERE decision_id = $1::uuid AND"
                             " revoked_at IS NULL",
                             1, p, err);
    int rc = 0;

    if (!res)
        return -err->code;
    snprintf(reason, sizeof(reason), "decision overridden: %s", dm->override.reason);
    if (PQntuples(res) == 1)
        rc = issuer_revoke(pg, is->base, em, PQgetvalue(res, 0, 0), reason,
                           dm->override.reviewer_id, err);
    PQclear(res);
    return rc;
}

int issuer_issue_decision(struct issuer *is, struct bf_pg *pg, const struct issuer_emitter *em,
                          const json_t *data, bool from_held, bool *issued, struct bf_err *err)
{
    struct bf_ev_decision_made dm = {0};
    int rc = bf_ev_decision_made_decode(data, &dm, err);

    *issued = false;
    if (rc < 0)
        return rc;
    if (dm.supersedes_decision_id)
        rc = revoke_superseded(is, pg, em, &dm, err);
    if (rc < 0)
        goto out;
    if (strcmp(dm.outcome, "earned") != 0) {
        bf_metrics_add(issuer_m.skipped, dm.outcome, 1);
        bf_log_kv(BF_LOG_INFO, "BF_ISSUER_SKIPPED", "decision not earned: no credential",
                  "decision_id", dm.decision_id, "outcome", dm.outcome, NULL);
        goto out;
    }
    rc = issue_checked(is, pg, em, &dm, data, from_held, issued, err);
out:
    bf_ev_decision_made_clear(&dm);
    return rc;
}

int issuer_on_decision(void *state, struct bf_event *ev, struct bf_err *err)
{
    struct issuer_emitter em = {ev, ev->d, NULL};
    bool issued = false;

    return issuer_issue_decision(state, ev->pg, &em, ev->data, false, &issued, err);
}

/* One held decision, in its own transaction. */
static int retry_one(struct issuer *is, struct bf_pg *pg, const char *js, bool *issued)
{
    struct issuer_emitter em = {NULL, is->d, NULL};
    struct bf_err err = {0};
    json_t *data = json_loads(js, 0, NULL);
    int rc = bf_pg_begin(pg, &err);

    if (rc == 0 && data)
        rc = issuer_issue_decision(is, pg, &em, data, true, issued, &err);
    if (rc == 0)
        rc = bf_pg_commit(pg, &err);
    else
        bf_pg_rollback(pg);
    if (rc < 0)
        bf_log_kv(BF_LOG_WARN, "BF_ISSUER_HELD_RETRY", "held decision not issued yet", "reason",
                  err.msg, NULL);
    json_decref(data);
    return rc;
}

int issuer_retry_held(struct issuer *is)
{
    struct bf_pg *pg = bf_daemon_pg(is->d);
    struct bf_err err = {0};
    int n = 0;
    PGresult *res = ISSUER_Q(pg,
                             "SELECT h.data::text FROM issuer_held h WHERE EXISTS (SELECT 1"
                             " FROM issuer_keys k WHERE k.tenant_id = h.tenant_id AND"
                             " k.state = 'active') ORDER BY h.held_at LIMIT 100",
                             0, NULL, &err);

    for (int i = 0; res && i < PQntuples(res); i++) {
        bool issued = false;
        if (retry_one(is, pg, PQgetvalue(res, i, 0), &issued) == 0 && issued)
            n++;
    }
    PQclear(res);
    return n;
}
