/* SPDX-License-Identifier: Apache-2.0 */
/* The [notifier] config table and its reading into struct notifier_cfg. */
#include <string.h>

#include "notifier.h"

#define MS(x) (x)
#define S(x)  ((x)*1000LL)

const struct bf_cfg_def notifier_cfg_defs[] = {
    {"notifier", "secrets_kek", BF_CFG_STR, "", 0, 0, NULL, BF_CFG_SECRET,
     "key-encryption key of webhook secrets: 64 hex digits (AES-256-GCM; the gateway's too)"},
    {"notifier", "workers", BF_CFG_INT, "8", 1, 64, NULL, 0,
     "delivery threads, each with its own PostgreSQL connection"},
    {"notifier", "max_in_flight", BF_CFG_INT, "2", 1, 64, NULL, 0,
     "deliveries in flight per endpoint at most (caps the endpoint's own max_in_flight); keep it "
     "below workers so a hanging endpoint cannot hold every thread"},
    {"notifier", "poll_interval", BF_CFG_DURATION, "250ms", MS(10), S(60), NULL, 0,
     "how often an idle worker looks for due deliveries"},
    {"notifier", "retry_horizon", BF_CFG_DURATION, "3d", S(1), S(86400LL * 30), NULL, 0,
     "retry a delivery this long; an endpoint failing this long is disabled"},
    {"notifier", "retry_base", BF_CFG_DURATION, "5s", MS(10), S(3600), NULL, 0,
     "first retry delay, doubled per attempt (with jitter)"},
    {"notifier", "retry_max", BF_CFG_DURATION, "4h", MS(100), S(86400), NULL, 0,
     "longest delay between two attempts"},
    {"notifier", "timeout", BF_CFG_DURATION, "15s", MS(100), S(300), NULL, 0,
     "whole request time limit per attempt"},
    {"notifier", "connect_timeout", BF_CFG_DURATION, "5s", MS(100), S(60), NULL, 0,
     "TCP and TLS handshake time limit"},
    {"notifier", "max_response", BF_CFG_SIZE, "64k", 1024, 16LL << 20, NULL, 0,
     "larger response bodies fail the attempt"},
    {"notifier", "ca_file", BF_CFG_STR, "", 0, 0, NULL, 0,
     "PEM bundle to trust instead of the system's (empty: the system's)"},
    {"notifier", "allow_loopback", BF_CFG_BOOL, "false", 0, 0, NULL, 0,
     "TEST ONLY: allow 127.0.0.0/8 and ::1 endpoints"},
    {"notifier", "allow_http", BF_CFG_BOOL, "false", 0, 0, NULL, 0,
     "TEST ONLY: allow plain http:// endpoints"},
    {NULL, NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};

static void policy_read(const struct bf_cfg *cfg, struct bf_fetch_policy *p)
{
    const char *ca = bf_cfg_str(cfg, "notifier.ca_file");

    bf_fetch_policy_init(p);
    p->allow_loopback = bf_cfg_bool(cfg, "notifier.allow_loopback");
    p->allow_http = bf_cfg_bool(cfg, "notifier.allow_http");
    p->timeout_ms = bf_cfg_int(cfg, "notifier.timeout");
    p->connect_timeout_ms = bf_cfg_int(cfg, "notifier.connect_timeout");
    /* a silent peer is caught by the whole-request timeout; the stall check is coarser */
    p->stall_ms = p->timeout_ms;
    p->max_response_bytes = bf_cfg_int(cfg, "notifier.max_response");
    p->max_redirects = 0;
    p->ca_file = ca[0] ? ca : NULL;
}

int notifier_cfg_read(const struct bf_cfg *cfg, struct notifier_cfg *out, struct bf_err *err)
{
    memset(out, 0, sizeof(*out));
    if (bf_seal_kek_parse(bf_cfg_str(cfg, "notifier.secrets_kek"), out->kek, err) < 0)
        return bf_err_prefix(err, "notifier.secrets_kek");
    out->workers = (int)bf_cfg_int(cfg, "notifier.workers");
    out->max_in_flight = (int)bf_cfg_int(cfg, "notifier.max_in_flight");
    out->poll_ms = bf_cfg_int(cfg, "notifier.poll_interval");
    out->horizon_ms = bf_cfg_int(cfg, "notifier.retry_horizon");
    out->retry_base_ms = bf_cfg_int(cfg, "notifier.retry_base");
    out->retry_max_ms = bf_cfg_int(cfg, "notifier.retry_max");
    policy_read(cfg, &out->policy);
    return 0;
}
