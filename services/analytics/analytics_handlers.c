/* SPDX-License-Identifier: Apache-2.0 */
/* One handler per consumed event type: record the facts, emit the life-cycle statement. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "badgeflow/events.h"
#include "badgeflow/json.h"
#include "badgeflow/log.h"

#define TYPE_ASSESSMENT "http://adlnet.gov/expapi/activities/assessment"
#define TYPE_BADGE      "http://activitystrea.ms/schema/1.0/badge"
#define TYPE_STACK      "http://adlnet.gov/expapi/activities/course"

/* What every statement about one educator's credential shares. */
struct an_ctx {
    char actor[AN_PSEUDONYM_LEN + 1];
    char home[600], cred[600], stack[600], pilot[600], profile[600];
    bool has_stack, has_pilot;
};

static int ctx_fill(const struct an_state *st, const char *tenant, const char *educator,
                    const char *cred, int version, const char *stack, const char *pilot,
                    struct an_ctx *c, struct bf_err *err)
{
    const char *b = st->conf.iri_base;

    memset(c, 0, sizeof(*c));
    if (an_pseudonym(st->conf.key, "educator", tenant, educator, c->actor) < 0)
        return bf_err_set(err, BF_EINTERNAL, "cannot compute a pseudonym");
    snprintf(c->home, sizeof(c->home), "%s/%s", st->conf.home_page, tenant);
    snprintf(c->cred, sizeof(c->cred), "%s/credentials/%s/%d", b, cred ? cred : "", version);
    snprintf(c->profile, sizeof(c->profile), "%s/profile", b);
    c->has_stack = stack && stack[0];
    if (c->has_stack)
        snprintf(c->stack, sizeof(c->stack), "%s/stacks/%s", b, stack);
    c->has_pilot = pilot && pilot[0];
    if (c->has_pilot)
        snprintf(c->pilot, sizeof(c->pilot), "%s/pilots/%s/%s", b, tenant, pilot);
    return 0;
}

static void stmt_init(struct an_stmt *s, const struct an_ctx *c, const char *id, const char *verb,
                      int64_t ts)
{
    memset(s, 0, sizeof(*s));
    s->id = id;
    s->home_page = c->home;
    s->actor = c->actor;
    s->verb = verb;
    s->object_id = c->cred;
    s->object_kind = TYPE_ASSESSMENT;
    s->parent = c->has_stack ? c->stack : NULL;
    s->grouping = c->has_pilot ? c->pilot : NULL;
    s->category = c->profile;
    s->attempts_left = -1;
    s->success = -1;
    s->timestamp_ms = ts;
}

/* The statement id of ev (step NULL: its main statement). ce_id must be a UUID. */
static int ev_stmt_id(const struct bf_event *ev, const char *step, char out[BF_UUID_STRLEN + 1],
                      struct bf_err *err)
{
    if (an_statement_id(ev->id, step, out) < 0)
        return bf_err_set(err, BF_EINVAL,
                          "ce_id: must be a UUID (the statement id is derived from it)");
    return 0;
}

#define PARK_SQL                                                                                   \
    "INSERT INTO analytics_parked (tenant_id, submission_id, topic, type, event_id, event_time,"   \
    " data) VALUES ($1, $2, $3, $4, $5, $6, $7)"

/* An event about a submission analytics has not seen: it travels on another topic and may
 * come later, so the event is parked (committed with its inbox row) and applied when the
 * submission arrives (unpark()); the consumer never waits for it. */
static int park(struct bf_event *ev, const char *tenant, const char *sub, struct bf_err *err)
{
    char *data = bf_json_dump(ev->data);
    int rc;

    if (!data)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    const char *p[7] = {tenant, sub, ev->topic, ev->type, ev->id, ev->time, data};
    rc = bf_pg_prepare(ev->pg, "an_park", PARK_SQL, err);
    if (rc == 0)
        rc = bf_pg_cmd(ev->pg, "an_park", 7, p, NULL, err);
    free(data);
    return rc < 0 ? rc : 1;
}

/* A credential analytics has not seen after analytics.unknown_grace is dead-lettered (its
 * issue travels on the same partition, so this is a real gap, not an ordering race). */
static int unseen(const struct an_state *st, const struct bf_event *ev, struct bf_err *err)
{
    int64_t at = 0;

    if (bf_time_parse(ev->time, &at) == 0 && bf_now_ms() - at < st->conf.grace_ms)
        return bf_err_set(err, BF_ETRANSIENT, "not seen yet: %s", err->msg);
    return -BF_EINVAL;
}

