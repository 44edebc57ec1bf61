/* SPDX-License-Identifier: Apache-2.0 */
/* CLI helpers: option tables, error reporting with exit codes, the database handle. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CLI_OPTS_MAX 24

int cli_fail(const char *what, const struct bf_err *err)
{
    fprintf(stderr, "badgeflow: %s: %s\n", what, err->msg);
    switch (err->code) {
    case BF_EINVAL:
    case BF_ETOOBIG:
    case BF_EDENIED:
        return CLI_EUSAGE;
    case BF_ENOTFOUND:
        return CLI_ENOTFOUND;
    case BF_ECONFLICT:
        return CLI_ECONFLICT;
    default:
        return CLI_EFAIL;
    }
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "badgeflow %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see badgeflow --help)\n");
    return CLI_EUSAGE;
}

struct bf_pg *cli_pg(struct cli *cli)
{
    struct bf_err err = {0};

    if (cli->pg)
        return cli->pg;
    cli->pg = bf_pg_new_cfg(cli->cfg, "cli", &err);
    if (!cli->pg || bf_pg_ensure(cli->pg, &err) < 0) {
        fprintf(stderr, "badgeflow: cannot reach PostgreSQL: %s\n", err.msg);
        bf_pg_free(cli->pg);
        cli->pg = NULL;
    }
    return cli->pg;
}

static int opt_store(const char *cmd, struct cli_opt *o, const char *value)
{
    if (!o->repeat) {
        if (o->value)
            return cli_usage_error(cmd, "--%s given twice", o->name);
        o->value = value;
        return CLI_OK;
    }
    size_t old = o->joined ? strlen(o->joined) : 0;
    char *grown = realloc(o->joined, old + strlen(value) + 2);
    if (!grown)
        return cli_usage_error(cmd, "out of memory");
    snprintf(grown + old, strlen(value) + 2, "%s%s", old ? "," : "", value);
    o->joined = grown;
    o->value = grown;
    return CLI_OK;
}

int cli_opts_parse(const char *cmd, int argc, char **argv, struct cli_opt *opts, int *first)
{
    struct option longopts[CLI_OPTS_MAX + 1] = {{0}};
    int n = 0, c, idx;

    for (; opts[n].name && n < CLI_OPTS_MAX; n++)
        longopts[n] = (struct option){opts[n].name, required_argument, NULL, 0};
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, &idx)) != -1) {
        if (c != 0)
            return cli_usage_error(cmd, "unknown option or missing value: %s", argv[optind - 1]);
        if (opt_store(cmd, &opts[idx], optarg) != CLI_OK)
            return CLI_EUSAGE;
    }
    for (int i = 0; i < n; i++)
        if (opts[i].required && !opts[i].value)
            return cli_usage_error(cmd, "--%s is required", opts[i].name);
    *first = optind;
    return CLI_OK;
}

void cli_opts_free(struct cli_opt *opts)
{
    for (int i = 0; opts[i].name; i++) {
        free(opts[i].joined);
        opts[i].joined = NULL;
    }
}

const char *cli_opt(const struct cli_opt *opts, const char *name)
{
    for (int i = 0; opts[i].name; i++)
        if (strcmp(opts[i].name, name) == 0)
            return opts[i].value;
    return NULL;
}

const char *cli_datadir(void)
{
    const char *dir = getenv("BADGEFLOW_DATADIR");

    return dir && *dir ? dir : BF_SOURCE_DIR;
}
