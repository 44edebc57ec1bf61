/* SPDX-License-Identifier: Apache-2.0 */
/* Intake: record a submission, check it against the catalogue, queue its evidence as jobs.
 * Runs inside the record's transaction, so it stays short: no media work here. */
#include <stdio.h>
#include <string.h>

#include "badgeflow/catalogue_pg.h"
#include "badgeflow/events.h"
#include "badgeflow/log.h"
#include "badgeflow/util.h"
#include "transcoder_int.h"

const struct bf_cat_cred *tc_cat_find(struct tc_state *s, struct bf_pg *pg, const char *id,
                                      int version)
{
    const struct bf_cat_cred *c = s->cat ? bf_cat_cred_find(s->cat, id, version) : NULL;
    struct bf_err err = {0};
    struct bf_cat *fresh;

    if (c || bf_mono_ms() - s->cat_loaded < 5000)
        return c;
    s->cat_loaded = bf_mono_ms();
    if (!(fresh = bf_cat_load_pg(pg, &err))) {
        bf_log_warn("BF_TRANSCODER_CATALOGUE", "catalogue reload failed: %s", err.msg);
        return NULL;
    }
    bf_cat_free(s->cat);
    s->cat = fresh;
    return bf_cat_cred_find(s->cat, id, version);
}

/* Emit submission.rejected with one reason about the whole submission (or one item). */
static int emit_rejected(struct bf_event *ev, const struct bf_ev_submission_submitted *sub,
                         const char *code, const char *msg, struct bf_err *err)
{
    json_t *data = json_pack("{sssssss[{ssss}]}", "submission_id", sub->submission_id, "tenant_id",
                             sub->tenant_id, "credential_id", sub->credential_id, "reasons", "code",
                             code, "message", msg);
    struct bf_emit e = {"submissions.ready",
                        BF_EV_SUBMISSION_REJECTED,
                        sub->submission_id,
                        sub->submission_id,
                        NULL,
                        data};
    int rc;

    if (!data)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    rc = bf_daemon_emit(ev, &e, NULL, err);
    json_decref(data);
    bf_log_kv(BF_LOG_INFO, "BF_TRANSCODER_REJECTED", "submission rejected", "submission",
              sub->submission_id, "code", code, "reason", msg, NULL);
    return rc;
}

/* The completeness check's message names the problem; map it to the schema's code. */
static const char *evidence_code(const char *msg)
{
    if (strstr(msg, "is used twice"))
        return "duplicate_item";
    if (strstr(msg, "at most"))
        return "too_many_items";
    if (strstr(msg, "missing"))
        return "missing_evidence";
    if (strstr(msg, "takes no") || strstr(msg, "evidence, not"))
        return "kind_not_allowed";
    return "unexpected_evidence";
}

/* Which catalogue problem stops the submission before any media work; NULL if none. */
static const char *precheck(const struct bf_cat_cred *c,
                            const struct bf_ev_submission_submitted *sub, char *msg, size_t n)
{
    struct bf_cat_item items[BF_CAT_MAX_ITEMS];
    struct bf_err err = {0};

    if (sub->attempt > bf_cat_cred_policy(c)->attempts_allowed) {
        snprintf(msg, n, "attempt %d: %s allows %d attempts", sub->attempt, bf_cat_cred_id(c),
                 bf_cat_cred_policy(c)->attempts_allowed);
        return "attempts_exhausted";
    }
    for (size_t i = 0; i < sub->n_evidence && i < BF_CAT_MAX_ITEMS; i++)
        items[i] = (struct bf_cat_item){sub->evidence[i].item_id, sub->evidence[i].kind,
                                        sub->evidence[i].requirement, -1};
    if (bf_cat_check_evidence(c, items, sub->n_evidence, &err) == 0)
        return NULL;
    snprintf(msg, n, "%s", err.msg);
    return evidence_code(err.msg);
}

