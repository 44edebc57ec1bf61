/* SPDX-License-Identifier: Apache-2.0 */
/* Typed decoders for every event type: the rules of the JSON Schemas in schemas/events/, in C. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/events.h"
#include "badgeflow/json.h"
#include "badgeflow/util.h"

/*
 * Layout: helpers (paths, string formats, getters, lists), then one decoder per shared
 * definition of common.schema.json, then the events topic by topic, then the type table.
 * Every decoder takes the path of its object ("" at the top, "evidence[2]") so that each
 * message names the field. A rule lives in exactly one place: a format in its predicate,
 * a bound in the constants below, a rule between fields in one small function.
 */

#define EV_PATH_MAX 192

/* Run a fallible step; on failure leave through the function's `out:` label. */
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        if ((rc = (expr)) < 0)                                                                     \
            goto out;                                                                              \
    } while (0)

/* Bounds of common.schema.json. */
#define EV_VERSION_MAX  1000000LL          /* credential_version */
#define EV_ATTEMPT_MAX  100LL              /* attempt */
#define EV_BYTES_MAX    1099511627776LL    /* byte_count */
#define EV_DURATION_MAX 86400000LL         /* duration_ms */
#define EV_PIXELS_MAX   65535LL            /* pixels */
#define EV_FENCING_MAX  9007199254740991LL /* fencing_token */
#define EV_INDEX_MAX    1073741823LL       /* status_list.index */
#define EV_COUNT_MAX    1e9                /* count_or_null */
#define EV_SECONDS_MAX  315360000.0        /* duration_stats */
#define EV_EVIDENCE_MAX 50                 /* evidence, evidence_refs */

/* The schema's enums, as bf_json_enum choices. */
#define EV_KINDS      "video|audio|image|document|text"
#define EV_OUTCOMES   "earned|not_yet"
#define EV_ROLES      "primary|tie_break"
#define EV_CRED_KINDS "credential|stack"
#define EV_RENDITIONS "720p|360p|poster|audio|original|image"
#define EV_FAIL_CODES                                                                              \
    "fetch_refused|fetch_failed|checksum_mismatch|too_large|too_long|"                             \
    "resolution_too_high|too_many_streams|empty|unsupported_type|"                                 \
    "kind_mismatch|unreadable|worker_crashed|timeout"
#define EV_REJECT_CODES                                                                            \
    EV_FAIL_CODES "|unknown_credential|unknown_credential_version|"                                \
                  "credential_retired|missing_evidence|unexpected_evidence|"                       \
                  "kind_not_allowed|too_many_items|duplicate_item|attempts_exhausted|"             \
                  "unknown_previous_submission|previous_not_resubmittable"
#define EV_SCORE_CODES                                                                             \
    "unknown_assignment|assignment_expired|assignment_released|"                                   \
    "assignment_completed|wrong_assessor|wrong_submission|"                                        \
    "unknown_criterion|unknown_level|duplicate_criterion|"                                         \
    "missing_criterion|feedback_required|submission_decided|"                                      \
    "submission_withdrawn"
#define EV_PILOT_FIGURES                                                                           \
    "targeted|reached|reach_ratio|on_target|submissions|earned|"                                   \
    "first_attempt_pass_rate|not_yet_rate|resubmissions|"                                          \
    "time_to_decision|time_to_earn|assessor_turnaround|backlog|"                                   \
    "stalled|agreement"

/* An array item decoder: decode v (whose path is `path`) into *slot. */
typedef int ev_item_fn(const json_t *v, const char *path, void *slot, struct bf_err *err);

/* ================================================================ paths and small predicates */

/* "<path>.<name>", or name at the top. */
static void ev_field(char *out, size_t n, const char *path, const char *name)
{
    if (*path)
        snprintf(out, n, "%s.%s", path, name);
    else
        snprintf(out, n, "%s", name);
}

static int ev_fail(const char *path, const char *name, const char *what, struct bf_err *err)
{
    char f[EV_PATH_MAX];

    ev_field(f, sizeof(f), path, name);
    return bf_err_set(err, BF_EINVAL, "%s: %s", f, what);
}

static bool ev_has(const json_t *obj, const char *name)
{
    return json_object_get(obj, name) != NULL;
}

static bool in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

/* True if s is one of the '|'-separated choices. */
static bool in_choices(const char *choices, const char *s)
{
    size_t n = strlen(s);

    for (const char *p = choices; p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, s, n) == 0)
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* c is a non-NUL member of set. */
static bool in_set(char c, const char *set)
{
    return c && strchr(set, c);
}

