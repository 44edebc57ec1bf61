/* SPDX-License-Identifier: Apache-2.0 */
/* The API listener (libmicrohttpd): bodies buffered or streamed, auth, limits, CORS, dispatch. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/log.h"
#include "badgeflow/metrics.h"
#include "gateway.h"

struct gw_server {
    struct MHD_Daemon *mhd;
    int port;
};

/* Registered once at start-up (registration is not thread-safe; updates are). */
static struct bf_metric *m_requests, *m_seconds;

static const char *header(struct gw_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* ---- CORS ---- */

static bool origin_allowed(const struct gw *gw, const char *origin)
{
    size_t n = origin ? strlen(origin) : 0;
    const char *p = gw->cors_origins;

    if (!n || !p[0])
        return false;
    if (strcmp(p, "*") == 0)
        return true;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, origin, n) == 0)
            return true;
        p += len + (p[len] == ',');
        while (*p == ' ')
            p++;
    }
    return false;
}

static void cors_headers(struct gw_req *r, struct MHD_Response *resp)
{
    if (!origin_allowed(r->gw, r->origin))
        return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->origin);
    MHD_add_response_header(resp, "Vary", "Origin");
    MHD_add_response_header(resp, "Access-Control-Expose-Headers", "Retry-After, Location");
    if (strcmp(r->method, "OPTIONS") == 0) {
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, DELETE");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                "Authorization, Content-Type, Idempotency-Key");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    }
}

/* ---- the reply ---- */

/* Labels come from the route table (bounded), never from the path itself. */
static void count(struct gw_req *r)
{
    char labels[200];

    snprintf(labels, sizeof(labels), "%s %s,%d", r->method, r->route ? r->route->pattern : "other",
             r->status);
    bf_metrics_add(m_requests, labels, 1);
    bf_metrics_observe(m_seconds, r->route ? r->route->pattern : "other",
                       (double)(bf_mono_ms() - r->start_ms) / 1000.0);
}

static enum MHD_Result send_reply(struct gw_req *r)
{
    size_t len = r->out ? strlen(r->out) : 0;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, r->out ? r->out : (char *)"", r->out ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ok;

    if (!resp)
        return MHD_NO;
    r->out = NULL;
    if (len)
        MHD_add_response_header(resp, "Content-Type", r->out_type);
    for (int i = 0; i < r->nhdr; i++)
        MHD_add_response_header(resp, r->hdr[i][0], r->hdr[i][1]);
    cors_headers(r, resp);
    ok = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    if (r->status >= 500)
        bf_log_warn("BF_GATEWAY_5XX", "%s %s answered %d", r->method, r->path, r->status);
    count(r);
    return ok;
}

/* ---- before the body: route, size, auth, role, rate ---- */

static bool check_size(struct gw_req *r)
{
    const char *cl = header(r, "Content-Length");
    size_t cap = r->route->stream ? r->gw->max_upload : r->gw->max_body;
    long long n = 0;

    if (cl && bf_parse_ll(cl, 0, (long long)1 << 62, &n) == 0 && (size_t)n > cap) {
        gw_problem(r, 413, "too-large", "Content too large", NULL,
                   "the request body has %lld bytes; at most %zu are accepted", n, cap);
        return false;
    }
    return true;
}

static bool check_key(struct gw_req *r)
{
    struct bf_err err = {0};
    struct bf_pg *pg = gw_pool_get(r->gw->pool, &err);
    int rc = pg ? gw_auth(pg, header(r, "Authorization"), &r->key, &err) : -BF_ETRANSIENT;
    int retry = 1;
    char buf[16];

    if (pg)
        gw_pool_put(r->gw->pool, pg);
    if (rc == -BF_EDENIED) {
        gw_reply_header(r, "WWW-Authenticate", "Bearer realm=\"badgeflow\"");
        gw_problem(r, 401, "unauthorized", "Unauthorized", NULL, "%s", err.msg);
    } else if (rc < 0) {
        gw_problem_db(r, &err);
    } else if (!(r->route->roles & r->key.role)) {
        gw_problem(r, 403, "forbidden", "Forbidden", NULL, "this API key's role may not call %s %s",
                   r->method, r->route->pattern);
    } else if (!gw_limit_take(r->gw->limit, r->key.id, bf_mono_ms(), &retry)) {
        snprintf(buf, sizeof(buf), "%d", retry);
        gw_reply_header(r, "Retry-After", buf);
        gw_problem(r, 429, "rate-limited", "Too many requests", NULL,
                   "this API key is over its rate limit; retry after %d s", retry);
    }
    return r->status == 0;
}

