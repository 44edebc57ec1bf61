/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of kafka.c against the real broker of the local stack (BADGEFLOW_KAFKA_BROKERS). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "badgeflow/cfg.h"
#include "badgeflow/kafka.h"
#include "badgeflow/log.h"
#include "badgeflow/util.h"
#include "bf_test.h"

static char prefix[64];
static int delivered, failed;

static struct bf_cfg *load_cfg(void)
{
    const struct bf_cfg_def *tables[] = {bf_cfg_common_defs, NULL};
    struct bf_err err = {0};
    struct bf_cfg *cfg = bf_cfg_load(tables, NULL, NULL, &err);

    if (!cfg)
        fprintf(stderr, "config: %s\n", err.msg);
    return cfg;
}

static void dr(void *opaque, void *msg_opaque, int rc, const char *errstr)
{
    (void)opaque;
    (void)msg_opaque;
    if (rc == 0)
        delivered++;
    else
        failed++;
}

static void test_topic_name(void)
{
    struct bf_cfg *cfg;
    char buf[64], small[8];

    setenv("BADGEFLOW_KAFKA_TOPIC_PREFIX", "acme.", 1);
    cfg = load_cfg();
    CHECK(cfg != NULL);
    CHECK(bf_kafka_topic_name(cfg, "submissions", buf, sizeof(buf)) == 0);
    CHECK_STR(buf, "acme.submissions");
    CHECK(bf_kafka_topic_name(cfg, "submissions", small, sizeof(small)) == -BF_ETOOBIG);
    bf_cfg_free(cfg);
    setenv("BADGEFLOW_KAFKA_TOPIC_PREFIX", prefix, 1);
}

static void test_bad_extra(void)
{
    const char *topics[] = {"x", NULL};
    struct bf_err err = {0};
    struct bf_cfg *cfg;

    setenv("BADGEFLOW_KAFKA_EXTRA", "socket.timeout.ms=1000, no.such.property=1", 1);
    cfg = load_cfg();
    CHECK(bf_kafka_consumer_new(cfg, "g", topics, &err) == NULL);
    CHECK_CONTAINS(err.msg, "kafka.extra");
    CHECK_CONTAINS(err.msg, "no.such.property");
    bf_cfg_free(cfg);
    setenv("BADGEFLOW_KAFKA_EXTRA", "novalue", 1);
    cfg = load_cfg();
    CHECK(bf_kafka_producer_new(cfg, NULL, NULL, &err) == NULL);
    CHECK_CONTAINS(err.msg, "must be name=value");
    bf_cfg_free(cfg);
    unsetenv("BADGEFLOW_KAFKA_EXTRA");
}

static void test_ping_down(void)
{
    struct bf_err err = {0};
    struct bf_cfg *cfg;
    int64_t t0 = bf_mono_ms();

    setenv("BADGEFLOW_KAFKA_BROKERS", "127.0.0.1:1", 1);
    cfg = load_cfg();
    CHECK(bf_kafka_ping(cfg, 500, &err) == -BF_ETRANSIENT);
    CHECK(bf_mono_ms() - t0 < 3000);
    CHECK_CONTAINS(err.msg, "127.0.0.1:1");
    bf_cfg_free(cfg);
}

static int produce_keyed(struct bf_kafka_producer *p, const char *topic, const char *key,
                         const char *id, int n)
{
    char value[64];
    struct bf_err err = {0};
    const struct bf_kafka_header h[] = {
        {BF_CE_SPECVERSION, "1.0", 3},
        {BF_CE_ID, id, strlen(id)},
        {BF_CE_TYPE, "org.badgeflow.test.ping.v1", 26},
        {BF_CE_SOURCE, "/badgeflow/test", 15},
        {"x-binary", "\0\1", 2},
        {"x-null", NULL, 0},
    };

    snprintf(value, sizeof(value), "{\"n\":%d}", n);
    return bf_kafka_produce(p, topic, key, strlen(key), h, BF_ARRAY_LEN(h), value, strlen(value),
                            NULL, &err);
}

static int produce_ping(struct bf_kafka_producer *p, const char *topic, const char *id, int n)
{
    return produce_keyed(p, topic, "k1", id, n);
}

static struct bf_kafka_msg *poll_one(struct bf_kafka_consumer *c, int timeout_ms)
{
    int64_t until = bf_mono_ms() + timeout_ms;
    struct bf_kafka_msg *msg = NULL;