static bool is_space(char c)
{
    return in_set(c, " \t\n\r\f\v");
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Every character of s is alphanumeric or in extra (lower-case letters only if lower). */
static bool all_chars(const char *s, bool lower, const char *extra)
{
    for (; *s; s++) {
        bool ok = is_alnum(*s) && !(lower && *s >= 'A' && *s <= 'Z');
        if (!ok && !in_set(*s, extra))
            return false;
    }
    return true;
}

/* Characters (UTF-8 code points), as JSON Schema's minLength/maxLength count them. */
static size_t utf8_len(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* n digits at s into *v. */
static bool num_at(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        *v = *v * 10 + (s[i] - '0');
    }
    return true;
}

/* ================================================================ string formats */

/* YYYY-MM-DD at s naming a real day (year 1..9999). */
static bool date_at(const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;

    if (!num_at(s, 4, &y) || s[4] != '-' || !num_at(s + 5, 2, &m) || s[7] != '-' ||
        !num_at(s + 8, 2, &d) || y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return false;
    return m != 2 || d < 29 || (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
}

static bool is_date(const char *s)
{
    return strlen(s) == 10 && date_at(s);
}

/* RFC 3339 date-time: date [Tt] hh:mm:ss[.1-9 digits] (Z|z|±hh:mm), calendar-checked. */
static bool is_date_time(const char *s)
{
    int h, mi, sec, oh, om;
    const char *p = s + 19;

    if (strlen(s) < 20 || !date_at(s) || !in_set(s[10], "Tt") || !num_at(s + 11, 2, &h) ||
        s[13] != ':' || !num_at(s + 14, 2, &mi) || s[16] != ':' || !num_at(s + 17, 2, &sec) ||
        h > 23 || mi > 59 || sec > 60)
        return false;
    if (*p == '.') {
        const char *f = ++p;
        while (is_digit(*p))
            p++;
        if (p == f || p - f > 9)
            return false;
    }
    if (in_set(*p, "Zz"))
        return p[1] == '\0';
    return in_set(*p, "+-") && strlen(p) == 6 && num_at(p + 1, 2, &oh) && p[3] == ':' &&
           num_at(p + 4, 2, &om) && oh <= 23 && om <= 59;
}

static bool is_uuid(const char *s)
{
    return bf_uuid_valid(s) && all_chars(s, true, "-");
}

static bool is_hex(char c)
{
    return in_set(c, "0123456789abcdefABCDEF");
}

static bool is_sha256(const char *s)
{
    return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

static bool is_codec(const char *s)
{
    return all_chars(s, true, "_.-");
}

static bool is_container(const char *s)
{
    return all_chars(s, true, "_,.-");
}

/* A relative key: [A-Za-z0-9._/-], no leading '/', no "//", no "." or ".." segment. */
static bool is_media_key(const char *s)
{
    if (!all_chars(s, false, "._/-") || s[0] == '/' || strstr(s, "//"))
        return false;
    for (const char *seg = s;; seg++) {
        size_t len = strcspn(seg, "/");
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        seg += len;
        if (!*seg)
            return true;
    }
}

/* A token of a media type: an alphanumeric, then up to 126 of [A-Za-z0-9!#$&^_.+-]. */
static const char *mime_token(const char *p)
{
    const char *start = p;

    if (!is_alnum(*p))
        return NULL;
    for (p++; is_alnum(*p) || in_set(*p, "!#$&^_.+-"); p++)
        ;
    return p - start <= 127 ? p : NULL;
}

/* type/subtype, then optionally ";" and printable ASCII parameters. */
static bool is_content_type(const char *s)
{
    const char *p = mime_token(s);

    if (!p || *p != '/' || !(p = mime_token(p + 1)))
        return false;
    if (!*p)
        return true;
    while (is_space(*p))
        p++;
    if (*p++ != ';' || strlen(p) > 255)
        return false;
    for (; *p; p++)
        if (*p < ' ' || *p > '~')
            return false;
    return true;
}

/* A DNS label of 1..63 characters of [A-Za-z0-9-], not starting or ending with '-'. */
static const char *dns_label(const char *p)
{
    const char *start = p;

    while (is_alnum(*p) || *p == '-')
        p++;
    if (p == start || p - start > 63 || *start == '-' || p[-1] == '-')
        return NULL;
    return p;
}

/* local@domain: a local part of 1..64 characters without @, spaces or "(),:;<>[\]; a domain
 * of two or more DNS labels. */
static bool is_email(const char *s)
{
    const char *at = strchr(s, '@');
    int labels = 0;
    char local[260];

    if (!at || at == s || (size_t)(at - s) >= sizeof(local))
        return false;
    memcpy(local, s, (size_t)(at - s));
    local[at - s] = '\0';
    if (utf8_len(local) > 64 || strpbrk(local, "\"(),:;<>[\\] \t\n\r\f\v"))
        return false;
    for (const char *p = at + 1;; p++) {
        if (!(p = dns_label(p)))
            return false;
        labels++;
        if (!*p)
            return labels >= 2;
        if (*p != '.')
            return false;
    }
}

/* RFC 3986 absolute URI: a scheme, ':', then URI characters and well-formed %-escapes. */
static bool is_uri(const char *s)
{
    const char *p = s;

    if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z'))
        return false;
    while (is_alnum(*p) || in_set(*p, "+.-"))
        p++;
    if (*p++ != ':')
        return false;
    for (; *p; p++) {
        if (*p == '%') {
            if (!is_hex(p[1]) || !is_hex(p[2]))
                return false;
            p += 2;
        } else if (!is_alnum(*p) && !in_set(*p, "-._~!$&'()*+,;=:@/?[]#")) {
            return false;
        }
    }
    return true;
}

/* "https://" followed by a host character (not '/', '?' or '#'). */
static bool is_https(const char *s)
{
    return starts(s, "https://") && s[8] && !in_set(s[8], "/?#");
}

/* A loopback http URL: http://(127.0.0.1|localhost|[::1])[:port][/?#…]. */
static bool is_http_loopback(const char *s)
{
    static const char *const hosts[] = {"127.0.0.1", "localhost", "[::1]"};
    const char *p = NULL;

    if (!starts(s, "http://"))
        return false;
    for (size_t i = 0; i < BF_ARRAY_LEN(hosts) && !p; i++)
        if (starts(s + 7, hosts[i]))
            p = s + 7 + strlen(hosts[i]);
    if (!p)
        return false;
    if (*p == ':') {
        const char *d = ++p;
        while (is_digit(*p))
            p++;
        if (p == d || p - d > 5)
            return false;
    }
    return !*p || in_set(*p, "/?#");
}

/* public_url: https, or plain http on a loopback host (test deployments). */
static bool is_public_url(const char *s)
{
    return is_uri(s) && (is_https(s) || is_http_loopback(s));
}

/* evidence_uri: https, or a file:/// URL under the transcoder's upload root. */
static bool is_evidence_uri(const char *s)
{
    return is_uri(s) && (is_https(s) || starts(s, "file:///"));
}

/* An xAPI IRI as the statement schema has it: ^https?://[^\s]+$ and a URI. */
static bool is_http_iri(const char *s)
{
    return is_uri(s) && ((starts(s, "http://") && s[7]) || (starts(s, "https://") && s[8]));
}

static bool is_pseudonym(const char *s)
{
    return all_chars(s, false, "_-");
}

/* ^[12]\.0(\.[0-9]+)?$ */
static bool is_xapi_version(const char *s)
{
    if (!in_set(s[0], "12") || s[1] != '.' || s[2] != '0')
        return false;
    if (!s[3])
        return true;
    return s[3] == '.' && s[4] && strspn(s + 4, "0123456789") == strlen(s + 4);
}

/* ^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$ */
static bool is_lang_tag(const char *s)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    if (n < 1 || n > 8)
        return false;
    for (s += n; *s; s += n) {
        if (*s++ != '-')
            return false;
        n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
        if (n < 1 || n > 8)
            return false;
    }
    return true;
}

static bool is_pilot_figure(const char *s)
{
    return in_choices(EV_PILOT_FIGURES, s);
}

/* A string's bounds (in characters) and format; `what` completes "must be …" (NULL: bounds). */
struct ev_fmt {
    size_t min, max;
    bool (*ok)(const char *s);
    const char *what;
};

static const struct ev_fmt FMT_ID = {1, 128, bf_json_id_valid,
                                     "an id of 1..128 characters [A-Za-z0-9._:-]"};
static const struct ev_fmt FMT_UUID = {36, 36, is_uuid, "a lower-case UUID"};
static const struct ev_fmt FMT_TIME = {20, 35, is_date_time,
                                       "an RFC 3339 date-time such as 2026-11-23T16:05:00Z"};
static const struct ev_fmt FMT_DATE = {10, 10, is_date, "a date such as 2026-09-01"};
static const struct ev_fmt FMT_SHA256 = {64, 64, is_sha256, "64 lower-case hex digits (SHA-256)"};
static const struct ev_fmt FMT_CODEC = {1, 32, is_codec, "a codec name of 1..32 [a-z0-9_.-]"};
static const struct ev_fmt FMT_CONTAINER = {1, 64, is_container,
                                            "a container name of 1..64 [a-z0-9_,.-]"};
static const struct ev_fmt FMT_MEDIA_KEY = {
    1, 512, is_media_key, "a relative media key of 1..512 [A-Za-z0-9._/-] without '.', '..' or //"};
static const struct ev_fmt FMT_CONTENT_TYPE = {3, 255, is_content_type,
                                               "a media type such as video/mp4"};
static const struct ev_fmt FMT_EVIDENCE_URI = {1, 2048, is_evidence_uri,
                                               "an https:// or file:/// URI (<= 2048 characters)"};
static const struct ev_fmt FMT_PUBLIC_URL = {
    1, 2048, is_public_url, "an https URL (<= 2048 characters; http only on loopback)"};
static const struct ev_fmt FMT_EMAIL = {3, 254, is_email, "an e-mail address"};
static const struct ev_fmt FMT_IRI = {1, 512, is_http_iri, "an http(s) IRI (<= 512 characters)"};
static const struct ev_fmt FMT_PSEUDONYM = {16, 128, is_pseudonym,
                                            "a pseudonym of 16..128 [A-Za-z0-9_-]"};
static const struct ev_fmt FMT_XAPI_VERSION = {3, 16, is_xapi_version,
                                               "an xAPI version such as 1.0.3"};
static const struct ev_fmt FMT_LANG_TAG = {1, 35, is_lang_tag, "a language tag such as en-US"};
static const struct ev_fmt FMT_FIGURE = {1, 64, is_pilot_figure, "one of " EV_PILOT_FIGURES};
static const struct ev_fmt FMT_REASON = {1, 1000, NULL, NULL};    /* reason_text, note */
static const struct ev_fmt FMT_FEEDBACK = {1, 5000, NULL, NULL};  /* feedback */
static const struct ev_fmt FMT_TEXT = {1, 20000, NULL, NULL};     /* evidence_item.text */
static const struct ev_fmt FMT_NAME = {1, 200, NULL, NULL};       /* educator.name, field */
static const struct ev_fmt FMT_OBJECT_ID = {1, 2048, NULL, NULL}; /* statement.object.id */
static const struct ev_fmt FMT_DISPLAY = {0, 500, NULL, NULL};    /* a language map's text */

/* ================================================================ getters */

/* s (NULL: not a string) at path field against fmt. */
static int ev_check_str(const char *s, const char *field, const struct ev_fmt *fmt,
                        struct bf_err *err)
{
    size_t n = s ? utf8_len(s) : 0;

    if (s && n >= fmt->min && n <= fmt->max && (!fmt->ok || fmt->ok(s)))
        return 0;
    if (fmt->what)
        return bf_err_set(err, BF_EINVAL, "%s: must be %s", field, fmt->what);
    return bf_err_set(err, BF_EINVAL, "%s: must be a string of %zu..%zu characters", field,
                      fmt->min, fmt->max);
}

/* v (at path field) as a string of fmt; *out borrowed from v. */
static int ev_val_str(const json_t *v, const char *field, const struct ev_fmt *fmt,
                      const char **out, struct bf_err *err)
{
    const char *s = json_string_value(v);
    /* A string with an embedded NUL is not one C can borrow. */
    int rc = ev_check_str(s && strlen(s) == json_string_length(v) ? s : NULL, field, fmt, err);

    if (rc == 0)
        *out = s;
    return rc;
}

/* Member name of obj as a string of fmt, if present (a null is refused, not skipped). */
static int ev_str_opt(const json_t *obj, const char *path, const char *name,
                      const struct ev_fmt *fmt, const char **out, struct bf_err *err)
{
    char f[EV_PATH_MAX];
    const json_t *v = json_object_get(obj, name);

    if (!v)
        return 0;
    ev_field(f, sizeof(f), path, name);
    return ev_val_str(v, f, fmt, out, err);
}

/* Member name of obj as a string of fmt; required. */
static int ev_str(const json_t *obj, const char *path, const char *name, const struct ev_fmt *fmt,
                  const char **out, struct bf_err *err)
{
    const json_t *v = json_object_get(obj, name);

    if (!v || json_is_null(v))
        return ev_fail(path, name, "is required", err);
    return ev_str_opt(obj, path, name, fmt, out, err);
}

/* A timestamp member (strict RFC 3339, see is_date_time) into milliseconds. */
static int ev_time_opt(const json_t *obj, const char *path, const char *name, int64_t *ms,
                       bool *present, struct bf_err *err)
{
    const char *s = NULL;
    int rc = ev_str_opt(obj, path, name, &FMT_TIME, &s, err);

    if (rc < 0 || !s)
        return rc;
    if (bf_time_parse(s, ms) < 0)
        return ev_fail(path, name, "must be an RFC 3339 date-time", err);
    if (present)
        *present = true;
    return 0;
}

static int ev_time(const json_t *obj, const char *path, const char *name, int64_t *ms,
                   struct bf_err *err)
{
    if (!ev_has(obj, name) || json_is_null(json_object_get(obj, name)))
        return ev_fail(path, name, "is required", err);
    return ev_time_opt(obj, path, name, ms, NULL, err);
}

/* A JSON Schema integer: any number without a fraction, so 2.0 too (which jansson calls a real
 * and bf_json_int refuses). */
static bool ev_is_integer(const json_t *v)
{
    return json_is_integer(v) ||
           (json_is_real(v) && json_real_value(v) == trunc(json_real_value(v)));
}

/* An integer member in [min, max] (|bounds| <= 2^53, so a real holds them exactly). */
static int ev_i64(const json_t *obj, const char *path, const char *name, long long min,
                  long long max, int64_t *out, struct bf_err *err)
{
    const json_t *v = json_object_get(obj, name);
    long long ll = 0;
    int rc;

    if (json_is_real(v) && ev_is_integer(v) && json_real_value(v) >= (double)min &&
        json_real_value(v) <= (double)max) {
        *out = (int64_t)json_real_value(v);
        return 0;
    }
    rc = bf_json_int(obj, path, name, min, max, &ll, err);
    if (rc == 0)
        *out = ll;
    return rc;
}

static int ev_int(const json_t *obj, const char *path, const char *name, long long min,
                  long long max, int *out, struct bf_err *err)
{
    int64_t v = 0;
    int rc = ev_i64(obj, path, name, min, max, &v, err);

    if (rc == 0)
        *out = (int)v;
    return rc;
}

static int ev_int_opt(const json_t *obj, const char *path, const char *name, long long min,
                      long long max, int *out, struct bf_err *err)
{
    return ev_has(obj, name) ? ev_int(obj, path, name, min, max, out, err) : 0;
}

static int ev_i64_opt(const json_t *obj, const char *path, const char *name, long long min,
                      long long max, int64_t *out, struct bf_err *err)
{
    return ev_has(obj, name) ? ev_i64(obj, path, name, min, max, out, err) : 0;
}

/* An optional enum (bf_json_enum has no _opt). */
static int ev_enum_opt(const json_t *obj, const char *path, const char *name, const char *choices,
                       const char **out, struct bf_err *err)
{
    return ev_has(obj, name) ? bf_json_enum(obj, path, name, choices, out, err) : 0;
}

/*
 * A required member that may be null: a number in [min, max] (an integer if integer).
 * *out is the value, or NAN for null.
 */
static int ev_number_or_null(const json_t *obj, const char *path, const char *name, double min,
                             double max, bool integer, double *out, struct bf_err *err)
{
    const json_t *v = json_object_get(obj, name);
    char what[96];

    if (!v)
        return ev_fail(path, name, "is required", err);
    if (json_is_null(v)) {
        *out = NAN;
        return 0;
    }
    if ((integer ? ev_is_integer(v) : json_is_number(v)) && json_number_value(v) >= min &&
        json_number_value(v) <= max) {
        *out = json_number_value(v);
        return 0;
    }
    snprintf(what, sizeof(what), "must be %s in [%.10g, %.10g] or null",
             integer ? "an integer" : "a number", min, max);
    return ev_fail(path, name, what, err);
}

/* A non-null number in [min, max]. */
static int ev_number(const json_t *obj, const char *path, const char *name, double min, double max,
                     double *out, struct bf_err *err)
{
    int rc = ev_number_or_null(obj, path, name, min, max, false, out, err);

    if (rc == 0 && isnan(*out))
        return ev_fail(path, name, "must not be null", err);
    return rc;
}

/* count_or_null: an integer in [0, 1e9], -1 for null. */
static int ev_count_or_null(const json_t *obj, const char *path, const char *name, int *out,
                            struct bf_err *err)
{
    double v = 0;
    int rc = ev_number_or_null(obj, path, name, 0, EV_COUNT_MAX, true, &v, err);

    if (rc == 0)
        *out = isnan(v) ? -1 : (int)v;
    return rc;
}

/* An optional boolean that may be null: 1, 0, or -1 for null or absent. */
static int ev_bool_or_null(const json_t *obj, const char *path, const char *name, int *out,
                           struct bf_err *err)
{
    const json_t *v = json_object_get(obj, name);

    *out = -1;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return ev_fail(path, name, "must be true, false or null", err);
    *out = json_is_true(v);
    return 0;
}

/*
 * obj must be an object with only the members of allowed (NULL-terminated), none null unless
 * listed in nullable: the schemas close every object (additionalProperties false) and allow
 * null only where they say so. bf_json's *_opt getters skip nulls, so they are refused here.
 */
static int ev_closed(const json_t *obj, const char *path, const char *const *allowed,
                     const char *const *nullable, struct bf_err *err)
{
    const char *key;
    json_t *v;
    int rc;

    if (!json_is_object(obj))
        return bf_err_set(err, BF_EINVAL, "%s: must be an object", *path ? path : "data");
    if ((rc = bf_json_only(obj, path, allowed, err)) < 0)
        return rc;
    json_object_foreach((json_t *)obj, key, v)
    {
        if (json_is_null(v) && !in_list(nullable, key))
            return ev_fail(path, key, "must not be null", err);
    }
    return 0;
}

/* A nested object member, closed to allowed; *out borrowed. */
static int ev_object(const json_t *obj, const char *path, const char *name,
                     const char *const *allowed, const char *const *nullable, json_t **out,
                     char *sub, size_t sub_len, struct bf_err *err)
{
    int rc = bf_json_object(obj, path, name, out, err);

    if (rc < 0)
        return rc;
    ev_field(sub, sub_len, path, name);
    return allowed ? ev_closed(*out, sub, allowed, nullable, err) : 0;
}

/* ================================================================ lists */

/*
 * Array member name of min..max items, each decoded by fn into base + i * size (the caller's
 * room for max items). *n is the count.
 */
static int ev_list(const json_t *obj, const char *path, const char *name, size_t min, size_t max,
                   size_t size, ev_item_fn *fn, void *base, size_t *n, struct bf_err *err)
{
    char f[EV_PATH_MAX], item[EV_PATH_MAX];
    json_t *arr = NULL;
    int rc = bf_json_array(obj, path, name, min, max, &arr, err);

    if (rc < 0)
        return rc;
    ev_field(f, sizeof(f), path, name);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        snprintf(item, sizeof(item), "%s[%zu]", f, i);
        if ((rc = fn(json_array_get(arr, i), item, (char *)base + i * size, err)) < 0)
            return rc;
    }
    *n = json_array_size(arr);
    return 0;
}

/* As ev_list, into one zeroed heap block *out (caller frees; NULL on failure). */
static int ev_list_alloc(const json_t *obj, const char *path, const char *name, size_t min,
                         size_t max, size_t size, ev_item_fn *fn, void **out, size_t *n,
                         struct bf_err *err)
{
    size_t count = json_array_size(json_object_get(obj, name));
    void *block = calloc(count && count <= max ? count : 1, size);
    int rc;

    *out = NULL;
    if (!block)
        return bf_err_set(err, BF_ENOMEM, "%s: out of memory", name);
    rc = ev_list(obj, path, name, min, max, size, fn, block, n, err);
    if (rc < 0) {
        free(block);
        *n = 0;
        return rc;
    }
    *out = block;
    return 0;
}

/* Each string of v[0..n) once (the schema's uniqueItems). */
static int ev_unique(const char *const *v, size_t n, const char *path, const char *name,
                     struct bf_err *err)
{
    char f[EV_PATH_MAX];

    for (size_t i = 1; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(v[i], v[j]) == 0) {
                ev_field(f, sizeof(f), path, name);
                return bf_err_set(err, BF_EINVAL, "%s[%zu]: duplicate of %s[%zu]", f, i, f, j);
            }
        }
    }
    return 0;
}

