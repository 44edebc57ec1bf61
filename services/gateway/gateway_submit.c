/* SPDX-License-Identifier: Apache-2.0 */
/* Submissions: create (idempotent), resubmit after a not-yet, withdraw. Each write records the
 * rows and its event (through the outbox) in one transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/events.h"
#include "badgeflow/json.h"
#include "gateway.h"

static const char *const create_fields[] = {"submission_id",      "educator", "credential_id",
                                            "credential_version", "pilot_id", "evidence",
                                            "submitted_at",       NULL};

/* What a create needs once the body is validated. */
struct create {
    json_t *data; /* the event's data */
    struct bf_ev_submission_submitted ev;
    const struct bf_cat_cred *cred;
    const char *prev_id; /* resubmission of this one, or NULL */
    char sha[65];
    char event_id[BF_UUID_STRLEN + 1];
};

/* The event's data: the body plus tenant, attempt and time. */
static json_t *event_data(struct gw_req *r, const json_t *body)
{
    json_t *d = json_deep_copy(body);
    char now[BF_TIME_STRLEN];

    if (!d)
        return NULL;
    json_object_set_new(d, "tenant_id", json_string(r->key.tenant_id));
    json_object_set_new(d, "attempt", json_integer(1));
    if (!json_object_get(d, "submitted_at")) {
        bf_time_format(bf_now_ms(), now);
        json_object_set_new(d, "submitted_at", json_string(now));
    }
    return d;
}

/* Credential known, evidence meets its requirements: 422 naming the field otherwise. */
static bool check_catalogue(struct gw_req *r, struct create *c)
{
    struct bf_cat_item items[BF_CAT_MAX_ITEMS];
    struct bf_err err = {0};
    size_t n = c->ev.n_evidence < BF_CAT_MAX_ITEMS ? c->ev.n_evidence : BF_CAT_MAX_ITEMS;

    c->cred = bf_cat_cred_find(r->gw->cat, c->ev.credential_id, c->ev.credential_version);
    if (!c->cred) {
        gw_problem(r, 422, "unknown-credential", "Unknown credential", "credential_id",
                   "credential_id: '%s'%s is not in the catalogue", c->ev.credential_id,
                   c->ev.credential_version ? " at that version" : "");
        return false;
    }
    for (size_t i = 0; i < n; i++)
        items[i] = (struct bf_cat_item){c->ev.evidence[i].item_id, c->ev.evidence[i].kind,
                                        c->ev.evidence[i].requirement, -1};
    if (bf_cat_check_evidence(c->cred, items, n, &err) < 0) {
        gw_problem_err(r, 422, "evidence-requirements", "Evidence does not meet the requirements",
                       &err);
        return false;
    }
    json_object_set_new(c->data, "credential_version", json_integer(bf_cat_cred_version(c->cred)));
    return true;
}

static bool validate(struct gw_req *r, const json_t *body, struct create *c)
{
    struct bf_err err = {0};

    if (bf_json_only(body, "", create_fields, &err) < 0) {
        gw_problem_err(r, 422, "invalid", "Invalid request", &err);
        return false;
    }
    gw_json_sha256(body, c->sha);
    c->data = event_data(r, body);
    if (!c->data) {
        gw_problem(r, 500, "internal", "Internal error", NULL, "out of memory");
        return false;
    }
    return true;
}

/* After the attempt is known: decode as the event (types, formats), then the catalogue. */
static bool validate_event(struct gw_req *r, struct create *c)
{
    struct bf_err err = {0};

    if (bf_ev_submission_submitted_decode(c->data, &c->ev, &err) < 0) {
        gw_problem_err(r, 422, "invalid", "Invalid request", &err);
        return false;
    }
    return check_catalogue(r, c);
}

/* ---- the transaction ---- */

static int put_educator(struct gw_req *r, struct create *c, struct bf_err *err)
{
    struct bf_educator e = {r->key.tenant_id,           c->ev.educator.id,
                            c->ev.educator.name,        c->ev.educator.email,
                            c->ev.educator.district_id, c->ev.educator.school_id};

    return bf_admin_educator_put(r->pg, &e, err);
}

