/* SPDX-License-Identifier: Apache-2.0 */
/* CLI commands of the scorer service (owned by services/scorer; empty until it needs some). */
#include "cli.h"

const struct cli_command cli_scorer_commands[] = {
    {NULL, NULL, NULL, NULL},
};