/* Item decoders for lists of strings; slot is a const char *. */
static int item_id(const json_t *v, const char *path, void *slot, struct bf_err *err)
{
    return ev_val_str(v, path, &FMT_ID, slot, err);
}

static int item_uuid(const json_t *v, const char *path, void *slot, struct bf_err *err)
{
    return ev_val_str(v, path, &FMT_UUID, slot, err);
}

static int item_feedback(const json_t *v, const char *path, void *slot, struct bf_err *err)
{
    return ev_val_str(v, path, &FMT_FEEDBACK, slot, err);
}

static int item_figure(const json_t *v, const char *path, void *slot, struct bf_err *err)
{
    return ev_val_str(v, path, &FMT_FIGURE, slot, err);
}

/* A list of strings, each once: assessor_ids, component_credential_ids, suppressed. */
static int ev_unique_strings(const json_t *obj, const char *path, const char *name, size_t min,
                             size_t max, ev_item_fn *fn, const char **out, size_t *n,
                             struct bf_err *err)
{
    int rc = ev_list(obj, path, name, min, max, sizeof(*out), fn, out, n, err);

    return rc < 0 ? rc : ev_unique(out, *n, path, name, err);
}

/* ================================================================ shared definitions */

static const char *const EVIDENCE_ITEM_FIELDS[] = {
    "item_id", "kind", "requirement", "uri", "text", "sha256", "content_type", "size", NULL};

/* evidence_item: exactly one of uri and text; text only for kind text. */
static int evidence_item_rules(const struct bf_ev_evidence_item *it, const char *path,
                               struct bf_err *err)
{
    if (!it->uri == !it->text)
        return bf_err_set(err, BF_EINVAL, "%s: must have exactly one of uri and text", path);
    if (it->text && strcmp(it->kind, "text") != 0)
        return bf_err_set(err, BF_EINVAL, "%s.text: is only allowed for kind text, not %s", path,
                          it->kind);
    return 0;
}

static int evidence_item_decode(const json_t *v, const char *path, void *slot, struct bf_err *err)
{
    struct bf_ev_evidence_item *it = slot;
    int rc;

    it->size = -1;
    TRY(ev_closed(v, path, EVIDENCE_ITEM_FIELDS, NULL, err));
    TRY(bf_json_id(v, path, "item_id", &it->item_id, err));
    TRY(bf_json_enum(v, path, "kind", EV_KINDS, &it->kind, err));
    TRY(bf_json_id(v, path, "requirement", &it->requirement, err));
    TRY(ev_str_opt(v, path, "uri", &FMT_EVIDENCE_URI, &it->uri, err));
    TRY(ev_str_opt(v, path, "text", &FMT_TEXT, &it->text, err));
    TRY(ev_str_opt(v, path, "sha256", &FMT_SHA256, &it->sha256, err));
    TRY(ev_str_opt(v, path, "content_type", &FMT_CONTENT_TYPE, &it->content_type, err));
    TRY(ev_i64_opt(v, path, "size", 0, EV_BYTES_MAX, &it->size, err));
    TRY(evidence_item_rules(it, path, err));
out:
    return rc;
}

static const char *const RENDITION_FIELDS[] = {"name",   "uri",         "content_type", "width",
                                               "height", "duration_ms", "bytes",        "sha256",
                                               "codec",  NULL};

/* The fields a rendition must carry, by its name (the schema's if/then). */
static const struct {
    const char *name;
    const char *fields[5];
} RENDITION_NEEDS[] = {
    {"720p", {"width", "height", "duration_ms", "codec", NULL}},
    {"360p", {"width", "height", "duration_ms", "codec", NULL}},
    {"poster", {"width", "height", NULL}},
    {"image", {"width", "height", NULL}},
    {"audio", {"duration_ms", "codec", NULL}},
};

static int rendition_needs(const json_t *v, const char *path, const char *name, struct bf_err *err)
{
    for (size_t i = 0; i < BF_ARRAY_LEN(RENDITION_NEEDS); i++) {
        if (strcmp(RENDITION_NEEDS[i].name, name) != 0)
            continue;
        for (const char *const *f = RENDITION_NEEDS[i].fields; *f; f++) {
            if (!ev_has(v, *f)) {
                char f_path[EV_PATH_MAX];
                ev_field(f_path, sizeof(f_path), path, *f);
                return bf_err_set(err, BF_EINVAL, "%s: is required when name is %s", f_path, name);
            }
        }
    }
    return 0;
}

static int rendition_decode(const json_t *v, const char *path, void *slot, struct bf_err *err)
{
    struct bf_ev_rendition *r = slot;
    int rc;

    r->duration_ms = -1;
    TRY(ev_closed(v, path, RENDITION_FIELDS, NULL, err));
    TRY(bf_json_enum(v, path, "name", EV_RENDITIONS, &r->name, err));
    TRY(ev_str(v, path, "uri", &FMT_MEDIA_KEY, &r->uri, err));
    TRY(ev_str(v, path, "content_type", &FMT_CONTENT_TYPE, &r->content_type, err));
    TRY(ev_int_opt(v, path, "width", 1, EV_PIXELS_MAX, &r->width, err));
    TRY(ev_int_opt(v, path, "height", 1, EV_PIXELS_MAX, &r->height, err));
    TRY(ev_int_opt(v, path, "duration_ms", 0, EV_DURATION_MAX, &r->duration_ms, err));
    TRY(ev_i64(v, path, "bytes", 0, EV_BYTES_MAX, &r->bytes, err));
    TRY(ev_str(v, path, "sha256", &FMT_SHA256, &r->sha256, err));
    TRY(ev_str_opt(v, path, "codec", &FMT_CODEC, &r->codec, err));
    TRY(rendition_needs(v, path, r->name, err));
out:
    return rc;
}

/* renditions: 1..8 into a fixed array. */
static int renditions_decode(const json_t *obj, const char *path, struct bf_ev_rendition *out,
                             size_t *n, struct bf_err *err)
{
    return ev_list(obj, path, "renditions", 1, BF_EV_MAX_RENDITIONS, sizeof(*out), rendition_decode,
                   out, n, err);
}

static const char *const EVIDENCE_REF_FIELDS[] = {"item_id", "kind", "requirement", "renditions",
                                                  NULL};

static int evidence_ref_decode(const json_t *v, const char *path, void *slot, struct bf_err *err)
{
    struct bf_ev_evidence_ref *ref = slot;
    int rc;

    TRY(ev_closed(v, path, EVIDENCE_REF_FIELDS, NULL, err));
    TRY(bf_json_id(v, path, "item_id", &ref->item_id, err));
    TRY(bf_json_enum(v, path, "kind", EV_KINDS, &ref->kind, err));
    TRY(bf_json_id(v, path, "requirement", &ref->requirement, err));
    TRY(renditions_decode(v, path, ref->renditions, &ref->n_renditions, err));
out:
    return rc;
}

/* evidence_refs: member "evidence" of obj, 1..50, into a heap block; absent is 0 items unless
 * required. */
static int evidence_refs_decode(const json_t *obj, bool required, struct bf_ev_evidence_ref **out,
                                size_t *n, struct bf_err *err)
{
    void *block = NULL;
    int rc;

    if (!required && !ev_has(obj, "evidence"))
        return 0;
    rc = ev_list_alloc(obj, "", "evidence", 1, EV_EVIDENCE_MAX, sizeof(**out), evidence_ref_decode,
                       &block, n, err);
    *out = block;
    return rc;
}

static const char *const METADATA_FIELDS[] = {"duration_ms",  "width",       "height",
                                              "video_codec",  "audio_codec", "container",
                                              "content_type", NULL};

static int media_metadata_decode(const json_t *obj, struct bf_ev_media_metadata *m,
                                 struct bf_err *err)
{
    char p[EV_PATH_MAX];
    json_t *v = NULL;
    int rc;

