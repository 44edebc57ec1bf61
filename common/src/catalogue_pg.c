/* SPDX-License-Identifier: Apache-2.0 */
/* The catalogue in PostgreSQL: store the loaded files, load back every stored version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/catalogue_pg.h"
#include "badgeflow/util.h"

struct store_ctx {
    const struct bf_cat *cat;
    struct bf_cat_store_report report;
};

/* Run sql with values; the result's row count in *rows (may be NULL). */
static int run(struct bf_pg *pg, const char *sql, int n, const char *const *values, int *rows,
               struct bf_err *err)
{
    PGresult *res = bf_pg_query(pg, sql, n, values, err);

    if (!res)
        return -(err ? err->code : BF_EINTERNAL);
    if (rows)
        *rows = PQntuples(res);
    PQclear(res);
    return 0;
}

static int store_stack(struct bf_pg *pg, const struct bf_cat_stack *s, struct bf_err *err)
{
    char sha[BF_CAT_SHA256_HEXLEN + 1], *json = NULL;
    int rc;

    if (bf_cat_stack_json(s, &json, sha) < 0)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    const char *values[] = {bf_cat_stack_id(s), bf_cat_stack_name(s), bf_cat_stack_description(s),
                            json, sha};
    rc = run(pg,
             "INSERT INTO stacks (id, name, description, content, sha256) VALUES ($1, $2, $3,"
             " $4::jsonb, $5) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,"
             " description = EXCLUDED.description, content = EXCLUDED.content,"
             " sha256 = EXCLUDED.sha256 WHERE stacks.sha256 <> EXCLUDED.sha256",
             5, values, NULL, err);
    free(json);
    return rc;
}

static int store_credential_row(struct bf_pg *pg, const struct bf_cat_cred *c, size_t position,
                                struct bf_err *err)
{
    char pos[24];

    snprintf(pos, sizeof(pos), "%zu", position);
    const char *values[] = {bf_cat_cred_id(c), bf_cat_stack_id(bf_cat_cred_stack(c)), pos,
                            bf_cat_cred_name(c)};
    return run(pg,
               "INSERT INTO catalogue_credentials (id, stack_id, position, name) VALUES ($1, $2,"
               " $3, $4) ON CONFLICT (id) DO UPDATE SET stack_id = EXCLUDED.stack_id,"
               " position = EXCLUDED.position, name = EXCLUDED.name, retired_at = NULL",
               4, values, NULL, err);
}

/* Insert version c unless present; a present one must carry the same digest. */
static int store_version(struct bf_pg *pg, const struct bf_cat_cred *c,
                         struct bf_cat_store_report *rep, struct bf_err *err)
{
    char sha[BF_CAT_SHA256_HEXLEN + 1], ver[16], *json = NULL;
    int rows = 0, rc;

    if (bf_cat_version_json(c, &json, sha) < 0)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    snprintf(ver, sizeof(ver), "%d", bf_cat_cred_version(c));
    const char *values[] = {bf_cat_cred_id(c), ver, json, sha, bf_cat_cred_origin(c)};
    rc = run(pg,
             "INSERT INTO credential_versions (credential_id, version, content, sha256, source)"
             " VALUES ($1, $2, $3::jsonb, $4, $5) ON CONFLICT DO NOTHING RETURNING 1",
             5, values, &rows, err);
    free(json);
    if (rc < 0 || rows == 1) {
        rep->versions_new += rows;
        return rc;
    }
    rc = run(pg,
             "SELECT 1 FROM credential_versions WHERE credential_id = $1 AND version = $2"
             " AND sha256 = $3",
             3, (const char *const[]){bf_cat_cred_id(c), ver, sha}, &rows, err);
    if (rc == 0 && rows == 0)
        return bf_err_set(err, BF_ECONFLICT,
                          "%s: credential %s version %s differs from the stored one: versions "
                          "are immutable: bump version",
                          bf_cat_cred_origin(c), bf_cat_cred_id(c), ver);
    rep->versions_kept += rc == 0;
    return rc;
}

static int point_latest(struct bf_pg *pg, const struct bf_cat_cred *c, struct bf_err *err)
{
    char ver[16];

    snprintf(ver, sizeof(ver), "%d", bf_cat_cred_version(c));
    /* The files decide: going back to an older version is a deliberate rollback. */
    return run(pg, "UPDATE catalogue_credentials SET latest_version = $2 WHERE id = $1", 2,
               (const char *const[]){bf_cat_cred_id(c), ver}, NULL, err);
}

static int store_stack_credentials(struct bf_pg *pg, const struct bf_cat_stack *s,
                                   struct bf_cat_store_report *rep, struct bf_err *err)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < bf_cat_stack_cred_count(s); i++) {
        const struct bf_cat_cred *c = bf_cat_stack_cred_at(s, i);
        rc = store_credential_row(pg, c, i, err);
        if (rc == 0)
            rc = store_version(pg, c, rep, err);
        if (rc == 0)
            rc = point_latest(pg, c, err);
    }
    return rc;
}

