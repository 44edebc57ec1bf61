/* SPDX-License-Identifier: Apache-2.0 */
/* PostgreSQL connection with retry and back-off, prepared statements, transactions. */
#include <ctype.h>
#include <dirent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/log.h"
#include "badgeflow/pg.h"
#include "badgeflow/util.h"

#define BACKOFF_BASE_MS     100
#define BACKOFF_CAP_MS      5000
#define MIGRATION_MAX_BYTES ((size_t)(16 * 1024 * 1024))
/* One lock for every migration runner of the database (pg_advisory_xact_lock). */
#define MIGRATE_LOCK "SELECT pg_advisory_xact_lock(hashtext('badgeflow:migrate'))"

struct pg_stmt {
    char *name;
    char *sql;
};

struct bf_pg {
    PGconn *conn;
    char *conninfo;
    char connect_timeout[24]; /* seconds, "" to leave conninfo's */
    char options[64];         /* "-c statement_timeout=..." or "" */
    char app[64];
    struct pg_stmt *stmts;
    size_t nstmts, cap;
    bool in_tx;
    unsigned generation;
    unsigned attempt;
    int64_t next_try_ms;
};

static void notice_cb(void *arg, const char *message)
{
    char msg[1024];
    size_t n;

    (void)arg;
    bf_strlcpy(msg, message, sizeof(msg));
    n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    bf_log_debug("BF_PG_NOTICE", "%s", msg);
}

struct bf_pg *bf_pg_new(const char *conninfo, struct bf_err *err)
{
    struct bf_pg *pg = calloc(1, sizeof(*pg));

    if (!pg || !(pg->conninfo = strdup(conninfo))) {
        free(pg);
        bf_err_set(err, BF_ENOMEM, "postgres: out of memory");
        return NULL;
    }
    bf_strlcpy(pg->app, "badgeflow", sizeof(pg->app));
    return pg;
}

struct bf_pg *bf_pg_new_cfg(const struct bf_cfg *cfg, const char *app, struct bf_err *err)
{
    struct bf_pg *pg = bf_pg_new(bf_cfg_str(cfg, "postgres.conninfo"), err);
    long long ct = bf_cfg_int(cfg, "postgres.connect_timeout");

    if (!pg)
        return NULL;
    /* libpq counts whole seconds; 0 would mean forever. */
    snprintf(pg->connect_timeout, sizeof(pg->connect_timeout), "%lld", ct < 1000 ? 1 : ct / 1000);
    snprintf(pg->options, sizeof(pg->options), "-c statement_timeout=%lld",
             bf_cfg_int(cfg, "postgres.statement_timeout"));
    snprintf(pg->app, sizeof(pg->app), "badgeflow-%s", app);
    return pg;
}

static void pg_close(struct bf_pg *pg)
{
    if (pg->conn)
        PQfinish(pg->conn);
    pg->conn = NULL;
}

void bf_pg_free(struct bf_pg *pg)
{
    if (!pg)
        return;
    pg_close(pg);
    for (size_t i = 0; i < pg->nstmts; i++) {
        free(pg->stmts[i].name);
        free(pg->stmts[i].sql);
    }
    free(pg->stmts);
    free(pg->conninfo);
    free(pg);
}

bool bf_pg_connected(const struct bf_pg *pg)
{
    return pg->conn != NULL;
}

unsigned bf_pg_generation(const struct bf_pg *pg)
{
    return pg->generation;
}

bool bf_pg_in_tx(const struct bf_pg *pg)
{
    return pg->in_tx;
}

PGconn *bf_pg_conn(struct bf_pg *pg)
{
    return pg->conn;
}

/* ---- errors ---- */

static bool sqlstate_transient(const char *s)
{
    static const char *const codes[] = {"57P01", "57P02", "57P03", "40001",
                                        "40P01", "55P03", "57014"};

    if (strncmp(s, "08", 2) == 0 || strncmp(s, "53", 2) == 0)
        return true;
    for (size_t i = 0; i < BF_ARRAY_LEN(codes); i++) {
        if (strcmp(s, codes[i]) == 0)
            return true;
    }
    return false;
}

