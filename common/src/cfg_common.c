/* SPDX-License-Identifier: Apache-2.0 */
/* The config keys every daemon has: log, http, kafka, postgres, redis, daemon. */
#include "badgeflow/cfg.h"

#define MS(x) ((long long)(x))
#define S(x)  ((long long)(x)*1000)

const struct bf_cfg_def bf_cfg_common_defs[] = {
    {"log", "level", BF_CFG_ENUM, "info", 0, 0, "debug|info|warn|error", 0,
     "Lowest level written to the JSON log on stderr"},

    {"http", "listen", BF_CFG_STR, "127.0.0.1:0", 0, 0, NULL, 0,
     "Address of /healthz, /readyz and /metrics (host:port; port 0 picks a free one)"},

    {"kafka", "brokers", BF_CFG_STR, "127.0.0.1:9092", 0, 0, NULL, 0,
     "Kafka bootstrap servers, comma-separated host:port"},
    {"kafka", "topic_prefix", BF_CFG_STR, "badgeflow.", 0, 0, NULL, 0,
     "Prefix of every topic name (\"badgeflow.\" gives badgeflow.submissions)"},
    {"kafka", "group_id", BF_CFG_STR, "", 0, 0, NULL, 0,
     "Consumer group; empty means badgeflow-<service>"},
    {"kafka", "client_id", BF_CFG_STR, "", 0, 0, NULL, 0,
     "Client id in broker logs; empty means badgeflow-<service>-<hostname>"},
    {"kafka", "session_timeout", BF_CFG_DURATION, "45s", S(6), S(300), NULL, 0,
     "Consumer group session timeout"},
    {"kafka", "max_poll_interval", BF_CFG_DURATION, "5m", S(10), S(3600), NULL, 0,
     "Longest time between two polls before the consumer leaves the group"},
    {"kafka", "partitions", BF_CFG_INT, "6", 1, 1024, NULL, 0,
     "Partitions of each topic when badgeflow creates it (the most instances per service)"},
    {"kafka", "linger", BF_CFG_DURATION, "5ms", 0, S(1), NULL, 0,
     "Producer linger: wait this long to batch records"},
    {"kafka", "dlq", BF_CFG_BOOL, "true", 0, 0, NULL, 0,
     "Dead-letter poison records to <topic>.dlq (false: log and skip)"},
    {"kafka", "extra", BF_CFG_STR, "", 0, 0, NULL, BF_CFG_SECRET,
     "Extra librdkafka properties, \"name=value,name=value\" (may hold SASL secrets)"},

    {"postgres", "conninfo", BF_CFG_STR, "host=127.0.0.1 dbname=badgeflow user=badgeflow", 0, 0,
     NULL, BF_CFG_SECRET, "libpq connection string of the system of record"},
    {"postgres", "connect_timeout", BF_CFG_DURATION, "5s", S(1), S(120), NULL, 0,
     "Time allowed for one connection attempt"},
    {"postgres", "statement_timeout", BF_CFG_DURATION, "30s", S(1), S(3600), NULL, 0,
     "Longest statement before PostgreSQL cancels it"},

    {"redis", "host", BF_CFG_STR, "127.0.0.1", 0, 0, NULL, 0, "Redis host"},
    {"redis", "port", BF_CFG_INT, "6379", 1, 65535, NULL, 0, "Redis port"},
    {"redis", "password", BF_CFG_STR, "", 0, 0, NULL, BF_CFG_SECRET,
     "Redis AUTH password; empty for none"},
    {"redis", "db", BF_CFG_INT, "0", 0, 15, NULL, 0, "Redis database number"},
    {"redis", "timeout", BF_CFG_DURATION, "2s", MS(50), S(60), NULL, 0,
     "Connect and command timeout"},

    {"daemon", "shutdown_timeout", BF_CFG_DURATION, "10s", S(1), S(300), NULL, 0,
     "On SIGTERM, how long to finish in-flight work and flush the outbox"},
    {"daemon", "retry_base", BF_CFG_DURATION, "100ms", MS(10), S(10), NULL, 0,
     "First back-off delay after a transient failure (database or broker down)"},
    {"daemon", "retry_max", BF_CFG_DURATION, "30s", S(1), S(600), NULL, 0,
     "Longest back-off delay between retries"},
    {"daemon", "ready_interval", BF_CFG_DURATION, "1s", MS(100), S(60), NULL, 0,
     "How often the dependencies are checked for /readyz"},
    {"daemon", "batch_max", BF_CFG_INT, "0", 0, 1000, NULL, 0,
     "Most records already fetched that are handled in one transaction (1: one per record; "
     "0: the service's own default, 32 for the router, 1 for the others)"},
    {"daemon", "outbox_batch", BF_CFG_INT, "500", 1, 100000, NULL, 0,
     "Most outbox rows published per loop turn"},
    {"daemon", "outbox_retention", BF_CFG_DURATION, "7d", S(60), S(86400LL * 365), NULL, 0,
     "Published outbox rows older than this are deleted"},
    {"daemon", "fault_point", BF_CFG_ENUM, "none", 0, 0, "none|after_effect|after_commit", 0,
     "TEST ONLY: SIGKILL the daemon at this point of record handling"},
    {NULL, NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};
