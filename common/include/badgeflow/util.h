/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers used everywhere: checked number parsing, UUIDs, times, strings. */
#ifndef BADGEFLOW_UTIL_H
#define BADGEFLOW_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "badgeflow/err.h"

#define BF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define BF_UUID_STRLEN  36
#define BF_TIME_STRLEN  32

/* Parse all of s as a base-10 integer in [min, max] into *out. 0 or -BF_EINVAL. */
int bf_parse_ll(const char *s, long long min, long long max, long long *out) BF_MUST_CHECK;

/* Parse "true/false/yes/no/on/off/1/0" (case-insensitive). 0 or -BF_EINVAL. */
int bf_parse_bool(const char *s, bool *out) BF_MUST_CHECK;

/* Random (v4) UUID into out[BF_UUID_STRLEN + 1]. 0 or -BF_EIO if no randomness. */
int bf_uuid_v4(char out[BF_UUID_STRLEN + 1]) BF_MUST_CHECK;

/* Name-based (v5, SHA-1) UUID of name under namespace ns (a UUID string). 0 or -BF_EINVAL. */
int bf_uuid_v5(const char *ns, const char *name, char out[BF_UUID_STRLEN + 1]) BF_MUST_CHECK;

/* True if s is a canonical (lower-case, 8-4-4-4-12) UUID string. */
bool bf_uuid_valid(const char *s);

/* Wall clock in milliseconds since the epoch / monotonic clock in milliseconds. */
int64_t bf_now_ms(void);
int64_t bf_mono_ms(void);

/* RFC 3339 UTC with milliseconds ("2026-11-23T16:05:00.123Z") of ms into out. */
void bf_time_format(int64_t ms, char out[BF_TIME_STRLEN]);

/* Parse an RFC 3339 date-time ("T", any fraction, Z or ±hh:mm; real calendar dates)
 * into ms. 0 or -BF_EINVAL. */
int bf_time_parse(const char *s, int64_t *ms) BF_MUST_CHECK;

/* Copy src into dst of size n, always terminated; true if it fitted. */
bool bf_strlcpy(char *dst, const char *src, size_t n);

/* Lower-case hex of len bytes into out (2 * len + 1 bytes). */
void bf_hex(const unsigned char *in, size_t len, char *out);

/* Sleep ms milliseconds unless *stop becomes true; polls stop every 50 ms. */
void bf_sleep_ms(int64_t ms, const volatile int *stop);

/* Exponential back-off with full jitter: attempt 0,1,2... → delay in [base, cap] ms. */
int64_t bf_backoff_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms);

#endif
