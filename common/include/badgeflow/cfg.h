/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration as a table of keys: one INI file plus BADGEFLOW_<SECTION>_<KEY> overrides. */
#ifndef BADGEFLOW_CFG_H
#define BADGEFLOW_CFG_H

#include <stdbool.h>
#include <stdio.h>

#include "badgeflow/err.h"

enum bf_cfg_type {
    BF_CFG_STR,
    BF_CFG_INT, /* long long within [min, max] */
    BF_CFG_BOOL,
    BF_CFG_DURATION, /* "250ms", "5s", "3m", "2h", "3d" or bare ms; stored as ms */
    BF_CFG_SIZE,     /* "512", "64k", "10M", "2G" bytes */
    BF_CFG_ENUM,     /* one of choices, "a|b|c" */
};

/* Flags of a key. */
#define BF_CFG_SECRET   0x1 /* never logged or printed; shown as "(secret)" */
#define BF_CFG_REQUIRED 0x2 /* no default: the file or environment must give it */

/* One row of a config table (Redis static_configs[]). Tables end with a row of NULLs. */
struct bf_cfg_def {
    const char *section; /* "kafka" */
    const char *key;     /* "brokers" */
    enum bf_cfg_type type;
    const char *def;     /* default as text, NULL if BF_CFG_REQUIRED */
    long long min, max;  /* bounds for INT, DURATION, SIZE (ignored if min == max == 0) */
    const char *choices; /* for ENUM: "debug|info|warn|error" */
    unsigned flags;
    const char *help; /* one line for --help and the example file */
};

struct bf_cfg;

/* The keys every daemon has: [log], [http], [kafka], [postgres], [redis], [daemon]. */
extern const struct bf_cfg_def bf_cfg_common_defs[];

/*
 * Load tables (a NULL-terminated array of tables) from path (may be NULL: defaults and
 * environment only), then apply environment overrides from envp (environ if NULL).
 * On failure returns NULL and err names file, line and key: "router.conf:12: kafka.acks:
 * must be one of all|1". Caller frees with bf_cfg_free().
 */
struct bf_cfg *bf_cfg_load(const struct bf_cfg_def *const *tables, const char *path, char **envp,
                           struct bf_err *err);
void bf_cfg_free(struct bf_cfg *cfg);

/*
 * Typed getters by "section.key". Asking for a key not in the tables, or with the wrong
 * type, is a programming error: it aborts with a message. Strings are owned by cfg.
 */
const char *bf_cfg_str(const struct bf_cfg *cfg, const char *name);
long long bf_cfg_int(const struct bf_cfg *cfg, const char *name);
bool bf_cfg_bool(const struct bf_cfg *cfg, const char *name);

/*
 * Parse a duration the way config files write them ("250ms", "5s", "3m", "2h", "3d"; a bare
 * number is milliseconds) into *ms. 0 or -BF_EINVAL. For command lines that take durations.
 */
int bf_cfg_parse_duration(const char *s, long long *ms) BF_MUST_CHECK;

/* Write every key with its value and origin (default, file:line, env), secrets hidden. */
void bf_cfg_dump(const struct bf_cfg *cfg, FILE *out);

/*
 * Write an example file documenting every key of tables, commented, with defaults. With a
 * title ("badgeflow-router"), it starts with the standard header saying how the file is
 * read and how to regenerate it (regen: the command that prints it); NULL for none.
 */
void bf_cfg_write_example(const char *title, const char *regen,
                          const struct bf_cfg_def *const *tables, FILE *out);

#endif