static int upsert(struct bf_event *ev, const struct bf_ev_submission_submitted *sub, int version,
                  struct bf_err *err)
{
    char ver[16], att[16], at[24];
    const char *pilot = sub->pilot_id;
    PGresult *r = NULL;

    if (pilot) { /* a pilot the district has not registered yet is not the teacher's fault */
        const char *pp[2] = {sub->tenant_id, pilot};
        if (!(r = tc_q(ev->pg, &tc_sql_pilot, 2, pp, err)))
            return -err->code;
        pilot = PQntuples(r) ? pilot : NULL;
        PQclear(r);
    }
    const char *e[6] = {sub->tenant_id,      sub->educator.id,        sub->educator.name,
                        sub->educator.email, sub->educator.school_id, sub->educator.district_id};
    snprintf(ver, sizeof(ver), "%d", version);
    snprintf(att, sizeof(att), "%d", sub->attempt);
    snprintf(at, sizeof(at), "%lld", (long long)sub->submitted_at);
    const char *p[11] = {sub->tenant_id,
                         sub->submission_id,
                         sub->educator.id,
                         sub->credential_id,
                         ver,
                         att,
                         sub->previous_submission_id,
                         pilot,
                         ev->source,
                         ev->id,
                         at};
    if (tc_cmd(ev->pg, &tc_sql_educator, 6, e, NULL, err) < 0 ||
        tc_cmd(ev->pg, &tc_sql_submission, 11, p, NULL, err) < 0)
        return -err->code;
    return 0;
}

static int add_items(struct bf_event *ev, const struct bf_ev_submission_submitted *sub,
                     const struct bf_cat_cred *c, bool jobs, struct bf_err *err)
{
    for (size_t i = 0; i < sub->n_evidence; i++) {
        const struct bf_ev_evidence_item *it = &sub->evidence[i];
        const struct bf_cat_evreq *rq = bf_cat_evreq_find(c, it->requirement);
        char pos[16], bytes[24], maxd[16];
        snprintf(pos, sizeof(pos), "%zu", i);
        snprintf(bytes, sizeof(bytes), "%lld", (long long)it->size);
        snprintf(maxd, sizeof(maxd), "%d", rq ? bf_cat_evreq_max_duration_s(rq) : 0);
        const char *p[9] = {sub->tenant_id,
                            sub->submission_id,
                            it->item_id,
                            pos,
                            it->kind,
                            it->requirement,
                            it->uri,
                            it->sha256,
                            it->size >= 0 ? bytes : NULL};
        const char *j[5] = {sub->tenant_id, sub->submission_id, it->item_id, it->text, maxd};
        if (tc_cmd(ev->pg, &tc_sql_item, 9, p, NULL, err) < 0 ||
            (jobs && tc_cmd(ev->pg, &tc_sql_job, 5, j, NULL, err) < 0))
            return -err->code;
    }
    return 0;
}

/* Lock the row and say whether this event still has work to do (state received). */
static int still_received(struct bf_event *ev, const struct bf_ev_submission_submitted *sub,
                          bool *fresh, struct bf_err *err)
{
    const char *p[2] = {sub->tenant_id, sub->submission_id};
    PGresult *r = tc_q(ev->pg, &tc_sql_lock_sub, 2, p, err);

    if (!r)
        return -err->code;
    *fresh = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "received") == 0;
    PQclear(r);
    return 0;
}

static int reject_unknown(struct tc_state *s, struct bf_event *ev,
                          const struct bf_ev_submission_submitted *sub, struct bf_err *err)
{
    char msg[300];
    bool other = tc_cat_find(s, ev->pg, sub->credential_id, 0) != NULL;

    snprintf(msg, sizeof(msg),
             other ? "credential %s has no version %d" : "credential %s is not in the catalogue",
             sub->credential_id, sub->credential_version);
    return emit_rejected(ev, sub, other ? "unknown_credential_version" : "unknown_credential", msg,
                         err);
}