    m->duration_ms = -1;
    TRY(ev_object(obj, "", "metadata", METADATA_FIELDS, NULL, &v, p, sizeof(p), err));
    TRY(ev_int_opt(v, p, "duration_ms", 0, EV_DURATION_MAX, &m->duration_ms, err));
    TRY(ev_int_opt(v, p, "width", 1, EV_PIXELS_MAX, &m->width, err));
    TRY(ev_int_opt(v, p, "height", 1, EV_PIXELS_MAX, &m->height, err));
    TRY(ev_str_opt(v, p, "video_codec", &FMT_CODEC, &m->video_codec, err));
    TRY(ev_str_opt(v, p, "audio_codec", &FMT_CODEC, &m->audio_codec, err));
    TRY(ev_str_opt(v, p, "container", &FMT_CONTAINER, &m->container, err));
    TRY(ev_str_opt(v, p, "content_type", &FMT_CONTENT_TYPE, &m->content_type, err));
out:
    return rc;
}

static const char *const CRITERION_SCORE_FIELDS[] = {"criterion_id", "level_id", "feedback", NULL};

static int criterion_score_decode(const json_t *v, const char *path, void *slot, struct bf_err *err)
{
    struct bf_ev_criterion_score *c = slot;
    int rc;

    TRY(ev_closed(v, path, CRITERION_SCORE_FIELDS, NULL, err));
    TRY(bf_json_id(v, path, "criterion_id", &c->criterion_id, err));
    TRY(bf_json_id(v, path, "level_id", &c->level_id, err));
    TRY(ev_str_opt(v, path, "feedback", &FMT_FEEDBACK, &c->feedback, err));
out:
    return rc;
}

/* criterion_scores: member "criteria", 1..50. */
static int criterion_scores_decode(const json_t *obj, struct bf_ev_criterion_score *out, size_t *n,
                                   struct bf_err *err)
{
    return ev_list(obj, "", "criteria", 1, BF_EV_MAX_CRITERIA, sizeof(*out), criterion_score_decode,
                   out, n, err);
}

static const char *const CRITERION_DECISION_FIELDS[] = {"criterion_id", "level_id", "passing",
                                                        "feedback", NULL};

static int criterion_decision_decode(const json_t *v, const char *path, void *slot,
                                     struct bf_err *err)
{
    struct bf_ev_criterion_decision *c = slot;
    int rc;

    TRY(ev_closed(v, path, CRITERION_DECISION_FIELDS, NULL, err));
    TRY(bf_json_id(v, path, "criterion_id", &c->criterion_id, err));
    TRY(bf_json_id(v, path, "level_id", &c->level_id, err));
    TRY(bf_json_bool(v, path, "passing", &c->passing, err));
    TRY(ev_list(v, path, "feedback", 0, BF_EV_MAX_FEEDBACK, sizeof(c->feedback[0]), item_feedback,
                c->feedback, &c->n_feedback, err));
out:
    return rc;
}

static const char *const STATUS_LIST_FIELDS[] = {"url", "index", NULL};

static int status_list_decode(const json_t *obj, struct bf_ev_status_list *s, struct bf_err *err)
{
    char p[EV_PATH_MAX];
    json_t *v = NULL;
    int rc;

    TRY(ev_object(obj, "", "status_list", STATUS_LIST_FIELDS, NULL, &v, p, sizeof(p), err));
    TRY(ev_str(v, p, "url", &FMT_PUBLIC_URL, &s->url, err));
    TRY(ev_int(v, p, "index", 0, EV_INDEX_MAX, &s->index, err));
out:
    return rc;
}

/* assessor_ids-like member: 0..16 ids, each once. */
static int assessor_ids_decode(const json_t *obj, const char *name, const char **out, size_t *n,
                               struct bf_err *err)
{
    return ev_unique_strings(obj, "", name, 0, BF_EV_MAX_ASSESSORS, item_id, out, n, err);
}

/* ================================================================ topic submissions */

static const char *const EDUCATOR_FIELDS[] = {"id",        "email",       "name",
                                              "school_id", "district_id", NULL};

static int educator_decode(const json_t *d, struct bf_ev_submission_submitted *ev,
                           struct bf_err *err)
{
    char p[EV_PATH_MAX];
    json_t *v = NULL;
    int rc;

    TRY(ev_object(d, "", "educator", EDUCATOR_FIELDS, NULL, &v, p, sizeof(p), err));
    TRY(bf_json_id(v, p, "id", &ev->educator.id, err));
    TRY(ev_str_opt(v, p, "email", &FMT_EMAIL, &ev->educator.email, err));
    TRY(ev_str_opt(v, p, "name", &FMT_NAME, &ev->educator.name, err));
    TRY(bf_json_id(v, p, "school_id", &ev->educator.school_id, err));
    TRY(bf_json_id(v, p, "district_id", &ev->educator.district_id, err));
out:
    return rc;
}

/* previous_submission_id is required when attempt > 1 and forbidden when it is 1. */
static int previous_attempt_rule(int attempt, const char *previous, struct bf_err *err)
{
    if (attempt > 1 && !previous)
        return bf_err_set(err, BF_EINVAL, "previous_submission_id: is required when attempt > 1");
    if (attempt == 1 && previous)
        return bf_err_set(err, BF_EINVAL,
                          "previous_submission_id: must be absent when attempt is 1");
    return 0;
}

static const char *const SUBMITTED_FIELDS[] = {"submission_id",
                                               "tenant_id",
                                               "educator",
                                               "credential_id",
                                               "credential_version",
                                               "attempt",
                                               "previous_submission_id",
                                               "pilot_id",
                                               "evidence",
                                               "submitted_at",
                                               NULL};

int bf_ev_submission_submitted_decode(const json_t *d, struct bf_ev_submission_submitted *ev,
                                      struct bf_err *err)
{
    void *block = NULL;
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(ev_closed(d, "", SUBMITTED_FIELDS, NULL, err));
    TRY(bf_json_id(d, "", "submission_id", &ev->submission_id, err));
    TRY(bf_json_id(d, "", "tenant_id", &ev->tenant_id, err));
    TRY(educator_decode(d, ev, err));
    TRY(bf_json_id(d, "", "credential_id", &ev->credential_id, err));
    TRY(ev_int_opt(d, "", "credential_version", 1, EV_VERSION_MAX, &ev->credential_version, err));
    TRY(ev_int(d, "", "attempt", 1, EV_ATTEMPT_MAX, &ev->attempt, err));
    TRY(bf_json_id_opt(d, "", "previous_submission_id", &ev->previous_submission_id, err));
    TRY(previous_attempt_rule(ev->attempt, ev->previous_submission_id, err));
    TRY(bf_json_id_opt(d, "", "pilot_id", &ev->pilot_id, err));
    TRY(ev_list_alloc(d, "", "evidence", 1, EV_EVIDENCE_MAX, sizeof(*ev->evidence),
                      evidence_item_decode, &block, &ev->n_evidence, err));
    ev->evidence = block;
    TRY(ev_time(d, "", "submitted_at", &ev->submitted_at, err));
out:
    if (rc < 0)
        bf_ev_submission_submitted_clear(ev);
    return rc;
}

void bf_ev_submission_submitted_clear(struct bf_ev_submission_submitted *ev)
{
    free(ev->evidence);
    ev->evidence = NULL;
    ev->n_evidence = 0;
}

static const char *const WITHDRAWN_FIELDS[] = {"submission_id", "tenant_id", "reason",
                                               "withdrawn_at", NULL};

int bf_ev_submission_withdrawn_decode(const json_t *d, struct bf_ev_submission_withdrawn *ev,
                                      struct bf_err *err)
{
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(ev_closed(d, "", WITHDRAWN_FIELDS, NULL, err));
    TRY(bf_json_id(d, "", "submission_id", &ev->submission_id, err));
    TRY(bf_json_id(d, "", "tenant_id", &ev->tenant_id, err));
    TRY(ev_str(d, "", "reason", &FMT_REASON, &ev->reason, err));
    TRY(ev_time(d, "", "withdrawn_at", &ev->withdrawn_at, err));
out:
    return rc;
}

/* ================================================================ topic evidence */

static const char *const PROCESSED_FIELDS[] = {"submission_id", "tenant_id", "item_id", "kind",
                                               "renditions",    "metadata",  NULL};

int bf_ev_evidence_processed_decode(const json_t *d, struct bf_ev_evidence_processed *ev,
                                    struct bf_err *err)
{
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(ev_closed(d, "", PROCESSED_FIELDS, NULL, err));
    TRY(bf_json_id(d, "", "submission_id", &ev->submission_id, err));
    TRY(bf_json_id(d, "", "tenant_id", &ev->tenant_id, err));
    TRY(bf_json_id(d, "", "item_id", &ev->item_id, err));
    TRY(bf_json_enum(d, "", "kind", EV_KINDS, &ev->kind, err));
    TRY(renditions_decode(d, "", ev->renditions, &ev->n_renditions, err));
    TRY(media_metadata_decode(d, &ev->metadata, err));
out:
    return rc;
}

static const char *const FAILED_FIELDS[] = {"submission_id", "tenant_id", "item_id", "kind",
                                            "reason_code",   "reason",    NULL};

int bf_ev_evidence_failed_decode(const json_t *d, struct bf_ev_evidence_failed *ev,
                                 struct bf_err *err)
{
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(ev_closed(d, "", FAILED_FIELDS, NULL, err));
    TRY(bf_json_id(d, "", "submission_id", &ev->submission_id, err));
    TRY(bf_json_id(d, "", "tenant_id", &ev->tenant_id, err));
    TRY(bf_json_id(d, "", "item_id", &ev->item_id, err));
    TRY(bf_json_enum(d, "", "kind", EV_KINDS, &ev->kind, err));
    TRY(bf_json_enum(d, "", "reason_code", EV_FAIL_CODES, &ev->reason_code, err));
    TRY(ev_str(d, "", "reason", &FMT_REASON, &ev->reason, err));
out:
    return rc;
}

/* ================================================================ topic submissions.ready */

static const char *const READY_FIELDS[] = {"submission_id", "tenant_id",
                                           "credential_id", "credential_version",
                                           "attempt",       "previous_submission_id",
                                           "evidence",      NULL};

int bf_ev_submission_ready_decode(const json_t *d, struct bf_ev_submission_ready *ev,
                                  struct bf_err *err)
{
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(ev_closed(d, "", READY_FIELDS, NULL, err));
    TRY(bf_json_id(d, "", "submission_id", &ev->submission_id, err));
    TRY(bf_json_id(d, "", "tenant_id", &ev->tenant_id, err));
    TRY(bf_json_id(d, "", "credential_id", &ev->credential_id, err));
    TRY(ev_int(d, "", "credential_version", 1, EV_VERSION_MAX, &ev->credential_version, err));
    TRY(ev_int(d, "", "attempt", 1, EV_ATTEMPT_MAX, &ev->attempt, err));
    TRY(bf_json_id_opt(d, "", "previous_submission_id", &ev->previous_submission_id, err));
    TRY(evidence_refs_decode(d, true, &ev->evidence, &ev->n_evidence, err));
out:
    if (rc < 0)
        bf_ev_submission_ready_clear(ev);
    return rc;
}

