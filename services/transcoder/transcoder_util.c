/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers of the transcoder: failures with teacher-facing words, default limits. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "transcoder.h"

int tc_fail_set(struct tc_fail *fail, const char *code, const char *fmt, ...)
{
    va_list ap;

    fail->code = code;
    va_start(ap, fmt);
    vsnprintf(fail->reason, sizeof(fail->reason), fmt, ap);
    va_end(ap);
    return -BF_EINVAL;
}

/* Minutes and seconds, as a teacher reads a limit ("20 minutes", "5 minutes 30 seconds"). */
void tc_duration_words(long long ms, char out[64])
{
    long long s = ms / 1000, m = s / 60;

    s %= 60;
    if (m == 0)
        snprintf(out, 64, "%lld second%s", s, s == 1 ? "" : "s");
    else if (s == 0)
        snprintf(out, 64, "%lld minute%s", m, m == 1 ? "" : "s");
    else
        snprintf(out, 64, "%lld minute%s %lld second%s", m, m == 1 ? "" : "s", s,
                 s == 1 ? "" : "s");
}

void tc_limits_default(struct tc_limits *lim)
{
    *lim = (struct tc_limits){
        .max_bytes = 2LL << 30,
        .fetch_timeout_ms = 10LL * 60 * 1000,
        .max_duration_ms = 3LL * 3600 * 1000,
        .max_width = 7680,
        .max_height = 4320,
        .max_streams = 16,
        .max_pixels = 7680LL * 4320,
        .probe_size = 5 << 20,
        .analyze_us = 10 * 1000000LL,
        .threads = 2,
        .image_max_side = 2048,
        .crf = 23,
        .maxrate_720_k = 2500,
        .maxrate_360_k = 800,
    };
}

void tc_json_opt_int(json_t *o, const char *k, long long v, bool when)
{
    if (when)
        json_object_set_new(o, k, json_integer(v));
}

enum tc_media tc_media_of(const char *kind)
{
    return strcmp(kind, "video") == 0   ? TC_MEDIA_VIDEO
           : strcmp(kind, "audio") == 0 ? TC_MEDIA_AUDIO
                                        : TC_MEDIA_IMAGE;
}
