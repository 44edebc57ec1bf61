/* SPDX-License-Identifier: Apache-2.0 */
/* The statement log (and LRS queue), emitting statements, and the facts handlers share. */
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/events.h"
#include "badgeflow/json.h"

#include "analytics.h"

#define STMT_INSERT "an_stmt_insert"
#define STMT_INSERT_SQL                                                                            \
    "INSERT INTO analytics_statements (statement_id, tenant_id, source_event_id, verb,"            \
    " statement, lrs_state) VALUES ($1, $2, $3, $4, $5::jsonb, $6)"                                \
    " ON CONFLICT (statement_id) DO NOTHING"

#define DIRTY "an_pilots_dirty"
#define DIRTY_SQL                                                                                  \
    "INSERT INTO analytics_pilot_dirty (tenant_id, pilot_id) SELECT tenant_id, id FROM pilots"     \
    " WHERE tenant_id = $1 ON CONFLICT DO NOTHING"

#define SUB_LOAD "an_sub_load"
#define SUB_LOAD_SQL                                                                               \
    "SELECT educator_id, credential_id, credential_version, stack_id, attempt, pilot_id,"          \
    " registration FROM analytics_submissions WHERE tenant_id = $1 AND submission_id = $2"

/* Insert the statement into the log; *fresh is false when its id was there already. */
static int stmt_record(struct bf_pg *pg, const char *tenant, const char *source_id,
                       const struct an_stmt *s, const char *json, bool lrs, bool *fresh,
                       struct bf_err *err)
{
    const char *p[6] = {s->id, tenant, source_id, s->verb, json, lrs ? "pending" : NULL};
    long long rows = 0;
    int rc = bf_pg_prepare(pg, STMT_INSERT, STMT_INSERT_SQL, err);

    if (rc == 0)
        rc = bf_pg_cmd(pg, STMT_INSERT, 6, p, &rows, err);
    *fresh = rows == 1;
    return rc;
}

int an_emit_statement(struct bf_event *ev, const struct an_stmt *s, const char *tenant, bool lrs,
                      struct bf_err *err)
{
    json_t *st = an_stmt_build(s), *data = NULL;
    char *json = NULL;
    bool fresh = false;
    int rc = -BF_ENOMEM;

    if (!st || !(json = bf_json_dump(st)))
        goto out;
    rc = stmt_record(ev->pg, tenant, ev->id, s, json, lrs, &fresh, err);
    if (rc < 0 || !fresh)
        goto out;
    data = json_pack("{s:s, s:s, s:O}", "tenant_id", tenant, "source_event_id", ev->id, "statement",
                     st);
    if (!data) {
        rc = bf_err_set(err, BF_ENOMEM, "out of memory");
        goto out;
    }
    struct bf_emit e = {"analytics", BF_EV_STATEMENT_RECORDED, s->actor, s->actor, NULL, data};
    rc = bf_daemon_emit(ev, &e, NULL, err);
out:
    if (rc == -BF_ENOMEM)
        bf_err_set(err, BF_ENOMEM, "out of memory");
    free(json);
    json_decref(data);
    json_decref(st);
    return rc;
}

int an_pilots_dirty(struct bf_pg *pg, const char *tenant, struct bf_err *err)
{
    const char *p[1] = {tenant};
    int rc = bf_pg_prepare(pg, DIRTY, DIRTY_SQL, err);

    return rc < 0 ? rc : bf_pg_cmd(pg, DIRTY, 1, p, NULL, err);
}

static void copy_col(PGresult *res, int col, char *dst, size_t n, bool *has)
{
    bool null = PQgetisnull(res, 0, col);

    bf_strlcpy(dst, null ? "" : PQgetvalue(res, 0, col), n);
    if (has)
        *has = !null;
}

static int col_int(PGresult *res, int col)
{
    long long v = 0;

    return bf_parse_ll(PQgetvalue(res, 0, col), 0, 1000000, &v) < 0 ? 0 : (int)v;
}

int an_sub_load(struct bf_pg *pg, const char *tenant, const char *submission, struct an_sub *out,
                struct bf_err *err)
{
    const char *p[2] = {tenant, submission};
    PGresult *res;
    int rc = bf_pg_prepare(pg, SUB_LOAD, SUB_LOAD_SQL, err);

    if (rc < 0)
        return rc;
    if (!(res = bf_pg_exec(pg, SUB_LOAD, 2, p, err)))
        return -err->code;
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1) {
        PQclear(res);
        return bf_err_set(err, BF_ENOTFOUND, "submission %s/%s not seen by analytics", tenant,
                          submission);
    }
    copy_col(res, 0, out->educator_id, sizeof(out->educator_id), NULL);
    copy_col(res, 1, out->credential_id, sizeof(out->credential_id), NULL);
    out->credential_version = col_int(res, 2);
    copy_col(res, 3, out->stack_id, sizeof(out->stack_id), &out->has_stack);
    out->attempt = col_int(res, 4);
    copy_col(res, 5, out->pilot_id, sizeof(out->pilot_id), &out->has_pilot);
    copy_col(res, 6, out->registration, sizeof(out->registration), NULL);
    PQclear(res);
    return 0;
}
