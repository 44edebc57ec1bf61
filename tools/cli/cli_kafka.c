/* SPDX-License-Identifier: Apache-2.0 */
/* CLI commands on Kafka: create the topics, tail a topic as readable JSON. */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/events.h"
#include "badgeflow/kafka.h"
#include "badgeflow/util.h"
#include "cli.h"

#define CLI_TOPICS_MAX 64

static volatile sig_atomic_t tail_stop;

static void on_sigint(int sig)
{
    tail_stop = 1;
}

/*
 * Every topic of the event table plus its dead-letter twin, full names, into names
 * (storage in buf). Returns the count.
 */
static size_t all_topics(const struct bf_cfg *cfg, char (*buf)[256], const char **names)
{
    size_t n = 0;

    for (const struct bf_ev_type *t = bf_ev_types; t->type && n + 2 <= CLI_TOPICS_MAX; t++) {
        char full[256];
        bool seen = false;
        if (bf_kafka_topic_name(cfg, t->topic, full, sizeof(full)) < 0)
            continue;
        for (size_t i = 0; i < n && !seen; i++)
            seen = strcmp(names[i], full) == 0;
        if (seen)
            continue;
        snprintf(buf[n], sizeof(buf[n]), "%s", full);
        names[n] = buf[n];
        n++;
        snprintf(buf[n], sizeof(buf[n]), "%s%s", full, BF_DLQ_SUFFIX);
        names[n] = buf[n];
        n++;
    }
    return n;
}

static int cmd_topics_create(struct cli *cli, int argc, char **argv)
{
    static char buf[CLI_TOPICS_MAX][256];
    const char *names[CLI_TOPICS_MAX];
    struct bf_err err = {0};
    size_t n = all_topics(cli->cfg, buf, names);
    int partitions = (int)bf_cfg_int(cli->cfg, "kafka.partitions");

    if (argc > 1)
        return cli_usage_error(argv[0], "takes no arguments");
    if (bf_kafka_create_topics(cli->cfg, names, n, partitions, &err) < 0)
        return cli_fail("topics create", &err);
    for (size_t i = 0; i < n; i++)
        printf("%s\n", names[i]);
    fprintf(stderr, "%zu topics present (%d partitions each when created)\n", n, partitions);
    return CLI_OK;
}

/* Header values as JSON strings (not UTF-8: shown as hex, flagged). */
static json_t *headers_json(const struct bf_kafka_msg *m)
{
    json_t *h = json_object();

    for (size_t i = 0; i < m->nheaders; i++) {
        const struct bf_kafka_header *hd = &m->headers[i];
        json_t *v = json_stringn(hd->value ? hd->value : "", hd->len);
        if (!v) {
            char *hex = malloc(hd->len * 2 + 5);
            if (hex) {
                snprintf(hex, 5, "hex:");
                bf_hex(hd->value, hd->len, hex + 4);
                v = json_string(hex);
                free(hex);
            }
        }
        json_object_set_new(h, hd->name, v ? v : json_null());
    }
    return h;
}

static json_t *record_json(const struct bf_kafka_msg *m)
{
    json_t *rec = json_object(), *data;
    json_error_t jerr;

    json_object_set_new(rec, "topic", json_string(m->topic));
    json_object_set_new(rec, "partition", json_integer(m->partition));
    json_object_set_new(rec, "offset", json_integer(m->offset));
    json_object_set_new(rec, "key", m->key ? json_stringn(m->key, m->key_len) : json_null());
    json_object_set_new(rec, "headers", headers_json(m));
    data = m->value ? json_loadb(m->value, m->value_len, 0, &jerr) : NULL;
    if (data)
        json_object_set_new(rec, "data", data);
    else
        json_object_set_new(rec, "value_not_json",
                            m->value ? json_stringn(m->value, m->value_len) : json_null());
    return rec;
}

struct tail_opts {
    long long count;   /* stop after this many records (0: no limit) */
    long long idle_ms; /* stop after this long without a record (0: follow) */
};

static int tail_parse(const char *cmd, const struct cli_opt *opts, struct tail_opts *t)
{
    const char *count = cli_opt(opts, "count"), *idle = cli_opt(opts, "idle");

    t->count = 0;
    t->idle_ms = 0;
    if (count && bf_parse_ll(count, 1, 1000000000, &t->count) < 0)
        return cli_usage_error(cmd, "--count must be a positive whole number");
    if (idle && bf_parse_ll(idle, 1, 86400, &t->idle_ms) < 0)
        return cli_usage_error(cmd, "--idle must be seconds, 1 to 86400");
    t->idle_ms *= 1000;
    return CLI_OK;
}

static int tail_loop(struct bf_kafka_consumer *c, const struct tail_opts *t)
{
    long long seen = 0;
    int64_t last = bf_mono_ms();

    while (!tail_stop && (!t->count || seen < t->count)) {
        struct bf_kafka_msg *m = NULL;
        if (bf_kafka_consumer_poll(c, 200, &m) < 0)
            return CLI_EFAIL;
        if (!m) {
            if (t->idle_ms && bf_mono_ms() - last > t->idle_ms)
                break;
            continue;
        }
        json_t *rec = record_json(m);
        json_dumpf(rec, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        fflush(stdout);
        json_decref(rec);
        bf_kafka_msg_free(m);
        seen++;
        last = bf_mono_ms();
    }
    fprintf(stderr, "%lld record(s)\n", seen);
    return CLI_OK;
}

static int cmd_tail(struct cli *cli, int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT("count"), CLI_OPT("idle"), CLI_OPT_END};
    char topic[256], group[64], uuid[BF_UUID_STRLEN + 1];
    struct bf_err err = {0};
    struct tail_opts t;
    struct bf_kafka_consumer *c;
    int first, rc;

    if (cli_opts_parse(argv[0], argc, argv, opts, &first) != CLI_OK ||
        tail_parse(argv[0], opts, &t) != CLI_OK)
        return CLI_EUSAGE;
    if (first != argc - 1)
        return cli_usage_error(argv[0], "needs one TOPIC (short name, e.g. submissions)");
    if (bf_kafka_topic_name(cli->cfg, argv[first], topic, sizeof(topic)) < 0 ||
        bf_uuid_v4(uuid) < 0)
        return cli_usage_error(argv[0], "topic name too long");
    snprintf(group, sizeof(group), "badgeflow-cli-tail-%.8s", uuid);
    const char *topics[] = {topic, NULL};
    c = bf_kafka_consumer_new(cli->cfg, group, topics, &err);
    if (!c)
        return cli_fail("tail", &err);
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    rc = tail_loop(c, &t);
    (void)bf_kafka_consumer_close(c);
    return rc;
}

const struct cli_command cli_kafka_commands[] = {
    {"topics create", cmd_topics_create, "",
     "create every topic and its .dlq twin (kafka.partitions each); existing ones are kept"},
    {"tail", cmd_tail, "TOPIC [--count N] [--idle SECONDS]",
     "print a topic's records from the beginning as readable JSON (headers, key, data)"},
    {NULL, NULL, NULL, NULL},
};
