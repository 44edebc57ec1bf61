/* SPDX-License-Identifier: Apache-2.0 */
/* Admin keys: tenants under their own, assessors, API keys and webhook endpoints, through the
 * same bf_admin_* functions as the CLI. An admin key reaches its tenant and the districts
 * directly under it, nothing else. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/json.h"
#include "gateway.h"

#define IN_SCOPE(col) col " IN (SELECT id FROM tenants WHERE id = $1 OR parent_id = $1)"

/* The tenant a body names (default: the key's own), if the key may administer it. */
static const char *target_tenant(struct gw_req *r, const json_t *body)
{
    const char *t = r->key.tenant_id;
    struct bf_err err = {0};
    const char *v[2] = {r->key.tenant_id, NULL};
    char *ok;

    if (bf_json_id_opt(body, "", "tenant_id", &t, &err) < 0) {
        gw_problem_err(r, 422, "invalid", "Invalid request", &err);
        return NULL;
    }
    v[1] = t;
    ok = gw_query_text(r->pg, "SELECT 1 FROM tenants WHERE id = $2 AND (id = $1 OR parent_id = $1)",
                       2, v, &err);
    if (!ok) {
        if (err.code)
            gw_problem_db(r, &err);
        else
            gw_problem(r, 404, "not-found", "Not found", "tenant_id", "tenant_id: no tenant '%s'",
                       t);
        return NULL;
    }
    free(ok);
    return t;
}

static void list(struct gw_req *r, const char *sql)
{
    struct bf_err err = {0};
    const char *v[1] = {r->key.tenant_id};
    char *s = gw_query_text(r->pg, sql, 1, v, &err);

    if (s)
        gw_reply_text(r, 200, s);
    else
        gw_problem_db(r, &err);
    free(s);
}

/* ---- tenants ---- */

void gw_admin_tenant_add(struct gw_req *r)
{
    static const char *const f[] = {"id", "name", "kind", NULL};
    struct bf_err err = {0};
    json_t *body = gw_body_json(r);
    struct bf_tenant t = {NULL, "district", r->key.tenant_id, NULL};

    if (!body)
        return;
    if (bf_json_only(body, "", f, &err) < 0 || bf_json_id(body, "", "id", &t.id, &err) < 0 ||
        bf_json_str(body, "", "name", 1, 200, &t.name, &err) < 0 ||
        (json_object_get(body, "kind") &&
         bf_json_enum(body, "", "kind", "district", &t.kind, &err) < 0))
        gw_problem_err(r, 422, "invalid", "Invalid request", &err);
    else if (bf_admin_tenant_add(r->pg, &t, &err) < 0)
        gw_problem_db(r, &err);
    else
        gw_reply_json(r, 201,
                      json_pack("{ssssssss}", "id", t.id, "kind", t.kind, "parent_id", t.parent_id,
                                "name", t.name));
    json_decref(body);
}

void gw_admin_tenant_list(struct gw_req *r)
{
    list(r, "SELECT jsonb_build_object('items', coalesce(jsonb_agg(jsonb_build_object('id', id,"
            " 'kind', kind, 'parent_id', parent_id, 'name', name) ORDER BY id), '[]'))::text"
            " FROM tenants WHERE " IN_SCOPE("id"));
}

/* ---- assessors ---- */

/* An array of catalogue ids into out (borrowed strings), at most max. */
static int id_list(const json_t *body, const char *name, const char **out, size_t max, size_t *n,
                   struct bf_err *err)
{
    json_t *a = NULL;

    *n = 0;
    if (!json_object_get(body, name))
        return 0;
    if (bf_json_array(body, "", name, 0, max, &a, err) < 0)
        return -BF_EINVAL;
    for (size_t i = 0; i < json_array_size(a); i++) {
        if (!json_is_string(json_array_get(a, i)))
            return bf_err_set(err, BF_EINVAL, "%s[%zu]: must be a string", name, i);
        out[(*n)++] = json_string_value(json_array_get(a, i));
    }
    return 0;
}

