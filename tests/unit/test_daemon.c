/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of daemon.c's front door: arguments, --help, --check-config (the loop itself is
 * proven against the real stack by tests/integration/test_exactly_once.py). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "badgeflow/daemon.h"
#include "bf_test.h"

static int never(void *state, struct bf_event *ev, struct bf_err *err)
{
    (void)state;
    (void)ev;
    return bf_err_set(err, BF_EINTERNAL, "not called");
}

static const struct bf_cfg_def extra_defs[] = {
    {"unit", "answer", BF_CFG_INT, "42", 0, 100, NULL, 0, "An answer"},
    {NULL, NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};

static const struct bf_event_handler handlers[] = {
    {"test.in", "org.badgeflow.test.ping.v1", never},
    {NULL, NULL, NULL},
};

static const struct bf_service svc = {
    .name = "unit",
    .cfg_defs = extra_defs,
    .handlers = handlers,
};

static int run(const char *a1, const char *a2, const char *a3)
{
    char *argv[] = {"badgeflow-unit", (char *)a1, (char *)a2, (char *)a3, NULL};
    int argc = 1 + (a1 != NULL) + (a2 != NULL) + (a3 != NULL);

    return bf_daemon_main(&svc, argc, argv);
}

static const char *write_conf(const char *text)
{
    static char path[64];
    FILE *f;

    snprintf(path, sizeof(path), "/tmp/bftest_daemon_%d.conf", (int)getpid());
    f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static void test_help_and_args(void)
{
    CHECK(run("--help", NULL, NULL) == 0);
    CHECK(run("--bogus", NULL, NULL) == 2);
    CHECK(run("--config", NULL, NULL) == 2);
}

static void test_check_config(void)
{
    const char *path;

    path = write_conf("[unit]\nanswer = 7\n[daemon]\nfault_point = after_commit\n");
    CHECK(run("--config", path, "--check-config") == 0);
    path = write_conf("[unit]\nanswer = 700\n");
    CHECK(run("--check-config", "--config", path) == 2);
    path = write_conf("[nosuch]\nkey = 1\n");
    CHECK(run("--config", path, "--check-config") == 2);
    path = write_conf("[daemon]\nfault_point = sometimes\n");
    CHECK(run("--config", path, "--check-config") == 2);
    path = write_conf("[daemon]\nretry_base = 5s\nretry_max = 1s\n");
    CHECK(run("--config", path, "--check-config") == 2);
    CHECK(run("--config", "/nonexistent/unit.conf", "--check-config") == 2);
    unlink(path);
}

/* daemon.batch_max: 0 (the service's own default) to 1000 records per transaction. */
static void test_batch_max_bounds(void)
{
    static const struct {
        const char *value;
        int rc;
    } cases[] = {{"1", 0}, {"0", 0}, {"1000", 0}, {"-1", 2}, {"1001", 2}};
    const char *path = NULL;
    char text[64];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "[daemon]\nbatch_max = %s\n", cases[i].value);
        path = write_conf(text);
        CHECK(run("--config", path, "--check-config") == cases[i].rc);
    }
    unlink(path);
}

int main(void)
{
    BF_TEST_RUN(test_help_and_args);
    BF_TEST_RUN(test_check_config);
    BF_TEST_RUN(test_batch_max_bounds);
    return BF_TEST_DONE();
}
