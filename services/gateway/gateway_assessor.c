/* SPDX-License-Identifier: Apache-2.0 */
/* The assessor's side: open assignments (blind: never the educator), one with its
 * renditions, rubric scores (→ score.submitted), release (→ assignment.release_requested). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/events.h"
#include "badgeflow/json.h"
#include "gateway.h"

#define ASSIGNMENT_JSON                                                                            \
    "jsonb_build_object('assignment_id', a.id, 'submission_id', a.submission_id,"                  \
    " 'tenant_id', a.tenant_id, 'role', a.role, 'state', a.state, 'due_at', a.due_at,"             \
    " 'assigned_at', a.created_at, 'credential_id', s.credential_id,"                              \
    " 'credential_version', s.credential_version, 'attempt', s.attempt)"

#define RENDITIONS_JSON                                                                            \
    "(SELECT coalesce(jsonb_agg(jsonb_build_object('item_id', e.item_id, 'kind', e.kind,"          \
    " 'requirement', e.requirement, 'state', e.state, 'renditions', (SELECT"                       \
    " coalesce(jsonb_agg(jsonb_build_object('name', n.name, 'uri', n.storage_key,"                 \
    " 'content_type', n.content_type, 'width', n.width, 'height', n.height, 'duration_ms',"        \
    " n.duration_ms, 'bytes', n.bytes, 'sha256', n.sha256) ORDER BY n.name), '[]')"                \
    " FROM renditions n WHERE n.tenant_id = e.tenant_id AND n.submission_id ="                     \
    " e.submission_id AND n.item_id = e.item_id)) ORDER BY e.position), '[]')"                     \
    " FROM evidence_items e WHERE e.tenant_id = a.tenant_id AND e.submission_id ="                 \
    " a.submission_id)"

static void reply_or_404(struct gw_req *r, char *s, const struct bf_err *err, const char *id)
{
    if (s)
        gw_reply_text(r, 200, s);
    else if (err->code)
        gw_problem_db(r, err);
    else
        gw_problem(r, 404, "not-found", "Not found", NULL, "no assignment '%s'", id);
    free(s);
}

void gw_assignment_list(struct gw_req *r)
{
    struct bf_err err = {0};
    const char *v[1] = {r->key.assessor_id};
    char *s = gw_query_text(r->pg,
                            "SELECT jsonb_build_object('items', coalesce(jsonb_agg(" ASSIGNMENT_JSON
                            " ORDER BY a.due_at), '[]'))::text FROM assignments a JOIN submissions"
                            " s ON s.tenant_id = a.tenant_id AND s.id = a.submission_id"
                            " WHERE a.assessor_id = $1 AND a.state = 'open'",
                            1, v, &err);

    reply_or_404(r, s, &err, "");
}

void gw_assignment_get(struct gw_req *r)
{
    struct bf_err err = {0};
    const char *v[2] = {r->key.assessor_id, r->params[0]};
    char *s = NULL;

    if (bf_uuid_valid(r->params[0]))
        s = gw_query_text(r->pg,
                          "SELECT (" ASSIGNMENT_JSON
                          " || jsonb_build_object('evidence', " RENDITIONS_JSON
                          "))::text FROM assignments a JOIN submissions s ON"
                          " s.tenant_id = a.tenant_id AND s.id = a.submission_id"
                          " WHERE a.assessor_id = $1 AND a.id = $2::uuid",
                          2, v, &err);
    reply_or_404(r, s, &err, r->params[0]);
}

/* ---- writes ---- */

/* The assignment of this assessor, locked: its submission, tenant and credential version. */
struct held {
    char submission_id[130], tenant_id[130], credential_id[70], state[16];
    int version;
};

