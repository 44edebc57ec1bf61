/* SPDX-License-Identifier: Apache-2.0 */
/* CLI commands of the transcoder service (owned by services/transcoder; empty until it needs some).
 */
#include "cli.h"

const struct cli_command cli_transcoder_commands[] = {
    {NULL, NULL, NULL, NULL},
};
