/* SPDX-License-Identifier: Apache-2.0 */
/* CLI commands of the gateway service (owned by services/gateway; empty until it needs some). */
#include "cli.h"

const struct cli_command cli_gateway_commands[] = {
    {NULL, NULL, NULL, NULL},
};
