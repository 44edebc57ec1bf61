/* SPDX-License-Identifier: Apache-2.0 */
/* Administration of tenants, people and API keys: shared by the CLI and the gateway. */
#ifndef BADGEFLOW_ADMIN_H
#define BADGEFLOW_ADMIN_H

#include <stddef.h>

#include "badgeflow/err.h"
#include "badgeflow/pg.h"

#define BF_APIKEY_PREFIX_LEN 15 /* "bfk" + 12 hex */
#define BF_APIKEY_LEN        59 /* prefix "." 43 base64url characters */
#define BF_SHA256_HEX_LEN    64

/* A tenant: a state agency, or a district (parent_id: its state, may be NULL). */
struct bf_tenant {
    const char *id;
    const char *kind; /* "state" or "district" */
    const char *parent_id;
    const char *name;
};

/* An assessor with what they are certified for (credential ids and/or stack ids). */
struct bf_assessor {
    const char *tenant_id; /* the employer: a state's assessors serve its districts */
    const char *id;
    const char *name;
    const char *email;       /* may be NULL */
    const char *district_id; /* where they work, for conflict of interest; may be NULL */
    const char *school_id;   /* may be NULL */
    int max_open;            /* capacity: most open assignments at once */
    const char *const *credentials;
    size_t ncredentials;
    const char *const *stacks;
    size_t nstacks;
};

/* An educator as a district knows them. */
struct bf_educator {
    const char *tenant_id;
    const char *id;
    const char *name;  /* may be NULL */
    const char *email; /* may be NULL */
    const char *district_id;
    const char *school_id;
};

/* A pilot: a cohort of targeted educators, a window and a reach target. */
struct bf_pilot {
    const char *tenant_id;
    const char *id;
    const char *name;
    const char *starts_on;          /* YYYY-MM-DD */
    const char *ends_on;            /* YYYY-MM-DD */
    const char *target_reach_ratio; /* "0.75", or NULL */
    const char *const *educators;   /* targeted educators (added if unknown) */
    size_t neducators;
    const char *const *credentials; /* scope; none: the whole catalogue */
    size_t ncredentials;
    const char *const *stacks;
    size_t nstacks;
};

/* A freshly minted API key: key is shown once and never stored. */
struct bf_apikey {
    char id[40];
    char prefix[BF_APIKEY_PREFIX_LEN + 1];
    char key[BF_APIKEY_LEN + 1];
};

/*
 * Insert t. 0, -BF_ECONFLICT ("tenant 'x' exists already"), -BF_EINVAL (bad kind, parent
 * not a state, with the server's words), -BF_ETRANSIENT.
 */
int bf_admin_tenant_add(struct bf_pg *pg, const struct bf_tenant *t,
                        struct bf_err *err) BF_MUST_CHECK;

/*
 * Insert a and its qualifications in one transaction. 0, -BF_ECONFLICT (id taken),
 * -BF_EINVAL (unknown tenant, credential or stack: named), -BF_ETRANSIENT.
 */
int bf_admin_assessor_add(struct bf_pg *pg, const struct bf_assessor *a,
                          struct bf_err *err) BF_MUST_CHECK;

/*
 * Insert p with its targeted educators (recorded as educators of the tenant if new) and its
 * scope, in one transaction. 0, -BF_ECONFLICT (id taken), -BF_EINVAL (bad dates or target,
 * unknown tenant, credential or stack: named), -BF_ETRANSIENT.
 */
int bf_admin_pilot_add(struct bf_pg *pg, const struct bf_pilot *p,
                       struct bf_err *err) BF_MUST_CHECK;

/* Insert or update e (upsert on tenant and id). 0 or -BF_E*. */
int bf_admin_educator_put(struct bf_pg *pg, const struct bf_educator *e,
                          struct bf_err *err) BF_MUST_CHECK;

/*
 * Mint an API key for tenant_id with role "district", "assessor" (assessor_id required) or
 * "admin"; store its SHA-256 and prefix; fill out (the only place the key ever appears).
 * 0 or -BF_E* (unknown tenant or assessor: -BF_EINVAL naming it).
 */
int bf_admin_apikey_add(struct bf_pg *pg, const char *tenant_id, const char *role,
                        const char *assessor_id, const char *label, struct bf_apikey *out,
                        struct bf_err *err) BF_MUST_CHECK;

/*
 * Revoke the key whose prefix (or id) is given; with tenant_id not NULL only a key of that
 * tenant. 0, -BF_ENOTFOUND, -BF_ECONFLICT (revoked already), -BF_ETRANSIENT.
 */
int bf_admin_apikey_revoke(struct bf_pg *pg, const char *tenant_id, const char *prefix_or_id,
                           struct bf_err *err) BF_MUST_CHECK;

/* SHA-256 of key as lower-case hex into out. */
void bf_apikey_hash(const char *key, char out[BF_SHA256_HEX_LEN + 1]);

/* The prefix part of key into out; false if key does not have the shape of a badgeflow key. */
bool bf_apikey_prefix(const char *key, char out[BF_APIKEY_PREFIX_LEN + 1]);

#endif
