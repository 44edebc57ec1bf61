/* SPDX-License-Identifier: Apache-2.0 */
/* Administration of tenants, assessors, educators and API keys (CLI and gateway). */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "badgeflow/admin.h"
#include "badgeflow/util.h"

/* Run sql; on a unique violation say "<what> exists already". */
static int exec_insert(struct bf_pg *pg, const char *sql, int n, const char *const *values,
                       const char *what, struct bf_err *err)
{
    PGresult *res = bf_pg_query(pg, sql, n, values, err);

    if (!res) {
        if (err && err->code == BF_ECONFLICT)
            return bf_err_set(err, BF_ECONFLICT, "%s exists already", what);
        return -(err ? err->code : BF_EINTERNAL);
    }
    PQclear(res);
    return 0;
}

/* -BF_EINVAL "<what> '<id>' <missing>" unless sql (one parameter: id) returns a row. */
static int require_row(struct bf_pg *pg, const char *sql, const char *id, const char *what,
                       const char *missing, struct bf_err *err)
{
    PGresult *res;
    int n;

    if (!id)
        return 0;
    res = bf_pg_query(pg, sql, 1, (const char *const[]){id}, err);
    if (!res)
        return -(err ? err->code : BF_EINTERNAL);
    n = PQntuples(res);
    PQclear(res);
    return n ? 0 : bf_err_set(err, BF_EINVAL, "%s '%s' %s", what, id, missing);
}

static int require_tenant(struct bf_pg *pg, const char *id, struct bf_err *err)
{
    return require_row(pg, "SELECT 1 FROM tenants WHERE id = $1", id, "tenant", "does not exist",
                       err);
}

/* A qualification for a credential (column credential_id) or a whole stack (stack_id). */
struct qual_kind {
    const char *column;
    const char *exists_sql;
    const char *what;
};

static const struct qual_kind qual_credential = {
    "credential_id", "SELECT 1 FROM catalogue_credentials WHERE id = $1", "credential"};
static const struct qual_kind qual_stack = {"stack_id", "SELECT 1 FROM stacks WHERE id = $1",
                                            "stack"};

int bf_admin_tenant_add(struct bf_pg *pg, const struct bf_tenant *t, struct bf_err *err)
{
    const char *values[] = {t->id, t->kind, t->parent_id, t->name};
    char what[200];

    snprintf(what, sizeof(what), "tenant '%s'", t->id);
    if (require_row(pg, "SELECT 1 FROM tenants WHERE id = $1", t->parent_id, "parent tenant",
                    "does not exist", err) < 0)
        return -err->code;
    return exec_insert(pg,
                       "INSERT INTO tenants (id, kind, parent_id, name) VALUES ($1, $2, $3, $4)", 4,
                       values, what, err);
}

static int add_qualifications(struct bf_pg *pg, const char *assessor_id,
                              const struct qual_kind *kind, const char *const *ids, size_t n,
                              struct bf_err *err)
{
    char sql[160];

