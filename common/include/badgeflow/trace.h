/* SPDX-License-Identifier: Apache-2.0 */
/* W3C Trace Context: parse and validate traceparent, mint child spans, trace ids for logs. */
#ifndef BADGEFLOW_TRACE_H
#define BADGEFLOW_TRACE_H

#include <stdbool.h>

#include "badgeflow/err.h"

/* "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>" */
#define BF_TRACEPARENT_LEN 55
#define BF_TRACE_ID_LEN    32
#define BF_SPAN_ID_LEN     16

/* A parsed traceparent; ids are lower-case hex, NUL-terminated. */
struct bf_trace {
    unsigned version;
    char trace_id[BF_TRACE_ID_LEN + 1];
    char span_id[BF_SPAN_ID_LEN + 1];
    unsigned flags;
};

/*
 * Parse a traceparent header value (W3C Trace Context level 1): version 00 is exactly 55
 * characters; a later version may carry more fields after a '-', which are ignored; ff is
 * invalid; ids must be lower-case hex and not all zero. tp may be NULL.
 * Returns 0 and fills *out, or -BF_EINVAL.
 */
int bf_trace_parse(const char *tp, struct bf_trace *out) BF_MUST_CHECK;

/* True if tp is a valid traceparent (see bf_trace_parse). */
bool bf_trace_valid(const char *tp);

/*
 * Mint the traceparent of a child span of parent into out: the same trace id and flags,
 * a new random span id, version 00. A NULL or invalid parent starts a new trace (new
 * random trace id, flags 01 = sampled). Returns 0, or -BF_EIO if no randomness.
 */
int bf_trace_child(const char *parent, char out[BF_TRACEPARENT_LEN + 1]) BF_MUST_CHECK;

/*
 * The trace id of tp into out (for logs); "" if tp is NULL or invalid.
 * Returns true if tp was valid.
 */
bool bf_trace_id(const char *tp, char out[BF_TRACE_ID_LEN + 1]);

#endif
