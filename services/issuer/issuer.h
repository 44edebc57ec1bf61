/* SPDX-License-Identifier: Apache-2.0 */
/* The issuer's core API: keys, VC-JWT, credential documents, status lists, revocation. */
#ifndef BADGEFLOW_ISSUER_H
#define BADGEFLOW_ISSUER_H

#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "badgeflow/catalogue.h"
#include "badgeflow/daemon.h"
#include "badgeflow/err.h"
#include "badgeflow/metrics.h"
#include "badgeflow/pg.h"
#include "badgeflow/seal.h"

#define ISSUER_KEK_LEN     BF_SEAL_KEK_LEN
#define ISSUER_KID_MAX     128
#define ISSUER_URL_MAX     512
#define ISSUER_STATUS_BITS 131072 /* the W3C minimum: herd privacy */

extern const struct bf_service issuer_service;
extern const struct bf_cfg_def issuer_cfg_defs[];

/* Proof formats. Only VC-JWT today; a Data Integrity proof (eddsa-rdfc-2022 or
 * ecdsa-rdfc-2019) would be a second value, signing the same document. */
enum issuer_proof { ISSUER_PROOF_VC_JWT };

/* ---- SQL (issuer_keys.c) ---- */

/* bf_pg_query() as a prepared statement named after its call site (prepared once per
 * connection, again after a reconnect): the hot path runs about ten statements a record. */
PGresult *issuer_q(struct bf_pg *pg, const char *func, int line, const char *sql, int n,
                   const char *const *p, struct bf_err *err);
#define ISSUER_Q(pg, sql, n, p, err) issuer_q(pg, __func__, __LINE__, sql, n, p, err)

/* ---- crypto (issuer_crypto.c) ---- */

/* Parse the key-encryption key: 64 hex digits or base64 of 32 bytes (bf_seal_kek_parse_any(),
 * the message prefixed with issuer.kek). 0 or -BF_EINVAL. */
int issuer_kek_parse(const char *s, unsigned char kek[ISSUER_KEK_LEN],
                     struct bf_err *err) BF_MUST_CHECK;

/* base64url without padding of len bytes; caller frees. NULL on ENOMEM. */
char *issuer_b64url(const unsigned char *in, size_t len);

/* bf_seal() in BF_SEAL_BARE: out = nonce(12) || AES-256-GCM ciphertext || tag(16), aad bound
 * (the kid), into a malloc'd *out the caller frees. 0 or -BF_E*. issuer_open() fails with
 * -BF_EDENIED on a wrong KEK, tampering or another kid, -BF_EINVAL on a blob cut short. */
int issuer_seal(const unsigned char kek[ISSUER_KEK_LEN], const char *aad, const unsigned char *in,
                size_t len, unsigned char **out, size_t *outlen, struct bf_err *err) BF_MUST_CHECK;
int issuer_open(const unsigned char kek[ISSUER_KEK_LEN], const char *aad, const unsigned char *in,
                size_t len, unsigned char **out, size_t *outlen, struct bf_err *err) BF_MUST_CHECK;

/* A new key pair for alg ("ES256": P-256, "RS256": RSA 2048). NULL on failure. */
EVP_PKEY *issuer_pkey_new(const char *alg, struct bf_err *err);

/* The public JWK of pkey ({kty, crv/x/y or n/e, alg, use "sig", kid}). NULL on failure. */
json_t *issuer_pkey_jwk(EVP_PKEY *pkey, const char *alg, const char *kid);

/* Sign data with pkey as JOSE alg wants it (ES256: raw r||s, 64 bytes). sig holds 512. */
int issuer_sign(EVP_PKEY *pkey, const char *alg, const unsigned char *data, size_t len,
                unsigned char sig[512], size_t *siglen, struct bf_err *err) BF_MUST_CHECK;

/* ---- JWT (issuer_jwt.c) ---- */

/* Compact JWS of payload with header {alg, typ "JWT", kid}. Caller frees *jwt. */
int issuer_jwt_sign(const json_t *payload, const char *alg, const char *kid, EVP_PKEY *pkey,
                    char **jwt, struct bf_err *err) BF_MUST_CHECK;

/* The VC-JWT claims of OB 3.0 (iss, jti, nbf, sub, exp) added to a copy of the credential.
 * Caller decrefs. NULL on a credential without the fields (a bug). */
json_t *issuer_jwt_claims(const json_t *credential);

