/* SPDX-License-Identifier: Apache-2.0 */
/* Table-driven configuration: INI file, then BADGEFLOW_<SECTION>_<KEY> environment. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "badgeflow/cfg.h"
#include "badgeflow/log.h"
#include "badgeflow/util.h"

#define CFG_ENV_PREFIX "BADGEFLOW_"

extern char **environ;

struct cfg_entry {
    const struct bf_cfg_def *def;
    char name[96];    /* "section.key" */
    char *text;       /* value as given */
    long long num;    /* INT, DURATION, SIZE, BOOL */
    char origin[192]; /* "default", "file.conf:12", "env BADGEFLOW_KAFKA_BROKERS" */
    bool set;
    bool in_file; /* given by the file (a second time is an error) */
};

struct bf_cfg {
    struct cfg_entry *entries;
    size_t n;
};

static int cfg_add_tables(struct bf_cfg *cfg, const struct bf_cfg_def *const *tables)
{
    size_t total = 0;

    for (size_t t = 0; tables[t]; t++)
        for (const struct bf_cfg_def *d = tables[t]; d->section; d++)
            total++;
    cfg->entries = calloc(total ? total : 1, sizeof(*cfg->entries));
    if (!cfg->entries)
        return -BF_ENOMEM;
    for (size_t t = 0; tables[t]; t++) {
        for (const struct bf_cfg_def *d = tables[t]; d->section; d++) {
            struct cfg_entry *e = &cfg->entries[cfg->n++];
            e->def = d;
            snprintf(e->name, sizeof(e->name), "%s.%s", d->section, d->key);
        }
    }
    return 0;
}

static struct cfg_entry *cfg_find(const struct bf_cfg *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (strcmp(cfg->entries[i].name, name) == 0)
            return &cfg->entries[i];
    return NULL;
}

static bool cfg_has_section(const struct bf_cfg *cfg, const char *section)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (strcmp(cfg->entries[i].def->section, section) == 0)
            return true;
    return false;
}

/* Parse "<number><unit>" where units maps suffixes to multipliers; bare numbers use unit 1. */
static int parse_scaled(const char *s, const char *const *units, const long long *mult,
                        long long *out)
{
    char *end;
    long long v;

    if (!isdigit((unsigned char)*s))
        return -BF_EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno)
        return -BF_EINVAL;
    if (*end == '\0') {
        *out = v;
        return 0;
    }
    for (size_t i = 0; units[i]; i++) {
        if (strcasecmp(end, units[i]) == 0) {
            if (v > __LONG_LONG_MAX__ / mult[i])
                return -BF_EINVAL;
            *out = v * mult[i];
            return 0;
        }
    }
    return -BF_EINVAL;
}

int bf_cfg_parse_duration(const char *s, long long *out)
{
    static const char *const units[] = {"ms", "s", "m", "h", "d", NULL};
    static const long long mult[] = {1, 1000, 60000, 3600000, 86400000};

    return parse_scaled(s, units, mult, out);
}

static int parse_size(const char *s, long long *out)
{
    static const char *const units[] = {"k", "kb", "m", "mb", "g", "gb", NULL};
    static const long long mult[] = {1LL << 10, 1LL << 10, 1LL << 20,
                                     1LL << 20, 1LL << 30, 1LL << 30};

    return parse_scaled(s, units, mult, out);
}