    while (!msg && bf_mono_ms() < until) {
        if (bf_kafka_consumer_poll(c, 100, &msg) < 0)
            return NULL;
    }
    return msg;
}

static void check_ping_msg(const struct bf_kafka_msg *msg, const char *id)
{
    const struct bf_kafka_header *h;

    CHECK_STR(msg->ce.id, id);
    CHECK_STR(msg->ce.type, "org.badgeflow.test.ping.v1");
    CHECK_STR(msg->ce.specversion, "1.0");
    CHECK(msg->ce.time == NULL);
    CHECK(msg->key_len == 2 && memcmp(msg->key, "k1", 2) == 0);
    CHECK(msg->nheaders == 6);
    h = bf_kafka_msg_header(msg, "x-binary");
    CHECK(h && h->len == 2 && memcmp(h->value, "\0\1", 2) == 0);
    h = bf_kafka_msg_header(msg, "x-null");
    CHECK(h && h->value == NULL);
}

/* Produce, consume, store, close; a second consumer of the group starts after it. */
static void test_roundtrip(struct bf_cfg *cfg, const char *topic)
{
    const char *topics[] = {topic, NULL};
    struct bf_err err = {0};
    struct bf_kafka_producer *p = bf_kafka_producer_new(cfg, dr, NULL, &err);
    struct bf_kafka_consumer *c;
    struct bf_kafka_msg *msg;
    char group[64];

    snprintf(group, sizeof(group), "bf-test-kafka-%d", (int)getpid());
    CHECK(p != NULL);
    CHECK(produce_ping(p, topic, "id-1", 1) == 0);
    CHECK(produce_ping(p, topic, "id-2", 2) == 0);
    CHECK(bf_kafka_producer_flush(p, 10000) == 0);
    CHECK(delivered == 2 && failed == 0);
    CHECK(bf_kafka_producer_ping(p, 2000) == 0);

    c = bf_kafka_consumer_new(cfg, group, topics, &err);
    CHECK(c != NULL);
    msg = poll_one(c, 20000);
    CHECK(msg != NULL);
    if (msg) {
        check_ping_msg(msg, "id-1");
        CHECK(bf_kafka_consumer_owns(c, topic, msg->partition));
        CHECK(!bf_kafka_consumer_owns(c, "no.such.topic", 0));
        CHECK(bf_kafka_store_offset(c, msg) == 0);
    }
    bf_kafka_msg_free(msg);
    CHECK(bf_kafka_consumer_ping(c, 2000) == 0);
    CHECK(bf_kafka_consumer_close(c) == 0);

    /* id-1 was stored and committed at close: the next member starts at id-2. */
    c = bf_kafka_consumer_new(cfg, group, topics, &err);
    msg = poll_one(c, 20000);
    CHECK(msg && strcmp(msg->ce.id, "id-2") == 0);
    bf_kafka_msg_free(msg);

    /* Paused: nothing arrives; resumed: the next record does. */
    bf_kafka_consumer_pause_all(c);
    CHECK(produce_ping(p, topic, "id-3", 3) == 0);
    CHECK(bf_kafka_producer_flush(p, 10000) == 0);
    msg = poll_one(c, 1500);
    CHECK(msg == NULL);
    bf_kafka_msg_free(msg);
    bf_kafka_consumer_resume_all(c);
    msg = poll_one(c, 10000);
    CHECK(msg && strcmp(msg->ce.id, "id-3") == 0);
    bf_kafka_msg_free(msg);
    CHECK(bf_kafka_consumer_close(c) == 0);
    bf_kafka_producer_free(p);
}

/* Poll c1 and (when set) c2 until c1 owns `want` partitions of the topic, or time out. */
static bool settle(struct bf_kafka_consumer *c1, struct bf_kafka_consumer *c2, const char *topic,
                   int want, int timeout_ms)
{
    int64_t until = bf_mono_ms() + timeout_ms;
    struct bf_kafka_msg *msg = NULL;

    while (bf_mono_ms() < until) {
        int owned = bf_kafka_consumer_owns(c1, topic, 0) + bf_kafka_consumer_owns(c1, topic, 1);
        if (owned == want &&
            (!c2 || bf_kafka_consumer_owns(c2, topic, 0) || bf_kafka_consumer_owns(c2, topic, 1)))
            return true;
        if (bf_kafka_consumer_poll(c1, 100, &msg) == 0)
            bf_kafka_msg_free(msg);
        msg = NULL;
        if (c2 && bf_kafka_consumer_poll(c2, 100, &msg) == 0)
            bf_kafka_msg_free(msg);
        msg = NULL;
    }
    return false;
}

