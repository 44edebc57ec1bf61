/* SPDX-License-Identifier: Apache-2.0 */
/* The admin CLI's shared state, command table and helpers. */
#ifndef BADGEFLOW_CLI_H
#define BADGEFLOW_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "badgeflow/cfg.h"
#include "badgeflow/err.h"
#include "badgeflow/pg.h"

/* Exit codes scripts can rely on (also in `badgeflow --help`). */
enum cli_exit {
    CLI_OK = 0,
    CLI_EFAIL = 1,     /* a server is down or an operation failed: retrying may help */
    CLI_EUSAGE = 2,    /* bad command line, config or input: fix it */
    CLI_ENOTFOUND = 3, /* a named thing does not exist */
    CLI_ECONFLICT = 4, /* it exists already, or its state forbids the change */
};

struct cli {
    struct bf_cfg *cfg;
    struct bf_pg *pg; /* opened by cli_pg() */
    const char *config_path;
};

struct cli_command {
    const char *name; /* "tenant add" */
    int (*run)(struct cli *cli, int argc, char **argv);
    const char *args; /* "--id ID --kind state|district [--parent ID] --name NAME" */
    const char *help; /* one line */
};

/* The commands of each file, each table ended by a row of NULLs. */
extern const struct cli_command cli_db_commands[];
extern const struct cli_command cli_kafka_commands[];
extern const struct cli_command cli_catalogue_commands[];
extern const struct cli_command cli_config_commands[];
extern const struct cli_command cli_sample_commands[];
/* Each service's own commands (tools/cli/cli_<svc>.c); tables may be empty. */
extern const struct cli_command cli_gateway_commands[];
extern const struct cli_command cli_transcoder_commands[];
extern const struct cli_command cli_router_commands[];
extern const struct cli_command cli_scorer_commands[];
extern const struct cli_command cli_issuer_commands[];
extern const struct cli_command cli_notifier_commands[];
extern const struct cli_command cli_analytics_commands[];

/* Write the commented example of every config key (config/badgeflow.conf.example). */
void cli_config_write_example(FILE *out);

/* The database connection, opened on first use (one try, no retry loop). NULL: printed. */
struct bf_pg *cli_pg(struct cli *cli);

/* Print "badgeflow: <what>: <err>" to stderr and return the exit code for err's code. */
int cli_fail(const char *what, const struct bf_err *err);

/* Print a usage error for command cmd and return CLI_EUSAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) BF_PRINTF(2, 3);

/* Options of a command: a getopt_long table whose values land in values[i] (NULL if absent). */
struct cli_opt {
    const char *name;
    bool required;
    bool repeat;       /* may be given several times: values joined with ',' */
    const char *value; /* out */
    char *joined;      /* storage for repeat, freed by cli_opts_free */
};

/* Rows of an option table. */
#define CLI_OPT(n)                                                                                 \
    {                                                                                              \
        .name = (n)                                                                                \
    }
#define CLI_OPT_REQ(n)                                                                             \
    {                                                                                              \
        .name = (n), .required = true                                                              \
    }
#define CLI_OPT_LIST(n)                                                                            \
    {                                                                                              \
        .name = (n), .repeat = true                                                                \
    }
#define CLI_OPT_END                                                                                \
    {                                                                                              \
        .name = NULL                                                                               \
    }

/*
 * Parse argv (argv[0] is the command name) into opts (ended by a NULL name); positional
 * arguments are left in argv[*first..argc). CLI_OK or CLI_EUSAGE (printed).
 */
int cli_opts_parse(const char *cmd, int argc, char **argv, struct cli_opt *opts, int *first);
void cli_opts_free(struct cli_opt *opts);

/* Value of the option called name in opts (NULL if absent). */
const char *cli_opt(const struct cli_opt *opts, const char *name);

/* Where the shipped data lives (db/migrations, config/catalogue): BADGEFLOW_DATADIR or the
 * source tree this binary was built from. */
const char *cli_datadir(void);

#endif