/* Facts and context of the submission an event names; unseen() when it is unknown. */
static int sub_ctx(const struct an_state *st, struct bf_event *ev, const char *tenant,
                   const char *submission, struct an_sub *sub, struct an_ctx *c, struct bf_err *err)
{
    int rc = an_sub_load(ev->pg, tenant, submission, sub, err);

    if (rc == -BF_ENOTFOUND)
        return park(ev, tenant, submission, err);
    if (rc < 0)
        return rc;
    return ctx_fill(st, tenant, sub->educator_id, sub->credential_id, sub->credential_version,
                    sub->has_stack ? sub->stack_id : NULL, sub->has_pilot ? sub->pilot_id : NULL, c,
                    err);
}

/* Run a statement with text parameters; *res (may be NULL) gets the result. */
static int sql(struct bf_pg *pg, const char *name, const char *text, int n, const char *const *p,
               PGresult **res, struct bf_err *err)
{
    PGresult *r;
    int rc = bf_pg_prepare(pg, name, text, err);

    if (rc < 0)
        return rc;
    if (!(r = bf_pg_exec(pg, name, n, p, err)))
        return -err->code;
    if (res)
        *res = r;
    else
        PQclear(r);
    return 0;
}

static void fmt_time(int64_t ms, char out[BF_TIME_STRLEN])
{
    bf_time_format(ms, out);
}

/* ---- submissions ---------------------------------------------------------------------- */

#define CATALOGUE_SQL "SELECT stack_id, latest_version FROM catalogue_credentials WHERE id = $1"
#define CYCLE_SQL                                                                                  \
    "SELECT cycle, registration, earned_at IS NULL FROM analytics_cycles WHERE tenant_id = $1"     \
    " AND educator_id = $2 AND credential_id = $3 ORDER BY cycle DESC LIMIT 1"
#define CYCLE_NEW_SQL                                                                              \
    "INSERT INTO analytics_cycles (tenant_id, educator_id, credential_id, cycle, registration,"    \
    " started_at, first_submission_id) VALUES ($1, $2, $3, $4, $5, $6, $7)"
#define SUB_NEW_SQL                                                                                \
    "INSERT INTO analytics_submissions (tenant_id, submission_id, educator_id, credential_id,"     \
    " credential_version, stack_id, attempt, pilot_id, registration, submitted_at,"                \
    " last_activity_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)"                     \
    " ON CONFLICT DO NOTHING"

/* The credential's stack and latest version from the catalogue (stack "" when unknown). */
static int catalogue(struct bf_pg *pg, const char *cred, char stack[129], int *latest,
                     struct bf_err *err)
{
    const char *p[1] = {cred};
    PGresult *res = NULL;
    long long v = 0;
    int rc = sql(pg, "an_catalogue", CATALOGUE_SQL, 1, p, &res, err);

    stack[0] = '\0';
    *latest = 0;
    if (rc < 0)
        return rc;
    if (PQntuples(res) == 1) {
        bf_strlcpy(stack, PQgetvalue(res, 0, 0), 129);
        if (!PQgetisnull(res, 0, 1) && bf_parse_ll(PQgetvalue(res, 0, 1), 1, 1000000, &v) == 0)
            *latest = (int)v;
    }
    PQclear(res);
    return 0;
}

/* The open cycle of the educator at the credential, or a new one (*opened). */
static int cycle_open(struct bf_event *ev, const struct bf_ev_submission_submitted *s,
                      const char *actor, char reg[BF_UUID_STRLEN + 1], bool *opened,
                      struct bf_err *err)
{
    const char *p[3] = {s->tenant_id, s->educator.id, s->credential_id};
    char num[16], at[BF_TIME_STRLEN];
    PGresult *res = NULL;
    long long cycle = 0;
    int rc = sql(ev->pg, "an_cycle", CYCLE_SQL, 3, p, &res, err);

