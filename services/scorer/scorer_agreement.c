/* SPDX-License-Identifier: Apache-2.0 */
/* agreement_stats: recomputed for a credential version after each multi-scored decision. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scorer_int.h"

/* Every multi-scored submission's scores of the version, in scoring order per submission. */
#define ROWS_SQL                                                                                   \
    "SELECT s.tenant_id || '/' || s.submission_id, s.criteria::text FROM scores s"                 \
    " JOIN submissions u ON u.tenant_id = s.tenant_id AND u.id = s.submission_id"                  \
    " WHERE u.credential_id = $1 AND u.credential_version = $2 AND ($3 = '' OR s.tenant_id = $3)"  \
    " AND (SELECT count(*) FROM scores x WHERE x.tenant_id = s.tenant_id"                          \
    " AND x.submission_id = s.submission_id) >= 2"                                                 \
    " ORDER BY s.tenant_id, s.submission_id, s.recorded_at, s.id"
#define UPSERT_SQL                                                                                 \
    "INSERT INTO agreement_stats (tenant_id, credential_id, criterion_id, assessor_id, n, exact,"  \
    " adjacent, kappa, alpha) VALUES (nullif($1, ''), $2, nullif($3, ''), NULL, $4, $5, $6,"       \
    " nullif($7, '')::float8, nullif($8, '')::float8)"                                             \
    " ON CONFLICT ON CONSTRAINT agreement_stats_key DO UPDATE SET n = EXCLUDED.n,"                 \
    " exact = EXCLUDED.exact, adjacent = EXCLUDED.adjacent, kappa = EXCLUDED.kappa,"               \
    " alpha = EXCLUDED.alpha, updated_at = now()"

/* Scores as columns: values[c][i] = level index (criteria 0..n-1) or outcome (column n). */
struct agree_data {
    size_t n_scores, n_units;
    int *values[SCORER_MAX_CRITERIA + 1];
    size_t *counts; /* scores per unit */
};

static void data_free(struct agree_data *a)
{
    for (size_t c = 0; c <= SCORER_MAX_CRITERIA; c++)
        free(a->values[c]);
    free(a->counts);
}

static int data_load(const struct bf_cat_cred *c, PGresult *res, struct agree_data *a)
{
    size_t rows = (size_t)PQntuples(res), nk = bf_cat_criterion_count(c);
    struct scorer_rule rule;
    const char *prev = "";

    scorer_rule_from_cat(c, &rule);
    memset(a, 0, sizeof(*a));
    a->counts = calloc(rows + 1, sizeof(size_t));
    for (size_t k = 0; k <= nk; k++)
        a->values[k] = calloc(rows + 1, sizeof(int));
    for (size_t k = 0; k <= nk; k++)
        if (!a->counts || !a->values[k])
            return -BF_ENOMEM;
    for (size_t i = 0; i < rows; i++) {
        struct scorer_sheet sh = {{0}};
        json_t *cr = json_loads(PQgetvalue(res, (int)i, 1), 0, NULL), *cs;
        size_t j;
        json_array_foreach(cr, j, cs)
        {
            const struct bf_cat_criterion *k =
                bf_cat_criterion_find(c, json_string_value(json_object_get(cs, "criterion_id")));
            const struct bf_cat_level *l =
                k ? bf_cat_level_find(k, json_string_value(json_object_get(cs, "level_id"))) : NULL;
            if (l)
                sh.level[bf_cat_criterion_index(k)] = (int)bf_cat_level_index(l);
        }
        json_decref(cr);
        for (size_t k = 0; k < nk; k++)
            a->values[k][i] = sh.level[k];
        a->values[nk][i] = scorer_rule_passes(&rule, sh.level);
        if (strcmp(prev, PQgetvalue(res, (int)i, 0)) != 0)
            a->n_units++;
        a->counts[a->n_units - 1]++;
        prev = PQgetvalue(res, (int)i, 0);
    }
    a->n_scores = rows;
    return 0;
}

