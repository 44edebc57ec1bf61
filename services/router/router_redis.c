/* SPDX-License-Identifier: Apache-2.0 */
/* Load, leases and fencing tokens in Redis: atomic Lua claims over a cache of PostgreSQL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/log.h"
#include "router.h"

/* Keys: gen (generation marker: absent = Redis lost its state), load (assessor -> open
 * leases), last (assessor -> last claim ms), lease (assignment -> "assessor|claim ms"),
 * fence (token counter). Every script refuses to run on a generation it does not know, so
 * nothing is claimed on an empty Redis before the rebuild. */
static struct bf_redis_script claim_script = {
    .name = "router_claim",
    .source = "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end\n"
              "local best, bl, bc, bp, blast\n"
              "for i = 0, tonumber(ARGV[4]) - 1 do\n"
              "  local a = ARGV[5 + i * 3]\n"
              "  local cap = tonumber(ARGV[6 + i * 3])\n"
              "  local prio = tonumber(ARGV[7 + i * 3])\n"
              "  local load = tonumber(redis.call('HGET', KEYS[2], a) or '0')\n"
              "  if load < cap then\n"
              "    local last = tonumber(redis.call('HGET', KEYS[3], a) or '0')\n"
              "    local better\n"
              "    if best == nil then better = true\n"
              "    elseif prio ~= bp then better = prio < bp\n"
              "    elseif load * bc ~= bl * cap then better = load * bc < bl * cap\n"
              "    else better = last < blast end\n"
              "    if better then best, bl, bc, bp, blast = i, load, cap, prio, last end\n"
              "  end\n"
              "end\n"
              "if best == nil then return {0} end\n"
              "local a = ARGV[5 + best * 3]\n"
              "redis.call('HINCRBY', KEYS[2], a, 1)\n"
              "redis.call('HSET', KEYS[3], a, ARGV[2])\n"
              "local token = redis.call('INCR', KEYS[5])\n"
              "redis.call('HSET', KEYS[4], ARGV[3], a .. '|' .. ARGV[2])\n"
              "return {1, best, token}\n",
};

static struct bf_redis_script release_script = {
    .name = "router_release",
    .source = "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end\n"
              "local v = redis.call('HGET', KEYS[3], ARGV[2])\n"
              "if not v then return 0 end\n"
              "local a = string.match(v, '^(.*)|')\n"
              "redis.call('HDEL', KEYS[3], ARGV[2])\n"
              "if redis.call('HINCRBY', KEYS[2], a, -1) < 0 then\n"
              "  redis.call('HSET', KEYS[2], a, 0) end\n"
              "return 1\n",
};

/* Rebuild only when the generation is gone: the first instance to get here writes the
 * leases it read from PostgreSQL; the others adopt its generation. */
static struct bf_redis_script rebuild_script = {
    .name = "router_rebuild",
    .source = "local cur = redis.call('GET', KEYS[1])\n"
              "if cur then return {0, cur} end\n"
              "redis.call('DEL', KEYS[2], KEYS[4])\n"
              "for i = 0, tonumber(ARGV[3]) - 1 do\n"
              "  local a = ARGV[5 + i * 3]\n"
              "  redis.call('HSET', KEYS[4], ARGV[4 + i * 3], a .. '|' .. ARGV[6 + i * 3])\n"
              "  redis.call('HINCRBY', KEYS[2], a, 1)\n"
              "end\n"
              "local f = tonumber(redis.call('GET', KEYS[5]) or '0')\n"
              "if f < tonumber(ARGV[2]) then redis.call('SET', KEYS[5], ARGV[2]) end\n"
              "redis.call('SET', KEYS[1], ARGV[1])\n"
              "return {1, ARGV[1]}\n",
};

/* Load = PostgreSQL's open assignments + leases young enough to be still committing
 * elsewhere; older leases unknown to PostgreSQL were rolled back or their router died. */
static struct bf_redis_script reconcile_script = {
    .name = "router_reconcile",
    .source = "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end\n"
              "local now, grace = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
              "local pg = {}\n"
              "for i = 0, tonumber(ARGV[4]) - 1 do\n"
              "  pg[ARGV[5 + i * 3]] = {ARGV[6 + i * 3], ARGV[7 + i * 3]} end\n"
              "local counts, removed, added = {}, 0, 0\n"
              "local leases = redis.call('HGETALL', KEYS[3])\n"
              "for i = 1, #leases, 2 do\n"
              "  local id = leases[i]\n"
              "  local a, t = string.match(leases[i + 1], '^(.*)|(%d+)$')\n"
              "  if pg[id] or now - tonumber(t) < grace then\n"
              "    counts[a] = (counts[a] or 0) + 1; pg[id] = nil\n"
              "  else redis.call('HDEL', KEYS[3], id); removed = removed + 1 end\n"
              "end\n"
              "for id, v in pairs(pg) do\n"
              "  redis.call('HSET', KEYS[3], id, v[1] .. '|' .. v[2])\n"
              "  counts[v[1]] = (counts[v[1]] or 0) + 1; added = added + 1\n"
              "end\n"
              "redis.call('DEL', KEYS[2])\n"
              "for a, c in pairs(counts) do redis.call('HSET', KEYS[2], a, c) end\n"
              "return {1, removed, added}\n",
};