    if (rc < 0)
        return rc;
    *opened = PQntuples(res) == 0 || PQgetvalue(res, 0, 2)[0] != 't';
    if (PQntuples(res) == 1 && bf_parse_ll(PQgetvalue(res, 0, 0), 1, 1000000, &cycle) < 0)
        cycle = 0;
    if (!*opened)
        bf_strlcpy(reg, PQgetvalue(res, 0, 1), BF_UUID_STRLEN + 1);
    PQclear(res);
    if (!*opened)
        return 0;
    if (an_registration(actor, s->credential_id, (int)cycle + 1, reg) < 0)
        return bf_err_set(err, BF_EINTERNAL, "cannot mint a registration");
    snprintf(num, sizeof(num), "%lld", cycle + 1);
    fmt_time(s->submitted_at, at);
    const char *q[7] = {s->tenant_id, s->educator.id,  s->credential_id, num, reg,
                        at,           s->submission_id};
    return sql(ev->pg, "an_cycle_new", CYCLE_NEW_SQL, 7, q, NULL, err);
}

static int sub_record(struct bf_event *ev, const struct bf_ev_submission_submitted *s, int version,
                      const char *stack, const char *reg, struct bf_err *err)
{
    char ver[16], att[16], at[BF_TIME_STRLEN];

    snprintf(ver, sizeof(ver), "%d", version);
    snprintf(att, sizeof(att), "%d", s->attempt);
    fmt_time(s->submitted_at, at);
    const char *p[10] = {s->tenant_id,
                         s->submission_id,
                         s->educator.id,
                         s->credential_id,
                         ver,
                         stack[0] ? stack : NULL,
                         att,
                         s->pilot_id,
                         reg,
                         at};
    return sql(ev->pg, "an_sub_new", SUB_NEW_SQL, 10, p, NULL, err);
}

/* registered (a new cycle) then submitted. */
static int submitted_emit(const struct an_state *st, struct bf_event *ev,
                          const struct bf_ev_submission_submitted *s, const struct an_ctx *c,
                          const char *reg, bool opened, struct bf_err *err)
{
    char id[BF_UUID_STRLEN + 1];
    struct an_stmt stmt;
    int rc;

    if (opened) {
        if ((rc = ev_stmt_id(ev, "registered", id, err)) < 0)
            return rc;
        stmt_init(&stmt, c, id, AN_VERB_REGISTERED, s->submitted_at);
        stmt.registration = reg;
        if ((rc = an_emit_statement(ev, &stmt, s->tenant_id, st->lrs, err)) < 0)
            return rc;
    }
    if ((rc = ev_stmt_id(ev, NULL, id, err)) < 0)
        return rc;
    stmt_init(&stmt, c, id, AN_VERB_SUBMITTED, s->submitted_at);
    stmt.registration = reg;
    stmt.attempt = s->attempt;
    return an_emit_statement(ev, &stmt, s->tenant_id, st->lrs, err);
}

static const struct bf_event_handler *handler_of(const char *topic, const char *type);

#define PARKED_SQL                                                                                 \
    "WITH d AS (DELETE FROM analytics_parked WHERE tenant_id = $1 AND submission_id = $2"          \
    " RETURNING topic, type, event_id, event_time, data, id)"                                      \
    " SELECT topic, type, event_id, event_time, data FROM d ORDER BY id"

