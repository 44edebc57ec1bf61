/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of cfg.c: file and environment, types, bounds, errors with file:line:key. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "badgeflow/cfg.h"
#include "badgeflow/log.h"
#include "bf_test.h"

static const struct bf_cfg_def svc_defs[] = {
    {"router", "max_batch", BF_CFG_INT, "100", 1, 1000, NULL, 0, "Batch size"},
    {"router", "lease", BF_CFG_DURATION, "2d", 1000, 86400000LL * 30, NULL, 0, "Lease"},
    {"router", "scratch", BF_CFG_SIZE, "64M", 0, 0, NULL, 0, "Scratch space"},
    {"router", "mode", BF_CFG_ENUM, "fair", 0, 0, "fair|fifo", 0, "Queue mode"},
    {"router", "enabled", BF_CFG_BOOL, "true", 0, 0, NULL, 0, "Enabled"},
    {"router", "token", BF_CFG_STR, NULL, 0, 0, NULL, BF_CFG_SECRET | BF_CFG_REQUIRED, "Token"},
    {NULL, NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};
static const struct bf_cfg_def *const tables[] = {bf_cfg_common_defs, svc_defs, NULL};

/* Write text to a fresh temp file; returns its path (static buffer). */
static const char *write_file(const char *text)
{
    static char path[64];
    FILE *f;
    int fd;

    snprintf(path, sizeof(path), "/tmp/bf-test-cfg-XXXXXX");
    fd = mkstemp(path);
    f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static struct bf_cfg *load(const char *text, char **env, struct bf_err *err)
{
    const char *path = text ? write_file(text) : NULL;
    struct bf_cfg *cfg = bf_cfg_load(tables, path, env, err);

    if (path)
        unlink(path);
    return cfg;
}

static void test_defaults_file_env(void)
{
    char *env[] = {"BADGEFLOW_ROUTER_MAX_BATCH=7", "BADGEFLOW_ROUTER_TOKEN=s3cret-value",
                   "PATH=/bin", "BADGEFLOW_STACK_DIR=/tmp/x", NULL};
    struct bf_err err = {0};
    struct bf_cfg *cfg = load("# comment\n[kafka]\nbrokers = 10.0.0.1:9092 \n"
                              "[router]\nmax_batch = 50\nlease = 90m\nscratch=1G\n"
                              "mode = \"fifo\"\nenabled = off\n",
                              env, &err);

    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK_STR(bf_cfg_str(cfg, "kafka.brokers"), "10.0.0.1:9092");
    CHECK(bf_cfg_int(cfg, "router.max_batch") == 7);
    CHECK(bf_cfg_int(cfg, "router.lease") == 90LL * 60 * 1000);
    CHECK(bf_cfg_int(cfg, "router.scratch") == 1LL << 30);
    CHECK_STR(bf_cfg_str(cfg, "router.mode"), "fifo");
    CHECK(!bf_cfg_bool(cfg, "router.enabled"));
    CHECK_STR(bf_cfg_str(cfg, "log.level"), "info");
    CHECK(bf_cfg_int(cfg, "kafka.session_timeout") == 45000);
    bf_cfg_free(cfg);
}

/* Load text (with a token in the environment) and expect failure with msg containing want. */
static void expect_error(const char *text, const char *want)
{
    char *env[] = {"BADGEFLOW_ROUTER_TOKEN=t0ken", NULL};
    struct bf_err err = {0};
    struct bf_cfg *cfg = load(text, env, &err);

    CHECK(cfg == NULL);
    CHECK_CONTAINS(err.msg, want);
    bf_cfg_free(cfg);
}

static void test_errors_name_file_line_key(void)
{
    expect_error("[router]\n\nmax_batch = 5000\n", ":3: router.max_batch: 5000 is out of bounds");
    expect_error("[router]\nmax_btach = 5\n", ":2: router.max_btach: unknown key");
    expect_error("[routr]\n", ":1: unknown section [routr]");
    expect_error("[router]\nmode = lifo\n", "router.mode: must be one of fair|fifo, not 'lifo'");
    expect_error("[router]\nlease = soon\n", "router.lease: must be a duration");
    expect_error("[router]\nenabled = maybe\n", "router.enabled: must be true or false");
    expect_error("[router]\nmax_batch = 1\nmax_batch = 2\n", ":3: router.max_batch: set twice");
    expect_error("max_batch = 1\n", ":1: key outside of a [section]");
    expect_error("[router]\njunk\n", ":2: expected 'key = value'");
    expect_error("[router]\nmode = \"fifo\n", "unterminated quoted value");
}

static void test_env_errors(void)
{
    char *bad_value[] = {"BADGEFLOW_ROUTER_TOKEN=t", "BADGEFLOW_ROUTER_MAX_BATCH=lots", NULL};
    char *typo[] = {"BADGEFLOW_ROUTER_TOKEN=t", "BADGEFLOW_KAFKA_BROKER=x:1", NULL};
    char *none[] = {NULL};
    struct bf_err err = {0};

    CHECK(load(NULL, bad_value, &err) == NULL);
    CHECK_CONTAINS(err.msg, "environment BADGEFLOW_ROUTER_MAX_BATCH: router.max_batch");
    CHECK(load(NULL, typo, &err) == NULL);
    CHECK_CONTAINS(err.msg, "environment BADGEFLOW_KAFKA_BROKER: unknown key");
    CHECK(load(NULL, none, &err) == NULL);
    CHECK_CONTAINS(err.msg, "router.token: required: set it in the config file or "
                            "BADGEFLOW_ROUTER_TOKEN");
}

static void test_missing_file(void)
{
    struct bf_err err = {0};

    CHECK(bf_cfg_load(tables, "/nonexistent/badgeflow.conf", NULL, &err) == NULL);
    CHECK_CONTAINS(err.msg, "/nonexistent/badgeflow.conf: cannot open");
}

static void test_secret_hidden(void)
{
    char *env[] = {"BADGEFLOW_ROUTER_TOKEN=hunter2-secret", NULL};
    struct bf_err err = {0};
    struct bf_cfg *cfg = load(NULL, env, &err);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);

    CHECK(cfg != NULL);
    bf_cfg_dump(cfg, mem);
    bf_log_init("test", BF_LOG_INFO, mem);
    bf_log_info("BF_TEST", "conninfo password=hunter2-secret host=x");
    fclose(mem);
    CHECK(strstr(buf, "hunter2-secret") == NULL);
    CHECK_CONTAINS(buf, "router.token");
    CHECK_CONTAINS(buf, "(secret)");
    CHECK_CONTAINS(buf, "password=***");
    free(buf);
    bf_cfg_free(cfg);
    bf_log_init("test", BF_LOG_INFO, NULL);
}

static void test_example_documents_every_key(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);

    bf_cfg_write_example("test", "regen", tables, mem);
    fclose(mem);
    CHECK_CONTAINS(buf, "# test configuration");
    CHECK_CONTAINS(buf, "# Regenerate: regen");
    CHECK_CONTAINS(buf, "[router]");
    CHECK_CONTAINS(buf, "#max_batch = 100");
    CHECK_CONTAINS(buf, "environment: BADGEFLOW_KAFKA_BROKERS");
    CHECK_CONTAINS(buf, "token = \n");
    free(buf);
}

int main(void)
{
    BF_TEST_RUN(test_defaults_file_env);
    BF_TEST_RUN(test_errors_name_file_line_key);
    BF_TEST_RUN(test_env_errors);
    BF_TEST_RUN(test_missing_file);
    BF_TEST_RUN(test_secret_hidden);
    BF_TEST_RUN(test_example_documents_every_key);
    return BF_TEST_DONE();
}