static int assessor_parse(const json_t *body, struct bf_assessor *a, const char **creds,
                          const char **stacks, struct bf_err *err)
{
    static const char *const f[] = {"tenant_id", "id",       "name",        "email",  "district_id",
                                    "school_id", "max_open", "credentials", "stacks", NULL};
    long long max_open = 10;

    if (bf_json_only(body, "", f, err) < 0 || bf_json_id(body, "", "id", &a->id, err) < 0 ||
        bf_json_str(body, "", "name", 1, 200, &a->name, err) < 0 ||
        bf_json_str_opt(body, "", "email", 3, 254, &a->email, err) < 0 ||
        bf_json_id_opt(body, "", "district_id", &a->district_id, err) < 0 ||
        bf_json_id_opt(body, "", "school_id", &a->school_id, err) < 0 ||
        bf_json_int_opt(body, "", "max_open", 0, 10000, &max_open, err) < 0 ||
        id_list(body, "credentials", creds, 64, &a->ncredentials, err) < 0 ||
        id_list(body, "stacks", stacks, 64, &a->nstacks, err) < 0)
        return -BF_EINVAL;
    a->max_open = (int)max_open;
    a->credentials = creds;
    a->stacks = stacks;
    return 0;
}

void gw_admin_assessor_add(struct gw_req *r)
{
    const char *creds[64], *stacks[64];
    struct bf_assessor a = {0};
    struct bf_err err = {0};
    json_t *body = gw_body_json(r);

    if (!body)
        return;
    if (assessor_parse(body, &a, creds, stacks, &err) < 0)
        gw_problem_err(r, 422, "invalid", "Invalid request", &err);
    else if ((a.tenant_id = target_tenant(r, body)) == NULL)
        ; /* replied */
    else if (bf_admin_assessor_add(r->pg, &a, &err) < 0)
        gw_problem_db(r, &err);
    else
        gw_reply_json(r, 201,
                      json_pack("{sssssssO}", "id", a.id, "tenant_id", a.tenant_id, "name", a.name,
                                "qualifications",
                                json_object_get(body, "credentials")
                                    ? json_object_get(body, "credentials")
                                    : json_null()));
    json_decref(body);
}

void gw_admin_assessor_list(struct gw_req *r)
{
    list(r, "SELECT jsonb_build_object('items', coalesce(jsonb_agg(jsonb_build_object('id',"
            " a.id, 'tenant_id', a.tenant_id, 'name', a.name, 'active', a.active, 'max_open',"
            " a.max_open, 'credentials', (SELECT coalesce(jsonb_agg(q.credential_id), '[]') FROM"
            " assessor_qualifications q WHERE q.assessor_id = a.id AND q.credential_id IS NOT"
            " NULL), 'stacks', (SELECT coalesce(jsonb_agg(q.stack_id), '[]') FROM"
            " assessor_qualifications q WHERE q.assessor_id = a.id AND q.stack_id IS NOT NULL))"
            " ORDER BY a.id), '[]'))::text FROM assessors a WHERE " IN_SCOPE("a.tenant_id"));
}

/* ---- API keys ---- */

void gw_admin_key_add(struct gw_req *r)
{
    static const char *const f[] = {"tenant_id", "role", "assessor_id", "label", NULL};
    const char *role = NULL, *assessor = NULL, *label = NULL, *tenant;
    struct bf_err err = {0};
    struct bf_apikey k;
    json_t *body = gw_body_json(r);

    if (!body)
        return;
    if (bf_json_only(body, "", f, &err) < 0 ||
        bf_json_enum(body, "", "role", "district|assessor|admin", &role, &err) < 0 ||
        bf_json_id_opt(body, "", "assessor_id", &assessor, &err) < 0 ||
        bf_json_str_opt(body, "", "label", 1, 200, &label, &err) < 0)
        gw_problem_err(r, 422, "invalid", "Invalid request", &err);
    else if (strcmp(role, "assessor") == 0 && !assessor)
        gw_problem(r, 422, "invalid", "Invalid request", "assessor_id",
                   "assessor_id: is required for role assessor");
    else if ((tenant = target_tenant(r, body)) == NULL)
        ; /* replied */
    else if (bf_admin_apikey_add(r->pg, tenant, role, assessor, label, &k, &err) < 0)
        gw_problem_db(r, &err);
    else
        gw_reply_json(r, 201,
                      json_pack("{ssssssssssss?}", "id", k.id, "prefix", k.prefix, "key", k.key,
                                "tenant_id", tenant, "role", role, "assessor_id", assessor));
    json_decref(body);
}

void gw_admin_key_list(struct gw_req *r)
{
    list(r, "SELECT jsonb_build_object('items', coalesce(jsonb_agg(jsonb_build_object('id', id,"
            " 'prefix', prefix, 'tenant_id', tenant_id, 'role', role, 'assessor_id', assessor_id,"
            " 'label', label, 'created_at', created_at, 'revoked_at', revoked_at, 'last_used_at',"
            " last_used_at) ORDER BY created_at), '[]'))::text FROM api_keys WHERE " IN_SCOPE(
                "tenant_id"));
}

