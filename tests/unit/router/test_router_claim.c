/* SPDX-License-Identifier: Apache-2.0 */
/* The router's Lua claim and release on a real redis-server: capacity, pick order, tokens,
 * and refusal on a lost generation; and the blind assignment event. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "badgeflow/events.h"
#include "bf_test.h"
#include "router.h"

static char tmpdir[] = "/tmp/bf-test-router-XXXXXX";
static pid_t server_pid = -1;
static int port;

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), p = -1;

    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        p = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return p;
}

static bool server_start(struct bf_redis *r)
{
    char port_txt[16];

    snprintf(port_txt, sizeof(port_txt), "%d", port);
    server_pid = fork();
    if (server_pid == 0) {
        int devnull = open("/dev/null", O_RDWR);

        dup2(devnull, 1);
        dup2(devnull, 2);
        execlp("redis-server", "redis-server", "--port", port_txt, "--bind", "127.0.0.1", "--save",
               "", "--appendonly", "no", "--dir", tmpdir, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        if (bf_redis_ping(r))
            return true;
        usleep(50 * 1000);
    }
    return false;
}

static struct router rt;

/* A fresh generation and empty state under the test's prefix. */
static void reset(void)
{
    struct bf_err err;
    redisReply *rep = bf_redis_cmd(rt.redis, &err, "FLUSHALL");

    freeReplyObject(rep);
    bf_strlcpy(rt.gen, "gen-1", sizeof(rt.gen));
    rep = bf_redis_cmd(rt.redis, &err, "SET %sgen gen-1", rt.cfg.prefix);
    freeReplyObject(rep);
}

static struct router_candidate cand(const char *id, int max_open, int prio)
{
    struct router_candidate c = {.max_open = max_open, .prio = prio};

    bf_strlcpy(c.id, id, sizeof(c.id));
    return c;
}

/* Claim for a fresh assignment id: the index picked, or -1 when nobody has room. */
static int claim(struct router_candidate *c, int n, char id[BF_UUID_STRLEN + 1], long long *token)
{
    struct bf_err err;
    int pick = -1, rc;

    CHECK(bf_uuid_v4(id) == 0);
    rc = router_redis_claim(&rt, id, c, n, &pick, token, &err);
    CHECK(rc >= 0);
    return rc == 1 ? pick : -1;
}

static void test_capacity_is_a_hard_cap(void)
{
    struct router_candidate c[2] = {cand("a", 1, 1), cand("b", 2, 1)};
    char id[BF_UUID_STRLEN + 1];
    long long tok = 0, last = 0;

    reset();
    for (int i = 0; i < 3; i++) {
        CHECK(claim(c, 2, id, &tok) >= 0);
        CHECK(tok > last);
        last = tok;
    }
    CHECK(claim(c, 2, id, &tok) == -1);
    CHECK(router_redis_load(&rt, "a") == 1);
    CHECK(router_redis_load(&rt, "b") == 2);
}

static void test_lowest_relative_load_then_least_recent(void)
{
    struct router_candidate c[2] = {cand("a", 10, 1), cand("b", 4, 1)};
    char id[BF_UUID_STRLEN + 1], first[BF_UUID_STRLEN + 1];
    long long tok;

    reset();
    CHECK(claim(c, 2, first, &tok) >= 0); /* both empty: one of them */
    /* a: 0/10 or 1/10; b: 1/4 or 0/4 — the emptier relative to capacity comes next */
    int p = claim(c, 2, id, &tok);
    CHECK(p >= 0);
    CHECK(router_redis_load(&rt, "a") == 1 && router_redis_load(&rt, "b") == 1);
    /* now a = 1/10 < b = 1/4: a */
    CHECK(claim(c, 2, id, &tok) == 0);
    /* release one of b's: b = 0/4 beats a = 2/10 */
    struct bf_err err;
    CHECK(router_redis_release(&rt, first, &err) == 0);
    CHECK(router_redis_release(&rt, first, &err) == 0); /* twice: no-op */
    long long la = router_redis_load(&rt, "a"), lb = router_redis_load(&rt, "b");
    CHECK(la + lb == 2);
    CHECK(claim(c, 2, id, &tok) == (lb == 0 ? 1 : (la * 4 < lb * 10 ? 0 : 1)));
}

