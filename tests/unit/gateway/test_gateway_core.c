/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the gateway's core: routes, problem pointers, rate buckets, sealed secrets,
 * upload sniffing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "badgeflow/redis.h"
#include "bf_test.h"
#include "gateway.h"

static void test_routes(void)
{
    char p[GW_MAX_PARAMS][160];
    bool known;
    const struct gw_route *rt;

    rt = gw_route_find("GET", "/v1/submissions/abc-1", p, &known);
    CHECK(rt && rt->fn == gw_submission_get);
    CHECK_STR(p[0], "abc-1");
    rt = gw_route_find("POST", "/v1/submissions/abc-1/withdraw", p, &known);
    CHECK(rt && rt->fn == gw_submission_withdraw && rt->roles == GW_DISTRICT);
    CHECK(gw_route_find("PUT", "/v1/submissions", p, &known) == NULL && known);
    CHECK(gw_route_find("GET", "/v1/nothing", p, &known) == NULL && !known);
    CHECK(gw_route_find("GET", "/v1/submissions/", p, &known) == NULL);
    CHECK(gw_route_find("GET", "/v1/submissions/a/b/c", p, &known) == NULL);
    rt = gw_route_find("POST", "/v1/uploads", p, &known);
    CHECK(rt && rt->stream);
    rt = gw_route_find("GET", "/v1/public/issuers/wcpss/jwks", p, &known);
    CHECK(rt && rt->roles == GW_PUBLIC);
    CHECK_STR(p[1], "wcpss");
}

static void test_pointer(void)
{
    char out[100];

    gw_field_pointer("evidence[2].uri", out, sizeof(out));
    CHECK_STR(out, "/evidence/2/uri");
    gw_field_pointer("educator.id", out, sizeof(out));
    CHECK_STR(out, "/educator/id");
    gw_field_pointer("a/b~c", out, sizeof(out));
    CHECK_STR(out, "/a~1b~0c"); /* RFC 6901 escapes */
}

static void test_limit(void)
{
    struct gw_limit *l = gw_limit_new(2.0, 3.0, NULL, NULL); /* 2/s, burst 3, this process */
    int retry = 0;

    CHECK(gw_limit_take(l, "k1", 1000, &retry));
    CHECK(gw_limit_take(l, "k1", 1000, &retry));
    CHECK(gw_limit_take(l, "k1", 1000, &retry));
    CHECK(!gw_limit_take(l, "k1", 1000, &retry) && retry == 1);
    CHECK(gw_limit_take(l, "k2", 1000, &retry)); /* its own bucket */
    CHECK(gw_limit_take(l, "k1", 1500, &retry)); /* refilled one token in 0.5 s */
    CHECK(!gw_limit_take(l, "k1", 1500, &retry));
    CHECK(gw_limit_take(NULL, "k1", 0, &retry)); /* no limit configured */
    gw_limit_free(l);
}

static struct bf_redis *redis_at(const char *host, int port)
{
    struct bf_err err = {0};

    return bf_redis_new(host, port, NULL, 0, 500, &err);
}

/* Two instances share a key's bucket in Redis; with Redis away each limits alone. */
static void test_limit_shared(void)
{
    const char *host = getenv("BADGEFLOW_REDIS_HOST");
    int port = (int)strtol(getenv("BADGEFLOW_REDIS_PORT"), NULL, 10);
    char prefix[64];
    struct gw_limit *a, *b, *lone;
    int retry = 0, taken = 0;

    snprintf(prefix, sizeof(prefix), "bf:test:rate:%d:", (int)getpid());
    a = gw_limit_new(0.01, 3.0, redis_at(host, port), prefix); /* one token per 100 s */
    b = gw_limit_new(0.01, 3.0, redis_at(host, port), prefix);
    CHECK(a && b);
    for (int i = 0; i < 6; i++)
        taken += gw_limit_take(i % 2 ? b : a, "k1", 1000, &retry);
    CHECK(taken == 3); /* 6 locally: 3 each */
    CHECK(retry >= 90 && retry <= 100);
    CHECK(gw_limit_take(b, "k2", 1000, &retry)); /* its own bucket */

    lone = gw_limit_new(0.01, 3.0, redis_at("127.0.0.1", 1), prefix); /* nobody listens */
    taken = 0;
    for (int i = 0; i < 5; i++)
        taken += gw_limit_take(lone, "k1", 1000, &retry);
    CHECK(taken == 3); /* its local bucket, not unlimited */
    gw_limit_free(a);
    gw_limit_free(b);
    gw_limit_free(lone);
}

static void test_secret(void)
{
    unsigned char kek[BF_SEAL_KEK_LEN], sealed[64 + BF_SEAL_OVERHEAD(BF_SEAL_V1)], plain[64];
    char secret[64];
    size_t len, slen = 0, plen = 0;

    memset(kek, 7, sizeof(kek));
    CHECK(gw_secret_new(secret) == 0);
    CHECK(strncmp(secret, "whsec_", 6) == 0 && strlen(secret) == 38);
    len = strlen(secret);
    /* the gateway's layout; refusals are tested in tests/unit/test_seal.c */
    CHECK(bf_seal(kek, BF_SEAL_V1, NULL, secret, len, sealed, sizeof(sealed), &slen, NULL) == 0);
    CHECK(sealed[0] == 1 && slen == len + 29);
    CHECK(bf_seal_open(kek, BF_SEAL_V1, NULL, sealed, slen, plain, sizeof(plain), &plen, NULL) ==
          0);
    CHECK(plen == len && memcmp(plain, secret, len) == 0);
}

static void test_sniff(void)
{
    const char *kind;

    CHECK_STR(gw_sniff((const unsigned char *)"\0\0\0\x20"
                                              "ftypisom",
                       12, &kind),
              "video/mp4");
    CHECK_STR(kind, "video");
    CHECK_STR(gw_sniff((const unsigned char *)"%PDF-1.7", 8, &kind), "application/pdf");
    CHECK_STR(gw_sniff((const unsigned char *)"Dear team,\n", 11, &kind), "text/plain");
    CHECK_STR(gw_sniff((const unsigned char *)"\x01\x02\x03", 3, &kind),
              "application/octet-stream");
    CHECK_STR(kind, "unknown");
    CHECK_STR(gw_sniff((const unsigned char *)"PK\x03\x04", 4, &kind), "application/zip");
}

int main(void)
{
    BF_TEST_RUN(test_routes);
    BF_TEST_RUN(test_pointer);
    BF_TEST_RUN(test_limit);
    if (getenv("BADGEFLOW_REDIS_HOST") && getenv("BADGEFLOW_REDIS_PORT"))
        BF_TEST_RUN(test_limit_shared);
    else
        bf_test_skip("test_limit_shared: BADGEFLOW_REDIS_HOST/PORT are not set (source the "
                     "stack.env of deploy/local/stack.sh)");
    BF_TEST_RUN(test_secret);
    BF_TEST_RUN(test_sniff);
    return BF_TEST_DONE();
}
