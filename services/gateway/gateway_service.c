/* SPDX-License-Identifier: Apache-2.0 */
/* The gateway on the daemon skeleton: its config keys, start-up and shut-down. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/catalogue_pg.h"
#include "badgeflow/kafka.h"
#include "badgeflow/log.h"
#include "badgeflow/redis.h"
#include "gateway.h"

const struct bf_cfg_def gateway_cfg_defs[] = {
    {"gateway", "listen", BF_CFG_STR, "127.0.0.1:8080", 0, 0, NULL, 0,
     "address of the API listener (host:port; port 0 picks one), apart from [http]"},
    {"gateway", "threads", BF_CFG_INT, "4", 1, 64, NULL, 0,
     "request threads, and PostgreSQL connections of the pool"},
    {"gateway", "max_body", BF_CFG_SIZE, "1M", 1024, 64LL << 20, NULL, 0,
     "largest JSON request body; larger ones get 413"},
    {"gateway", "max_header", BF_CFG_SIZE, "32k", 4096, 1LL << 20, NULL, 0,
     "memory for one connection's request line and headers; more gets 431"},
    {"gateway", "max_upload", BF_CFG_SIZE, "512M", 1024, 64LL << 30, NULL, 0,
     "largest evidence upload (streamed to disk, never held in memory); larger ones get 413"},
    {"gateway", "upload_root", BF_CFG_STR, "/var/lib/badgeflow/uploads", 0, 0, NULL, 0,
     "directory uploads are stored under (<root>/<tenant>/<uuid>); the transcoder's file root"},
    {"gateway", "rate_per_s", BF_CFG_INT, "20", 0, 100000, NULL, 0,
     "requests per second each API key may make on average (0: no limit)"},
    {"gateway", "rate_burst", BF_CFG_INT, "40", 1, 100000, NULL, 0,
     "requests a key may make at once before the rate applies"},
    {"gateway", "rate_shared", BF_CFG_BOOL, "true", 0, 0, NULL, 0,
     "keep the rate buckets in Redis ([redis]) so that every gateway instance shares a key's"
     " rate; while Redis does not answer each instance limits alone"},
    {"gateway", "rate_prefix", BF_CFG_STR, "bf:gateway:rate:", 0, 0, NULL, 0,
     "prefix of the rate buckets' Redis keys"},
    {"gateway", "cors_origins", BF_CFG_STR, "", 0, 0, NULL, 0,
     "origins allowed by CORS: empty for none, * for any, or a comma-separated list"},
    {"gateway", "public_base", BF_CFG_STR, "http://127.0.0.1:8090", 0, 0, NULL, 0,
     "base URL of the issuer's public verification routes (/v1/public/* redirects there)"},
    {"gateway", "secrets_kek", BF_CFG_STR, "", 0, 0, NULL, BF_CFG_SECRET,
     "64 hex digits: AES-256-GCM key sealing webhook secrets (same value as the notifier's)"},
    {"gateway", "secret_grace", BF_CFG_DURATION, "24h", 0, 30LL * 86400000, NULL, 0,
     "how long a rotated webhook secret stays valid beside the new one"},
    {NULL, NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};

static int kek_parse(struct gw *gw, const char *hex, struct bf_err *err)
{
    int rc;

    if (!hex[0])
        return 0;
    rc = bf_seal_kek_parse(hex, gw->kek, err);
    if (rc < 0) {
        bf_err_prefix(err, "gateway.secrets_kek");
        return rc;
    }
    gw->have_kek = true;
    return 0;
}

static void gw_free(struct gw *gw)
{
    if (!gw)
        return;
    gw_server_stop(gw->server);
    gw_pool_free(gw->pool);
    gw_limit_free(gw->limit);
    bf_cat_free(gw->cat);
    free(gw);
}

static void cfg_take(struct gw *gw)
{
    const struct bf_cfg *c = gw->cfg;

    gw->max_body = (size_t)bf_cfg_int(c, "gateway.max_body");
    gw->max_upload = (size_t)bf_cfg_int(c, "gateway.max_upload");
    gw->upload_root = bf_cfg_str(c, "gateway.upload_root");
    gw->cors_origins = bf_cfg_str(c, "gateway.cors_origins");
    gw->public_base = bf_cfg_str(c, "gateway.public_base");
    gw->secret_grace_ms = bf_cfg_int(c, "gateway.secret_grace");
}

/* The topics the gateway produces to (consumers create theirs; a producer cannot). */
static void topics_create(struct gw *gw)
{
    static const char *const shorts[] = {"submissions", "scores", "routing"};
    const char *prefix = bf_cfg_str(gw->cfg, "kafka.topic_prefix");
    char full[3][300];
    const char *names[3];
    struct bf_err err = {0};

    for (size_t i = 0; i < 3; i++) {
        snprintf(full[i], sizeof(full[i]), "%s%s", prefix, shorts[i]);
        names[i] = full[i];
    }
    if (bf_kafka_create_topics(gw->cfg, names, 3, (int)bf_cfg_int(gw->cfg, "kafka.partitions"),
                               &err) < 0)
        bf_log_warn("BF_GATEWAY_TOPICS", "could not create the topics: %s", err.msg);
}

