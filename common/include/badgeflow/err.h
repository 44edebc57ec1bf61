/* SPDX-License-Identifier: Apache-2.0 */
/* Error codes and the error record every fallible badgeflow function fills. */
#ifndef BADGEFLOW_ERR_H
#define BADGEFLOW_ERR_H

#include <stdarg.h>

/* Mark a function whose result must be looked at (curl, FRR: no silent failures). */
#define BF_MUST_CHECK   __attribute__((warn_unused_result))
#define BF_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Error codes; functions return 0 or the negative of one of these. */
enum bf_errc {
    BF_OK = 0,
    BF_EINVAL = 1,     /* bad input: dead-letter it, answer 4xx */
    BF_ENOTFOUND = 2,  /* the thing named does not exist */
    BF_ECONFLICT = 3,  /* state forbids it (decided, already exists) */
    BF_ETRANSIENT = 4, /* a server is down or busy: retry later */
    BF_ENOMEM = 5,
    BF_EIO = 6,     /* local I/O failed */
    BF_EDENIED = 7, /* refused by policy (SSRF guard, auth) */
    BF_ETOOBIG = 8, /* over a configured cap */
    BF_ETIMEOUT = 9,
    BF_EINTERNAL = 10, /* a bug or an impossible state */
};

/* Message for people, naming the field: "evidence[2].uri: must be https". */
struct bf_err {
    int code; /* an enum bf_errc, positive */
    char msg[512];
};

/* Fill err (if not NULL) with code (positive or negative) and the formatted message. */
void bf_err_fill(struct bf_err *err, int code, const char *fmt, ...) BF_PRINTF(3, 4);
int bf_err_vset(struct bf_err *err, int code, const char *fmt, va_list ap) BF_PRINTF(3, 0);

/* -code for a positive code, code for a negative one. */
static inline int bf_err_neg(int code)
{
    return code < 0 ? code : -code;
}

/*
 * Fill err (if not NULL) and return -code, so callers can `return bf_err_set(...)`.
 * A macro so that every caller (and the static analyzer) sees the result is negative.
 * code is evaluated twice: pass a constant or a plain variable, never an expression
 * that reads errno.
 */
#define bf_err_set(err, code, ...) (bf_err_fill((err), (code), __VA_ARGS__), bf_err_neg(code))

/* Prefix err's message with "prefix: " (adds context on the way up). Returns -err->code. */
int bf_err_prefix(struct bf_err *err, const char *fmt, ...) BF_PRINTF(2, 3);

/* Clear err to BF_OK and an empty message. */
void bf_err_clear(struct bf_err *err);

/* Stable name of a code ("BF_EINVAL"); never NULL. */
const char *bf_err_name(int code);

#endif
