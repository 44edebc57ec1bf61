/* SPDX-License-Identifier: Apache-2.0 */
/* VC-JWT as Open Badges 3.0 §8.2 (JSON Web Token Proof Format) asks: the credential is the
 * payload, plus iss, jti, nbf, sub and exp. */
#include <stdlib.h>
#include <string.h>

#include "badgeflow/util.h"
#include "issuer.h"

/* Seconds since the epoch of an RFC 3339 member of obj, or -1. */
static json_int_t member_secs(const json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    int64_t ms;

    if (!s || bf_time_parse(s, &ms) < 0)
        return -1;
    return (json_int_t)(ms / 1000);
}

json_t *issuer_jwt_claims(const json_t *credential)
{
    const json_t *issuer = json_object_get(credential, "issuer");
    const json_t *subject = json_object_get(credential, "credentialSubject");
    const char *iss = json_is_string(issuer) ? json_string_value(issuer)
                                             : json_string_value(json_object_get(issuer, "id"));
    const char *jti = json_string_value(json_object_get(credential, "id"));
    const char *sub = json_string_value(json_object_get(subject, "id"));
    json_int_t nbf = member_secs(credential, "validFrom");
    json_int_t exp = member_secs(credential, "validUntil");
    json_t *p;

    if (!iss || !jti || nbf < 0)
        return NULL;
    p = json_deep_copy(credential);
    if (!p)
        return NULL;
    json_object_set_new(p, "iss", json_string(iss));
    json_object_set_new(p, "jti", json_string(jti));
    json_object_set_new(p, "nbf", json_integer(nbf));
    if (sub)
        json_object_set_new(p, "sub", json_string(sub));
    if (exp >= 0)
        json_object_set_new(p, "exp", json_integer(exp));
    return p;
}

/* b64url(JSON of j) */
static char *b64_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    char *out = s ? issuer_b64url((const unsigned char *)s, strlen(s)) : NULL;

    free(s);
    return out;
}

int issuer_jwt_sign(const json_t *payload, const char *alg, const char *kid, EVP_PKEY *pkey,
                    char **jwt, struct bf_err *err)
{
    json_t *hdr = json_pack("{ssssss}", "alg", alg, "typ", "JWT", "kid", kid);
    char *h = hdr ? b64_json(hdr) : NULL, *p = b64_json(payload), *input = NULL, *s = NULL;
    unsigned char sig[512];
    size_t siglen = 0, n;
    int rc = -BF_ENOMEM;

    if (!h || !p)
        goto out;
    n = strlen(h) + 1 + strlen(p);
    input = malloc(n + 1);
    if (!input)
        goto out;
    snprintf(input, n + 1, "%s.%s", h, p);
    rc = issuer_sign(pkey, alg, (const unsigned char *)input, n, sig, &siglen, err);
    if (rc < 0)
        goto out;
    s = issuer_b64url(sig, siglen);
    *jwt = s ? malloc(n + 2 + strlen(s)) : NULL;
    if (!*jwt) {
        rc = -BF_ENOMEM;
        goto out;
    }
    snprintf(*jwt, n + 2 + strlen(s), "%s.%s", input, s);
    rc = 0;
out:
    if (rc == -BF_ENOMEM)
        bf_err_set(err, BF_ENOMEM, "out of memory");
    json_decref(hdr);
    free(h);
    free(p);
    free(input);
    free(s);
    return rc;
}
