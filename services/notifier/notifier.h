/* SPDX-License-Identifier: Apache-2.0 */
/* The notifier's core API: tenants' webhooks, signed (Standard Webhooks), retried, isolated. */
#ifndef BADGEFLOW_NOTIFIER_H
#define BADGEFLOW_NOTIFIER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "badgeflow/cfg.h"
#include "badgeflow/daemon.h"
#include "badgeflow/err.h"
#include "badgeflow/fetch.h"
#include "badgeflow/pg.h"
#include "badgeflow/seal.h"

/* ---- configuration ([notifier]) ---- */

extern const struct bf_cfg_def notifier_cfg_defs[];

#define NOTIFIER_KEK_LEN BF_SEAL_KEK_LEN /* AES-256 key-encryption key */

/* The [notifier] keys, read once at start. */
struct notifier_cfg {
    unsigned char kek[NOTIFIER_KEK_LEN];
    int workers;
    int max_in_flight; /* per endpoint, caps the endpoint's own max_in_flight */
    int64_t poll_ms;
    int64_t horizon_ms;
    int64_t retry_base_ms;
    int64_t retry_max_ms;
    struct bf_fetch_policy policy; /* strings borrowed from the bf_cfg */
};

/* Read cfg's [notifier] keys into out (policy strings borrow cfg). 0 or -BF_EINVAL naming the
 * key (notifier.secrets_kek must be 64 hex digits). */
int notifier_cfg_read(const struct bf_cfg *cfg, struct notifier_cfg *out,
                      struct bf_err *err) BF_MUST_CHECK;

/* ---- secrets (notifier_secret.c) ----
 * Stored format, the gateway's (docs/gateway.md, webhook_endpoints.secret_enc and
 * previous_secret_enc): bf_seal()'s BF_SEAL_V1, 0x01 (format version) || nonce(12) ||
 * AES-256-GCM ciphertext || tag(16) under the KEK, no AAD; the plaintext is the secret's text form
 * "whsec_<base64>", whose base64-decoded part is the HMAC key (the Standard Webhooks rule). */

#define NOTIFIER_SECRET_MIN      24
#define NOTIFIER_SECRET_MAX      64
#define NOTIFIER_SECRET_TEXT_MAX 96 /* "whsec_" + base64 of 64 bytes + NUL */
#define NOTIFIER_SEAL_OVERHEAD   BF_SEAL_OVERHEAD(BF_SEAL_V1)
#define NOTIFIER_SEALED_MAX      (NOTIFIER_SEAL_OVERHEAD + NOTIFIER_SECRET_TEXT_MAX)

/* Parse 64 hex digits into kek: bf_seal_kek_parse(), kept for the CLI. 0 or -BF_EINVAL. */
int notifier_kek_parse(const char *hex, unsigned char kek[NOTIFIER_KEK_LEN],
                       struct bf_err *err) BF_MUST_CHECK;

/* Seal len bytes of secret (its text form, encrypted) into out, *out_len bytes. 0 or -BF_E*. */
int notifier_secret_seal(const unsigned char kek[NOTIFIER_KEK_LEN], const unsigned char *secret,
                         size_t len, unsigned char out[NOTIFIER_SEALED_MAX], size_t *out_len,
                         struct bf_err *err) BF_MUST_CHECK;

/* Open a sealed secret of sealed_len bytes into out (the HMAC key), its length in *len.
 * -BF_EINVAL if malformed, of another format version, or the tag does not verify (wrong KEK). */
int notifier_secret_open(const unsigned char kek[NOTIFIER_KEK_LEN], const unsigned char *sealed,
                         size_t sealed_len, unsigned char out[NOTIFIER_SECRET_MAX], size_t *len,
                         struct bf_err *err) BF_MUST_CHECK;

/* "whsec_<base64>" → bytes (NOTIFIER_SECRET_MIN..MAX of them). 0 or -BF_EINVAL. */
int notifier_secret_decode(const char *text, unsigned char out[NOTIFIER_SECRET_MAX], size_t *len,
                           struct bf_err *err) BF_MUST_CHECK;

/* bytes → "whsec_<base64>" into out (size n, >= 96 for the longest secret). */
void notifier_secret_encode(const unsigned char *secret, size_t len, char *out, size_t n);

/* A fresh random 32-byte secret. 0 or -BF_EIO. */
int notifier_secret_generate(unsigned char out[NOTIFIER_SECRET_MAX], size_t *len) BF_MUST_CHECK;

/* ---- signing (notifier_sign.c): Standard Webhooks ---- */

/* One signature "v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>" into out (>= 48). */
void notifier_sign_one(const unsigned char *secret, size_t slen, const char *id, int64_t ts,
                       const char *body, size_t blen, char *out, size_t n);

/* The webhook-signature value: the current secret's signature, then the previous one's if
 * prev is not NULL (space-separated), into out (>= 100). */
void notifier_sign(const unsigned char *cur, size_t clen, const unsigned char *prev, size_t plen,
                   const char *id, int64_t ts, const char *body, size_t blen, char *out, size_t n);

