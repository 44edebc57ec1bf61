/* SPDX-License-Identifier: Apache-2.0 */
/* Pilot metrics: recomputed from the views of 0009 after a debounce, emitted when changed. */
#include <libpq-fe.h>
#include <string.h>

#include "analytics.h"
#include "badgeflow/events.h"
#include "badgeflow/json.h"
#include "badgeflow/log.h"

#define DUE_SQL                                                                                    \
    "SELECT tenant_id, pilot_id FROM analytics_pilot_dirty"                                        \
    " WHERE since <= now() - make_interval(secs => $1::float8 / 1000) ORDER BY since LIMIT 50"
#define FIGURES_SQL                                                                                \
    "SELECT m::text, e.figures IS DISTINCT FROM m FROM analytics_pilot_metrics_json($1, $2) m"     \
    " LEFT JOIN analytics_pilot_emitted e ON e.tenant_id = $1 AND e.pilot_id = $2"
#define SAVE_SQL                                                                                   \
    "INSERT INTO analytics_pilot_emitted (tenant_id, pilot_id, figures) VALUES ($1, $2, $3)"       \
    " ON CONFLICT (tenant_id, pilot_id) DO UPDATE SET figures = $3, emitted_at = now()"
#define CLEAN_SQL "DELETE FROM analytics_pilot_dirty WHERE tenant_id = $1 AND pilot_id = $2"

/* Figures of one pilot as text; *changed when they differ from the last record. */
static int figures_text(struct bf_pg *pg, const char *tenant, const char *pilot, char **text,
                        bool *changed, struct bf_err *err)
{
    const char *p[2] = {tenant, pilot};
    PGresult *res;
    int rc = bf_pg_prepare(pg, "an_figures", FIGURES_SQL, err);

    *text = NULL;
    if (rc < 0)
        return rc;
    if (!(res = bf_pg_exec(pg, "an_figures", 2, p, err)))
        return -err->code;
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        *text = strdup(PQgetvalue(res, 0, 0));
        *changed = PQgetvalue(res, 0, 1)[0] == 't';
    }
    PQclear(res);
    return 0;
}

json_t *an_pilot_figures(struct bf_pg *pg, const char *tenant, const char *pilot,
                         struct bf_err *err)
{
    char *text = NULL;
    bool changed = false;
    json_t *j = NULL;

    if (figures_text(pg, tenant, pilot, &text, &changed, err) < 0)
        return NULL;
    if (!text)
        bf_err_set(err, BF_ENOTFOUND, "pilot %s/%s does not exist", tenant, pilot);
    else
        j = bf_json_parse_object(text, strlen(text), err);
    free(text);
    return j;
}

/* Add computed_at, check the record against its contract, emit it keyed by the pilot id. */
static int emit_metrics(struct bf_daemon *d, struct bf_pg *pg, const char *pilot, json_t *data,
                        struct bf_err *err)
{
    char now[BF_TIME_STRLEN];
    struct bf_ev_pilot_metrics m;

    bf_time_format(bf_now_ms(), now);
    json_object_set_new(data, "computed_at", json_string(now));
    if (bf_ev_pilot_metrics_decode(data, &m, err) < 0)
        return bf_err_prefix(err, "pilot.metrics of %s breaks its schema", pilot);
    bf_ev_pilot_metrics_clear(&m);
    struct bf_emit e = {"metrics.pilot", BF_EV_PILOT_METRICS, pilot, pilot, NULL, data};
    return bf_daemon_emit_pg(d, pg, &e, NULL, err);
}

struct flush_one {
    struct bf_daemon *d;
    const char *tenant, *pilot;
    bool emitted;
};

/* In one transaction: recompute, emit if changed, remember, clear the dirty mark. */
static int flush_one_tx(struct bf_pg *pg, void *arg, struct bf_err *err)
{
    struct flush_one *f = arg;
    char *text = NULL;
    bool changed = false;
    json_t *data = NULL;
    int rc = figures_text(pg, f->tenant, f->pilot, &text, &changed, err);

    if (rc < 0)
        return rc;
    if (text && changed) {
        const char *p[3] = {f->tenant, f->pilot, text};
        if (!(data = bf_json_parse_object(text, strlen(text), err)) ||
            (rc = emit_metrics(f->d, pg, f->pilot, data, err)) < 0 ||
            (rc = bf_pg_prepare(pg, "an_save", SAVE_SQL, err)) < 0 ||
            (rc = bf_pg_cmd(pg, "an_save", 3, p, NULL, err)) < 0)
            goto out;
        f->emitted = true;
    }
    const char *q[2] = {f->tenant, f->pilot};
    if ((rc = bf_pg_prepare(pg, "an_clean", CLEAN_SQL, err)) == 0)
        rc = bf_pg_cmd(pg, "an_clean", 2, q, NULL, err);
out:
    if (!data && text && changed && rc == 0)
        rc = -BF_EINVAL;
    json_decref(data);
    free(text);
    return rc;
}

