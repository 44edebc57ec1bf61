/* SPDX-License-Identifier: Apache-2.0 */
/* Per-key rate limit: a token bucket per API key, shared by every instance in Redis, or kept in
 * this process while Redis does not answer (see docs/gateway.md). */
#include <hiredis.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/log.h"
#include "badgeflow/redis.h"
#include "gateway.h"

#define LIMIT_SLOTS    4096 /* open addressing; a full table evicts the stalest bucket */
#define LOCAL_AFTER_MS 5000 /* after a Redis failure, this long on local buckets alone */

struct bucket {
    char key[40];
    double tokens;
    int64_t at_ms;
};

struct gw_limit {
    pthread_mutex_t mu; /* the local table and the Redis connection */
    double per_ms, burst;
    struct bf_redis *redis; /* NULL: this process only */
    char prefix[64];
    int64_t local_until; /* monotonic ms: Redis failed, local buckets until then */
    struct bucket slots[LIMIT_SLOTS];
};

/*
 * The shared bucket: refill by elapsed time on Redis' own clock (one clock for every
 * instance), take a token if there is one. The key expires once it would be full again.
 * Returns {1, 0} or {0, seconds to wait}.
 */
static struct bf_redis_script take_script = {
    .name = "rate_take",
    .source = "local t = redis.call('TIME')\n"
              "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
              "local per_ms, burst = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
              "local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')\n"
              "local tokens = tonumber(b[1]) or burst\n"
              "local at = tonumber(b[2]) or now\n"
              "tokens = math.min(burst, tokens + math.max(0, now - at) * per_ms)\n"
              "local ok, wait = 0, 0\n"
              "if tokens >= 1 then tokens = tokens - 1; ok = 1\n"
              "else wait = math.ceil((1 - tokens) / (per_ms * 1000)) end\n"
              "redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)\n"
              "redis.call('PEXPIRE', KEYS[1], math.ceil(burst / per_ms) + 1000)\n"
              "return {ok, wait}\n",
};

struct gw_limit *gw_limit_new(double per_s, double burst, struct bf_redis *redis,
                              const char *prefix)
{
    struct gw_limit *l = calloc(1, sizeof(*l));

    if (!l || bf_redis_script_init(&take_script) < 0) {
        free(l);
        bf_redis_free(redis);
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    l->per_ms = per_s / 1000.0;
    l->burst = burst;
    l->redis = redis;
    snprintf(l->prefix, sizeof(l->prefix), "%s", prefix ? prefix : "");
    return l;
}

void gw_limit_free(struct gw_limit *l)
{
    if (!l)
        return;
    bf_redis_free(l->redis);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* The shared bucket of key: 1 taken, 0 refused (*retry_s set), -1 Redis failed. */
static int shared_take(struct gw_limit *l, const char *key, int *retry_s)
{
    char rkey[128], per_ms[32], burst[32];
    const char *keys[1] = {rkey}, *args[2] = {per_ms, burst};
    struct bf_err err = {0};
    redisReply *r;
    int rc = -1;

    snprintf(rkey, sizeof(rkey), "%s%s", l->prefix, key);
    snprintf(per_ms, sizeof(per_ms), "%.9g", l->per_ms);
    snprintf(burst, sizeof(burst), "%.9g", l->burst);
    r = bf_redis_eval(l->redis, &take_script, 1, keys, 2, args, &err);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_INTEGER && r->element[1]->type == REDIS_REPLY_INTEGER) {
        rc = r->element[0]->integer == 1;
        *retry_s = (int)r->element[1]->integer;
    } else {
        bf_log_kv(BF_LOG_WARN, "BF_GATEWAY_RATE_LOCAL",
                  "rate limit: Redis does not answer; each instance limits alone for now", "error",
                  r ? "unexpected reply" : err.msg, NULL);
    }
    if (r)
        freeReplyObject(r);
    return rc;
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
    int rc;

    if (!l)
        return true;
    pthread_mutex_lock(&l->mu);
    if (l->redis && now_ms >= l->local_until) {
        if ((rc = shared_take(l, key, retry_s)) >= 0) {
            pthread_mutex_unlock(&l->mu);
            if (!rc && *retry_s < 1)
                *retry_s = 1;
            return rc == 1;
        }
        l->local_until = now_ms + LOCAL_AFTER_MS;
    }
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