    snprintf(sql, sizeof(sql),
             "INSERT INTO assessor_qualifications (assessor_id, %s) VALUES ($1, $2)", kind->column);
    for (size_t i = 0; i < n; i++) {
        const char *values[] = {assessor_id, ids[i]};
        char what[200];
        int rc =
            require_row(pg, kind->exists_sql, ids[i], kind->what, "is not in the catalogue", err);
        snprintf(what, sizeof(what), "qualification for %s '%s'", kind->what, ids[i]);
        if (rc == 0)
            rc = exec_insert(pg, sql, 2, values, what, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int assessor_add_tx(struct bf_pg *pg, void *arg, struct bf_err *err)
{
    const struct bf_assessor *a = arg;
    char cap[16], what[200];
    int rc;

    snprintf(cap, sizeof(cap), "%d", a->max_open);
    snprintf(what, sizeof(what), "assessor '%s'", a->id);
    const char *values[] = {a->tenant_id,   a->id,        a->name, a->email,
                            a->district_id, a->school_id, cap};
    rc = require_tenant(pg, a->tenant_id, err);
    if (rc == 0)
        rc = exec_insert(pg,
                         "INSERT INTO assessors (tenant_id, id, name, email, district_id,"
                         " school_id, max_open) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                         7, values, what, err);
    if (rc == 0)
        rc = add_qualifications(pg, a->id, &qual_credential, a->credentials, a->ncredentials, err);
    if (rc == 0)
        rc = add_qualifications(pg, a->id, &qual_stack, a->stacks, a->nstacks, err);
    return rc;
}

int bf_admin_assessor_add(struct bf_pg *pg, const struct bf_assessor *a, struct bf_err *err)
{
    return bf_pg_tx(pg, assessor_add_tx, (void *)a, err);
}

int bf_admin_educator_put(struct bf_pg *pg, const struct bf_educator *e, struct bf_err *err)
{
    const char *values[] = {e->tenant_id, e->id, e->name, e->email, e->district_id, e->school_id};
    char what[200];

    snprintf(what, sizeof(what), "educator '%s'", e->id);
    if (require_tenant(pg, e->tenant_id, err) < 0)
        return -err->code;
    return exec_insert(pg,
                       "INSERT INTO educators (tenant_id, id, name, email, district_id, school_id)"
                       " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, id) DO UPDATE"
                       " SET name = EXCLUDED.name, email = EXCLUDED.email,"
                       " district_id = EXCLUDED.district_id, school_id = EXCLUDED.school_id",
                       6, values, what, err);
}

static int pilot_educators(struct bf_pg *pg, const struct bf_pilot *p, struct bf_err *err)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < p->neducators; i++) {
        const char *v[] = {p->tenant_id, p->id, p->educators[i]};
        rc = exec_insert(pg,
                         "WITH e AS (INSERT INTO educators (tenant_id, id, district_id) VALUES"
                         " ($1, $3, $1) ON CONFLICT DO NOTHING) INSERT INTO pilot_educators"
                         " (tenant_id, pilot_id, educator_id) VALUES ($1, $2, $3)",
                         3, v, "targeted educator", err);
    }
    return rc;
}

static int pilot_scope(struct bf_pg *pg, const struct bf_pilot *p, const struct qual_kind *kind,
                       const char *const *ids, size_t n, struct bf_err *err)
{
    char sql[200];
    int rc = 0;

    snprintf(sql, sizeof(sql),
             "INSERT INTO pilot_scope (tenant_id, pilot_id, %s) VALUES ($1, $2, $3)", kind->column);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *v[] = {p->tenant_id, p->id, ids[i]};
        rc = require_row(pg, kind->exists_sql, ids[i], kind->what, "is not in the catalogue", err);
        if (rc == 0)
            rc = exec_insert(pg, sql, 3, v, "pilot scope", err);
    }
    return rc;
}

static int pilot_add_tx(struct bf_pg *pg, void *arg, struct bf_err *err)
{
    const struct bf_pilot *p = arg;
    const char *v[] = {p->tenant_id, p->id,      p->name,
                       p->starts_on, p->ends_on, p->target_reach_ratio};
    char what[200];
    int rc = require_tenant(pg, p->tenant_id, err);

    snprintf(what, sizeof(what), "pilot '%s'", p->id);
    /* ISO dates order as strings; the database checks their form. */
    if (rc == 0 && strcmp(p->ends_on, p->starts_on) < 0)
        rc = bf_err_set(err, BF_EINVAL, "ends: %s is before starts %s", p->ends_on, p->starts_on);
    if (rc == 0)
        rc = exec_insert(pg,
                         "INSERT INTO pilots (tenant_id, id, name, starts_on, ends_on,"
                         " target_reach_ratio) VALUES ($1, $2, $3, $4, $5, $6)",
                         6, v, what, err);
    if (rc == 0)
        rc = pilot_educators(pg, p, err);
    if (rc == 0)
        rc = pilot_scope(pg, p, &qual_credential, p->credentials, p->ncredentials, err);
    if (rc == 0)
        rc = pilot_scope(pg, p, &qual_stack, p->stacks, p->nstacks, err);
    return rc;
}

int bf_admin_pilot_add(struct bf_pg *pg, const struct bf_pilot *p, struct bf_err *err)
{
    return bf_pg_tx(pg, pilot_add_tx, (void *)p, err);
}

void bf_apikey_hash(const char *key, char out[BF_SHA256_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    EVP_Digest(key, strlen(key), md, &len, EVP_sha256(), NULL);
    bf_hex(md, len, out);
}

bool bf_apikey_prefix(const char *key, char out[BF_APIKEY_PREFIX_LEN + 1])
{
    if (!key || strlen(key) != BF_APIKEY_LEN || strncmp(key, "bfk", 3) != 0 ||
        key[BF_APIKEY_PREFIX_LEN] != '.')
        return false;
    memcpy(out, key, BF_APIKEY_PREFIX_LEN);
    out[BF_APIKEY_PREFIX_LEN] = '\0';
    return true;
}

/* "bfk" + 12 hex, ".", then 32 random bytes as base64url without padding (43 chars). */
static int apikey_mint(struct bf_apikey *k)
{
    unsigned char rnd[6 + 32], b64[48];

    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return -BF_EIO;
    memcpy(k->prefix, "bfk", 3);
    bf_hex(rnd, 6, k->prefix + 3);
    EVP_EncodeBlock(b64, rnd + 6, 32); /* 44 characters, the last one '=' */
    for (int i = 0; i < 43; i++)
        b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    snprintf(k->key, sizeof(k->key), "%s.%.43s", k->prefix, (const char *)b64);
    return 0;
}

int bf_admin_apikey_add(struct bf_pg *pg, const char *tenant_id, const char *role,
                        const char *assessor_id, const char *label, struct bf_apikey *out,
                        struct bf_err *err)
{
    char hash[BF_SHA256_HEX_LEN + 1];
    PGresult *res;

    if (require_tenant(pg, tenant_id, err) < 0)
        return -err->code;
    if (require_row(pg, "SELECT 1 FROM assessors WHERE id = $1", assessor_id, "assessor",
                    "does not exist", err) < 0)
        return -err->code;
    if (apikey_mint(out) < 0)
        return bf_err_set(err, BF_EIO, "no randomness for a key");
    bf_apikey_hash(out->key, hash);
    const char *values[] = {tenant_id, role, assessor_id, label, out->prefix, hash};
    res = bf_pg_query(pg,
                      "INSERT INTO api_keys (tenant_id, role, assessor_id, label, prefix, key_hash)"
                      " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                      6, values, err);
    if (!res)
        return -(err ? err->code : BF_EINTERNAL);
    bf_strlcpy(out->id, PQgetvalue(res, 0, 0), sizeof(out->id));
    PQclear(res);
    return 0;
}

int bf_admin_apikey_revoke(struct bf_pg *pg, const char *tenant_id, const char *prefix_or_id,
                           struct bf_err *err)
{
    static const char match[] = "(prefix = $1 OR id::text = $1) AND ($2::text IS NULL OR"
                                " tenant_id = $2)";
    const char *values[] = {prefix_or_id, tenant_id};
    char sql[256];
    PGresult *res;
    int n;

    snprintf(sql, sizeof(sql),
             "UPDATE api_keys SET revoked_at = now() WHERE %s AND revoked_at IS NULL RETURNING 1",
             match);
    res = bf_pg_query(pg, sql, 2, values, err);
    if (!res)
        return -(err ? err->code : BF_EINTERNAL);
    n = PQntuples(res);
    PQclear(res);
    if (n > 0)
        return 0;
    snprintf(sql, sizeof(sql), "SELECT 1 FROM api_keys WHERE %s", match);
    res = bf_pg_query(pg, sql, 2, values, err);
    if (!res)
        return -(err ? err->code : BF_EINTERNAL);
    n = PQntuples(res);
    PQclear(res);
    if (n == 0)
        return bf_err_set(err, BF_ENOTFOUND, "no API key '%s'", prefix_or_id);
    return bf_err_set(err, BF_ECONFLICT, "API key '%s' is revoked already", prefix_or_id);
}
