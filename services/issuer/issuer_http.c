/* SPDX-License-Identifier: Apache-2.0 */
/* Public verification material, no authentication: credentials (JSON, JWT, baked PNG), the
 * issuer Profile, its keys (JWKS, one JWK, did:web document) and status lists. */
#include <stdlib.h>
#include <string.h>

#include "badgeflow/json.h"
#include "badgeflow/util.h"
#include "issuer.h"

#define SEG_MAX 160

/* Split "/a/b/c" after prefix into at most n segments (copied into segs). */
static int segments(const char *path, const char *prefix, char segs[][SEG_MAX], int n)
{
    const char *p = path + strlen(prefix);
    int k = 0;

    while (*p && k < n) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || len >= SEG_MAX)
            return -1;
        memcpy(segs[k], p, len);
        segs[k++][len] = '\0';
        p = e ? e + 1 : p + len;
    }
    return *p ? -1 : k;
}

static void reply_json(struct bf_http_response *resp, const char *type, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;

    if (!s) {
        (void)bf_http_reply(resp, 404, "application/json", "{\"error\":\"not found\"}");
    } else {
        (void)bf_http_reply(resp, 200, type, s);
        (void)bf_http_add_header(resp, "Access-Control-Allow-Origin", "*");
    }
    free(s);
    json_decref(j);
}

static void not_found(struct bf_http_response *resp)
{
    (void)bf_http_reply(resp, 404, "application/json", "{\"error\":\"not found\"}");
}

/* One text column of one row of sql with params, or NULL (caller frees). */
static char *fetch1(struct issuer *is, const char *sql, int n, const char *const *p)
{
    struct bf_err err = {0};
    PGresult *res = bf_pg_query(is->http_pg, sql, n, p, &err);
    char *out = res && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)
                    ? strdup(PQgetvalue(res, 0, 0))
                    : NULL;

    PQclear(res);
    return out;
}

/* The baked PNG of a credential whose achievement image is a PNG. */
static void serve_png(struct issuer *is, const char *id, struct bf_http_response *resp)
{
    const char *p[1] = {id};
    char *jwt = fetch1(is,
                       "SELECT jwt FROM credentials WHERE id = $1::uuid AND"
                       " document #>> '{credentialSubject,achievement,image,id}' LIKE '%.png'",
                       1, p);
    char *ach = fetch1(is, "SELECT achievement_id FROM credentials WHERE id = $1::uuid", 1, p);
    unsigned char *img = NULL, *baked = NULL;
    size_t ilen = 0, blen = 0;
    struct bf_err err = {0};

    if (jwt && ach && issuer_png_render(ach, 128, &img, &ilen, &err) == 0 &&
        issuer_png_bake(img, ilen, "openbadgecredential", jwt, &baked, &blen, &err) == 0) {
        resp->status = 200;
        resp->content_type = "image/png";
        resp->body = (char *)baked;
        resp->body_len = blen;
    } else {
        not_found(resp);
    }
    free(img);
    free(jwt);
    free(ach);
}

static void serve_credential(struct issuer *is, const char *seg, struct bf_http_response *resp)
{
    char id[SEG_MAX];
    const char *dot = strchr(seg, '.');
    const char *p[1] = {id};

    bf_strlcpy(id, seg, sizeof(id));
    if (dot)
        id[dot - seg] = '\0';
    if (!bf_uuid_valid(id))
        return not_found(resp);
    if (dot && strcmp(dot, ".png") == 0)
        return serve_png(is, id, resp);
    if (dot && strcmp(dot, ".jwt") != 0)
        return not_found(resp);
    char *s = fetch1(is,
                     dot ? "SELECT jwt FROM credentials WHERE id = $1::uuid"
                         : "SELECT document::text FROM credentials WHERE id = $1::uuid",
                     1, p);
    if (!s)
        return not_found(resp);
    if (dot)
        (void)bf_http_reply(resp, 200, "application/jwt", s);
    else
        reply_json(resp, "application/vc+ld+json", json_loads(s, 0, NULL));
    free(s);
}

/* did:web:<host%3Aport>[:path] of base's authority, path segments "issuers:<tenant>". */
static void did_web(const char *base, const char *tenant, char *out, size_t n)
{
    const char *host = strstr(base, "://");
    char auth[256] = "";
    size_t k = 0;

    host = host ? host + 3 : base;
    for (const char *c = host; *c && *c != '/' && k + 4 < sizeof(auth); c++) {
        if (*c == ':') {
            memcpy(auth + k, "%3A", 3);
            k += 3;
        } else {
            auth[k++] = *c;
        }
    }
    auth[k] = '\0';
    snprintf(out, n, "did:web:%s:issuers:%s", auth, tenant);
}

static json_t *did_document(struct issuer *is, const char *tenant, json_t *jwks)
{
    char did[400], vm[600];
    json_t *vms = json_array(), *refs = json_array(), *k;
    size_t i;

    did_web(is->base, tenant, did, sizeof(did));
    json_array_foreach(json_object_get(jwks, "keys"), i, k)
    {
        const char *kid = strrchr(json_string_value(json_object_get(k, "kid")) ?: "/", '/') + 1;
        snprintf(vm, sizeof(vm), "%s#%s", did, kid);
        json_array_append_new(vms, json_pack("{sssssssO}", "id", vm, "type", "JsonWebKey",
                                             "controller", did, "publicKeyJwk", k));
        json_array_append_new(refs, json_string(vm));
    }
    return json_pack("{s[ss]sssososO}", "@context", "https://www.w3.org/ns/did/v1",
                     "https://w3id.org/security/jwk/v1", "id", did, "verificationMethod", vms,
                     "assertionMethod", refs, "authentication", refs);
}

