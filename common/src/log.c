/* SPDX-License-Identifier: Apache-2.0 */
/* Structured logging: one JSON object per line, secrets masked, event and trace attached. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "badgeflow/log.h"
#include "badgeflow/util.h"

#define LOG_LINE_MAX    8192
#define LOG_SECRETS_MAX 32

static struct {
    char service[64];
    enum bf_log_level level;
    FILE *out;
    pthread_mutex_t lock;
    char *secrets[LOG_SECRETS_MAX];
    int nsecrets;
} log_state = {.service = "badgeflow", .level = BF_LOG_INFO, .lock = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local char log_event_id[128];
static _Thread_local char log_trace_id[64];

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void bf_log_init(const char *service, enum bf_log_level level, FILE *out)
{
    bf_strlcpy(log_state.service, service, sizeof(log_state.service));
    log_state.level = level;
    log_state.out = out;
}

int bf_log_level_parse(const char *s, enum bf_log_level *level)
{
    for (size_t i = 0; i < BF_ARRAY_LEN(level_names); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *level = (enum bf_log_level)i;
            return 0;
        }
    }
    return -BF_EINVAL;
}

void bf_log_add_secret(const char *secret)
{
    if (!secret || strlen(secret) < 4)
        return;
    pthread_mutex_lock(&log_state.lock);
    if (log_state.nsecrets < LOG_SECRETS_MAX) {
        char *copy = strdup(secret);
        if (copy)
            log_state.secrets[log_state.nsecrets++] = copy;
    }
    pthread_mutex_unlock(&log_state.lock);
}

void bf_log_set_event(const char *event_id, const char *trace_id)
{
    bf_strlcpy(log_event_id, event_id ? event_id : "", sizeof(log_event_id));
    bf_strlcpy(log_trace_id, trace_id ? trace_id : "", sizeof(log_trace_id));
}

/* Line buffer with a bounded append; a line that would overflow is cut, never overrun. */
struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
};

static void line_putc(struct line *l, char c)
{
    if (l->len + 1 < sizeof(l->buf))
        l->buf[l->len++] = c;
}

static void line_puts(struct line *l, const char *s)
{
    while (*s)
        line_putc(l, *s++);
}

/* Append s as the body of a JSON string, escaping what JSON requires. */
static void line_escape(struct line *l, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"':
            line_puts(l, "\\\"");
            break;
        case '\\':
            line_puts(l, "\\\\");
            break;
        case '\n':
            line_puts(l, "\\n");
            break;
        case '\r':
            line_puts(l, "\\r");
            break;
        case '\t':
            line_puts(l, "\\t");
            break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof(esc), "\\u%04x", *p);
                line_puts(l, esc);
            } else {
                line_putc(l, (char)*p);
            }
        }
    }
}

static void line_field(struct line *l, const char *key, const char *value)
{
    line_puts(l, ",\"");
    line_escape(l, key);
    line_puts(l, "\":\"");
    line_escape(l, value);
    line_putc(l, '"');
}

/* Replace every registered secret in s (in place) by "***". Caller holds the lock. */
static void mask_secrets(char *s)
{
    for (int i = 0; i < log_state.nsecrets; i++) {
        const char *sec = log_state.secrets[i];
        size_t n = strlen(sec);
        char *hit;
        while ((hit = strstr(s, sec)) != NULL) {
            hit[0] = hit[1] = hit[2] = '*';
            memmove(hit + 3, hit + n, strlen(hit + n) + 1);
        }
    }
}

static void line_start(struct line *l, enum bf_log_level level, const char *code)
{
    char ts[BF_TIME_STRLEN];

    bf_time_format(bf_now_ms(), ts);
    l->len = 0;
    line_puts(l, "{\"ts\":\"");
    line_puts(l, ts);
    line_putc(l, '"');
    line_field(l, "level", level_names[level]);
    line_field(l, "service", log_state.service);
    line_field(l, "code", code ? code : "BF_LOG");
}

static void line_finish_and_write(struct line *l)
{
    if (log_event_id[0])
        line_field(l, "event_id", log_event_id);
    if (log_trace_id[0])
        line_field(l, "trace_id", log_trace_id);
    if (l->len + 2 >= sizeof(l->buf))
        l->len = sizeof(l->buf) - 3;
    l->buf[l->len++] = '}';
    l->buf[l->len++] = '\n';
    l->buf[l->len] = '\0';
    pthread_mutex_lock(&log_state.lock);
    mask_secrets(l->buf);
    fputs(l->buf, log_state.out ? log_state.out : stderr);
    fflush(log_state.out ? log_state.out : stderr);
    pthread_mutex_unlock(&log_state.lock);
}

void bf_log(enum bf_log_level level, const char *code, const char *fmt, ...)
{
    struct line *l;
    char msg[4096];
    va_list ap;

    if (level < log_state.level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    l = malloc(sizeof(*l));
    if (!l)
        return;
    line_start(l, level, code);
    line_field(l, "msg", msg);
    line_finish_and_write(l);
    free(l);
}

void bf_log_kv(enum bf_log_level level, const char *code, const char *msg, ...)
{
    struct line *l;
    const char *key;
    va_list ap;

    if (level < log_state.level)
        return;
    l = malloc(sizeof(*l));
    if (!l)
        return;
    line_start(l, level, code);
    line_field(l, "msg", msg);
    va_start(ap, msg);
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        line_field(l, key, value ? value : "");
    }
    va_end(ap);
    line_finish_and_write(l);
    free(l);
}
