/* SPDX-License-Identifier: Apache-2.0 */
/* Secrets at rest: KEK parsing and AES-256-GCM seal/open in the stored layouts (seal.h). */
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <string.h>

#include "badgeflow/seal.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int bf_seal_kek_parse(const char *hex, unsigned char kek[BF_SEAL_KEK_LEN], struct bf_err *err)
{
    unsigned char buf[BF_SEAL_KEK_LEN];
    size_t n = hex ? strlen(hex) : 0;

    if (n != 2 * (size_t)BF_SEAL_KEK_LEN)
        return bf_err_set(err, BF_EINVAL, "must be %d hex digits (openssl rand -hex 32), not %zu",
                          2 * BF_SEAL_KEK_LEN, n);
    for (size_t i = 0; i < BF_SEAL_KEK_LEN; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

        /* the position only: a key's characters never go into a message (logs) */
        if (hi < 0 || lo < 0) {
            OPENSSL_cleanse(buf, sizeof(buf));
            return bf_err_set(err, BF_EINVAL, "must be hex digits only (character %zu is not)",
                              2 * i + (hi < 0 ? 1 : 2));
        }
        buf[i] = (unsigned char)(hi << 4 | lo);
    }
    memcpy(kek, buf, sizeof(buf));
    OPENSSL_cleanse(buf, sizeof(buf));
    return 0;
}

int bf_seal_kek_parse_any(const char *s, unsigned char kek[BF_SEAL_KEK_LEN], struct bf_err *err)
{
    unsigned char buf[48];
    size_t n = s ? strlen(s) : 0;
    bool ok;

    if (n == 2 * (size_t)BF_SEAL_KEK_LEN)
        return bf_seal_kek_parse(s, kek, err);
    /* base64 of 32 bytes: 44 characters ending in '=' (the decoder counts it as a byte). As the
     * issuer always did, a second '=' is let through: a running KEK must keep parsing. */
    ok = n == 44 && s[43] == '=' &&
         EVP_DecodeBlock(buf, (const unsigned char *)s, 44) == BF_SEAL_KEK_LEN + 1;
    if (ok)
        memcpy(kek, buf, BF_SEAL_KEK_LEN);
    OPENSSL_cleanse(buf, sizeof(buf));
    return ok ? 0
              : bf_err_set(err, BF_EINVAL,
                           "must be 32 bytes as 64 hex digits or 44 base64 characters");
}

/* One AES-256-GCM pass of len bytes from in to out; tag is written (enc) or checked. aad may
 * be NULL. False on any failure, including a tag that does not verify. */
static bool gcm(bool enc, const unsigned char *kek, const unsigned char *nonce, const char *aad,
                const unsigned char *in, size_t len, unsigned char *out, unsigned char *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int alen = aad ? (int)strlen(aad) : 0, an = 0, n = 0, fin = 0;
    bool ok;

    ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, kek, nonce, enc ? 1 : 0) == 1 &&
         (alen == 0 || EVP_CipherUpdate(c, NULL, &an, (const unsigned char *)aad, alen) == 1) &&
         (len == 0 || EVP_CipherUpdate(c, out, &n, in, (int)len) == 1) &&
         (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, BF_SEAL_TAG_LEN, tag) == 1) &&
         EVP_CipherFinal_ex(c, out + n, &fin) == 1 &&
         (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, BF_SEAL_TAG_LEN, tag) == 1);
    EVP_CIPHER_CTX_free(c);
    return ok;
}

int bf_seal(const unsigned char kek[BF_SEAL_KEK_LEN], enum bf_seal_fmt fmt, const char *aad,
            const void *plain, size_t len, unsigned char *out, size_t cap, size_t *outlen,
            struct bf_err *err)
{
    size_t hdr = fmt == BF_SEAL_V1 ? 1 : 0;
    unsigned char *nonce = out + hdr, *ct = nonce + BF_SEAL_NONCE_LEN;

    if (len > INT_MAX)
        return bf_err_set(err, BF_ETOOBIG, "seal: %zu bytes is over the %d a seal takes", len,
                          INT_MAX);
    if (cap < len + BF_SEAL_OVERHEAD(fmt))
        return bf_err_set(err, BF_EINTERNAL, "seal: needs %zu bytes of output, has %zu",
                          len + BF_SEAL_OVERHEAD(fmt), cap);
    if (hdr)
        out[0] = BF_SEAL_VERSION;
    if (RAND_bytes(nonce, BF_SEAL_NONCE_LEN) != 1)
        return bf_err_set(err, BF_EIO, "seal: no randomness for the nonce");
    if (!gcm(true, kek, nonce, aad, plain, len, ct, ct + len))
        return bf_err_set(err, BF_EINTERNAL, "seal: AES-256-GCM encryption failed");
    *outlen = len + BF_SEAL_OVERHEAD(fmt);
    return 0;
}

/* The layout checks before any decryption: length, version, room for the plaintext. */
static int open_check(enum bf_seal_fmt fmt, const unsigned char *sealed, size_t len, size_t cap,
                      struct bf_err *err)
{
    if (len < BF_SEAL_OVERHEAD(fmt))
        return bf_err_set(err, BF_EINVAL,
                          "sealed value of %zu bytes is shorter than its %zu bytes of "
                          "header, nonce and tag (cut short?)",
                          len, (size_t)BF_SEAL_OVERHEAD(fmt));
    if (fmt == BF_SEAL_V1 && sealed[0] != BF_SEAL_VERSION)
        return bf_err_set(err, BF_EINVAL, "sealed value of format version %u, expected %d",
                          sealed[0], BF_SEAL_VERSION);
    if (len - BF_SEAL_OVERHEAD(fmt) > cap)
        return bf_err_set(err, BF_ETOOBIG, "sealed value opens to %zu bytes, over the %zu expected",
                          len - BF_SEAL_OVERHEAD(fmt), cap);
    if (len - BF_SEAL_OVERHEAD(fmt) > INT_MAX)
        return bf_err_set(err, BF_ETOOBIG, "sealed value of %zu bytes is too big", len);
    return 0;
}

int bf_seal_open(const unsigned char kek[BF_SEAL_KEK_LEN], enum bf_seal_fmt fmt, const char *aad,
                 const unsigned char *sealed, size_t len, unsigned char *out, size_t cap,
                 size_t *outlen, struct bf_err *err)
{
    const unsigned char *nonce = sealed + (fmt == BF_SEAL_V1 ? 1 : 0);
    unsigned char tag[BF_SEAL_TAG_LEN];
    size_t n;
    int rc = open_check(fmt, sealed, len, cap, err);

    if (rc < 0)
        return rc;
    n = len - BF_SEAL_OVERHEAD(fmt);
    /* OpenSSL takes a writable tag to check; the caller's bytes stay const */
    memcpy(tag, nonce + BF_SEAL_NONCE_LEN + n, BF_SEAL_TAG_LEN);
    if (!gcm(false, kek, nonce, aad, nonce + BF_SEAL_NONCE_LEN, n, out, tag)) {
        OPENSSL_cleanse(out, n);
        return bf_err_set(err, BF_EDENIED,
                          "sealed value does not open: another key-encryption key, an altered "
                          "byte, or another binding (aad)");
    }
    *outlen = n;
    return 0;
}