enum { K_GEN, K_LOAD, K_LAST, K_LEASE, K_FENCE, K_N };

static void keys_of(const struct router *rt, char keys[K_N][96])
{
    static const char *names[K_N] = {"gen", "load", "last", "lease", "fence"};

    for (int i = 0; i < K_N; i++)
        snprintf(keys[i], 96, "%s%s", rt->cfg.prefix, names[i]);
}

/* A script's reply {-1} / -1: the generation changed under us. */
static bool gen_lost(const redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer == -1;
    return r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
           r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer == -1;
}

int router_redis_claim(struct router *rt, const char *assignment_id,
                       const struct router_candidate *c, int n, int *pick, long long *token,
                       struct bf_err *err)
{
    char keys[K_N][96], now[24], nbuf[16], caps[ROUTER_MAX_CANDIDATES][12],
        prios[ROUTER_MAX_CANDIDATES][4];
    const char *kp[K_N], *args[4 + 3 * ROUTER_MAX_CANDIDATES];
    redisReply *r;
    int rc = 0;

    keys_of(rt, keys);
    for (int i = 0; i < K_N; i++)
        kp[i] = keys[i];
    snprintf(now, sizeof(now), "%lld", (long long)bf_now_ms());
    snprintf(nbuf, sizeof(nbuf), "%d", n);
    args[0] = rt->gen, args[1] = now, args[2] = assignment_id, args[3] = nbuf;
    for (int i = 0; i < n; i++) {
        snprintf(caps[i], sizeof(caps[i]), "%d", c[i].max_open);
        snprintf(prios[i], sizeof(prios[i]), "%d", c[i].prio);
        args[4 + 3 * i] = c[i].id, args[5 + 3 * i] = caps[i], args[6 + 3 * i] = prios[i];
    }
    r = bf_redis_eval(rt->redis, &claim_script, K_N, kp, 4 + 3 * n, args, err);
    if (!r)
        return -err->code;
    if (gen_lost(r)) {
        rc = bf_err_set(err, BF_ECONFLICT, "redis: generation changed (state lost)");
    } else if (r->type != REDIS_REPLY_ARRAY || r->element[0]->type != REDIS_REPLY_INTEGER) {
        rc = bf_err_set(err, BF_EINTERNAL, "router_claim: unexpected reply");
    } else if (r->element[0]->integer == 1 && r->elements == 3) {
        *pick = (int)r->element[1]->integer;
        *token = r->element[2]->integer;
        rc = 1;
    }
    freeReplyObject(r);
    return rc;
}

int router_redis_release(struct router *rt, const char *assignment_id, struct bf_err *err)
{
    char keys[K_N][96];
    const char *kp[3], *args[2] = {rt->gen, assignment_id};
    redisReply *r;

    keys_of(rt, keys);
    kp[0] = keys[K_GEN], kp[1] = keys[K_LOAD], kp[2] = keys[K_LEASE];
    r = bf_redis_eval(rt->redis, &release_script, 3, kp, 2, args, err);
    if (!r)
        return -err->code;
    /* A lost generation: the rebuild reads PostgreSQL, where the lease is closed already. */
    freeReplyObject(r);
    return 0;
}

/* PostgreSQL's open assignments as script args (id, assessor, created ms) after `lead`
 * leading args. Caller frees the array and *res. */
static const char **open_leases(struct router *rt, int lead, int *nargs, PGresult **res,
                                struct bf_err *err)
{
    const char **args;
    int n;

    *res = bf_pg_exec(rt->pg, "router_open_leases", 0, NULL, err);
    if (!*res)
        return NULL;
    n = PQntuples(*res);
    args = calloc((size_t)lead + 3 * (size_t)n + 1, sizeof(*args));
    if (!args) {
        bf_err_set(err, BF_ENOMEM, "out of memory");
        return NULL;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 3; j++)
            args[lead + 3 * i + j] = PQgetvalue(*res, i, j);
    *nargs = lead + 3 * n;
    return args;
}