void bf_ev_submission_ready_clear(struct bf_ev_submission_ready *ev)
{
    free(ev->evidence);
    ev->evidence = NULL;
    ev->n_evidence = 0;
}

static const char *const REJECT_REASON_FIELDS[] = {"item_id", "code", "message", NULL};

static int reject_reason_decode(const json_t *v, const char *path, void *slot, struct bf_err *err)
{
    struct bf_ev_rejection *r = slot;
    int rc;

    TRY(ev_closed(v, path, REJECT_REASON_FIELDS, NULL, err));
    TRY(bf_json_id_opt(v, path, "item_id", &r->item_id, err));
    TRY(bf_json_enum(v, path, "code", EV_REJECT_CODES, &r->code, err));
    TRY(ev_str(v, path, "message", &FMT_REASON, &r->message, err));
out:
    return rc;
}

static const char *const REJECTED_FIELDS[] = {"submission_id", "tenant_id", "credential_id",
                                              "reasons", NULL};

int bf_ev_submission_rejected_decode(const json_t *d, struct bf_ev_submission_rejected *ev,
                                     struct bf_err *err)
{
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(ev_closed(d, "", REJECTED_FIELDS, NULL, err));
    TRY(bf_json_id(d, "", "submission_id", &ev->submission_id, err));
    TRY(bf_json_id(d, "", "tenant_id", &ev->tenant_id, err));
    TRY(bf_json_id_opt(d, "", "credential_id", &ev->credential_id, err));
    TRY(ev_list(d, "", "reasons", 1, BF_EV_MAX_REASONS, sizeof(ev->reasons[0]),
                reject_reason_decode, ev->reasons, &ev->n_reasons, err));
out:
    return rc;
}

/* ================================================================ topic routing */

static const char *const ROUTING_FIELDS[] = {"submission_id", "tenant_id", "reason",
                                             "exclude_assessor_ids", NULL};

int bf_ev_routing_requested_decode(const json_t *d, struct bf_ev_routing_requested *ev,
                                   struct bf_err *err)
{
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(ev_closed(d, "", ROUTING_FIELDS, NULL, err));
    TRY(bf_json_id(d, "", "submission_id", &ev->submission_id, err));
    TRY(bf_json_id(d, "", "tenant_id", &ev->tenant_id, err));
    TRY(bf_json_enum(d, "", "reason", "tie_break|reassign", &ev->reason, err));
    TRY(assessor_ids_decode(d, "exclude_assessor_ids", ev->exclude_assessor_ids, &ev->n_exclude,
                            err));
out:
    return rc;
}

static const char *const SCORED_FIELDS[] = {"assignment_id", "submission_id", "tenant_id",
                                            "assessor_id",   "score_id",      NULL};

int bf_ev_assignment_scored_decode(const json_t *d, struct bf_ev_assignment_scored *ev,
                                   struct bf_err *err)
{
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(ev_closed(d, "", SCORED_FIELDS, NULL, err));
    TRY(ev_str(d, "", "assignment_id", &FMT_UUID, &ev->assignment_id, err));
    TRY(bf_json_id(d, "", "submission_id", &ev->submission_id, err));
    TRY(bf_json_id(d, "", "tenant_id", &ev->tenant_id, err));
    TRY(bf_json_id(d, "", "assessor_id", &ev->assessor_id, err));
    TRY(ev_str(d, "", "score_id", &FMT_UUID, &ev->score_id, err));
out:
    return rc;
}

static const char *const RELEASE_REQUESTED_FIELDS[] = {
    "assignment_id", "submission_id", "tenant_id", "assessor_id", "reason", "note", NULL};

int bf_ev_assignment_release_requested_decode(const json_t *d,
                                              struct bf_ev_assignment_release_requested *ev,
                                              struct bf_err *err)
{
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(ev_closed(d, "", RELEASE_REQUESTED_FIELDS, NULL, err));
    TRY(ev_str(d, "", "assignment_id", &FMT_UUID, &ev->assignment_id, err));
    TRY(bf_json_id(d, "", "submission_id", &ev->submission_id, err));
    TRY(bf_json_id(d, "", "tenant_id", &ev->tenant_id, err));
    TRY(bf_json_id(d, "", "assessor_id", &ev->assessor_id, err));
    TRY(bf_json_enum(d, "", "reason", "declined|released", &ev->reason, err));
    TRY(ev_str_opt(d, "", "note", &FMT_REASON, &ev->note, err));
out:
    return rc;
}

/* ================================================================ topic assignments */

/* Members of every assignment.* event; each event adds its own. */
#define ASSIGNMENT_FIELDS                                                                          \
    "assignment_id", "submission_id", "tenant_id", "assessor_id", "credential_id",                 \
        "credential_version", "role", "due_at", "fencing_token", "evidence"

/* The common part of an assignment event; d must be closed to fields. */
static int assignment_decode(const json_t *d, const char *const *fields, bool evidence_required,
                             struct bf_ev_assignment *a, struct bf_err *err)
{
    int rc;

    TRY(ev_closed(d, "", fields, NULL, err));
    TRY(ev_str(d, "", "assignment_id", &FMT_UUID, &a->assignment_id, err));
    TRY(bf_json_id(d, "", "submission_id", &a->submission_id, err));
    TRY(bf_json_id(d, "", "tenant_id", &a->tenant_id, err));
    TRY(bf_json_id(d, "", "assessor_id", &a->assessor_id, err));
    TRY(bf_json_id(d, "", "credential_id", &a->credential_id, err));
    TRY(ev_int(d, "", "credential_version", 1, EV_VERSION_MAX, &a->credential_version, err));
    TRY(bf_json_enum(d, "", "role", EV_ROLES, &a->role, err));
    TRY(ev_time(d, "", "due_at", &a->due_at, err));
    TRY(ev_i64(d, "", "fencing_token", 1, EV_FENCING_MAX, &a->fencing_token, err));
    TRY(evidence_refs_decode(d, evidence_required, &a->evidence, &a->n_evidence, err));
out:
    return rc;
}

static void assignment_clear(struct bf_ev_assignment *a)
{
    free(a->evidence);
    a->evidence = NULL;
    a->n_evidence = 0;
}

static const char *const CREATED_FIELDS[] = {ASSIGNMENT_FIELDS, "assigned_at", NULL};

int bf_ev_assignment_created_decode(const json_t *d, struct bf_ev_assignment_created *ev,
                                    struct bf_err *err)
{
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(assignment_decode(d, CREATED_FIELDS, true, &ev->a, err));
    TRY(ev_time(d, "", "assigned_at", &ev->assigned_at, err));
out:
    if (rc < 0)
        assignment_clear(&ev->a);
    return rc;
}

void bf_ev_assignment_created_clear(struct bf_ev_assignment_created *ev)
{
    assignment_clear(&ev->a);
}

static const char *const RELEASED_FIELDS[] = {ASSIGNMENT_FIELDS, "reason", "released_at", NULL};

int bf_ev_assignment_released_decode(const json_t *d, struct bf_ev_assignment_released *ev,
                                     struct bf_err *err)
{
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(assignment_decode(d, RELEASED_FIELDS, false, &ev->a, err));
    TRY(bf_json_enum(d, "", "reason", "declined|released|submission_withdrawn|assessor_deactivated",
                     &ev->reason, err));
    TRY(ev_time(d, "", "released_at", &ev->released_at, err));
out:
    if (rc < 0)
        assignment_clear(&ev->a);
    return rc;
}

void bf_ev_assignment_released_clear(struct bf_ev_assignment_released *ev)
{
    assignment_clear(&ev->a);
}

static const char *const EXPIRED_FIELDS[] = {ASSIGNMENT_FIELDS, "expired_at", NULL};

int bf_ev_assignment_expired_decode(const json_t *d, struct bf_ev_assignment_expired *ev,
                                    struct bf_err *err)
{
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(assignment_decode(d, EXPIRED_FIELDS, false, &ev->a, err));
    TRY(ev_time(d, "", "expired_at", &ev->expired_at, err));
out:
    if (rc < 0)
        assignment_clear(&ev->a);
    return rc;
}

void bf_ev_assignment_expired_clear(struct bf_ev_assignment_expired *ev)
{
    assignment_clear(&ev->a);
}

static const char *const COMPLETED_FIELDS[] = {ASSIGNMENT_FIELDS, "score_id", "completed_at", NULL};

int bf_ev_assignment_completed_decode(const json_t *d, struct bf_ev_assignment_completed *ev,
                                      struct bf_err *err)
{
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(assignment_decode(d, COMPLETED_FIELDS, false, &ev->a, err));
    TRY(ev_str(d, "", "score_id", &FMT_UUID, &ev->score_id, err));
    TRY(ev_time(d, "", "completed_at", &ev->completed_at, err));
out:
    if (rc < 0)
        assignment_clear(&ev->a);
    return rc;
}

void bf_ev_assignment_completed_clear(struct bf_ev_assignment_completed *ev)
{
    assignment_clear(&ev->a);
}

/* ================================================================ topic scores */

static const char *const SCORE_FIELDS[] = {"score_id",         "assignment_id", "submission_id",
                                           "assessor_id",      "tenant_id",     "criteria",
                                           "overall_feedback", "submitted_at",  NULL};

int bf_ev_score_submitted_decode(const json_t *d, struct bf_ev_score_submitted *ev,
                                 struct bf_err *err)
{
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(ev_closed(d, "", SCORE_FIELDS, NULL, err));
    TRY(ev_str(d, "", "score_id", &FMT_UUID, &ev->score_id, err));
    TRY(ev_str(d, "", "assignment_id", &FMT_UUID, &ev->assignment_id, err));
    TRY(bf_json_id(d, "", "submission_id", &ev->submission_id, err));
    TRY(bf_json_id(d, "", "assessor_id", &ev->assessor_id, err));
    TRY(bf_json_id(d, "", "tenant_id", &ev->tenant_id, err));
    TRY(criterion_scores_decode(d, ev->criteria, &ev->n_criteria, err));
    TRY(ev_str_opt(d, "", "overall_feedback", &FMT_FEEDBACK, &ev->overall_feedback, err));
    TRY(ev_time(d, "", "submitted_at", &ev->submitted_at, err));
out:
    return rc;
}

static const char *const OVERRIDE_REQUESTED_FIELDS[] = {
    "submission_id", "tenant_id",    "reviewer_id", "overrides_decision_id", "outcome", "criteria",
    "reason",        "requested_at", NULL};

int bf_ev_decision_override_requested_decode(const json_t *d,
                                             struct bf_ev_decision_override_requested *ev,
                                             struct bf_err *err)
{
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(ev_closed(d, "", OVERRIDE_REQUESTED_FIELDS, NULL, err));
    TRY(bf_json_id(d, "", "submission_id", &ev->submission_id, err));
    TRY(bf_json_id(d, "", "tenant_id", &ev->tenant_id, err));
    TRY(bf_json_id(d, "", "reviewer_id", &ev->reviewer_id, err));
    TRY(ev_str_opt(d, "", "overrides_decision_id", &FMT_UUID, &ev->overrides_decision_id, err));
    TRY(bf_json_enum(d, "", "outcome", EV_OUTCOMES, &ev->outcome, err));
    if (ev_has(d, "criteria"))
        TRY(criterion_scores_decode(d, ev->criteria, &ev->n_criteria, err));
    TRY(ev_str(d, "", "reason", &FMT_REASON, &ev->reason, err));
    TRY(ev_time(d, "", "requested_at", &ev->requested_at, err));
out:
    return rc;
}

