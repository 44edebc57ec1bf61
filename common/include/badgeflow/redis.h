/* SPDX-License-Identifier: Apache-2.0 */
/* Redis client over hiredis: lazy connection with back-off, commands, Lua scripts by SHA. */
#ifndef BADGEFLOW_REDIS_H
#define BADGEFLOW_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "badgeflow/err.h"

/*
 * One connection to one Redis server (opaque). Not thread-safe: use one per thread.
 *
 * The connection is opened lazily by the first command, with AUTH and SELECT when
 * configured. A connection error (refused, reset, EOF, timeout) drops the connection and
 * the command fails with -BF_ETRANSIENT; the next command reconnects. When a reconnect
 * itself fails, further commands fail fast (no network) until a back-off delay
 * (bf_backoff_ms, 50 ms doubling up to 2 s, with jitter) has passed, so a daemon's loop
 * never blocks on a dead server. A command is never re-sent automatically once written:
 * it may have run, and only the caller knows whether it is safe to repeat.
 */
struct bf_redis;

/*
 * A Lua script called by its SHA-1. Define them statically, e.g.
 *   static struct bf_redis_script claim = {.name = "claim", .source = "return 1"};
 * sha is computed from source (hex SHA-1, as Redis does) by bf_redis_script_init() or on
 * first use by bf_redis_eval(); call bf_redis_script_init() at start-up when the struct
 * is shared between threads. name appears in error messages only.
 */
struct bf_redis_script {
    const char *name;
    const char *source;
    char sha[41];
};

/*
 * Describe a connection; nothing is sent until the first command.
 * host: name or address; port: 1..65535; password: NULL or "" for none (AUTH otherwise;
 * copied, never logged); db: SELECT index (0 skips SELECT); timeout_ms: for connect and for
 * each command (> 0). Returns NULL with err (-BF_EINVAL, -BF_ENOMEM) on bad arguments.
 * Caller frees with bf_redis_free().
 */
struct bf_redis *bf_redis_new(const char *host, int port, const char *password, int db,
                              long long timeout_ms, struct bf_err *err);

/* Close the connection and free r. NULL is a no-op. */
void bf_redis_free(struct bf_redis *r);

/*
 * Run one command, formatted as hiredis' redisCommand ("SET %s %b", key, val, len).
 * Returns the reply, which the caller frees with freeReplyObject(). On failure returns
 * NULL with err: BF_ETRANSIENT when the server cannot be reached, the connection broke or
 * the command timed out; BF_EINVAL with the server's message for an error reply
 * ("ERR value is not an integer or out of range"); BF_EDENIED when AUTH is refused;
 * BF_ENOMEM. Error replies nested in arrays (EXEC) are returned as they are.
 */
redisReply *bf_redis_cmd(struct bf_redis *r, struct bf_err *err, const char *fmt,
                         ...) BF_MUST_CHECK;

/* As bf_redis_cmd() with argc arguments; argvlen gives their lengths (NULL: strlen). */
redisReply *bf_redis_cmdargv(struct bf_redis *r, int argc, const char **argv, const size_t *argvlen,
                             struct bf_err *err) BF_MUST_CHECK;

/* Compute script->sha from script->source (idempotent). 0 or -BF_EINTERNAL. */
int bf_redis_script_init(struct bf_redis_script *script) BF_MUST_CHECK;

/*
 * Run script with EVALSHA with nkeys keys and nargs args (NUL-terminated strings). On
 * NOSCRIPT (a restarted or flushed server) loads it with SCRIPT LOAD and runs EVALSHA
 * once more. Returns the reply (caller frees with freeReplyObject()) or NULL with err as
 * for bf_redis_cmd(); an error raised by the script is BF_EINVAL "<name>: <message>".
 */
redisReply *bf_redis_eval(struct bf_redis *r, struct bf_redis_script *script, int nkeys,
                          const char *const *keys, int nargs, const char *const *args,
                          struct bf_err *err) BF_MUST_CHECK;

/* True if the server answers PING now (connecting if needed; for readiness checks). */
bool bf_redis_ping(struct bf_redis *r);

#endif