/* ---- keys (issuer_keys.c) ---- */

struct issuer_key {
    char kid[ISSUER_KID_MAX + 1];
    char alg[8];
    EVP_PKEY *pkey; /* owned: issuer_key_clear() */
};
void issuer_key_clear(struct issuer_key *k);

/* The tenant's active key for alg, decrypted. -BF_ENOTFOUND when the tenant has none. */
int issuer_key_active(struct bf_pg *pg, const unsigned char kek[ISSUER_KEK_LEN], const char *tenant,
                      const char *alg, struct issuer_key *out, struct bf_err *err) BF_MUST_CHECK;

/* Generate a key for tenant and alg in one transaction; rotate retires the active one of
 * that alg first (it stays published). Without rotate an active key is -BF_ECONFLICT.
 * kid_out gets the new kid. */
int issuer_key_create(struct bf_pg *pg, const unsigned char kek[ISSUER_KEK_LEN], const char *tenant,
                      const char *alg, bool rotate, char kid_out[ISSUER_KID_MAX + 1],
                      struct bf_err *err) BF_MUST_CHECK;

/* The URL a kid is published at (the JWT header's kid): <base>/issuers/<tenant>/keys/<kid>. */
void issuer_kid_url(const char *base, const char *tenant, const char *kid, char *out, size_t n);

/* JWKS of every key (active and retired) of tenant, kids as URLs. NULL with err. */
json_t *issuer_jwks(struct bf_pg *pg, const char *base, const char *tenant, struct bf_err *err);

/* ---- documents (issuer_doc.c) ---- */

/* What a micro-credential document is built from; strings borrowed. */
struct issuer_doc_in {
    const char *base;    /* issuer.base_url */
    const char *cred_id; /* the issued credential's UUID */
    const char *tenant_id;
    const char *tenant_name;
    const char *educator_id;
    const char *email; /* NULL: no identifier */
    const char *salt;  /* hex */
    const struct bf_cat_cred *cred;
    const json_t *criteria; /* decision criteria [{criterion_id, level_id}] */
    const json_t *evidence; /* [{item_id, kind, requirement, source_uri}] */
    const char *status_url;
    int status_index;
    int64_t valid_from;  /* seconds */
    int64_t valid_until; /* seconds, 0: never */
};

/* The OpenBadgeCredential (no proof). Caller decrefs. NULL on ENOMEM. */
json_t *issuer_doc_credential(const struct issuer_doc_in *in);

/* The same for a stack: evidence = the component credentials (ids, names). */
struct issuer_stack_in {
    const char *base;
    const char *cred_id;
    const char *tenant_id;
    const char *tenant_name;
    const char *educator_id;
    const char *email;
    const char *salt;
    const struct bf_cat_stack *stack;
    const char *const *component_ids; /* UUIDs */
    const char *const *component_names;
    size_t n_components;
    const char *status_url;
    int status_index;
    int64_t valid_from;
    int64_t valid_until;
};
json_t *issuer_doc_stack(const struct issuer_stack_in *in);

/* Shared pieces. */
json_t *issuer_doc_profile(const char *base, const char *tenant_id, const char *tenant_name);
void issuer_profile_id(const char *base, const char *tenant, char *out, size_t n);
void issuer_subject_id(const char *tenant, const char *educator, char *out, size_t n);
void issuer_time_iso(int64_t secs, char out[32]);
void issuer_cred_url(const char *base, const char *cred_id, const char *suffix, char *out,
                     size_t n);

/* ---- status lists (issuer_status.c) ---- */

/* Take the next index of the tenant's open revocation list (a new list when all are full).
 * Inside the caller's transaction (the list row is locked until it ends). */
int issuer_status_alloc(struct bf_pg *pg, const char *tenant, char list_id[BF_UUID_STRLEN + 1],
                        int *index, struct bf_err *err) BF_MUST_CHECK;
/* Set bit index (0 = most significant bit of byte 0) of list_id. */
int issuer_status_set(struct bf_pg *pg, const char *list_id, int index,
                      struct bf_err *err) BF_MUST_CHECK;
/* "u" + base64url(gzip(bits)): the encodedList. Caller frees. NULL on failure. */
char *issuer_status_encode(const unsigned char *bits, size_t len);
void issuer_status_url(const char *base, const char *tenant, const char *list_id, char *out,
                       size_t n);
