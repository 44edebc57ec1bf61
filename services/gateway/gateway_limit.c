/* SPDX-License-Identifier: Apache-2.0 */
/* Per-key rate limit: a token bucket per API key, kept in this process (see docs/gateway.md). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

#define LIMIT_SLOTS 4096 /* open addressing; a full table evicts the stalest bucket */

struct bucket {
    char key[40];
    double tokens;
    int64_t at_ms;
};

struct gw_limit {
    pthread_mutex_t mu;
    double per_ms, burst;
    struct bucket slots[LIMIT_SLOTS];
};

struct gw_limit *gw_limit_new(double per_s, double burst)
{
    struct gw_limit *l = calloc(1, sizeof(*l));

    if (!l)
        return NULL;
    pthread_mutex_init(&l->mu, NULL);
    l->per_ms = per_s / 1000.0;
    l->burst = burst;
    return l;
}

void gw_limit_free(struct gw_limit *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static unsigned hash_key(const char *s)
{
    unsigned h = 2166136261u;

    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

/* The bucket of key, a fresh one (full) if it has none, or the stalest one reused. */
static struct bucket *bucket_of(struct gw_limit *l, const char *key, int64_t now)
{
    unsigned h = hash_key(key);
    struct bucket *stalest = NULL;

    for (unsigned i = 0; i < 16; i++) {
        struct bucket *b = &l->slots[(h + i) % LIMIT_SLOTS];
        if (strcmp(b->key, key) == 0)
            return b;
        if (!b->key[0] || !stalest || b->at_ms < stalest->at_ms)
            stalest = b;
        if (!b->key[0])
            break;
    }
    snprintf(stalest->key, sizeof(stalest->key), "%s", key);
    stalest->tokens = l->burst;
    stalest->at_ms = now;
    return stalest;
}

bool gw_limit_take(struct gw_limit *l, const char *key, int64_t now_ms, int *retry_s)
{
    struct bucket *b;
    bool ok;

    if (!l)
        return true;
    pthread_mutex_lock(&l->mu);
    b = bucket_of(l, key, now_ms);
    b->tokens = fmin(l->burst, b->tokens + (double)(now_ms - b->at_ms) * l->per_ms);
    b->at_ms = now_ms;
    ok = b->tokens >= 1.0;
    if (ok)
        b->tokens -= 1.0;
    else
        *retry_s = (int)ceil((1.0 - b->tokens) / (l->per_ms * 1000.0));
    pthread_mutex_unlock(&l->mu);
    if (!ok && *retry_s < 1)
        *retry_s = 1;
    return ok;
}
