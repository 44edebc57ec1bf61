/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of trace.c: W3C traceparent parsing, validation and child spans. */
#include <string.h>

#include "badgeflow/trace.h"
#include "bf_test.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static void test_parse_valid(void)
{
    struct bf_trace t;

    CHECK(bf_trace_parse(TP, &t) == 0);
    CHECK(t.version == 0);
    CHECK_STR(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK_STR(t.span_id, "00f067aa0ba902b7");
    CHECK(t.flags == 1);
    /* A later version may append fields. */
    CHECK(bf_trace_valid("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what"));
}

static void test_parse_invalid(void)
{
    static const char *const bad[] = {
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   /* upper case */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   /* zero span id */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* version ff */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", /* 00 with extra */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(!bf_trace_valid(bad[i]));
        if (bf_trace_valid(bad[i]))
            fprintf(stderr, "  accepted: %s\n", bad[i]);
    }
    CHECK(!bf_trace_valid(NULL));
}

static void test_child_keeps_trace(void)
{
    char out[BF_TRACEPARENT_LEN + 1], id[BF_TRACE_ID_LEN + 1];
    struct bf_trace t;

    CHECK(bf_trace_child(TP, out) == 0);
    CHECK(strlen(out) == BF_TRACEPARENT_LEN);
    CHECK(bf_trace_parse(out, &t) == 0);
    CHECK_STR(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(strcmp(t.span_id, "00f067aa0ba902b7") != 0);
    CHECK(t.flags == 1);
    CHECK(bf_trace_id(out, id));
    CHECK_STR(id, "4bf92f3577b34da6a3ce929d0e0e4736");
}

static void test_child_new_trace(void)
{
    char a[BF_TRACEPARENT_LEN + 1], b[BF_TRACEPARENT_LEN + 1], id[BF_TRACE_ID_LEN + 1];

    CHECK(bf_trace_child(NULL, a) == 0);
    CHECK(bf_trace_child("garbage", b) == 0);
    CHECK(bf_trace_valid(a));
    CHECK(bf_trace_valid(b));
    CHECK(strncmp(a, b, 35) != 0);
    CHECK(!bf_trace_id("garbage", id));
    CHECK_STR(id, "");
}

int main(void)
{
    BF_TEST_RUN(test_parse_valid);
    BF_TEST_RUN(test_parse_invalid);
    BF_TEST_RUN(test_child_keeps_trace);
    BF_TEST_RUN(test_child_new_trace);
    return BF_TEST_DONE();
}
