/* SPDX-License-Identifier: Apache-2.0 */
/* A small HTTP server (libmicrohttpd) for health, readiness, metrics and JSON routes. */
#ifndef BADGEFLOW_HTTP_H
#define BADGEFLOW_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "badgeflow/err.h"

#define BF_HTTP_HEADERS_MAX 8

/* A request as a handler sees it; everything is borrowed for the call. */
struct bf_http_request {
    const char *method; /* "GET" */
    const char *path;   /* "/readyz", without the query */
    const char *body;   /* NUL-terminated copy of the body, "" if none */
    size_t body_len;
    void *conn; /* private */
};

/* What a handler fills; the server frees body with free() after sending it. */
struct bf_http_response {
    int status;
    const char *content_type; /* static string */
    char *body;               /* malloc'd, may be NULL */
    size_t body_len;
    const char *headers[BF_HTTP_HEADERS_MAX][2]; /* extra name/value pairs, static or copied */
    char header_store[512];                      /* room for header values the handler formats */
};

typedef void (*bf_http_fn)(void *ctx, const struct bf_http_request *req,
                           struct bf_http_response *resp);

/* A route: method ("GET", or NULL for any), path, and whether path is a prefix. */
struct bf_http_route {
    const char *method;
    const char *path;
    bool prefix;
    bf_http_fn fn;
};

struct bf_http_server;

/*
 * Listen on "host:port" (IPv4 dotted or "[v6]"; port 0 picks a free one) and serve routes
 * (ended by a row with NULL path) from a small thread pool; ctx is passed to handlers.
 * Bodies larger than max_body get 413. Unknown paths get 404, wrong methods 405.
 * Returns NULL with err on failure (address in use names the address). Caller stops with
 * bf_http_stop(), which also frees.
 */
struct bf_http_server *bf_http_start(const char *listen, const struct bf_http_route *routes,
                                     void *ctx, size_t max_body, struct bf_err *err);

/* The port actually bound. */
int bf_http_port(const struct bf_http_server *srv);

/* Stop serving (waits for handlers in progress) and free. NULL is fine. */
void bf_http_stop(struct bf_http_server *srv);

/* Value of request header name (case-insensitive) or query argument name; NULL if absent. */
const char *bf_http_header(const struct bf_http_request *req, const char *name);
const char *bf_http_query(const struct bf_http_request *req, const char *name);

/* Fill resp with status and a copy of text. Returns 0 or -BF_ENOMEM (then status 500). */
int bf_http_reply(struct bf_http_response *resp, int status, const char *content_type,
                  const char *text);

/* Add a response header; value is copied into resp->header_store. 0 or -BF_ETOOBIG. */
int bf_http_add_header(struct bf_http_response *resp, const char *name, const char *value);

struct sockaddr_storage;

/*
 * Parse listen ("host:port" or "[v6]:port", a numeric address) into *ss for binding. Errors
 * name the config key given as key ("gateway.listen: '...' is not host:port"). 0 or
 * -BF_EINVAL.
 */
int bf_http_listen_addr(const char *key, const char *listen, struct sockaddr_storage *ss,
                        struct bf_err *err) BF_MUST_CHECK;

/* Split "host:port" / "[v6]:port" into host (without brackets) and port. 0 or -BF_EINVAL. */
int bf_http_split_hostport(const char *s, char *host, size_t hostlen, int *port);

#endif