/* Kappa on the outcome between the first two scores of every unit. */
static double outcome_kappa(const struct agree_data *a, size_t col)
{
    int *x = calloc(a->n_units + 1, sizeof(int)), *y = calloc(a->n_units + 1, sizeof(int));
    size_t off = 0;
    double kappa = NAN;

    if (x && y) {
        for (size_t u = 0; u < a->n_units; off += a->counts[u], u++) {
            x[u] = a->values[col][off];
            y[u] = a->values[col][off + 1];
        }
        kappa = scorer_cohen_kappa(x, y, a->n_units, 2);
    }
    free(x);
    free(y);
    return kappa;
}

static void fmt(char *buf, size_t n, double v)
{
    if (isnan(v))
        buf[0] = '\0';
    else
        snprintf(buf, n, "%.6f", v);
}

/* One agreement_stats row: column col of a (criterion id, or "" for the outcome). */
static int upsert(struct scorer *st, struct bf_pg *pg, const char *tenant, const char *cred,
                  const char *crit, const struct agree_data *a, size_t col, int levels,
                  struct bf_err *err)
{
    struct scorer_pairs p = {0};
    char n[24], ex[24], adj[24], kap[32], alp[32], labels[200];
    size_t off = 0;
    double alpha =
        scorer_kripp_alpha(a->values[col], a->counts, a->n_units, levels, SCORER_ALPHA_ORDINAL);

    for (size_t u = 0; u < a->n_units; off += a->counts[u], u++)
        scorer_pairs_add(&p, a->values[col] + off, a->counts[u]);
    snprintf(n, sizeof(n), "%ld", p.n);
    snprintf(ex, sizeof(ex), "%ld", p.exact);
    snprintf(adj, sizeof(adj), "%ld", p.adjacent);
    fmt(kap, sizeof(kap), crit[0] ? NAN : outcome_kappa(a, col));
    fmt(alp, sizeof(alp), alpha);
    const char *v[8] = {tenant, cred, crit, n, ex, adj, kap, alp};
    if (!tenant[0] && !isnan(alpha)) {
        snprintf(labels, sizeof(labels), "%s,%s", cred, crit[0] ? crit : "outcome");
        bf_metrics_set(st->agreement, labels, alpha);
    }
    return scorer_sql_cmd(pg, "scorer_agree_upsert", UPSERT_SQL, 8, v, err);
}

/* The rows of one scope: a tenant, or "" for every tenant. */
static int scope(struct scorer *st, struct bf_pg *pg, const char *tenant,
                 const struct bf_cat_cred *c, struct bf_err *err)
{
    char ver[16];
    struct agree_data a;
    size_t nk = bf_cat_criterion_count(c);
    PGresult *res;
    int rc;

    snprintf(ver, sizeof(ver), "%d", bf_cat_cred_version(c));
    const char *p[3] = {bf_cat_cred_id(c), ver, tenant};
    res = scorer_sql(pg, "scorer_agree_rows", ROWS_SQL, 3, p, err);
    if (!res)
        return -err->code;
    rc = data_load(c, res, &a);
    PQclear(res);
    if (rc < 0)
        rc = bf_err_set(err, BF_ENOMEM, "out of memory");
    for (size_t k = 0; rc == 0 && k < nk; k++) {
        const struct bf_cat_criterion *crit = bf_cat_criterion_at(c, k);
        rc = upsert(st, pg, tenant, bf_cat_cred_id(c), bf_cat_criterion_id(crit), &a, k,
                    (int)bf_cat_level_count(crit), err);
    }
    if (rc == 0)
        rc = upsert(st, pg, tenant, bf_cat_cred_id(c), "", &a, nk, 2, err);
    data_free(&a);
    return rc;
}

int scorer_agreement_update(struct scorer *st, struct bf_pg *pg, const char *tenant,
                            const struct bf_cat_cred *c, struct bf_err *err)
{
    int rc = scope(st, pg, tenant, c, err);

    return rc < 0 ? rc : scope(st, pg, "", c, err);
}
