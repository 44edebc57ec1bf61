/* SPDX-License-Identifier: Apache-2.0 */
/* CLI commands of the notifier: register webhook endpoints, rotate their secrets, re-enable,
 * replay deliveries. Secrets are sealed under notifier.secrets_kek, read from the notifier's
 * config file (--notifier-config) or BADGEFLOW_NOTIFIER_SECRETS_KEK. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/util.h"
#include "cli.h"
#include "notifier.h"

#define TYPES_MAX 64

/* The KEK from the notifier's config file (may be NULL: the environment only). */
static int kek_load(const char *path, unsigned char kek[NOTIFIER_KEK_LEN])
{
    static const struct bf_cfg_def *const tables[] = {bf_cfg_common_defs, notifier_cfg_defs, NULL};
    struct bf_err err = {0};
    struct bf_cfg *cfg = bf_cfg_load(tables, path, NULL, &err);
    int rc;

    if (!cfg)
        return cli_fail("notifier config", &err);
    rc = notifier_kek_parse(bf_cfg_str(cfg, "notifier.secrets_kek"), kek, &err);
    bf_cfg_free(cfg);
    if (rc < 0) {
        fprintf(stderr,
                "badgeflow: notifier.secrets_kek (--notifier-config FILE or "
                "BADGEFLOW_NOTIFIER_SECRETS_KEK): %s\n",
                err.msg);
        return CLI_EUSAGE;
    }
    return CLI_OK;
}

/* --secret whsec_... or a fresh one (printed once). */
static int secret_get(const char *cmd, const char *given, unsigned char *s, size_t *len,
                      bool *generated)
{
    struct bf_err err = {0};

    *generated = !given;
    if (given)
        return notifier_secret_decode(given, s, len, &err) < 0
                   ? cli_usage_error(cmd, "--secret: %s", err.msg)
                   : CLI_OK;
    if (notifier_secret_generate(s, len) < 0) {
        fprintf(stderr, "badgeflow: %s: no randomness for a secret\n", cmd);
        return CLI_EFAIL;
    }
    return CLI_OK;
}

static void secret_show(const unsigned char *s, size_t len)
{
    char text[128];

    notifier_secret_encode(s, len, text, sizeof(text));
    fprintf(stderr, "The signing secret is shown once: store it now.\n");
    printf("%s\n", text);
}

static size_t split_types(char *s, const char **items)
{
    size_t n = 0;

    for (char *p = s; p && *p && n < TYPES_MAX;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (*p)
            items[n++] = p;
        p = comma ? comma + 1 : NULL;
    }
    return n;
}

static int add_run(struct cli *cli, const struct cli_opt *opts, const char *cmd, char *types_buf)
{
    unsigned char kek[NOTIFIER_KEK_LEN], secret[NOTIFIER_SECRET_MAX];
    const char *types[TYPES_MAX];
    char id[BF_UUID_STRLEN + 1];
    long long cap = 4;
    size_t slen = 0, ntypes = split_types(types_buf, types);
    struct bf_err err = {0};
    struct bf_pg *pg;
    bool generated;
    int rc;

    if (cli_opt(opts, "max-in-flight") && bf_parse_ll(cli_opt(opts, "max-in-flight"), 1, 64, &cap))
        return cli_usage_error(cmd, "--max-in-flight must be 1..64");
    if ((rc = kek_load(cli_opt(opts, "notifier-config"), kek)) != CLI_OK ||
        (rc = secret_get(cmd, cli_opt(opts, "secret"), secret, &slen, &generated)) != CLI_OK)
        return rc;
    if (!(pg = cli_pg(cli)))
        return CLI_EFAIL;
    if (notifier_endpoint_add(pg, kek, cli_opt(opts, "tenant"), cli_opt(opts, "url"), types, ntypes,
                              secret, slen, (int)cap, id, &err) < 0)
        return cli_fail("webhook add", &err);
    fprintf(stderr, "webhook endpoint %s of %s: %zu event type(s)%s\n", id, cli_opt(opts, "tenant"),
            ntypes, ntypes ? "" : " (every type)");
    printf("%s\n", id);
    if (generated)
        secret_show(secret, slen);
    return CLI_OK;
}

static int cmd_webhook_add(struct cli *cli, int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT_REQ("tenant"),
                             CLI_OPT_REQ("url"),
                             CLI_OPT_LIST("events"),
                             CLI_OPT("secret"),
                             CLI_OPT("max-in-flight"),
                             CLI_OPT("notifier-config"),
                             CLI_OPT_END};
    char *types = NULL;
    int first, rc = CLI_EUSAGE;

    if (cli_opts_parse(argv[0], argc, argv, opts, &first) != CLI_OK)
        goto out;
    types = strdup(cli_opt(opts, "events") ? cli_opt(opts, "events") : "");
    rc = types ? add_run(cli, opts, argv[0], types) : CLI_EFAIL;
out:
    free(types);
    cli_opts_free(opts);
    return rc;
}

