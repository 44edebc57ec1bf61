/* SPDX-License-Identifier: Apache-2.0 */
/* Outbound HTTP(S) through libcurl behind the SSRF guard: evidence downloads, webhooks, LRS. */
#ifndef BADGEFLOW_FETCH_H
#define BADGEFLOW_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "badgeflow/err.h"

/*
 * What a fetch may do. Start from bf_fetch_policy_init() (the safe defaults) and change
 * what the configuration says; strings are borrowed for the duration of each call.
 *
 * The guard, always on: only https (http too if allow_http; file:// only under
 * file_root); no proxy (environment proxies are ignored); the address of every connection
 * (the first and the one after each redirect, after DNS resolution) must be a public
 * unicast address: loopback (unless allow_loopback), private, shared (CGNAT), link-local,
 * unspecified, multicast, broadcast, reserved, benchmarking and documentation ranges are
 * refused, also when written as IPv4-mapped, IPv4-compatible, NAT64 or 6to4 IPv6.
 * Credentials are never sent to another host on redirect. Bodies are never decompressed.
 */
struct bf_fetch_policy {
    bool allow_loopback;          /* test configs only: 127.0.0.0/8 and ::1 become allowed */
    bool allow_http;              /* test configs only: plain http:// too */
    const char *file_root;        /* file:// allowed beneath this directory; NULL: refused */
    long long max_bytes;          /* bf_fetch_to_file(): body cap (default 2 GiB) */
    long long max_response_bytes; /* bf_fetch_post(): response body cap (default 64 KiB) */
    long long timeout_ms;         /* whole transfer (default 10 min) */
    long long connect_timeout_ms; /* TCP + TLS handshake (default 10 s) */
    long long stall_ms;           /* no byte moving for this long aborts (default 30 s;
                                     checked about once a second) */
    int max_redirects;            /* bf_fetch_to_file() only; 0 refuses any (default 5) */
    const char *ca_file;          /* PEM bundle to trust instead of the system's; NULL */
};

/* Outcome of bf_fetch_to_file(); filled as far as the transfer got, also on failure. */
struct bf_fetch_result {
    long status;              /* last HTTP status; 0 for file:// or no response */
    long long bytes;          /* body bytes received */
    char sha256[65];          /* lower-case hex SHA-256 of the body (on success) */
    char content_type[128];   /* as the server said, "" if none (truncated if longer) */
    char effective_url[2048]; /* the URL finally fetched, after redirects (truncated) */
};

/* Outcome of bf_fetch_post(). body is NUL-terminated; free with bf_fetch_response_free(). */
struct bf_fetch_response {
    long status; /* HTTP status; 0 if no response */
    char *body;  /* NULL if no body */
    size_t len;
    char content_type[128];
    char location[2048]; /* Location of a 3xx answer (not followed), else "" */
};

/*
 * Initialise libcurl once for the process (curl_global_init). Call from main() before
 * threads start; the fetch functions also call it (once) if it was not. 0 or -BF_EINTERNAL.
 */
int bf_fetch_global_init(void) BF_MUST_CHECK;

/* Fill p with the safe defaults listed in struct bf_fetch_policy. */
void bf_fetch_policy_init(struct bf_fetch_policy *p);

/*
 * Why the guard refuses to connect to sa: a static phrase such as "a private address",
 * "a loopback address", "a link-local address", or NULL if the address is allowed.
 * sa is an AF_INET or AF_INET6 socket address (anything else is refused).
 */
const char *bf_fetch_addr_refusal(const struct sockaddr *sa, bool allow_loopback);

/* True if the guard allows a connection to sa (bf_fetch_addr_refusal() is NULL). */
bool bf_fetch_addr_allowed(const struct sockaddr *sa, bool allow_loopback);

/*
 * Download url into dest_path under policy p, streaming (never whole in memory) into a
 * temporary file "<dest_path>.part.XXXXXX" in the same directory (mode 0600) that is
 * fsync'ed and renamed to dest_path on success, and removed on any failure: dest_path
 * only ever appears complete. Redirects are followed (up to p->max_redirects), each
 * behind the guard. The SHA-256 of the body is computed while streaming; if
 * expected_sha256 (64 hex digits, any case) is not NULL it must match.
 * res (required) is filled as far as the transfer got.
 * Returns 0, or:
 *   -BF_EDENIED   refused by the guard: "refused: 10.0.0.5 is a private address",
 *                 "refused: scheme ftp is not allowed (https only)", outside file_root,
 *                 not a regular file, too many redirects, TLS verification failed;
 *   -BF_ETOOBIG   "larger than N bytes";
 *   -BF_EINVAL    bad URL or arguments, "checksum mismatch: ...", an HTTP 4xx status;
 *   -BF_ENOTFOUND HTTP 404/410, or no such file under file_root;
 *   -BF_ETIMEOUT  the whole-transfer timeout or the stall timeout expired;
 *   -BF_ETRANSIENT DNS, connect, TLS handshake or transfer errors, HTTP 5xx/408/429;
 *   -BF_EIO       dest_path cannot be written; -BF_ENOMEM.
 */
int bf_fetch_to_file(const struct bf_fetch_policy *p, const char *url, const char *expected_sha256,
                     const char *dest_path, struct bf_fetch_result *res,
                     struct bf_err *err) BF_MUST_CHECK;

/*
 * POST len bytes of body to url (https, or http if allowed; never file://) with headers, a
 * NULL-terminated array of "Name: value" strings (may be NULL), behind the same guard.
 * Redirects are NOT followed: a POST answered 3xx is -BF_EDENIED "redirect not followed:
 * HTTP 302 to <Location>" (resp->status and resp->location filled), so a webhook or LRS
 * body is never re-sent to a place nobody configured. The response body is kept up to
 * p->max_response_bytes. resp (required) is reset first; caller frees it with
 * bf_fetch_response_free() whatever the result.
 * Returns 0 when a final (non-3xx) response arrived, whatever its status (the caller
 * judges resp->status); otherwise -BF_EDENIED, -BF_ETOOBIG ("response larger than N
 * bytes"), -BF_ETIMEOUT, -BF_ETRANSIENT, -BF_EINVAL, -BF_ENOMEM as for bf_fetch_to_file().
 */
int bf_fetch_post(const struct bf_fetch_policy *p, const char *url, const char *const *headers,
                  const void *body, size_t len, struct bf_fetch_response *resp,
                  struct bf_err *err) BF_MUST_CHECK;

/* Free resp->body and reset resp. NULL is a no-op. */
void bf_fetch_response_free(struct bf_fetch_response *resp);

#endif
