/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of bf_fetch: the address guard table, URL refusals, file:// under a root, caps. */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "badgeflow/fetch.h"
#include "badgeflow/util.h"
#include "bf_test.h"

static char tmp[] = "/tmp/bf-test-fetch-XXXXXX";
static char root[256], outside[256], dest[256];

struct addr_case {
    const char *addr;
    bool allow_loopback;
    const char *why; /* NULL: allowed */
};

static const struct addr_case addr_cases[] = {
    /* IPv4 */
    {"8.8.8.8", false, NULL},
    {"1.1.1.1", false, NULL},
    {"11.0.0.1", false, NULL},
    {"172.32.0.1", false, NULL},
    {"100.128.0.1", false, NULL},
    {"127.0.0.1", false, "a loopback address"},
    {"127.255.255.254", false, "a loopback address"},
    {"127.0.0.1", true, NULL},
    {"10.0.0.5", false, "a private address"},
    {"10.0.0.5", true, "a private address"},
    {"172.16.0.1", false, "a private address"},
    {"172.31.255.255", false, "a private address"},
    {"192.168.1.1", false, "a private address"},
    {"169.254.169.254", false, "a link-local address"},
    {"169.254.169.254", true, "a link-local address"},
    {"100.64.0.1", false, "a shared (CGNAT) address"},
    {"100.127.255.255", false, "a shared (CGNAT) address"},
    {"0.0.0.0", false, "an unspecified address"},
    {"0.1.2.3", true, "an unspecified address"},
    {"224.0.0.1", false, "a multicast address"},
    {"239.255.255.250", false, "a multicast address"},
    {"255.255.255.255", false, "a broadcast address"},
    {"240.0.0.1", false, "a reserved address"},
    {"192.0.0.8", false, "a reserved address"},
    {"192.88.99.1", false, "a reserved address"},
    {"192.0.2.1", false, "a documentation address"},
    {"198.51.100.7", false, "a documentation address"},
    {"203.0.113.9", false, "a documentation address"},
    {"198.18.0.1", false, "a benchmarking address"},
    {"198.19.255.255", false, "a benchmarking address"},
    /* IPv6 */
    {"2606:4700:4700::1111", false, NULL},
    {"2a00:1450:4001::1", false, NULL},
    {"::1", false, "a loopback address"},
    {"::1", true, NULL},
    {"::", false, "an unspecified address"},
    {"::ffff:127.0.0.1", false, "a loopback address"},
    {"::ffff:127.0.0.1", true, NULL},
    {"::ffff:10.0.0.5", false, "a private address"},
    {"::ffff:169.254.169.254", false, "a link-local address"},
    {"::ffff:8.8.8.8", false, NULL},
    {"::ffff:0:10.0.0.1", false, "a private address"},
    {"::ffff:0:8.8.8.8", false, NULL},
    {"::127.0.0.1", false, "a loopback address"},
    {"::8.8.8.8", false, "a deprecated IPv4-compatible address"},
    {"64:ff9b::10.0.0.1", false, "a private address"},
    {"64:ff9b::127.0.0.1", false, "a loopback address"},
    {"64:ff9b::8.8.8.8", false, NULL},
    {"64:ff9b:1::1", false, "a private address"},
    {"2002:0a00:0001::1", false, "a private address"},
    {"2002:7f00:0001::1", false, "a loopback address"},
    {"2002:0808:0808::1", false, NULL},
    {"fc00::1", false, "a private address"},
    {"fd00::2", false, "a private address"},
    {"fe80::1", false, "a link-local address"},
    {"febf::1", false, "a link-local address"},
    {"fec0::1", false, "a private address"},
    {"ff02::1", false, "a multicast address"},
    {"2001:db8::1", false, "a documentation address"},
    {"3fff::1", false, "a documentation address"},
    {"2001::1", false, "a reserved address"},
    {"100::1", false, "a discard-only address"},
    {"4000::1", false, "a reserved address"},
    {"::2", false, "an unspecified address"}, /* ::0.0.0.2 */
    {"::1.2.3.4", false, "a deprecated IPv4-compatible address"},
};

