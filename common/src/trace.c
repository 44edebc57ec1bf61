/* SPDX-License-Identifier: Apache-2.0 */
/* W3C traceparent parsing and child-span minting for events carried across services. */
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "badgeflow/trace.h"
#include "badgeflow/util.h"

/* Lower-case hex value of c, or -1 (upper case is invalid in traceparent). */
static int lhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Read n lower-case hex digits at s into out (NUL-terminated); false if any is not hex. */
static bool read_hex(const char *s, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        if (lhex(s[i]) < 0)
            return false;
        out[i] = s[i];
    }
    out[n] = '\0';
    return true;
}

static bool all_zero(const char *s)
{
    return s[strspn(s, "0")] == '\0';
}

int bf_trace_parse(const char *tp, struct bf_trace *out)
{
    char ver[3], flags[3];
    size_t len;

    if (!tp)
        return -BF_EINVAL;
    len = strlen(tp);
    if (len < BF_TRACEPARENT_LEN || tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
        return -BF_EINVAL;
    if (!read_hex(tp, 2, ver) || !read_hex(tp + 3, BF_TRACE_ID_LEN, out->trace_id) ||
        !read_hex(tp + 36, BF_SPAN_ID_LEN, out->span_id) || !read_hex(tp + 53, 2, flags))
        return -BF_EINVAL;
    out->version = (unsigned)lhex(ver[0]) << 4 | (unsigned)lhex(ver[1]);
    out->flags = (unsigned)lhex(flags[0]) << 4 | (unsigned)lhex(flags[1]);
    if (out->version == 0xff || all_zero(out->trace_id) || all_zero(out->span_id))
        return -BF_EINVAL;
    /* Version 00 has exactly four fields; later versions may append "-<more>". */
    if (len > BF_TRACEPARENT_LEN && (out->version == 0 || tp[BF_TRACEPARENT_LEN] != '-'))
        return -BF_EINVAL;
    return 0;
}

bool bf_trace_valid(const char *tp)
{
    struct bf_trace t;

    return bf_trace_parse(tp, &t) == 0;
}

/* n random bytes as 2n hex characters, never all zero. */
static int random_hex(size_t n, char *out)
{
    unsigned char b[16];

    do {
        if (RAND_bytes(b, (int)n) != 1)
            return -BF_EIO;
        bf_hex(b, n, out);
    } while (all_zero(out));
    return 0;
}

int bf_trace_child(const char *parent, char out[BF_TRACEPARENT_LEN + 1])
{
    struct bf_trace t;
    int rc;

    if (bf_trace_parse(parent, &t) < 0) {
        rc = random_hex(BF_TRACE_ID_LEN / 2, t.trace_id);
        if (rc < 0)
            return rc;
        t.flags = 0x01;
    }
    rc = random_hex(BF_SPAN_ID_LEN / 2, t.span_id);
    if (rc < 0)
        return rc;
    /* A child of a later version is written as 00 with the fields 00 defines. */
    snprintf(out, BF_TRACEPARENT_LEN + 1, "00-%s-%s-%02x", t.trace_id, t.span_id, t.flags & 0xffu);
    return 0;
}

bool bf_trace_id(const char *tp, char out[BF_TRACE_ID_LEN + 1])
{
    struct bf_trace t;

    if (bf_trace_parse(tp, &t) < 0) {
        out[0] = '\0';
        return false;
    }
    memcpy(out, t.trace_id, BF_TRACE_ID_LEN + 1);
    return true;
}
