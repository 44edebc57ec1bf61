/* SPDX-License-Identifier: Apache-2.0 */
/* The analytics service: its config table, start-up, timers (pilot metrics) and shutdown. */
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "badgeflow/log.h"

const struct bf_cfg_def analytics_cfg_defs[] = {
    {"analytics", "pseudonym_key", BF_CFG_STR, NULL, 0, 0, NULL, BF_CFG_SECRET | BF_CFG_REQUIRED,
     "key of the HMAC-SHA256 pseudonyms of educators and assessors (at least 32 characters; "
     "changing it changes every pseudonym)"},
    {"analytics", "iri_base", BF_CFG_STR, "https://badgeflow.org/xapi", 0, 0, NULL, 0,
     "base of the activity IRIs (credentials, stacks, pilots, profile)"},
    {"analytics", "home_page", BF_CFG_STR, "https://badgeflow.org/tenants", 0, 0, NULL, 0,
     "actor account homePage: <home_page>/<tenant_id>"},
    {"analytics", "k", BF_CFG_INT, "5", 1, 1000, NULL, 0,
     "small-cell suppression: counts below k (and figures derived from them) are withheld"},
    {"analytics", "stalled_after_days", BF_CFG_INT, "21", 1, 3650, NULL, 0,
     "an educator with an open cycle and no activity for this many days counts as stalled"},
    {"analytics", "debounce", BF_CFG_DURATION, "5s", 0, 3600000, NULL, 0,
     "pilot metrics are recomputed this long after the first change (at most one record per "
     "pilot per debounce)"},
    {"analytics", "refresh", BF_CFG_DURATION, "1h", 1000, 604800000, NULL, 0,
     "recompute every pilot this often even without events (stalled educators change with time)"},
    {"analytics", "unknown_grace", BF_CFG_DURATION, "10m", 0, 604800000, NULL, 0,
     "an event naming a submission not seen yet is retried this long after its ce_time, then "
     "dead-lettered"},
    {"analytics", "lrs_url", BF_CFG_STR, "", 0, 0, NULL, 0,
     "xAPI endpoint of a Learning Record Store to forward statements to (POST <url>/statements); "
     "empty: no forwarding"},
    {"analytics", "lrs_user", BF_CFG_STR, "", 0, 0, NULL, 0, "LRS basic-auth user"},
    {"analytics", "lrs_password", BF_CFG_STR, "", 0, 0, NULL, BF_CFG_SECRET,
     "LRS basic-auth password"},
    {"analytics", "lrs_batch", BF_CFG_INT, "50", 1, 1000, NULL, 0, "statements per LRS request"},
    {"analytics", "lrs_timeout", BF_CFG_DURATION, "10s", 100, 600000, NULL, 0,
     "whole LRS request timeout"},
    {"analytics", "lrs_retry_max", BF_CFG_DURATION, "10m", 1000, 86400000, NULL, 0,
     "longest back-off between attempts to send a statement the LRS did not take"},
    {"analytics", "lrs_allow_loopback", BF_CFG_BOOL, "false", 0, 0, NULL, 0,
     "test configs only: allow an LRS on 127.0.0.0/8 or ::1"},
    {"analytics", "lrs_allow_http", BF_CFG_BOOL, "false", 0, 0, NULL, 0,
     "test configs only: allow a plain http:// LRS"},
    {NULL, NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};

#define SETTINGS_SQL                                                                               \
    "UPDATE analytics_settings SET k = $1, stalled_after_days = $2, updated_at = now()"
#define ALL_DIRTY_SQL                                                                              \
    "INSERT INTO analytics_pilot_dirty (tenant_id, pilot_id) SELECT tenant_id, id FROM pilots"     \
    " WHERE ends_on >= current_date - 60 ON CONFLICT DO NOTHING"

/* Write k and the stalled horizon where the views read them. */
static int settings_store(struct bf_pg *pg, const struct bf_cfg *cfg, struct bf_err *err)
{
    char k[16], days[16];
    const char *p[2] = {k, days};

    snprintf(k, sizeof(k), "%lld", bf_cfg_int(cfg, "analytics.k"));
    snprintf(days, sizeof(days), "%lld", bf_cfg_int(cfg, "analytics.stalled_after_days"));
    if (bf_pg_prepare(pg, "an_settings", SETTINGS_SQL, err) < 0)
        return -err->code;
    return bf_pg_cmd(pg, "an_settings", 2, p, NULL, err);
}

/* Every live pilot is recomputed: at start (pilots added by SQL) and every refresh. */
static int pilots_all_dirty(struct bf_pg *pg, struct bf_err *err)
{
    if (bf_pg_prepare(pg, "an_all_dirty", ALL_DIRTY_SQL, err) < 0)
        return -err->code;
    return bf_pg_cmd(pg, "an_all_dirty", 0, NULL, NULL, err);
}

static int lrs_init(struct bf_daemon *d, struct an_state *st, struct bf_err *err)
{
    const struct bf_cfg *cfg = bf_daemon_cfg(d);
    struct an_lrs_conf c = {
        .url = bf_cfg_str(cfg, "analytics.lrs_url"),
        .user = bf_cfg_str(cfg, "analytics.lrs_user"),
        .password = bf_cfg_str(cfg, "analytics.lrs_password"),
        .batch = (int)bf_cfg_int(cfg, "analytics.lrs_batch"),
        .timeout_ms = bf_cfg_int(cfg, "analytics.lrs_timeout"),
        .retry_max_ms = bf_cfg_int(cfg, "analytics.lrs_retry_max"),
        .allow_loopback = bf_cfg_bool(cfg, "analytics.lrs_allow_loopback"),
        .allow_http = bf_cfg_bool(cfg, "analytics.lrs_allow_http"),
    };

    st->lrs = c.url[0] != '\0';
    if (!st->lrs)
        return 0;
    st->lrs_thread = an_lrs_start(cfg, &c, err);
    return st->lrs_thread ? 0 : -err->code;
}

static int analytics_init(struct bf_daemon *d, void **state, struct bf_err *err)
{
    const struct bf_cfg *cfg = bf_daemon_cfg(d);
    struct an_state *st = calloc(1, sizeof(*st));

    if (!st)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    st->conf.key = bf_cfg_str(cfg, "analytics.pseudonym_key");
    st->conf.iri_base = bf_cfg_str(cfg, "analytics.iri_base");
    st->conf.home_page = bf_cfg_str(cfg, "analytics.home_page");
    st->conf.grace_ms = bf_cfg_int(cfg, "analytics.unknown_grace");
    st->debounce_ms = bf_cfg_int(cfg, "analytics.debounce");
    st->refresh_ms = bf_cfg_int(cfg, "analytics.refresh");
    *state = st;
    if (strlen(st->conf.key) < 32)
        return bf_err_set(err, BF_EINVAL, "analytics.pseudonym_key: at least 32 characters");
    bf_log_add_secret(st->conf.key);
    if (settings_store(bf_daemon_pg(d), cfg, err) < 0 || pilots_all_dirty(bf_daemon_pg(d), err) < 0)
        return -err->code;
    return lrs_init(d, st, err);
}

/* Debounced pilot metrics, and the periodic refresh. */
static void analytics_tick(struct bf_daemon *d, void *state)
{
    struct an_state *st = state;
    struct bf_err err = {0};
    int64_t now = bf_mono_ms();
    int n;

    if (now < st->next_flush)
        return;
    st->next_flush = now + 250;
    if (now >= st->next_refresh) {
        st->next_refresh = now + st->refresh_ms;
        if (pilots_all_dirty(bf_daemon_pg(d), &err) < 0)
            bf_log_warn("BF_ANALYTICS_REFRESH", "marking pilots for refresh: %s", err.msg);
    }
    n = an_pilot_flush(d, st->debounce_ms, &err);
    if (n < 0)
        bf_log_warn("BF_ANALYTICS_METRICS", "pilot metrics not emitted yet: %s", err.msg);
    else if (n > 0)
        bf_log_info("BF_ANALYTICS_METRICS_EMITTED", "%d pilot metrics records emitted", n);
}

static void analytics_fini(void *state)
{
    struct an_state *st = state;

    if (!st)
        return;
    an_lrs_stop(st->lrs_thread);
    free(st);
}

const struct bf_service analytics_service = {
    .name = "analytics",
    .cfg_defs = analytics_cfg_defs,
    .handlers = analytics_handlers,
    .needs = BF_NEEDS_KAFKA_CONSUMER,
    .init = analytics_init,
    .tick = analytics_tick,
    .fini = analytics_fini,
};
