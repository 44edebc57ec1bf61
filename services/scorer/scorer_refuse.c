/* SPDX-License-Identifier: Apache-2.0 */
/* Refused scores and overrides: one committed transaction records the refusal, tells the frontend
 * (score.rejected), writes the dead-letter copy and marks the inbox row dead_lettered. */
#include "badgeflow/log.h"
#include "scorer_int.h"

#define REFUSAL_SQL                                                                                \
    "INSERT INTO score_refusals (tenant_id, score_id, assignment_id, submission_id,"               \
    " assessor_id, reason_code, field, reason, event_id) VALUES ($1, $2, $3, $4, $5, $6,"          \
    " nullif($7, ''), $8, $9)"
#define INBOX_SQL                                                                                  \
    "UPDATE inbox SET outcome = 'dead_lettered', reason = $3 WHERE consumer = $1 AND event_id = "  \
    "$2"

#define OVERRIDE_REFUSAL_SQL                                                                       \
    "INSERT INTO override_refusals (tenant_id, submission_id, reviewer_id,"                        \
    " overrides_decision_id, reason_code, field, reason, event_id) VALUES ($1, $2, $3,"            \
    " nullif($4, '')::uuid, $5, nullif($6, ''), $7, $8)"

/* The inbox says what happened to the event: refused, not applied. */
static int mark_inbox(struct bf_event *ev, const struct scorer_refusal *r, struct bf_err *err)
{
    const char *q[3] = {bf_daemon_group(ev->d), ev->id, r->reason};

    return scorer_sql_cmd(ev->pg, "scorer_inbox_refused", INBOX_SQL, 3, q, err);
}

static int record(struct bf_event *ev, const struct bf_ev_score_submitted *s,
                  const struct scorer_refusal *r, struct bf_err *err)
{
    const char *p[9] = {s->tenant_id,     s->score_id,    s->assignment_id,
                        s->submission_id, s->assessor_id, r->code,
                        r->field,         r->reason,      ev->id};
    int rc = scorer_sql_cmd(ev->pg, "scorer_refusal", REFUSAL_SQL, 9, p, err);

    return rc < 0 ? rc : mark_inbox(ev, r, err);
}

/* The dead-letter copy in the handler's transaction (see scorer_refuse()). */
static int dead_letter(struct scorer *st, struct bf_event *ev, const struct scorer_refusal *r,
                       struct bf_err *err)
{
    if (!st->dlq)
        return 0;
    return bf_outbox_dead_letter(ev->pg, bf_daemon_service(ev->d)->name, bf_daemon_group(ev->d),
                                 ev->msg, r->reason, err);
}

static int emit_rejected(struct bf_event *ev, const struct bf_ev_score_submitted *s,
                         const struct scorer_refusal *r, struct bf_err *err)
{
    json_t *data =
        json_pack("{ss ss ss ss ss ss ss}", "score_id", s->score_id, "assignment_id",
                  s->assignment_id, "submission_id", s->submission_id, "tenant_id", s->tenant_id,
                  "assessor_id", s->assessor_id, "reason_code", r->code, "reason", r->reason);
    int rc;

    if (!data)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    if (r->field[0])
        json_object_set_new(data, "field", json_string(r->field));
    struct bf_emit e = {"decisions", BF_EV_SCORE_REJECTED, s->submission_id, s->submission_id, NULL,
                        data};
    rc = bf_daemon_emit(ev, &e, NULL, err);
    json_decref(data);
    return rc;
}

int scorer_refuse(struct scorer *st, struct bf_event *ev, const struct bf_ev_score_submitted *s,
                  const struct scorer_refusal *r, struct bf_err *err)
{
    int rc = record(ev, s, r, err);

    if (rc == 0)
        rc = emit_rejected(ev, s, r, err);
    /* The daemon's own dead-lettering rolls the handler's transaction back, which would
     * lose score.rejected; writing the DLQ copy here keeps both in one commit. */
    if (rc == 0)
        rc = dead_letter(st, ev, r, err);
    if (rc < 0)
        return rc;
    bf_metrics_add(st->refused, r->code, 1);
    bf_log_kv(BF_LOG_WARN, "BF_SCORER_REFUSED", "score refused", "reason_code", r->code,
              "assignment_id", s->assignment_id, "reason", r->reason, NULL);
    return 0;
}

int scorer_refuse_override(struct scorer *st, struct bf_event *ev,
                           const struct bf_ev_decision_override_requested *o,
                           const struct scorer_refusal *r, struct bf_err *err)
{
    const char *p[8] = {o->tenant_id,   o->submission_id,
                        o->reviewer_id, o->overrides_decision_id ? o->overrides_decision_id : "",
                        r->code,        r->field,
                        r->reason,      ev->id};
    int rc = scorer_sql_cmd(ev->pg, "scorer_override_refusal", OVERRIDE_REFUSAL_SQL, 8, p, err);

    /* no event type announces a refused override (score.rejected is about a score): the
     * dead-letter copy carries the reason to the gateway and operators */
    if (rc == 0)
        rc = mark_inbox(ev, r, err);
    if (rc == 0)
        rc = dead_letter(st, ev, r, err);
    if (rc < 0)
        return rc;
    bf_metrics_add(st->overrides_refused, r->code, 1);
    bf_log_kv(BF_LOG_WARN, "BF_SCORER_OVERRIDE_REFUSED", "override refused", "reason_code", r->code,
              "submission_id", o->submission_id, "reason", r->reason, NULL);
    return 0;
}
