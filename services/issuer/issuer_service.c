/* SPDX-License-Identifier: Apache-2.0 */
/* The issuer daemon: its config keys, state, handlers, routes and timers. */
#include <stdlib.h>
#include <string.h>

#include "badgeflow/catalogue_pg.h"
#include "badgeflow/log.h"
#include "badgeflow/metrics.h"
#include "issuer.h"
#include <openssl/crypto.h>

const struct bf_cfg_def issuer_cfg_defs[] = {
    {"issuer", "base_url", BF_CFG_STR, "http://127.0.0.1:8080", 0, 0, NULL, 0,
     "Public URL prefix of the verification material (credentials, issuers, status lists);"
     " served on http.listen"},
    {"issuer", "kek", BF_CFG_STR, "", 0, 0, NULL, BF_CFG_SECRET,
     "Key-encryption key of the private signing keys: 32 bytes as 64 hex digits or base64"
     " (required; the CLI reads BADGEFLOW_ISSUER_KEK)"},
    {"issuer", "alg", BF_CFG_ENUM, "ES256", 0, 0, "ES256|RS256", 0,
     "Signing algorithm of new credentials (the tenant's active key of this algorithm)"},
    {"issuer", "held_retry", BF_CFG_DURATION, "5s", 100, 3600000, NULL, 0,
     "How often decisions held for want of a key are retried"},
    {NULL, NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};

struct issuer_metrics issuer_m;

static void metrics_register(void)
{
    issuer_m.issued = bf_metrics_counter("issuer_credentials_issued_total",
                                         "Credentials signed and committed", "kind");
    issuer_m.skipped = bf_metrics_counter("issuer_decisions_skipped_total",
                                          "Decisions that earn no credential", "outcome");
    issuer_m.held = bf_metrics_gauge("issuer_held_decisions",
                                     "Earned decisions held: their tenant has no active key", NULL);
    issuer_m.revoked = bf_metrics_counter("issuer_credentials_revoked_total",
                                          "Credentials revoked by this daemon (the CLI's are"
                                          " not counted here)",
                                          "kind");
}

static int issuer_init(struct bf_daemon *d, void **state, struct bf_err *err)
{
    const struct bf_cfg *cfg = bf_daemon_cfg(d);
    const char *kek = bf_cfg_str(cfg, "issuer.kek");
    struct issuer *is = calloc(1, sizeof(*is));

    if (!is)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    bf_log_add_secret(kek);
    metrics_register();
    is->d = d;
    bf_strlcpy(is->base, bf_cfg_str(cfg, "issuer.base_url"), sizeof(is->base));
    is->base[strcspn(is->base, "\n")] = '\0';
    for (size_t n = strlen(is->base); n > 0 && is->base[n - 1] == '/'; n--)
        is->base[n - 1] = '\0';
    bf_strlcpy(is->alg, bf_cfg_str(cfg, "issuer.alg"), sizeof(is->alg));
    is->held_retry_ms = bf_cfg_int(cfg, "issuer.held_retry");
    pthread_mutex_init(&is->http_mu, NULL);
    is->http_pg = bf_pg_new_cfg(cfg, "issuer-http", err);
    if (!is->http_pg || issuer_kek_parse(kek, is->kek, err) < 0) {
        pthread_mutex_destroy(&is->http_mu);
        bf_pg_free(is->http_pg);
        free(is);
        return -BF_EINVAL;
    }
    is->cat = bf_cat_load_pg(bf_daemon_pg(d), err); /* NULL is fine: loaded on first use */
    *state = is;
    return 0;
}

/* Held decisions: count them for operators, retry those whose tenant has a key now. */
static void issuer_tick(struct bf_daemon *d, void *state)
{
    struct issuer *is = state;
    struct bf_err err = {0};
    PGresult *res;
    int64_t now = bf_mono_ms();

    if (now < is->next_held_ms)
        return;
    is->next_held_ms = now + is->held_retry_ms;
    res = ISSUER_Q(bf_daemon_pg(d), "SELECT count(*) FROM issuer_held", 0, NULL, &err);
    if (res)
        bf_metrics_set(issuer_m.held, NULL, strtod(PQgetvalue(res, 0, 0), NULL));
    if (res && strcmp(PQgetvalue(res, 0, 0), "0") != 0) {
        int n = issuer_retry_held(is);
        if (n > 0)
            bf_log_info("BF_ISSUER_RELEASED", "%d held decision(s) issued", n);
    }
    PQclear(res);
}

static void issuer_fini(void *state)
{
    struct issuer *is = state;

    if (!is)
        return;
    bf_pg_free(is->http_pg);
    bf_cat_free(is->cat);
    pthread_mutex_destroy(&is->http_mu);
    OPENSSL_cleanse(is->kek, sizeof(is->kek));
    free(is);
}

/* score.rejected shares the decisions topic: nothing for the issuer to do. */
static int issuer_on_other(void *state, struct bf_event *ev, struct bf_err *err)
{
    return 0;
}

static const struct bf_event_handler issuer_handlers[] = {
    {"decisions", "org.badgeflow.decision.made.v1", issuer_on_decision},
    {"decisions", "org.badgeflow.score.rejected.v1", issuer_on_other},
    {NULL, NULL, NULL},
};

const struct bf_service issuer_service = {
    .name = "issuer",
    .cfg_defs = issuer_cfg_defs,
    .handlers = issuer_handlers,
    .needs = BF_NEEDS_KAFKA_CONSUMER,
    .init = issuer_init,
    .tick = issuer_tick,
    .fini = issuer_fini,
    .routes = issuer_routes,
};
