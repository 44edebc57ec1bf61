/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of util.c and err.c: parsing, UUIDs (RFC 4122 vectors), RFC 3339, back-off. */
#include <stdint.h>

#include "badgeflow/util.h"
#include "bf_test.h"

static void test_parse_ll(void)
{
    long long v = 0;

    CHECK(bf_parse_ll("42", 0, 100, &v) == 0 && v == 42);
    CHECK(bf_parse_ll("-5", -10, 10, &v) == 0 && v == -5);
    CHECK(bf_parse_ll("101", 0, 100, &v) == -BF_EINVAL);
    CHECK(bf_parse_ll("12x", 0, 100, &v) == -BF_EINVAL);
    CHECK(bf_parse_ll("", 0, 100, &v) == -BF_EINVAL);
    CHECK(bf_parse_ll(" 1", 0, 100, &v) == -BF_EINVAL);
    CHECK(bf_parse_ll("99999999999999999999", 0, 100, &v) == -BF_EINVAL);
}

static void test_parse_bool(void)
{
    bool b = false;

    CHECK(bf_parse_bool("YES", &b) == 0 && b);
    CHECK(bf_parse_bool("off", &b) == 0 && !b);
    CHECK(bf_parse_bool("maybe", &b) == -BF_EINVAL);
}

static void test_uuid(void)
{
    char a[BF_UUID_STRLEN + 1], b[BF_UUID_STRLEN + 1];

    CHECK(bf_uuid_v4(a) == 0 && bf_uuid_v4(b) == 0);
    CHECK(bf_uuid_valid(a) && a[14] == '4' && strchr("89ab", a[19]));
    CHECK(strcmp(a, b) != 0);
    /* RFC 9562 appendix A.4 / Python uuid.uuid5(NAMESPACE_DNS, "www.example.com"). */
    CHECK(bf_uuid_v5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com", a) == 0);
    CHECK_STR(a, "2ed6657d-e927-568b-95e1-2665a8aea6a2");
    CHECK(bf_uuid_v5("not-a-uuid", "x", a) == -BF_EINVAL);
    CHECK(!bf_uuid_valid("2ed6657d-e927-568b-95e1-2665a8aea6a"));
    CHECK(!bf_uuid_valid("2ed6657d_e927-568b-95e1-2665a8aea6a2"));
    CHECK(!bf_uuid_valid("2ED6657D-E927-568B-95E1-2665A8AEA6A2"));
}

static void test_time(void)
{
    char s[BF_TIME_STRLEN];
    int64_t ms = 0;

    CHECK(bf_time_parse("2026-11-23T16:05:00Z", &ms) == 0 && ms == 1795449900000LL);
    CHECK(bf_time_parse("2026-11-23T17:05:00.250+01:00", &ms) == 0 && ms == 1795449900250LL);
    bf_time_format(1795449900250LL, s);
    CHECK_STR(s, "2026-11-23T16:05:00.250Z");
    CHECK(bf_time_parse("2026-13-01T00:00:00Z", &ms) == -BF_EINVAL);
    CHECK(bf_time_parse("2026-11-23T16:05:00", &ms) == -BF_EINVAL);
    CHECK(bf_time_parse("2026-11-23T16:05:00Zjunk", &ms) == -BF_EINVAL);
    CHECK(bf_time_parse("yesterday", &ms) == -BF_EINVAL);
    CHECK(bf_time_parse("2026-02-30T00:00:00Z", &ms) == -BF_EINVAL);
    CHECK(bf_time_parse("2024-02-29T00:00:00Z", &ms) == 0);
    CHECK(bf_time_parse("2026-11-23 16:05:00Z", &ms) == -BF_EINVAL);
}

static void test_backoff(void)
{
    for (unsigned i = 0; i < 40; i++) {
        int64_t d = bf_backoff_ms(i, 100, 30000);
        CHECK(d >= 100 && d <= 30000);
    }
    CHECK(bf_backoff_ms(0, 100, 30000) <= 100);
}

static void test_strings(void)
{
    char small[4], hex[9];
    const unsigned char bytes[] = {0xde, 0xad, 0xbe, 0xef};

    CHECK(!bf_strlcpy(small, "abcdef", sizeof(small)));
    CHECK_STR(small, "abc");
    CHECK(bf_strlcpy(small, "ab", sizeof(small)));
    bf_hex(bytes, sizeof(bytes), hex);
    CHECK_STR(hex, "deadbeef");
}

static void test_err(void)
{
    struct bf_err err;

    CHECK(bf_err_set(&err, BF_EINVAL, "n: must be %d", 3) == -BF_EINVAL);
    CHECK(bf_err_prefix(&err, "record %s", "x") == -BF_EINVAL);
    CHECK_STR(err.msg, "record x: n: must be 3");
    CHECK_STR(bf_err_name(-BF_ETRANSIENT), "BF_ETRANSIENT");
    CHECK_STR(bf_err_name(999), "BF_EUNKNOWN");
    CHECK(bf_err_set(NULL, BF_EIO, "ignored") == -BF_EIO);
}

int main(void)
{
    BF_TEST_RUN(test_parse_ll);
    BF_TEST_RUN(test_parse_bool);
    BF_TEST_RUN(test_uuid);
    BF_TEST_RUN(test_time);
    BF_TEST_RUN(test_backoff);
    BF_TEST_RUN(test_strings);
    BF_TEST_RUN(test_err);
    return BF_TEST_DONE();
}
