/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of pg.c, inbox.c and outbox.c against the real PostgreSQL (and Kafka) of the
 * local stack: a scratch database per run, created through BADGEFLOW_STACK_PG_ADMIN_CONNINFO. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "badgeflow/log.h"
#include "badgeflow/pg.h"
#include "badgeflow/trace.h"
#include "bf_test.h"

static char dbname[64], conninfo[512], tmpdir[128];

/* Run one statement on the admin connection; 0 on success. */
static int admin(const char *sql)
{
    PGconn *c = PQconnectdb(getenv("BADGEFLOW_STACK_PG_ADMIN_CONNINFO"));
    PGresult *res = PQexec(c, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

    if (!ok)
        fprintf(stderr, "admin: %s: %s", sql, PQerrorMessage(c));
    PQclear(res);
    PQfinish(c);
    return ok ? 0 : -1;
}

static struct bf_pg *connect_new(void)
{
    struct bf_err err = {0};
    struct bf_pg *pg = bf_pg_new(conninfo, &err);

    CHECK(pg != NULL);
    CHECK(bf_pg_connect(pg, NULL, &err) == 0);
    return pg;
}

static void exec_ok(struct bf_pg *pg, const char *sql)
{
    struct bf_err err = {0};
    PGresult *res = bf_pg_query(pg, sql, 0, NULL, &err);

    CHECK(res != NULL);
    if (!res)
        fprintf(stderr, "  %s: %s\n", sql, err.msg);
    PQclear(res);
}

static void test_down(void)
{
    struct bf_err err = {0};
    struct bf_pg *pg = bf_pg_new("host=127.0.0.1 port=1 dbname=x connect_timeout=2", &err);
    int64_t t0 = bf_mono_ms();

    CHECK(bf_pg_ensure(pg, &err) == -BF_ETRANSIENT);
    CHECK_CONTAINS(err.msg, "postgres: connect");
    /* Within the back-off no new attempt is made. */
    CHECK(bf_pg_ensure(pg, &err) == -BF_ETRANSIENT);
    CHECK_CONTAINS(err.msg, "next attempt in");
    CHECK(bf_pg_query(pg, "SELECT 1", 0, NULL, &err) == NULL);
    CHECK(err.code == BF_ETRANSIENT);
    CHECK(bf_pg_ping(pg, &err) == -BF_ETRANSIENT);
    CHECK(bf_mono_ms() - t0 < 2000);
    bf_pg_free(pg);
}

static void test_classify(void)
{
    struct bf_pg *pg = connect_new();
    struct bf_err err = {0};

    exec_ok(pg, "CREATE TABLE t_class (k int PRIMARY KEY, v int NOT NULL CHECK (v > 0))");
    exec_ok(pg, "INSERT INTO t_class VALUES (1, 1)");
    CHECK(bf_pg_query(pg, "INSERT INTO t_class VALUES (1, 1)", 0, NULL, &err) == NULL);
    CHECK(err.code == BF_ECONFLICT);
    CHECK_CONTAINS(err.msg, "23505");
    CHECK(bf_pg_query(pg, "INSERT INTO t_class VALUES (2, 0)", 0, NULL, &err) == NULL);
    CHECK(err.code == BF_EINVAL);
    CHECK(bf_pg_query(pg, "SELECT 1/0", 0, NULL, &err) == NULL);
    CHECK(err.code == BF_EINVAL);
    CHECK(bf_pg_query(pg, "SELEKT", 0, NULL, &err) == NULL);
    CHECK(err.code == BF_EINTERNAL);
    CHECK(bf_pg_ping(pg, &err) == 0);
    bf_pg_free(pg);
}

static void test_prepare_and_reconnect(void)
{
    struct bf_pg *pg = connect_new(), *killer = connect_new();
    struct bf_err err = {0};
    const char *p[1] = {"41"};
    char sql[128];
    PGresult *res;
    unsigned gen = bf_pg_generation(pg);

    CHECK(bf_pg_prepare(pg, "plus1", "SELECT $1::int + 1", &err) == 0);
    CHECK(bf_pg_prepare(pg, "plus1", "SELECT $1::int + 1", &err) == 0);
    CHECK(bf_pg_prepare(pg, "plus1", "SELECT 2", &err) == -BF_EINVAL);
    CHECK(bf_pg_prepare(pg, "broken", "SELEKT", &err) == -BF_EINVAL);
    res = bf_pg_exec(pg, "plus1", 1, p, &err);
    CHECK(res && strcmp(PQgetvalue(res, 0, 0), "42") == 0);
    PQclear(res);

    /* The server ends the session: the next statement fails as transient, the one after
     * reconnects and finds the statement prepared again. */
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", PQbackendPID(bf_pg_conn(pg)));
    exec_ok(killer, sql);
    CHECK(bf_pg_exec(pg, "plus1", 1, p, &err) == NULL);
    CHECK(err.code == BF_ETRANSIENT);
    res = bf_pg_exec(pg, "plus1", 1, p, &err);
    CHECK(res && strcmp(PQgetvalue(res, 0, 0), "42") == 0);
    PQclear(res);
    CHECK(bf_pg_generation(pg) == gen + 1);
    bf_pg_free(pg);
    bf_pg_free(killer);
}

static int tx_insert(struct bf_pg *pg, void *arg, struct bf_err *err)
{
    PGresult *res = bf_pg_query(pg, "INSERT INTO t_tx VALUES (1)", 0, NULL, err);

    PQclear(res);
    if (!res)
        return -err->code;
    return arg ? bf_err_set(err, BF_EINVAL, "handler says no") : 0;
}

static long long count(struct bf_pg *pg, const char *sql)
{
    struct bf_err err = {0};
    PGresult *res = bf_pg_query(pg, sql, 0, NULL, &err);
    long long n = res ? atoll(PQgetvalue(res, 0, 0)) : -1;

    PQclear(res);
    return n;
}

static void test_tx(void)
{
    struct bf_pg *pg = connect_new(), *killer = connect_new();
    struct bf_err err = {0};
    char sql[128];

    exec_ok(pg, "CREATE TABLE t_tx (v int)");
    CHECK(bf_pg_tx(pg, tx_insert, (void *)1, &err) == -BF_EINVAL);
    CHECK(count(pg, "SELECT count(*) FROM t_tx") == 0);
    CHECK(bf_pg_tx(pg, tx_insert, NULL, &err) == 0);
    CHECK(count(pg, "SELECT count(*) FROM t_tx") == 1);

    /* A failed statement makes COMMIT a rollback: reported as an error. */
    CHECK(bf_pg_begin(pg, &err) == 0);
    CHECK(bf_pg_query(pg, "SELECT 1/0", 0, NULL, &err) == NULL);
    CHECK(bf_pg_commit(pg, &err) < 0);
    CHECK(!bf_pg_in_tx(pg));

    /* Connection lost inside a transaction: no silent reconnect until it ends. */
    CHECK(bf_pg_begin(pg, &err) == 0);
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", PQbackendPID(bf_pg_conn(pg)));
    exec_ok(killer, sql);
    CHECK(bf_pg_query(pg, "INSERT INTO t_tx VALUES (2)", 0, NULL, &err) == NULL);
    CHECK(err.code == BF_ETRANSIENT);
    CHECK(bf_pg_query(pg, "INSERT INTO t_tx VALUES (3)", 0, NULL, &err) == NULL);
    CHECK_CONTAINS(err.msg, "inside a transaction");
    bf_pg_rollback(pg);
    CHECK(count(pg, "SELECT count(*) FROM t_tx") == 1);
    bf_pg_free(pg);
    bf_pg_free(killer);
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void remove_file(const char *name)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    unlink(path);
}

static void test_migrate(void)
{
    struct bf_pg *pg = connect_new();
    struct bf_err err = {0};

    write_file("0001_a.sql", "CREATE TABLE m_a (x int);\nINSERT INTO m_a VALUES (1);\n");
    write_file("0002_b.sql", "CREATE TABLE m_b (x int);");
    write_file("README", "not a migration");
    CHECK(bf_pg_migrate(pg, tmpdir, &err) == 2);
    CHECK(bf_pg_migrate(pg, tmpdir, &err) == 0);
    CHECK(count(pg, "SELECT count(*) FROM m_a") == 1);
    CHECK(count(pg, "SELECT count(*) FROM schema_migrations") == 2);

    write_file("0004_d.sql", "CREATE TABLE m_d (x int);");
    CHECK(bf_pg_migrate(pg, tmpdir, &err) == -BF_EINVAL);
    CHECK_CONTAINS(err.msg, "0004_d.sql: migration 0003 is missing");
    write_file("0003_c.sql", "CREATE TABLE m_c (x int); SELEKT;");
    CHECK(bf_pg_migrate(pg, tmpdir, &err) < 0);
    CHECK_CONTAINS(err.msg, "0003_c.sql");
    CHECK(count(pg, "SELECT count(*) FROM pg_tables WHERE tablename = 'm_c'") == 0);
    write_file("0003_c.sql", "CREATE TABLE m_c (x int);");
    CHECK(bf_pg_migrate(pg, tmpdir, &err) == 2);

    write_file("0001_a.sql", "CREATE TABLE m_a (x bigint);\n");
    CHECK(bf_pg_migrate(pg, tmpdir, &err) == -BF_ECONFLICT);
    CHECK_CONTAINS(err.msg, "0001_a.sql: changed after it was applied");
    write_file("0001_a.sql", "CREATE TABLE m_a (x int);\nINSERT INTO m_a VALUES (1);\n");
    write_file("5_bad.sql", "SELECT 1;");
    CHECK(bf_pg_migrate(pg, tmpdir, &err) == -BF_EINVAL);
    CHECK_CONTAINS(err.msg, "5_bad.sql: must be named NNNN_name.sql");
    remove_file("5_bad.sql");
    CHECK(bf_pg_migrate(pg, "/nonexistent", &err) == -BF_EIO);
    bf_pg_free(pg);
}

/* The real core migration (0001_core.sql) into this database, for the inbox/outbox tests. */
static int apply_core(struct bf_pg *pg)
{
    char src[512], dst[256], dir[160], buf[8192];
    const char *root = getenv("BF_SOURCE_DIR");
    struct bf_err err = {0};
    FILE *in, *out;
    size_t n;

    snprintf(dir, sizeof(dir), "%s/core", tmpdir);
    mkdir(dir, 0700);
    snprintf(src, sizeof(src), "%s/db/migrations/0001_core.sql", root ? root : ".");
    snprintf(dst, sizeof(dst), "%s/0001_core.sql", dir);
    in = fopen(src, "r");
    out = fopen(dst, "w");
    if (!in || !out) {
        fprintf(stderr, "cannot copy %s (set BF_SOURCE_DIR)\n", src);
        if (in)
            fclose(in);
        if (out)
            fclose(out);
        return -1;
    }
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    if (bf_pg_migrate(pg, dir, &err) < 0) {
        fprintf(stderr, "core migration: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static void test_inbox(struct bf_pg *pg)
{
    struct bf_err err = {0};
    bool fresh = false;

    CHECK(bf_inbox_claim(pg, "g1", "ev-1", "t", 0, 5, &fresh, &err) == 0 && fresh);
    CHECK(bf_inbox_claim(pg, "g1", "ev-1", "t", 0, 5, &fresh, &err) == 0 && !fresh);
    CHECK(bf_inbox_claim(pg, "g2", "ev-1", "t", 0, 5, &fresh, &err) == 0 && fresh);
    CHECK(bf_inbox_dead_letter(pg, "g1", "kafka:t:0:6", "t", 0, 6, "bad", &fresh, &err) == 0);
    CHECK(fresh);
    CHECK(count(pg, "SELECT count(*) FROM inbox WHERE outcome = 'dead_lettered' AND reason = "
                    "'bad' AND koffset = 6") == 1);
}

static void test_outbox_rows(struct bf_pg *pg)
{
    const struct bf_outbox_ctx ctx = {"svc", "/badgeflow/svc", "pre."};
    json_t *data = json_pack("{sisss[]}", "n", 7, "tenant_id", "t1", "list");
    struct bf_emit e = {"out",
                        "org.badgeflow.test.pong.v1",
                        "key-1",
                        "sub-1",
                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                        data};
    char id[BF_UUID_STRLEN + 1] = "", sql[512];
    struct bf_err err = {0};
    const struct bf_kafka_header raw[] = {
        {"ce_id", "x", 1}, {"bin", "\0\xff", 2}, {"nul", NULL, 0}};

    CHECK(bf_outbox_emit(pg, &ctx, &e, id, &err) == 0);
    CHECK(bf_uuid_valid(id));
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM outbox WHERE service = 'svc' AND topic = 'pre.out' AND "
             "msg_key = 'key-1' AND convert_from(payload, 'UTF8') = "
             "'{\"list\":[],\"n\":7,\"tenant_id\":\"t1\"}' AND headers @> '[[\"ce_id\", \"%s\"], "
             "[\"ce_subject\", \"sub-1\"], [\"content-type\", \"application/json\"]]' AND "
             "headers::text LIKE '%%4bf92f3577b34da6a3ce929d0e0e4736%%'",
             id);
    CHECK(count(pg, sql) == 1);
    e.data = NULL;
    CHECK(bf_outbox_emit(pg, &ctx, &e, id, &err) == -BF_EINTERNAL);
    CHECK(bf_outbox_add_raw(pg, "svc", "pre.out.dlq", NULL, 0, raw, 3, "\0x", 2, &err) == 0);
    CHECK(count(pg, "SELECT count(*) FROM outbox WHERE topic = 'pre.out.dlq' AND msg_key IS NULL "
                    "AND headers = '[[\"ce_id\",\"x\"],[\"Ymlu\",\"AP8=\",\"base64\"],"
                    "[\"nul\",null]]' AND payload = '\\x0078'::bytea") == 1);
    json_decref(data);
}

static struct bf_cfg *load_cfg(void)
{
    const struct bf_cfg_def *tables[] = {bf_cfg_common_defs, NULL};
    struct bf_err err = {0};
    struct bf_cfg *cfg = bf_cfg_load(tables, NULL, NULL, &err);

    if (!cfg)
        fprintf(stderr, "config: %s\n", err.msg);
    return cfg;
}

static int emit_n(struct bf_pg *pg, const struct bf_outbox_ctx *ctx, int n)
{
    struct bf_err err = {0};
    int rc = 0;

    for (int i = 0; i < n && rc == 0; i++) {
        json_t *data = json_pack("{si}", "n", i);
        struct bf_emit e = {"out", "org.badgeflow.test.pong.v1", "k", NULL, NULL, data};
        rc = bf_outbox_emit(pg, ctx, &e, NULL, &err);
        json_decref(data);
    }
    return rc;
}

/* Run the relays until cond holds or timeout_ms passes. */
#define RUN_RELAYS_UNTIL(cond, timeout_ms, ...)                                                    \
    do {                                                                                           \
        int64_t until_ = bf_mono_ms() + (timeout_ms);                                              \
        struct bf_outbox_relay *rs_[] = {__VA_ARGS__};                                             \
        while (!(cond) && bf_mono_ms() < until_) {                                                 \
            for (size_t i_ = 0; i_ < sizeof(rs_) / sizeof(rs_[0]); i_++)                           \
                bf_outbox_relay_run(rs_[i_], 100);                                                 \
            usleep(10000);                                                                         \
        }                                                                                          \
    } while (0)

#define UNSENT "SELECT count(*) FROM outbox WHERE service = 'relaytest' AND sent_at IS NULL"

/* Consume the topic from the start: distinct ce_ids seen, and whether a binary DLQ header
 * came back byte for byte. */
static int consume_all(struct bf_cfg *cfg, const char *topic, int want, bool *bin_ok)
{
    const char *topics[] = {topic, NULL};
    char group[64], seen[256][BF_UUID_STRLEN + 1];
    struct bf_err err = {0};
    struct bf_kafka_consumer *c;
    int nseen = 0;
    int64_t until = bf_mono_ms() + 20000;

    snprintf(group, sizeof(group), "verify-%d", (int)getpid());
    c = bf_kafka_consumer_new(cfg, group, topics, &err);
    while (c && nseen < want && bf_mono_ms() < until) {
        struct bf_kafka_msg *m = NULL;
        if (bf_kafka_consumer_poll(c, 200, &m) < 0 || !m)
            continue;
        const struct bf_kafka_header *h = bf_kafka_msg_header(m, "bin");
        if (h && h->len == 2 && memcmp(h->value, "\0\xff", 2) == 0)
            *bin_ok = true;
        bool dup = false;
        for (int i = 0; m->ce.id && i < nseen; i++)
            dup = dup || strcmp(seen[i], m->ce.id) == 0;
        bool traced = bf_trace_valid(m->ce.traceparent) || (m->ce.id && !strcmp(m->ce.id, "raw-1"));
        if (m->ce.id && !dup && nseen < 256 && traced)
            bf_strlcpy(seen[nseen++], m->ce.id, sizeof(seen[0]));
        bf_kafka_msg_free(m);
    }
    (void)bf_kafka_consumer_close(c);
    return nseen;
}

static void test_relay(struct bf_pg *pg)
{
    struct bf_cfg *cfg = load_cfg();
    struct bf_err err = {0};
    char prefix[64], topic[128];
    const char *names[1] = {topic};
    const struct bf_outbox_ctx ctx = {"relaytest", "/badgeflow/relaytest", prefix};
    const struct bf_kafka_header bin[] = {{"ce_id", "raw-1", 5}, {"bin", "\0\xff", 2}};
    struct bf_outbox_relay *r1, *r2;
    struct bf_pg *late = connect_new();
    bool bin_ok = false;

    snprintf(prefix, sizeof(prefix), "%s.", dbname);
    snprintf(topic, sizeof(topic), "%sout", prefix);
    CHECK(bf_kafka_create_topics(cfg, names, 1, 3, &err) == 0);
    r1 = bf_outbox_relay_new(conninfo, "relaytest", cfg, &err);
    r2 = bf_outbox_relay_new(conninfo, "relaytest", cfg, &err);
    CHECK(r1 && r2);
    if (!r1 || !r2)
        goto out;

    CHECK(bf_pg_begin(pg, &err) == 0 && emit_n(pg, &ctx, 50) == 0 && bf_pg_commit(pg, &err) == 0);
    CHECK(bf_outbox_add_raw(pg, "relaytest", topic, NULL, 0, bin, 2, "{}", 2, &err) == 0);
    RUN_RELAYS_UNTIL(count(pg, UNSENT) == 0, 20000, r1, r2);
    CHECK(count(pg, UNSENT) == 0);
    CHECK(bf_outbox_relay_leader(r1) != bf_outbox_relay_leader(r2));

    /* A row with a smaller id that commits after a larger one is still published. */
    CHECK(bf_pg_begin(late, &err) == 0 && emit_n(late, &ctx, 1) == 0);
    CHECK(emit_n(pg, &ctx, 1) == 0);
    RUN_RELAYS_UNTIL(count(pg, UNSENT) == 0, 10000, r1, r2);
    CHECK(bf_pg_commit(late, &err) == 0);
    RUN_RELAYS_UNTIL(count(pg, UNSENT) == 0, 10000, r1, r2);
    CHECK(count(pg, UNSENT) == 0);
    CHECK(bf_outbox_relay_flush(r1, 5000) == 0);

    /* The leader goes: the other takes over within the lock retry. */
    struct bf_outbox_relay *follower = bf_outbox_relay_leader(r1) ? r2 : r1;
    bf_outbox_relay_free(follower == r1 ? r2 : r1);
    CHECK(emit_n(pg, &ctx, 1) == 0);
    RUN_RELAYS_UNTIL(count(pg, UNSENT) == 0, 10000, follower);
    CHECK(count(pg, UNSENT) == 0);
    CHECK(bf_outbox_relay_leader(follower));
    CHECK(bf_outbox_relay_flush(follower, 5000) == 0);
    bf_outbox_relay_free(follower);
    r1 = r2 = NULL;

    CHECK(consume_all(cfg, topic, 54, &bin_ok) == 54);
    CHECK(bin_ok);
out:
    bf_outbox_relay_free(r1);
    bf_outbox_relay_free(r2);
    bf_pg_free(late);
    bf_cfg_free(cfg);
}

static void test_db(void)
{
    struct bf_pg *pg = connect_new();

    exec_ok(pg, "DROP TABLE schema_migrations"); /* test_migrate's */
    if (apply_core(pg) < 0) {
        CHECK(!"core migration");
        bf_pg_free(pg);
        return;
    }
    test_inbox(pg);
    test_outbox_rows(pg);
    if (getenv("BADGEFLOW_KAFKA_BROKERS"))
        test_relay(pg);
    else
        bf_test_skip("test_relay: BADGEFLOW_KAFKA_BROKERS is not set");
    bf_pg_free(pg);
}

int main(void)
{
    const char *admin_ci = getenv("BADGEFLOW_STACK_PG_ADMIN_CONNINFO");
    const char *base = getenv("BADGEFLOW_POSTGRES_CONNINFO");
    char sql[128];

    bf_log_init("test_pg", BF_LOG_WARN, stderr);
    BF_TEST_RUN(test_down);
    if (!admin_ci || !base) {
        bf_test_skip("the database tests: source the stack.env of deploy/local/stack.sh");
        return BF_TEST_DONE();
    }
    snprintf(dbname, sizeof(dbname), "bftest_pg_%d", (int)getpid());
    snprintf(conninfo, sizeof(conninfo), "%s dbname=%s", base, dbname);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/bftest_pg_%d", (int)getpid());
    mkdir(tmpdir, 0700);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s OWNER badgeflow", dbname);
    if (admin(sql) == 0) {
        BF_TEST_RUN(test_classify);
        BF_TEST_RUN(test_prepare_and_reconnect);
        BF_TEST_RUN(test_tx);
        BF_TEST_RUN(test_migrate);
        BF_TEST_RUN(test_db);
        snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", dbname);
        admin(sql);
    } else {
        CHECK(!"create the scratch database");
    }
    return BF_TEST_DONE();
}
