/* SPDX-License-Identifier: Apache-2.0 */
/* CLI commands on configuration: print the commented example of every key. */
#include <stdio.h>

#include "badgeflow/cfg.h"
#include "cli.h"

void cli_config_write_example(FILE *out)
{
    static const struct bf_cfg_def *const tables[] = {bf_cfg_common_defs, NULL};

    bf_cfg_write_example("badgeflow (common keys of every daemon; the CLI reads [postgres] and "
                         "[kafka])",
                         "badgeflow config example > config/badgeflow.conf.example", tables, out);
}

static int cmd_config_example(struct cli *cli, int argc, char **argv)
{
    if (argc > 1)
        return cli_usage_error(argv[0], "takes no arguments");
    cli_config_write_example(stdout);
    return CLI_OK;
}

const struct cli_command cli_config_commands[] = {
    {"config example", cmd_config_example, "",
     "print a commented config file documenting every key (config/badgeflow.conf.example)"},
    {NULL, NULL, NULL, NULL},
};
