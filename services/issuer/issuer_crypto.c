/* SPDX-License-Identifier: Apache-2.0 */
/* Issuer crypto on OpenSSL 3: keys sealed at rest (via seal.h), key pairs, JWK, JOSE signing. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#include "issuer.h"

int issuer_kek_parse(const char *s, unsigned char kek[ISSUER_KEK_LEN], struct bf_err *err)
{
    int rc = bf_seal_kek_parse_any(s, kek, err);

    if (rc < 0)
        bf_err_prefix(err, "issuer.kek");
    return rc;
}

char *issuer_b64url(const unsigned char *in, size_t len)
{
    size_t cap = 4 * ((len + 2) / 3) + 1;
    char *out = malloc(cap);

    if (!out)
        return NULL;
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

int issuer_seal(const unsigned char kek[ISSUER_KEK_LEN], const char *aad, const unsigned char *in,
                size_t len, unsigned char **out, size_t *outlen, struct bf_err *err)
{
    size_t cap = len + BF_SEAL_OVERHEAD(BF_SEAL_BARE);
    unsigned char *buf = malloc(cap);
    int rc;

    if (!buf)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    rc = bf_seal(kek, BF_SEAL_BARE, aad, in, len, buf, cap, outlen, err);
    if (rc < 0) {
        free(buf);
        bf_err_prefix(err, "private key %s", aad);
        return rc;
    }
    *out = buf;
    return 0;
}

int issuer_open(const unsigned char kek[ISSUER_KEK_LEN], const char *aad, const unsigned char *in,
                size_t len, unsigned char **out, size_t *outlen, struct bf_err *err)
{
    size_t cap = len > BF_SEAL_OVERHEAD(BF_SEAL_BARE) ? len - BF_SEAL_OVERHEAD(BF_SEAL_BARE) : 0;
    unsigned char *buf = malloc(cap ? cap : 1);
    int rc;

    if (!buf)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    rc = bf_seal_open(kek, BF_SEAL_BARE, aad, in, len, buf, cap, outlen, err);
    if (rc < 0) {
        free(buf); /* bf_seal_open() wiped it */
        bf_err_prefix(err, "private key %s (issuer.kek)", aad);
        return rc;
    }
    *out = buf;
    return 0;
}

EVP_PKEY *issuer_pkey_new(const char *alg, struct bf_err *err)
{
    EVP_PKEY *k = NULL;

    if (strcmp(alg, "ES256") == 0)
        k = EVP_EC_gen("P-256");
    else if (strcmp(alg, "RS256") == 0)
        k = EVP_RSA_gen(2048);
    if (!k)
        bf_err_set(err, BF_EINVAL, "alg: cannot generate a key for '%s' (ES256 or RS256)", alg);
    return k;
}

/* base64url of a big number, left-padded to width bytes (0: its own length). */
static char *bn_b64url(EVP_PKEY *k, const char *param, int width)
{
    BIGNUM *bn = NULL;
    unsigned char buf[1024];
    char *out = NULL;

    if (EVP_PKEY_get_bn_param(k, param, &bn) != 1)
        return NULL;
    int n = width ? width : BN_num_bytes(bn);
    if (n <= (int)sizeof(buf) && BN_bn2binpad(bn, buf, n) == n)
        out = issuer_b64url(buf, (size_t)n);
    BN_free(bn);
    return out;
}

json_t *issuer_pkey_jwk(EVP_PKEY *pkey, const char *alg, const char *kid)
{
    bool ec = strcmp(alg, "ES256") == 0;
    char *a = bn_b64url(pkey, ec ? OSSL_PKEY_PARAM_EC_PUB_X : OSSL_PKEY_PARAM_RSA_N, ec ? 32 : 0);
    char *b = bn_b64url(pkey, ec ? OSSL_PKEY_PARAM_EC_PUB_Y : OSSL_PKEY_PARAM_RSA_E, ec ? 32 : 0);
    json_t *jwk = NULL;

    if (a && b)
        jwk = ec ? json_pack("{ssssssssssssss}", "kty", "EC", "crv", "P-256", "x", a, "y", b, "alg",
                             alg, "use", "sig", "kid", kid)
                 : json_pack("{ssssssssssss}", "kty", "RSA", "n", a, "e", b, "alg", alg, "use",
                             "sig", "kid", kid);
    free(a);
    free(b);
    return jwk;
}

/* DER ECDSA-Sig-Value → JOSE's fixed-width r||s (RFC 7518 §3.4). */
static int der_to_raw(const unsigned char *der, size_t len, unsigned char raw[64])
{
    const unsigned char *p = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
    int ok = 0;

    if (!s)
        return 0;
    ok = BN_bn2binpad(ECDSA_SIG_get0_r(s), raw, 32) == 32 &&
         BN_bn2binpad(ECDSA_SIG_get0_s(s), raw + 32, 32) == 32;
    ECDSA_SIG_free(s);
    return ok;
}

int issuer_sign(EVP_PKEY *pkey, const char *alg, const unsigned char *data, size_t len,
                unsigned char sig[512], size_t *siglen, struct bf_err *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[512];
    size_t n = sizeof(der);
    int rc = -BF_EINTERNAL;

    if (!md)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
        EVP_DigestSign(md, der, &n, data, len) != 1) {
        bf_err_set(err, BF_EINTERNAL, "signing failed");
        goto out;
    }
    if (strcmp(alg, "ES256") == 0) {
        if (!der_to_raw(der, n, sig)) {
            bf_err_set(err, BF_EINTERNAL, "ES256: bad DER signature");
            goto out;
        }
        *siglen = 64;
    } else {
        memcpy(sig, der, n);
        *siglen = n;
    }
    rc = 0;
out:
    EVP_MD_CTX_free(md);
    return rc;
}
