/* SPDX-License-Identifier: Apache-2.0 */
/* agreement_stats: recomputed for a credential version after each multi-scored decision or
 * override, over a bounded window of recent decisions; per assessor and pooled. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scorer_int.h"

/*
 * The scores of the version's most recently decided multi-scored submissions (at most $4:
 * the work per decision is bounded), with each submission's current decision, in scoring
 * order per submission.
 */
#define ROWS_SQL                                                                                   \
    "WITH units AS (SELECT u.tenant_id, u.id, d.criteria, d.outcome FROM submissions u"            \
    " JOIN decisions d ON d.tenant_id = u.tenant_id AND d.submission_id = u.id"                    \
    " AND d.superseded_at IS NULL"                                                                 \
    " WHERE u.credential_id = $1 AND u.credential_version = $2 AND ($3 = '' OR u.tenant_id = $3)"  \
    " AND (SELECT count(*) FROM scores x WHERE x.tenant_id = u.tenant_id"                          \
    " AND x.submission_id = u.id) >= 2 ORDER BY d.decided_at DESC LIMIT $4)"                       \
    " SELECT s.tenant_id || '/' || s.submission_id, s.criteria::text, s.assessor_id,"              \
    " n.criteria::text, n.outcome FROM units n JOIN scores s ON s.tenant_id = n.tenant_id"         \
    " AND s.submission_id = n.id ORDER BY s.tenant_id, s.submission_id, s.recorded_at, s.id"
#define CLEAR_SQL                                                                                  \
    "DELETE FROM agreement_stats WHERE tenant_id IS NOT DISTINCT FROM nullif($1, '')"              \
    " AND credential_id = $2 AND assessor_id IS NOT NULL"
#define UPSERT_SQL                                                                                 \
    "INSERT INTO agreement_stats (tenant_id, credential_id, criterion_id, assessor_id, n, exact,"  \
    " adjacent, kappa, alpha) VALUES (nullif($1, ''), $2, nullif($3, ''), nullif($9, ''), $4,"     \
    " $5, $6, nullif($7, '')::float8, nullif($8, '')::float8)"                                     \
    " ON CONFLICT ON CONSTRAINT agreement_stats_key DO UPDATE SET n = EXCLUDED.n,"                 \
    " exact = EXCLUDED.exact, adjacent = EXCLUDED.adjacent, kappa = EXCLUDED.kappa,"               \
    " alpha = EXCLUDED.alpha, updated_at = now()"

/* Scores as columns: values[c][i] = level index (criteria 0..n-1) or outcome (column n). */
struct agree_data {
    size_t n_scores, n_units;
    int *values[SCORER_MAX_CRITERIA + 1];
    size_t *counts;              /* scores per unit */
    struct scorer_raters raters; /* each assessor against the final decisions */
};

static void data_free(struct agree_data *a)
{
    for (size_t c = 0; c <= SCORER_MAX_CRITERIA; c++)
        free(a->values[c]);
    free(a->counts);
    scorer_raters_free(&a->raters);
}

/* Level indexes of a criteria array (a score's or a decision's: both name criterion_id and
 * level_id); anything not in the rubric is left at 0 (it was checked when stored). */
static void sheet_parse(const struct bf_cat_cred *c, const char *text, struct scorer_sheet *sh)
{
    json_t *cr = json_loads(text, 0, NULL), *cs;
    size_t j;

    memset(sh, 0, sizeof(*sh));
    json_array_foreach(cr, j, cs)
    {
        const struct bf_cat_criterion *k =
            bf_cat_criterion_find(c, json_string_value(json_object_get(cs, "criterion_id")));
        const struct bf_cat_level *l =
            k ? bf_cat_level_find(k, json_string_value(json_object_get(cs, "level_id"))) : NULL;
        if (l)
            sh->level[bf_cat_criterion_index(k)] = (int)bf_cat_level_index(l);
    }
    json_decref(cr);
}

static int data_alloc(size_t rows, size_t nk, struct agree_data *a)
{
    memset(a, 0, sizeof(*a));
    a->counts = calloc(rows + 1, sizeof(size_t));
    for (size_t k = 0; k <= nk; k++)
        a->values[k] = calloc(rows + 1, sizeof(int));
    for (size_t k = 0; k <= nk; k++)
        if (!a->counts || !a->values[k])
            return -BF_ENOMEM;
    return 0;
}

/* Row i: its levels and outcome into the columns, and its assessor against the decision. */
static int data_row(const struct bf_cat_cred *c, size_t nk, const struct scorer_rule *rule,
                    PGresult *res, size_t i, struct agree_data *a)
{
    struct scorer_sheet sh, fin;
    int lv[SCORER_MAX_CRITERIA + 1], fl[SCORER_MAX_CRITERIA + 1];

    sheet_parse(c, PQgetvalue(res, (int)i, 1), &sh);
    sheet_parse(c, PQgetvalue(res, (int)i, 3), &fin);
    for (size_t k = 0; k < nk; k++) {
        a->values[k][i] = lv[k] = sh.level[k];
        fl[k] = fin.level[k];
    }
    a->values[nk][i] = lv[nk] = scorer_rule_passes(rule, sh.level);
    fl[nk] = strcmp(PQgetvalue(res, (int)i, 4), "earned") == 0;
    return scorer_raters_add(&a->raters, PQgetvalue(res, (int)i, 2), lv, fl, nk);
}