/* ================================================================ topic decisions */

static const char *const RULE_FIELDS[] = {"aggregation", "passing", "min_passing_criteria",
                                          "disagreement_levels", NULL};

/* rule: min_passing_criteria is required when passing is min_criteria. */
static int decision_rule_decode(const json_t *d, struct bf_ev_decision_made *ev, struct bf_err *err)
{
    char p[EV_PATH_MAX];
    json_t *v = NULL;
    int rc;

    ev->rule.disagreement_levels = -1;
    TRY(ev_object(d, "", "rule", RULE_FIELDS, NULL, &v, p, sizeof(p), err));
    TRY(bf_json_enum(v, p, "aggregation", "median_lower|median_upper|reviewer",
                     &ev->rule.aggregation, err));
    TRY(bf_json_enum(v, p, "passing", "conjunctive|min_criteria|reviewer", &ev->rule.passing, err));
    if (strcmp(ev->rule.passing, "min_criteria") == 0 && !ev_has(v, "min_passing_criteria"))
        return bf_err_set(err, BF_EINVAL,
                          "rule.min_passing_criteria: is required when passing is min_criteria");
    TRY(ev_int_opt(v, p, "min_passing_criteria", 1, 50, &ev->rule.min_passing_criteria, err));
    TRY(ev_int_opt(v, p, "disagreement_levels", 0, 20, &ev->rule.disagreement_levels, err));
out:
    return rc;
}

/* final_attempt is true exactly when attempts_left is 0. */
static int decision_attempts_decode(const json_t *d, struct bf_ev_decision_made *ev,
                                    struct bf_err *err)
{
    int rc;

    TRY(ev_int(d, "", "attempt", 1, EV_ATTEMPT_MAX, &ev->attempt, err));
    TRY(ev_int(d, "", "attempts_allowed", 1, 100, &ev->attempts_allowed, err));
    TRY(ev_int(d, "", "attempts_left", 0, 99, &ev->attempts_left, err));
    TRY(bf_json_bool(d, "", "final_attempt", &ev->final_attempt, err));
    if (ev->final_attempt != (ev->attempts_left == 0))
        return bf_err_set(err, BF_EINVAL, "final_attempt: must be %s when attempts_left is %d",
                          ev->attempts_left == 0 ? "true" : "false", ev->attempts_left);
out:
    return rc;
}

static const char *const OVERRIDE_FIELDS[] = {"reviewer_id", "reason", "requested_at", NULL};

/* override and supersedes_decision_id come together (an override) or not at all. */
static int decision_override_decode(const json_t *d, struct bf_ev_decision_made *ev,
                                    struct bf_err *err)
{
    char p[EV_PATH_MAX];
    json_t *v = NULL;
    int rc;

    if (ev_has(d, "override") != ev_has(d, "supersedes_decision_id"))
        return bf_err_set(err, BF_EINVAL, "%s: is required with %s",
                          ev_has(d, "override") ? "supersedes_decision_id" : "override",
                          ev_has(d, "override") ? "override" : "supersedes_decision_id");
    if (!ev_has(d, "override"))
        return 0;
    TRY(ev_str(d, "", "supersedes_decision_id", &FMT_UUID, &ev->supersedes_decision_id, err));
    TRY(ev_object(d, "", "override", OVERRIDE_FIELDS, NULL, &v, p, sizeof(p), err));
    TRY(bf_json_id(v, p, "reviewer_id", &ev->override.reviewer_id, err));
    TRY(ev_str(v, p, "reason", &FMT_REASON, &ev->override.reason, err));
    TRY(ev_time(v, p, "requested_at", &ev->override.requested_at, err));
out:
    return rc;
}

static const char *const DECISION_FIELDS[] = {"decision_id",      "submission_id",
                                              "tenant_id",        "educator_id",
                                              "credential_id",    "credential_version",
                                              "outcome",          "criteria",
                                              "overall_feedback", "rule",
                                              "attempt",          "attempts_allowed",
                                              "attempts_left",    "final_attempt",
                                              "assessor_ids",     "supersedes_decision_id",
                                              "override",         "pilot_id",
                                              "decided_at",       NULL};

/* The identity of the decision: ids, credential, outcome. */
static int decision_ids_decode(const json_t *d, struct bf_ev_decision_made *ev, struct bf_err *err)
{
    int rc;

    TRY(ev_str(d, "", "decision_id", &FMT_UUID, &ev->decision_id, err));
    TRY(bf_json_id(d, "", "submission_id", &ev->submission_id, err));
    TRY(bf_json_id(d, "", "tenant_id", &ev->tenant_id, err));
    TRY(bf_json_id(d, "", "educator_id", &ev->educator_id, err));
    TRY(bf_json_id(d, "", "credential_id", &ev->credential_id, err));
    TRY(ev_int(d, "", "credential_version", 1, EV_VERSION_MAX, &ev->credential_version, err));
    TRY(bf_json_enum(d, "", "outcome", EV_OUTCOMES, &ev->outcome, err));
    TRY(bf_json_id_opt(d, "", "pilot_id", &ev->pilot_id, err));
out:
    return rc;
}

/* What the assessors said: criteria, overall feedback, who. */
static int decision_scores_decode(const json_t *d, struct bf_ev_decision_made *ev,
                                  struct bf_err *err)
{
    void *block = NULL;
    int rc;

    TRY(ev_list_alloc(d, "", "criteria", 1, BF_EV_MAX_CRITERIA, sizeof(*ev->criteria),
                      criterion_decision_decode, &block, &ev->n_criteria, err));
    ev->criteria = block;
    if (ev_has(d, "overall_feedback"))
        TRY(ev_list(d, "", "overall_feedback", 0, BF_EV_MAX_FEEDBACK,
                    sizeof(ev->overall_feedback[0]), item_feedback, ev->overall_feedback,
                    &ev->n_overall_feedback, err));
    TRY(assessor_ids_decode(d, "assessor_ids", ev->assessor_ids, &ev->n_assessors, err));
out:
    return rc;
}

int bf_ev_decision_made_decode(const json_t *d, struct bf_ev_decision_made *ev, struct bf_err *err)
{
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(ev_closed(d, "", DECISION_FIELDS, NULL, err));
    TRY(decision_ids_decode(d, ev, err));
    TRY(decision_scores_decode(d, ev, err));
    TRY(decision_rule_decode(d, ev, err));
    TRY(decision_attempts_decode(d, ev, err));
    TRY(decision_override_decode(d, ev, err));
    TRY(ev_time(d, "", "decided_at", &ev->decided_at, err));
out:
    if (rc < 0)
        bf_ev_decision_made_clear(ev);
    return rc;
}

void bf_ev_decision_made_clear(struct bf_ev_decision_made *ev)
{
    free(ev->criteria);
    ev->criteria = NULL;
    ev->n_criteria = 0;
}

static const char *const SCORE_REJECTED_FIELDS[] = {"score_id",  "assignment_id", "submission_id",
                                                    "tenant_id", "assessor_id",   "reason_code",
                                                    "reason",    "field",         NULL};

int bf_ev_score_rejected_decode(const json_t *d, struct bf_ev_score_rejected *ev,
                                struct bf_err *err)
{
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(ev_closed(d, "", SCORE_REJECTED_FIELDS, NULL, err));
    TRY(ev_str(d, "", "score_id", &FMT_UUID, &ev->score_id, err));
    TRY(ev_str(d, "", "assignment_id", &FMT_UUID, &ev->assignment_id, err));
    TRY(bf_json_id(d, "", "submission_id", &ev->submission_id, err));
    TRY(bf_json_id(d, "", "tenant_id", &ev->tenant_id, err));
    TRY(bf_json_id(d, "", "assessor_id", &ev->assessor_id, err));
    TRY(bf_json_enum(d, "", "reason_code", EV_SCORE_CODES, &ev->reason_code, err));
    TRY(ev_str(d, "", "reason", &FMT_REASON, &ev->reason, err));
    TRY(ev_str_opt(d, "", "field", &FMT_NAME, &ev->field, err));
out:
    return rc;
}

/* ================================================================ topic credentials */

/* Which members each kind of issued credential must and must not carry (the if/then). */
static const struct {
    const char *kind;
    const char *required[4];
    const char *forbidden[3];
} ISSUED_KINDS[] = {
    {"credential",
     {"submission_id", "decision_id", "credential_version", NULL},
     {"stack_id", "component_credential_ids", NULL}},
    {"stack",
     {"stack_id", "component_credential_ids", NULL},
     {"submission_id", "decision_id", NULL}},
};

static int issued_kind_rules(const json_t *d, const char *kind, struct bf_err *err)
{
    for (size_t i = 0; i < BF_ARRAY_LEN(ISSUED_KINDS); i++) {
        if (strcmp(ISSUED_KINDS[i].kind, kind) != 0)
            continue;
        for (const char *const *f = ISSUED_KINDS[i].required; *f; f++)
            if (!ev_has(d, *f))
                return bf_err_set(err, BF_EINVAL, "%s: is required for kind %s", *f, kind);
        for (const char *const *f = ISSUED_KINDS[i].forbidden; *f; f++)
            if (ev_has(d, *f))
                return bf_err_set(err, BF_EINVAL, "%s: must be absent for kind %s", *f, kind);
    }
    return 0;
}

static const char *const ISSUED_FIELDS[] = {"credential_id",
                                            "kind",
                                            "submission_id",
                                            "decision_id",
                                            "tenant_id",
                                            "educator_id",
                                            "achievement_id",
                                            "credential_version",
                                            "stack_id",
                                            "component_credential_ids",
                                            "url",
                                            "jwt_url",
                                            "status_list",
                                            "valid_from",
                                            "valid_until",
                                            NULL};

/* The kind-dependent members, once issued_kind_rules has passed. */
static int issued_kind_fields(const json_t *d, struct bf_ev_credential_issued *ev,
                              struct bf_err *err)
{
    int rc;

    TRY(bf_json_id_opt(d, "", "submission_id", &ev->submission_id, err));
    TRY(ev_str_opt(d, "", "decision_id", &FMT_UUID, &ev->decision_id, err));
    TRY(ev_int_opt(d, "", "credential_version", 1, EV_VERSION_MAX, &ev->credential_version, err));
    TRY(bf_json_id_opt(d, "", "stack_id", &ev->stack_id, err));
    if (ev_has(d, "component_credential_ids"))
        TRY(ev_unique_strings(d, "", "component_credential_ids", 1, BF_EV_MAX_COMPONENTS, item_uuid,
                              ev->component_credential_ids, &ev->n_components, err));
out:
    return rc;
}

