/* SPDX-License-Identifier: Apache-2.0 */
/* The gateway's core: the HTTP API districts and assessors use, shared by the daemon and tests. */
#ifndef BADGEFLOW_GATEWAY_H
#define BADGEFLOW_GATEWAY_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "badgeflow/admin.h"
#include "badgeflow/catalogue.h"
#include "badgeflow/daemon.h"
#include "badgeflow/seal.h"

extern const struct bf_service gateway_service;
extern const struct bf_cfg_def gateway_cfg_defs[];

/* ---- roles and keys ---- */

enum gw_role { GW_DISTRICT = 1, GW_ASSESSOR = 2, GW_ADMIN = 4, GW_PUBLIC = 8 };

/* The caller, as its API key says. */
struct gw_key {
    char id[40];
    char tenant_id[130];
    char assessor_id[130];
    enum gw_role role;
};

/* ---- PostgreSQL pool (bf_pg is one connection, not thread-safe) ---- */

struct gw_pool;
/* n connections from cfg (postgres.*), opened lazily. NULL on ENOMEM. */
struct gw_pool *gw_pool_new(const struct bf_cfg *cfg, int n, struct bf_err *err);
void gw_pool_free(struct gw_pool *p);
/* Borrow a connected connection (waits for a free one); NULL with -BF_ETRANSIENT in err. */
struct bf_pg *gw_pool_get(struct gw_pool *p, struct bf_err *err);
/* Give it back (rolls back a transaction left open). */
void gw_pool_put(struct gw_pool *p, struct bf_pg *pg);

/* ---- rate limit: one token bucket per key, shared in Redis or in this process ---- */

struct gw_limit;
struct bf_redis;
/* per_s tokens a second up to burst. redis (owned; NULL: this process only) holds the buckets
 * every instance shares; while it does not answer, each instance limits alone. */
struct gw_limit *gw_limit_new(double per_s, double burst, struct bf_redis *redis,
                              const char *prefix);
void gw_limit_free(struct gw_limit *l);
/* Take one token for key at now_ms: true if allowed, else *retry_s gets the wait (>= 1). */
bool gw_limit_take(struct gw_limit *l, const char *key, int64_t now_ms, int *retry_s);

/* ---- webhook secrets (at rest: bf_seal() BF_SEAL_V1, format in docs/gateway.md) ---- */

/* A new Standard Webhooks secret "whsec_<base64 of 24 random bytes>" into out[64]. */
int gw_secret_new(char out[64]) BF_MUST_CHECK;

/* ---- content sniffing of uploads ---- */

/* Media type and evidence kind of a file from its first n bytes; never NULL. */
const char *gw_sniff(const unsigned char *head, size_t n, const char **kind);

/* ---- the process state ---- */

struct gw {
    struct bf_daemon *d;
    const struct bf_cfg *cfg;
    struct bf_cat *cat; /* read-only after init: safe from every request thread */
    struct gw_pool *pool;
    struct gw_limit *limit;
    struct gw_server *server;
    size_t max_body, max_upload;
    const char *upload_root;
    const char *cors_origins; /* "" none, "*" any, else a comma-separated list */
    const char *public_base;  /* where the issuer serves verification material */
    bool have_kek;
    unsigned char kek[BF_SEAL_KEK_LEN];
    int64_t secret_grace_ms;
};

/* ---- a request in hand ---- */

#define GW_MAX_PARAMS      3
#define GW_MAX_RESP_HEADER 4

struct gw_upload;

struct gw_req {
    struct gw *gw;
    const char *method;
    const char *path;
    const char *origin; /* Origin header or NULL */
    const char *idem;   /* Idempotency-Key header or NULL */
    int64_t start_ms;   /* monotonic, for the latency histogram */
    void *conn;         /* struct MHD_Connection */
    const struct gw_route *route;
    char params[GW_MAX_PARAMS][160];
    struct gw_key key;
    struct bf_pg *pg; /* borrowed from the pool for the handler */
    /* body: JSON requests are buffered up to max_body; uploads stream to a file */
    char *body;
    size_t body_len, body_cap;
    bool too_big;
    struct gw_upload *up;
    /* response */
    int status;
    char *out; /* malloc'd body */
    const char *out_type;
    const char *hdr[GW_MAX_RESP_HEADER][2];
    char hdr_store[GW_MAX_RESP_HEADER][256];
    int nhdr;
};

typedef void gw_handler(struct gw_req *r);

struct gw_route {
    const char *method;
    const char *pattern; /* "/v1/submissions/{}/withdraw": {} matches one id segment */
    unsigned roles;      /* enum gw_role bits allowed */
    bool stream;         /* body streamed (uploads), not buffered */
    gw_handler *fn;
};

/* Every route of the API (ended by a NULL method); docs/openapi.yaml documents each one. */
extern const struct gw_route gw_routes[];

/*
 * Find the route of method and path, filling params. NULL when nothing matches; *path_known
 * is true when the path matched with another method (405).
 */
const struct gw_route *gw_route_find(const char *method, const char *path,
                                     char params[GW_MAX_PARAMS][160], bool *path_known);

/* ---- replies ---- */