int an_pilot_flush(struct bf_daemon *d, int64_t debounce_ms, struct bf_err *err)
{
    struct bf_pg *pg = bf_daemon_pg(d);
    char ms[24];
    const char *p[1] = {ms};
    PGresult *res;
    int emitted = 0, rc = bf_pg_prepare(pg, "an_due", DUE_SQL, err);

    snprintf(ms, sizeof(ms), "%lld", (long long)debounce_ms);
    if (rc < 0)
        return rc;
    if (!(res = bf_pg_exec(pg, "an_due", 1, p, err)))
        return -err->code;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        struct flush_one f = {d, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), false};
        rc = bf_pg_tx(pg, flush_one_tx, &f, err);
        emitted += f.emitted;
    }
    PQclear(res);
    return rc < 0 ? rc : emitted;
}

/* ---- rebuild: recompute from the stored facts and compare with what was published ---- */

#define PUBLISHED_SQL                                                                              \
    "SELECT figures::text FROM analytics_pilot_emitted WHERE tenant_id = $1 AND pilot_id = $2"
#define PUBLISHED_ALL_SQL                                                                          \
    "SELECT tenant_id, pilot_id FROM analytics_pilot_emitted"                                      \
    " WHERE $1::text IS NULL OR tenant_id = $1 ORDER BY tenant_id, pilot_id"

json_t *an_figures_diff(const json_t *a, const json_t *b)
{
    json_t *fields = json_array(), *v;
    const char *key;

    if (!fields)
        return NULL;
    json_object_foreach((json_t *)a, key, v)
    {
        if (!json_equal(v, json_object_get(b, key)))
            json_array_append_new(fields, json_string(key));
    }
    json_object_foreach((json_t *)b, key, v)
    {
        if (!json_object_get(a, key))
            json_array_append_new(fields, json_string(key));
    }
    return fields;
}

/* The figures last published for the pilot (without computed_at); NULL with err. */
static json_t *pilot_published(struct bf_pg *pg, const char *tenant, const char *pilot,
                               struct bf_err *err)
{
    const char *p[2] = {tenant, pilot};
    PGresult *res;
    json_t *j = NULL;

    if (bf_pg_prepare(pg, "an_published", PUBLISHED_SQL, err) < 0 ||
        !(res = bf_pg_exec(pg, "an_published", 2, p, err)))
        return NULL;
    if (PQntuples(res) != 1)
        bf_err_set(err, BF_ENOTFOUND, "pilot %s/%s was never published", tenant, pilot);
    else
        j = bf_json_parse_object(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), err);
    PQclear(res);
    return j;
}

int an_pilot_check(struct bf_pg *pg, const char *tenant, const char *pilot, json_t **fields,
                   struct bf_err *err)
{
    json_t *now = NULL, *then = NULL;
    int rc = 0;

    *fields = NULL;
    if (!(then = pilot_published(pg, tenant, pilot, err)))
        return -err->code;
    now = an_pilot_figures(pg, tenant, pilot, err);
    if (!now && err->code != BF_ENOTFOUND) {
        rc = -err->code;
        goto out;
    }
    /* A pilot deleted since it was published: every field differs. */
    if (!now)
        now = json_object();
    if (!now || !(*fields = an_figures_diff(now, then)))
        rc = bf_err_set(err, BF_ENOMEM, "out of memory");
out:
    json_decref(now);
    json_decref(then);
    return rc < 0 ? rc : json_array_size(*fields) > 0;
}

/* Check one listed pilot and hand the result to fn. 1 when it differs, 0 or -BF_E*. */
static int rebuild_one(struct bf_pg *pg, const char *tenant, const char *pilot, an_rebuild_fn *fn,
                       void *arg, struct bf_err *err)
{
    json_t *fields = NULL;
    int rc = an_pilot_check(pg, tenant, pilot, &fields, err);

    if (rc >= 0)
        fn(arg, tenant, pilot, fields);
    json_decref(fields);
    return rc;
}

int an_pilot_rebuild(struct bf_pg *pg, const char *tenant, an_rebuild_fn *fn, void *arg,
                     struct bf_err *err)
{
    const char *p[1] = {tenant};
    PGresult *res;
    int differ = 0, rc = bf_pg_prepare(pg, "an_published_all", PUBLISHED_ALL_SQL, err);

    if (rc < 0)
        return rc;
    if (!(res = bf_pg_exec(pg, "an_published_all", 1, p, err)))
        return -err->code;
    for (int i = 0; i < PQntuples(res) && rc >= 0; i++) {
        rc = rebuild_one(pg, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), fn, arg, err);
        differ += rc > 0;
    }
    PQclear(res);
    return rc < 0 ? rc : differ;
}
