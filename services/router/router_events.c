/* SPDX-License-Identifier: Apache-2.0 */
/* The assignment.* events: submission and evidence references only (blind review). */
#include "router.h"

/* Every assignment.* event's common fields. The evidence references are those of the
 * submission.ready event (renditions, never the educator); nothing here names the educator,
 * their school or e-mail: assessors score blind. NULL on ENOMEM; caller decrefs. */
json_t *router_event_data(const char *assignment_id, const struct router_work *w,
                          const char *assessor_id, const char *role, int64_t due_ms,
                          long long token)
{
    char due[BF_TIME_STRLEN];

    bf_time_format(due_ms, due);
    return json_pack("{ss ss ss ss ss si ss ss sI sO}", "assignment_id", assignment_id,
                     "submission_id", w->submission_id, "tenant_id", w->tenant_id, "assessor_id",
                     assessor_id, "credential_id", w->credential_id, "credential_version",
                     w->credential_version, "role", role, "due_at", due, "fencing_token",
                     (json_int_t)token, "evidence", w->evidence);
}

/* Emit in the record's transaction (ev) or in the tick's own (ev NULL). */
int router_emit(struct router *rt, struct bf_event *ev, const char *type, const char *key,
                json_t *data, struct bf_err *err)
{
    struct bf_emit e = {"assignments", type, key, key, NULL, data};

    if (!data)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    if (ev)
        return bf_daemon_emit(ev, &e, NULL, err);
    return bf_daemon_emit_pg(rt->d, rt->pg, &e, NULL, err);
}
