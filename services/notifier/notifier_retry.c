/* SPDX-License-Identifier: Apache-2.0 */
/* Retry schedule: exponential back-off with equal jitter, so retries of many deliveries to one
 * recovering endpoint spread out instead of arriving together. */
#include "notifier.h"

int64_t notifier_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, double r)
{
    int64_t d = base_ms;

    for (int i = 1; i < attempt && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    if (r < 0 || r >= 1)
        r = 0;
    /* half of the delay is fixed (never retry at once), half random */
    int64_t fixed = d / 2;
    return fixed + (int64_t)((double)(d - fixed) * r);
}
