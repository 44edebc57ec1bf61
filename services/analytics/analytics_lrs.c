/* SPDX-License-Identifier: Apache-2.0 */
/* Forwarding statements to a Learning Record Store from the analytics_statements queue, in a
 * thread of its own: a slow or refusing LRS never holds up the Kafka stream. */
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "badgeflow/fetch.h"
#include "badgeflow/log.h"

#define DUE_SQL                                                                                    \
    "SELECT statement_id, statement::text FROM analytics_statements WHERE lrs_state = 'pending'"   \
    " AND (lrs_next_at IS NULL OR lrs_next_at <= now()) ORDER BY recorded_at, statement_id"        \
    " LIMIT $1"
#define SENT_SQL                                                                                   \
    "UPDATE analytics_statements SET lrs_state = $2, lrs_error = $3,"                              \
    " lrs_attempts = lrs_attempts + 1 WHERE statement_id = ANY($1::uuid[])"
#define RETRY_SQL                                                                                  \
    "UPDATE analytics_statements SET lrs_attempts = lrs_attempts + 1, lrs_error = $2,"             \
    " lrs_next_at = now() + least(make_interval(secs => power(2, least(lrs_attempts, 20))),"       \
    " make_interval(secs => $3::float8 / 1000)) WHERE statement_id = ANY($1::uuid[])"

struct batch {
    int n;
    char **ids;
    char **json;
};

/* "{id1,id2,...}" of rows [lo, hi). Caller frees. */
static char *id_array(const struct batch *b, int lo, int hi)
{
    size_t len = 3 + (size_t)(hi - lo) * (BF_UUID_STRLEN + 1);
    char *s = malloc(len), *p = s;

    if (!s)
        return NULL;
    *p++ = '{';
    for (int i = lo; i < hi; i++)
        p += snprintf(p, len - (size_t)(p - s), "%s%s", i > lo ? "," : "", b->ids[i]);
    snprintf(p, len - (size_t)(p - s), "}");
    return s;
}

/* "[s1,s2,...]" of rows [lo, hi). Caller frees. */
static char *body_of(const struct batch *b, int lo, int hi, size_t *len)
{
    size_t cap = 3;
    char *s, *p;

    for (int i = lo; i < hi; i++)
        cap += strlen(b->json[i]) + 1;
    if (!(s = p = malloc(cap)))
        return NULL;
    *p++ = '[';
    for (int i = lo; i < hi; i++)
        p += snprintf(p, cap - (size_t)(p - s), "%s%s", i > lo ? "," : "", b->json[i]);
    p += snprintf(p, cap - (size_t)(p - s), "]");
    *len = (size_t)(p - s);
    return s;
}

static int mark(struct bf_pg *pg, const struct batch *b, int lo, int hi, const char *state,
                const char *why, const struct an_lrs_conf *c, struct bf_err *err)
{
    char *ids = id_array(b, lo, hi), max[24];
    int rc;

    if (!ids)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    snprintf(max, sizeof(max), "%lld", (long long)c->retry_max_ms);
    const char *p[3] = {ids, state ? state : why, state ? why : max};
    /* A state settles the rows (sent or refused); none schedules them for a retry. */
    const char *name = state ? "an_lrs_sent" : "an_lrs_retry";
    rc = bf_pg_prepare(pg, name, state ? SENT_SQL : RETRY_SQL, err);
    if (rc == 0)
        rc = bf_pg_cmd(pg, name, 3, p, NULL, err);
    free(ids);
    return rc;
}

/* mark() and, when it worked, the number of statements it settled. */
static int settle(struct bf_pg *pg, const struct batch *b, int lo, int hi, const char *state,
                  const char *why, const struct an_lrs_conf *c, int settled, struct bf_err *err)
{
    int rc = mark(pg, b, lo, hi, state, why, c, err);

    return rc < 0 ? rc : settled;
}

static void basic_auth(const struct an_lrs_conf *c, char *out, size_t n)
{
    char raw[512];
    unsigned char b64[700];
    int len = snprintf(raw, sizeof(raw), "%s:%s", c->user, c->password ? c->password : "");

    if (len < 0 || (size_t)len >= sizeof(raw))
        len = 0;
    EVP_EncodeBlock(b64, (const unsigned char *)raw, len);
    snprintf(out, n, "Authorization: Basic %s", (char *)b64);
}

/* POST rows [lo, hi): 0 and *status, or -BF_E* when no answer came. */
static int post(const struct an_lrs_conf *c, const struct batch *b, int lo, int hi, long *status,
                struct bf_err *err)
{
    struct bf_fetch_policy pol;
    struct bf_fetch_response resp = {0};
    char url[2100], auth[800];
    const char *h[4] = {"Content-Type: application/json", "X-Experience-API-Version: 1.0.3", NULL,
                        NULL};
    size_t len = 0;
    char *body = body_of(b, lo, hi, &len);
    int rc;