/* The BitstringStatusListCredential of a list (unsigned). Caller decrefs. */
json_t *issuer_status_credential(const char *base, const char *tenant, const char *list_id,
                                 const char *encoded, int64_t valid_from);

/* ---- the service state (issuer_service.c) ---- */

struct issuer {
    struct bf_daemon *d;
    char base[ISSUER_URL_MAX];
    unsigned char kek[ISSUER_KEK_LEN];
    char alg[8];
    struct bf_cat *cat;
    int64_t held_retry_ms, next_held_ms;
    pthread_mutex_t http_mu; /* guards http_pg: route handlers run on the server's threads */
    struct bf_pg *http_pg;
};

/* Where emitted events go: a handler's record (ev), or an outbox context (CLI, tick). */
struct issuer_emitter {
    struct bf_event *ev;
    struct bf_daemon *d;
    const struct bf_outbox_ctx *ctx;
};
int issuer_emit(const struct issuer_emitter *em, struct bf_pg *pg, const struct bf_emit *emit,
                struct bf_err *err) BF_MUST_CHECK;

/* ---- issuing (issuer_issue.c, issuer_stack.c) ---- */

/* The decisions handler. */
int issuer_on_decision(void *state, struct bf_event *ev, struct bf_err *err);

/* Issue for one decision's data inside the caller's transaction. *issued false when the
 * decision was skipped (not earned, already issued) or held (no key). */
int issuer_issue_decision(struct issuer *is, struct bf_pg *pg, const struct issuer_emitter *em,
                          const json_t *data, bool from_held, bool *issued,
                          struct bf_err *err) BF_MUST_CHECK;

/* Retry held decisions whose tenant has a key now (tick). Returns how many were issued. */
int issuer_retry_held(struct issuer *is);

/* After a component credential: issue the stack credential when every credential of the
 * stack is held valid by the educator and no valid stack credential exists. */
int issuer_stack_check(struct issuer *is, struct bf_pg *pg, const struct issuer_emitter *em,
                       const char *tenant, const char *educator, const char *stack_id,
                       struct bf_err *err) BF_MUST_CHECK;

/* Sign and store one credential document (kind credential or stack) with key; emits
 * credential.issued with extra fields from `event` (borrowed; merged). */
struct issuer_store {
    const char *cred_id, *tenant, *educator, *kind, *submission_id, *decision_id;
    const char *credential_id, *stack_id, *achievement_id;
    int credential_version;
    const char *status_list_id;
    int status_index;
    int64_t valid_until;
};
int issuer_sign_store(struct issuer *is, struct bf_pg *pg, const struct issuer_emitter *em,
                      const struct issuer_store *st, const json_t *doc,
                      const struct issuer_key *key, json_t *event,
                      struct bf_err *err) BF_MUST_CHECK;

/* ---- revocation (issuer_revoke.c) ---- */

/* Revoke credential cred_id (UUID) in one transaction: flag, status bit, credential.revoked;
 * a component's valid stack credential is revoked with it (revoked_by "issuer").
 * -BF_ENOTFOUND, -BF_ECONFLICT (revoked already). */
int issuer_revoke(struct bf_pg *pg, const char *base, const struct issuer_emitter *em,
                  const char *cred_id, const char *reason, const char *by,
                  struct bf_err *err) BF_MUST_CHECK;

/* ---- PNG (issuer_png.c) ---- */

/* A small badge image (size x size RGB, colours from seed). Caller frees *out. */
int issuer_png_render(const char *seed, int size, unsigned char **out, size_t *len,
                      struct bf_err *err) BF_MUST_CHECK;
/* Copy png with an iTXt chunk (keyword, uncompressed UTF-8 text) inserted before IEND. */
int issuer_png_bake(const unsigned char *png, size_t len, const char *keyword, const char *text,
                    unsigned char **out, size_t *outlen, struct bf_err *err) BF_MUST_CHECK;

/* ---- metrics (issuer_service.c; NULL until the daemon registers them: the CLI has none) ---- */
struct issuer_metrics {
    struct bf_metric *issued;  /* kind */
    struct bf_metric *skipped; /* outcome */
    struct bf_metric *held;    /* gauge */
    struct bf_metric *revoked; /* kind */
};
extern struct issuer_metrics issuer_m;

/* ---- HTTP (issuer_http.c) ---- */
extern const struct bf_http_route issuer_routes[];

#endif
