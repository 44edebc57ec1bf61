/* SPDX-License-Identifier: Apache-2.0 */
/* CLI commands on the system of record: migrations, tenants, people, API keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/admin.h"
#include "badgeflow/util.h"
#include "cli.h"

#define CLI_LIST_MAX 64

static int cmd_migrate(struct cli *cli, int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT("dir"), CLI_OPT_END};
    char dir[4096];
    struct bf_err err = {0};
    struct bf_pg *pg;
    int first, rc;

    if (cli_opts_parse(argv[0], argc, argv, opts, &first) != CLI_OK)
        return CLI_EUSAGE;
    snprintf(dir, sizeof(dir), "%s", cli_opt(opts, "dir") ? cli_opt(opts, "dir") : "");
    if (!dir[0])
        snprintf(dir, sizeof(dir), "%s/db/migrations", cli_datadir());
    pg = cli_pg(cli);
    if (!pg)
        return CLI_EFAIL;
    rc = bf_pg_migrate(pg, dir, &err);
    if (rc < 0)
        return cli_fail("migrate", &err);
    printf(rc == 0 ? "database is up to date\n" : "applied %d migration(s)\n", rc);
    return CLI_OK;
}

static int cmd_tenant_add(struct cli *cli, int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT_REQ("id"), CLI_OPT_REQ("kind"), CLI_OPT_REQ("name"),
                             CLI_OPT("parent"), CLI_OPT_END};
    struct bf_err err = {0};
    struct bf_pg *pg;
    int first;

    if (cli_opts_parse(argv[0], argc, argv, opts, &first) != CLI_OK)
        return CLI_EUSAGE;
    struct bf_tenant t = {cli_opt(opts, "id"), cli_opt(opts, "kind"), cli_opt(opts, "parent"),
                          cli_opt(opts, "name")};
    if (strcmp(t.kind, "state") != 0 && strcmp(t.kind, "district") != 0)
        return cli_usage_error(argv[0], "--kind must be state or district, not '%s'", t.kind);
    pg = cli_pg(cli);
    if (!pg)
        return CLI_EFAIL;
    if (bf_admin_tenant_add(pg, &t, &err) < 0)
        return cli_fail("tenant add", &err);
    printf("tenant %s (%s) added\n", t.id, t.kind);
    return CLI_OK;
}

static int cmd_educator_add(struct cli *cli, int argc, char **argv)
{
    struct cli_opt opts[] = {
        CLI_OPT_REQ("tenant"), CLI_OPT_REQ("id"), CLI_OPT("name"), CLI_OPT("email"),
        CLI_OPT("district"),   CLI_OPT("school"), CLI_OPT_END};
    struct bf_err err = {0};
    struct bf_pg *pg;
    int first;

    if (cli_opts_parse(argv[0], argc, argv, opts, &first) != CLI_OK)
        return CLI_EUSAGE;
    struct bf_educator e = {cli_opt(opts, "tenant"),   cli_opt(opts, "id"),
                            cli_opt(opts, "name"),     cli_opt(opts, "email"),
                            cli_opt(opts, "district"), cli_opt(opts, "school")};
    pg = cli_pg(cli);
    if (!pg)
        return CLI_EFAIL;
    if (bf_admin_educator_put(pg, &e, &err) < 0)
        return cli_fail("educator add", &err);
    printf("educator %s of %s saved\n", e.id, e.tenant_id);
    return CLI_OK;
}

/* Split a comma-separated list in place into items (at most max). Returns the count. */
static size_t split_list(char *s, const char **items, size_t max)
{
    size_t n = 0;

    for (char *p = s; p && *p && n < max;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (*p)
            items[n++] = p;
        p = comma ? comma + 1 : NULL;
    }
    return n;
}

static int parse_capacity(const char *cmd, const char *s, int *out)
{
    long long v = 10;

    if (s && bf_parse_ll(s, 0, 10000, &v) < 0)
        return cli_usage_error(cmd, "--capacity must be a whole number from 0 to 10000");
    *out = (int)v;
    return CLI_OK;
}