static int put_submission(struct gw_req *r, struct create *c, struct bf_err *err)
{
    char ver[16], attempt[16], at[BF_TIME_STRLEN];
    const char *v[11] = {r->key.tenant_id,
                         c->ev.submission_id,
                         c->ev.educator.id,
                         c->ev.credential_id,
                         ver,
                         attempt,
                         c->ev.previous_submission_id,
                         c->ev.pilot_id,
                         "/badgeflow/gateway",
                         c->event_id,
                         at};

    snprintf(ver, sizeof(ver), "%d", bf_cat_cred_version(c->cred));
    snprintf(attempt, sizeof(attempt), "%d", c->ev.attempt);
    bf_time_format(c->ev.submitted_at, at);
    if (gw_exec(r->pg, "SELECT set_config('badgeflow.event_id', $1, true)", 1, &v[9], err) < 0)
        return -err->code;
    return gw_exec(r->pg,
                   "INSERT INTO submissions (tenant_id, id, educator_id, credential_id,"
                   " credential_version, attempt, previous_submission_id, pilot_id, source,"
                   " event_id, submitted_at) VALUES ($1, $2, $3, $4, $5::integer, $6::integer,"
                   " $7, $8, $9, $10, $11::timestamptz)",
                   11, v, err);
}

static int put_items(struct gw_req *r, struct create *c, struct bf_err *err)
{
    for (size_t i = 0; i < c->ev.n_evidence; i++) {
        const struct bf_ev_evidence_item *it = &c->ev.evidence[i];
        char pos[16], size[24];
        const char *v[9] = {r->key.tenant_id,
                            c->ev.submission_id,
                            it->item_id,
                            pos,
                            it->kind,
                            it->requirement,
                            it->uri,
                            it->sha256,
                            it->size >= 0 ? size : NULL};
        snprintf(pos, sizeof(pos), "%zu", i);
        snprintf(size, sizeof(size), "%lld", (long long)it->size);
        if (gw_exec(r->pg,
                    "INSERT INTO evidence_items (tenant_id, submission_id, item_id, position,"
                    " kind, requirement, source_uri, declared_sha256, declared_bytes)"
                    " VALUES ($1, $2, $3, $4::integer, $5, $6, $7, $8, $9::bigint)",
                    9, v, err) < 0) {
            bf_err_prefix(err, "evidence[%zu]", i);
            return -err->code;
        }
    }
    return 0;
}

static int exists(struct gw_req *r, const char *sql, const char *id, bool *yes, struct bf_err *err)
{
    const char *v[2] = {r->key.tenant_id, id};
    char *s = gw_query_text(r->pg, sql, 2, v, err);

    if (!s && err->code)
        return -err->code;
    *yes = s != NULL;
    free(s);
    return 0;
}

static void reply_created(struct gw_req *r, struct create *c)
{
    char self[200];

    snprintf(self, sizeof(self), "/v1/submissions/%s", c->ev.submission_id);
    gw_reply_json(r, 202,
                  json_pack("{sssssssisiss?sss{ss}}", "submission_id", c->ev.submission_id, "state",
                            "received", "credential_id", c->ev.credential_id, "credential_version",
                            bf_cat_cred_version(c->cred), "attempt", c->ev.attempt,
                            "previous_submission_id", c->ev.previous_submission_id, "event_id",
                            c->event_id, "links", "self", self));
}

/* Refuse an id taken (even by a submission that came through Kafka directly). */
static int write_all(struct gw_req *r, struct create *c, struct bf_err *err)
{
    bool taken = false;
    int rc = exists(r, "SELECT 1 FROM submissions WHERE tenant_id = $1 AND id = $2",
                    c->ev.submission_id, &taken, err);

    if (rc < 0)
        return rc;
    if (taken)
        return bf_err_set(err, BF_ECONFLICT, "submission_id: '%s' exists already",
                          c->ev.submission_id);
    if ((rc = put_educator(r, c, err)) < 0 ||
        (rc = gw_emit(r, BF_EV_SUBMISSION_SUBMITTED, c->ev.submission_id, c->data, c->event_id,
                      err)) < 0 ||
        (rc = put_submission(r, c, err)) < 0 || (rc = put_items(r, c, err)) < 0)
        return rc;
    reply_created(r, c);
    return 0;
}

