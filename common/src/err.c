/* SPDX-License-Identifier: Apache-2.0 */
/* Error records: codes, names and messages that name the field. */
#include <stdio.h>
#include <string.h>

#include "badgeflow/err.h"

static const char *const err_names[] = {
    [BF_OK] = "BF_OK",
    [BF_EINVAL] = "BF_EINVAL",
    [BF_ENOTFOUND] = "BF_ENOTFOUND",
    [BF_ECONFLICT] = "BF_ECONFLICT",
    [BF_ETRANSIENT] = "BF_ETRANSIENT",
    [BF_ENOMEM] = "BF_ENOMEM",
    [BF_EIO] = "BF_EIO",
    [BF_EDENIED] = "BF_EDENIED",
    [BF_ETOOBIG] = "BF_ETOOBIG",
    [BF_ETIMEOUT] = "BF_ETIMEOUT",
    [BF_EINTERNAL] = "BF_EINTERNAL",
};

int bf_err_vset(struct bf_err *err, int code, const char *fmt, va_list ap)
{
    if (code < 0)
        code = -code;
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    }
    return -code;
}

void bf_err_fill(struct bf_err *err, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    bf_err_vset(err, code, fmt, ap);
    va_end(ap);
}

int bf_err_prefix(struct bf_err *err, const char *fmt, ...)
{
    char prefix[256];
    char old[sizeof(err->msg)];
    va_list ap;

    if (!err)
        return -BF_EINTERNAL;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
    return -err->code;
}

void bf_err_clear(struct bf_err *err)
{
    if (!err)
        return;
    err->code = BF_OK;
    err->msg[0] = '\0';
}

const char *bf_err_name(int code)
{
    if (code < 0)
        code = -code;
    if ((size_t)code >= sizeof(err_names) / sizeof(err_names[0]) || !err_names[code])
        return "BF_EUNKNOWN";
    return err_names[code];
}
