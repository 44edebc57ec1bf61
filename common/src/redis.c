/* SPDX-License-Identifier: Apache-2.0 */
/* Redis client over hiredis: lazy connection with back-off, commands, Lua scripts by SHA. */
#include "badgeflow/redis.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "badgeflow/log.h"
#include "badgeflow/util.h"

#define REDIS_BACKOFF_BASE_MS 50
#define REDIS_BACKOFF_CAP_MS  2000
#define REDIS_MAX_FAILURES    30 /* stop growing the attempt counter; the cap is reached */

struct bf_redis {
    char *host;
    int port;
    char *password; /* NULL: no AUTH */
    int db;
    long long timeout_ms;
    redisContext *ctx; /* NULL: not connected */
    unsigned failures; /* consecutive failed connects */
    int64_t retry_at;  /* monotonic ms before which no connect is tried */
    char last_error[256];
};

static char *dup_or_null(const char *s)
{
    return s && s[0] ? strdup(s) : NULL;
}

struct bf_redis *bf_redis_new(const char *host, int port, const char *password, int db,
                              long long timeout_ms, struct bf_err *err)
{
    struct bf_redis *r;

    if (!host || !host[0] || port < 1 || port > 65535 || db < 0 || timeout_ms <= 0) {
        bf_err_set(err, BF_EINVAL,
                   "redis: host, port 1..65535, db >= 0 and timeout > 0 "
                   "are required");
        return NULL;
    }
    r = calloc(1, sizeof(*r));
    if (!r)
        goto nomem;
    r->host = strdup(host);
    r->password = dup_or_null(password);
    if (!r->host || (password && password[0] && !r->password))
        goto nomem;
    r->port = port;
    r->db = db;
    r->timeout_ms = timeout_ms;
    return r;
nomem:
    bf_redis_free(r);
    bf_err_set(err, BF_ENOMEM, "redis: out of memory");
    return NULL;
}

static void redis_drop(struct bf_redis *r)
{
    if (r->ctx) {
        redisFree(r->ctx);
        r->ctx = NULL;
    }
}

void bf_redis_free(struct bf_redis *r)
{
    if (!r)
        return;
    redis_drop(r);
    free(r->host);
    if (r->password) {
        OPENSSL_cleanse(r->password, strlen(r->password));
        free(r->password);
    }
    free(r);
}