    if (!body)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    bf_fetch_policy_init(&pol);
    pol.allow_loopback = c->allow_loopback;
    pol.allow_http = c->allow_http;
    pol.timeout_ms = c->timeout_ms;
    if (c->user && c->user[0]) {
        basic_auth(c, auth, sizeof(auth));
        h[2] = auth;
    }
    snprintf(url, sizeof(url), "%s/statements", c->url);
    rc = bf_fetch_post(&pol, url, h, body, len, &resp, err);
    *status = resp.status;
    bf_fetch_response_free(&resp);
    free(body);
    return rc;
}

/* A 4xx other than 408 (timeout) and 429 (rate limit): the LRS refuses the content. */
static bool refused(int rc, long status)
{
    return rc == 0 && status >= 400 && status < 500 && status != 408 && status != 429;
}

/* Send [lo, hi); a refused batch splits in two until the refused statement is alone. */
static int send_range(struct bf_pg *pg, const struct an_lrs_conf *c, const struct batch *b, int lo,
                      int hi, struct bf_err *err)
{
    char why[256];
    long status = 0;
    int rc = post(c, b, lo, hi, &status, err);

    if (rc == 0 && status >= 200 && status < 300)
        return settle(pg, b, lo, hi, "sent", NULL, c, hi - lo, err);
    /* copied: err is reused by the marking below */
    if (rc < 0)
        snprintf(why, sizeof(why), "%s", err->msg);
    else
        snprintf(why, sizeof(why), "HTTP %ld", status);
    if (refused(rc, status) && hi - lo == 1) {
        bf_log_warn("BF_ANALYTICS_LRS_REFUSED", "LRS refused statement %s: %s", b->ids[lo], why);
        return settle(pg, b, lo, hi, "refused", why, c, 1, err);
    }
    if (refused(rc, status)) {
        int mid = lo + (hi - lo) / 2, a = send_range(pg, c, b, lo, mid, err);
        int z = a < 0 ? a : send_range(pg, c, b, mid, hi, err);
        return z < 0 ? z : a + z;
    }
    bf_log_warn("BF_ANALYTICS_LRS_RETRY", "LRS did not take %d statements: %s", hi - lo, why);
    return settle(pg, b, lo, hi, NULL, why, c, 0, err);
}

int an_lrs_round(struct bf_pg *pg, const struct an_lrs_conf *c, struct bf_err *err)
{
    char lim[16];
    const char *p[1] = {lim};
    PGresult *res;
    struct batch b = {0};
    int rc = bf_pg_prepare(pg, "an_lrs_due", DUE_SQL, err);

    snprintf(lim, sizeof(lim), "%d", c->batch);
    if (rc < 0)
        return rc;
    if (!(res = bf_pg_exec(pg, "an_lrs_due", 1, p, err)))
        return -err->code;
    b.n = PQntuples(res);
    b.ids = calloc((size_t)b.n + 1, sizeof(char *));
    b.json = calloc((size_t)b.n + 1, sizeof(char *));
    for (int i = 0; b.ids && b.json && i < b.n; i++) {
        b.ids[i] = PQgetvalue(res, i, 0);
        b.json[i] = PQgetvalue(res, i, 1);
    }
    rc = !b.ids || !b.json ? bf_err_set(err, BF_ENOMEM, "out of memory")
         : b.n == 0        ? 0
                           : send_range(pg, c, &b, 0, b.n, err);
    free(b.ids);
    free(b.json);
    PQclear(res);
    return rc;
}

struct an_lrs {
    struct an_lrs_conf conf;
    struct bf_pg *pg;
    pthread_t thread;
    volatile int stop;
};

static void *lrs_main(void *arg)
{
    struct an_lrs *l = arg;
    struct bf_err err = {0};

    while (!l->stop) {
        int n = an_lrs_round(l->pg, &l->conf, &err);

        if (n < 0)
            bf_log_warn("BF_ANALYTICS_LRS_QUEUE", "LRS queue: %s", err.msg);
        if (n <= 0)
            bf_sleep_ms(500, &l->stop);
    }
    return NULL;
}

struct an_lrs *an_lrs_start(const struct bf_cfg *cfg, const struct an_lrs_conf *c,
                            struct bf_err *err)
{
    struct an_lrs *l = calloc(1, sizeof(*l));

    if (!l) {
        bf_err_set(err, BF_ENOMEM, "out of memory");
        return NULL;
    }
    l->conf = *c;
    if (!(l->pg = bf_pg_new_cfg(cfg, "analytics-lrs", err)))
        goto fail;
    if (pthread_create(&l->thread, NULL, lrs_main, l) != 0) {
        bf_err_set(err, BF_EINTERNAL, "cannot start the LRS thread");
        goto fail;
    }
    return l;
fail:
    bf_pg_free(l->pg);
    free(l);
    return NULL;
}

void an_lrs_stop(struct an_lrs *l)
{
    if (!l)
        return;
    l->stop = 1;
    pthread_join(l->thread, NULL);
    bf_pg_free(l->pg);
    free(l);
}
