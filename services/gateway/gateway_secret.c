/* SPDX-License-Identifier: Apache-2.0 */
/* Webhook secrets: minting them (sealed at rest by bf_seal() in BF_SEAL_V1; the notifier opens). */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>

#include "gateway.h"

int gw_secret_new(char out[64])
{
    unsigned char raw[24];

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -BF_EIO;
    snprintf(out, 7, "whsec_");
    EVP_EncodeBlock((unsigned char *)out + 6, raw, sizeof(raw)); /* 32 chars + NUL */
    return 0;
}
