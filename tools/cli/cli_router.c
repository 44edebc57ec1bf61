/* SPDX-License-Identifier: Apache-2.0 */
/* CLI commands of the router service (owned by services/router; empty until it needs some). */
#include "cli.h"

const struct cli_command cli_router_commands[] = {
    {NULL, NULL, NULL, NULL},
};