/* Apply one parked event as if it had just arrived (its own ids and times). */
static int unpark_one(void *state, struct bf_event *ev, PGresult *res, int i, struct bf_err *err)
{
    const char *text = PQgetvalue(res, i, 4);
    const struct bf_event_handler *h = handler_of(PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
    json_t *data = bf_json_parse_object(text, strlen(text), err);
    struct bf_event pe = *ev;
    int rc;

    if (!data || !h)
        return bf_err_set(err, BF_EINTERNAL, "parked event %s cannot be read",
                          PQgetvalue(res, i, 2));
    pe.topic = PQgetvalue(res, i, 0);
    pe.type = PQgetvalue(res, i, 1);
    pe.id = PQgetvalue(res, i, 2);
    pe.time = PQgetvalue(res, i, 3);
    pe.data = data;
    rc = h->fn(state, &pe, err);
    json_decref(data);
    return rc;
}

/* Apply the events parked for this submission, in the order they were parked. */
static int unpark(void *state, struct bf_event *ev, const char *tenant, const char *sub,
                  struct bf_err *err)
{
    const char *p[2] = {tenant, sub};
    PGresult *res = NULL;
    int rc = sql(ev->pg, "an_unpark", PARKED_SQL, 2, p, &res, err), n;

    if (rc < 0)
        return rc;
    n = PQntuples(res);
    for (int i = 0; rc == 0 && i < n; i++)
        rc = unpark_one(state, ev, res, i, err);
    PQclear(res);
    return rc;
}

/* A resubmission waits (parked) for its previous attempt, which travels on another partition:
 * cycles and registrations then do not depend on the order partitions are read in. 1 when
 * parked. */
static int wait_previous(struct bf_event *ev, const struct bf_ev_submission_submitted *s,
                         struct bf_err *err)
{
    struct an_sub prev;
    int rc;

    if (!s->previous_submission_id)
        return 0;
    rc = an_sub_load(ev->pg, s->tenant_id, s->previous_submission_id, &prev, err);
    if (rc == -BF_ENOTFOUND)
        return park(ev, s->tenant_id, s->previous_submission_id, err);
    return rc;
}

/* The version the submission is for: its own, or the catalogue's latest; *stack its stack. */
static int submitted_version(struct bf_event *ev, const struct bf_ev_submission_submitted *s,
                             char stack[129], int *version, struct bf_err *err)
{
    int latest = 0, rc = catalogue(ev->pg, s->credential_id, stack, &latest, err);

    if (rc < 0)
        return rc;
    *version = s->credential_version ? s->credential_version : latest;
    if (*version == 0)
        return bf_err_set(err, BF_EINVAL, "credential_id: %s is not in the catalogue",
                          s->credential_id);
    return 0;
}

/* Facts (cycle, submission), the statements, then what was parked behind the submission. */
static int submitted_apply(void *state, struct bf_event *ev,
                           const struct bf_ev_submission_submitted *s, struct bf_err *err)
{
    const struct an_state *st = state;
    char stack[129], reg[BF_UUID_STRLEN + 1];
    struct an_ctx c;
    bool opened = false;
    int version = 0, rc;

    /* the ce_id is checked before anything is recorded (statement ids derive from it) */
    if ((rc = ev_stmt_id(ev, NULL, reg, err)) < 0 || (rc = wait_previous(ev, s, err)) != 0)
        return rc < 0 ? rc : 0;
    if ((rc = submitted_version(ev, s, stack, &version, err)) < 0 ||
        (rc = ctx_fill(st, s->tenant_id, s->educator.id, s->credential_id, version, stack,
                       s->pilot_id, &c, err)) < 0 ||
        (rc = cycle_open(ev, s, c.actor, reg, &opened, err)) < 0 ||
        (rc = sub_record(ev, s, version, stack, reg, err)) < 0 ||
        (rc = submitted_emit(st, ev, s, &c, reg, opened, err)) < 0 ||
        (rc = unpark(state, ev, s->tenant_id, s->submission_id, err)) < 0)
        return rc;
    return an_pilots_dirty(ev->pg, s->tenant_id, err);
}

static int on_submitted(void *state, struct bf_event *ev, struct bf_err *err)
{
    struct bf_ev_submission_submitted s;
    int rc = bf_ev_submission_submitted_decode(ev->data, &s, err);

    if (rc < 0)
        return rc;
    rc = submitted_apply(state, ev, &s, err);
    bf_ev_submission_submitted_clear(&s);
    return rc;
}

/* ---- state changes without a statement ------------------------------------------------ */

#define STATE_SQL                                                                                  \
    "UPDATE analytics_submissions SET state = $3, last_activity_at = greatest(last_activity_at,"   \
    " now()) WHERE tenant_id = $1 AND submission_id = $2 AND state IN ('submitted', 'ready')"

static int set_state(struct bf_event *ev, const char *tenant, const char *sub, const char *state,
                     struct bf_err *err)
{
    const char *p[3] = {tenant, sub, state};
    int rc = sql(ev->pg, "an_state", STATE_SQL, 3, p, NULL, err);

    return rc < 0 ? rc : an_pilots_dirty(ev->pg, tenant, err);
}

static int on_withdrawn(void *state, struct bf_event *ev, struct bf_err *err)
{
    struct bf_ev_submission_withdrawn s;
    int rc = bf_ev_submission_withdrawn_decode(ev->data, &s, err);

    (void)state;
    return rc < 0 ? rc : set_state(ev, s.tenant_id, s.submission_id, "withdrawn", err);
}

static int on_ready(void *state, struct bf_event *ev, struct bf_err *err)
{
    struct bf_ev_submission_ready s;
    int rc = bf_ev_submission_ready_decode(ev->data, &s, err);

    (void)state;
    if (rc == 0)
        rc = set_state(ev, s.tenant_id, s.submission_id, "ready", err);
    bf_ev_submission_ready_clear(&s);
    return rc;
}

static int on_rejected(void *state, struct bf_event *ev, struct bf_err *err)
{
    struct bf_ev_submission_rejected s;
    int rc = bf_ev_submission_rejected_decode(ev->data, &s, err);

    (void)state;
    return rc < 0 ? rc : set_state(ev, s.tenant_id, s.submission_id, "rejected", err);
}

/* Known types that carry no life-cycle step and no figure: validated, then acknowledged. */
static int on_ignore(void *state, struct bf_event *ev, struct bf_err *err)
{
    (void)state;
    return bf_ev_check(ev->type, ev->data, err);
}

/* ---- assignments and scores ----------------------------------------------------------- */

#define ASSIGN_SQL                                                                                 \
    "INSERT INTO analytics_assignments (assignment_id, tenant_id, submission_id, assessor_id,"     \
    " assigned_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
#define CLOSE_SQL                                                                                  \
    "UPDATE analytics_assignments SET closed_at = coalesce(closed_at, now())"                      \
    " WHERE assignment_id = $1"
#define SCORED_SQL                                                                                 \
    "UPDATE analytics_assignments SET scored_at = $2 WHERE assignment_id = $1 AND tenant_id = $3"

static int on_assigned(void *state, struct bf_event *ev, struct bf_err *err)
{
    struct bf_ev_assignment_created a;
    char at[BF_TIME_STRLEN];
    int rc = bf_ev_assignment_created_decode(ev->data, &a, err);

    if (rc < 0)
        return rc;
    fmt_time(a.assigned_at, at);
    const char *p[5] = {a.a.assignment_id, a.a.tenant_id, a.a.submission_id, a.a.assessor_id, at};
    /* then the scores parked while the assignment was not in (scored_stored()) */
    if ((rc = sql(ev->pg, "an_assign", ASSIGN_SQL, 5, p, NULL, err)) == 0 &&
        (rc = unpark(state, ev, a.a.tenant_id, a.a.submission_id, err)) == 0)
        rc = an_pilots_dirty(ev->pg, a.a.tenant_id, err);
    bf_ev_assignment_created_clear(&a);
    return rc;
}

static int close_assignment(struct bf_event *ev, const char *id, const char *tenant,
                            struct bf_err *err)
{
    const char *p[1] = {id};
    int rc = sql(ev->pg, "an_close", CLOSE_SQL, 1, p, NULL, err);

    return rc < 0 ? rc : an_pilots_dirty(ev->pg, tenant, err);
}

static int on_released(void *state, struct bf_event *ev, struct bf_err *err)
{
    struct bf_ev_assignment_released a;
    int rc = bf_ev_assignment_released_decode(ev->data, &a, err);

    (void)state;
    if (rc == 0)
        rc = close_assignment(ev, a.a.assignment_id, a.a.tenant_id, err);
    bf_ev_assignment_released_clear(&a);
    return rc;
}

static int on_expired(void *state, struct bf_event *ev, struct bf_err *err)
{
    struct bf_ev_assignment_expired a;
    int rc = bf_ev_assignment_expired_decode(ev->data, &a, err);

    (void)state;
    if (rc == 0)
        rc = close_assignment(ev, a.a.assignment_id, a.a.tenant_id, err);
    bf_ev_assignment_expired_clear(&a);
    return rc;
}

/* {criterion: level} of a score or decision: levels only, never the feedback text. */
static json_t *levels_of_scores(const struct bf_ev_criterion_score *cs, size_t n)
{
    json_t *o = json_object();

    for (size_t i = 0; o && i < n; i++)
        json_object_set_new(o, cs[i].criterion_id, json_string(cs[i].level_id));
    return o;
}

/* scored: the assessor (pseudonymised) as the instructor, the levels without feedback. */
static int score_emit(const struct an_state *st, struct bf_event *ev,
                      const struct bf_ev_score_submitted *s, const struct an_sub *sub,
                      const struct an_ctx *c, const char *id, struct bf_err *err)
{
    char assessor[AN_PSEUDONYM_LEN + 1];
    struct an_stmt stmt;
    json_t *levels = NULL;
    int rc;

    if (an_pseudonym(st->conf.key, "assessor", "", s->assessor_id, assessor) < 0 ||
        !(levels = levels_of_scores(s->criteria, s->n_criteria)))
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    stmt_init(&stmt, c, id, AN_VERB_SCORED, s->submitted_at);
    stmt.registration = sub->registration;
    stmt.instructor = assessor;
    stmt.attempt = sub->attempt;
    stmt.criteria = levels;
    rc = an_emit_statement(ev, &stmt, s->tenant_id, st->lrs, err);
    json_decref(levels);
    return rc;
}

/*
 * Record scored_at on the score's assignment. assignment.created travels on another topic and
 * may be applied after the score: then the score is parked behind its submission (1) and
 * applied again when the assignment arrives (on_assigned()).
 */
static int scored_stored(struct bf_event *ev, const struct bf_ev_score_submitted *s,
                         struct bf_err *err)
{
    char at[BF_TIME_STRLEN];
    long long rows = 0;
    int rc = bf_pg_prepare(ev->pg, "an_scored", SCORED_SQL, err);

    fmt_time(s->submitted_at, at);
    const char *p[3] = {s->assignment_id, at, s->tenant_id};
    if (rc == 0)
        rc = bf_pg_cmd(ev->pg, "an_scored", 3, p, &rows, err);
    if (rc == 0 && rows == 0)
        return park(ev, s->tenant_id, s->submission_id, err);
    return rc;
}

static int on_score(void *state, struct bf_event *ev, struct bf_err *err)
{
    const struct an_state *st = state;
    struct bf_ev_score_submitted s;
    char id[BF_UUID_STRLEN + 1];
    struct an_sub sub;
    struct an_ctx c;
    int rc = bf_ev_score_submitted_decode(ev->data, &s, err);

    /* 1 from sub_ctx() or scored_stored(): parked, applied later */
    if (rc < 0 || (rc = ev_stmt_id(ev, NULL, id, err)) < 0 ||
        (rc = sub_ctx(st, ev, s.tenant_id, s.submission_id, &sub, &c, err)) != 0 ||
        (rc = scored_stored(ev, &s, err)) != 0)
        return rc < 0 ? rc : 0;
    if ((rc = score_emit(st, ev, &s, &sub, &c, id, err)) < 0)
        return rc;
    return an_pilots_dirty(ev->pg, s.tenant_id, err);
}

/* ---- decisions ------------------------------------------------------------------------ */

#define DECIDED_SQL                                                                                \
    "UPDATE analytics_submissions SET state = 'decided', outcome = $3,"                            \
    " decided_at = coalesce(decided_at, $4), last_activity_at = greatest(last_activity_at, $4)"    \
    " WHERE tenant_id = $1 AND submission_id = $2"
#define EARNED_SQL                                                                                 \
    "UPDATE analytics_cycles SET earned_at = coalesce(earned_at, $2) WHERE registration = $1"

static json_t *levels_of_decision(const struct bf_ev_decision_made *d)
{
    json_t *o = json_object();

    for (size_t i = 0; o && i < d->n_criteria; i++)
        json_object_set_new(o, d->criteria[i].criterion_id, json_string(d->criteria[i].level_id));
    return o;
}

static int decided_record(struct bf_event *ev, const struct bf_ev_decision_made *d,
                          const struct an_sub *sub, struct bf_err *err)
{
    char at[BF_TIME_STRLEN];
    int rc;

    fmt_time(d->decided_at, at);
    const char *p[4] = {d->tenant_id, d->submission_id, d->outcome, at};
    if ((rc = sql(ev->pg, "an_decided", DECIDED_SQL, 4, p, NULL, err)) < 0)
        return rc;
    if (strcmp(d->outcome, "earned") == 0) {
        const char *q[2] = {sub->registration, at};
        if ((rc = sql(ev->pg, "an_earned", EARNED_SQL, 2, q, NULL, err)) < 0)
            return rc;
    }
    return an_pilots_dirty(ev->pg, d->tenant_id, err);
}

/* passed, or failed (a not-yet: attempts_left says whether another attempt may follow). */
static int decision_emit(const struct an_state *st, struct bf_event *ev,
                         const struct bf_ev_decision_made *d, const struct an_sub *sub,
                         const struct an_ctx *c, const char *id, struct bf_err *err)
{
    bool earned = strcmp(d->outcome, "earned") == 0;
    struct an_stmt stmt;
    json_t *levels = levels_of_decision(d);
    int rc;

    if (!levels)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    stmt_init(&stmt, c, id, earned ? AN_VERB_PASSED : AN_VERB_FAILED, d->decided_at);
    stmt.registration = sub->registration;
    stmt.attempt = d->attempt;
    stmt.attempts_left = d->attempts_left;
    stmt.success = earned;
    stmt.criteria = levels;
    rc = an_emit_statement(ev, &stmt, d->tenant_id, st->lrs, err);
    json_decref(levels);
    return rc;
}

static int on_decision(void *state, struct bf_event *ev, struct bf_err *err)
{
    const struct an_state *st = state;
    struct bf_ev_decision_made d;
    char id[BF_UUID_STRLEN + 1];
    struct an_sub sub;
    struct an_ctx c;
    int rc = bf_ev_decision_made_decode(ev->data, &d, err);

    if (rc < 0)
        return rc;
    if ((rc = ev_stmt_id(ev, NULL, id, err)) == 0 &&
        (rc = sub_ctx(st, ev, d.tenant_id, d.submission_id, &sub, &c, err)) == 0 &&
        (rc = decided_record(ev, &d, &sub, err)) == 0)
        rc = decision_emit(st, ev, &d, &sub, &c, id, err);
    bf_ev_decision_made_clear(&d);
    return rc < 0 ? rc : 0; /* 1: parked until its submission arrives */
}

/* ---- credentials ---------------------------------------------------------------------- */

#define ISSUED_SQL                                                                                 \
    "INSERT INTO analytics_credentials (credential_uuid, tenant_id, educator_id, kind,"            \
    " submission_id, stack_id, statement_id, issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"   \
    " ON CONFLICT DO NOTHING"
#define REVOKED_SQL                                                                                \
    "UPDATE analytics_credentials SET revoked_at = coalesce(revoked_at, $2)"                       \
    " WHERE credential_uuid = $1 AND tenant_id = $3 RETURNING statement_id, stack_id"

static int issued_record(struct bf_event *ev, const struct bf_ev_credential_issued *ci,
                         const char *stmt_id, struct bf_err *err)
{
    char at[BF_TIME_STRLEN];

    fmt_time(ci->valid_from, at);
    const char *p[8] = {ci->credential_id, ci->tenant_id, ci->educator_id, ci->kind,
                        ci->submission_id, ci->stack_id,  stmt_id,         at};
    return sql(ev->pg, "an_issued", ISSUED_SQL, 8, p, NULL, err);
}

/* earned (object the badge), within the cycle's registration. */
static int issued_credential(const struct an_state *st, struct bf_event *ev,
                             const struct bf_ev_credential_issued *ci, const char *id,
                             struct bf_err *err)
{
    char badge[600];
    struct an_sub sub;
    struct an_ctx c;
    struct an_stmt stmt;
    int rc = sub_ctx(st, ev, ci->tenant_id, ci->submission_id, &sub, &c, err);

    if (rc != 0)
        return rc;
    /* The badge: the achievement's URL, or an IRI of ours when it is a bare id. */
    if (!strstr(ci->achievement_id, "://"))
        snprintf(badge, sizeof(badge), "%s/achievements/%s", st->conf.iri_base, ci->achievement_id);
    stmt_init(&stmt, &c, id, AN_VERB_EARNED, ci->valid_from);
    stmt.object_id = strstr(ci->achievement_id, "://") ? ci->achievement_id : badge;
    stmt.object_kind = TYPE_BADGE;
    stmt.registration = sub.registration;
    return an_emit_statement(ev, &stmt, ci->tenant_id, st->lrs, err);
}

/* completed: the stack. */
static int issued_stack(const struct an_state *st, struct bf_event *ev,
                        const struct bf_ev_credential_issued *ci, const char *id,
                        struct bf_err *err)
{
    struct an_ctx c;
    struct an_stmt stmt;
    int rc = ctx_fill(st, ci->tenant_id, ci->educator_id, NULL, 0, ci->stack_id, NULL, &c, err);

    if (rc < 0)
        return rc;
    stmt_init(&stmt, &c, id, AN_VERB_COMPLETED, ci->valid_from);
    stmt.object_id = c.stack;
    stmt.object_kind = TYPE_STACK;
    stmt.parent = NULL;
    return an_emit_statement(ev, &stmt, ci->tenant_id, st->lrs, err);
}

static int on_issued(void *state, struct bf_event *ev, struct bf_err *err)
{
    struct bf_ev_credential_issued ci;
    char id[BF_UUID_STRLEN + 1];
    int rc = bf_ev_credential_issued_decode(ev->data, &ci, err);

    if (rc < 0 || (rc = ev_stmt_id(ev, NULL, id, err)) < 0)
        return rc;
    rc = strcmp(ci.kind, "stack") == 0 ? issued_stack(state, ev, &ci, id, err)
                                       : issued_credential(state, ev, &ci, id, err);
    if (rc == 0)
        rc = issued_record(ev, &ci, id, err);
    return rc < 0 ? rc : 0; /* 1: parked until its submission arrives */
}

/* A revocation of a credential not seen: its issue may be parked with its submission (then
 * the revocation is parked behind it); otherwise it is a gap (unseen()). */
static int revoked_unseen(const struct an_state *st, struct bf_event *ev,
                          const struct bf_ev_credential_revoked *cr, struct bf_err *err)
{
    struct an_sub sub;
    int rc = -BF_ENOTFOUND;

    if (cr->submission_id)
        rc = an_sub_load(ev->pg, cr->tenant_id, cr->submission_id, &sub, err);
    if (rc == -BF_ENOTFOUND && cr->submission_id)
        return park(ev, cr->tenant_id, cr->submission_id, err) < 0 ? -err->code : 0;
    if (rc < 0 && rc != -BF_ENOTFOUND)
        return rc;
    bf_err_set(err, BF_ENOTFOUND, "credential %s not seen by analytics", cr->credential_id);
    return unseen(st, ev, err);
}

/* voided: a StatementRef to the earned/completed statement of the revoked credential. */
static int on_revoked(void *state, struct bf_event *ev, struct bf_err *err)
{
    const struct an_state *st = state;
    struct bf_ev_credential_revoked cr;
    char id[BF_UUID_STRLEN + 1], at[BF_TIME_STRLEN], target[BF_UUID_STRLEN + 1];
    PGresult *res = NULL;
    struct an_ctx c;
    struct an_stmt stmt;
    int rc = bf_ev_credential_revoked_decode(ev->data, &cr, err);

    if (rc < 0 || (rc = ev_stmt_id(ev, NULL, id, err)) < 0)
        return rc;
    fmt_time(cr.revoked_at, at);
    const char *p[3] = {cr.credential_id, at, cr.tenant_id};
    if ((rc = sql(ev->pg, "an_revoked", REVOKED_SQL, 3, p, &res, err)) < 0)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return revoked_unseen(st, ev, &cr, err);
    }
    bf_strlcpy(target, PQgetvalue(res, 0, 0), sizeof(target));
    PQclear(res);
    if ((rc = ctx_fill(st, cr.tenant_id, cr.educator_id, NULL, 0, NULL, NULL, &c, err)) < 0)
        return rc;
    stmt_init(&stmt, &c, id, AN_VERB_VOIDED, cr.revoked_at);
    stmt.statement_ref = true;
    stmt.object_id = target;
    return an_emit_statement(ev, &stmt, cr.tenant_id, st->lrs, err);
}