static int hold(struct gw_req *r, struct held *h, struct bf_err *err)
{
    const char *v[2] = {r->key.assessor_id, r->params[0]};
    PGresult *res;
    long long ver = 0;

    if (!bf_uuid_valid(r->params[0]))
        return bf_err_set(err, BF_ENOTFOUND, "no assignment '%s'", r->params[0]);
    res = bf_pg_query(r->pg,
                      "SELECT a.submission_id, a.tenant_id, s.credential_id,"
                      " s.credential_version, a.state FROM assignments a JOIN submissions s ON"
                      " s.tenant_id = a.tenant_id AND s.id = a.submission_id WHERE"
                      " a.assessor_id = $1 AND a.id = $2::uuid FOR UPDATE OF a",
                      2, v, err);
    if (!res)
        return -err->code;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return bf_err_set(err, BF_ENOTFOUND, "no assignment '%s'", r->params[0]);
    }
    bf_strlcpy(h->submission_id, PQgetvalue(res, 0, 0), sizeof(h->submission_id));
    bf_strlcpy(h->tenant_id, PQgetvalue(res, 0, 1), sizeof(h->tenant_id));
    bf_strlcpy(h->credential_id, PQgetvalue(res, 0, 2), sizeof(h->credential_id));
    bf_strlcpy(h->state, PQgetvalue(res, 0, 4), sizeof(h->state));
    if (bf_parse_ll(PQgetvalue(res, 0, 3), 1, 1000000, &ver) == 0)
        h->version = (int)ver;
    PQclear(res);
    if (strcmp(h->state, "open") != 0)
        return bf_err_set(err, BF_ECONFLICT, "assignment '%s' is %s: it takes no more changes",
                          r->params[0], h->state);
    return 0;
}

/* The levels against the rubric: each criterion once, each level real (422 naming it). */
static int check_levels(struct gw_req *r, const struct held *h, const json_t *criteria,
                        struct bf_err *err)
{
    const struct bf_cat_cred *c = bf_cat_cred_find(r->gw->cat, h->credential_id, h->version);
    struct bf_cat_pick picks[BF_EV_MAX_CRITERIA];
    size_t n = json_array_size(criteria);
    bool passing;

    if (!c)
        return bf_err_set(err, BF_EINTERNAL, "credential %s v%d is not in the catalogue",
                          h->credential_id, h->version);
    for (size_t i = 0; i < n && i < BF_EV_MAX_CRITERIA; i++) {
        const json_t *k = json_array_get(criteria, i);
        picks[i].criterion_id = json_string_value(json_object_get(k, "criterion_id"));
        picks[i].level_id = json_string_value(json_object_get(k, "level_id"));
    }
    return bf_cat_passes(c, picks, n < BF_EV_MAX_CRITERIA ? n : BF_EV_MAX_CRITERIA, &passing, err);
}

static json_t *score_data(struct gw_req *r, const struct held *h, const json_t *body)
{
    char id[BF_UUID_STRLEN + 1], now[BF_TIME_STRLEN];
    json_t *d;

    if (bf_uuid_v4(id) < 0)
        return NULL;
    bf_time_format(bf_now_ms(), now);
    d = json_pack("{sssssssssssOss}", "score_id", id, "assignment_id", r->params[0],
                  "submission_id", h->submission_id, "assessor_id", r->key.assessor_id, "tenant_id",
                  h->tenant_id, "criteria", json_object_get(body, "criteria"), "submitted_at", now);
    if (d && json_object_get(body, "overall_feedback"))
        json_object_set(d, "overall_feedback", json_object_get(body, "overall_feedback"));
    return d;
}

static int score_tx(struct gw_req *r, const json_t *body, const char *sha, struct bf_err *err)
{
    const char *key = r->idem ? r->idem : r->params[0];
    enum gw_idem idem = GW_IDEM_NEW;
    struct held h = {0};
    json_t *data = NULL;
    int rc = gw_idem_begin(r, "score", key, sha, &idem, err);

    if (rc < 0 || idem == GW_IDEM_REPLAY)
        return rc;
    if (idem == GW_IDEM_CONFLICT)
        return bf_err_set(err, BF_ECONFLICT,
                          "assignment '%s' was scored already with other "
                          "scores",
                          r->params[0]);
    if ((rc = hold(r, &h, err)) < 0 ||
        (rc = check_levels(r, &h, json_object_get(body, "criteria"), err)) < 0)
        return rc;
    data = score_data(r, &h, body);
    rc = data ? gw_emit(r, BF_EV_SCORE_SUBMITTED, h.submission_id, data, NULL, err)
              : bf_err_set(err, BF_ENOMEM, "out of memory");
    if (rc == 0) {
        gw_reply_json(r, 202,
                      json_pack("{sOssssss}", "score_id", json_object_get(data, "score_id"),
                                "assignment_id", r->params[0], "submission_id", h.submission_id,
                                "state", "submitted"));
        rc = gw_idem_store(r, "score", key, sha, err);
    }
    json_decref(data);
    return rc;
}