static int cmd_assessor_add(struct cli *cli, int argc, char **argv)
{
    struct cli_opt opts[] = {
        CLI_OPT_REQ("tenant"), CLI_OPT_REQ("id"), CLI_OPT_REQ("name"), CLI_OPT("email"),
        CLI_OPT("district"),   CLI_OPT("school"), CLI_OPT("capacity"), CLI_OPT_LIST("credential"),
        CLI_OPT_LIST("stack"), CLI_OPT_END};
    const char *creds[CLI_LIST_MAX], *stacks[CLI_LIST_MAX];
    char *cred_list = NULL, *stack_list = NULL;
    struct bf_err err = {0};
    struct bf_pg *pg;
    int first, rc = CLI_EUSAGE;

    if (cli_opts_parse(argv[0], argc, argv, opts, &first) != CLI_OK)
        goto out;
    struct bf_assessor a = {.tenant_id = cli_opt(opts, "tenant"),
                            .id = cli_opt(opts, "id"),
                            .name = cli_opt(opts, "name"),
                            .email = cli_opt(opts, "email"),
                            .district_id = cli_opt(opts, "district"),
                            .school_id = cli_opt(opts, "school")};
    if (parse_capacity(argv[0], cli_opt(opts, "capacity"), &a.max_open) != CLI_OK)
        goto out;
    cred_list = strdup(cli_opt(opts, "credential") ? cli_opt(opts, "credential") : "");
    stack_list = strdup(cli_opt(opts, "stack") ? cli_opt(opts, "stack") : "");
    a.credentials = creds;
    a.ncredentials = split_list(cred_list, creds, CLI_LIST_MAX);
    a.stacks = stacks;
    a.nstacks = split_list(stack_list, stacks, CLI_LIST_MAX);
    rc = CLI_EFAIL;
    pg = cli_pg(cli);
    if (!pg)
        goto out;
    if (bf_admin_assessor_add(pg, &a, &err) < 0) {
        rc = cli_fail("assessor add", &err);
        goto out;
    }
    printf("assessor %s of %s added: capacity %d, %zu credential(s), %zu stack(s)\n", a.id,
           a.tenant_id, a.max_open, a.ncredentials, a.nstacks);
    rc = CLI_OK;
out:
    free(cred_list);
    free(stack_list);
    cli_opts_free(opts);
    return rc;
}

/* A repeatable option's values as a list (storage in *buf, caller frees). */
static size_t opt_list(const struct cli_opt *opts, const char *name, char **buf, const char **items)
{
    const char *v = cli_opt(opts, name);

    *buf = strdup(v ? v : "");
    return *buf ? split_list(*buf, items, CLI_LIST_MAX) : 0;
}

static int cmd_pilot_add(struct cli *cli, int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT_REQ("tenant"),    CLI_OPT_REQ("id"),
                             CLI_OPT_REQ("name"),      CLI_OPT_REQ("starts"),
                             CLI_OPT_REQ("ends"),      CLI_OPT("target-reach"),
                             CLI_OPT_LIST("educator"), CLI_OPT_LIST("credential"),
                             CLI_OPT_LIST("stack"),    CLI_OPT_END};
    const char *edus[CLI_LIST_MAX], *creds[CLI_LIST_MAX], *stacks[CLI_LIST_MAX];
    char *bufs[3] = {NULL, NULL, NULL};
    struct bf_err err = {0};
    int first, rc = CLI_EUSAGE;

    if (cli_opts_parse(argv[0], argc, argv, opts, &first) != CLI_OK)
        goto out;
    struct bf_pilot p = {.tenant_id = cli_opt(opts, "tenant"),
                         .id = cli_opt(opts, "id"),
                         .name = cli_opt(opts, "name"),
                         .starts_on = cli_opt(opts, "starts"),
                         .ends_on = cli_opt(opts, "ends"),
                         .target_reach_ratio = cli_opt(opts, "target-reach"),
                         .educators = edus,
                         .credentials = creds,
                         .stacks = stacks};
    p.neducators = opt_list(opts, "educator", &bufs[0], edus);
    p.ncredentials = opt_list(opts, "credential", &bufs[1], creds);
    p.nstacks = opt_list(opts, "stack", &bufs[2], stacks);
    rc = CLI_EFAIL;
    if (!cli_pg(cli))
        goto out;
    if (bf_admin_pilot_add(cli->pg, &p, &err) < 0) {
        rc = cli_fail("pilot add", &err);
        goto out;
    }
    printf("pilot %s of %s added: %zu targeted educator(s)\n", p.id, p.tenant_id, p.neducators);
    rc = CLI_OK;