static void test_addr_table(void)
{
    for (size_t i = 0; i < BF_ARRAY_LEN(addr_cases); i++) {
        const struct addr_case *c = &addr_cases[i];
        struct sockaddr_in in = {.sin_family = AF_INET};
        struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
        const struct sockaddr *sa = (const struct sockaddr *)&in;
        const char *why;

        if (strchr(c->addr, ':')) {
            CHECK(inet_pton(AF_INET6, c->addr, &in6.sin6_addr) == 1);
            sa = (const struct sockaddr *)&in6;
        } else {
            CHECK(inet_pton(AF_INET, c->addr, &in.sin_addr) == 1);
        }
        why = bf_fetch_addr_refusal(sa, c->allow_loopback);
        if (c->why ? !why || strcmp(why, c->why) != 0 : why != NULL) {
            bf_test_failures++;
            fprintf(stderr, "     %s (loopback %s): got \"%s\", expected \"%s\"\n", c->addr,
                    c->allow_loopback ? "allowed" : "refused", why ? why : "allowed",
                    c->why ? c->why : "allowed");
        }
        CHECK(bf_fetch_addr_allowed(sa, c->allow_loopback) == (c->why == NULL));
    }
}

static void test_addr_not_ip(void)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};

    CHECK(!bf_fetch_addr_allowed((const struct sockaddr *)&un, true));
    CHECK(!bf_fetch_addr_allowed(NULL, true));
}

static void test_policy(void)
{
    struct bf_fetch_policy p;
    struct bf_fetch_result res;
    struct bf_err err = {0};

    bf_fetch_policy_init(&p);
    CHECK(!p.allow_loopback && !p.allow_http && p.file_root == NULL);
    CHECK(p.max_bytes > 0 && p.max_response_bytes == 64LL * 1024 && p.max_redirects == 5);
    p.timeout_ms = 0;
    CHECK(bf_fetch_to_file(&p, "https://example.com/", NULL, dest, &res, &err) == -BF_EINVAL);
    CHECK_CONTAINS(err.msg, "fetch policy");
}

/* Fetch url with p into dest; expect code and a message containing want. */
static void expect_get(const struct bf_fetch_policy *p, const char *url, int code, const char *want)
{
    struct bf_fetch_result res;
    struct bf_err err = {0};
    int rc = bf_fetch_to_file(p, url, NULL, dest, &res, &err);

    if (rc != -code || (want && !strstr(err.msg, want))) {
        bf_test_failures++;
        fprintf(stderr, "     %s: got %s \"%s\", expected %s \"%s\"\n", url, bf_err_name(rc),
                err.msg, bf_err_name(code), want ? want : "");
    }
    bf_test_checks++;
    CHECK(access(dest, F_OK) != 0);
}

/* Every spelling of a loopback host reaches the socket guard as 127.0.0.1 or ::1. */
static void test_loopback_spellings(void)
{
    static const char *const urls[] = {
        "https://127.0.0.1:1/x",       "https://localhost:1/x",
        "https://[::1]:1/x",           "https://2130706433:1/x",
        "https://0x7f000001:1/x",      "https://0177.0.0.1:1/x",
        "https://127.1:1/x",           "https://[::ffff:127.0.0.1]:1/x",
        "https://[::ffff:7f00:1]:1/x", "https://127.000.000.001:1/",
        "https://0x7f.1:1/",           "https://LOCALHOST:1/",
    };
    struct bf_fetch_policy p;
    int64_t t0 = bf_mono_ms();

    bf_fetch_policy_init(&p);
    for (size_t i = 0; i < BF_ARRAY_LEN(urls); i++)
        expect_get(&p, urls[i], BF_EDENIED, "is a loopback address");
    CHECK(bf_mono_ms() - t0 < 2000); /* refused before any connect, not timed out */
}