static int sqlstate_code(const char *s)
{
    if (!s)
        return BF_EINTERNAL;
    if (sqlstate_transient(s))
        return BF_ETRANSIENT;
    if (strcmp(s, "23505") == 0)
        return BF_ECONFLICT;
    if (strncmp(s, "22", 2) == 0 || strncmp(s, "23", 2) == 0)
        return BF_EINVAL;
    return BF_EINTERNAL;
}

/* The connection broke: drop it so the next bf_pg_ensure() opens a new one. */
static void pg_lost(struct bf_pg *pg)
{
    bf_log_warn("BF_PG_LOST", "postgres: connection lost%s",
                pg->in_tx ? " inside a transaction (rolled back by the server)" : "");
    pg_close(pg);
    pg->attempt = 0;
    pg->next_try_ms = 0;
}

/* First line of libpq's message for the failed result res (may be NULL). */
static void pg_message(const struct bf_pg *pg, const PGresult *res, char *buf, size_t n)
{
    const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    if (!m)
        m = pg->conn ? PQerrorMessage(pg->conn) : "not connected";
    bf_strlcpy(buf, m, n);
    buf[strcspn(buf, "\n")] = '\0';
}

/* Classify a failed statement into err; returns -code. */
static int pg_fail(struct bf_pg *pg, const PGresult *res, const char *what, struct bf_err *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char msg[400];
    int code;

    pg_message(pg, res, msg, sizeof(msg));
    code = sqlstate_code(state);
    if (!pg->conn || PQstatus(pg->conn) == CONNECTION_BAD) {
        code = BF_ETRANSIENT;
        if (pg->conn)
            pg_lost(pg);
    }
    return bf_err_set(err, code, "postgres: %s: %s%s%s%s", what, msg, state ? " (SQLSTATE " : "",
                      state ? state : "", state ? ")" : "");
}

/* res if it succeeded; otherwise NULL with err set (res freed). */
static PGresult *pg_result(struct bf_pg *pg, PGresult *res, const char *what, struct bf_err *err)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    pg_fail(pg, res, what, err);
    PQclear(res);
    return NULL;
}

/* Callers may pass err NULL; functions that read the code back use a local record. */
#define ERR_OR_LOCAL(err)                                                                          \
    struct bf_err err##_local_;                                                                    \
    if (!(err))                                                                                    \
    (err) = &err##_local_

/* -code of the error just set in err. */
static int last_code(const struct bf_err *err)
{
    return err->code ? -err->code : -BF_EINTERNAL;
}

/* Change err's code, keeping its message; returns -code. */
static int err_recode(struct bf_err *err, int code)
{
    if (err)
        err->code = code;
    return -code;
}

/* ---- connection ---- */

static int prepare_on_conn(struct bf_pg *pg, const struct pg_stmt *s, struct bf_err *err)
{
    PGresult *res = pg_result(pg, PQprepare(pg->conn, s->name, s->sql, 0, NULL), s->name, err);

    if (!res)
        return pg->conn ? -BF_EINVAL : -BF_ETRANSIENT;
    PQclear(res);
    return 0;
}

