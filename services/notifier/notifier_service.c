/* SPDX-License-Identifier: Apache-2.0 */
/* The notifier service: its handler table (every domain topic), start-up and shutdown. */
#include <stdlib.h>

#include "badgeflow/log.h"
#include "notifier.h"

struct notifier_state {
    struct notifier_cfg nc;
    struct notifier_workers *workers;
};

/* Every tenant-scoped domain topic; routing (internal) and scores (blind review: per-assessor
 * scores stay inside) are not delivered. */
static const struct bf_event_handler handlers[] = {
    {"submissions", NULL, notifier_on_event},       {"evidence", NULL, notifier_on_event},
    {"submissions.ready", NULL, notifier_on_event}, {"assignments", NULL, notifier_on_event},
    {"decisions", NULL, notifier_on_event},         {"credentials", NULL, notifier_on_event},
    {"notifications", NULL, notifier_on_event},     {NULL, NULL, NULL},
};

static int notifier_init(struct bf_daemon *d, void **state, struct bf_err *err)
{
    struct notifier_state *s = calloc(1, sizeof(*s));

    if (!s)
        return bf_err_set(err, BF_ENOMEM, "notifier: out of memory");
    /* the KEK never appears in a log line, whatever path the text took */
    bf_log_add_secret(bf_cfg_str(bf_daemon_cfg(d), "notifier.secrets_kek"));
    if (notifier_cfg_read(bf_daemon_cfg(d), &s->nc, err) < 0)
        goto fail;
    if (s->nc.policy.allow_loopback || s->nc.policy.allow_http)
        bf_log_warn("BF_NOTIFIER_TEST_POLICY", "notifier.allow_loopback/allow_http is on: "
                                               "for tests only, never in production");
    s->workers = notifier_workers_start(d, &s->nc, err);
    if (!s->workers)
        goto fail;
    *state = s;
    return 0;
fail:
    free(s);
    return -err->code;
}

static void notifier_fini(void *state)
{
    struct notifier_state *s = state;

    if (!s)
        return;
    notifier_workers_stop(s->workers);
    free(s);
}

const struct bf_service notifier_service = {
    .name = "notifier",
    .cfg_defs = notifier_cfg_defs,
    .handlers = handlers,
    .needs = BF_NEEDS_KAFKA_CONSUMER,
    .init = notifier_init,
    .fini = notifier_fini,
};
