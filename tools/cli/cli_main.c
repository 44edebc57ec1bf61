/* SPDX-License-Identifier: Apache-2.0 */
/* badgeflow: the admin CLI. Dispatches "<group> <verb>" commands from the tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/log.h"
#include "cli.h"

static const struct cli_command *const command_tables[] = {
    cli_db_commands,
    cli_catalogue_commands,
    cli_kafka_commands,
    cli_sample_commands,
    cli_config_commands,
    cli_gateway_commands,
    cli_transcoder_commands,
    cli_router_commands,
    cli_scorer_commands,
    cli_issuer_commands,
    cli_notifier_commands,
    cli_analytics_commands,
    NULL,
};

static void usage(FILE *out)
{
    fprintf(out, "usage: badgeflow [--config FILE] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t t = 0; command_tables[t]; t++)
        for (const struct cli_command *c = command_tables[t]; c->name; c++)
            fprintf(out, "  %s %s\n      %s\n", c->name, c->args, c->help);
    fprintf(out, "\nConfig: the [postgres] and [kafka] keys of a daemon config file, or\n"
                 "BADGEFLOW_POSTGRES_CONNINFO, BADGEFLOW_KAFKA_BROKERS, ... in the environment.\n"
                 "Exit codes: 0 done, 1 failed (a server is down: retry), 2 bad usage or input,\n"
                 "3 not found, 4 conflict (exists already, or the state forbids it).\n");
}

/* Find the command whose words ("tenant add") start argv; *words gets how many it took. */
static const struct cli_command *find_command(int argc, char **argv, int *words)
{
    for (size_t t = 0; command_tables[t]; t++) {
        for (const struct cli_command *c = command_tables[t]; c->name; c++) {
            const char *space = strchr(c->name, ' ');
            size_t first = space ? (size_t)(space - c->name) : strlen(c->name);
            if (strlen(argv[0]) != first || strncmp(argv[0], c->name, first) != 0)
                continue;
            if (!space) {
                *words = 1;
                return c;
            }
            if (argc > 1 && strcmp(argv[1], space + 1) == 0) {
                *words = 2;
                return c;
            }
        }
    }
    return NULL;
}

static int load_config(struct cli *cli)
{
    static const struct bf_cfg_def *const tables[] = {bf_cfg_common_defs, NULL};
    struct bf_err err = {0};

    cli->cfg = bf_cfg_load(tables, cli->config_path, NULL, &err);
    if (!cli->cfg) {
        fprintf(stderr, "badgeflow: config: %s\n", err.msg);
        return CLI_EUSAGE;
    }
    return CLI_OK;
}

static int run(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd;
    int words = 0, rc;

    cmd = find_command(argc, argv, &words);
    if (!cmd) {
        fprintf(stderr, "badgeflow: unknown command '%s%s%s' (see badgeflow --help)\n", argv[0],
                argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
        return CLI_EUSAGE;
    }
    rc = load_config(cli);
    if (rc != CLI_OK)
        return rc;
    /* The command sees its own words as argv[0] (joined) and its options after. */
    argv[words - 1] = (char *)cmd->name;
    return cmd->run(cli, argc - (words - 1), argv + (words - 1));
}

int main(int argc, char **argv)
{
    struct cli cli = {0};
    int i = 1, rc;

    bf_log_init("cli", BF_LOG_WARN, stderr);
    if (i < argc && strcmp(argv[i], "--config") == 0) {
        if (i + 1 >= argc)
            return cli_usage_error("badgeflow", "--config needs a FILE");
        cli.config_path = argv[i + 1];
        i += 2;
    }
    if (i >= argc || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
        usage(i >= argc ? stderr : stdout);
        return i >= argc ? CLI_EUSAGE : CLI_OK;
    }
    rc = run(&cli, argc - i, argv + i);
    bf_pg_free(cli.pg);
    bf_cfg_free(cli.cfg);
    return rc;
}