static const struct bf_event_handler *handler_of(const char *topic, const char *type)
{
    for (const struct bf_event_handler *h = analytics_handlers; h->topic; h++) {
        if (strcmp(h->topic, topic) == 0 && strcmp(h->type, type) == 0)
            return h;
    }
    return NULL;
}

/* Every type of the topics consumed. Types not listed are dead-lettered by the skeleton as
 * unknown; listed types without a step (evidence, overrides, rejected scores) are checked
 * and acknowledged. */
const struct bf_event_handler analytics_handlers[] = {
    {"submissions", BF_EV_SUBMISSION_SUBMITTED, on_submitted},
    {"submissions", BF_EV_SUBMISSION_WITHDRAWN, on_withdrawn},
    {"evidence", BF_EV_EVIDENCE_PROCESSED, on_ignore},
    {"evidence", BF_EV_EVIDENCE_FAILED, on_ignore},
    {"submissions.ready", BF_EV_SUBMISSION_READY, on_ready},
    {"submissions.ready", BF_EV_SUBMISSION_REJECTED, on_rejected},
    {"assignments", BF_EV_ASSIGNMENT_CREATED, on_assigned},
    {"assignments", BF_EV_ASSIGNMENT_RELEASED, on_released},
    {"assignments", BF_EV_ASSIGNMENT_EXPIRED, on_expired},
    {"assignments", BF_EV_ASSIGNMENT_COMPLETED, on_ignore},
    {"scores", BF_EV_SCORE_SUBMITTED, on_score},
    {"scores", BF_EV_DECISION_OVERRIDE_REQUESTED, on_ignore},
    {"decisions", BF_EV_DECISION_MADE, on_decision},
    {"decisions", BF_EV_SCORE_REJECTED, on_ignore},
    {"credentials", BF_EV_CREDENTIAL_ISSUED, on_issued},
    {"credentials", BF_EV_CREDENTIAL_REVOKED, on_revoked},
    {NULL, NULL, NULL},
};
