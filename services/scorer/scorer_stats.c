/* SPDX-License-Identifier: Apache-2.0 */
/* Inter-rater agreement: exact/adjacent pairs, Cohen's kappa, Krippendorff's alpha. Pure. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/util.h"
#include "scorer.h"

void scorer_pairs_add(struct scorer_pairs *p, const int *v, size_t m)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = i + 1; j < m; j++) {
            int d = abs(v[i] - v[j]);
            p->n++;
            p->exact += d == 0;
            p->adjacent += d <= 1;
        }
}

/* The row of id, appended when new; NULL when out of memory. */
static struct scorer_rater *rater_of(struct scorer_raters *rs, const char *id)
{
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->r[i].id, id) == 0)
            return &rs->r[i];
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 16;
        struct scorer_rater *r = realloc(rs->r, cap * sizeof(*r));
        if (!r)
            return NULL;
        rs->r = r;
        rs->cap = cap;
    }
    memset(&rs->r[rs->n], 0, sizeof(rs->r[0]));
    bf_strlcpy(rs->r[rs->n].id, id, sizeof(rs->r[0].id));
    return &rs->r[rs->n++];
}

int scorer_raters_add(struct scorer_raters *rs, const char *id, const int *levels, const int *final,
                      size_t nk)
{
    struct scorer_rater *r = rater_of(rs, id);

    if (!r)
        return -BF_ENOMEM;
    for (size_t k = 0; k <= nk; k++) {
        int pair[2] = {levels[k], final[k]};
        scorer_pairs_add(&r->c[k], pair, 2);
    }
    return 0;
}

void scorer_raters_free(struct scorer_raters *rs)
{
    free(rs->r);
    memset(rs, 0, sizeof(*rs));
}

double scorer_cohen_kappa(const int *a, const int *b, size_t n, int k)
{
    double po = 0, pe = 0;
    double *ra, *rb;

    if (n == 0 || k < 1)
        return NAN;
    ra = calloc((size_t)k, sizeof(*ra));
    rb = calloc((size_t)k, sizeof(*rb));
    if (!ra || !rb) {
        free(ra);
        free(rb);
        return NAN;
    }
    for (size_t i = 0; i < n; i++) {
        po += a[i] == b[i];
        if (a[i] >= 0 && a[i] < k && b[i] >= 0 && b[i] < k) {
            ra[a[i]]++;
            rb[b[i]]++;
        }
    }
    po /= (double)n;
    for (int c = 0; c < k; c++)
        pe += (ra[c] / (double)n) * (rb[c] / (double)n);
    free(ra);
    free(rb);
    /* kappa = (po - pe) / (1 - pe): undefined when chance agreement is certain */
    return pe >= 1.0 ? NAN : (po - pe) / (1.0 - pe);
}

/* Squared distance of values c and k under metric; nc = marginal counts (ordinal). */
static double delta2(int c, int k, const double *nc, enum scorer_alpha_metric metric)
{
    double s = 0;

    if (metric == SCORER_ALPHA_NOMINAL)
        return c == k ? 0.0 : 1.0;
    if (metric == SCORER_ALPHA_INTERVAL)
        return (double)(c - k) * (double)(c - k);
    if (c > k) {
        int t = c;
        c = k;
        k = t;
    }
    /* ordinal (Krippendorff 2011, eq. for ordinal metric): (sum_{g=c..k} n_g - (n_c+n_k)/2)^2 */
    for (int g = c; g <= k; g++)
        s += nc[g];
    s -= (nc[c] + nc[k]) / 2.0;
    return s * s;
}

/* The coincidence matrix o (k x k) of the pairable units. Returns n.. (pairable values). */
static double coincidences(const int *values, const size_t *counts, size_t n_units, int k,
                           double *o)
{
    size_t off = 0;
    double total = 0;

    for (size_t u = 0; u < n_units; off += counts[u], u++) {
        size_t m = counts[u];
        if (m < 2)
            continue; /* a lone value is not pairable */
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < m; j++)
                if (i != j)
                    o[values[off + i] * k + values[off + j]] += 1.0 / (double)(m - 1);
        total += (double)m;
    }
    return total;
}

double scorer_kripp_alpha(const int *values, const size_t *counts, size_t n_units, int k,
                          enum scorer_alpha_metric metric)
{
    double *o = calloc((size_t)k * (size_t)k + (size_t)k, sizeof(double));
    double *nc, n, d_o = 0, d_e = 0, alpha = NAN;

    if (!o || k < 1)
        goto out;
    nc = o + (size_t)k * (size_t)k;
    n = coincidences(values, counts, n_units, k, o);
    for (int c = 0; c < k; c++)
        for (int j = 0; j < k; j++)
            nc[c] += o[c * k + j];
    if (n < 2)
        goto out;
    for (int c = 0; c < k; c++)
        for (int j = 0; j < k; j++) {
            double d = delta2(c, j, nc, metric);
            d_o += o[c * k + j] * d;
            d_e += nc[c] * nc[j] * d;
        }
    /* alpha = 1 - D_o / D_e = 1 - (n - 1) * sum o*d / sum nc*nk*d */
    if (d_e > 0)
        alpha = 1.0 - (n - 1.0) * d_o / d_e;
out:
    free(o);
    return alpha;
}