static int check_refs(struct bf_event *ev, const struct bf_ev_submission_submitted *sub, bool *ok,
                      struct bf_err *err)
{
    const char *t[1] = {sub->tenant_id};
    const char *p[2] = {sub->tenant_id, sub->previous_submission_id};
    PGresult *r = tc_q(ev->pg, &tc_sql_tenant, 1, t, err);

    if (!r)
        return -err->code;
    *ok = PQntuples(r) == 1;
    PQclear(r);
    if (!*ok)
        return bf_err_set(err, BF_EINVAL, "tenant_id: unknown tenant '%s'", sub->tenant_id);
    if (!sub->previous_submission_id)
        return 0;
    if (!(r = tc_q(ev->pg, &tc_sql_exists, 2, p, err)))
        return -err->code;
    *ok = PQntuples(r) == 1;
    PQclear(r);
    if (!*ok) {
        char msg[300];
        snprintf(msg, sizeof(msg), "previous_submission_id: no submission '%s' to resubmit",
                 sub->previous_submission_id);
        return emit_rejected(ev, sub, "unknown_previous_submission", msg, err);
    }
    return 0;
}

static int intake(struct tc_state *s, struct bf_event *ev,
                  const struct bf_ev_submission_submitted *sub, struct bf_err *err)
{
    const struct bf_cat_cred *c =
        tc_cat_find(s, ev->pg, sub->credential_id, sub->credential_version);
    const char *code;
    char msg[600];
    bool ok = false, fresh = false;
    int rc;

    if ((rc = check_refs(ev, sub, &ok, err)) < 0 || !ok)
        return rc;
    if (!c)
        return reject_unknown(s, ev, sub, err);
    if ((rc = upsert(ev, sub, bf_cat_cred_version(c), err)) < 0 ||
        (rc = still_received(ev, sub, &fresh, err)) < 0 || !fresh)
        return rc; /* a redelivery, or another event already moved it on */
    code = precheck(c, sub, msg, sizeof(msg));
    if ((rc = add_items(ev, sub, c, code == NULL, err)) < 0)
        return rc;
    const char *p[4] = {sub->tenant_id, sub->submission_id, code ? "rejected" : "processing",
                        code ? msg : NULL};
    if ((rc = tc_cmd(ev->pg, &tc_sql_set_state, 4, p, NULL, err)) < 0)
        return rc;
    if (code)
        return emit_rejected(ev, sub, code, msg, err);
    bf_log_kv(BF_LOG_INFO, "BF_TRANSCODER_ACCEPTED", "submission queued for processing",
              "submission", sub->submission_id, NULL);
    return 0;
}

int tc_on_submitted(void *state, struct bf_event *ev, struct bf_err *err)
{
    struct bf_ev_submission_submitted sub;
    int rc = bf_ev_submission_submitted_decode(ev->data, &sub, err);

    if (rc < 0)
        return rc;
    rc = intake(state, ev, &sub, err);
    bf_ev_submission_submitted_clear(&sub);
    return rc;
}

/* Withdrawn: final state, and the jobs nobody works on are dropped. A worker already running
 * finishes, but its result settles nothing (the submission is no longer processing). */
int tc_on_withdrawn(void *state, struct bf_event *ev, struct bf_err *err)
{
    struct bf_ev_submission_withdrawn w;
    long long rows = 0;
    int rc = bf_ev_submission_withdrawn_decode(ev->data, &w, err);

    (void)state;
    if (rc < 0)
        return rc;
    const char *p[3] = {w.tenant_id, w.submission_id, w.reason};
    if ((rc = tc_cmd(ev->pg, &tc_sql_withdraw, 3, p, &rows, err)) < 0 ||
        (rc = tc_cmd(ev->pg, &tc_sql_cancel, 2, p, NULL, err)) < 0)
        return rc;
    bf_log_kv(BF_LOG_INFO, "BF_TRANSCODER_WITHDRAWN",
              rows ? "submission withdrawn" : "withdrawal of an unknown or final submission",
              "submission", w.submission_id, NULL);
    return 0;
}