/* The catalogue comes from PostgreSQL (what `badgeflow catalogue load` stored). */
/* The rate limit: shared through its own Redis connection unless gateway.rate_shared is off. */
static struct gw_limit *limit_new(const struct bf_cfg *c, long long per_s, struct bf_err *err)
{
    struct bf_redis *redis = NULL;
    struct gw_limit *l;

    if (bf_cfg_bool(c, "gateway.rate_shared") &&
        !(redis = bf_redis_new(bf_cfg_str(c, "redis.host"), (int)bf_cfg_int(c, "redis.port"),
                               bf_cfg_str(c, "redis.password"), (int)bf_cfg_int(c, "redis.db"),
                               bf_cfg_int(c, "redis.timeout"), err)))
        return NULL;
    l = gw_limit_new((double)per_s, (double)bf_cfg_int(c, "gateway.rate_burst"), redis,
                     bf_cfg_str(c, "gateway.rate_prefix"));
    if (!l)
        bf_err_set(err, BF_ENOMEM, "out of memory");
    return l;
}

static int init(struct bf_daemon *d, void **state, struct bf_err *err)
{
    struct gw *gw = calloc(1, sizeof(*gw));
    long long per_s, threads;

    if (!gw)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    gw->d = d;
    gw->cfg = bf_daemon_cfg(d);
    cfg_take(gw);
    per_s = bf_cfg_int(gw->cfg, "gateway.rate_per_s");
    threads = bf_cfg_int(gw->cfg, "gateway.threads");
    if (kek_parse(gw, bf_cfg_str(gw->cfg, "gateway.secrets_kek"), err) < 0)
        goto fail;
    gw->cat = bf_cat_load_pg(bf_daemon_pg(d), err);
    if (!gw->cat)
        goto fail;
    if (per_s > 0 && !(gw->limit = limit_new(gw->cfg, per_s, err)))
        goto fail;
    topics_create(gw);
    gw->pool = gw_pool_new(gw->cfg, (int)threads, err);
    if (!gw->pool)
        goto fail;
    gw->server = gw_server_start(gw, err);
    if (!gw->server)
        goto fail;
    *state = gw;
    return 0;
fail:
    gw_free(gw);
    return -(err->code ? err->code : BF_EINTERNAL);
}

static void fini(void *state)
{
    gw_free(state);
}

const struct bf_service gateway_service = {
    .name = "gateway",
    .cfg_defs = gateway_cfg_defs,
    .handlers = NULL,
    .needs = 0,
    .init = init,
    .fini = fini,
};
