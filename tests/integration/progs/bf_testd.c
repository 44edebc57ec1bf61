/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal daemon on the common skeleton for the integration tests: ping in, effect, pong out. */
#include <limits.h>
#include <stdlib.h>
#include <time.h>

#include "badgeflow/daemon.h"
#include "badgeflow/json.h"

#define EFFECT_STMT "testd_effect"
#define EFFECT_SQL  "INSERT INTO test_effects (event_id, n) VALUES ($1, $2)"

/* Optional "sleep_ms" (0..10000): a slow handler, to have a record in hand at SIGTERM. */
static int maybe_sleep(const json_t *data, struct bf_err *err)
{
    long long ms = 0;

    if (bf_json_int_opt(data, "", "sleep_ms", 0, 10000, &ms, err) < 0)
        return -BF_EINVAL;
    if (ms > 0) {
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* test.in ping {"n": int, "tenant_id": id}: insert an effect row, emit a pong to test.out.
 * {"poison": true} or a missing n is refused (dead-lettered) with the reason. */
static int on_ping(void *state, struct bf_event *ev, struct bf_err *err)
{
    const char *tenant = NULL;
    long long n = 0;
    char nbuf[24];
    const char *p[2] = {ev->id, nbuf};
    json_t *data;
    int rc;

    (void)state;
    if (json_is_true(json_object_get(ev->data, "poison")))
        return bf_err_set(err, BF_EINVAL, "poison: the record asks to be dead-lettered");
    if (bf_json_int(ev->data, "", "n", LLONG_MIN, LLONG_MAX, &n, err) < 0 ||
        bf_json_id_opt(ev->data, "", "tenant_id", &tenant, err) < 0 ||
        maybe_sleep(ev->data, err) < 0)
        return -BF_EINVAL;
    snprintf(nbuf, sizeof(nbuf), "%lld", n);
    rc = bf_pg_prepare(ev->pg, EFFECT_STMT, EFFECT_SQL, err);
    if (rc == 0)
        rc = bf_pg_cmd(ev->pg, EFFECT_STMT, 2, p, NULL, err);
    if (rc < 0)
        return rc;
    data = json_pack("{sIssss}", "n", (json_int_t)n, "tenant_id", tenant ? tenant : "", "ping_id",
                     ev->id);
    if (!data)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    struct bf_emit pong = {"test.out", "org.badgeflow.test.pong.v1", ev->subject, ev->subject, NULL,
                           data};
    rc = bf_daemon_emit(ev, &pong, NULL, err);
    json_decref(data);
    return rc;
}

static const struct bf_event_handler handlers[] = {
    {"test.in", "org.badgeflow.test.ping.v1", on_ping},
    {NULL, NULL, NULL},
};

static const struct bf_service testd = {
    .name = "testd",
    .handlers = handlers,
    .needs = BF_NEEDS_KAFKA_CONSUMER,
};

/* The same needing Redis (BF_TESTD_REDIS=1), for the readiness tests. */
static const struct bf_service testd_redis = {
    .name = "testd",
    .handlers = handlers,
    .needs = BF_NEEDS_KAFKA_CONSUMER | BF_NEEDS_REDIS,
};

int main(int argc, char **argv)
{
    const char *redis = getenv("BF_TESTD_REDIS");

    return bf_daemon_main(redis && redis[0] == '1' ? &testd_redis : &testd, argc, argv);
}
