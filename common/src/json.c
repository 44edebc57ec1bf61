/* SPDX-License-Identifier: Apache-2.0 */
/* Typed JSON getters whose errors name the field path ("evidence[2].uri: is required"). */
#include <stdlib.h>
#include <string.h>

#include "badgeflow/json.h"
#include "badgeflow/util.h"

/* "<path>.<name>", or just name at the top. */
static void field_path(const char *path, const char *name, char *out, size_t n)
{
    if (path && *path)
        snprintf(out, n, "%s.%s", path, name);
    else
        snprintf(out, n, "%s", name);
}

/*
 * Look up member name. Returns 1 and sets *v when present, 0 when absent, negative with
 * err when obj is not an object. A null member is present: the type checks refuse it, as
 * the schemas do (optional means absent, never null).
 */
static int member(const json_t *obj, const char *path, const char *name, json_t **v,
                  struct bf_err *err)
{
    if (!json_is_object(obj))
        return bf_err_set(err, BF_EINVAL, "%s: must be an object", path && *path ? path : "value");
    *v = json_object_get(obj, name);
    return *v ? 1 : 0;
}

static int required(const char *path, const char *name, struct bf_err *err)
{
    char f[256];

    field_path(path, name, f, sizeof(f));
    return bf_err_set(err, BF_EINVAL, "%s: is required", f);
}

static int wrong(const char *path, const char *name, const char *what, struct bf_err *err)
{
    char f[256];

    field_path(path, name, f, sizeof(f));
    return bf_err_set(err, BF_EINVAL, "%s: must be %s", f, what);
}

/* Number of UTF-8 code points of s (jansson has already checked it is valid UTF-8). */
static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

static int str_check(json_t *v, const char *path, const char *name, size_t min_len, size_t max_len,
                     const char **out, struct bf_err *err)
{
    char what[96];
    size_t len;

    snprintf(what, sizeof(what), "a string of %zu..%zu characters", min_len, max_len);
    if (!json_is_string(v))
        return wrong(path, name, what, err);
    len = json_string_length(v);
    if (strlen(json_string_value(v)) != len) /* an embedded NUL */
        return wrong(path, name, what, err);
    len = utf8_chars(json_string_value(v), len);
    if (len < min_len || len > max_len)
        return wrong(path, name, what, err);
    *out = json_string_value(v);
    return 0;
}

int bf_json_str_opt(const json_t *obj, const char *path, const char *name, size_t min_len,
                    size_t max_len, const char **out, struct bf_err *err)
{
    json_t *v = NULL;
    int rc = member(obj, path, name, &v, err);

    if (rc <= 0)
        return rc;
    return str_check(v, path, name, min_len, max_len, out, err);
}

int bf_json_str(const json_t *obj, const char *path, const char *name, size_t min_len,
                size_t max_len, const char **out, struct bf_err *err)
{
    json_t *v = NULL;
    int rc = member(obj, path, name, &v, err);

    if (rc < 0)
        return rc;
    if (rc == 0)
        return required(path, name, err);
    return str_check(v, path, name, min_len, max_len, out, err);
}

static int int_check(json_t *v, const char *path, const char *name, long long min, long long max,
                     long long *out, struct bf_err *err)
{
    char what[96];

    long long n;

    snprintf(what, sizeof(what), "an integer in [%lld, %lld]", min, max);
    if (json_is_real(v) && json_real_value(v) == (double)(long long)json_real_value(v))
        n = (long long)json_real_value(v); /* 2.0 is an integer to JSON Schema too */
    else if (json_is_integer(v))
        n = json_integer_value(v);
    else
        return wrong(path, name, what, err);
    if (n < min || n > max)
        return wrong(path, name, what, err);
    *out = n;
    return 0;
}

int bf_json_int_opt(const json_t *obj, const char *path, const char *name, long long min,
                    long long max, long long *out, struct bf_err *err)
{
    json_t *v = NULL;
    int rc = member(obj, path, name, &v, err);

    if (rc <= 0)
        return rc;
    return int_check(v, path, name, min, max, out, err);
}

int bf_json_int(const json_t *obj, const char *path, const char *name, long long min, long long max,
                long long *out, struct bf_err *err)
{
    json_t *v = NULL;
    int rc = member(obj, path, name, &v, err);

    if (rc < 0)
        return rc;
    if (rc == 0)
        return required(path, name, err);
    return int_check(v, path, name, min, max, out, err);
}

