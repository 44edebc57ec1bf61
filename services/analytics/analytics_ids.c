/* SPDX-License-Identifier: Apache-2.0 */
/* Keyed pseudonyms and the deterministic ids (statements, registrations) analytics mints. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "analytics.h"

int an_pseudonym(const char *key, const char *kind, const char *tenant, const char *id,
                 char out[AN_PSEUDONYM_LEN + 1])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char msg[512];
    int n;

    if (!key || !key[0])
        return -BF_EINVAL;
    n = snprintf(msg, sizeof(msg), "%s/%s/%s", kind, tenant ? tenant : "", id);
    if (n < 0 || (size_t)n >= sizeof(msg))
        return -BF_EINVAL;
    if (!HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)msg, (size_t)n, mac,
              &len) ||
        len != 32)
        return -BF_EINVAL;
    bf_hex(mac, len, out);
    out[AN_PSEUDONYM_LEN] = '\0';
    return 0;
}

int an_statement_id(const char *source_event_id, const char *step, char out[BF_UUID_STRLEN + 1])
{
    char name[256];
    int n;

    if (!bf_uuid_valid(source_event_id))
        return -BF_EINVAL;
    n = step ? snprintf(name, sizeof(name), "%s/%s", source_event_id, step)
             : snprintf(name, sizeof(name), "%s", source_event_id);
    if (n < 0 || (size_t)n >= sizeof(name))
        return -BF_EINVAL;
    return bf_uuid_v5(AN_NAMESPACE, name, out);
}

int an_registration(const char *pseudonym, const char *credential_id, int cycle,
                    char out[BF_UUID_STRLEN + 1])
{
    char name[384];
    int n = snprintf(name, sizeof(name), "registration/%s/%s/%d", pseudonym, credential_id, cycle);

    if (n < 0 || (size_t)n >= sizeof(name))
        return -BF_EINVAL;
    return bf_uuid_v5(AN_NAMESPACE, name, out);
}
