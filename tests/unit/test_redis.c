/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of bf_redis against a real redis-server started on a free loopback port. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "badgeflow/redis.h"
#include "badgeflow/util.h"
#include "bf_test.h"

#define PASSWORD "t3st-secret"

static char tmpdir[] = "/tmp/bf-test-redis-XXXXXX";
static char logpath[512];
static int port;
static pid_t server_pid = -1;

/* True if redis-server can be found on PATH. */
static bool have_redis_server(void)
{
    const char *path = getenv("PATH");
    char buf[1024];

    while (path && *path) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);

        snprintf(buf, sizeof(buf), "%.*s/redis-server", (int)n, path);
        if (access(buf, X_OK) == 0)
            return true;
        path = end ? end + 1 : NULL;
    }
    return false;
}

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int p = -1;

    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        p = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return p;
}

static void server_start(void)
{
    char port_txt[16];

    snprintf(port_txt, sizeof(port_txt), "%d", port);
    server_pid = fork();
    if (server_pid == 0) {
        int devnull = open("/dev/null", O_RDWR);

        dup2(devnull, 1);
        dup2(devnull, 2);
        execlp("redis-server", "redis-server", "--port", port_txt, "--bind", "127.0.0.1", "--save",
               "", "--appendonly", "no", "--dir", tmpdir, "--logfile", logpath, "--requirepass",
               PASSWORD, (char *)NULL);
        _exit(127);
    }
}

/* Wait until the server answers an authenticated PING (up to 10 s). */
static bool server_wait(void)
{
    struct bf_redis *r = bf_redis_new("127.0.0.1", port, PASSWORD, 0, 500, NULL);
    bool ok = false;

    for (int i = 0; i < 200 && !ok; i++) {
        ok = bf_redis_ping(r);
        if (!ok)
            usleep(50 * 1000);
    }
    bf_redis_free(r);
    return ok;
}

static void server_stop(int sig)
{
    if (server_pid > 0) {
        kill(server_pid, sig);
        waitpid(server_pid, NULL, 0);
        server_pid = -1;
    }
}

static struct bf_redis *client(int db, long long timeout_ms)
{
    struct bf_err err = {0};
    struct bf_redis *r = bf_redis_new("127.0.0.1", port, PASSWORD, db, timeout_ms, &err);

    CHECK(r != NULL);
    return r;
}

static void test_new_arguments(void)
{
    struct bf_err err = {0};

    CHECK(bf_redis_new(NULL, 6379, NULL, 0, 100, &err) == NULL);
    CHECK(err.code == BF_EINVAL);
    CHECK(bf_redis_new("127.0.0.1", 0, NULL, 0, 100, &err) == NULL);
    CHECK(bf_redis_new("127.0.0.1", 6379, NULL, -1, 100, &err) == NULL);
    CHECK(bf_redis_new("127.0.0.1", 6379, NULL, 0, 0, &err) == NULL);
}

/* Construction does not connect; a dead server fails fast during the back-off. */
static void test_lazy_and_backoff(void)
{
    struct bf_err err = {0};
    struct bf_redis *r = bf_redis_new("127.0.0.1", free_port(), NULL, 0, 200, &err);
    redisReply *rep;
    int64_t t0;

    CHECK(r != NULL);
    rep = bf_redis_cmd(r, &err, "PING");
    CHECK(rep == NULL);
    CHECK(err.code == BF_ETRANSIENT);
    CHECK_CONTAINS(err.msg, "connect");
    t0 = bf_mono_ms();
    rep = bf_redis_cmd(r, &err, "PING");
    CHECK(rep == NULL);
    CHECK(err.code == BF_ETRANSIENT);
    CHECK_CONTAINS(err.msg, "next try in");
    CHECK(bf_mono_ms() - t0 < 20);
    CHECK(!bf_redis_ping(r));
    bf_redis_free(r);
}

/*
 * A listener whose accept queue is full drops new SYNs, so connecting to it hangs (as to a
 * black-holed address): the connect timeout must bound the wait.
 */
static void test_connect_timeout(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), fill[4];
    struct bf_err err = {0};
    struct bf_redis *r;
    redisReply *rep;
    int64_t t0;

    CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 0) == 0 &&
          getsockname(lfd, (struct sockaddr *)&sa, &len) == 0);
    for (size_t i = 0; i < BF_ARRAY_LEN(fill); i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        (void)!connect(fill[i], (struct sockaddr *)&sa, sizeof(sa));
    }
    usleep(50 * 1000);
    r = bf_redis_new("127.0.0.1", ntohs(sa.sin_port), NULL, 0, 300, &err);
    t0 = bf_mono_ms();
    rep = bf_redis_cmd(r, &err, "PING");
    CHECK(rep == NULL);
    CHECK(err.code == BF_ETRANSIENT);
    CHECK(bf_mono_ms() - t0 >= 250 && bf_mono_ms() - t0 < 1500);
    fprintf(stderr, "     stalled connect: %s (%lld ms)\n", err.msg,
            (long long)(bf_mono_ms() - t0));
    bf_redis_free(r);
    for (size_t i = 0; i < BF_ARRAY_LEN(fill); i++)
        close(fill[i]);
    close(lfd);
}

