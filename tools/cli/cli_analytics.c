/* SPDX-License-Identifier: Apache-2.0 */
/* CLI commands of the analytics service: rebuild (recompute every published pilot's metrics
 * from the stored facts and compare them with the last record the service published). */
#include <stdio.h>

#include "analytics.h"
#include "cli.h"

/* Print one pilot's verdict: "equal", or "differs" and the fields. */
static void rebuild_print(void *arg, const char *tenant, const char *pilot, const json_t *fields)
{
    size_t i;
    json_t *f;

    (void)arg;
    if (json_array_size(fields) == 0) {
        printf("%s/%s: equal\n", tenant, pilot);
        return;
    }
    printf("%s/%s: differs:", tenant, pilot);
    json_array_foreach(fields, i, f) printf("%s %s", i ? "," : "", json_string_value(f));
    printf("\n");
}

static int cmd_rebuild(struct cli *cli, int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT("tenant"), CLI_OPT_END};
    struct bf_err err = {0};
    struct bf_pg *pg;
    int first, n;

    if (cli_opts_parse(argv[0], argc, argv, opts, &first) != CLI_OK)
        return CLI_EUSAGE;
    if (!(pg = cli_pg(cli)))
        return CLI_EFAIL;
    n = an_pilot_rebuild(pg, cli_opt(opts, "tenant"), rebuild_print, NULL, &err);
    if (n < 0)
        return cli_fail("analytics rebuild", &err);
    if (n > 0)
        printf("%d pilot(s) differ from their last published metrics\n", n);
    return n > 0 ? CLI_ECONFLICT : CLI_OK;
}

const struct cli_command cli_analytics_commands[] = {
    {"analytics rebuild", cmd_rebuild, "[--tenant ID]",
     "recompute every published pilot's metrics from the stored facts and compare them with the "
     "last published record (exit 4 when any differs)"},
    {NULL, NULL, NULL, NULL},
};