static bool enum_has(const char *choices, const char *v)
{
    size_t n = strlen(v);

    for (const char *p = choices; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0)
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

static bool has_bounds(const struct bf_cfg_def *d)
{
    return d->min != 0 || d->max != 0;
}

/* Convert e->text by the key's type; on failure fill err with what was expected. */
static int cfg_convert(struct cfg_entry *e, struct bf_err *err)
{
    const struct bf_cfg_def *d = e->def;
    int rc = 0;

    switch (d->type) {
    case BF_CFG_STR:
        return 0;
    case BF_CFG_ENUM:
        if (!enum_has(d->choices, e->text))
            return bf_err_set(err, BF_EINVAL, "%s: must be one of %s, not '%s'", e->name,
                              d->choices, e->text);
        return 0;
    case BF_CFG_BOOL: {
        bool b;
        if (bf_parse_bool(e->text, &b) < 0)
            return bf_err_set(err, BF_EINVAL, "%s: must be true or false, not '%s'", e->name,
                              e->text);
        e->num = b;
        return 0;
    }
    case BF_CFG_INT:
        rc = bf_parse_ll(e->text, -__LONG_LONG_MAX__, __LONG_LONG_MAX__, &e->num);
        break;
    case BF_CFG_DURATION:
        rc = bf_cfg_parse_duration(e->text, &e->num);
        break;
    case BF_CFG_SIZE:
        rc = parse_size(e->text, &e->num);
        break;
    }
    if (rc < 0) {
        static const char *const what[] = {
            [BF_CFG_INT] = "an integer",
            [BF_CFG_DURATION] = "a duration such as 250ms, 5s, 3m, 2h or 3d",
            [BF_CFG_SIZE] = "a size such as 512, 64k, 10M or 2G",
        };
        return bf_err_set(err, BF_EINVAL, "%s: must be %s, not '%s'", e->name, what[d->type],
                          e->text);
    }
    if (has_bounds(d) && (e->num < d->min || e->num > d->max))
        return bf_err_set(err, BF_EINVAL, "%s: %s is out of bounds [%lld, %lld]", e->name, e->text,
                          d->min, d->max);
    return 0;
}

/* Give entry e the value text from origin; converts and validates. */
static int cfg_assign(struct cfg_entry *e, const char *text, const char *origin, struct bf_err *err)
{
    char *copy = strdup(text);

    if (!copy)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    free(e->text);
    e->text = copy;
    e->set = true;
    bf_strlcpy(e->origin, origin, sizeof(e->origin));
    return cfg_convert(e, err);
}

static int cfg_apply_defaults(struct bf_cfg *cfg, struct bf_err *err)
{
    for (size_t i = 0; i < cfg->n; i++) {
        struct cfg_entry *e = &cfg->entries[i];
        if (!e->def->def)
            continue;
        if (cfg_assign(e, e->def->def, "default", err) < 0)
            return bf_err_prefix(err, "built-in default (a bug)");
    }
    return 0;
}

static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* Strip one pair of surrounding double quotes, resolving \" and \\ inside. */
static int unquote(char *v)
{
    size_t n = strlen(v);
    char *w = v;

    if (n < 2 || v[0] != '"')
        return 0;
    if (v[n - 1] != '"')
        return -BF_EINVAL;
    v[n - 1] = '\0';
    for (char *r = v + 1; *r; r++) {
        if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
            r++;
        *w++ = *r;
    }
    *w = '\0';
    return 0;
}

struct parse_ctx {
    struct bf_cfg *cfg;
    const char *path;
    int line;
    char section[48];
};

static int parse_section(struct parse_ctx *pc, char *s, struct bf_err *err)
{
    char *close = strchr(s, ']');

    if (!close || trim(close + 1)[0] != '\0')
        return bf_err_set(err, BF_EINVAL, "%s:%d: malformed section header", pc->path, pc->line);
    *close = '\0';
    s = trim(s + 1);
    if (!cfg_has_section(pc->cfg, s))
        return bf_err_set(err, BF_EINVAL, "%s:%d: unknown section [%s]", pc->path, pc->line, s);
    bf_strlcpy(pc->section, s, sizeof(pc->section));
    return 0;
}

static int parse_assignment(struct parse_ctx *pc, char *s, struct bf_err *err)
{
    char *eq = strchr(s, '='), name[96], origin[192];
    struct cfg_entry *e;
    char *key, *value;

    if (!eq)
        return bf_err_set(err, BF_EINVAL, "%s:%d: expected 'key = value'", pc->path, pc->line);
    if (!pc->section[0])
        return bf_err_set(err, BF_EINVAL, "%s:%d: key outside of a [section]", pc->path, pc->line);
    *eq = '\0';
    key = trim(s);
    value = trim(eq + 1);
    snprintf(name, sizeof(name), "%s.%s", pc->section, key);
    e = cfg_find(pc->cfg, name);
    if (!e)
        return bf_err_set(err, BF_EINVAL, "%s:%d: %s: unknown key", pc->path, pc->line, name);
    if (e->in_file)
        return bf_err_set(err, BF_EINVAL, "%s:%d: %s: set twice (first at %s)", pc->path, pc->line,
                          name, e->origin);
    if (unquote(value) < 0)
        return bf_err_set(err, BF_EINVAL, "%s:%d: %s: unterminated quoted value", pc->path,
                          pc->line, name);
    snprintf(origin, sizeof(origin), "%s:%d", pc->path, pc->line);
    e->in_file = true;
    if (cfg_assign(e, value, origin, err) < 0)
        return bf_err_prefix(err, "%s:%d", pc->path, pc->line);
    return 0;
}

static int cfg_parse_file(struct bf_cfg *cfg, const char *path, struct bf_err *err)
{
    struct parse_ctx pc = {.cfg = cfg, .path = path};
    char buf[4096];
    FILE *f = fopen(path, "r");
    int rc = 0;

    if (!f)
        return bf_err_set(err, BF_EIO, "%s: cannot open: %s", path, strerror(errno));
    while (rc == 0 && fgets(buf, sizeof(buf), f)) {
        char *s;
        pc.line++;
        if (!strchr(buf, '\n') && !feof(f)) {
            rc = bf_err_set(err, BF_EINVAL, "%s:%d: line longer than %zu bytes", path, pc.line,
                            sizeof(buf) - 2);
            break;
        }
        s = trim(buf);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        rc = *s == '[' ? parse_section(&pc, s, err) : parse_assignment(&pc, s, err);
    }
    if (rc == 0 && ferror(f))
        rc = bf_err_set(err, BF_EIO, "%s: read error", path);
    fclose(f);
    return rc;
}

/* "kafka.brokers" → "BADGEFLOW_KAFKA_BROKERS" ('.' and '-' become '_'). */
static void env_name(const char *name, char *out, size_t n)
{
    size_t i = 0;

    snprintf(out, n, "%s", CFG_ENV_PREFIX);
    i = strlen(out);
    for (const char *p = name; *p && i + 1 < n; p++)
        out[i++] = (*p == '.' || *p == '-') ? '_' : (char)toupper((unsigned char)*p);
    out[i] = '\0';
}

/* Does BADGEFLOW_<var> start with the name of one of our sections (a likely typo)? */
static bool env_in_known_section(const struct bf_cfg *cfg, const char *var)
{
    for (size_t i = 0; i < cfg->n; i++) {
        char want[96];
        env_name(cfg->entries[i].def->section, want, sizeof(want));
        size_t n = strlen(want);
        if (strncmp(var, want, n) == 0 && var[n] == '_')
            return true;
    }
    return false;
}

static int cfg_apply_env_var(struct bf_cfg *cfg, const char *kv, struct bf_err *err)
{
    const char *eq = strchr(kv, '=');
    char var[128], want[128], origin[192];

    if (!eq || strncmp(kv, CFG_ENV_PREFIX, strlen(CFG_ENV_PREFIX)) != 0 ||
        (size_t)(eq - kv) >= sizeof(var))
        return 0;
    memcpy(var, kv, (size_t)(eq - kv));
    var[eq - kv] = '\0';
    for (size_t i = 0; i < cfg->n; i++) {
        env_name(cfg->entries[i].name, want, sizeof(want));
        if (strcmp(var, want) != 0)
            continue;
        snprintf(origin, sizeof(origin), "env %s", var);
        if (cfg_assign(&cfg->entries[i], eq + 1, origin, err) < 0)
            return bf_err_prefix(err, "environment %s", var);
        return 0;
    }
    if (env_in_known_section(cfg, var))
        return bf_err_set(err, BF_EINVAL, "environment %s: unknown key", var);
    return 0;
}

static int cfg_apply_env(struct bf_cfg *cfg, char **envp, struct bf_err *err)
{
    for (char **e = envp ? envp : environ; e && *e; e++) {
        int rc = cfg_apply_env_var(cfg, *e, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int cfg_check_required(struct bf_cfg *cfg, struct bf_err *err)
{
    for (size_t i = 0; i < cfg->n; i++) {
        struct cfg_entry *e = &cfg->entries[i];
        char var[128];
        if (e->set)
            continue;
        env_name(e->name, var, sizeof(var));
        return bf_err_set(err, BF_EINVAL, "%s: required: set it in the config file or %s", e->name,
                          var);
    }
    return 0;
}

static void cfg_register_secrets(const struct bf_cfg *cfg)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (cfg->entries[i].def->flags & BF_CFG_SECRET)
            bf_log_add_secret(cfg->entries[i].text);
}

struct bf_cfg *bf_cfg_load(const struct bf_cfg_def *const *tables, const char *path, char **envp,
                           struct bf_err *err)
{
    struct bf_cfg *cfg = calloc(1, sizeof(*cfg));
    int rc;

    if (!cfg) {
        bf_err_set(err, BF_ENOMEM, "out of memory");
        return NULL;
    }
    rc = cfg_add_tables(cfg, tables);
    if (rc == 0)
        rc = cfg_apply_defaults(cfg, err);
    if (rc == 0 && path)
        rc = cfg_parse_file(cfg, path, err);
    if (rc == 0)
        rc = cfg_apply_env(cfg, envp, err);
    if (rc == 0)
        rc = cfg_check_required(cfg, err);
    if (rc < 0) {
        if (rc == -BF_ENOMEM)
            bf_err_set(err, BF_ENOMEM, "out of memory");
        bf_cfg_free(cfg);
        return NULL;
    }
    cfg_register_secrets(cfg);
    return cfg;
}

void bf_cfg_free(struct bf_cfg *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n; i++)
        free(cfg->entries[i].text);
    free(cfg->entries);
    free(cfg);
}

static const struct cfg_entry *cfg_must(const struct bf_cfg *cfg, const char *name, bool numeric)
{
    const struct cfg_entry *e = cfg_find(cfg, name);

    if (!e) {
        fprintf(stderr, "badgeflow: bug: config key %s is not in any table\n", name);
        abort();
    }
    bool is_num = e->def->type != BF_CFG_STR && e->def->type != BF_CFG_ENUM;
    if (numeric != is_num) {
        fprintf(stderr, "badgeflow: bug: config key %s read with the wrong type\n", name);
        abort();
    }
    return e;
}

const char *bf_cfg_str(const struct bf_cfg *cfg, const char *name)
{
    return cfg_must(cfg, name, false)->text;
}

long long bf_cfg_int(const struct bf_cfg *cfg, const char *name)
{
    return cfg_must(cfg, name, true)->num;
}

bool bf_cfg_bool(const struct bf_cfg *cfg, const char *name)
{
    return cfg_must(cfg, name, true)->num != 0;
}

void bf_cfg_dump(const struct bf_cfg *cfg, FILE *out)
{
    for (size_t i = 0; i < cfg->n; i++) {
        const struct cfg_entry *e = &cfg->entries[i];
        bool secret = e->def->flags & BF_CFG_SECRET;
        fprintf(out, "%-36s = %-30s # %s\n", e->name, secret ? "(secret)" : e->text, e->origin);
    }
}

static const char *type_hint(const struct bf_cfg_def *d)
{
    static const char *const hints[] = {
        [BF_CFG_STR] = "string",        [BF_CFG_INT] = "integer", [BF_CFG_BOOL] = "true|false",
        [BF_CFG_DURATION] = "duration", [BF_CFG_SIZE] = "size",   [BF_CFG_ENUM] = NULL,
    };

    return d->type == BF_CFG_ENUM ? d->choices : hints[d->type];
}

static void write_example_key(const struct bf_cfg_def *d, FILE *out)
{
    char var[128], name[96];

    snprintf(name, sizeof(name), "%s.%s", d->section, d->key);
    env_name(name, var, sizeof(var));
    fprintf(out, "# %s\n# type: %s", d->help, type_hint(d));
    if (has_bounds(d))
        fprintf(out, ", bounds [%lld, %lld]", d->min, d->max);
    fprintf(out, "%s%s; environment: %s\n", d->flags & BF_CFG_SECRET ? ", secret" : "",
            d->flags & BF_CFG_REQUIRED ? ", required" : "", var);
    if (d->def)
        fprintf(out, "#%s = %s\n\n", d->key, d->def);
    else
        fprintf(out, "%s = \n\n", d->key);
}

static void write_example_header(const char *title, const char *regen, FILE *out)
{
    fprintf(out,
            "# %s configuration: every key, with its default, type and environment override.\n"
            "# A BADGEFLOW_<SECTION>_<KEY> environment variable overrides the file. Keys are\n"
            "# commented out where the default is fine; an unknown key or a bad value stops\n"
            "# start-up with file, line and key.\n",
            title);
    if (regen)
        fprintf(out, "# Regenerate: %s\n", regen);
    fputc('\n', out);
}

void bf_cfg_write_example(const char *title, const char *regen,
                          const struct bf_cfg_def *const *tables, FILE *out)
{
    const char *section = NULL;

    if (title)
        write_example_header(title, regen, out);
    for (size_t t = 0; tables[t]; t++) {
        for (const struct bf_cfg_def *d = tables[t]; d->section; d++) {
            if (!section || strcmp(section, d->section) != 0) {
                fprintf(out, "[%s]\n\n", d->section);
                section = d->section;
            }
            write_example_key(d, out);
        }
    }
}
