/* SPDX-License-Identifier: Apache-2.0 */
/* A finished job: renditions, item state and events in one transaction; then settle the
 * submission (ready or rejected) once every item is done. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/events.h"
#include "badgeflow/log.h"
#include "transcoder_int.h"

static int emit(struct tc_state *s, struct bf_pg *pg, const char *topic, const char *type,
                const char *sub, json_t *data, struct bf_err *err)
{
    struct bf_emit e = {topic, type, sub, sub, NULL, data};
    int rc;

    if (!data)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    rc = bf_daemon_emit_pg(s->d, pg, &e, NULL, err);
    json_decref(data);
    return rc;
}

/* ---- settle ------------------------------------------------------------------------------ */

static json_t *rendition_json(const PGresult *r, int i)
{
    static const char *const ints[] = {"width", "height", "duration_ms"};
    json_t *o =
        json_pack("{sssssssIss}", "name", tc_val(r, i, 3), "uri", tc_val(r, i, 4), "content_type",
                  tc_val(r, i, 5), "bytes", (json_int_t)strtoll(tc_val(r, i, 9), NULL, 10),
                  "sha256", tc_val(r, i, 10));

    for (int k = 0; o && k < 3; k++)
        if (tc_val(r, i, 6 + k))
            json_object_set_new(o, ints[k], json_integer(strtoll(tc_val(r, i, 6 + k), NULL, 10)));
    if (o && tc_val(r, i, 11))
        json_object_set_new(o, "codec", json_string(tc_val(r, i, 11)));
    return o;
}

/* evidence refs: one per item, its renditions (rows ordered by item). */
static json_t *evidence_refs(const PGresult *r)
{
    json_t *list = json_array(), *cur = NULL;

    for (int i = 0; list && i < PQntuples(r); i++) {
        if (!cur ||
            strcmp(json_string_value(json_object_get(cur, "item_id")), tc_val(r, i, 0)) != 0) {
            cur = json_pack("{sssssss[]}", "item_id", tc_val(r, i, 0), "kind", tc_val(r, i, 1),
                            "requirement", tc_val(r, i, 2), "renditions");
            json_array_append_new(list, cur);
        }
        json_array_append_new(json_object_get(cur, "renditions"), rendition_json(r, i));
    }
    return list;
}

static int settle_ready(struct tc_state *s, struct bf_pg *pg, const char *const p[2],
                        struct bf_err *err)
{
    const char *st[4] = {p[0], p[1], "ready", NULL};
    PGresult *info = tc_q(pg, &tc_sql_sub_info, 2, p, err), *refs = NULL;
    json_t *data = NULL;
    int rc = -BF_ETRANSIENT;

    if (info && (refs = tc_q(pg, &tc_sql_refs, 2, p, err)) &&
        (rc = tc_cmd(pg, &tc_sql_set_state, 4, st, NULL, err)) == 0) {
        data = json_pack(
            "{sssssssisisO}", "submission_id", p[1], "tenant_id", p[0], "credential_id",
            tc_val(info, 0, 0), "credential_version", (int)strtol(tc_val(info, 0, 1), NULL, 10),
            "attempt", (int)strtol(tc_val(info, 0, 2), NULL, 10), "evidence", evidence_refs(refs));
        if (data && tc_val(info, 0, 3))
            json_object_set_new(data, "previous_submission_id", json_string(tc_val(info, 0, 3)));
        rc = emit(s, pg, "submissions.ready", BF_EV_SUBMISSION_READY, p[1], data, err);
    }
    PQclear(info);
    PQclear(refs);
    if (rc == 0)
        bf_log_kv(BF_LOG_INFO, "BF_TRANSCODER_READY", "submission ready", "submission", p[1], NULL);
    return info && refs ? rc : -err->code;
}

static int settle_rejected(struct tc_state *s, struct bf_pg *pg, const char *const p[2],
                           struct bf_err *err)
{
    PGresult *f = tc_q(pg, &tc_sql_failures, 2, p, err), *info = NULL;
    json_t *reasons = json_array(), *data;
    char all[1000] = "";
    int rc;