static void test_equal_load_goes_to_least_recently_assigned(void)
{
    struct router_candidate c[2] = {cand("a", 5, 1), cand("b", 5, 1)};
    struct router_candidate only_a[1] = {cand("a", 5, 1)}, only_b[1] = {cand("b", 5, 1)};
    char id[BF_UUID_STRLEN + 1];
    long long tok;

    reset();
    CHECK(claim(only_b, 1, id, &tok) == 0);
    usleep(5000);
    CHECK(claim(only_a, 1, id, &tok) == 0); /* both at 1/5; b waited longer */
    CHECK(claim(c, 2, id, &tok) == 1);
}

static void test_preferred_first_while_it_has_room(void)
{
    struct router_candidate c[2] = {cand("a", 5, 1), cand("b", 2, 0)};
    char id[BF_UUID_STRLEN + 1];
    long long tok;

    reset();
    CHECK(claim(c, 2, id, &tok) == 1);
    CHECK(claim(c, 2, id, &tok) == 1); /* b is full now */
    CHECK(claim(c, 2, id, &tok) == 0);
}

static void test_lost_generation_refuses_claims(void)
{
    struct router_candidate c[1] = {cand("a", 5, 1)};
    struct bf_err err;
    char id[BF_UUID_STRLEN + 1] = "00000000-0000-4000-8000-000000000000";
    long long tok;
    int pick;
    redisReply *rep;

    reset();
    rep = bf_redis_cmd(rt.redis, &err, "FLUSHALL");
    freeReplyObject(rep);
    CHECK(router_redis_claim(&rt, id, c, 1, &pick, &tok, &err) == -BF_ECONFLICT);
    CHECK(router_redis_load(&rt, "a") == 0);
}

static void test_event_is_blind_and_valid(void)
{
    struct router_work w = {.credential_version = 2, .turnaround_ms = 86400000};
    struct bf_ev_assignment_created out;
    struct bf_err err;
    json_t *data;

    bf_strlcpy(w.tenant_id, "wcpss", sizeof(w.tenant_id));
    bf_strlcpy(w.submission_id, "sub-1", sizeof(w.submission_id));
    bf_strlcpy(w.credential_id, "cl.cultivating-a-shared-purpose", sizeof(w.credential_id));
    w.evidence =
        json_loads("[{\"item_id\":\"r\",\"kind\":\"text\",\"requirement\":\"reflection\","
                   "\"renditions\":[{\"name\":\"original\",\"uri\":\"wcpss/sub-1/r.txt\","
                   "\"content_type\":\"text/plain\",\"bytes\":3,\"sha256\":"
                   "\"2a4c6e8b0d1f3a5c7e9b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c\"}]}]",
                   0, NULL);
    CHECK(w.evidence != NULL);
    data = router_event_data("3f6c2a8e-9b1d-4c57-8e0a-5d7f1b2c9a41", &w, "nc-assessor-0042",
                             "primary", 1795000000000, 77);
    CHECK(data != NULL);
    json_object_set_new(data, "assigned_at", json_string("2026-11-23T16:05:12Z"));
    CHECK(bf_ev_assignment_created_decode(data, &out, &err) == 0);
    CHECK(out.a.fencing_token == 77 && out.a.n_evidence == 1);
    CHECK(json_object_get(data, "educator_id") == NULL);
    CHECK(json_object_size(data) == 11); /* exactly the schema's fields, nothing more */
    bf_ev_assignment_created_clear(&out);
    json_decref(data);
    router_work_clear(&w);
}

int main(void)
{
    struct bf_err err;

    BF_TEST_RUN(test_event_is_blind_and_valid);
    if (!mkdtemp(tmpdir) || (port = free_port()) < 0)
        return 2;
    rt.redis = bf_redis_new("127.0.0.1", port, NULL, 0, 2000, &err);
    bf_strlcpy(rt.cfg.prefix, "t:router:", sizeof(rt.cfg.prefix));
    if (!rt.redis || !server_start(rt.redis)) {
        fprintf(stderr, "SKIP: no redis-server\n");
        return 77;
    }
    BF_TEST_RUN(test_capacity_is_a_hard_cap);
    BF_TEST_RUN(test_lowest_relative_load_then_least_recent);
    BF_TEST_RUN(test_equal_load_goes_to_least_recently_assigned);
    BF_TEST_RUN(test_preferred_first_while_it_has_room);
    BF_TEST_RUN(test_lost_generation_refuses_claims);
    bf_redis_free(rt.redis);
    kill(server_pid, SIGKILL);
    waitpid(server_pid, NULL, 0);
    rmdir(tmpdir);
    return BF_TEST_DONE();
}
