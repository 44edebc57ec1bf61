/* SPDX-License-Identifier: Apache-2.0 */
/* Issuer crypto on OpenSSL 3: KEK parsing, AES-256-GCM at rest, key pairs, JWK, JOSE signing. */
#include <ctype.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#include "issuer.h"

#define GCM_NONCE 12
#define GCM_TAG   16

static int hexval(int c)
{
    return isdigit(c)                                 ? c - '0'
           : (tolower(c) >= 'a' && tolower(c) <= 'f') ? tolower(c) - 'a' + 10
                                                      : -1;
}

int issuer_kek_parse(const char *s, unsigned char kek[ISSUER_KEK_LEN], struct bf_err *err)
{
    size_t n = s ? strlen(s) : 0;
    unsigned char buf[64];

    if (n == 2 * (size_t)ISSUER_KEK_LEN) {
        for (size_t i = 0; i < ISSUER_KEK_LEN; i++) {
            int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
            if (hi < 0 || lo < 0)
                goto bad;
            kek[i] = (unsigned char)(hi << 4 | lo);
        }
        return 0;
    }
    /* base64 of 32 bytes: 44 characters with one '=' */
    if (n == 44 && EVP_DecodeBlock(buf, (const unsigned char *)s, 44) == 33 && s[43] == '=') {
        memcpy(kek, buf, ISSUER_KEK_LEN);
        OPENSSL_cleanse(buf, sizeof(buf));
        return 0;
    }
bad:
    return bf_err_set(err, BF_EINVAL,
                      "issuer.kek: must be 32 bytes as 64 hex digits or 44 base64 characters");
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

/* One AES-256-GCM pass; enc selects direction. tag is written (enc) or checked. */
static int gcm(int enc, const unsigned char *kek, const unsigned char *nonce, const char *aad,
               const unsigned char *in, size_t len, unsigned char *out, unsigned char *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, ok = 0;

    if (!c)
        return 0;
    if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, kek, nonce, enc) != 1 ||
        EVP_CipherUpdate(c, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
        EVP_CipherUpdate(c, out, &n, in, (int)len) != 1)
        goto out;
    if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, GCM_TAG, tag) != 1)
        goto out;
    if (EVP_CipherFinal_ex(c, out + n, &n) != 1)
        goto out;
    ok = enc ? EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, GCM_TAG, tag) == 1 : 1;
out:
    EVP_CIPHER_CTX_free(c);
    return ok;
}

int issuer_seal(const unsigned char kek[ISSUER_KEK_LEN], const char *aad, const unsigned char *in,
                size_t len, unsigned char **out, size_t *outlen, struct bf_err *err)
{
    unsigned char *buf = malloc(GCM_NONCE + len + GCM_TAG);

    if (!buf)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    if (RAND_bytes(buf, GCM_NONCE) != 1 ||
        !gcm(1, kek, buf, aad, in, len, buf + GCM_NONCE, buf + GCM_NONCE + len)) {
        free(buf);
        return bf_err_set(err, BF_EINTERNAL, "AES-256-GCM encryption failed");
    }
    *out = buf;
    *outlen = GCM_NONCE + len + GCM_TAG;
    return 0;
}

int issuer_open(const unsigned char kek[ISSUER_KEK_LEN], const char *aad, const unsigned char *in,
                size_t len, unsigned char **out, size_t *outlen, struct bf_err *err)
{
    unsigned char tag[GCM_TAG], *buf;
    size_t n;

    if (len < GCM_NONCE + GCM_TAG)
        return bf_err_set(err, BF_EINVAL, "private key %s: sealed blob too short", aad);
    n = len - GCM_NONCE - GCM_TAG;
    buf = malloc(n ? n : 1);
    if (!buf)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    memcpy(tag, in + GCM_NONCE + n, GCM_TAG);
    if (!gcm(0, kek, in, aad, in + GCM_NONCE, n, buf, tag)) {
        OPENSSL_cleanse(buf, n);
        free(buf);
        return bf_err_set(err, BF_EDENIED,
                          "private key %s: cannot decrypt (wrong issuer.kek, or tampered)", aad);
    }
    *out = buf;
    *outlen = n;
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