static void test_other_refused_hosts(void)
{
    struct bf_fetch_policy p;

    bf_fetch_policy_init(&p);
    p.allow_loopback = true; /* allowing loopback allows nothing else */
    expect_get(&p, "https://10.0.0.5/x", BF_EDENIED, "refused: 10.0.0.5 is a private address");
    expect_get(&p, "https://0x0a.0.0.5/x", BF_EDENIED, "10.0.0.5 is a private address");
    expect_get(&p, "https://167772165/x", BF_EDENIED, "10.0.0.5 is a private address");
    expect_get(&p, "https://169.254.169.254/latest/meta-data/", BF_EDENIED,
               "169.254.169.254 is a link-local address");
    expect_get(&p, "https://0/x", BF_EDENIED, "0.0.0.0 is an unspecified address");
    expect_get(&p, "https://[::]/x", BF_EDENIED, ":: is an unspecified address");
    expect_get(&p, "https://[fd00::2]/x", BF_EDENIED, "fd00::2 is a private address");
    expect_get(&p, "https://[fe80::1]/x", BF_EDENIED, "is a link-local address");
    expect_get(&p, "https://[::ffff:192.168.0.1]/x", BF_EDENIED,
               "::ffff:192.168.0.1 is a private address");
    expect_get(&p, "https://100.64.1.1/x", BF_EDENIED, "is a shared (CGNAT) address");
    expect_get(&p, "https://224.0.0.1/x", BF_EDENIED, "is a multicast address");
}

static void test_scheme_refusals(void)
{
    struct bf_fetch_policy p;
    struct bf_fetch_response resp;
    struct bf_err err = {0};

    bf_fetch_policy_init(&p);
    expect_get(&p, "ftp://example.com/x", BF_EDENIED, "scheme ftp is not allowed (https only)");
    expect_get(&p, "gopher://example.com/x", BF_EDENIED, "scheme gopher is not allowed");
    expect_get(&p, "dict://example.com/x", BF_EDENIED, "scheme dict is not allowed");
    expect_get(&p, "ldap://example.com/x", BF_EDENIED, "scheme ldap is not allowed");
    expect_get(&p, "http://example.com/x", BF_EDENIED, "scheme http is not allowed (https only)");
    expect_get(&p, "file:///etc/passwd", BF_EDENIED, "no file root");
    expect_get(&p, "not a url", BF_EINVAL, "url:");
    expect_get(&p, "//example.com/x", BF_EINVAL, "url:");
    p.allow_http = true;
    expect_get(&p, "http://127.0.0.1:1/x", BF_EDENIED, "127.0.0.1 is a loopback address");
    expect_get(&p, "ftp://example.com/x", BF_EDENIED, "(http and https only)");
    p.file_root = root;
    CHECK(bf_fetch_post(&p, "file:///etc/passwd", NULL, "x", 1, &resp, &err) == -BF_EDENIED);
    CHECK_CONTAINS(err.msg, "scheme file is not allowed");
    bf_fetch_response_free(&resp);
    CHECK(bf_fetch_post(&p, "https://[::1]:1/hook", NULL, "x", 1, &resp, &err) == -BF_EDENIED);
    CHECK_CONTAINS(err.msg, "::1 is a loopback address");
    bf_fetch_response_free(&resp);
}

static void test_post_bad_headers(void)
{
    static const char *const crlf[] = {"X-A: b\r\nX-Injected: 1", NULL};
    static const char *const noname[] = {": value", NULL};
    struct bf_fetch_policy p;
    struct bf_fetch_response resp;
    struct bf_err err = {0};

    bf_fetch_policy_init(&p);
    CHECK(bf_fetch_post(&p, "https://example.com/", crlf, "x", 1, &resp, &err) == -BF_EINVAL);
    CHECK_CONTAINS(err.msg, "headers[0]");
    CHECK(bf_fetch_post(&p, "https://example.com/", noname, "x", 1, &resp, &err) == -BF_EINVAL);
    bf_fetch_response_free(&resp);
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    CHECK(f != NULL);
    if (f) {
        CHECK(fwrite(data, 1, len, f) == len);
        fclose(f);
    }
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
            buf[n] = '\0';
            *len = (size_t)n;
        }
    }
    fclose(f);
    return buf;
}

