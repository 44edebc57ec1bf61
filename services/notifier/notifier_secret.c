/* SPDX-License-Identifier: Apache-2.0 */
/* Webhook secrets at rest, in the gateway's format: 0x01 || nonce || AES-256-GCM ciphertext of
 * the "whsec_<base64>" text || tag, under the KEK. One small module: the one place to change. */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "notifier.h"

#define VERSION   1
#define NONCE_LEN 12
#define TAG_LEN   16
#define WHSEC     "whsec_"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int notifier_kek_parse(const char *hex, unsigned char kek[NOTIFIER_KEK_LEN], struct bf_err *err)
{
    if (!hex || strlen(hex) != 2 * (size_t)NOTIFIER_KEK_LEN)
        return bf_err_set(err, BF_EINVAL, "must be %d hex digits (openssl rand -hex 32)",
                          2 * NOTIFIER_KEK_LEN);
    for (size_t i = 0; i < NOTIFIER_KEK_LEN; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return bf_err_set(err, BF_EINVAL, "must be hex digits only");
        kek[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

/* One GCM pass (encrypt or decrypt) of len bytes from in to out with nonce; tag in/out. */
static int gcm(bool enc, const unsigned char *kek, const unsigned char *nonce,
               const unsigned char *in, size_t len, unsigned char *out, unsigned char *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, ok;

    if (!c)
        return -BF_ENOMEM;
    ok = EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, kek, nonce, enc ? 1 : 0) == 1 &&
         (len == 0 || EVP_CipherUpdate(c, out, &n, in, (int)len) == 1);
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
    ok = ok && EVP_CipherFinal_ex(c, out + n, &n) == 1;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -BF_EINVAL;
}

int notifier_secret_seal(const unsigned char kek[NOTIFIER_KEK_LEN], const unsigned char *secret,
                         size_t len, unsigned char out[NOTIFIER_SEALED_MAX], size_t *out_len,
                         struct bf_err *err)
{
    char text[NOTIFIER_SECRET_TEXT_MAX];
    size_t tl;

    if (len < NOTIFIER_SECRET_MIN || len > NOTIFIER_SECRET_MAX)
        return bf_err_set(err, BF_EINVAL, "secret: %d..%d bytes", NOTIFIER_SECRET_MIN,
                          NOTIFIER_SECRET_MAX);
    notifier_secret_encode(secret, len, text, sizeof(text));
    tl = strlen(text);
    out[0] = VERSION;
    if (RAND_bytes(out + 1, NONCE_LEN) != 1)
        return bf_err_set(err, BF_EIO, "secret: no randomness for the nonce");
    if (gcm(true, kek, out + 1, (const unsigned char *)text, tl, out + 1 + NONCE_LEN,
            out + 1 + NONCE_LEN + tl) < 0)
        return bf_err_set(err, BF_EINTERNAL, "secret: AES-256-GCM encryption failed");
    *out_len = NOTIFIER_SEAL_OVERHEAD + tl;
    return 0;
}

int notifier_secret_open(const unsigned char kek[NOTIFIER_KEK_LEN], const unsigned char *sealed,
                         size_t sealed_len, unsigned char out[NOTIFIER_SECRET_MAX], size_t *len,
                         struct bf_err *err)
{
    char text[NOTIFIER_SECRET_TEXT_MAX];
    unsigned char tag[TAG_LEN];
    size_t n;

    if (sealed_len <= NOTIFIER_SEAL_OVERHEAD || sealed_len >= NOTIFIER_SEALED_MAX ||
        sealed[0] != VERSION)
        return bf_err_set(err, BF_EINVAL,
                          "secret_enc: %zu bytes is not a sealed secret of "
                          "format 1",
                          sealed_len);
    n = sealed_len - NOTIFIER_SEAL_OVERHEAD;
    memcpy(tag, sealed + 1 + NONCE_LEN + n, TAG_LEN);
    if (gcm(false, kek, sealed + 1, sealed + 1 + NONCE_LEN, n, (unsigned char *)text, tag) < 0)
        return bf_err_set(err, BF_EINVAL,
                          "secret_enc: does not decrypt under "
                          "notifier.secrets_kek (another key?)");
    text[n] = '\0';
    if (notifier_secret_decode(text, out, len, err) < 0)
        return bf_err_prefix(err, "secret_enc");
    return 0;
}

int notifier_secret_decode(const char *text, unsigned char out[NOTIFIER_SECRET_MAX], size_t *len,
                           struct bf_err *err)
{
    unsigned char buf[3 * (NOTIFIER_SECRET_MAX + 3) / 3 + 8];
    size_t tl, pad = 0;
    int n;

    if (!text || strncmp(text, WHSEC, strlen(WHSEC)) != 0)
        return bf_err_set(err, BF_EINVAL, "secret: must be whsec_ followed by base64");
    text += strlen(WHSEC);
    tl = strlen(text);
    if (tl == 0 || tl % 4 || tl > 4 * (size_t)((NOTIFIER_SECRET_MAX + 2) / 3))
        return bf_err_set(err, BF_EINVAL, "secret: base64 of %d..%d bytes expected",
                          NOTIFIER_SECRET_MIN, NOTIFIER_SECRET_MAX);
    n = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)tl);
    pad = (text[tl - 1] == '=') + (tl > 1 && text[tl - 2] == '=');
    if (n < 0 || (size_t)n < pad || (size_t)n - pad < NOTIFIER_SECRET_MIN ||
        (size_t)n - pad > NOTIFIER_SECRET_MAX)
        return bf_err_set(err, BF_EINVAL, "secret: base64 of %d..%d bytes expected",
                          NOTIFIER_SECRET_MIN, NOTIFIER_SECRET_MAX);
    *len = (size_t)n - pad;
    memcpy(out, buf, *len);
    return 0;
}

void notifier_secret_encode(const unsigned char *secret, size_t len, char *out, size_t n)
{
    unsigned char b64[4 * ((NOTIFIER_SECRET_MAX + 2) / 3) + 1];

    EVP_EncodeBlock(b64, secret, (int)len);
    snprintf(out, n, WHSEC "%s", (const char *)b64);
}

int notifier_secret_generate(unsigned char out[NOTIFIER_SECRET_MAX], size_t *len)
{
    *len = 32;
    return RAND_bytes(out, 32) == 1 ? 0 : -BF_EIO;
}
