/* SPDX-License-Identifier: Apache-2.0 */
/* CLI commands of the notifier service (owned by services/notifier; empty until it needs some). */
#include "cli.h"

const struct cli_command cli_notifier_commands[] = {
    {NULL, NULL, NULL, NULL},
};
