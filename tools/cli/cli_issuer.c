/* SPDX-License-Identifier: Apache-2.0 */
/* CLI commands of the issuer service (owned by services/issuer; empty until it needs some). */
#include "cli.h"

const struct cli_command cli_issuer_commands[] = {
    {NULL, NULL, NULL, NULL},
};