/* Retire credentials that are stored but absent from cat; counts them. */
static int retire_missing(struct bf_pg *pg, const struct bf_cat *cat,
                          struct bf_cat_store_report *rep, struct bf_err *err)
{
    json_t *ids = json_array();
    char *list;
    int rc;

    for (size_t i = 0; i < bf_cat_cred_count(cat); i++)
        json_array_append_new(ids, json_string(bf_cat_cred_id(bf_cat_cred_at(cat, i))));
    list = json_dumps(ids, JSON_COMPACT);
    json_decref(ids);
    if (!list)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    rc = run(pg,
             "UPDATE catalogue_credentials SET retired_at = now() WHERE retired_at IS NULL AND"
             " NOT (id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))) RETURNING 1",
             1, (const char *const[]){list}, &rep->retired, err);
    free(list);
    return rc;
}

static int store_tx(struct bf_pg *pg, void *arg, struct bf_err *err)
{
    struct store_ctx *ctx = arg;
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < bf_cat_stack_count(ctx->cat); i++) {
        const struct bf_cat_stack *s = bf_cat_stack_at(ctx->cat, i);
        rc = store_stack(pg, s, err);
        if (rc == 0)
            rc = store_stack_credentials(pg, s, &ctx->report, err);
        ctx->report.stacks += rc == 0;
    }
    if (rc == 0)
        rc = retire_missing(pg, ctx->cat, &ctx->report, err);
    return rc;
}

int bf_cat_store(struct bf_pg *pg, const struct bf_cat *cat, struct bf_cat_store_report *report,
                 struct bf_err *err)
{
    struct store_ctx ctx = {.cat = cat};
    int rc = bf_pg_tx(pg, store_tx, &ctx, err);

    if (rc == 0 && report)
        *report = ctx.report;
    return rc;
}

static int load_stacks(struct bf_pg *pg, struct bf_cat *cat, struct bf_err *err)
{
    PGresult *res =
        bf_pg_query(pg, "SELECT id, content::text FROM stacks ORDER BY id", 0, NULL, err);
    int rc = 0;

    if (!res)
        return -(err ? err->code : BF_EINTERNAL);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        char origin[160];
        snprintf(origin, sizeof(origin), "stacks[%s]", PQgetvalue(res, i, 0));
        rc = bf_cat_add_stack(cat, origin, PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1),
                              err);
    }
    PQclear(res);
    return rc;
}

/* The stored digest must be the digest of what was read back (no silent drift). */
static int check_digest(const struct bf_cat *cat, const PGresult *res, int row, const char *origin,
                        struct bf_err *err)
{
    long long version = 0;
    const struct bf_cat_cred *c;

    if (bf_parse_ll(PQgetvalue(res, row, 2), 1, 1000000, &version) < 0)
        return bf_err_set(err, BF_EINTERNAL, "%s: bad version", origin);
    c = bf_cat_cred_find(cat, PQgetvalue(res, row, 1), (int)version);
    if (!c || strcmp(bf_cat_cred_sha256(c), PQgetvalue(res, row, 4)) != 0)
        return bf_err_set(err, BF_EINVAL, "%s: stored sha256 does not match its content", origin);
    return 0;
}

static int load_versions(struct bf_pg *pg, struct bf_cat *cat, struct bf_err *err)
{
    PGresult *res = bf_pg_query(pg,
                                "SELECT c.stack_id, v.credential_id, v.version, v.content::text,"
                                " v.sha256"
                                " FROM credential_versions v JOIN catalogue_credentials c ON"
                                " c.id = v.credential_id ORDER BY c.stack_id, c.position,"
                                " v.version",
                                0, NULL, err);
    int rc = 0;

    if (!res)
        return -(err ? err->code : BF_EINTERNAL);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        char origin[200];
        snprintf(origin, sizeof(origin), "credential_versions[%s v%s]", PQgetvalue(res, i, 1),
                 PQgetvalue(res, i, 2));
        rc = bf_cat_add_version(cat, PQgetvalue(res, i, 0), origin, PQgetvalue(res, i, 3),
                                (size_t)PQgetlength(res, i, 3), err);
        if (rc == 0)
            rc = check_digest(cat, res, i, origin, err);
    }
    PQclear(res);
    return rc;
}

struct bf_cat *bf_cat_load_pg(struct bf_pg *pg, struct bf_err *err)
{
    struct bf_cat *cat = bf_cat_new();

    if (!cat) {
        bf_err_set(err, BF_ENOMEM, "out of memory");
        return NULL;
    }
    if (load_stacks(pg, cat, err) < 0 || load_versions(pg, cat, err) < 0) {
        bf_cat_free(cat);
        return NULL;
    }
    return cat;
}