static void serve_issuer(struct issuer *is, char segs[][SEG_MAX], int n,
                         struct bf_http_response *resp)
{
    struct bf_err err = {0};
    const char *p[1] = {segs[0]};
    json_t *jwks;

    if (n == 1) {
        char *name = fetch1(is, "SELECT name FROM tenants WHERE id = $1", 1, p);
        reply_json(resp, "application/json",
                   name ? issuer_doc_profile(is->base, segs[0], name) : NULL);
        free(name);
        return;
    }
    jwks = issuer_jwks(is->http_pg, is->base, segs[0], &err);
    if (n == 2 && strcmp(segs[1], "jwks.json") == 0)
        return reply_json(resp, "application/jwk-set+json", jwks);
    if (n == 2 && strcmp(segs[1], "did.json") == 0) {
        reply_json(resp, "application/did+json", did_document(is, segs[0], jwks));
        return json_decref(jwks);
    }
    json_t *found = NULL, *k;
    size_t i;
    json_array_foreach(json_object_get(jwks, "keys"), i, k)
    {
        const char *kid = json_string_value(json_object_get(k, "kid"));
        if (n == 3 && strcmp(segs[1], "keys") == 0 && kid && strrchr(kid, '/') &&
            strcmp(strrchr(kid, '/') + 1, segs[2]) == 0)
            found = json_incref(k);
    }
    reply_json(resp, "application/jwk+json", found);
    json_decref(jwks);
}

/* The signed (VC-JWT: ".jwt", or Accept naming jwt) or plain BitstringStatusListCredential. */
static void serve_status(struct issuer *is, const char *tenant, const char *seg, bool want_jwt,
                         struct bf_http_response *resp)
{
    char id[SEG_MAX], *jwt = NULL;
    const char *dot = strchr(seg, '.');
    const char *p[2] = {id, tenant};
    struct issuer_key key = {0};
    struct bf_err err = {0};
    PGresult *res;

    bf_strlcpy(id, seg, sizeof(id));
    if (dot)
        id[dot - seg] = '\0';
    if (!bf_uuid_valid(id) || (dot && strcmp(dot, ".jwt") != 0))
        return not_found(resp);
    res = ISSUER_Q(is->http_pg,
                   "SELECT bits, extract(epoch FROM updated_at)::bigint FROM status_lists"
                   " WHERE id = $1::uuid AND tenant_id = $2",
                   2, p, &err);
    if (!res || PQntuples(res) != 1) {
        PQclear(res);
        return not_found(resp);
    }
    size_t blen = 0;
    unsigned char *bits = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 0), &blen);
    char *enc = bits ? issuer_status_encode(bits, blen) : NULL;
    json_t *doc = enc ? issuer_status_credential(is->base, tenant, id, enc,
                                                 strtoll(PQgetvalue(res, 0, 1), NULL, 10))
                      : NULL;
    PQclear(res);
    PQfreemem(bits);
    free(enc);
    if (!dot && !want_jwt)
        return reply_json(resp, "application/vc+ld+json", doc);
    json_t *claims = doc ? issuer_jwt_claims(doc) : NULL;
    char kid_url[ISSUER_URL_MAX + ISSUER_KID_MAX + 64];
    if (claims && issuer_key_active(is->http_pg, is->kek, tenant, is->alg, &key, &err) == 0) {
        issuer_kid_url(is->base, tenant, key.kid, kid_url, sizeof(kid_url));
        if (issuer_jwt_sign(claims, key.alg, kid_url, key.pkey, &jwt, &err) == 0)
            (void)bf_http_reply(resp, 200, "application/jwt", jwt);
    }
    if (!jwt)
        not_found(resp);
    free(jwt);
    issuer_key_clear(&key);
    json_decref(claims);
    json_decref(doc);
}

/* Verifiers following statusListCredential ask for the JWT by media type. */
static bool accepts_jwt(const struct bf_http_request *req)
{
    const char *a = bf_http_header(req, "Accept");

    return a && strstr(a, "jwt") != NULL;
}

static void route(void *ctx, const struct bf_http_request *req, struct bf_http_response *resp)
{
    struct issuer *is = bf_daemon_state(ctx);
    char segs[4][SEG_MAX];
    int n;

    if (!is) {
        (void)bf_http_reply(resp, 503, "application/json", "{\"error\":\"starting\"}");
        return;
    }
    pthread_mutex_lock(&is->http_mu);
    if (strncmp(req->path, "/credentials/", 13) == 0 &&
        segments(req->path, "/credentials/", segs, 4) == 1)
        serve_credential(is, segs[0], resp);
    else if (strncmp(req->path, "/issuers/", 9) == 0 &&
             (n = segments(req->path, "/issuers/", segs, 4)) >= 1 && n <= 3 &&
             bf_json_id_valid(segs[0]))
        serve_issuer(is, segs, n, resp);
    else if (strncmp(req->path, "/status/", 8) == 0 &&
             segments(req->path, "/status/", segs, 4) == 2 && bf_json_id_valid(segs[0]))
        serve_status(is, segs[0], segs[1], accepts_jwt(req), resp);
    else
        not_found(resp);
    pthread_mutex_unlock(&is->http_mu);
}

const struct bf_http_route issuer_routes[] = {
    {"GET", "/credentials/", true, route},
    {"GET", "/issuers/", true, route},
    {"GET", "/status/", true, route},
    {NULL, NULL, false, NULL},
};
