/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of http.c: a real server on loopback driven by a real client (libcurl). */
#include <curl/curl.h>
#include <stdlib.h>

#include "badgeflow/http.h"
#include "bf_test.h"

static void on_hello(void *ctx, const struct bf_http_request *req, struct bf_http_response *resp)
{
    char body[256];
    const char *who = bf_http_query(req, "who");

    snprintf(body, sizeof(body), "hello %s, %s sent %zu bytes (%s)", who ? who : "nobody",
             req->method, req->body_len, *(const char **)ctx);
    bf_http_reply(resp, 200, "text/plain", body);
    bf_http_add_header(resp, "Retry-After", "7");
}

static const struct bf_http_route routes[] = {
    {"GET", "/hello", false, on_hello},
    {"POST", "/hello", false, on_hello},
    {NULL, "/any/", true, on_hello},
    {NULL, NULL, false, NULL},
};

struct reply {
    long status;
    char body[512];
    size_t len;
    char retry_after[16];
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct reply *r = arg;
    size_t len = size * n, room = sizeof(r->body) - 1 - r->len;

    memcpy(r->body + r->len, data, len < room ? len : room);
    r->len += len < room ? len : room;
    r->body[r->len] = '\0';
    return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct reply *r = arg;

    if (size * n > 13 && strncasecmp(data, "Retry-After: ", 13) == 0)
        snprintf(r->retry_after, sizeof(r->retry_after), "%.*s", (int)strcspn(data + 13, "\r\n"),
                 data + 13);
    return size * n;
}

static struct reply call(int port, const char *method, const char *path, const char *body,
                         size_t body_len)
{
    struct reply r = {0};
    char url[256];
    CURL *c = curl_easy_init();

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    return r;
}

static void test_routes(void)
{
    const char *tag = "ctx-ok";
    struct bf_err err;
    struct bf_http_server *srv = bf_http_start("127.0.0.1:0", routes, &tag, 1024, &err);
    struct reply r;
    char *big;
    int port;

    CHECK(srv != NULL);
    if (!srv)
        return;
    port = bf_http_port(srv);
    CHECK(port > 0);
    r = call(port, "GET", "/hello?who=district", NULL, 0);
    CHECK(r.status == 200);
    CHECK_STR(r.body, "hello district, GET sent 0 bytes (ctx-ok)");
    CHECK_STR(r.retry_after, "7");
    r = call(port, "POST", "/hello", "{\"a\":1}", 7);
    CHECK_STR(r.body, "hello nobody, POST sent 7 bytes (ctx-ok)");
    CHECK(call(port, "DELETE", "/hello", NULL, 0).status == 405);
    CHECK(call(port, "GET", "/nowhere", NULL, 0).status == 404);
    CHECK(call(port, "PUT", "/any/thing", "x", 1).status == 200);
    big = malloc(4096);
    memset(big, 'x', 4096);
    CHECK(call(port, "POST", "/hello", big, 4096).status == 413);
    free(big);
    bf_http_stop(srv);
}

static void test_bad_listen(void)
{
    struct bf_err err;
    struct bf_http_server *a, *b;
    char listen[64];

    CHECK(bf_http_start("localhost", routes, NULL, 1, &err) == NULL);
    CHECK_CONTAINS(err.msg, "http.listen: 'localhost' is not host:port");
    CHECK(bf_http_start("example.org:80", routes, NULL, 1, &err) == NULL);
    CHECK_CONTAINS(err.msg, "is not a numeric IP address");
    a = bf_http_start("127.0.0.1:0", routes, NULL, 1, &err);
    CHECK(a != NULL);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", a ? bf_http_port(a) : 1);
    b = bf_http_start(listen, routes, NULL, 1, &err);
    CHECK(b == NULL);
    CHECK_CONTAINS(err.msg, "cannot listen on 127.0.0.1:");
    bf_http_stop(a);
    bf_http_stop(b);
}

static void test_split_hostport(void)
{
    char host[64];
    int port;

    CHECK(bf_http_split_hostport("[::1]:8080", host, sizeof(host), &port) == 0);
    CHECK_STR(host, "::1");
    CHECK(port == 8080);
    CHECK(bf_http_split_hostport("127.0.0.1:99999", host, sizeof(host), &port) == -BF_EINVAL);
    CHECK(bf_http_split_hostport(":80", host, sizeof(host), &port) == -BF_EINVAL);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    BF_TEST_RUN(test_routes);
    BF_TEST_RUN(test_bad_listen);
    BF_TEST_RUN(test_split_hostport);
    curl_global_cleanup();
    return BF_TEST_DONE();
}
