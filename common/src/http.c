/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP server on libmicrohttpd: routes, bounded bodies, responses with extra headers. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "badgeflow/http.h"
#include "badgeflow/log.h"
#include "badgeflow/util.h"

#define HTTP_THREADS 2

struct bf_http_server {
    struct MHD_Daemon *mhd;
    const struct bf_http_route *routes;
    void *ctx;
    size_t max_body;
    int port;
};

/* Per-request state kept by MHD between calls while the body arrives. */
struct request_state {
    char *body;
    size_t len;
    bool too_big;
};

int bf_http_split_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon;
    long long p;
    size_t n;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -BF_EINVAL;
        n = (size_t)(close - s - 1);
        colon = close + 1;
        s++;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -BF_EINVAL;
        n = (size_t)(colon - s);
    }
    if (n == 0 || n >= hostlen || bf_parse_ll(colon + 1, 0, 65535, &p) < 0)
        return -BF_EINVAL;
    memcpy(host, s, n);
    host[n] = '\0';
    *port = (int)p;
    return 0;
}

int bf_http_reply(struct bf_http_response *resp, int status, const char *content_type,
                  const char *text)
{
    free(resp->body);
    resp->body = strdup(text);
    resp->body_len = resp->body ? strlen(text) : 0;
    resp->status = resp->body ? status : 500;
    resp->content_type = content_type;
    return resp->body ? 0 : -BF_ENOMEM;
}

int bf_http_add_header(struct bf_http_response *resp, const char *name, const char *value)
{
    size_t used = 0, need = strlen(value) + 1;
    int i;

    for (i = 0; i < BF_HTTP_HEADERS_MAX && resp->headers[i][0]; i++) {
        const char *v = resp->headers[i][1];
        if (v >= resp->header_store && v < resp->header_store + sizeof(resp->header_store))
            used = (size_t)(v - resp->header_store) + strlen(v) + 1;
    }
    if (i == BF_HTTP_HEADERS_MAX || used + need > sizeof(resp->header_store))
        return -BF_ETOOBIG;
    memcpy(resp->header_store + used, value, need);
    resp->headers[i][0] = name;
    resp->headers[i][1] = resp->header_store + used;
    return 0;
}

const char *bf_http_header(const struct bf_http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *bf_http_query(const struct bf_http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

static bool path_matches(const struct bf_http_route *r, const char *path)
{
    if (r->prefix)
        return strncmp(path, r->path, strlen(r->path)) == 0;
    return strcmp(path, r->path) == 0;
}

/* The route for method and path; *path_known tells a 405 from a 404 when NULL. */
static const struct bf_http_route *route_find(const struct bf_http_server *srv, const char *method,
                                              const char *path, bool *path_known)
{
    *path_known = false;
    for (const struct bf_http_route *r = srv->routes; r->path; r++) {
        if (!path_matches(r, path))
            continue;
        *path_known = true;
        if (!r->method || strcmp(r->method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0))
            return r;
    }
    return NULL;
}

static enum MHD_Result send_response(struct MHD_Connection *conn, struct bf_http_response *resp)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(resp->body_len, resp->body ? resp->body : (char *)"",
                                        resp->body ? MHD_RESPMEM_MUST_FREE
                                                   : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(resp->body);
        return MHD_NO;
    }
    resp->body = NULL;
    if (resp->content_type)
        MHD_add_response_header(r, "Content-Type", resp->content_type);
    for (int i = 0; i < BF_HTTP_HEADERS_MAX && resp->headers[i][0]; i++)
        MHD_add_response_header(r, resp->headers[i][0], resp->headers[i][1]);
    ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static void dispatch(struct bf_http_server *srv, struct MHD_Connection *conn, const char *method,
                     const char *url, struct request_state *st, struct bf_http_response *resp)
{
    struct bf_http_request req = {.method = method,
                                  .path = url,
                                  .body = st->body ? st->body : "",
                                  .body_len = st->len,
                                  .conn = conn};
    bool path_known;
    const struct bf_http_route *r;

    if (st->too_big) {
        bf_http_reply(resp, 413, "text/plain", "request body too large\n");
        return;
    }
    r = route_find(srv, method, url, &path_known);
    if (!r) {
        bf_http_reply(resp, path_known ? 405 : 404, "text/plain",
                      path_known ? "method not allowed\n" : "not found\n");
        return;
    }
    resp->status = 200;
    r->fn(srv->ctx, &req, resp);
}

/* Accumulate an upload chunk; past max_body keep reading but drop it, answer 413 later. */
static void take_chunk(struct bf_http_server *srv, struct request_state *st, const char *data,
                       size_t size)
{
    char *grown;

    if (st->too_big || st->len + size > srv->max_body) {
        st->too_big = true;
        return;
    }
    grown = realloc(st->body, st->len + size + 1);
    if (!grown) {
        st->too_big = true;
        return;
    }
    memcpy(grown + st->len, data, size);
    st->len += size;
    grown[st->len] = '\0';
    st->body = grown;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    struct bf_http_server *srv = cls;
    struct request_state *st = *con_cls;
    struct bf_http_response resp = {0};

    if (!st) {
        st = calloc(1, sizeof(*st));
        if (!st)
            return MHD_NO;
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_size) {
        take_chunk(srv, st, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    dispatch(srv, conn, method, url, st, &resp);
    return send_response(conn, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct request_state *st = *con_cls;

    if (st) {
        free(st->body);
        free(st);
        *con_cls = NULL;
    }
}

int bf_http_listen_addr(const char *key, const char *listen, struct sockaddr_storage *ss,
                        struct bf_err *err)
{
    char host[128];
    int port;
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (bf_http_split_hostport(listen, host, sizeof(host), &port) < 0)
        return bf_err_set(err, BF_EINVAL, "%s: '%s' is not host:port", key, listen);
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    return bf_err_set(err, BF_EINVAL, "%s: '%s' is not a numeric IP address", key, host);
}

struct bf_http_server *bf_http_start(const char *listen, const struct bf_http_route *routes,
                                     void *ctx, size_t max_body, struct bf_err *err)
{
    struct sockaddr_storage ss;
    struct bf_http_server *srv;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
    const union MHD_DaemonInfo *info;

    if (bf_http_listen_addr("http.listen", listen, &ss, err) < 0)
        return NULL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    srv = calloc(1, sizeof(*srv));
    if (!srv) {
        bf_err_set(err, BF_ENOMEM, "out of memory");
        return NULL;
    }
    srv->routes = routes;
    srv->ctx = ctx;
    srv->max_body = max_body;
    srv->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, &ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)HTTP_THREADS, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, srv, MHD_OPTION_CONNECTION_TIMEOUT, 30U, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)64 * 1024, MHD_OPTION_END);
    if (!srv->mhd) {
        bf_err_set(err, BF_EIO, "http.listen: cannot listen on %s (address in use?)", listen);
        free(srv);
        return NULL;
    }
    info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : 0;
    return srv;
}

int bf_http_port(const struct bf_http_server *srv)
{
    return srv->port;
}

void bf_http_stop(struct bf_http_server *srv)
{
    if (!srv)
        return;
    MHD_stop_daemon(srv->mhd);
    free(srv);
}