out:
    for (int i = 0; i < 3; i++)
        free(bufs[i]);
    cli_opts_free(opts);
    return rc;
}

static int cmd_apikey_add(struct cli *cli, int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT_REQ("tenant"), CLI_OPT_REQ("role"), CLI_OPT("assessor"),
                             CLI_OPT("label"), CLI_OPT_END};
    struct bf_apikey key;
    struct bf_err err = {0};
    struct bf_pg *pg;
    const char *role;
    int first;

    if (cli_opts_parse(argv[0], argc, argv, opts, &first) != CLI_OK)
        return CLI_EUSAGE;
    role = cli_opt(opts, "role");
    if (strcmp(role, "district") != 0 && strcmp(role, "assessor") != 0 &&
        strcmp(role, "admin") != 0)
        return cli_usage_error(argv[0], "--role must be district, assessor or admin");
    if ((strcmp(role, "assessor") == 0) != (cli_opt(opts, "assessor") != NULL))
        return cli_usage_error(argv[0], "--assessor is required with --role assessor, and only"
                                        " then");
    pg = cli_pg(cli);
    if (!pg)
        return CLI_EFAIL;
    if (bf_admin_apikey_add(pg, cli_opt(opts, "tenant"), role, cli_opt(opts, "assessor"),
                            cli_opt(opts, "label"), &key, &err) < 0)
        return cli_fail("apikey add", &err);
    fprintf(stderr, "API key %s for tenant %s, role %s. It is shown once: store it now.\n",
            key.prefix, cli_opt(opts, "tenant"), role);
    printf("%s\n", key.key);
    return CLI_OK;
}

static int cmd_apikey_revoke(struct cli *cli, int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT_REQ("key"), CLI_OPT("tenant"), CLI_OPT_END};
    struct bf_err err = {0};
    struct bf_pg *pg;
    int first;

    if (cli_opts_parse(argv[0], argc, argv, opts, &first) != CLI_OK)
        return CLI_EUSAGE;
    pg = cli_pg(cli);
    if (!pg)
        return CLI_EFAIL;
    if (bf_admin_apikey_revoke(pg, cli_opt(opts, "tenant"), cli_opt(opts, "key"), &err) < 0)
        return cli_fail("apikey revoke", &err);
    printf("API key %s revoked\n", cli_opt(opts, "key"));
    return CLI_OK;
}

const struct cli_command cli_db_commands[] = {
    {"migrate", cmd_migrate, "[--dir DIR]",
     "apply the database migrations (default DIR: the shipped db/migrations); safe to repeat"},
    {"tenant add", cmd_tenant_add, "--id ID --kind state|district --name NAME [--parent STATE]",
     "add a state agency, or a district (under its state with --parent)"},
    {"educator add", cmd_educator_add,
     "--tenant ID --id ID [--name N] [--email E] [--district ID] [--school ID]",
     "add or update an educator of a tenant"},
    {"assessor add", cmd_assessor_add,
     "--tenant ID --id ID --name NAME [--email E] [--district ID] [--school ID] [--capacity N]"
     " [--credential ID]... [--stack ID]...",
     "add an assessor with the credentials and stacks they are certified for"},
    {"pilot add", cmd_pilot_add,
     "--tenant ID --id ID --name NAME --starts YYYY-MM-DD --ends YYYY-MM-DD [--target-reach 0.75]"
     " [--educator ID]... [--credential ID]... [--stack ID]...",
     "add a pilot with its targeted educators and its scope (none: the whole catalogue)"},
    {"apikey add", cmd_apikey_add,
     "--tenant ID --role district|assessor|admin [--assessor ID] [--label TEXT]",
     "mint an API key; the key is printed once on stdout and only its hash is stored"},
    {"apikey revoke", cmd_apikey_revoke, "--key PREFIX|ID [--tenant ID]", "revoke an API key"},
    {NULL, NULL, NULL, NULL},
};