static void test_auth_and_select(void)
{
    struct bf_err err = {0};
    struct bf_redis *bad = bf_redis_new("127.0.0.1", port, "bad-pass-xyz", 0, 1000, &err);
    struct bf_redis *r3 = client(3, 1000), *r0 = client(0, 1000);
    redisReply *rep;

    rep = bf_redis_cmd(bad, &err, "PING");
    CHECK(rep == NULL);
    CHECK(err.code == BF_EDENIED);
    CHECK_CONTAINS(err.msg, "AUTH refused");
    CHECK(strstr(err.msg, "bad-pass-xyz") == NULL); /* never in a message */
    rep = bf_redis_cmd(r3, &err, "SET %s %s", "bf:k", "in-db-3");
    CHECK(rep && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    rep = bf_redis_cmd(r0, &err, "GET %s", "bf:k");
    CHECK(rep && rep->type == REDIS_REPLY_NIL);
    freeReplyObject(rep);
    rep = bf_redis_cmd(r3, &err, "GET %s", "bf:k");
    CHECK(rep && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "in-db-3") == 0);
    freeReplyObject(rep);
    bf_redis_free(bad);
    bf_redis_free(r3);
    bf_redis_free(r0);
}

static void test_error_reply(void)
{
    struct bf_err err = {0};
    struct bf_redis *r = client(0, 1000);
    redisReply *rep;

    rep = bf_redis_cmd(r, &err, "SET %s %s", "bf:s", "abc");
    freeReplyObject(rep);
    rep = bf_redis_cmd(r, &err, "INCR %s", "bf:s");
    CHECK(rep == NULL);
    CHECK(err.code == BF_EINVAL);
    CHECK_STR(err.msg, "ERR value is not an integer or out of range");
    rep = bf_redis_cmd(r, &err, "NOSUCHCOMMAND");
    CHECK(rep == NULL);
    CHECK(err.code == BF_EINVAL);
    CHECK_CONTAINS(err.msg, "unknown command");
    CHECK(bf_redis_ping(r)); /* an error reply leaves the connection usable */
    bf_redis_free(r);
}

