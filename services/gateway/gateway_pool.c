/* SPDX-License-Identifier: Apache-2.0 */
/* A small pool of PostgreSQL connections: one bf_pg per request thread at a time. */
#include <pthread.h>
#include <stdlib.h>

#include "gateway.h"

struct gw_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n, nfree;
    struct bf_pg **all;
    struct bf_pg **free; /* stack of idle connections */
};

struct gw_pool *gw_pool_new(const struct bf_cfg *cfg, int n, struct bf_err *err)
{
    struct gw_pool *p = calloc(1, sizeof(*p));

    if (!p || !(p->all = calloc((size_t)n, sizeof(struct bf_pg *))) ||
        !(p->free = calloc((size_t)n, sizeof(struct bf_pg *))))
        goto fail;
    for (int i = 0; i < n; i++) {
        p->all[i] = bf_pg_new_cfg(cfg, "gateway", err);
        if (!p->all[i])
            goto fail;
        p->free[p->nfree++] = p->all[i];
        p->n++;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    return p;
fail:
    if (p) {
        for (int i = 0; i < p->n; i++)
            bf_pg_free(p->all[i]);
        free(p->all);
        free(p->free);
        free(p);
    }
    bf_err_set(err, BF_ENOMEM, "out of memory");
    return NULL;
}

void gw_pool_free(struct gw_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++)
        bf_pg_free(p->all[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->all);
    free(p->free);
    free(p);
}

struct bf_pg *gw_pool_get(struct gw_pool *p, struct bf_err *err)
{
    struct bf_pg *pg;

    pthread_mutex_lock(&p->mu);
    while (p->nfree == 0)
        pthread_cond_wait(&p->cv, &p->mu);
    pg = p->free[--p->nfree];
    pthread_mutex_unlock(&p->mu);
    /* One try: a request answers 503 at once rather than hang while PostgreSQL is down. */
    if (bf_pg_ensure(pg, err) < 0) {
        gw_pool_put(p, pg);
        return NULL;
    }
    return pg;
}

void gw_pool_put(struct gw_pool *p, struct bf_pg *pg)
{
    if (bf_pg_in_tx(pg))
        bf_pg_rollback(pg);
    pthread_mutex_lock(&p->mu);
    p->free[p->nfree++] = pg;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}
