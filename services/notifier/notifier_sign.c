/* SPDX-License-Identifier: Apache-2.0 */
/* Standard Webhooks signatures: v1,<base64 HMAC-SHA256(secret, "id.timestamp.body")>. */
#include <inttypes.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "notifier.h"

/* HMAC-SHA256 of prefix then body (two updates: the body is never copied); 0 bytes on error. */
static size_t hmac_sha256(const unsigned char *key, size_t klen, const char *prefix, size_t plen,
                          const char *body, size_t blen, unsigned char mac[EVP_MAX_MD_SIZE])
{
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                           OSSL_PARAM_END};
    size_t n = 0;

    if (!c || EVP_MAC_init(c, key, klen, params) != 1 ||
        EVP_MAC_update(c, (const unsigned char *)prefix, plen) != 1 ||
        EVP_MAC_update(c, (const unsigned char *)body, blen) != 1 ||
        EVP_MAC_final(c, mac, &n, EVP_MAX_MD_SIZE) != 1)
        n = 0;
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(m);
    return n;
}

void notifier_sign_one(const unsigned char *secret, size_t slen, const char *id, int64_t ts,
                       const char *body, size_t blen, char *out, size_t n)
{
    unsigned char mac[EVP_MAX_MD_SIZE], b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
    char prefix[160];
    int plen = snprintf(prefix, sizeof(prefix), "%s.%" PRId64 ".", id, ts);
    size_t mlen = hmac_sha256(secret, slen, prefix, (size_t)plen, body, blen, mac);

    EVP_EncodeBlock(b64, mac, (int)mlen);
    snprintf(out, n, "v1,%s", (const char *)b64);
}

void notifier_sign(const unsigned char *cur, size_t clen, const unsigned char *prev, size_t plen,
                   const char *id, int64_t ts, const char *body, size_t blen, char *out, size_t n)
{
    char one[100];
    size_t used;

    notifier_sign_one(cur, clen, id, ts, body, blen, out, n);
    if (!prev)
        return;
    notifier_sign_one(prev, plen, id, ts, body, blen, one, sizeof(one));
    used = strlen(out);
    snprintf(out + used, n - used, " %s", one);
}