int bf_ev_credential_issued_decode(const json_t *d, struct bf_ev_credential_issued *ev,
                                   struct bf_err *err)
{
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(ev_closed(d, "", ISSUED_FIELDS, NULL, err));
    TRY(ev_str(d, "", "credential_id", &FMT_UUID, &ev->credential_id, err));
    TRY(bf_json_enum(d, "", "kind", EV_CRED_KINDS, &ev->kind, err));
    TRY(issued_kind_rules(d, ev->kind, err));
    TRY(issued_kind_fields(d, ev, err));
    TRY(bf_json_id(d, "", "tenant_id", &ev->tenant_id, err));
    TRY(bf_json_id(d, "", "educator_id", &ev->educator_id, err));
    TRY(bf_json_id(d, "", "achievement_id", &ev->achievement_id, err));
    TRY(ev_str(d, "", "url", &FMT_PUBLIC_URL, &ev->url, err));
    TRY(ev_str(d, "", "jwt_url", &FMT_PUBLIC_URL, &ev->jwt_url, err));
    TRY(status_list_decode(d, &ev->status_list, err));
    TRY(ev_time(d, "", "valid_from", &ev->valid_from, err));
    TRY(ev_time_opt(d, "", "valid_until", &ev->valid_until, &ev->has_valid_until, err));
out:
    return rc;
}

static const char *const REVOKED_FIELDS[] = {"credential_id", "kind",   "tenant_id",  "educator_id",
                                             "submission_id", "reason", "revoked_by", "revoked_at",
                                             "status_list",   NULL};

int bf_ev_credential_revoked_decode(const json_t *d, struct bf_ev_credential_revoked *ev,
                                    struct bf_err *err)
{
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(ev_closed(d, "", REVOKED_FIELDS, NULL, err));
    TRY(ev_str(d, "", "credential_id", &FMT_UUID, &ev->credential_id, err));
    TRY(bf_json_enum(d, "", "kind", EV_CRED_KINDS, &ev->kind, err));
    TRY(bf_json_id(d, "", "tenant_id", &ev->tenant_id, err));
    TRY(bf_json_id(d, "", "educator_id", &ev->educator_id, err));
    TRY(bf_json_id_opt(d, "", "submission_id", &ev->submission_id, err));
    TRY(ev_str(d, "", "reason", &FMT_REASON, &ev->reason, err));
    TRY(bf_json_id_opt(d, "", "revoked_by", &ev->revoked_by, err));
    TRY(ev_time(d, "", "revoked_at", &ev->revoked_at, err));
    TRY(status_list_decode(d, &ev->status_list, err));
out:
    return rc;
}

/* ================================================================ topic notifications */

/* last_status: an HTTP status, or null (no response); 0 when null or absent. */
static int ev_status_or_null(const json_t *d, int *out, struct bf_err *err)
{
    double v = NAN;
    int rc = ev_has(d, "last_status")
                 ? ev_number_or_null(d, "", "last_status", 100, 599, true, &v, err)
                 : 0;

    *out = isnan(v) ? 0 : (int)v;
    return rc;
}

static const char *const DISABLED_FIELDS[] = {"endpoint_id",     "tenant_id",   "url",
                                              "failing_since",   "reason",      "last_status",
                                              "failed_attempts", "disabled_at", NULL};
static const char *const DISABLED_NULLABLE[] = {"last_status", NULL};

int bf_ev_webhook_endpoint_disabled_decode(const json_t *d,
                                           struct bf_ev_webhook_endpoint_disabled *ev,
                                           struct bf_err *err)
{
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(ev_closed(d, "", DISABLED_FIELDS, DISABLED_NULLABLE, err));
    TRY(ev_str(d, "", "endpoint_id", &FMT_UUID, &ev->endpoint_id, err));
    TRY(bf_json_id(d, "", "tenant_id", &ev->tenant_id, err));
    TRY(ev_str(d, "", "url", &FMT_PUBLIC_URL, &ev->url, err));
    TRY(ev_time(d, "", "failing_since", &ev->failing_since, err));
    TRY(ev_str(d, "", "reason", &FMT_REASON, &ev->reason, err));
    TRY(ev_status_or_null(d, &ev->last_status, err));
    TRY(ev_int_opt(d, "", "failed_attempts", 1, 100000000, &ev->failed_attempts, err));
    TRY(ev_time(d, "", "disabled_at", &ev->disabled_at, err));
out:
    return rc;
}

/* ================================================================ topic analytics */

static const char *const STATEMENT_EVENT_FIELDS[] = {"tenant_id", "source_event_id", "statement",
                                                     NULL};
static const char *const ACTOR_FIELDS[] = {"objectType", "account", NULL};
static const char *const ACCOUNT_FIELDS[] = {"homePage", "name", NULL};
static const char *const VERB_FIELDS[] = {"id", "display", NULL};

/* The actor is closed to an account pseudonym: never a name, mbox or openid. */
static int statement_actor_decode(const json_t *st, struct bf_ev_statement_recorded *ev,
                                  struct bf_err *err)
{
    char p[EV_PATH_MAX], pa[EV_PATH_MAX];
    json_t *actor = NULL, *account = NULL;
    const char *object_type = NULL;
    int rc;

    TRY(ev_object(st, "statement", "actor", ACTOR_FIELDS, NULL, &actor, p, sizeof(p), err));
    TRY(ev_enum_opt(actor, p, "objectType", "Agent", &object_type, err));
    TRY(ev_object(actor, p, "account", ACCOUNT_FIELDS, NULL, &account, pa, sizeof(pa), err));
    TRY(ev_str(account, pa, "homePage", &FMT_IRI, &ev->actor_home_page, err));
    TRY(ev_str(account, pa, "name", &FMT_PSEUDONYM, &ev->actor_name, err));
out:
    return rc;
}

/* An xAPI language map: at most 16 language tags, each to a text of at most 500 characters. */
static int language_map_decode(const json_t *m, const char *path, struct bf_err *err)
{
    char f[EV_PATH_MAX];
    const char *key, *text;
    json_t *v;
    int rc;

    if (json_object_size(m) > 16)
        return bf_err_set(err, BF_EINVAL, "%s: must have at most 16 languages", path);
    json_object_foreach((json_t *)m, key, v)
    {
        ev_field(f, sizeof(f), path, key);
        if ((rc = ev_check_str(key, f, &FMT_LANG_TAG, err)) < 0 ||
            (rc = ev_val_str(v, f, &FMT_DISPLAY, &text, err)) < 0)
            return rc;
    }
    return 0;
}

static int statement_verb_decode(const json_t *st, struct bf_ev_statement_recorded *ev,
                                 struct bf_err *err)
{
    char p[EV_PATH_MAX], pd[EV_PATH_MAX];
    json_t *verb = NULL, *display = NULL;
    int rc;

    TRY(ev_object(st, "statement", "verb", VERB_FIELDS, NULL, &verb, p, sizeof(p), err));
    TRY(ev_str(verb, p, "id", &FMT_IRI, &ev->verb_id, err));
    if (ev_has(verb, "display")) {
        TRY(ev_object(verb, p, "display", NULL, NULL, &display, pd, sizeof(pd), err));
        TRY(language_map_decode(display, pd, err));
        ev->verb_display = display;
    }
out:
    return rc;
}

/* The object is an extension point: only its id (and objectType, if given) are checked. */
static int statement_object_decode(const json_t *st, struct bf_ev_statement_recorded *ev,
                                   struct bf_err *err)
{
    char p[EV_PATH_MAX];
    json_t *obj = NULL;
    int rc;

    TRY(ev_object(st, "statement", "object", NULL, NULL, &obj, p, sizeof(p), err));
    TRY(ev_str(obj, p, "id", &FMT_OBJECT_ID, &ev->object_id, err));
    TRY(ev_enum_opt(obj, p, "objectType", "Activity|StatementRef", &ev->object_type, err));
out:
    return rc;
}

int bf_ev_statement_recorded_decode(const json_t *d, struct bf_ev_statement_recorded *ev,
                                    struct bf_err *err)
{
    char p[EV_PATH_MAX];
    json_t *st = NULL;
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(ev_closed(d, "", STATEMENT_EVENT_FIELDS, NULL, err));
    TRY(bf_json_id(d, "", "tenant_id", &ev->tenant_id, err));
    TRY(ev_str(d, "", "source_event_id", &FMT_UUID, &ev->source_event_id, err));
    TRY(ev_object(d, "", "statement", NULL, NULL, &st, p, sizeof(p), err));
    ev->statement = st;
    TRY(ev_str(st, p, "id", &FMT_UUID, &ev->statement_id, err));
    TRY(statement_actor_decode(st, ev, err));
    TRY(statement_verb_decode(st, ev, err));
    TRY(statement_object_decode(st, ev, err));
    TRY(ev_time(st, p, "timestamp", &ev->timestamp, err));
    TRY(ev_str_opt(st, p, "version", &FMT_XAPI_VERSION, &ev->version, err));
out:
    return rc;
}

/* ================================================================ topic metrics.pilot */

/* Members of the figures object (top level, and each by_credential / by_stack row). */
#define PILOT_FIGURE_FIELDS                                                                        \
    "targeted", "reached", "reach_ratio", "on_target", "submissions", "earned",                    \
        "first_attempt_pass_rate", "not_yet_rate", "resubmissions", "time_to_decision",            \
        "time_to_earn", "assessor_turnaround", "backlog", "stalled", "agreement", "suppressed"

static const char *const PILOT_FIGURE_NULLABLE[] = {"targeted",
                                                    "reached",
                                                    "reach_ratio",
                                                    "on_target",
                                                    "submissions",
                                                    "earned",
                                                    "first_attempt_pass_rate",
                                                    "not_yet_rate",
                                                    "resubmissions",
                                                    "backlog",
                                                    "stalled",
                                                    NULL};
static const char *const DURATION_FIELDS[] = {"p50_s", "p90_s", NULL};
static const char *const AGREEMENT_FIELDS[] = {"exact", "adjacent", "kappa", "alpha", NULL};

/* duration_stats member name; absent is an error only if required. */
static int duration_stats_decode(const json_t *obj, const char *path, const char *name,
                                 struct bf_ev_duration_stats *s, struct bf_err *err)
{
    char p[EV_PATH_MAX];
    json_t *v = NULL;
    int rc;

    TRY(ev_object(obj, path, name, DURATION_FIELDS, DURATION_FIELDS, &v, p, sizeof(p), err));
    TRY(ev_number_or_null(v, p, "p50_s", 0, EV_SECONDS_MAX, false, &s->p50_s, err));
    TRY(ev_number_or_null(v, p, "p90_s", 0, EV_SECONDS_MAX, false, &s->p90_s, err));
out:
    return rc;
}

static int agreement_decode(const json_t *obj, const char *path, struct bf_ev_pilot_figures *f,
                            struct bf_err *err)
{
    char p[EV_PATH_MAX];
    json_t *v = NULL;
    int rc;

    f->agreement.exact = f->agreement.adjacent = f->agreement.kappa = f->agreement.alpha = NAN;
    if (!ev_has(obj, "agreement"))
        return 0;
    f->has_agreement = true;
    TRY(ev_object(obj, path, "agreement", AGREEMENT_FIELDS, AGREEMENT_FIELDS, &v, p, sizeof(p),
                  err));
    TRY(ev_number_or_null(v, p, "exact", 0, 1, false, &f->agreement.exact, err));
    TRY(ev_number_or_null(v, p, "adjacent", 0, 1, false, &f->agreement.adjacent, err));
    TRY(ev_number_or_null(v, p, "kappa", -1, 1, false, &f->agreement.kappa, err));
    TRY(ev_number_or_null(v, p, "alpha", -1, 1, false, &f->agreement.alpha, err));
out:
    return rc;
}

static int pilot_counts_decode(const json_t *o, const char *p, struct bf_ev_pilot_figures *f,
                               struct bf_err *err)
{
    int rc;

