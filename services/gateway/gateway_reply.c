/* SPDX-License-Identifier: Apache-2.0 */
/* Replies, RFC 9457 problems naming the field, and the small SQL and emit helpers. */
#include <ctype.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/events.h"
#include "badgeflow/json.h"
#include "badgeflow/log.h"
#include "gateway.h"

void gw_reply_text(struct gw_req *r, int status, const char *text)
{
    free(r->out);
    r->out = strdup(text);
    r->status = r->out ? status : 500;
    r->out_type = "application/json";
}

void gw_reply_json(struct gw_req *r, int status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    free(r->out);
    r->out = s;
    r->status = s ? status : 500;
    r->out_type = "application/json";
}

void gw_reply_header(struct gw_req *r, const char *name, const char *value)
{
    if (r->nhdr >= GW_MAX_RESP_HEADER)
        return;
    snprintf(r->hdr_store[r->nhdr], sizeof(r->hdr_store[0]), "%s", value);
    r->hdr[r->nhdr][0] = name;
    r->hdr[r->nhdr][1] = r->hdr_store[r->nhdr];
    r->nhdr++;
}

void gw_field_pointer(const char *field, char *out, size_t n)
{
    size_t o = 0;

    if (n < 2)
        return;
    out[o++] = '/';
    for (const char *p = field; *p && o + 2 < n; p++) {
        if (*p == '.' || *p == '[')
            out[o++] = '/';
        else if (*p == '~' && o + 3 < n) {
            out[o++] = '~';
            out[o++] = '0';
        } else if (*p == '/' && o + 3 < n) {
            out[o++] = '~';
            out[o++] = '1';
        } else if (*p != ']')
            out[o++] = *p;
    }
    out[o] = '\0';
}

static json_t *problem_errors(const char *field, const char *detail)
{
    char ptr[300];

    gw_field_pointer(field, ptr, sizeof(ptr));
    return json_pack("[{ssssss}]", "pointer", ptr, "field", field, "detail", detail);
}

static void problem_send(struct gw_req *r, int status, const char *slug, const char *title,
                         const char *field, const char *detail)
{
    char type[160];
    json_t *j;

    snprintf(type, sizeof(type), "https://badgeflow.dev/problems/%s", slug);
    j = json_pack("{sssssiss}", "type", type, "title", title, "status", status, "detail", detail);
    if (j && field)
        json_object_set_new(j, "errors", problem_errors(field, detail));
    gw_reply_json(r, status, j);
    r->out_type = "application/problem+json";
}

void gw_problem(struct gw_req *r, int status, const char *slug, const char *title,
                const char *field, const char *fmt, ...)
{
    char detail[600];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    problem_send(r, status, slug, title, field, detail);
}

/* The field is what precedes the first ": " when it looks like a path (no spaces). */
void gw_problem_err(struct gw_req *r, int status, const char *slug, const char *title,
                    const struct bf_err *err)
{
    const char *colon = strstr(err->msg, ": ");
    char field[200];
    size_t n = colon ? (size_t)(colon - err->msg) : 0;

    /* "postgres: ..." names the server, not a field of the request */
    if (n == 0 || n >= sizeof(field) || memchr(err->msg, ' ', n) ||
        strncmp(err->msg, "postgres:", 9) == 0) {
        problem_send(r, status, slug, title, NULL, err->msg);
        return;
    }
    memcpy(field, err->msg, n);
    field[n] = '\0';
    problem_send(r, status, slug, title, field, err->msg);
}

void gw_problem_db(struct gw_req *r, const struct bf_err *err)
{
    switch (err->code) {
    case BF_ETRANSIENT:
        gw_reply_header(r, "Retry-After", "2");
        gw_problem(r, 503, "unavailable", "Service unavailable", NULL,
                   "the database is not reachable; retry later");
        break;
    case BF_ECONFLICT:
        gw_problem_err(r, 409, "conflict", "Conflict", err);
        break;
    case BF_EINVAL:
        gw_problem_err(r, 422, "invalid", "Unprocessable content", err);
        break;
    case BF_ENOTFOUND:
        gw_problem_err(r, 404, "not-found", "Not found", err);
        break;
    default:
        bf_log_err("BF_GATEWAY_INTERNAL", "%s %s: %s", r->method, r->path, err->msg);
        gw_problem(r, 500, "internal", "Internal error", NULL, "an internal error happened");
    }
}

json_t *gw_body_json(struct gw_req *r)
{
    struct bf_err err = {0};
    json_t *j = bf_json_parse_object(r->body ? r->body : "", r->body_len, &err);

    if (!j) {
        const char *m = err.msg;
        if (strncmp(m, "value: ", 7) == 0)
            m += 7;
        gw_problem(r, 400, "malformed-json", "Malformed JSON", NULL, "request body: %s", m);
    }
    return j;
}

void gw_json_sha256(const json_t *j, char out[65])
{
    char *s = bf_json_dump(j);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    EVP_Digest(s ? s : "", s ? strlen(s) : 0, md, &len, EVP_sha256(), NULL);
    bf_hex(md, len, out);
    free(s);
}

char *gw_query_text(struct bf_pg *pg, const char *sql, int n, const char *const *v,
                    struct bf_err *err)
{
    PGresult *res = bf_pg_query(pg, sql, n, v, err);
    char *out = NULL;

    if (!res)
        return NULL;
    bf_err_clear(err);
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)) {
        out = strdup(PQgetvalue(res, 0, 0));
        if (!out)
            bf_err_set(err, BF_ENOMEM, "out of memory");
    }
    PQclear(res);
    return out;
}

int gw_exec(struct bf_pg *pg, const char *sql, int n, const char *const *v, struct bf_err *err)
{
    PGresult *res = bf_pg_query(pg, sql, n, v, err);

    if (!res)
        return -err->code;
    PQclear(res);
    return 0;
}

int gw_emit(struct gw_req *r, const char *type, const char *key, const json_t *data,
            char id_out[BF_UUID_STRLEN + 1], struct bf_err *err)
{
    struct bf_emit e = {bf_ev_topic_of(type), type, key, key, NULL, data};

    /* Never publish what a consumer would dead-letter. */
    if (bf_ev_check(type, data, err) < 0)
        return -BF_EINVAL;
    return bf_daemon_emit_pg(r->gw->d, r->pg, &e, id_out, err);
}
