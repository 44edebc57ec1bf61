/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the issuer's crypto, JWT, status list encoding and PNG baking. */
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "bf_test.h"
#include "issuer.h"

static const char *KEK_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static void test_kek_parse(void)
{
    unsigned char k[ISSUER_KEK_LEN], k2[ISSUER_KEK_LEN];
    struct bf_err err = {0};

    CHECK(issuer_kek_parse(KEK_HEX, k, &err) == 0);
    CHECK(k[0] == 0 && k[31] == 0x1f);
    CHECK(issuer_kek_parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", k2, &err) == 0);
    CHECK(memcmp(k, k2, sizeof(k)) == 0);
    CHECK(issuer_kek_parse("00", k, &err) == -BF_EINVAL);
    CHECK_CONTAINS(err.msg, "issuer.kek");
    CHECK(issuer_kek_parse("", k, &err) == -BF_EINVAL);
}

static void test_seal_open(void)
{
    unsigned char kek[ISSUER_KEK_LEN], *sealed = NULL, *plain = NULL;
    size_t slen = 0, plen = 0;
    struct bf_err err = {0};

    CHECK(issuer_kek_parse(KEK_HEX, kek, &err) == 0);
    CHECK(issuer_seal(kek, "kid-1", (const unsigned char *)"secret", 6, &sealed, &slen, &err) == 0);
    CHECK(slen == 12 + 6 + 16);
    CHECK(issuer_open(kek, "kid-1", sealed, slen, &plain, &plen, &err) == 0);
    CHECK(plen == 6 && memcmp(plain, "secret", 6) == 0);
    free(plain);
    /* another kid (AAD), a flipped byte or another KEK: refused */
    CHECK(issuer_open(kek, "kid-2", sealed, slen, &plain, &plen, &err) == -BF_EDENIED);
    sealed[14] ^= 1;
    CHECK(issuer_open(kek, "kid-1", sealed, slen, &plain, &plen, &err) == -BF_EDENIED);
    sealed[14] ^= 1;
    kek[0] ^= 1;
    CHECK(issuer_open(kek, "kid-1", sealed, slen, &plain, &plen, &err) == -BF_EDENIED);
    free(sealed);
}

static unsigned char *b64url_decode(const char *s, size_t *len)
{
    size_t n = strlen(s), m = (n + 3) / 4 * 4;
    char *t = calloc(m + 1, 1);
    unsigned char *out = malloc(m);

    for (size_t i = 0; i < m; i++)
        t[i] = i < n ? (s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i]) : '=';
    int r = EVP_DecodeBlock(out, (unsigned char *)t, (int)m);
    *len = (size_t)r - (m - n);
    free(t);
    return out;
}

/* Verify an ES256 JWT with OpenSSL: raw r||s back to DER. */
static bool es256_verify(EVP_PKEY *k, const char *jwt)
{
    const char *dot = strrchr(jwt, '.');
    size_t slen = 0;
    unsigned char *sig = b64url_decode(dot + 1, &slen), *der = NULL;
    ECDSA_SIG *s = ECDSA_SIG_new();
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = false;

    if (slen == 64) {
        ECDSA_SIG_set0(s, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
        int dlen = i2d_ECDSA_SIG(s, &der);
        ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
             EVP_DigestVerify(md, der, (size_t)dlen, (const unsigned char *)jwt,
                              (size_t)(dot - jwt)) == 1;
    }
    OPENSSL_free(der);
    ECDSA_SIG_free(s);
    EVP_MD_CTX_free(md);
    free(sig);
    return ok;
}

static void test_jwt_es256(void)
{
    struct bf_err err = {0};
    EVP_PKEY *k = issuer_pkey_new("ES256", &err);
    json_t *cred =
        json_pack("{sss{ss}sss{ss}ss}", "id", "urn:uuid:1", "issuer", "id", "https://x/issuers/t",
                  "validFrom", "2026-01-02T03:04:05Z", "credentialSubject", "id", "urn:uuid:2",
                  "validUntil", "2027-01-02T03:04:05Z");
    json_t *claims = issuer_jwt_claims(cred), *jwk = issuer_pkey_jwk(k, "ES256", "kid1");
    char *jwt = NULL;

    CHECK(k && claims && jwk);
    CHECK_STR(json_string_value(json_object_get(claims, "iss")), "https://x/issuers/t");
    CHECK_STR(json_string_value(json_object_get(claims, "jti")), "urn:uuid:1");
    CHECK_STR(json_string_value(json_object_get(claims, "sub")), "urn:uuid:2");
    CHECK(json_integer_value(json_object_get(claims, "nbf")) == 1767323045);
    CHECK(json_integer_value(json_object_get(claims, "exp")) == 1798859045);
    CHECK(strlen(json_string_value(json_object_get(jwk, "x"))) == 43);
    CHECK(issuer_jwt_sign(claims, "ES256", "https://x/k", k, &jwt, &err) == 0);
    CHECK(jwt && es256_verify(k, jwt));
    jwt[strlen(jwt) - 60] ^= 1; /* tampered signature */
    CHECK(!es256_verify(k, jwt));
    free(jwt);
    json_decref(jwk);
    json_decref(claims);
    json_decref(cred);
    EVP_PKEY_free(k);
}

static void test_status_encode(void)
{
    unsigned char bits[ISSUER_STATUS_BITS / 8] = {0}, back[ISSUER_STATUS_BITS / 8];
    size_t glen = 0;
    char *enc;

    bits[0] = 0x80; /* index 0 */
    bits[5] = 0x01; /* index 47 */
    enc = issuer_status_encode(bits, sizeof(bits));
    CHECK(enc && enc[0] == 'u');
    unsigned char *gz = b64url_decode(enc + 1, &glen);
    CHECK(gz[0] == 0x1f && gz[1] == 0x8b); /* gzip magic */
    z_stream z = {0};
    inflateInit2(&z, 16 + 15);
    z.next_in = gz;
    z.avail_in = (uInt)glen;
    z.next_out = back;
    z.avail_out = sizeof(back);
    CHECK(inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == sizeof(bits));
    inflateEnd(&z);
    CHECK(memcmp(bits, back, sizeof(bits)) == 0);
    free(gz);
    free(enc);
}

static void test_png_bake(void)
{
    unsigned char *png = NULL, *baked = NULL;
    size_t len = 0, blen = 0;
    struct bf_err err = {0};

    CHECK(issuer_png_render("cl.x", 64, &png, &len, &err) == 0);
    CHECK(png && memcmp(png + 1, "PNG", 3) == 0);
    CHECK(issuer_png_bake(png, len, "openbadgecredential", "a.b.c", &baked, &blen, &err) == 0);
    CHECK(blen == len + 12 + strlen("openbadgecredential") + 5 + 5);
    CHECK(memcmp(baked + blen - 8, "IEND", 4) == 0);
    CHECK(memmem(baked, blen, "iTXtopenbadgecredential\0\0\0\0\0a.b.c", 33) != NULL);
    CHECK(issuer_png_bake((const unsigned char *)"nope", 4, "k", "t", &baked, &blen, &err) ==
          -BF_EINVAL);
    free(png);
    free(baked);
}

int main(void)
{
    BF_TEST_RUN(test_kek_parse);
    BF_TEST_RUN(test_seal_open);
    BF_TEST_RUN(test_jwt_es256);
    BF_TEST_RUN(test_status_encode);
    BF_TEST_RUN(test_png_bake);
    return BF_TEST_DONE();
}
