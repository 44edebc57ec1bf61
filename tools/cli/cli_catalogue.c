/* SPDX-License-Identifier: Apache-2.0 */
/* CLI commands on the catalogue: validate and load the files, show it, submit a sample. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/catalogue_pg.h"
#include "badgeflow/util.h"
#include "cli.h"

/* The catalogue directory named by the first positional argument, or the shipped one. */
static const char *catalogue_dir(int argc, char **argv, int first, char *buf, size_t n)
{
    if (first < argc)
        return argv[first];
    snprintf(buf, n, "%s/config/catalogue", cli_datadir());
    return buf;
}

static struct bf_cat *load_files(const char *cmd, int argc, char **argv, int *rc)
{
    struct cli_opt opts[] = {CLI_OPT_END};
    char buf[4096];
    struct bf_err err = {0};
    struct bf_cat *cat;
    int first;

    *rc = cli_opts_parse(cmd, argc, argv, opts, &first);
    if (*rc != CLI_OK)
        return NULL;
    if (argc - first > 1) {
        *rc = cli_usage_error(cmd, "takes at most one DIR");
        return NULL;
    }
    cat = bf_cat_load_dir(catalogue_dir(argc, argv, first, buf, sizeof(buf)), &err);
    if (!cat)
        *rc = cli_fail(cmd, &err);
    return cat;
}

static int cmd_validate(struct cli *cli, int argc, char **argv)
{
    int rc;
    struct bf_cat *cat = load_files(argv[0], argc, argv, &rc);

    if (!cat)
        return rc;
    printf("catalogue is valid: %zu stacks, %zu credential versions\n", bf_cat_stack_count(cat),
           bf_cat_cred_count(cat));
    bf_cat_free(cat);
    return CLI_OK;
}

static int cmd_load(struct cli *cli, int argc, char **argv)
{
    struct bf_cat_store_report rep;
    struct bf_err err = {0};
    struct bf_pg *pg;
    int rc;
    struct bf_cat *cat = load_files(argv[0], argc, argv, &rc);

    if (!cat)
        return rc;
    pg = cli_pg(cli);
    rc = CLI_EFAIL;
    if (pg && bf_cat_store(pg, cat, &rep, &err) < 0)
        rc = cli_fail("catalogue load", &err);
    else if (pg) {
        printf("catalogue loaded: %d stacks, %d new credential versions, %d unchanged, %d "
               "retired\n",
               rep.stacks, rep.versions_new, rep.versions_kept, rep.retired);
        rc = CLI_OK;
    }
    bf_cat_free(cat);
    return rc;
}

static void show_credential(const struct bf_cat_cred *c)
{
    const struct bf_cat_policy *p = bf_cat_cred_policy(c);

    printf("  - %s v%d: %s\n", bf_cat_cred_id(c), bf_cat_cred_version(c), bf_cat_cred_name(c));
    printf("      evidence:");
    for (size_t i = 0; i < bf_cat_evreq_count(c); i++) {
        const struct bf_cat_evreq *r = bf_cat_evreq_at(c, i);
        printf("%s %s (%s)", i ? "," : "", bf_cat_evreq_id(r),
               bf_cat_kind_name(bf_cat_evreq_kind(r)));
    }
    printf("\n      rubric:");
    for (size_t i = 0; i < bf_cat_criterion_count(c); i++) {
        const struct bf_cat_criterion *k = bf_cat_criterion_at(c, i);
        printf("%s %s (pass: %s)", i ? "," : "", bf_cat_criterion_id(k),
               bf_cat_level_id(bf_cat_criterion_passing(k)));
    }
    printf("\n      assessors %d, attempts %d, turnaround %d days\n", p->assessors_required,
           p->attempts_allowed, p->turnaround_days);
}

static int cmd_show(struct cli *cli, int argc, char **argv)
{
    struct bf_err err = {0};
    struct bf_pg *pg;
    struct bf_cat *cat;

    if (argc > 1)
        return cli_usage_error(argv[0], "takes no arguments");
    pg = cli_pg(cli);
    if (!pg)
        return CLI_EFAIL;
    cat = bf_cat_load_pg(pg, &err);
    if (!cat)
        return cli_fail("catalogue show", &err);
    for (size_t i = 0; i < bf_cat_stack_count(cat); i++) {
        const struct bf_cat_stack *s = bf_cat_stack_at(cat, i);
        printf("%s: %s (%zu credentials)\n", bf_cat_stack_id(s), bf_cat_stack_name(s),
               bf_cat_stack_cred_count(s));
        for (size_t j = 0; j < bf_cat_stack_cred_count(s); j++)
            show_credential(bf_cat_stack_cred_at(s, j));
    }
    bf_cat_free(cat);
    return CLI_OK;
}

const struct cli_command cli_catalogue_commands[] = {
    {"catalogue validate", cmd_validate, "[DIR]",
     "check the catalogue files (default: the shipped config/catalogue); errors name file and "
     "field"},
    {"catalogue load", cmd_load, "[DIR]",
     "validate and store the catalogue in PostgreSQL; changed versions are refused"},
    {"catalogue show", cmd_show, "", "print the stored catalogue: stacks, credentials, rubrics"},
    {NULL, NULL, NULL, NULL},
};
