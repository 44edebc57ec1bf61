/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of json.c: typed getters and error messages that name the field path. */
#include <stdlib.h>

#include "badgeflow/json.h"
#include "bf_test.h"

static json_t *parse(const char *text)
{
    struct bf_err err;
    json_t *j = bf_json_parse_object(text, strlen(text), &err);

    if (!j)
        fprintf(stderr, "parse failed: %s\n", err.msg);
    return j;
}

static void test_parse_errors(void)
{
    struct bf_err err;

    CHECK(bf_json_parse_object("{\"a\": ", 6, &err) == NULL);
    CHECK_CONTAINS(err.msg, "value: invalid JSON at line 1");
    CHECK(bf_json_parse_object("[1,2]", 5, &err) == NULL);
    CHECK_STR(err.msg, "value: must be a JSON object");
    CHECK(bf_json_parse_object("{\"a\":1,\"a\":2}", 13, &err) == NULL);
    CHECK_CONTAINS(err.msg, "duplicate");
    /* Embedded NUL inside a string is refused by jansson by default. */
    CHECK(bf_json_parse_object("{\"a\":\"x\\u0000y\"}", 16, &err) == NULL);
}

static void test_getters(void)
{
    json_t *j = parse("{\"id\":\"sub-1\",\"n\":3,\"ok\":true,\"at\":\"2026-11-23T16:05:00Z\","
                      "\"outcome\":\"earned\",\"items\":[{\"uri\":\"https://x\"}],\"o\":{}}");
    struct bf_err err;
    const char *s = NULL;
    long long n = 0;
    bool b = false;
    int64_t t = 0;
    json_t *a = NULL, *o = NULL;

    CHECK(bf_json_id(j, "", "id", &s, &err) == 0);
    CHECK_STR(s, "sub-1");
    CHECK(bf_json_int(j, "", "n", 1, 5, &n, &err) == 0 && n == 3);
    CHECK(bf_json_bool(j, "", "ok", &b, &err) == 0 && b);
    CHECK(bf_json_time(j, "", "at", &t, &err) == 0 && t == 1795449900000LL);
    CHECK(bf_json_enum(j, "", "outcome", "earned|not_yet", &s, &err) == 0);
    CHECK(bf_json_array(j, "", "items", 1, 50, &a, &err) == 0 && json_array_size(a) == 1);
    CHECK(bf_json_object(j, "", "o", &o, &err) == 0);
    CHECK(bf_json_str(json_array_get(a, 0), "items[0]", "uri", 1, 10, &s, &err) == 0);
    CHECK(bf_json_int(j, "", "n", 1, 5, &n, &err) == 0);
    s = "untouched";
    CHECK(bf_json_str_opt(j, "", "missing", 1, 10, &s, &err) == 0);
    CHECK_STR(s, "untouched");
    json_decref(j);
}

static void test_errors_name_fields(void)
{
    json_t *j = parse("{\"id\":\"bad id!\",\"n\":9,\"s\":5,\"outcome\":\"maybe\",\"at\":\"x\","
                      "\"items\":[],\"extra\":1}");
    static const char *const allowed[] = {"id", "n", "s", "outcome", "at", "items", NULL};
    struct bf_err err;
    const char *s;
    long long n;
    int64_t t;
    json_t *a;

    CHECK(bf_json_id(j, "educator", "id", &s, &err) == -BF_EINVAL);
    CHECK_CONTAINS(err.msg, "educator.id: must be an id");
    CHECK(bf_json_int(j, "", "n", 1, 5, &n, &err) == -BF_EINVAL);
    CHECK_STR(err.msg, "n: must be an integer in [1, 5]");
    CHECK(bf_json_str(j, "", "s", 1, 5, &s, &err) == -BF_EINVAL);
    CHECK_STR(err.msg, "s: must be a string of 1..5 characters");
    CHECK(bf_json_enum(j, "", "outcome", "earned|not_yet", &s, &err) == -BF_EINVAL);
    CHECK_STR(err.msg, "outcome: must be one of earned|not_yet");
    CHECK(bf_json_time(j, "", "at", &t, &err) == -BF_EINVAL);
    CHECK(bf_json_array(j, "", "items", 1, 50, &a, &err) == -BF_EINVAL);
    CHECK_STR(err.msg, "items: must be an array of 1..50 items");
    CHECK(bf_json_str(j, "evidence[2]", "uri", 1, 5, &s, &err) == -BF_EINVAL);
    CHECK_STR(err.msg, "evidence[2].uri: is required");
    CHECK(bf_json_only(j, "", allowed, &err) == -BF_EINVAL);
    CHECK_STR(err.msg, "extra: unknown field");
    json_t *arr = json_array();
    CHECK(bf_json_int(arr, "x", "n", 0, 1, &n, &err) == -BF_EINVAL);
    json_decref(arr);
    json_decref(j);
}

static void test_null_chars_and_reals(void)
{
    json_t *j = parse("{\"a\":null,\"e\":\"\u00e9t\u00e9\",\"r\":2.0,\"h\":2.5}");
    struct bf_err err;
    const char *s;
    long long n;

    CHECK(bf_json_str_opt(j, "", "a", 0, 9, &s, &err) == -BF_EINVAL);
    CHECK_CONTAINS(err.msg, "a: must be a string");
    CHECK(bf_json_str(j, "", "e", 1, 3, &s, &err) == 0); /* 3 characters, 5 bytes */
    CHECK(bf_json_str(j, "", "e", 1, 2, &s, &err) == -BF_EINVAL);
    CHECK(bf_json_int(j, "", "r", 0, 5, &n, &err) == 0 && n == 2);
    CHECK(bf_json_int(j, "", "h", 0, 5, &n, &err) == -BF_EINVAL);
    json_decref(j);
}

static void test_dump_sorted(void)
{
    json_t *j = parse("{\"b\":1,\"a\":\"x\"}");
    char *s = bf_json_dump(j);

    CHECK_STR(s, "{\"a\":\"x\",\"b\":1}");
    free(s);
    json_decref(j);
}

int main(void)
{
    BF_TEST_RUN(test_parse_errors);
    BF_TEST_RUN(test_getters);
    BF_TEST_RUN(test_errors_name_fields);
    BF_TEST_RUN(test_null_chars_and_reals);
    BF_TEST_RUN(test_dump_sorted);
    return BF_TEST_DONE();
}