static int prepare_all(struct bf_pg *pg, struct bf_err *err)
{
    for (size_t i = 0; i < pg->nstmts; i++) {
        int rc = prepare_on_conn(pg, &pg->stmts[i], err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static PGconn *pg_open_conn(const struct bf_pg *pg)
{
    const char *kw[5] = {"dbname", "application_name", NULL, NULL, NULL};
    const char *val[5] = {pg->conninfo, pg->app, NULL, NULL, NULL};
    int n = 2;

    if (pg->connect_timeout[0]) {
        kw[n] = "connect_timeout";
        val[n++] = pg->connect_timeout;
    }
    if (pg->options[0]) {
        kw[n] = "options";
        val[n++] = pg->options;
    }
    return PQconnectdbParams(kw, val, 1);
}

static int pg_open(struct bf_pg *pg, struct bf_err *err)
{
    char msg[400];
    int rc;

    pg->conn = pg_open_conn(pg);
    if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK) {
        pg_message(pg, NULL, msg, sizeof(msg));
        pg_close(pg);
        return bf_err_set(err, BF_ETRANSIENT, "postgres: connect: %s", msg);
    }
    PQsetNoticeProcessor(pg->conn, notice_cb, NULL);
    pg->generation++;
    rc = prepare_all(pg, err);
    if (rc < 0)
        pg_close(pg);
    return rc;
}

int bf_pg_ensure(struct bf_pg *pg, struct bf_err *err)
{
    int64_t now = bf_mono_ms();
    int rc;

    ERR_OR_LOCAL(err);
    if (pg->conn)
        return 0;
    if (pg->in_tx)
        return bf_err_set(err, BF_ETRANSIENT, "postgres: connection lost inside a transaction");
    if (now < pg->next_try_ms)
        return bf_err_set(err, BF_ETRANSIENT, "postgres: not connected (next attempt in %lld ms)",
                          (long long)(pg->next_try_ms - now));
    rc = pg_open(pg, err);
    if (rc < 0) {
        pg->next_try_ms =
            bf_mono_ms() + bf_backoff_ms(pg->attempt, BACKOFF_BASE_MS, BACKOFF_CAP_MS);
        if (pg->attempt++ == 0 || pg->attempt % 10 == 0)
            bf_log_warn("BF_PG_CONNECT", "%s (attempt %u)", err->msg, pg->attempt);
        return rc;
    }
    if (pg->attempt > 0)
        bf_log_info("BF_PG_CONNECT", "postgres: connected after %u failed attempts", pg->attempt);
    pg->attempt = 0;
    return 0;
}

int bf_pg_connect(struct bf_pg *pg, const volatile sig_atomic_t *stop, struct bf_err *err)
{
    while (!(stop && *stop)) {
        if (bf_pg_ensure(pg, err) == 0)
            return 0;
        bf_sleep_ms(pg->next_try_ms - bf_mono_ms(), (const volatile int *)stop);
    }
    return bf_err_set(err, BF_ETRANSIENT, "postgres: connect: stopped before connecting");
}

/* ---- statements ---- */

static struct pg_stmt *stmt_find(struct bf_pg *pg, const char *name)
{
    for (size_t i = 0; i < pg->nstmts; i++) {
        if (strcmp(pg->stmts[i].name, name) == 0)
            return &pg->stmts[i];
    }
    return NULL;
}

static int stmt_add(struct bf_pg *pg, const char *name, const char *sql, struct bf_err *err)
{
    struct pg_stmt s = {strdup(name), strdup(sql)};

    if (pg->nstmts == pg->cap) {
        size_t cap = pg->cap ? pg->cap * 2 : 16;
        struct pg_stmt *grown = realloc(pg->stmts, cap * sizeof(*grown));
        if (!grown)
            goto nomem;
        pg->stmts = grown;
        pg->cap = cap;
    }
    if (!s.name || !s.sql)
        goto nomem;
    pg->stmts[pg->nstmts++] = s;
    return 0;
nomem:
    free(s.name);
    free(s.sql);
    return bf_err_set(err, BF_ENOMEM, "postgres: out of memory");
}

int bf_pg_prepare(struct bf_pg *pg, const char *name, const char *sql, struct bf_err *err)
{
    struct pg_stmt *s = stmt_find(pg, name);
    int rc;

    if (s) {
        if (strcmp(s->sql, sql) == 0)
            return 0;
        return bf_err_set(err, BF_EINVAL, "postgres: statement %s registered twice", name);
    }
    rc = stmt_add(pg, name, sql, err);
    if (rc < 0 || !pg->conn)
        return rc;
    rc = prepare_on_conn(pg, &pg->stmts[pg->nstmts - 1], err);
    if (rc < 0 && rc != -BF_ETRANSIENT) {
        /* The server refused the SQL: forget it so a fixed retry can register again. */
        pg->nstmts--;
        free(pg->stmts[pg->nstmts].name);
        free(pg->stmts[pg->nstmts].sql);
        return err_recode(err, BF_EINVAL);
    }
    return rc == -BF_ETRANSIENT ? rc : 0;
}

PGresult *bf_pg_execb(struct bf_pg *pg, const char *name, int nparams, const char *const *values,
                      const int *lengths, const int *formats, struct bf_err *err)
{
    PGresult *res;

    if (bf_pg_ensure(pg, err) < 0)
        return NULL;
    res = PQexecPrepared(pg->conn, name, nparams, values, lengths, formats, 0);
    return pg_result(pg, res, name, err);
}

PGresult *bf_pg_exec(struct bf_pg *pg, const char *name, int nparams, const char *const *values,
                     struct bf_err *err)
{
    return bf_pg_execb(pg, name, nparams, values, NULL, NULL, err);
}

PGresult *bf_pg_query(struct bf_pg *pg, const char *sql, int nparams, const char *const *values,
                      struct bf_err *err)
{
    PGresult *res;
    char what[48];

    if (bf_pg_ensure(pg, err) < 0)
        return NULL;
    if (nparams == 0)
        res = PQexec(pg->conn, sql);
    else
        res = PQexecParams(pg->conn, sql, nparams, NULL, values, NULL, NULL, 0);
    snprintf(what, sizeof(what), "%.40s", sql);
    what[strcspn(what, "\n")] = '\0';
    return pg_result(pg, res, what, err);
}

int bf_pg_cmd(struct bf_pg *pg, const char *name, int nparams, const char *const *values,
              long long *rows, struct bf_err *err)
{
    PGresult *res;
    long long n = 0;

    ERR_OR_LOCAL(err);
    res = bf_pg_exec(pg, name, nparams, values, err);
    if (!res)
        return last_code(err);
    if (rows) {
        const char *t = PQcmdTuples(res);
        *rows = t[0] && bf_parse_ll(t, 0, INT64_MAX, &n) == 0 ? n : 0;
    }
    PQclear(res);
    return 0;
}

/* ---- transactions ---- */

static int simple(struct bf_pg *pg, const char *sql, struct bf_err *err)
{
    PGresult *res;

    ERR_OR_LOCAL(err);
    res = bf_pg_query(pg, sql, 0, NULL, err);
    if (!res)
        return last_code(err);
    PQclear(res);
    return 0;
}

int bf_pg_begin(struct bf_pg *pg, struct bf_err *err)
{
    int rc;

    if (pg->in_tx)
        return bf_err_set(err, BF_EINTERNAL, "postgres: BEGIN inside a transaction");
    rc = simple(pg, "BEGIN", err);
    if (rc == 0)
        pg->in_tx = true;
    return rc;
}

int bf_pg_commit(struct bf_pg *pg, struct bf_err *err)
{
    PGresult *res;
    bool rolled_back;

    ERR_OR_LOCAL(err);
    if (!pg->in_tx)
        return bf_err_set(err, BF_EINTERNAL, "postgres: COMMIT outside a transaction");
    if (!pg->conn) {
        pg->in_tx = false;
        return bf_err_set(err, BF_ETRANSIENT, "postgres: connection lost inside a transaction");
    }
    res = pg_result(pg, PQexec(pg->conn, "COMMIT"), "COMMIT", err);
    pg->in_tx = false;
    if (!res)
        return last_code(err);
    /* COMMIT of a failed transaction "succeeds" as ROLLBACK. */
    rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
    PQclear(res);
    if (rolled_back)
        return bf_err_set(err, BF_EINTERNAL, "postgres: COMMIT: the transaction had failed");
    return 0;
}

void bf_pg_rollback(struct bf_pg *pg)
{
    if (pg->in_tx && pg->conn) {
        PGresult *res = PQexec(pg->conn, "ROLLBACK");
        if (PQstatus(pg->conn) == CONNECTION_BAD)
            pg_lost(pg);
        PQclear(res);
    }
    pg->in_tx = false;
}

int bf_pg_tx(struct bf_pg *pg, bf_pg_tx_fn *fn, void *arg, struct bf_err *err)
{
    int rc = bf_pg_begin(pg, err);

    if (rc < 0)
        return rc;
    rc = fn(pg, arg, err);
    if (rc < 0) {
        bf_pg_rollback(pg);
        return rc;
    }
    return bf_pg_commit(pg, err);
}

int bf_pg_ping(struct bf_pg *pg, struct bf_err *err)
{
    int rc;

    if (pg->in_tx)
        return pg->conn ? 0 : bf_err_set(err, BF_ETRANSIENT, "postgres: not connected");
    rc = simple(pg, "SELECT 1", err);
    return rc < 0 ? err_recode(err, BF_ETRANSIENT) : 0;
}

/* ---- migrations ---- */

struct migration {
    int version;
    char file[256];
    char sha256[65];
};

struct migration_set {
    struct migration *m;
    size_t n, cap;
};

/* "NNNN_name.sql" with name in [a-z0-9_]: its version, or -1. */
static int migration_version(const char *file)
{
    size_t len = strlen(file);
    long long v;
    char num[5];

    if (len < 10 || strcmp(file + len - 4, ".sql") != 0 || file[4] != '_')
        return -1;
    for (size_t i = 5; i < len - 4; i++) {
        if (!islower((unsigned char)file[i]) && !isdigit((unsigned char)file[i]) && file[i] != '_')
            return -1;
    }
    memcpy(num, file, 4);
    num[4] = '\0';
    if (!isdigit((unsigned char)num[0]) || bf_parse_ll(num, 1, 9999, &v) < 0)
        return -1;
    return (int)v;
}

static int set_add(struct migration_set *set, const char *file, int version, struct bf_err *err)
{
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 16;
        struct migration *grown = realloc(set->m, cap * sizeof(*grown));
        if (!grown)
            return bf_err_set(err, BF_ENOMEM, "migrate: out of memory");
        set->m = grown;
        set->cap = cap;
    }
    set->m[set->n].version = version;
    if (!bf_strlcpy(set->m[set->n].file, file, sizeof(set->m[set->n].file)))
        return bf_err_set(err, BF_EINVAL, "%s: file name too long", file);
    set->n++;
    return 0;
}

static int cmp_version(const void *a, const void *b)
{
    const struct migration *x = a, *y = b;

    return (x->version > y->version) - (x->version < y->version);
}

/* Read the .sql files of dir into set, sorted by version. */
static int migrations_list(const char *dir, struct migration_set *set, struct bf_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int rc = 0;

    if (!d)
        return bf_err_set(err, BF_EIO, "migrate: %s: cannot open the directory", dir);
    while (rc == 0 && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 4, ".sql") != 0)
            continue;
        int v = migration_version(e->d_name);
        if (v < 0)
            rc = bf_err_set(err, BF_EINVAL, "%s: must be named NNNN_name.sql ([a-z0-9_] name)",
                            e->d_name);
        else
            rc = set_add(set, e->d_name, v, err);
    }
    closedir(d);
    if (rc == 0 && set->n > 0)
        qsort(set->m, set->n, sizeof(*set->m), cmp_version);
    return rc;
}

