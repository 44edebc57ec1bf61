/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: untrusted bytes as an event's data, checked as every event type. */
#include <stdint.h>
#include <stdlib.h>

#include "badgeflow/events.h"
#include "badgeflow/json.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* A fixed hash seed: the same input walks its object members in the same order. */
    json_object_seed(1);
    return 0;
}

/*
 * Parse as a consumer does, then decode as every type (each decoder sees shapes meant for the
 * others). A decoder answers 0 or -BF_EINVAL with a message, never anything else, and frees
 * what it allocated (ASan's leak check runs at exit and on -detect_leaks=1).
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bf_err err;
    json_t *j = bf_json_parse_object((const char *)data, size, &err);

    if (!j)
        return 0;
    for (const struct bf_ev_type *t = bf_ev_types; t->type; t++) {
        bf_err_clear(&err);
        int rc = bf_ev_check(t->type, j, &err);
        if (rc != 0 && (rc != -BF_EINVAL || err.msg[0] == '\0'))
            abort();
    }
    json_decref(j);
    return 0;
}
