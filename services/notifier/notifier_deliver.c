/* SPDX-License-Identifier: Apache-2.0 */
/* One attempt: open the secrets, sign (Standard Webhooks), POST behind the SSRF guard. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "badgeflow/util.h"
#include "notifier.h"

/* Keep the start of a response as printable ASCII (it goes into a text column and logs). */
static void response_keep(const struct bf_fetch_response *resp, char *out, size_t n)
{
    size_t i = 0;

    for (; resp->body && i < resp->len && i + 1 < n; i++) {
        unsigned char c = (unsigned char)resp->body[i];
        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[i] = '\0';
}

/* Open the current (and previous, in its grace period) secret; the signature header value. */
static int signature(const struct notifier_cfg *nc, const struct notifier_job *job, int64_t ts,
                     char *out, size_t n, struct bf_err *err)
{
    unsigned char cur[NOTIFIER_SECRET_MAX], prev[NOTIFIER_SECRET_MAX];
    size_t clen = 0, plen = 0;

    if (notifier_secret_open(nc->kek, job->secret, job->secret_len, cur, &clen, err) < 0)
        return -err->code;
    if (job->prev_len &&
        notifier_secret_open(nc->kek, job->prev, job->prev_len, prev, &plen, err) < 0)
        return -err->code;
    notifier_sign(cur, clen, job->prev_len ? prev : NULL, plen, job->id, ts, job->payload,
                  strlen(job->payload), out, n);
    return 0;
}

static void post(const struct notifier_cfg *nc, const struct notifier_job *job, const char *sig,
                 int64_t ts, struct notifier_outcome *o)
{
    char h_id[64], h_ts[48], h_sig[256];
    const char *headers[] = {h_id, h_ts, h_sig, "Content-Type: application/json", NULL};
    struct bf_fetch_response resp = {0};
    struct bf_err err = {0};
    int rc;

    snprintf(h_id, sizeof(h_id), "webhook-id: %s", job->id);
    snprintf(h_ts, sizeof(h_ts), "webhook-timestamp: %" PRId64, ts);
    snprintf(h_sig, sizeof(h_sig), "webhook-signature: %s", sig);
    rc = bf_fetch_post(&nc->policy, job->url, headers, job->payload, strlen(job->payload), &resp,
                       &err);
    o->status = resp.status;
    response_keep(&resp, o->response, sizeof(o->response));
    if (rc < 0)
        snprintf(o->error, sizeof(o->error), "%s", err.msg);
    else if (resp.status < 200 || resp.status > 299)
        snprintf(o->error, sizeof(o->error), "HTTP %ld", resp.status);
    o->ok = rc == 0 && resp.status >= 200 && resp.status <= 299;
    bf_fetch_response_free(&resp);
}

void notifier_deliver(const struct notifier_cfg *nc, const struct notifier_job *job,
                      struct notifier_outcome *o)
{
    char sig[256];
    struct bf_err err = {0};
    int64_t t0 = bf_mono_ms(), ts;

    memset(o, 0, sizeof(*o));
    o->started_ms = bf_now_ms();
    ts = o->started_ms / 1000;
    if (signature(nc, job, ts, sig, sizeof(sig), &err) < 0)
        snprintf(o->error, sizeof(o->error), "%s", err.msg);
    else
        post(nc, job, sig, ts, o);
    o->duration_ms = bf_mono_ms() - t0;
}