/* ---- resubmission: the previous attempt must be a not-yet with attempts left ---- */

#define PREV_SQL                                                                                   \
    "SELECT state, coalesce(outcome, ''), attempt, educator_id, credential_id,"                    \
    " credential_version FROM submissions WHERE tenant_id = $1 AND id = $2 FOR UPDATE"

static int prev_check(struct gw_req *r, struct create *c, PGresult *res, struct bf_err *err)
{
    const json_t *edu = json_object_get(c->data, "educator");
    const char *cid = json_string_value(json_object_get(c->data, "credential_id"));
    const struct bf_cat_cred *pc;
    long long attempt = 0;

    if (strcmp(PQgetvalue(res, 0, 0), "decided") != 0 ||
        strcmp(PQgetvalue(res, 0, 1), "not_yet") != 0)
        return bf_err_set(err, BF_ECONFLICT,
                          "submission '%s' is %s: only a 'not yet' decision can be resubmitted",
                          c->prev_id, PQgetvalue(res, 0, 0));
    if (!edu || !json_is_string(json_object_get(edu, "id")) ||
        strcmp(json_string_value(json_object_get(edu, "id")), PQgetvalue(res, 0, 3)) != 0)
        return bf_err_set(err, BF_EINVAL, "educator.id: must be the previous attempt's educator");
    if (!cid || strcmp(cid, PQgetvalue(res, 0, 4)) != 0)
        return bf_err_set(err, BF_EINVAL,
                          "credential_id: must be the previous attempt's credential");
    if (bf_parse_ll(PQgetvalue(res, 0, 2), 1, 100, &attempt) < 0)
        return bf_err_set(err, BF_EINTERNAL, "bad attempt in the database");
    pc = bf_cat_cred_find(r->gw->cat, cid, 0);
    if (pc && attempt + 1 > bf_cat_cred_policy(pc)->attempts_allowed)
        return bf_err_set(err, BF_ECONFLICT, "no attempts left: %s allows %d", cid,
                          bf_cat_cred_policy(pc)->attempts_allowed);
    json_object_set_new(c->data, "attempt", json_integer(attempt + 1));
    json_object_set_new(c->data, "previous_submission_id", json_string(c->prev_id));
    return 0;
}

static int prev_load(struct gw_req *r, struct create *c, struct bf_err *err)
{
    const char *v[2] = {r->key.tenant_id, c->prev_id};
    bool later = false;
    PGresult *res = bf_pg_query(r->pg, PREV_SQL, 2, v, err);
    int rc;

    if (!res)
        return -err->code;
    rc = PQntuples(res) == 1 ? prev_check(r, c, res, err)
                             : bf_err_set(err, BF_ENOTFOUND, "no submission '%s'", c->prev_id);
    PQclear(res);
    if (rc == 0)
        rc = exists(r,
                    "SELECT 1 FROM submissions WHERE tenant_id = $1 AND previous_submission_id"
                    " = $2",
                    c->prev_id, &later, err);
    if (rc == 0 && later)
        rc = bf_err_set(err, BF_ECONFLICT, "submission '%s' was resubmitted already", c->prev_id);
    return rc;
}

static void create_tx(struct gw_req *r, struct create *c)
{
    struct bf_err err = {0};
    enum gw_idem idem = GW_IDEM_NEW;
    const char *key =
        r->idem ? r->idem : json_string_value(json_object_get(c->data, "submission_id"));
    int rc = bf_pg_begin(r->pg, &err);

    if (rc == 0 && key)
        rc = gw_idem_begin(r, "submission", key, c->sha, &idem, &err);
    if (rc < 0 || idem != GW_IDEM_NEW)
        goto out;
    if (c->prev_id && (rc = prev_load(r, c, &err)) < 0)
        goto out;
    if (!validate_event(r, c)) /* replied */
        goto out;
    rc = write_all(r, c, &err);
    if (rc == 0 && key)
        rc = gw_idem_store(r, "submission", key, c->sha, &err);
    if (rc == 0)
        rc = bf_pg_commit(r->pg, &err);
out:
    if (rc < 0 || r->status >= 400 || idem != GW_IDEM_NEW)
        bf_pg_rollback(r->pg);
    if (idem == GW_IDEM_CONFLICT)
        gw_problem(r, 409, "idempotency-conflict", "Idempotency key reused", NULL,
                   "'%s' was used with another request body", key);
    else if (rc < 0)
        gw_problem_db(r, &err);
}