/* The largest fencing token PostgreSQL has seen. */
static int max_fence(struct router *rt, long long *out, struct bf_err *err)
{
    PGresult *res = bf_pg_exec(rt->pg, "router_max_token", 0, NULL, err);

    if (!res)
        return -err->code;
    *out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

/* Rebuild from PostgreSQL; adopts another instance's generation if it was faster. */
static int rebuild(struct router *rt, struct bf_err *err)
{
    char keys[K_N][96], gen[BF_UUID_STRLEN + 1], floor[24], nbuf[16];
    const char *kp[K_N], **args = NULL;
    long long max_token = 0;
    PGresult *res = NULL;
    redisReply *r = NULL;
    int nargs = 0, rc;

    keys_of(rt, keys);
    for (int i = 0; i < K_N; i++)
        kp[i] = keys[i];
    if (bf_uuid_v4(gen) < 0)
        return bf_err_set(err, BF_EIO, "no randomness for a generation id");
    if ((rc = max_fence(rt, &max_token, err)) < 0)
        return rc;
    args = open_leases(rt, 3, &nargs, &res, err);
    if (!args) {
        rc = -err->code;
        goto out;
    }
    /* Tokens claimed in the lost Redis may not have reached PostgreSQL yet: jump well
     * above them so a token is never handed out twice. */
    snprintf(floor, sizeof(floor), "%lld", max_token + 1000000);
    snprintf(nbuf, sizeof(nbuf), "%d", (nargs - 3) / 3);
    args[0] = gen, args[1] = floor, args[2] = nbuf;
    r = bf_redis_eval(rt->redis, &rebuild_script, K_N, kp, nargs, args, err);
    if (!r) {
        rc = -err->code;
        goto out;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[1]->type != REDIS_REPLY_STRING) {
        rc = bf_err_set(err, BF_EINTERNAL, "router_rebuild: unexpected reply");
        goto out;
    }
    bf_strlcpy(rt->gen, r->element[1]->str, sizeof(rt->gen));
    if (r->element[0]->integer == 1) {
        router_metric_rebuild();
        bf_log_kv(BF_LOG_WARN, "BF_ROUTER_REBUILD", "Redis state rebuilt from PostgreSQL", "leases",
                  nbuf, NULL);
    }
    rc = 0;
out:
    if (r)
        freeReplyObject(r);
    free(args);
    PQclear(res);
    return rc;
}

int router_redis_ensure(struct router *rt, struct bf_err *err)
{
    char key[96];
    redisReply *r;
    bool same;

    snprintf(key, sizeof(key), "%sgen", rt->cfg.prefix);
    r = bf_redis_cmd(rt->redis, err, "GET %s", key);
    if (!r)
        return -err->code;
    same = r->type == REDIS_REPLY_STRING && rt->gen[0] && strcmp(r->str, rt->gen) == 0;
    if (!same && r->type == REDIS_REPLY_STRING) {
        /* Another instance rebuilt (or we restarted): its generation is good. */
        bf_strlcpy(rt->gen, r->str, sizeof(rt->gen));
        same = true;
    }
    freeReplyObject(r);
    return same ? 0 : rebuild(rt, err);
}

int router_redis_reconcile(struct router *rt, struct bf_err *err)
{
    char keys[K_N][96], now[24], grace[24], nbuf[16];
    const char *kp[3], **args;
    PGresult *res = NULL;
    redisReply *r = NULL;
    int nargs = 0, rc = 0;

    keys_of(rt, keys);
    kp[0] = keys[K_GEN], kp[1] = keys[K_LOAD], kp[2] = keys[K_LEASE];
    args = open_leases(rt, 4, &nargs, &res, err);
    if (!args) {
        PQclear(res);
        return -err->code;
    }
    snprintf(now, sizeof(now), "%lld", (long long)bf_now_ms());
    snprintf(grace, sizeof(grace), "%lld", (long long)rt->cfg.grace_ms);
    snprintf(nbuf, sizeof(nbuf), "%d", (nargs - 4) / 3);
    args[0] = rt->gen, args[1] = now, args[2] = grace, args[3] = nbuf;
    r = bf_redis_eval(rt->redis, &reconcile_script, 3, kp, nargs, args, err);
    if (!r)
        rc = -err->code;
    else if (gen_lost(r))
        rt->gen[0] = '\0'; /* the next ensure rebuilds */
    else if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
             (r->element[1]->integer || r->element[2]->integer))
        bf_log(BF_LOG_INFO, "BF_ROUTER_RECONCILE",
               "Redis load reconciled with PostgreSQL: %lld stale leases dropped, %lld restored",
               r->element[1]->integer, r->element[2]->integer);
    if (r)
        freeReplyObject(r);
    free(args);
    PQclear(res);
    return rc;
}

long long router_redis_load(struct router *rt, const char *assessor_id)
{
    struct bf_err err;
    redisReply *r;
    long long v = -1;

    r = bf_redis_cmd(rt->redis, &err, "HGET %sload %s", rt->cfg.prefix, assessor_id);
    if (!r)
        return -1;
    v = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
    freeReplyObject(r);
    return v;
}