static const char *const score_fields[] = {"criteria", "overall_feedback", NULL};

static int score_shape(const json_t *body, struct bf_err *err)
{
    json_t *crit = NULL;
    const char *s;

    if (bf_json_only(body, "", score_fields, err) < 0 ||
        bf_json_array(body, "", "criteria", 1, BF_EV_MAX_CRITERIA, &crit, err) < 0 ||
        bf_json_str_opt(body, "", "overall_feedback", 1, 20000, &s, err) < 0)
        return -BF_EINVAL;
    for (size_t i = 0; i < json_array_size(crit); i++) {
        char path[32];
        const json_t *k = json_array_get(crit, i);
        static const char *const kf[] = {"criterion_id", "level_id", "feedback", NULL};
        snprintf(path, sizeof(path), "criteria[%zu]", i);
        if (!json_is_object(k))
            return bf_err_set(err, BF_EINVAL, "%s: must be an object", path);
        if (bf_json_only(k, path, kf, err) < 0 ||
            bf_json_str(k, path, "criterion_id", 1, 64, &s, err) < 0 ||
            bf_json_str(k, path, "level_id", 1, 64, &s, err) < 0 ||
            bf_json_str_opt(k, path, "feedback", 1, 20000, &s, err) < 0)
            return -BF_EINVAL;
    }
    return 0;
}

void gw_assignment_score(struct gw_req *r)
{
    struct bf_err err = {0};
    json_t *body = gw_body_json(r);
    char sha[65];
    int rc;

    if (!body)
        return;
    if (score_shape(body, &err) < 0) {
        gw_problem_err(r, 422, "invalid", "Invalid scores", &err);
        goto out;
    }
    gw_json_sha256(body, sha);
    rc = bf_pg_begin(r->pg, &err);
    if (rc == 0)
        rc = score_tx(r, body, sha, &err);
    if (rc == 0)
        rc = bf_pg_commit(r->pg, &err);
    if (rc < 0) {
        bf_pg_rollback(r->pg);
        gw_problem_db(r, &err);
    }
out:
    json_decref(body);
}

/* ---- release ---- */

static int release_tx(struct gw_req *r, const char *reason, const char *note, struct bf_err *err)
{
    struct held h = {0};
    json_t *data;
    int rc = hold(r, &h, err);

    if (rc < 0)
        return rc;
    data =
        json_pack("{ssssssssss}", "assignment_id", r->params[0], "submission_id", h.submission_id,
                  "tenant_id", h.tenant_id, "assessor_id", r->key.assessor_id, "reason", reason);
    if (data && note)
        json_object_set_new(data, "note", json_string(note));
    rc = data ? gw_emit(r, BF_EV_ASSIGNMENT_RELEASE_REQUESTED, h.submission_id, data, NULL, err)
              : bf_err_set(err, BF_ENOMEM, "out of memory");
    json_decref(data);
    return rc;
}

void gw_assignment_release(struct gw_req *r)
{
    static const char *const fields[] = {"reason", "note", NULL};
    struct bf_err err = {0};
    json_t *body = r->body_len ? gw_body_json(r) : json_object();
    const char *reason = "released", *note = NULL;
    int rc;

    if (!body)
        return;
    if (bf_json_only(body, "", fields, &err) < 0 ||
        (json_object_get(body, "reason") &&
         bf_json_enum(body, "", "reason", "declined|released", &reason, &err) < 0) ||
        bf_json_str_opt(body, "", "note", 1, 2000, &note, &err) < 0) {
        gw_problem_err(r, 422, "invalid", "Invalid request", &err);
        goto out;
    }
    rc = bf_pg_begin(r->pg, &err);
    if (rc == 0)
        rc = release_tx(r, reason, note, &err);
    if (rc == 0)
        rc = bf_pg_commit(r->pg, &err);
    if (rc < 0) {
        bf_pg_rollback(r->pg);
        gw_problem_db(r, &err);
    } else {
        gw_reply_json(
            r, 202,
            json_pack("{ssss}", "assignment_id", r->params[0], "state", "release_requested"));
    }
out:
    json_decref(body);
}
