/* SPDX-License-Identifier: Apache-2.0 */
/* Structured logging: one JSON object per line, with the event and trace in hand. */
#ifndef BADGEFLOW_LOG_H
#define BADGEFLOW_LOG_H

#include <stdio.h>

#include "badgeflow/err.h"

enum bf_log_level { BF_LOG_DEBUG, BF_LOG_INFO, BF_LOG_WARN, BF_LOG_ERROR };

/*
 * Set the service name and the lowest level written, and the stream (stderr if NULL).
 * The stream is borrowed and must outlive logging. Call once, before threads start.
 */
void bf_log_init(const char *service, enum bf_log_level level, FILE *out);

/* Parse "debug|info|warn|error" into *level. 0 or -BF_EINVAL. */
int bf_log_level_parse(const char *s, enum bf_log_level *level) BF_MUST_CHECK;

/*
 * Register a secret value (a password, a key): every line is masked ("***") where it
 * would contain it, whatever path the text took (a libpq message quoting a conninfo).
 * The value is copied. Values shorter than 4 characters are ignored.
 */
void bf_log_add_secret(const char *secret);

/*
 * Event id and trace id of the record the calling thread is handling; both appear in
 * every line the thread logs until cleared with NULLs. Strings are copied.
 */
void bf_log_set_event(const char *event_id, const char *trace_id);

/*
 * Write one line: level, service, code (stable, e.g. "BF_PG_CONNECT"), message.
 * Optional extra fields as a NULL-terminated list of key, value string pairs, e.g.
 * bf_log_kv(BF_LOG_WARN, "BF_KAFKA_DLQ", "dead-lettered", "topic", t, "reason", r, NULL).
 * Thread-safe: a line is written with one call.
 */
void bf_log(enum bf_log_level level, const char *code, const char *fmt, ...) BF_PRINTF(3, 4);
void bf_log_kv(enum bf_log_level level, const char *code, const char *msg, ...)
    __attribute__((sentinel));

#define bf_log_debug(code, ...) bf_log(BF_LOG_DEBUG, code, __VA_ARGS__)
#define bf_log_info(code, ...)  bf_log(BF_LOG_INFO, code, __VA_ARGS__)
#define bf_log_warn(code, ...)  bf_log(BF_LOG_WARN, code, __VA_ARGS__)
#define bf_log_err(code, ...)   bf_log(BF_LOG_ERROR, code, __VA_ARGS__)

#endif