static struct timeval ms_to_tv(long long ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

/* Record a failed connect: from now on, fail fast until the back-off delay has passed. */
static int connect_failed(struct bf_redis *r, int code, struct bf_err *err)
{
    int64_t delay = bf_backoff_ms(r->failures, REDIS_BACKOFF_BASE_MS, REDIS_BACKOFF_CAP_MS);

    if (r->failures == 0)
        bf_log_warn("BF_REDIS_CONNECT", "redis %s:%d: %s", r->host, r->port, r->last_error);
    if (r->failures < REDIS_MAX_FAILURES)
        r->failures++;
    r->retry_at = bf_mono_ms() + delay;
    return bf_err_set(err, code, "redis %s:%d: %s", r->host, r->port, r->last_error);
}

/* Describe the context's I/O error in r->last_error, then drop the connection. */
static int io_failed(struct bf_redis *r, int saved_errno, struct bf_err *err)
{
    const char *what = r->ctx ? r->ctx->errstr : "not connected";

    if (r->ctx && r->ctx->err == REDIS_ERR_OOM) {
        redis_drop(r);
        return bf_err_set(err, BF_ENOMEM, "redis: out of memory");
    }
    if (r->ctx && r->ctx->err == REDIS_ERR_IO &&
        (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK))
        snprintf(r->last_error, sizeof(r->last_error), "timed out after %lld ms", r->timeout_ms);
    else
        snprintf(r->last_error, sizeof(r->last_error), "%s", what[0] ? what : "I/O error");
    redis_drop(r);
    bf_log_warn("BF_REDIS_IO", "redis %s:%d: connection dropped: %s", r->host, r->port,
                r->last_error);
    return bf_err_set(err, BF_ETRANSIENT, "redis %s:%d: %s", r->host, r->port, r->last_error);
}

/* Send argv on the open connection; any reply type comes back, I/O errors as NULL. */
static redisReply *raw_argv(struct bf_redis *r, int argc, const char **argv, const size_t *argvlen,
                            struct bf_err *err)
{
    redisReply *rep;

    errno = 0;
    rep = redisCommandArgv(r->ctx, argc, argv, argvlen);
    if (!rep)
        io_failed(r, errno, err);
    return rep;
}

/* Turn an error reply into NULL + BF_EINVAL "<what>: <message>" (what may be NULL). */
static redisReply *check_reply(redisReply *rep, const char *what, struct bf_err *err)
{
    if (rep && rep->type == REDIS_REPLY_ERROR) {
        if (what)
            bf_err_set(err, BF_EINVAL, "%s: %s", what, rep->str);
        else
            bf_err_set(err, BF_EINVAL, "%s", rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

/* AUTH and SELECT on a fresh connection. 0, or -code with r->last_error set. */
static int redis_handshake(struct bf_redis *r, struct bf_err *err)
{
    char dbtxt[16];
    const char *auth[] = {"AUTH", r->password};
    const char *sel[] = {"SELECT", dbtxt};
    redisReply *rep;
    int code = 0;

    if (r->password) {
        rep = raw_argv(r, 2, auth, NULL, err);
        if (!rep)
            return -BF_ETRANSIENT;
        if (rep->type == REDIS_REPLY_ERROR) {
            snprintf(r->last_error, sizeof(r->last_error), "AUTH refused: %s", rep->str);
            code = BF_EDENIED;
        }
        freeReplyObject(rep);
        if (code)
            return -code;
    }
    if (r->db == 0)
        return 0;
    snprintf(dbtxt, sizeof(dbtxt), "%d", r->db);
    rep = raw_argv(r, 2, sel, NULL, err);
    if (!rep)
        return -BF_ETRANSIENT;
    if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(r->last_error, sizeof(r->last_error), "SELECT %d: %s", r->db, rep->str);
        code = BF_EINVAL;
    }
    freeReplyObject(rep);
    return -code;
}

/* Make sure r->ctx is an open, authenticated connection. 0 or -BF_E*. */
static int redis_connect(struct bf_redis *r, struct bf_err *err)
{
    int64_t now = bf_mono_ms();
    int rc;

    if (r->ctx)
        return 0;
    if (now < r->retry_at)
        return bf_err_set(err, BF_ETRANSIENT, "redis %s:%d: unreachable (%s); next try in %lld ms",
                          r->host, r->port, r->last_error, (long long)(r->retry_at - now));
    r->ctx = redisConnectWithTimeout(r->host, r->port, ms_to_tv(r->timeout_ms));
    if (!r->ctx)
        return bf_err_set(err, BF_ENOMEM, "redis: out of memory");
    if (r->ctx->err) {
        snprintf(r->last_error, sizeof(r->last_error), "connect: %s", r->ctx->errstr);
        redis_drop(r);
        return connect_failed(r, BF_ETRANSIENT, err);
    }
    if (redisSetTimeout(r->ctx, ms_to_tv(r->timeout_ms)) != REDIS_OK ||
        redisEnableKeepAlive(r->ctx) != REDIS_OK) {
        snprintf(r->last_error, sizeof(r->last_error), "socket options: %s", r->ctx->errstr);
        redis_drop(r);
        return connect_failed(r, BF_ETRANSIENT, err);
    }
    rc = redis_handshake(r, err);
    if (rc < 0) {
        redis_drop(r);
        return connect_failed(r, -rc, err);
    }
    if (r->failures > 0)
        bf_log_info("BF_REDIS_CONNECTED", "redis %s:%d: connected again", r->host, r->port);
    r->failures = 0;
    r->retry_at = 0;
    return 0;
}

redisReply *bf_redis_cmdargv(struct bf_redis *r, int argc, const char **argv, const size_t *argvlen,
                             struct bf_err *err)
{
    if (redis_connect(r, err) < 0)
        return NULL;
    return check_reply(raw_argv(r, argc, argv, argvlen, err), NULL, err);
}

redisReply *bf_redis_cmd(struct bf_redis *r, struct bf_err *err, const char *fmt, ...)
{
    redisReply *rep;
    va_list ap;

    if (redis_connect(r, err) < 0)
        return NULL;
    va_start(ap, fmt);
    errno = 0;
    rep = redisvCommand(r->ctx, fmt, ap);
    va_end(ap);
    if (!rep) {
        io_failed(r, errno, err);
        return NULL;
    }
    return check_reply(rep, NULL, err);
}

int bf_redis_script_init(struct bf_redis_script *script)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (script->sha[0])
        return 0;
    if (!script->source ||
        EVP_Digest(script->source, strlen(script->source), md, &mdlen, EVP_sha1(), NULL) != 1 ||
        mdlen != 20)
        return -BF_EINTERNAL;
    bf_hex(md, mdlen, script->sha);
    return 0;
}

/* SCRIPT LOAD the source and check that Redis computed the same SHA. */
static int script_load(struct bf_redis *r, struct bf_redis_script *script, struct bf_err *err)
{
    const char *argv[] = {"SCRIPT", "LOAD", script->source};
    redisReply *rep = bf_redis_cmdargv(r, 3, argv, NULL, err);
    int rc = 0;

    if (!rep)
        return bf_err_prefix(err, "script %s", script->name);
    if (rep->type != REDIS_REPLY_STRING || strcmp(rep->str, script->sha) != 0)
        rc = bf_err_set(err, BF_EINTERNAL, "script %s: SCRIPT LOAD returned another SHA",
                        script->name);
    freeReplyObject(rep);
    return rc;
}

static bool is_noscript(const redisReply *rep)
{
    return rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0;
}

/* EVALSHA with argv prepared by the caller (argv[1] = sha); loads on NOSCRIPT, once. */
static redisReply *evalsha(struct bf_redis *r, struct bf_redis_script *script, int argc,
                           const char **argv, struct bf_err *err)
{
    redisReply *rep;

    if (redis_connect(r, err) < 0)
        return NULL;
    rep = raw_argv(r, argc, argv, NULL, err);
    if (rep && is_noscript(rep)) {
        freeReplyObject(rep);
        if (script_load(r, script, err) < 0)
            return NULL;
        if (redis_connect(r, err) < 0)
            return NULL;
        rep = raw_argv(r, argc, argv, NULL, err);
    }
    return check_reply(rep, script->name, err);
}

/* Build "EVALSHA sha nkeys keys... args..." in a calloc'd array; NULL on ENOMEM. */
static const char **eval_argv(const struct bf_redis_script *script, const char *nkeys_txt,
                              int nkeys, const char *const *keys, int nargs,
                              const char *const *args)
{
    const char **argv = calloc((size_t)nkeys + (size_t)nargs + 3, sizeof(*argv));

    if (!argv)
        return NULL;
    argv[0] = "EVALSHA";
    argv[1] = script->sha;
    argv[2] = nkeys_txt;
    for (int i = 0; i < nkeys; i++)
        argv[3 + i] = keys[i];
    for (int i = 0; i < nargs; i++)
        argv[3 + nkeys + i] = args[i];
    return argv;
}

redisReply *bf_redis_eval(struct bf_redis *r, struct bf_redis_script *script, int nkeys,
                          const char *const *keys, int nargs, const char *const *args,
                          struct bf_err *err)
{
    char nkeys_txt[16];
    const char **argv = NULL;
    redisReply *rep = NULL;

    if (nkeys < 0 || nargs < 0) {
        bf_err_set(err, BF_EINVAL, "script %s: negative key or arg count", script->name);
        goto out;
    }
    if (bf_redis_script_init(script) < 0) {
        bf_err_set(err, BF_EINTERNAL, "script %s: cannot hash its source", script->name);
        goto out;
    }
    snprintf(nkeys_txt, sizeof(nkeys_txt), "%d", nkeys);
    argv = eval_argv(script, nkeys_txt, nkeys, keys, nargs, args);
    if (!argv) {
        bf_err_set(err, BF_ENOMEM, "redis: out of memory");
        goto out;
    }
    rep = evalsha(r, script, 3 + nkeys + nargs, argv, err);
out:
    free(argv);
    return rep;
}

bool bf_redis_ping(struct bf_redis *r)
{
    redisReply *rep = bf_redis_cmd(r, NULL, "PING");
    bool ok = rep && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0;

    if (rep)
        freeReplyObject(rep);
    return ok;
}
