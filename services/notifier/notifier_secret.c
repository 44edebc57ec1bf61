/* SPDX-License-Identifier: Apache-2.0 */
/* Webhook secrets: their "whsec_<base64>" text, sealed at rest by bf_seal() in the gateway's
 * layout (BF_SEAL_V1, no AAD). */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "notifier.h"

#define WHSEC "whsec_"

int notifier_kek_parse(const char *hex, unsigned char kek[NOTIFIER_KEK_LEN], struct bf_err *err)
{
    return bf_seal_kek_parse(hex, kek, err);
}

int notifier_secret_seal(const unsigned char kek[NOTIFIER_KEK_LEN], const unsigned char *secret,
                         size_t len, unsigned char out[NOTIFIER_SEALED_MAX], size_t *out_len,
                         struct bf_err *err)
{
    char text[NOTIFIER_SECRET_TEXT_MAX];
    int rc;

    if (len < NOTIFIER_SECRET_MIN || len > NOTIFIER_SECRET_MAX)
        return bf_err_set(err, BF_EINVAL, "secret: %d..%d bytes", NOTIFIER_SECRET_MIN,
                          NOTIFIER_SECRET_MAX);
    notifier_secret_encode(secret, len, text, sizeof(text));
    rc = bf_seal(kek, BF_SEAL_V1, NULL, text, strlen(text), out, NOTIFIER_SEALED_MAX, out_len, err);
    if (rc < 0)
        bf_err_prefix(err, "secret");
    return rc;
}

int notifier_secret_open(const unsigned char kek[NOTIFIER_KEK_LEN], const unsigned char *sealed,
                         size_t sealed_len, unsigned char out[NOTIFIER_SECRET_MAX], size_t *len,
                         struct bf_err *err)
{
    char text[NOTIFIER_SECRET_TEXT_MAX];
    size_t n = 0;

    if (bf_seal_open(kek, BF_SEAL_V1, NULL, sealed, sealed_len, (unsigned char *)text,
                     sizeof(text) - 1, &n, err) < 0) {
        /* notifier.h's contract: any unusable secret_enc is bad input, whatever seal.c says */
        bf_err_prefix(err, "secret_enc");
        if (err)
            err->code = BF_EINVAL;
        return -BF_EINVAL;
    }
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