static int data_load(const struct bf_cat_cred *c, PGresult *res, struct agree_data *a)
{
    size_t rows = (size_t)PQntuples(res), nk = bf_cat_criterion_count(c);
    struct scorer_rule rule;
    const char *prev = "";
    int rc = data_alloc(rows, nk, a);

    scorer_rule_from_cat(c, &rule);
    for (size_t i = 0; rc == 0 && i < rows; i++) {
        rc = data_row(c, nk, &rule, res, i, a);
        if (strcmp(prev, PQgetvalue(res, (int)i, 0)) != 0)
            a->n_units++;
        a->counts[a->n_units - 1]++;
        prev = PQgetvalue(res, (int)i, 0);
    }
    a->n_scores = rows;
    return rc;
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
    const char *v[9] = {tenant, cred, crit, n, ex, adj, kap, alp, ""};
    if (!tenant[0] && !isnan(alpha)) {
        snprintf(labels, sizeof(labels), "%s,%s", cred, crit[0] ? crit : "outcome");
        bf_metrics_set(st->agreement, labels, alpha);
    }
    return scorer_sql_cmd(pg, "scorer_agree_upsert", UPSERT_SQL, 9, v, err);
}

/* One assessor's row on column col (criterion id, or "" for the outcome). */
static int upsert_rater(struct bf_pg *pg, const char *tenant, const char *cred, const char *crit,
                        const struct scorer_rater *r, size_t col, struct bf_err *err)
{
    char n[24], ex[24], adj[24];

    snprintf(n, sizeof(n), "%ld", r->c[col].n);
    snprintf(ex, sizeof(ex), "%ld", r->c[col].exact);
    snprintf(adj, sizeof(adj), "%ld", r->c[col].adjacent);
    const char *v[9] = {tenant, cred, crit, n, ex, adj, "", "", r->id};
    return scorer_sql_cmd(pg, "scorer_agree_upsert", UPSERT_SQL, 9, v, err);
}

/* The all-tenant gauges of one assessor: shares over every criterion level they gave. */
static void rater_metrics(struct scorer *st, const char *cred, const struct scorer_rater *r,
                          size_t nk)
{
    long n = 0, ex = 0, adj = 0;
    char labels[300];

    for (size_t k = 0; k < nk; k++) {
        n += r->c[k].n;
        ex += r->c[k].exact;
        adj += r->c[k].adjacent;
    }
    if (n == 0)
        return;
    snprintf(labels, sizeof(labels), "%s,%s", cred, r->id);
    bf_metrics_set(st->rater_exact, labels, (double)ex / (double)n);
    bf_metrics_set(st->rater_adjacent, labels, (double)adj / (double)n);
}

/* Every assessor's rows of a scope, replacing the previous set (an assessor who left the
 * window has no row rather than a stale one). */
static int raters(struct scorer *st, struct bf_pg *pg, const char *tenant,
                  const struct bf_cat_cred *c, const struct agree_data *a, struct bf_err *err)
{
    size_t nk = bf_cat_criterion_count(c);
    const char *id = bf_cat_cred_id(c), *p[2] = {tenant, id};
    int rc = scorer_sql_cmd(pg, "scorer_agree_clear", CLEAR_SQL, 2, p, err);

    for (size_t i = 0; rc == 0 && i < a->raters.n; i++) {
        const struct scorer_rater *r = &a->raters.r[i];
        for (size_t k = 0; rc == 0 && k < nk; k++)
            rc = upsert_rater(pg, tenant, id, bf_cat_criterion_id(bf_cat_criterion_at(c, k)), r, k,
                              err);
        if (rc == 0)
            rc = upsert_rater(pg, tenant, id, "", r, nk, err);
        if (rc == 0 && !tenant[0])
            rater_metrics(st, id, r, nk);
    }
    return rc;
}

/* The rows of one scope: a tenant, or "" for every tenant. */
static int scope(struct scorer *st, struct bf_pg *pg, const char *tenant,
                 const struct bf_cat_cred *c, struct bf_err *err)
{
    char ver[16], window[16];
    struct agree_data a;
    size_t nk = bf_cat_criterion_count(c);
    PGresult *res;
    int rc;

    snprintf(ver, sizeof(ver), "%d", bf_cat_cred_version(c));
    snprintf(window, sizeof(window), "%d", st->agreement_window);
    const char *p[4] = {bf_cat_cred_id(c), ver, tenant, window};
    res = scorer_sql(pg, "scorer_agree_rows", ROWS_SQL, 4, p, err);
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
    if (rc == 0)
        rc = raters(st, pg, tenant, c, &a, err);
    data_free(&a);
    return rc;
}

int scorer_agreement_update(struct scorer *st, struct bf_pg *pg, const char *tenant,
                            const struct bf_cat_cred *c, struct bf_err *err)
{
    int rc = scope(st, pg, tenant, c, err);

    return rc < 0 ? rc : scope(st, pg, "", c, err);
}