/* Reply status with the compact JSON of j (stolen). */
void gw_reply_json(struct gw_req *r, int status, json_t *j);
/* Reply status with text (JSON already serialised, copied). */
void gw_reply_text(struct gw_req *r, int status, const char *text);
/* Add a response header (value copied). */
void gw_reply_header(struct gw_req *r, const char *name, const char *value);
/*
 * RFC 9457 problem: type https://badgeflow.dev/problems/<slug>, title, status, detail and,
 * when field is not NULL, errors [{"pointer": JSON pointer, "field": field, "detail"}].
 */
void gw_problem(struct gw_req *r, int status, const char *slug, const char *title,
                const char *field, const char *fmt, ...) BF_PRINTF(6, 7);
/* Problem from a bf_err whose message starts with the field ("evidence[2].uri: must ..."):
 * the field becomes the pointer /evidence/2/uri (prefixed by base, e.g. "" or "/criteria"). */
void gw_problem_err(struct gw_req *r, int status, const char *slug, const char *title,
                    const struct bf_err *err);
/* The usual answer to a failed database or emit step: 503 for transient, 409, 422, 500. */
void gw_problem_db(struct gw_req *r, const struct bf_err *err);
/* JSON pointer of a field path ("evidence[2].uri" → "/evidence/2/uri") into out. */
void gw_field_pointer(const char *field, char *out, size_t n);

/* ---- auth ---- */

/*
 * Authenticate the Authorization header value (may be NULL) into r->key with pg.
 * 0, -BF_EDENIED (missing, malformed, unknown, revoked, expired: err says which),
 * -BF_ETRANSIENT.
 */
int gw_auth(struct bf_pg *pg, const char *authorization, struct gw_key *key,
            struct bf_err *err) BF_MUST_CHECK;

/* ---- helpers for handlers ---- */

/* Query argument name of the request, or NULL. */
const char *gw_query(struct gw_req *r, const char *name);
/* Parse the buffered body as a JSON object; on failure reply 400 and return NULL. */
json_t *gw_body_json(struct gw_req *r);
/* SHA-256 hex of the canonical JSON of j into out. */
void gw_json_sha256(const json_t *j, char out[65]);
/* Run sql with n text params; the first column of the first row as a copy, NULL if no row
 * (err code 0) or on failure (err set). Caller frees. */
char *gw_query_text(struct bf_pg *pg, const char *sql, int n, const char *const *v,
                    struct bf_err *err);
/* Run sql for its effect; 0 or -BF_E*. */
int gw_exec(struct bf_pg *pg, const char *sql, int n, const char *const *v,
            struct bf_err *err) BF_MUST_CHECK;
/* Emit an event from a request thread in the open transaction on pg (validated first with
 * bf_ev_check). 0 or -BF_E*. */
int gw_emit(struct gw_req *r, const char *type, const char *key, const json_t *data,
            char id_out[BF_UUID_STRLEN + 1], struct bf_err *err) BF_MUST_CHECK;

/* ---- idempotency (gateway_requests) ---- */

enum gw_idem { GW_IDEM_NEW, GW_IDEM_REPLAY, GW_IDEM_CONFLICT };
/*
 * Inside a transaction: lock (tenant, scope, key) and look it up. REPLAY fills r's reply
 * with the stored one; CONFLICT means the key was used with another body. -BF_E* on failure.
 */
int gw_idem_begin(struct gw_req *r, const char *scope, const char *key, const char *sha,
                  enum gw_idem *out, struct bf_err *err) BF_MUST_CHECK;
/* Store r's reply for (tenant, scope, key) in the transaction. 0 or -BF_E*. */
int gw_idem_store(struct gw_req *r, const char *scope, const char *key, const char *sha,
                  struct bf_err *err) BF_MUST_CHECK;

/* ---- uploads ---- */

/* Open the sink for r (file under upload_root/<tenant>/). 0 or -BF_EIO. */
int gw_upload_open(struct gw_req *r, struct bf_err *err) BF_MUST_CHECK;
/* Write a chunk (counts, hashes; past max_upload marks r->too_big). */
void gw_upload_write(struct gw_req *r, const char *data, size_t n);
/* Remove a partial file and free. */
void gw_upload_free(struct gw_upload *up);

/* ---- handlers ---- */

gw_handler gw_submission_create, gw_submission_get, gw_submission_list, gw_submission_withdraw,
    gw_submission_resubmit;
gw_handler gw_catalogue_stacks, gw_catalogue_stack, gw_catalogue_credential;
gw_handler gw_assignment_list, gw_assignment_get, gw_assignment_score, gw_assignment_release;
gw_handler gw_admin_tenant_add, gw_admin_tenant_list, gw_admin_assessor_add, gw_admin_assessor_list,
    gw_admin_key_add, gw_admin_key_list, gw_admin_key_revoke, gw_admin_hook_add, gw_admin_hook_list,
    gw_admin_hook_delete, gw_admin_hook_rotate;
gw_handler gw_upload_finish, gw_public_redirect;

/* ---- the server ---- */

struct gw_server;
/* Listen on gateway.listen and serve gw_routes. NULL with err. */
struct gw_server *gw_server_start(struct gw *gw, struct bf_err *err);
int gw_server_port(const struct gw_server *s);
void gw_server_stop(struct gw_server *s);

#endif