static void prepare(struct gw_req *r)
{
    bool known = false;
    struct bf_err err = {0};

    if (strcmp(r->method, "OPTIONS") == 0) {
        r->status = 204;
        return;
    }
    r->route = gw_route_find(r->method, r->path, r->params, &known);
    if (!r->route) {
        if (known)
            gw_problem(r, 405, "method-not-allowed", "Method not allowed", NULL,
                       "%s is not allowed on %s", r->method, r->path);
        else
            gw_problem(r, 404, "not-found", "Not found", NULL, "no such resource: %s", r->path);
        return;
    }
    if (!check_size(r) || (r->route->roles != GW_PUBLIC && !check_key(r)))
        return;
    if (r->route->stream && gw_upload_open(r, &err) < 0)
        gw_problem(r, 500, "internal", "Internal error", NULL, "cannot store the upload");
}

/* ---- the body ---- */

static void take_body(struct gw_req *r, const char *data, size_t n)
{
    if (r->status || r->too_big)
        return; /* answered already: drain what the client still sends */
    if (r->route->stream) {
        gw_upload_write(r, data, n);
        return;
    }
    if (r->body_len + n > r->gw->max_body) {
        r->too_big = true;
        return;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = (r->body_len + n + 1) * 2;
        char *b = realloc(r->body, cap < r->gw->max_body + 1 ? cap : r->gw->max_body + 1);
        if (!b) {
            r->too_big = true;
            return;
        }
        r->body = b;
        r->body_cap = cap < r->gw->max_body + 1 ? cap : r->gw->max_body + 1;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
}

/* A refused upload's partial file goes before the answer, so a client never sees it. */
static void drop_upload(struct gw_req *r)
{
    if (r->up && r->status >= 400) {
        gw_upload_free(r->up);
        r->up = NULL;
    }
}

static void dispatch(struct gw_req *r)
{
    struct bf_err err = {0};

    if (r->too_big) {
        gw_problem(r, 413, "too-large", "Content too large", NULL,
                   "the request body is over %zu bytes",
                   r->route->stream ? r->gw->max_upload : r->gw->max_body);
        return;
    }
    r->pg = gw_pool_get(r->gw->pool, &err);
    if (!r->pg) {
        gw_problem_db(r, &err);
        return;
    }
    r->route->fn(r);
    gw_pool_put(r->gw->pool, r->pg);
    r->pg = NULL;
    if (!r->status)
        gw_problem(r, 500, "internal", "Internal error", NULL, "no reply");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct gw_req *r = *con_cls;

    (void)version;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        r->gw = cls;
        r->conn = conn;
        r->method = method;
        r->path = url;
        r->start_ms = bf_mono_ms();
        r->origin = header(r, "Origin");
        r->idem = header(r, "Idempotency-Key");
        *con_cls = r;
        prepare(r);
        return MHD_YES;
    }
    if (*upload_data_size) {
        take_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!r->status)
        dispatch(r);
    drop_upload(r);
    return send_reply(r);
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    struct gw_req *r = *con_cls;

    (void)cls, (void)conn, (void)toe;
    if (!r)
        return;
    gw_upload_free(r->up);
    free(r->body);
    free(r->out);
    free(r);
    *con_cls = NULL;
}

const char *gw_query(struct gw_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct gw_server *gw_server_start(struct gw *gw, struct bf_err *err)
{
    const char *listen = bf_cfg_str(gw->cfg, "gateway.listen");
    struct gw_server *s = calloc(1, sizeof(*s));
    struct sockaddr_storage ss;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY;
    const union MHD_DaemonInfo *info;
    char port[12];

    static const double bounds[] = {0.005, 0.02, 0.05, 0.1, 0.25, 1, 5};

    if (!s || bf_http_listen_addr("gateway.listen", listen, &ss, err) < 0)
        goto fail;
    if (!m_requests) {
        m_requests = bf_metrics_counter(
            "gateway_requests_total", "API requests answered, by route and status", "route,status");
        m_seconds =
            bf_metrics_histogram("gateway_request_seconds",
                                 "time to answer an API request, by route", "route", bounds, 7);
    }
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, gw, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)bf_cfg_int(gw->cfg, "gateway.threads"),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)bf_cfg_int(gw->cfg, "gateway.max_header"),
        MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_NOTIFY_COMPLETED, on_done, gw,
        MHD_OPTION_END);
    if (!s->mhd) {
        bf_err_set(err, BF_EIO, "gateway.listen: cannot listen on %s (in use?)", listen);
        goto fail;
    }
    info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    snprintf(port, sizeof(port), "%d", s->port);
    bf_log_kv(BF_LOG_INFO, "BF_GATEWAY_LISTEN", "API listening", "listen", listen, "port", port,
              NULL);
    return s;
fail:
    free(s);
    return NULL;
}

int gw_server_port(const struct gw_server *s)
{
    return s->port;
}

void gw_server_stop(struct gw_server *s)
{
    if (!s)
        return;
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    free(s);
}
