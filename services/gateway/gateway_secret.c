/* SPDX-License-Identifier: Apache-2.0 */
/* Webhook secrets at rest: AES-256-GCM under gateway.secrets_kek; the notifier opens them. */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "gateway.h"

#define SEAL_VERSION 1
#define NONCE_LEN    12
#define TAG_LEN      16

/* Layout: version byte 0x01 | 12-byte random nonce | ciphertext | 16-byte GCM tag; no AAD. */
int gw_secret_seal(const unsigned char kek[GW_KEK_LEN], const void *plain, size_t len,
                   unsigned char *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, ok;

    out[0] = SEAL_VERSION;
    ok = c && RAND_bytes(out + 1, NONCE_LEN) == 1 &&
         EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, kek, out + 1) == 1 &&
         EVP_EncryptUpdate(c, out + 1 + NONCE_LEN, &n, plain, (int)len) == 1 &&
         EVP_EncryptFinal_ex(c, out + 1 + NONCE_LEN + n, &n) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out + 1 + NONCE_LEN + len) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -BF_EIO;
}

int gw_secret_open(const unsigned char kek[GW_KEK_LEN], const unsigned char *sealed, size_t len,
                   unsigned char *out)
{
    EVP_CIPHER_CTX *c;
    size_t clen;
    int n = 0, ok;

    if (len < GW_SEAL_OVERHEAD || sealed[0] != SEAL_VERSION)
        return -BF_EINVAL;
    clen = len - GW_SEAL_OVERHEAD;
    c = EVP_CIPHER_CTX_new();
    ok = c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, kek, sealed + 1) == 1 &&
         EVP_DecryptUpdate(c, out, &n, sealed + 1 + NONCE_LEN, (int)clen) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
                             (void *)(sealed + 1 + NONCE_LEN + clen)) == 1 &&
         EVP_DecryptFinal_ex(c, out + n, &n) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -BF_EINVAL;
}

int gw_secret_new(char out[64])
{
    unsigned char raw[24];

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -BF_EIO;
    snprintf(out, 7, "whsec_");
    EVP_EncodeBlock((unsigned char *)out + 6, raw, sizeof(raw)); /* 32 chars + NUL */
    return 0;
}