/* Number of "*.part.*" files left in tmp (a failed fetch must leave none). */
static int part_files(void)
{
    DIR *d = opendir(tmp);
    struct dirent *e;
    int n = 0;

    while (d && (e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".part.") != NULL;
    if (d)
        closedir(d);
    return n;
}

static void test_file_root_happy(void)
{
    struct bf_fetch_policy p;
    struct bf_fetch_result res;
    struct bf_err err = {0};
    char url[512];
    size_t len = 0;
    char *got;

    bf_fetch_policy_init(&p);
    p.file_root = root;
    snprintf(url, sizeof(url), "file://%s/abc.txt", root);
    CHECK(bf_fetch_to_file(&p, url, NULL, dest, &res, &err) == 0);
    CHECK_STR(res.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(res.bytes == 3 && res.status == 0);
    got = read_file(dest, &len);
    CHECK(got && len == 3 && memcmp(got, "abc", 3) == 0);
    free(got);
    unlink(dest);
    /* expected checksum in upper case, a symlink inside the root, an encoded name */
    snprintf(url, sizeof(url), "file://%s/inner-link", root);
    CHECK(bf_fetch_to_file(&p, url,
                           "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", dest,
                           &res, &err) == 0);
    unlink(dest);
    snprintf(url, sizeof(url), "file://localhost%s/with%%20space.txt", root);
    CHECK(bf_fetch_to_file(&p, url, NULL, dest, &res, &err) == 0);
    CHECK(res.bytes == 5);
    unlink(dest);
    CHECK(part_files() == 0);
}

static void test_file_root_refusals(void)
{
    struct bf_fetch_policy p;
    char url[512];

    bf_fetch_policy_init(&p);
    p.file_root = root;
    expect_get(&p, "file:///etc/hostname", BF_EDENIED, "is outside the file root");
    snprintf(url, sizeof(url), "file://%s/../outside/secret.txt", root);
    expect_get(&p, url, BF_EDENIED, "is outside the file root");
    snprintf(url, sizeof(url), "file://%s/escape-link", root);
    expect_get(&p, url, BF_EDENIED, "is outside the file root");
    snprintf(url, sizeof(url), "file://%s/dir-link/secret.txt", root);
    expect_get(&p, url, BF_EDENIED, "is outside the file root");
    snprintf(url, sizeof(url), "file://%s/sub", root);
    expect_get(&p, url, BF_EDENIED, "is not a regular file");
    snprintf(url, sizeof(url), "file://%s/fifo", root);
    expect_get(&p, url, BF_EDENIED, "is not a regular file");
    expect_get(&p, "file:///dev/zero", BF_EDENIED, "is outside the file root");
    snprintf(url, sizeof(url), "file://%s/missing", root);
    expect_get(&p, url, BF_ENOTFOUND, "no such file");
    snprintf(url, sizeof(url), "file://evil.example%s/abc.txt", root);
    expect_get(&p, url, BF_EINVAL, "Bad file:// URL"); /* curl refuses a remote host */
    CHECK(part_files() == 0);
}

static void test_checksum_and_caps(void)
{
    struct bf_fetch_policy p;
    struct bf_fetch_result res;
    struct bf_err err = {0};
    char url[512], big[512];
    size_t len = 0;
    char *got;

    bf_fetch_policy_init(&p);
    p.file_root = root;
    snprintf(url, sizeof(url), "file://%s/abc.txt", root);
    write_file(dest, "old", 3); /* a failed fetch leaves an existing file alone */
    CHECK(bf_fetch_to_file(&p, url,
                           "00000000000000000000000000000000000000000000000000000000"
                           "00000000",
                           dest, &res, &err) == -BF_EINVAL);
    CHECK_CONTAINS(err.msg, "checksum mismatch");
    CHECK(bf_fetch_to_file(&p, url, "abc", dest, &res, &err) == -BF_EINVAL);
    CHECK_CONTAINS(err.msg, "64 hex digits");
    p.max_bytes = 2;
    CHECK(bf_fetch_to_file(&p, url, NULL, dest, &res, &err) == -BF_ETOOBIG);
    CHECK_STR(err.msg, "larger than 2 bytes");
    got = read_file(dest, &len);
    CHECK(got && len == 3 && memcmp(got, "old", 3) == 0);
    free(got);
    unlink(dest);
    /* 5 MiB streams through in chunks; a 4 MiB cap refuses it */
    snprintf(big, sizeof(big), "file://%s/big.bin", root);
    p.max_bytes = 5 << 20;
    CHECK(bf_fetch_to_file(&p, big, NULL, dest, &res, &err) == 0);
    CHECK(res.bytes == 5 << 20);
    unlink(dest);
    p.max_bytes = 4 << 20;
    CHECK(bf_fetch_to_file(&p, big, NULL, dest, &res, &err) == -BF_ETOOBIG);
    CHECK_STR(err.msg, "larger than 4194304 bytes");
    CHECK(access(dest, F_OK) != 0);
    CHECK(bf_fetch_to_file(&p, url, NULL, "/nonexistent-dir/x", &res, &err) == -BF_EIO);
    CHECK(part_files() == 0);
}

static int setup(void)
{
    char path[512], *big;
    int rc = 0;

    if (!mkdtemp(tmp))
        return -1;
    snprintf(root, sizeof(root), "%s/root", tmp);
    snprintf(outside, sizeof(outside), "%s/outside", tmp);
    snprintf(dest, sizeof(dest), "%s/dest.bin", tmp);
    rc |= mkdir(root, 0700) | mkdir(outside, 0700);
    snprintf(path, sizeof(path), "%s/sub", root);
    rc |= mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/abc.txt", root);
    write_file(path, "abc", 3);
    snprintf(path, sizeof(path), "%s/with space.txt", root);
    write_file(path, "space", 5);
    snprintf(path, sizeof(path), "%s/secret.txt", outside);
    write_file(path, "secret", 6);
    snprintf(path, sizeof(path), "%s/escape-link", root);
    rc |= symlink("../outside/secret.txt", path);
    snprintf(path, sizeof(path), "%s/dir-link", root);
    rc |= symlink(outside, path);
    snprintf(path, sizeof(path), "%s/inner-link", root);
    rc |= symlink("abc.txt", path);
    snprintf(path, sizeof(path), "%s/fifo", root);
    rc |= mkfifo(path, 0600);
    big = calloc(1, 5 << 20);
    snprintf(path, sizeof(path), "%s/big.bin", root);
    if (big)
        write_file(path, big, 5 << 20);
    free(big);
    return rc;
}

static void teardown(void)
{
    static const char *const files[] = {"root/abc.txt",  "root/with space.txt", "root/escape-link",
                                        "root/dir-link", "root/inner-link",     "root/fifo",
                                        "root/big.bin",  "outside/secret.txt",  "dest.bin"};
    static const char *const dirs[] = {"root/sub", "root", "outside", ""};
    char path[512];

    for (size_t i = 0; i < BF_ARRAY_LEN(files); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmp, files[i]);
        unlink(path);
    }
    for (size_t i = 0; i < BF_ARRAY_LEN(dirs); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmp, dirs[i]);
        rmdir(path);
    }
}

int main(void)
{
    if (bf_fetch_global_init() < 0 || setup() < 0) {
        fprintf(stderr, "setup failed\n");
        return 2;
    }
    BF_TEST_RUN(test_addr_table);
    BF_TEST_RUN(test_addr_not_ip);
    BF_TEST_RUN(test_policy);
    BF_TEST_RUN(test_loopback_spellings);
    BF_TEST_RUN(test_other_refused_hosts);
    BF_TEST_RUN(test_scheme_refusals);
    BF_TEST_RUN(test_post_bad_headers);
    BF_TEST_RUN(test_file_root_happy);
    BF_TEST_RUN(test_file_root_refusals);
    BF_TEST_RUN(test_checksum_and_caps);
    teardown();
    return BF_TEST_DONE();
}