/* Versions must run 1, 2, 3... with neither a gap nor a repeat. */
static int migrations_check_order(const struct migration_set *set, struct bf_err *err)
{
    for (size_t i = 0; i < set->n; i++) {
        int want = (int)i + 1;
        if (set->m[i].version == want)
            continue;
        if (set->m[i].version < want)
            return bf_err_set(err, BF_EINVAL, "%s: version %04d is used by %s too", set->m[i].file,
                              set->m[i].version, set->m[i - 1].file);
        return bf_err_set(err, BF_EINVAL, "%s: migration %04d is missing before it", set->m[i].file,
                          want);
    }
    return 0;
}

/* Whole file into a NUL-terminated buffer (caller frees). */
static char *read_file(const char *path, struct bf_err *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    if (!f) {
        bf_err_set(err, BF_EIO, "%s: cannot open", path);
        return NULL;
    }
    buf = malloc(MIGRATION_MAX_BYTES + 1);
    n = buf ? fread(buf, 1, MIGRATION_MAX_BYTES + 1, f) : 0;
    if (!buf || ferror(f) || n > MIGRATION_MAX_BYTES) {
        bf_err_set(err, BF_EIO, "%s: cannot read (or over 16 MiB)", path);
        free(buf);
        buf = NULL;
    } else {
        buf[n] = '\0';
    }
    fclose(f);
    return buf;
}