    TRY(ev_count_or_null(o, p, "targeted", &f->targeted, err));
    TRY(ev_count_or_null(o, p, "reached", &f->reached, err));
    TRY(ev_count_or_null(o, p, "submissions", &f->submissions, err));
    TRY(ev_count_or_null(o, p, "earned", &f->earned, err));
    TRY(ev_count_or_null(o, p, "resubmissions", &f->resubmissions, err));
    TRY(ev_count_or_null(o, p, "backlog", &f->backlog, err));
    TRY(ev_count_or_null(o, p, "stalled", &f->stalled, err));
out:
    return rc;
}

static int pilot_rates_decode(const json_t *o, const char *p, struct bf_ev_pilot_figures *f,
                              struct bf_err *err)
{
    int rc;

    TRY(ev_number_or_null(o, p, "reach_ratio", 0, 1, false, &f->reach_ratio, err));
    TRY(ev_bool_or_null(o, p, "on_target", &f->on_target, err));
    TRY(ev_number_or_null(o, p, "first_attempt_pass_rate", 0, 1, false, &f->first_attempt_pass_rate,
                          err));
    TRY(ev_number_or_null(o, p, "not_yet_rate", 0, 1, false, &f->not_yet_rate, err));
out:
    return rc;
}

/* The figures of o (the caller has closed o to its members). */
static int pilot_figures_decode(const json_t *o, const char *p, struct bf_ev_pilot_figures *f,
                                struct bf_err *err)
{
    int rc;

    f->assessor_turnaround.p50_s = f->assessor_turnaround.p90_s = NAN;
    TRY(pilot_counts_decode(o, p, f, err));
    TRY(pilot_rates_decode(o, p, f, err));
    TRY(duration_stats_decode(o, p, "time_to_decision", &f->time_to_decision, err));
    TRY(duration_stats_decode(o, p, "time_to_earn", &f->time_to_earn, err));
    f->has_assessor_turnaround = ev_has(o, "assessor_turnaround");
    if (f->has_assessor_turnaround)
        TRY(duration_stats_decode(o, p, "assessor_turnaround", &f->assessor_turnaround, err));
    TRY(agreement_decode(o, p, f, err));
    TRY(ev_unique_strings(o, p, "suppressed", 0, BF_EV_MAX_SUPPRESSED, item_figure, f->suppressed,
                          &f->n_suppressed, err));
out:
    return rc;
}

static const char *const CREDENTIAL_ROW_FIELDS[] = {"credential_id", PILOT_FIGURE_FIELDS, NULL};
static const char *const STACK_ROW_FIELDS[] = {"stack_id", PILOT_FIGURE_FIELDS, NULL};

static int pilot_row_decode(const json_t *v, const char *path, const char *id_name,
                            const char *const *fields, struct bf_ev_pilot_row *row,
                            struct bf_err *err)
{
    int rc;

    TRY(ev_closed(v, path, fields, PILOT_FIGURE_NULLABLE, err));
    TRY(bf_json_id(v, path, id_name, &row->id, err));
    TRY(pilot_figures_decode(v, path, &row->f, err));
out:
    return rc;
}

static int credential_row_decode(const json_t *v, const char *path, void *slot, struct bf_err *err)
{
    return pilot_row_decode(v, path, "credential_id", CREDENTIAL_ROW_FIELDS, slot, err);
}

static int stack_row_decode(const json_t *v, const char *path, void *slot, struct bf_err *err)
{
    return pilot_row_decode(v, path, "stack_id", STACK_ROW_FIELDS, slot, err);
}

/* Optional row list member name of at most max rows into a heap block. */
static int pilot_rows_decode(const json_t *d, const char *name, size_t max, ev_item_fn *fn,
                             struct bf_ev_pilot_row **out, size_t *n, struct bf_err *err)
{
    void *block = NULL;
    int rc;

    if (!ev_has(d, name))
        return 0;
    rc = ev_list_alloc(d, "", name, 0, max, sizeof(**out), fn, &block, n, err);
    *out = block;
    return rc;
}

static const char *const WINDOW_FIELDS[] = {"start", "end", NULL};

static int pilot_window_decode(const json_t *d, struct bf_ev_pilot_metrics *ev, struct bf_err *err)
{
    char p[EV_PATH_MAX];
    json_t *v = NULL;
    int rc;

    TRY(ev_object(d, "", "window", WINDOW_FIELDS, NULL, &v, p, sizeof(p), err));
    TRY(ev_str(v, p, "start", &FMT_DATE, &ev->window_start, err));
    TRY(ev_str(v, p, "end", &FMT_DATE, &ev->window_end, err));
out:
    return rc;
}

static const char *const PILOT_FIELDS[] = {"pilot_id",
                                           "tenant_id",
                                           "window",
                                           "target_ratio",
                                           "suppression_k",
                                           "stalled_after_days",
                                           PILOT_FIGURE_FIELDS,
                                           "by_credential",
                                           "by_stack",
                                           "computed_at",
                                           NULL};

int bf_ev_pilot_metrics_decode(const json_t *d, struct bf_ev_pilot_metrics *ev, struct bf_err *err)
{
    int rc;

    memset(ev, 0, sizeof(*ev));
    TRY(ev_closed(d, "", PILOT_FIELDS, PILOT_FIGURE_NULLABLE, err));
    TRY(bf_json_id(d, "", "pilot_id", &ev->pilot_id, err));
    TRY(bf_json_id(d, "", "tenant_id", &ev->tenant_id, err));
    TRY(pilot_window_decode(d, ev, err));
    TRY(ev_number(d, "", "target_ratio", 0, 1, &ev->target_ratio, err));
    TRY(ev_int(d, "", "suppression_k", 1, 1000, &ev->suppression_k, err));
    TRY(ev_int_opt(d, "", "stalled_after_days", 1, 3650, &ev->stalled_after_days, err));
    TRY(pilot_figures_decode(d, "", &ev->f, err));
    TRY(pilot_rows_decode(d, "by_credential", 500, credential_row_decode, &ev->by_credential,
                          &ev->n_by_credential, err));
    TRY(pilot_rows_decode(d, "by_stack", 100, stack_row_decode, &ev->by_stack, &ev->n_by_stack,
                          err));
    TRY(ev_time(d, "", "computed_at", &ev->computed_at, err));
out:
    if (rc < 0)
        bf_ev_pilot_metrics_clear(ev);
    return rc;
}

void bf_ev_pilot_metrics_clear(struct bf_ev_pilot_metrics *ev)
{
    free(ev->by_credential);
    free(ev->by_stack);
    ev->by_credential = ev->by_stack = NULL;
    ev->n_by_credential = ev->n_by_stack = 0;
}

/* ================================================================ the type table */

/* check_<name>: decode into a throw-away struct (and free what it holds). */
#define EV_CHECK(name)                                                                             \
    static int check_##name(const json_t *d, struct bf_err *err)                                   \
    {                                                                                              \
        struct bf_ev_##name ev;                                                                    \
        return bf_ev_##name##_decode(d, &ev, err);                                                 \
    }
#define EV_CHECK_CLEAR(name)                                                                       \
    static int check_##name(const json_t *d, struct bf_err *err)                                   \
    {                                                                                              \
        struct bf_ev_##name ev;                                                                    \
        int rc = bf_ev_##name##_decode(d, &ev, err);                                               \
        bf_ev_##name##_clear(&ev); /* safe after a failure too */                                  \
        return rc;                                                                                 \
    }

EV_CHECK_CLEAR(submission_submitted)
EV_CHECK(submission_withdrawn)
EV_CHECK(evidence_processed)
EV_CHECK(evidence_failed)
EV_CHECK_CLEAR(submission_ready)
EV_CHECK(submission_rejected)
EV_CHECK(routing_requested)
EV_CHECK(assignment_scored)
EV_CHECK(assignment_release_requested)
EV_CHECK_CLEAR(assignment_created)
EV_CHECK_CLEAR(assignment_released)
EV_CHECK_CLEAR(assignment_expired)
EV_CHECK_CLEAR(assignment_completed)
EV_CHECK(score_submitted)
EV_CHECK(decision_override_requested)
EV_CHECK_CLEAR(decision_made)
EV_CHECK(score_rejected)
EV_CHECK(credential_issued)
EV_CHECK(credential_revoked)
EV_CHECK(webhook_endpoint_disabled)
EV_CHECK(statement_recorded)
EV_CHECK_CLEAR(pilot_metrics)

const struct bf_ev_type bf_ev_types[] = {
    {BF_EV_SUBMISSION_SUBMITTED, "submissions", check_submission_submitted},
    {BF_EV_SUBMISSION_WITHDRAWN, "submissions", check_submission_withdrawn},
    {BF_EV_EVIDENCE_PROCESSED, "evidence", check_evidence_processed},
    {BF_EV_EVIDENCE_FAILED, "evidence", check_evidence_failed},
    {BF_EV_SUBMISSION_READY, "submissions.ready", check_submission_ready},
    {BF_EV_SUBMISSION_REJECTED, "submissions.ready", check_submission_rejected},
    {BF_EV_ROUTING_REQUESTED, "routing", check_routing_requested},
    {BF_EV_ASSIGNMENT_SCORED, "routing", check_assignment_scored},
    {BF_EV_ASSIGNMENT_RELEASE_REQUESTED, "routing", check_assignment_release_requested},
    {BF_EV_ASSIGNMENT_CREATED, "assignments", check_assignment_created},
    {BF_EV_ASSIGNMENT_RELEASED, "assignments", check_assignment_released},
    {BF_EV_ASSIGNMENT_EXPIRED, "assignments", check_assignment_expired},
    {BF_EV_ASSIGNMENT_COMPLETED, "assignments", check_assignment_completed},
    {BF_EV_SCORE_SUBMITTED, "scores", check_score_submitted},
    {BF_EV_DECISION_OVERRIDE_REQUESTED, "scores", check_decision_override_requested},
    {BF_EV_DECISION_MADE, "decisions", check_decision_made},
    {BF_EV_SCORE_REJECTED, "decisions", check_score_rejected},
    {BF_EV_CREDENTIAL_ISSUED, "credentials", check_credential_issued},
    {BF_EV_CREDENTIAL_REVOKED, "credentials", check_credential_revoked},
    {BF_EV_WEBHOOK_ENDPOINT_DISABLED, "notifications", check_webhook_endpoint_disabled},
    {BF_EV_STATEMENT_RECORDED, "analytics", check_statement_recorded},
    {BF_EV_PILOT_METRICS, "metrics.pilot", check_pilot_metrics},
    {NULL, NULL, NULL},
};

const struct bf_ev_type *bf_ev_type_find(const char *type)
{
    for (const struct bf_ev_type *t = bf_ev_types; type && t->type; t++)
        if (strcmp(t->type, type) == 0)
            return t;
    return NULL;
}

int bf_ev_check(const char *type, const json_t *data, struct bf_err *err)
{
    const struct bf_ev_type *t = bf_ev_type_find(type);

    if (!t)
        return bf_err_set(err, BF_ENOTFOUND, "unknown event type %s", type ? type : "(none)");
    return t->check(data, err);
}

const char *bf_ev_topic_of(const char *type)
{
    const struct bf_ev_type *t = bf_ev_type_find(type);

    return t ? t->topic : NULL;
}