    if (!f || !(info = tc_q(pg, &tc_sql_sub_info, 2, p, err))) {
        PQclear(f);
        json_decref(reasons);
        return -err->code;
    }
    for (int i = 0; i < PQntuples(f) && i < BF_EV_MAX_REASONS; i++) {
        json_array_append_new(reasons, json_pack("{ssssss}", "item_id", tc_val(f, i, 0), "code",
                                                 tc_val(f, i, 1), "message", tc_val(f, i, 2)));
        size_t n = strlen(all);
        snprintf(all + n, sizeof(all) - n, "%s%s (%s): %s", n ? "; " : "", tc_val(f, i, 0),
                 tc_val(f, i, 3), tc_val(f, i, 2));
    }
    data = json_pack("{sssssssO}", "submission_id", p[1], "tenant_id", p[0], "credential_id",
                     tc_val(info, 0, 0), "reasons", reasons);
    const char *st[4] = {p[0], p[1], "rejected", all};
    rc = tc_cmd(pg, &tc_sql_set_state, 4, st, NULL, err);
    if (rc == 0)
        rc = emit(s, pg, "submissions.ready", BF_EV_SUBMISSION_REJECTED, p[1], data, err);
    else
        json_decref(data);
    json_decref(reasons);
    PQclear(f);
    PQclear(info);
    if (rc == 0)
        bf_log_kv(BF_LOG_INFO, "BF_TRANSCODER_REJECTED", "submission rejected", "submission", p[1],
                  "reason", all, NULL);
    return rc;
}

int tc_settle(struct tc_state *s, struct bf_pg *pg, const char *tenant, const char *sub,
              struct bf_err *err)
{
    const char *p[2] = {tenant, sub};
    PGresult *r = tc_q(pg, &tc_sql_counts, 2, p, err);
    long long pending, failed;

    if (!r)
        return -err->code;
    pending = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    failed = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    if (pending > 0)
        return 0;
    return failed ? settle_rejected(s, pg, p, err) : settle_ready(s, pg, p, err);
}

/* ---- one item ---------------------------------------------------------------------------- */

static const char *num(const json_t *o, const char *k, char buf[24])
{
    const json_t *v = json_object_get(o, k);

    if (!json_is_integer(v))
        return NULL;
    snprintf(buf, 24, "%lld", (long long)json_integer_value(v));
    return buf;
}

static int put_renditions(struct bf_pg *pg, const struct tc_slot *sl, const json_t *list,
                          struct bf_err *err)
{
    size_t i;
    json_t *r;

    json_array_foreach(list, i, r)
    {
        char w[24], h[24], d[24], b[24];
        const char *p[13] = {sl->tenant,
                             sl->sub,
                             sl->item,
                             json_string_value(json_object_get(r, "name")),
                             json_string_value(json_object_get(r, "uri")),
                             json_string_value(json_object_get(r, "content_type")),
                             num(r, "width", w),
                             num(r, "height", h),
                             num(r, "duration_ms", d),
                             num(r, "bytes", b),
                             json_string_value(json_object_get(r, "sha256")),
                             json_string_value(json_object_get(r, "codec")),
                             json_string_value(json_object_get(r, "audio_codec"))};
        if (tc_cmd(pg, &tc_sql_rendition, 13, p, NULL, err) < 0)
            return -err->code;
    }
    return 0;
}

/* The event's renditions: the stored ones without audio_codec (the schema is closed). */
static json_t *event_renditions(const json_t *list)
{
    json_t *out = json_deep_copy(list), *r;
    size_t i;

    json_array_foreach(out, i, r) json_object_del(r, "audio_codec");
    return out;
}

/* media_metadata of the event: only the schema's fields. */
static json_t *event_metadata(const json_t *meta)
{
    static const char *const keys[] = {"duration_ms", "width",     "height",      "video_codec",
                                       "audio_codec", "container", "content_type"};
    json_t *out = json_object();

    for (size_t i = 0; out && i < sizeof(keys) / sizeof(keys[0]); i++)
        if (json_object_get(meta, keys[i]))
            json_object_set(out, keys[i], json_object_get(meta, keys[i]));
    return out;
}