static void sha256_hex(const char *data, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    EVP_Digest(data, strlen(data), md, &len, EVP_sha256(), NULL);
    bf_hex(md, len, out);
}

static int migrations_bootstrap(struct bf_pg *pg, void *arg, struct bf_err *err)
{
    (void)arg;
    if (simple(pg, MIGRATE_LOCK, err) < 0)
        return last_code(err);
    return simple(pg,
                  "CREATE TABLE IF NOT EXISTS schema_migrations ("
                  " version integer PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL,"
                  " applied_at timestamptz NOT NULL DEFAULT now())",
                  err);
}

struct apply_ctx {
    const struct migration *m;
    const char *sql;
    bool applied;
};

/* Under the lock: skip an applied version (checking its content) or apply it. */
static int migration_apply_tx(struct bf_pg *pg, void *arg, struct bf_err *err)
{
    struct apply_ctx *a = arg;
    char version[16];
    const char *p[3] = {version, a->m->file, a->m->sha256};
    PGresult *res;
    bool same;

    snprintf(version, sizeof(version), "%d", a->m->version);
    if (simple(pg, MIGRATE_LOCK, err) < 0)
        return last_code(err);
    res =
        bf_pg_query(pg, "SELECT name, sha256 FROM schema_migrations WHERE version = $1", 1, p, err);
    if (!res)
        return last_code(err);
    if (PQntuples(res) == 1) {
        same = strcmp(PQgetvalue(res, 0, 0), a->m->file) == 0 &&
               strcmp(PQgetvalue(res, 0, 1), a->m->sha256) == 0;
        PQclear(res);
        if (!same)
            return bf_err_set(err, BF_ECONFLICT,
                              "%s: changed after it was applied (write a new migration instead)",
                              a->m->file);
        return 0;
    }
    PQclear(res);
    if (simple(pg, a->sql, err) < 0)
        return bf_err_prefix(err, "%s", a->m->file);
    res = bf_pg_query(
        pg, "INSERT INTO schema_migrations (version, name, sha256) VALUES ($1, $2, $3)", 3, p, err);
    if (!res)
        return last_code(err);
    PQclear(res);
    a->applied = true;
    return 0;
}

