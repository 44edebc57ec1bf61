/* SPDX-License-Identifier: Apache-2.0 */
/* CLI commands of the analytics service (owned by services/analytics; empty until it needs some).
 */
#include "cli.h"

const struct cli_command cli_analytics_commands[] = {
    {NULL, NULL, NULL, NULL},
};