void gw_admin_key_revoke(struct gw_req *r)
{
    struct bf_err err = {0};
    const char *v[2] = {r->key.tenant_id, r->params[0]};
    char *tenant = gw_query_text(r->pg,
                                 "SELECT tenant_id FROM api_keys WHERE (prefix = $2 OR id::text ="
                                 " $2) AND " IN_SCOPE("tenant_id"),
                                 2, v, &err);

    if (!tenant && !err.code)
        gw_problem(r, 404, "not-found", "Not found", NULL, "no API key '%s'", r->params[0]);
    else if (!tenant || bf_admin_apikey_revoke(r->pg, tenant, r->params[0], &err) < 0)
        gw_problem_db(r, &err);
    else
        gw_reply_json(r, 200, json_pack("{ssss}", "id", r->params[0], "state", "revoked"));
    free(tenant);
}

/* ---- webhook endpoints: secrets sealed under gateway.secrets_kek ---- */

/* The secret sealed, as bytea hex text "\x..." for a text parameter. */
static int seal_hex(struct gw *gw, const char *secret, char *out, size_t n)
{
    unsigned char sealed[64 + BF_SEAL_OVERHEAD(BF_SEAL_V1)];
    size_t len = 0;

    if (bf_seal(gw->kek, BF_SEAL_V1, NULL, secret, strlen(secret), sealed, sizeof(sealed), &len,
                NULL) < 0 ||
        n < 2 * len + 3)
        return -BF_EIO;
    out[0] = '\\', out[1] = 'x';
    bf_hex(sealed, len, out + 2);
    return 0;
}

static bool have_kek(struct gw_req *r)
{
    if (!r->gw->have_kek)
        gw_problem(r, 503, "not-configured", "Not configured", NULL,
                   "webhook endpoints need gateway.secrets_kek in the gateway's config");
    return r->gw->have_kek;
}

static int hook_parse(struct gw_req *r, const json_t *body, const char **url, char *types, size_t n,
                      long long *max_in_flight, const char **desc, bool *districts,
                      struct bf_err *err)
{
    static const char *const f[] = {"tenant_id",   "url",           "event_types",
                                    "description", "max_in_flight", "include_districts",
                                    NULL};
    const char *list[64];
    size_t nt = 0, o = 1;

    (void)r;
    if (bf_json_only(body, "", f, err) < 0 || bf_json_str(body, "", "url", 8, 2048, url, err) < 0 ||
        bf_json_str_opt(body, "", "description", 1, 500, desc, err) < 0 ||
        bf_json_int_opt(body, "", "max_in_flight", 1, 64, max_in_flight, err) < 0 ||
        (json_object_get(body, "include_districts") &&
         bf_json_bool(body, "", "include_districts", districts, err) < 0) ||
        id_list(body, "event_types", list, 64, &nt, err) < 0)
        return -BF_EINVAL;
    if (strncmp(*url, "https://", 8) != 0 && strncmp(*url, "http://", 7) != 0)
        return bf_err_set(err, BF_EINVAL, "url: must be an https:// URL");
    types[0] = '{';
    for (size_t i = 0; i < nt; i++) {
        if (strncmp(list[i], "org.badgeflow.", 14) != 0 || strpbrk(list[i], ",{}\"\\ "))
            return bf_err_set(err, BF_EINVAL, "event_types[%zu]: must be an org.badgeflow.* type",
                              i);
        o += (size_t)snprintf(types + o, n - o, "%s%s", i ? "," : "", list[i]);
        if (o >= n - 2)
            return bf_err_set(err, BF_EINVAL, "event_types: too long");
    }
    snprintf(types + o, n - o, "}");
    return 0;
}

/* The endpoint's event types as given (a new reference), or [] for every type. */
static json_t *hook_types_json(const json_t *body)
{
    json_t *t = json_object_get(body, "event_types");

    return t ? json_incref(t) : json_array();
}