static int migration_apply(struct bf_pg *pg, const char *dir, struct migration *m,
                           struct bf_err *err)
{
    char path[4096];
    struct apply_ctx a = {m, NULL, false};
    int rc;

    snprintf(path, sizeof(path), "%s/%s", dir, m->file);
    a.sql = read_file(path, err);
    if (!a.sql)
        return last_code(err);
    sha256_hex(a.sql, m->sha256);
    rc = bf_pg_tx(pg, migration_apply_tx, &a, err);
    free((char *)a.sql);
    if (rc < 0)
        return rc;
    if (a.applied)
        bf_log_kv(BF_LOG_INFO, "BF_PG_MIGRATE", "migration applied", "file", m->file, NULL);
    return a.applied ? 1 : 0;
}

int bf_pg_migrate(struct bf_pg *pg, const char *dir, struct bf_err *err)
{
    struct migration_set set = {0};
    int rc, applied = 0;

    ERR_OR_LOCAL(err);
    rc = migrations_list(dir, &set, err);
    if (rc == 0)
        rc = migrations_check_order(&set, err);
    if (rc == 0)
        rc = bf_pg_tx(pg, migrations_bootstrap, NULL, err);
    for (size_t i = 0; rc >= 0 && i < set.n; i++) {
        rc = migration_apply(pg, dir, &set.m[i], err);
        applied += rc > 0;
    }
    free(set.m);
    return rc < 0 ? rc : applied;
}