static void test_cmdargv_binary(void)
{
    struct bf_err err = {0};
    struct bf_redis *r = client(0, 1000);
    const char *set[] = {"SET", "bf:bin", "a\0b"};
    const size_t setlen[] = {3, 6, 3};
    const char *get[] = {"STRLEN", "bf:bin"};
    redisReply *rep;

    rep = bf_redis_cmdargv(r, 3, set, setlen, &err);
    CHECK(rep && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    rep = bf_redis_cmdargv(r, 2, get, NULL, &err);
    CHECK(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 3);
    freeReplyObject(rep);
    bf_redis_free(r);
}

/* calls=N of one line of INFO commandstats ("cmdstat_script|load"), -1 if absent. */
static long long cmdstat_calls(struct bf_redis *r, const char *name)
{
    struct bf_err err = {0};
    redisReply *rep = bf_redis_cmd(r, &err, "INFO commandstats");
    char needle[128];
    const char *p;
    long long calls = -1;

    snprintf(needle, sizeof(needle), "cmdstat_%s:calls=", name);
    if (rep && rep->type == REDIS_REPLY_STRING && (p = strstr(rep->str, needle)) != NULL)
        calls = strtoll(p + strlen(needle), NULL, 10);
    if (rep)
        freeReplyObject(rep);
    return calls < 0 ? 0 : calls;
}

static struct bf_redis_script echo_script = {.name = "echo",
                                             .source = "return {KEYS[1], ARGV[1], ARGV[2]}"};

/* Run echo_script and check its answer. */
static void check_echo(struct bf_redis *r, const char *arg)
{
    struct bf_err err = {0};
    const char *keys[] = {"bf:key"};
    const char *args[] = {arg, "two"};
    redisReply *rep = bf_redis_eval(r, &echo_script, 1, keys, 2, args, &err);

    CHECK(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 3);
    if (rep && rep->elements == 3) {
        CHECK_STR(rep->element[0]->str, "bf:key");
        CHECK_STR(rep->element[1]->str, arg);
        CHECK_STR(rep->element[2]->str, "two");
    }
    if (!rep)
        fprintf(stderr, "     eval: %s\n", err.msg);
    freeReplyObject(rep);
}

static void test_script_sha(void)
{
    struct bf_redis_script s = {.name = "one", .source = "return 1"};

    CHECK(bf_redis_script_init(&s) == 0);
    /* the SHA-1 Redis itself reports for "return 1" */
    CHECK_STR(s.sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

/* EVALSHA is used; SCRIPT LOAD happens once, and again only after SCRIPT FLUSH. */
static void test_script_evalsha_and_flush(void)
{
    struct bf_err err = {0};
    struct bf_redis *r = client(0, 1000);
    redisReply *rep;

    rep = bf_redis_cmd(r, &err, "CONFIG RESETSTAT");
    freeReplyObject(rep);
    check_echo(r, "a");
    check_echo(r, "b");
    check_echo(r, "c");
    CHECK(cmdstat_calls(r, "script|load") == 1);
    CHECK(cmdstat_calls(r, "evalsha") == 4); /* one NOSCRIPT, then three runs */
    CHECK(cmdstat_calls(r, "eval") == 0);
    rep = bf_redis_cmd(r, &err, "SCRIPT FLUSH");
    freeReplyObject(rep);
    check_echo(r, "after-flush");
    CHECK(cmdstat_calls(r, "script|load") == 2);
    bf_redis_free(r);
}

static void test_script_error(void)
{
    static struct bf_redis_script boom = {.name = "boom",
                                          .source = "return redis.error_reply('boom: no room')"};
    struct bf_err err = {0};
    struct bf_redis *r = client(0, 1000);
    redisReply *rep = bf_redis_eval(r, &boom, 0, NULL, 0, NULL, &err);

    CHECK(rep == NULL);
    CHECK(err.code == BF_EINVAL);
    CHECK_STR(err.msg, "boom: boom: no room");
    bf_redis_free(r);
}

/* A command slower than the timeout fails as transient; the next one reconnects. */
static void test_command_timeout(void)
{
    struct bf_err err = {0};
    struct bf_redis *r = client(0, 300);
    int64_t t0 = bf_mono_ms();
    redisReply *rep = bf_redis_cmd(r, &err, "BLPOP %s %d", "bf:nothing", 3);
    int64_t took = bf_mono_ms() - t0;

    CHECK(rep == NULL);
    CHECK(err.code == BF_ETRANSIENT);
    CHECK_CONTAINS(err.msg, "timed out after 300 ms");
    CHECK(took >= 250 && took < 1500);
    CHECK(bf_redis_ping(r));
    bf_redis_free(r);
}

/* Kill the server, restart it on the same port: the same client recovers, scripts too. */
static void test_reconnect(void)
{
    struct bf_err err = {0};
    struct bf_redis *r = client(0, 500);
    redisReply *rep;
    int64_t t0;
    bool back = false;

    check_echo(r, "before");
    server_stop(SIGKILL);
    rep = bf_redis_cmd(r, &err, "PING");
    CHECK(rep == NULL);
    CHECK(err.code == BF_ETRANSIENT);
    rep = bf_redis_cmd(r, &err, "PING");
    CHECK(rep == NULL);
    CHECK(err.code == BF_ETRANSIENT);
    server_start();
    CHECK(server_wait());
    t0 = bf_mono_ms();
    while (!back && bf_mono_ms() - t0 < 5000) {
        back = bf_redis_ping(r);
        if (!back)
            usleep(20 * 1000);
    }
    CHECK(back);
    CHECK(bf_mono_ms() - t0 < 2500); /* the back-off is capped at 2 s */
    check_echo(r, "after-restart");  /* a fresh server: NOSCRIPT, load, run */
    bf_redis_free(r);
}

int main(void)
{
    if (!have_redis_server()) {
        fprintf(stderr, "SKIP: redis-server is not installed\n");
        return 77;
    }
    if (!mkdtemp(tmpdir) || (port = free_port()) < 0)
        return 2;
    snprintf(logpath, sizeof(logpath), "%s/redis.log", tmpdir);
    server_start();
    if (!server_wait()) {
        fprintf(stderr, "redis-server did not start on port %d (see %s)\n", port, logpath);
        server_stop(SIGKILL);
        return 2;
    }
    BF_TEST_RUN(test_new_arguments);
    BF_TEST_RUN(test_lazy_and_backoff);
    BF_TEST_RUN(test_connect_timeout);
    BF_TEST_RUN(test_auth_and_select);
    BF_TEST_RUN(test_error_reply);
    BF_TEST_RUN(test_cmdargv_binary);
    BF_TEST_RUN(test_script_sha);
    BF_TEST_RUN(test_script_evalsha_and_flush);
    BF_TEST_RUN(test_script_error);
    BF_TEST_RUN(test_command_timeout);
    BF_TEST_RUN(test_reconnect);
    server_stop(SIGTERM);
    unlink(logpath);
    rmdir(tmpdir);
    return BF_TEST_DONE();
}