void gw_admin_hook_add(struct gw_req *r)
{
    char types[4096], secret[64], sealed[300], mif[16];
    const char *url = NULL, *desc = NULL, *tenant;
    long long max_in_flight = 4;
    bool districts = false;
    struct bf_err err = {0};
    json_t *body = gw_body_json(r);
    char *id;

    if (!body || !have_kek(r))
        goto out;
    if (hook_parse(r, body, &url, types, sizeof(types), &max_in_flight, &desc, &districts, &err) <
        0) {
        gw_problem_err(r, 422, "invalid", "Invalid request", &err);
        goto out;
    }
    if (!(tenant = target_tenant(r, body)))
        goto out;
    if (gw_secret_new(secret) < 0 || seal_hex(r->gw, secret, sealed, sizeof(sealed)) < 0) {
        gw_problem(r, 500, "internal", "Internal error", NULL, "cannot make a secret");
        goto out;
    }
    snprintf(mif, sizeof(mif), "%lld", max_in_flight);
    /* Only a state agency's endpoint may include its districts' events: no row otherwise. */
    const char *v[7] = {tenant, url, desc, types, sealed, mif, districts ? "true" : "false"};
    id = gw_query_text(r->pg,
                       "INSERT INTO webhook_endpoints (tenant_id, url, description, event_types,"
                       " secret_enc, max_in_flight, include_districts) SELECT $1::text,"
                       " $2::text, $3::text, $4::text[], $5::bytea, $6::integer, $7::boolean"
                       " WHERE NOT $7::boolean OR EXISTS (SELECT 1 FROM tenants"
                       " WHERE id = $1::text AND kind = 'state')"
                       " RETURNING id::text",
                       7, v, &err);
    if (!id && err.code)
        gw_problem_db(r, &err);
    else if (!id)
        gw_problem(r, 422, "invalid", "Invalid request", "include_districts",
                   "include_districts: only a state agency's endpoint can include the events of "
                   "its districts; '%s' is a district",
                   tenant);
    else
        gw_reply_json(r, 201,
                      json_pack("{sssssssosbss}", "id", id, "tenant_id", tenant, "url", url,
                                "event_types", hook_types_json(body), "include_districts",
                                districts, "secret", secret));
    free(id);
out:
    json_decref(body);
}

void gw_admin_hook_list(struct gw_req *r)
{
    list(r, "SELECT jsonb_build_object('items', coalesce(jsonb_agg(jsonb_build_object('id', id,"
            " 'tenant_id', tenant_id, 'url', url, 'description', description, 'event_types',"
            " to_jsonb(event_types), 'max_in_flight', max_in_flight, 'include_districts',"
            " include_districts, 'created_at', created_at,"
            " 'disabled_at', disabled_at, 'failing_since', failing_since) ORDER BY created_at),"
            " '[]'))::text FROM webhook_endpoints WHERE " IN_SCOPE("tenant_id"));
}

static char *hook_in_scope(struct gw_req *r, struct bf_err *err)
{
    const char *v[2] = {r->key.tenant_id, r->params[0]};
    char *id = NULL;

    if (bf_uuid_valid(r->params[0]))
        id = gw_query_text(
            r->pg,
            "SELECT id::text FROM webhook_endpoints WHERE id = $2::uuid AND " IN_SCOPE("tenant_id"),
            2, v, err);
    if (!id && !err->code)
        gw_problem(r, 404, "not-found", "Not found", NULL, "no webhook endpoint '%s'",
                   r->params[0]);
    else if (!id)
        gw_problem_db(r, err);
    return id;
}

void gw_admin_hook_delete(struct gw_req *r)
{
    struct bf_err err = {0};
    char *id = hook_in_scope(r, &err);
    const char *v[1] = {id};

    if (!id)
        return;
    if (gw_exec(r->pg, "DELETE FROM webhook_endpoints WHERE id = $1::uuid", 1, v, &err) < 0)
        gw_problem_db(r, &err);
    else
        gw_reply_json(r, 200, json_pack("{ssss}", "id", id, "state", "deleted"));
    free(id);
}

/* The new secret signs from now on; the old one stays valid for gateway.secret_grace. */
void gw_admin_hook_rotate(struct gw_req *r)
{
    struct bf_err err = {0};
    char secret[64], sealed[300], grace[24], *id;

    if (!have_kek(r) || !(id = hook_in_scope(r, &err)))
        return;
    snprintf(grace, sizeof(grace), "%lld", (long long)r->gw->secret_grace_ms);
    const char *v[3] = {id, sealed, grace};
    if (gw_secret_new(secret) < 0 || seal_hex(r->gw, secret, sealed, sizeof(sealed)) < 0)
        gw_problem(r, 500, "internal", "Internal error", NULL, "cannot make a secret");
    else if (gw_exec(r->pg,
                     "UPDATE webhook_endpoints SET previous_secret_enc = secret_enc,"
                     " previous_secret_until = now() + $3::bigint * interval '1 millisecond',"
                     " secret_enc = $2::bytea WHERE id = $1::uuid",
                     3, v, &err) < 0)
        gw_problem_db(r, &err);
    else
        gw_reply_json(r, 200, json_pack("{ssss}", "id", id, "secret", secret));
    free(id);
}
