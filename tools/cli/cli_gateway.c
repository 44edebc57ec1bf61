/* SPDX-License-Identifier: Apache-2.0 */
/* CLI commands of the gateway: its route table, and who an API key is (for support calls). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "gateway.h"

static const char *roles_text(unsigned roles, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s%s%s", roles & GW_DISTRICT ? "district " : "",
             roles & GW_ASSESSOR ? "assessor " : "", roles & GW_ADMIN ? "admin " : "",
             roles & GW_PUBLIC ? "public (no key) " : "");
    return buf;
}

static int cmd_routes(struct cli *cli, int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT_END};
    char roles[64];
    int first;

    (void)cli;
    if (cli_opts_parse(argv[0], argc, argv, opts, &first) != CLI_OK)
        return CLI_EUSAGE;
    for (const struct gw_route *rt = gw_routes; rt->method; rt++)
        printf("%-7s %-52s %s\n", rt->method, rt->pattern,
               roles_text(rt->roles, roles, sizeof(roles)));
    return CLI_OK;
}

/* Checks the key exactly as the gateway does; exit 0 (valid), 3 (refused), 1 (no database). */
static int cmd_whois(struct cli *cli, int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT_REQ("key"), CLI_OPT_END};
    char auth[BF_APIKEY_LEN + 16];
    struct bf_err err = {0};
    struct gw_key k = {0};
    struct bf_pg *pg;
    int first, rc;

    if (cli_opts_parse(argv[0], argc, argv, opts, &first) != CLI_OK)
        return CLI_EUSAGE;
    pg = cli_pg(cli);
    if (!pg)
        return CLI_EFAIL;
    snprintf(auth, sizeof(auth), "Bearer %s", cli_opt(opts, "key"));
    rc = gw_auth(pg, auth, &k, &err);
    if (rc == -BF_EDENIED) {
        fprintf(stderr, "badgeflow: gateway whois: %s\n", err.msg);
        return CLI_ENOTFOUND;
    }
    if (rc < 0)
        return cli_fail("gateway whois", &err);
    printf("key %s: tenant %s, role %s%s%s\n", k.id, k.tenant_id,
           k.role == GW_ADMIN      ? "admin"
           : k.role == GW_ASSESSOR ? "assessor"
                                   : "district",
           k.assessor_id[0] ? ", assessor " : "", k.assessor_id);
    return CLI_OK;
}

const struct cli_command cli_gateway_commands[] = {
    {"gateway routes", cmd_routes, "", "print the gateway API's routes and the roles allowed"},
    {"gateway whois", cmd_whois, "--key KEY",
     "check an API key as the gateway would: its tenant and role, or why it is refused"},
    {NULL, NULL, NULL, NULL},
};