int bf_json_bool(const json_t *obj, const char *path, const char *name, bool *out,
                 struct bf_err *err)
{
    json_t *v = NULL;
    int rc = member(obj, path, name, &v, err);

    if (rc < 0)
        return rc;
    if (rc == 0)
        return required(path, name, err);
    if (!json_is_boolean(v))
        return wrong(path, name, "true or false", err);
    *out = json_is_true(v);
    return 0;
}

bool bf_json_id_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n < 1 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

static int id_check(json_t *v, const char *path, const char *name, const char **out,
                    struct bf_err *err)
{
    if (!json_is_string(v) || !bf_json_id_valid(json_string_value(v)))
        return wrong(path, name, "an id of 1..128 characters [A-Za-z0-9._:-]", err);
    *out = json_string_value(v);
    return 0;
}

int bf_json_id(const json_t *obj, const char *path, const char *name, const char **out,
               struct bf_err *err)
{
    json_t *v = NULL;
    int rc = member(obj, path, name, &v, err);

    if (rc < 0)
        return rc;
    if (rc == 0)
        return required(path, name, err);
    return id_check(v, path, name, out, err);
}

int bf_json_id_opt(const json_t *obj, const char *path, const char *name, const char **out,
                   struct bf_err *err)
{
    json_t *v = NULL;
    int rc = member(obj, path, name, &v, err);

    if (rc <= 0)
        return rc;
    return id_check(v, path, name, out, err);
}

int bf_json_time(const json_t *obj, const char *path, const char *name, int64_t *out,
                 struct bf_err *err)
{
    const char *s = NULL;
    int rc = bf_json_str(obj, path, name, 10, 40, &s, err);

    if (rc < 0)
        return rc;
    if (bf_time_parse(s, out) < 0)
        return wrong(path, name, "an RFC 3339 date-time such as 2026-11-23T16:05:00Z", err);
    return 0;
}

static bool choice_has(const char *choices, const char *v)
{
    size_t n = strlen(v);

    for (const char *p = choices; p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0)
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

int bf_json_enum(const json_t *obj, const char *path, const char *name, const char *choices,
                 const char **out, struct bf_err *err)
{
    const char *s = NULL;
    char what[480];
    int rc = bf_json_str(obj, path, name, 1, 64, &s, err);

    if (rc < 0)
        return rc;
    if (!choice_has(choices, s)) {
        snprintf(what, sizeof(what), "one of %s", choices);
        return wrong(path, name, what, err);
    }
    *out = s;
    return 0;
}

int bf_json_array(const json_t *obj, const char *path, const char *name, size_t min, size_t max,
                  json_t **out, struct bf_err *err)
{
    json_t *v = NULL;
    char what[96];
    int rc = member(obj, path, name, &v, err);

    if (rc < 0)
        return rc;
    if (rc == 0)
        return required(path, name, err);
    snprintf(what, sizeof(what), "an array of %zu..%zu items", min, max);
    if (!json_is_array(v) || json_array_size(v) < min || json_array_size(v) > max)
        return wrong(path, name, what, err);
    *out = v;
    return 0;
}

int bf_json_object(const json_t *obj, const char *path, const char *name, json_t **out,
                   struct bf_err *err)
{
    json_t *v = NULL;
    int rc = member(obj, path, name, &v, err);

    if (rc < 0)
        return rc;
    if (rc == 0)
        return required(path, name, err);
    if (!json_is_object(v))
        return wrong(path, name, "an object", err);
    *out = v;
    return 0;
}

int bf_json_only(const json_t *obj, const char *path, const char *const *allowed,
                 struct bf_err *err)
{
    const char *key;
    json_t *v = NULL;

    json_object_foreach((json_t *)obj, key, v)
    {
        bool known = false;
        for (size_t i = 0; allowed[i] && !known; i++)
            known = strcmp(allowed[i], key) == 0;
        if (!known) {
            char f[256];
            field_path(path, key, f, sizeof(f));
            return bf_err_set(err, BF_EINVAL, "%s: unknown field", f);
        }
    }
    return 0;
}

json_t *bf_json_parse_object(const char *buf, size_t len, struct bf_err *err)
{
    json_error_t jerr;
    json_t *j;

    j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        bf_err_set(err, BF_EINVAL, "value: invalid JSON at line %d column %d: %s", jerr.line,
                   jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        bf_err_set(err, BF_EINVAL, "value: must be a JSON object");
        return NULL;
    }
    return j;
}

char *bf_json_dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}
