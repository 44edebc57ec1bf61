/* SPDX-License-Identifier: Apache-2.0 */
/* CLI commands of the issuer: signing keys (generate, rotate, list) and revocation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "issuer.h"

/* The KEK: --kek-file FILE (first line), else BADGEFLOW_ISSUER_KEK (the daemon's override). */
static int kek_load(const char *cmd, const char *file, unsigned char kek[ISSUER_KEK_LEN])
{
    char line[256] = "";
    const char *s = getenv("BADGEFLOW_ISSUER_KEK");
    struct bf_err err = {0};

    if (file) {
        FILE *f = fopen(file, "r");
        if (!f || !fgets(line, sizeof(line), f)) {
            if (f)
                fclose(f);
            return cli_usage_error(cmd, "--kek-file %s: cannot read it", file);
        }
        fclose(f);
        line[strcspn(line, "\r\n")] = '\0';
        s = line;
    }
    if (!s || !s[0])
        return cli_usage_error(cmd, "the key-encryption key is needed: --kek-file FILE or"
                                    " BADGEFLOW_ISSUER_KEK");
    if (issuer_kek_parse(s, kek, &err) < 0)
        return cli_fail(cmd, &err);
    return CLI_OK;
}

static int key_create(struct cli *cli, const char *cmd, const struct cli_opt *opts, bool rotate)
{
    unsigned char kek[ISSUER_KEK_LEN];
    char kid[ISSUER_KID_MAX + 1];
    struct bf_err err = {0};
    struct bf_pg *pg;
    int rc;

    const char *alg = cli_opt(opts, "alg") ? cli_opt(opts, "alg") : "ES256";
    if (strcmp(alg, "ES256") != 0 && strcmp(alg, "RS256") != 0)
        return cli_usage_error(cmd, "--alg must be ES256 or RS256");
    rc = kek_load(cmd, cli_opt(opts, "kek-file"), kek);
    if (rc != CLI_OK)
        return rc;
    pg = cli_pg(cli);
    if (!pg)
        return CLI_EFAIL;
    rc = issuer_key_create(pg, kek, cli_opt(opts, "tenant"), alg, rotate, kid, &err);
    OPENSSL_cleanse(kek, sizeof(kek));
    if (rc < 0)
        return cli_fail(cmd, &err);
    printf("%s\n", kid);
    fprintf(stderr, "%s key %s of tenant %s is active%s\n", alg, kid, cli_opt(opts, "tenant"),
            rotate ? "; the previous one is retired and stays published" : "");
    return CLI_OK;
}

static int key_list(struct cli *cli, const char *cmd, const struct cli_opt *opts)
{
    struct bf_err err = {0};
    struct bf_pg *pg = cli_pg(cli);
    const char *p[1] = {cli_opt(opts, "tenant")};
    PGresult *res;

    if (!pg)
        return CLI_EFAIL;
    res = bf_pg_query(pg,
                      "SELECT kid, alg, state, created_at, coalesce(retired_at::text, '-')"
                      " FROM issuer_keys WHERE tenant_id = $1 ORDER BY created_at",
                      1, p, &err);
    if (!res)
        return cli_fail(cmd, &err);
    for (int i = 0; i < PQntuples(res); i++)
        printf("%s\t%s\t%s\t%s\t%s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
               PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
    PQclear(res);
    return CLI_OK;
}

/* issuer key generate|rotate|list: the verb is the positional argument. */
static int cmd_key(struct cli *cli, int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT_REQ("tenant"), CLI_OPT("alg"), CLI_OPT("kek-file"),
                             CLI_OPT_END};
    int first, rc;

    if (cli_opts_parse(argv[0], argc, argv, opts, &first) != CLI_OK)
        return CLI_EUSAGE;
    const char *verb = first < argc ? argv[first] : "";
    if (first + 1 != argc)
        rc = cli_usage_error(argv[0], "one of generate, rotate or list is needed");
    else if (strcmp(verb, "generate") == 0 || strcmp(verb, "rotate") == 0)
        rc = key_create(cli, argv[0], opts, verb[0] == 'r');
    else if (strcmp(verb, "list") == 0)
        rc = key_list(cli, argv[0], opts);
    else
        rc = cli_usage_error(argv[0], "unknown verb '%s': generate, rotate or list", verb);
    cli_opts_free(opts);
    return rc;
}

static int cmd_revoke(struct cli *cli, int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT_REQ("credential"), CLI_OPT_REQ("reason"), CLI_OPT("by"),
                             CLI_OPT("base-url"), CLI_OPT_END};
    struct bf_err err = {0};
    struct bf_pg *pg;
    int first;

    if (cli_opts_parse(argv[0], argc, argv, opts, &first) != CLI_OK)
        return CLI_EUSAGE;
    const char *base = cli_opt(opts, "base-url")             ? cli_opt(opts, "base-url")
                       : getenv("BADGEFLOW_ISSUER_BASE_URL") ? getenv("BADGEFLOW_ISSUER_BASE_URL")
                                                             : "http://127.0.0.1:8080";
    /* Rows for the issuer's relay: it publishes them like its own events. */
    struct bf_outbox_ctx ctx = {"issuer", "/badgeflow/issuer",
                                bf_cfg_str(cli->cfg, "kafka.topic_prefix")};
    struct issuer_emitter em = {NULL, NULL, &ctx};
    pg = cli_pg(cli);
    if (!pg)
        return CLI_EFAIL;
    if (issuer_revoke(pg, base, &em, cli_opt(opts, "credential"), cli_opt(opts, "reason"),
                      cli_opt(opts, "by"), &err) < 0)
        return cli_fail(argv[0], &err);
    printf("credential %s revoked\n", cli_opt(opts, "credential"));
    return CLI_OK;
}

const struct cli_command cli_issuer_commands[] = {
    {"issuer key", cmd_key, "generate|rotate|list --tenant T [--alg ES256|RS256] [--kek-file FILE]",
     "signing keys: generate the first, rotate (the old one is retired and stays published),"
     " list; the KEK comes from --kek-file or BADGEFLOW_ISSUER_KEK"},
    {"issuer revoke", cmd_revoke, "--credential UUID --reason TEXT [--by ID] [--base-url URL]",
     "revoke an issued credential: status bit set, credential.revoked emitted"},
    {NULL, NULL, NULL, NULL},
};