/* "90" (seconds), "90s", "15m", "24h", "7d" → seconds, at most 30 days. */
static int grace_parse(const char *s, long long *out)
{
    char text[32];
    long long ms;

    if (!s || !*s || strlen(s) + 2 > sizeof(text))
        return -1;
    /* a bare number is seconds here (config files take milliseconds) */
    snprintf(text, sizeof(text), "%s%s", s, isdigit((unsigned char)s[strlen(s) - 1]) ? "s" : "");
    if (bf_cfg_parse_duration(text, &ms) < 0 || ms > 86400LL * 30 * 1000)
        return -1;
    *out = ms / 1000;
    return 0;
}

static int cmd_webhook_rotate(struct cli *cli, int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT_REQ("endpoint"), CLI_OPT("secret"), CLI_OPT("grace"),
                             CLI_OPT("notifier-config"), CLI_OPT_END};
    unsigned char kek[NOTIFIER_KEK_LEN], secret[NOTIFIER_SECRET_MAX];
    long long grace = 86400;
    size_t slen = 0;
    struct bf_err err = {0};
    struct bf_pg *pg;
    bool generated;
    int first, rc;

    if (cli_opts_parse(argv[0], argc, argv, opts, &first) != CLI_OK)
        return CLI_EUSAGE;
    if (cli_opt(opts, "grace") && grace_parse(cli_opt(opts, "grace"), &grace) < 0)
        return cli_usage_error(argv[0], "--grace: a duration such as 3600, 90m, 24h, 7d");
    if ((rc = kek_load(cli_opt(opts, "notifier-config"), kek)) != CLI_OK ||
        (rc = secret_get(argv[0], cli_opt(opts, "secret"), secret, &slen, &generated)) != CLI_OK)
        return rc;
    if (!(pg = cli_pg(cli)))
        return CLI_EFAIL;
    if (notifier_endpoint_rotate(pg, kek, cli_opt(opts, "endpoint"), secret, slen, grace, &err) < 0)
        return cli_fail("webhook rotate-secret", &err);
    fprintf(stderr, "secret of %s rotated; the previous one is signed alongside for %llds\n",
            cli_opt(opts, "endpoint"), grace);
    if (generated)
        secret_show(secret, slen);
    return CLI_OK;
}

static int cmd_webhook_enable(struct cli *cli, int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT_REQ("endpoint"), CLI_OPT_END};
    struct bf_err err = {0};
    struct bf_pg *pg;
    int first;

    if (cli_opts_parse(argv[0], argc, argv, opts, &first) != CLI_OK)
        return CLI_EUSAGE;
    if (!(pg = cli_pg(cli)))
        return CLI_EFAIL;
    if (notifier_endpoint_enable(pg, cli_opt(opts, "endpoint"), &err) < 0)
        return cli_fail("webhook enable", &err);
    printf("webhook endpoint %s enabled\n", cli_opt(opts, "endpoint"));
    return CLI_OK;
}

static int cmd_webhook_replay(struct cli *cli, int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT("delivery"), CLI_OPT("endpoint"), CLI_OPT("since"),
                             CLI_OPT("until"), CLI_OPT_END};
    const char *delivery, *endpoint;
    struct bf_err err = {0};
    long long n = 0;
    struct bf_pg *pg;
    int first;

    if (cli_opts_parse(argv[0], argc, argv, opts, &first) != CLI_OK)
        return CLI_EUSAGE;
    delivery = cli_opt(opts, "delivery");
    endpoint = cli_opt(opts, "endpoint");
    if (!delivery == !endpoint ||
        (endpoint && (!cli_opt(opts, "since") || !cli_opt(opts, "until"))))
        return cli_usage_error(argv[0], "give --delivery ID, or --endpoint ID --since T --until T");
    if (!(pg = cli_pg(cli)))
        return CLI_EFAIL;
    if (notifier_replay(pg, delivery, endpoint, cli_opt(opts, "since"), cli_opt(opts, "until"), &n,
                        &err) < 0)
        return cli_fail("webhook replay", &err);
    printf("%lld deliver%s queued again (same webhook-id, a new attempt)\n", n,
           n == 1 ? "y" : "ies");
    return CLI_OK;
}

const struct cli_command cli_notifier_commands[] = {
    {"webhook add", cmd_webhook_add,
     "--tenant T --url URL [--events TYPE,...] [--secret whsec_...] [--max-in-flight N] "
     "[--notifier-config FILE]",
     "register a webhook endpoint (prints its id, and the secret if generated)"},
    {"webhook rotate-secret", cmd_webhook_rotate,
     "--endpoint ID [--secret whsec_...] [--grace 24h] [--notifier-config FILE]",
     "new signing secret; the old one is signed alongside during the grace period"},
    {"webhook enable", cmd_webhook_enable, "--endpoint ID",
     "re-enable an endpoint the notifier disabled"},
    {"webhook replay", cmd_webhook_replay,
     "--delivery ID | --endpoint ID --since TIME --until TIME",
     "send deliveries again: a new attempt with the same webhook-id"},
    {NULL, NULL, NULL, NULL},
};