static int record_processed(struct tc_state *s, struct bf_pg *pg, const struct tc_slot *sl,
                            const json_t *res, struct bf_err *err)
{
    const json_t *list = json_object_get(res, "renditions"),
                 *meta = json_object_get(res, "metadata");
    const json_t *first = json_array_get(list, 0);
    char b[24], d[24], w[24], h[24], *mj = json_dumps(meta, JSON_COMPACT);
    bool doc = strcmp(sl->kind, "document") == 0 || strcmp(sl->kind, "text") == 0;
    const char *p[10] = {sl->tenant,
                         sl->sub,
                         sl->item,
                         json_string_value(json_object_get(meta, "sha256")),
                         json_string_value(json_object_get(meta, "content_type")),
                         num(meta, "bytes", b),
                         num(meta, "duration_ms", d),
                         num(meta, "width", w),
                         num(meta, "height", h),
                         doc ? json_string_value(json_object_get(first, "uri")) : NULL};
    const char *jd[4] = {sl->tenant, sl->sub, sl->item, mj};
    int rc = put_renditions(pg, sl, list, err);

    if (rc == 0)
        rc = tc_cmd(pg, &tc_sql_processed, 10, p, NULL, err);
    if (rc == 0)
        rc = tc_cmd(pg, &tc_sql_job_done, 4, jd, NULL, err);
    free(mj);
    if (rc == 0)
        rc = emit(s, pg, "evidence", BF_EV_EVIDENCE_PROCESSED, sl->sub,
                  json_pack("{sssssssssoso}", "submission_id", sl->sub, "tenant_id", sl->tenant,
                            "item_id", sl->item, "kind", sl->kind, "renditions",
                            event_renditions(list), "metadata", event_metadata(meta)),
                  err);
    return rc;
}

static int record_failed(struct tc_state *s, struct bf_pg *pg, const struct tc_slot *sl,
                         const char *code, const char *reason, struct bf_err *err)
{
    const char *p[5] = {sl->tenant, sl->sub, sl->item, code, reason};
    const char *jd[4] = {sl->tenant, sl->sub, sl->item, NULL};
    int rc = tc_cmd(pg, &tc_sql_failed, 5, p, NULL, err);

    if (rc == 0)
        rc = tc_cmd(pg, &tc_sql_job_done, 4, jd, NULL, err);
    if (rc == 0)
        rc = emit(s, pg, "evidence", BF_EV_EVIDENCE_FAILED, sl->sub,
                  json_pack("{ssssssssssss}", "submission_id", sl->sub, "tenant_id", sl->tenant,
                            "item_id", sl->item, "kind", sl->kind, "reason_code", code, "reason",
                            reason),
                  err);
    bf_log_kv(BF_LOG_INFO, "BF_TRANSCODER_ITEM_FAILED", "evidence item failed", "submission",
              sl->sub, "item", sl->item, "code", code, "reason", reason, NULL);
    return rc;
}

/* Still ours to record: the item pending and its submission processing (a withdrawal or
 * another instance that took over an expired lease may have settled it meanwhile). */
static int still_pending(struct bf_pg *pg, const struct tc_slot *sl, bool *yes, struct bf_err *err)
{
    const char *p[3] = {sl->tenant, sl->sub, sl->item};
    PGresult *r = tc_q(pg, &tc_sql_lock_item, 3, p, err);

    if (!r)
        return -err->code;
    *yes = PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "pending") &&
           !strcmp(PQgetvalue(r, 0, 1), "processing");
    PQclear(r);
    return 0;
}

static int finish_tx(struct bf_pg *pg, void *arg, struct bf_err *err)
{
    void **a = arg;
    struct tc_state *s = a[0];
    const struct tc_slot *sl = a[1];
    const json_t *res = a[2];
    bool yes = false;
    int rc = still_pending(pg, sl, &yes, err);

    if (rc < 0 || !yes)
        return rc;
    if (json_is_true(json_object_get(res, "ok")))
        rc = record_processed(s, pg, sl, res, err);
    else
        rc = record_failed(s, pg, sl, json_string_value(json_object_get(res, "code")),
                           json_string_value(json_object_get(res, "reason")), err);
    return rc < 0 ? rc : tc_settle(s, pg, sl->tenant, sl->sub, err);
}

int tc_finish(struct tc_state *s, const struct tc_slot *slot, const json_t *result,
              struct bf_err *err)
{
    void *arg[3] = {s, (void *)slot, (void *)result};

    return bf_pg_tx(bf_daemon_pg(s->d), finish_tx, arg, err);
}
