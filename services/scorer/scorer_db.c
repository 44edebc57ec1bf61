/* SPDX-License-Identifier: Apache-2.0 */
/* The scorer's SQL helpers and its view of the catalogue. */
#include "badgeflow/catalogue_pg.h"
#include "badgeflow/log.h"
#include "scorer_int.h"

PGresult *scorer_sql(struct bf_pg *pg, const char *name, const char *sql, int n,
                     const char *const *params, struct bf_err *err)
{
    /* registering the same name and sql again is a no-op: prepare where used */
    if (bf_pg_prepare(pg, name, sql, err) < 0)
        return NULL;
    return bf_pg_exec(pg, name, n, params, err);
}

int scorer_sql_cmd(struct bf_pg *pg, const char *name, const char *sql, int n,
                   const char *const *params, struct bf_err *err)
{
    int rc = bf_pg_prepare(pg, name, sql, err);

    return rc < 0 ? rc : bf_pg_cmd(pg, name, n, params, NULL, err);
}

/* Read the catalogue again (a version loaded after start-up). */
static int reload(struct scorer *st, struct bf_pg *pg, struct bf_err *err)
{
    struct bf_cat *cat = bf_cat_load_pg(pg, err);

    if (!cat)
        return -err->code;
    bf_cat_free(st->cat);
    st->cat = cat;
    bf_log_info("BF_SCORER_CATALOGUE", "catalogue reloaded: %zu credential versions",
                bf_cat_cred_count(cat));
    return 0;
}

int scorer_cred(struct scorer *st, struct bf_pg *pg, const char *id, int version,
                const struct bf_cat_cred **out, struct bf_err *err)
{
    int rc;

    *out = st->cat ? bf_cat_cred_find(st->cat, id, version) : NULL;
    if (*out)
        return 0;
    rc = reload(st, pg, err);
    if (rc < 0)
        return rc;
    *out = bf_cat_cred_find(st->cat, id, version);
    if (!*out)
        return bf_err_set(err, BF_EINVAL, "credential %s v%d is not in the catalogue", id, version);
    return 0;
}
