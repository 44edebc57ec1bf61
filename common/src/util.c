/* SPDX-License-Identifier: Apache-2.0 */
/* Small shared helpers: number parsing, UUIDs, clocks, RFC 3339 times, back-off. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "badgeflow/util.h"

int bf_parse_ll(const char *s, long long min, long long max, long long *out)
{
    char *end;
    long long v;

    if (!s || !*s || isspace((unsigned char)*s))
        return -BF_EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return -BF_EINVAL;
    *out = v;
    return 0;
}

int bf_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < BF_ARRAY_LEN(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -BF_EINVAL;
}

static void uuid_format(const unsigned char b[16], char out[BF_UUID_STRLEN + 1])
{
    snprintf(out, BF_UUID_STRLEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

int bf_uuid_v4(char out[BF_UUID_STRLEN + 1])
{
    unsigned char b[16];

    if (RAND_bytes(b, sizeof(b)) != 1)
        return -BF_EIO;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    uuid_format(b, out);
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int uuid_parse(const char *s, unsigned char b[16])
{
    int n = 0;

    if (!bf_uuid_valid(s))
        return -BF_EINVAL;
    for (const char *p = s; *p; p++) {
        if (*p == '-')
            continue;
        int hi = hexval(p[0]), lo = hexval(p[1]);
        b[n++] = (unsigned char)((unsigned)hi << 4 | (unsigned)lo);
        p++;
    }
    return 0;
}

int bf_uuid_v5(const char *ns, const char *name, char out[BF_UUID_STRLEN + 1])
{
    unsigned char nsb[16], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx;
    int ok;

    if (uuid_parse(ns, nsb) < 0)
        return -BF_EINVAL;
    ctx = EVP_MD_CTX_new();
    if (!ctx)
        return -BF_ENOMEM;
    ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) && EVP_DigestUpdate(ctx, nsb, sizeof(nsb)) &&
         EVP_DigestUpdate(ctx, name, strlen(name)) && EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return -BF_EINTERNAL;
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    uuid_format(md, out);
    return 0;
}

bool bf_uuid_valid(const char *s)
{
    if (!s || strlen(s) != BF_UUID_STRLEN)
        return false;
    for (int i = 0; i < BF_UUID_STRLEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        bool hex = isdigit((unsigned char)s[i]) || (s[i] >= 'a' && s[i] <= 'f');
        if (dash ? s[i] != '-' : !hex)
            return false;
    }
    return true;
}

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t bf_now_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

int64_t bf_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

void bf_time_format(int64_t ms, char out[BF_TIME_STRLEN])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    snprintf(out, BF_TIME_STRLEN, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* Read exactly n digits at *p into *v and advance. */
static bool digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        *v = *v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return true;
}

static bool expect(const char **p, const char *chars)
{
    if (!**p || !strchr(chars, **p))
        return false;
    (*p)++;
    return true;
}

static int parse_fraction_ms(const char **p)
{
    int ms = 0, scale = 100;

    if (**p != '.')
        return 0;
    (*p)++;
    if (!isdigit((unsigned char)**p))
        return -1;
    for (; isdigit((unsigned char)**p); (*p)++) {
        ms += (**p - '0') * scale;
        scale /= 10;
    }
    return ms;
}

static bool parse_offset_min(const char **p, int *off)
{
    int sign, hh, mm;

    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        *off = 0;
        return true;
    }
    if (**p != '+' && **p != '-')
        return false;
    sign = **p == '-' ? -1 : 1;
    (*p)++;
    if (!digits(p, 2, &hh) || !expect(p, ":") || !digits(p, 2, &mm) || hh > 23 || mm > 59)
        return false;
    *off = sign * (hh * 60 + mm);
    return true;
}

static int days_in_month(int y, int mo)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return mo == 2 && leap ? 29 : days[mo - 1];
}

int bf_time_parse(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, sec, frac, off;
    const char *p = s;

    if (!s || !digits(&p, 4, &y) || !expect(&p, "-") || !digits(&p, 2, &mo) || !expect(&p, "-") ||
        !digits(&p, 2, &d) || !expect(&p, "Tt") || !digits(&p, 2, &h) || !expect(&p, ":") ||
        !digits(&p, 2, &mi) || !expect(&p, ":") || !digits(&p, 2, &sec))
        return -BF_EINVAL;
    frac = parse_fraction_ms(&p);
    if (frac < 0 || !parse_offset_min(&p, &off) || *p != '\0')
        return -BF_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return -BF_EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *ms = ((int64_t)timegm(&tm) - (int64_t)off * 60) * 1000 + frac;
    return 0;
}

bool bf_strlcpy(char *dst, const char *src, size_t n)
{
    size_t len = strlen(src);

    if (n == 0)
        return false;
    if (len >= n) {
        memcpy(dst, src, n - 1);
        dst[n - 1] = '\0';
        return false;
    }
    memcpy(dst, src, len + 1);
    return true;
}

void bf_hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits_hex[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits_hex[in[i] >> 4];
        out[2 * i + 1] = digits_hex[in[i] & 0xf];
    }
    out[2 * len] = '\0';
}

void bf_sleep_ms(int64_t ms, const volatile int *stop)
{
    int64_t until = bf_mono_ms() + ms;

    while (!(stop && *stop)) {
        int64_t left = until - bf_mono_ms();
        if (left <= 0)
            break;
        if (left > 50)
            left = 50;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)left * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int64_t bf_backoff_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms)
{
    int64_t ceiling = base_ms;
    unsigned r = 0;

    for (unsigned i = 0; i < attempt && ceiling < cap_ms; i++)
        ceiling *= 2;
    if (ceiling > cap_ms)
        ceiling = cap_ms;
    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        r = (unsigned)rand();
    return base_ms + (int64_t)(r % (unsigned)(ceiling - base_ms + 1));
}