/*
 * A partition revoked while paused and assigned again after the consumer resumed is fetched:
 * librdkafka keeps the pause flag of a partition across revoke and assign, and a consumer
 * that resumed meanwhile must not inherit it (the transcoder stalled this way after a broker
 * restart: session timeout while paused, resume, reassignment).
 */
static void test_pause_across_rebalance(struct bf_cfg *cfg, const char *topic)
{
    const char *topics[] = {topic, NULL};
    struct bf_err err = {0};
    struct bf_kafka_producer *p = bf_kafka_producer_new(cfg, dr, NULL, &err);
    struct bf_kafka_consumer *c1, *c2;
    struct bf_kafka_msg *msg = NULL;
    bool seen[2] = {false, false};
    char group[64], key[16];
    int got = 0;

    snprintf(group, sizeof(group), "bf-test-pause-%d", (int)getpid());
    c1 = bf_kafka_consumer_new(cfg, group, topics, &err);
    CHECK(p && c1);
    CHECK(settle(c1, NULL, topic, 2, 20000));
    bf_kafka_consumer_pause_all(c1);

    /* A second member takes one partition away from the paused c1 ... */
    c2 = bf_kafka_consumer_new(cfg, group, topics, &err);
    CHECK(c2 && settle(c1, c2, topic, 1, 30000));
    /* ... c1 resumes while it does not own it, and gets it back when c2 leaves. */
    bf_kafka_consumer_resume_all(c1);
    CHECK(bf_kafka_consumer_close(c2) == 0);
    CHECK(settle(c1, NULL, topic, 2, 30000));

    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        CHECK(produce_keyed(p, topic, key, key, i) == 0);
    }
    CHECK(bf_kafka_producer_flush(p, 10000) == 0);
    for (int64_t until = bf_mono_ms() + 15000; got < 40 && bf_mono_ms() < until; msg = NULL) {
        if (bf_kafka_consumer_poll(c1, 100, &msg) == 0 && msg) {
            seen[msg->partition & 1] = true;
            got++;
        }
        bf_kafka_msg_free(msg);
    }
    CHECK(seen[0] && seen[1]);
    CHECK(got == 40);
    CHECK(bf_kafka_consumer_close(c1) == 0);
    bf_kafka_producer_free(p);
}

static void test_broker(void)
{
    struct bf_cfg *cfg = load_cfg();
    struct bf_err err = {0};
    char topic[128];
    const char *names[1] = {topic};

    CHECK(bf_kafka_ping(cfg, 5000, &err) == 0);
    CHECK(bf_kafka_topic_name(cfg, "roundtrip", topic, sizeof(topic)) == 0);
    CHECK(bf_kafka_create_topics(cfg, names, 1, 1, &err) == 0);
    CHECK(bf_kafka_create_topics(cfg, names, 1, 1, &err) == 0); /* exists: fine */
    names[0] = "bad topic name!";
    CHECK(bf_kafka_create_topics(cfg, names, 1, 1, &err) < 0);
    CHECK_CONTAINS(err.msg, "bad topic name!");
    test_roundtrip(cfg, topic);

    CHECK(bf_kafka_topic_name(cfg, "pause", topic, sizeof(topic)) == 0);
    names[0] = topic;
    CHECK(bf_kafka_create_topics(cfg, names, 1, 2, &err) == 0);
    test_pause_across_rebalance(cfg, topic);
    bf_cfg_free(cfg);
}

int main(void)
{
    const char *brokers = getenv("BADGEFLOW_KAFKA_BROKERS");

    bf_log_init("test_kafka", BF_LOG_WARN, stderr);
    snprintf(prefix, sizeof(prefix), "bftest%d.", (int)getpid());
    setenv("BADGEFLOW_KAFKA_TOPIC_PREFIX", prefix, 1);
    BF_TEST_RUN(test_topic_name);
    BF_TEST_RUN(test_bad_extra);
    if (brokers) {
        BF_TEST_RUN(test_broker);
    } else {
        bf_test_skip("test_broker: BADGEFLOW_KAFKA_BROKERS is not set (source the stack.env "
                     "of deploy/local/stack.sh)");
    }
    BF_TEST_RUN(test_ping_down);
    return BF_TEST_DONE();
}