static void create(struct gw_req *r, const char *prev_id)
{
    struct create c = {0};
    json_t *body = gw_body_json(r);

    c.prev_id = prev_id;
    if (body && validate(r, body, &c)) {
        if (!json_is_string(json_object_get(c.data, "submission_id")))
            (void)validate_event(r, &c); /* names the missing field before any locking */
        else
            create_tx(r, &c);
    }
    if (r->status == 202) {
        char loc[200];
        snprintf(loc, sizeof(loc), "/v1/submissions/%s",
                 json_string_value(json_object_get(c.data, "submission_id")));
        gw_reply_header(r, "Location", loc);
    }
    bf_ev_submission_submitted_clear(&c.ev);
    json_decref(c.data);
    json_decref(body);
}

void gw_submission_create(struct gw_req *r)
{
    create(r, NULL);
}

void gw_submission_resubmit(struct gw_req *r)
{
    create(r, r->params[0]);
}

/* ---- withdraw ---- */

static int withdraw_tx(struct gw_req *r, const char *reason, struct bf_err *err)
{
    const char *v[3] = {r->key.tenant_id, r->params[0], reason};
    char now[BF_TIME_STRLEN], *state;
    json_t *data;
    int rc;

    state = gw_query_text(r->pg,
                          "SELECT state FROM submissions WHERE tenant_id = $1 AND id = $2"
                          " FOR UPDATE",
                          2, v, err);
    if (!state)
        return err->code ? -err->code
                         : bf_err_set(err, BF_ENOTFOUND, "no submission '%s'", r->params[0]);
    rc = strcmp(state, "decided") != 0 && strcmp(state, "rejected") != 0 &&
                 strcmp(state, "withdrawn") != 0
             ? 0
             : bf_err_set(err, BF_ECONFLICT,
                          "submission '%s' is %s already: it cannot be "
                          "withdrawn",
                          r->params[0], state);
    free(state);
    if (rc < 0)
        return rc;
    bf_time_format(bf_now_ms(), now);
    data = json_pack("{ssssssss}", "submission_id", r->params[0], "tenant_id", r->key.tenant_id,
                     "reason", reason, "withdrawn_at", now);
    rc = gw_emit(r, BF_EV_SUBMISSION_WITHDRAWN, r->params[0], data, NULL, err);
    json_decref(data);
    if (rc == 0)
        rc = gw_exec(r->pg,
                     "UPDATE submissions SET state = 'withdrawn', withdrawn_reason = $3"
                     " WHERE tenant_id = $1 AND id = $2",
                     3, v, err);
    return rc;
}

void gw_submission_withdraw(struct gw_req *r)
{
    struct bf_err err = {0};
    json_t *body = r->body_len ? gw_body_json(r) : json_object();
    const char *reason = "withdrawn by the district";
    int rc;

    if (!body)
        return;
    if (bf_json_str_opt(body, "", "reason", 1, 2000, &reason, &err) < 0) {
        gw_problem_err(r, 422, "invalid", "Invalid request", &err);
        goto out;
    }
    rc = bf_pg_begin(r->pg, &err);
    if (rc == 0)
        rc = withdraw_tx(r, reason, &err);
    if (rc == 0)
        rc = bf_pg_commit(r->pg, &err);
    if (rc < 0) {
        bf_pg_rollback(r->pg);
        gw_problem_db(r, &err);
    } else {
        gw_reply_json(r, 202,
                      json_pack("{ssss}", "submission_id", r->params[0], "state", "withdrawn"));
    }
out:
    json_decref(body);
}