/* ---- retries (notifier_retry.c) ---- */

/* Delay before retry number attempt (1 = after the first failure): base * 2^(attempt-1)
 * capped at max, with equal jitter (half fixed, half random from r in [0, 1)). */
int64_t notifier_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, double r);

/* ---- events in (notifier_enqueue.c) ---- */

/* The webhook body of an event: CloudEvents 1.0 structured JSON (specversion, id, source, type,
 * subject, time, datacontenttype, data), compact, keys in that order. Caller frees. */
char *notifier_body(const char *id, const char *source, const char *type, const char *subject,
                    const char *time, const json_t *data);

/* The handler for every type of every consumed topic: one delivery per matching endpoint. */
int notifier_on_event(void *state, struct bf_event *ev, struct bf_err *err);

/* ---- the service ---- */

extern const struct bf_service notifier_service;

struct notifier_workers;

/* Start cfg->workers threads delivering due webhooks (each with its own PostgreSQL
 * connection from the daemon's config); d is used to emit webhook.endpoint_disabled.
 * NULL on failure. Stop and free with notifier_workers_stop(). */
struct notifier_workers *notifier_workers_start(struct bf_daemon *d, const struct notifier_cfg *nc,
                                                struct bf_err *err);
void notifier_workers_stop(struct notifier_workers *w);

/* ---- one delivery (notifier_deliver.c, notifier_store.c) ---- */

/* A claimed delivery, as the claim statement returns it. */
struct notifier_job {
    char id[BF_UUID_STRLEN + 1];
    char endpoint_id[BF_UUID_STRLEN + 1];
    char tenant_id[129];
    char *url;
    char *payload;
    int attempt;
    int64_t created_ms;
    unsigned char secret[NOTIFIER_SEALED_MAX];
    size_t secret_len;
    unsigned char prev[NOTIFIER_SEALED_MAX];
    size_t prev_len; /* 0: no previous secret in its grace period */
};

/* What an attempt gave. */
struct notifier_outcome {
    int64_t started_ms;
    int64_t duration_ms;
    long status;        /* 0: no response */
    char error[512];    /* "" on success */
    char response[512]; /* start of the response body */
    bool ok;            /* 2xx */
};

/* Claim one due delivery on pg (per-endpoint cap max_in_flight, lease_s seconds): 1 claimed
 * (job filled: free with notifier_job_clear), 0 nothing due, or -BF_E*. */
int notifier_claim(struct bf_pg *pg, int max_in_flight, int lease_s, struct notifier_job *job,
                   struct bf_err *err) BF_MUST_CHECK;
void notifier_job_clear(struct notifier_job *job);

/* Send job under nc (decrypt, sign, POST): fills out; never fails (errors go into out). */
void notifier_deliver(const struct notifier_cfg *nc, const struct notifier_job *job,
                      struct notifier_outcome *out);

/* Record the attempt and its consequences in one transaction on pg: delivered, or retried at
 * the back-off, or abandoned past the horizon; the endpoint's failing run, and disabling it
 * (emitting webhook.endpoint_disabled through d) once it failed for the whole horizon. */
int notifier_record(struct bf_daemon *d, struct bf_pg *pg, const struct notifier_cfg *nc,
                    const struct notifier_job *job, const struct notifier_outcome *o,
                    struct bf_err *err) BF_MUST_CHECK;

/* ---- administration (notifier_admin.c), for the CLI and the tests ---- */

/* Register an endpoint of tenant for url and event types (NULL/0: every type) with the secret
 * (raw bytes). id_out gets its id. 0 or -BF_E*. */
int notifier_endpoint_add(struct bf_pg *pg, const unsigned char kek[NOTIFIER_KEK_LEN],
                          const char *tenant, const char *url, const char *const *types,
                          size_t ntypes, const unsigned char *secret, size_t slen,
                          int max_in_flight, char id_out[BF_UUID_STRLEN + 1],
                          struct bf_err *err) BF_MUST_CHECK;

/* Rotate the endpoint's secret: the current one stays valid (signed alongside) for grace_s
 * seconds. 0, -BF_ENOTFOUND or -BF_E*. */
int notifier_endpoint_rotate(struct bf_pg *pg, const unsigned char kek[NOTIFIER_KEK_LEN],
                             const char *endpoint_id, const unsigned char *secret, size_t slen,
                             long long grace_s, struct bf_err *err) BF_MUST_CHECK;

/* Re-enable a disabled endpoint (its failing run starts afresh). 0, -BF_ENOTFOUND. */
int notifier_endpoint_enable(struct bf_pg *pg, const char *endpoint_id,
                             struct bf_err *err) BF_MUST_CHECK;

/* Send again (a new attempt, the same webhook-id): one delivery (since/until NULL), or every
 * delivery of endpoint_id created in [since, until) (RFC 3339). *count gets how many. */
int notifier_replay(struct bf_pg *pg, const char *delivery_id, const char *endpoint_id,
                    const char *since, const char *until, long long *count,
                    struct bf_err *err) BF_MUST_CHECK;

#endif
