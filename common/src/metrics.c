/* SPDX-License-Identifier: Apache-2.0 */
/* Process metrics: families of labelled series, rendered in Prometheus text format. */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/metrics.h"
#include "badgeflow/util.h"

#define SERIES_MAX  256
#define BUCKETS_MAX 24

enum metric_kind { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct series {
    char *values; /* label values as given, "" for none */
    double value; /* counter or gauge */
    double sum;   /* histogram */
    unsigned long long count;
    unsigned long long buckets[BUCKETS_MAX];
};

struct bf_metric {
    enum metric_kind kind;
    char name[128];
    char *help;
    char *labels; /* "topic,reason" or NULL */
    double bounds[BUCKETS_MAX];
    int nbounds;
    struct series series[SERIES_MAX + 1]; /* the last one is "overflow" */
    int nseries;
    pthread_mutex_t lock;
    struct bf_metric *next;
};

static struct bf_metric *families;
static pthread_mutex_t families_lock = PTHREAD_MUTEX_INITIALIZER;

static struct bf_metric *metric_new(enum metric_kind kind, const char *name, const char *help,
                                    const char *labels)
{
    struct bf_metric *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    m->kind = kind;
    snprintf(m->name, sizeof(m->name), "badgeflow_%s", name);
    m->help = strdup(help ? help : "");
    m->labels = labels ? strdup(labels) : NULL;
    if (!m->help || (labels && !m->labels)) {
        free(m->help);
        free(m->labels);
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    pthread_mutex_lock(&families_lock);
    m->next = families;
    families = m;
    pthread_mutex_unlock(&families_lock);
    return m;
}

struct bf_metric *bf_metrics_counter(const char *name, const char *help, const char *labels)
{
    return metric_new(METRIC_COUNTER, name, help, labels);
}

struct bf_metric *bf_metrics_gauge(const char *name, const char *help, const char *labels)
{
    return metric_new(METRIC_GAUGE, name, help, labels);
}

struct bf_metric *bf_metrics_histogram(const char *name, const char *help, const char *labels,
                                       const double *bounds, int n)
{
    struct bf_metric *m = metric_new(METRIC_HISTOGRAM, name, help, labels);

    if (!m)
        return NULL;
    m->nbounds = n < BUCKETS_MAX ? n : BUCKETS_MAX;
    memcpy(m->bounds, bounds, (size_t)m->nbounds * sizeof(double));
    return m;
}

/* Find or create the series of values; the overflow series when the family is full. */
static struct series *series_get(struct bf_metric *m, const char *values)
{
    const char *v = values ? values : "";

    for (int i = 0; i < m->nseries; i++)
        if (strcmp(m->series[i].values, v) == 0)
            return &m->series[i];
    if (m->nseries < SERIES_MAX) {
        char *copy = strdup(v);
        if (copy) {
            m->series[m->nseries].values = copy;
            return &m->series[m->nseries++];
        }
    }
    return &m->series[SERIES_MAX];
}

void bf_metrics_add(struct bf_metric *m, const char *values, double delta)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    series_get(m, values)->value += delta;
    pthread_mutex_unlock(&m->lock);
}

void bf_metrics_set(struct bf_metric *m, const char *values, double value)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    series_get(m, values)->value = value;
    pthread_mutex_unlock(&m->lock);
}

void bf_metrics_observe(struct bf_metric *m, const char *values, double value)
{
    struct series *s;

    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    s = series_get(m, values);
    s->sum += value;
    s->count++;
    for (int i = 0; i < m->nbounds; i++)
        if (value <= m->bounds[i])
            s->buckets[i]++;
    pthread_mutex_unlock(&m->lock);
}

/* A growable output buffer. */
struct out {
    char *buf;
    size_t len, cap;
    bool failed;
};

static void out_printf(struct out *o, const char *fmt, ...) BF_PRINTF(2, 3);

static void out_printf(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (o->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap * 2 + (size_t)(n > 0 ? n : 0) + 256;
        char *grown = realloc(o->buf, cap);
        if (!grown) {
            o->failed = true;
            return;
        }
        o->buf = grown;
        o->cap = cap;
    }
}

/* Write {a="x",b="y"} (plus extra, such as le="0.5") from names and comma-separated values. */
static void out_labels(struct out *o, const char *names, const char *values, const char *extra)
{
    const char *n = names, *v = values;
    bool first = true;

    if ((!names || !*values) && !extra)
        return;
    out_printf(o, "{");
    while (names && n && *v) {
        size_t nl = strcspn(n, ","), vl = strcspn(v, ",");
        out_printf(o, "%s%.*s=\"", first ? "" : ",", (int)nl, n);
        for (size_t i = 0; i < vl; i++) {
            const char *esc = v[i] == '"' ? "\\\"" : v[i] == '\\' ? "\\\\" : NULL;
            if (esc)
                out_printf(o, "%s", esc);
            else
                out_printf(o, "%c", v[i] == '\n' ? ' ' : v[i]);
        }
        out_printf(o, "\"");
        first = false;
        n = n[nl] ? n + nl + 1 : NULL;
        v += vl + (v[vl] ? 1 : 0);
    }
    if (extra)
        out_printf(o, "%s%s", first ? "" : ",", extra);
    out_printf(o, "}");
}

static void render_histogram_series(struct out *o, const struct bf_metric *m,
                                    const struct series *s)
{
    char le[64];

    for (int b = 0; b < m->nbounds; b++) {
        snprintf(le, sizeof(le), "le=\"%g\"", m->bounds[b]);
        out_printf(o, "%s_bucket", m->name);
        out_labels(o, m->labels, s->values, le);
        out_printf(o, " %llu\n", s->buckets[b]);
    }
    out_printf(o, "%s_bucket", m->name);
    out_labels(o, m->labels, s->values, "le=\"+Inf\"");
    out_printf(o, " %llu\n%s_sum", s->count, m->name);
    out_labels(o, m->labels, s->values, NULL);
    out_printf(o, " %.17g\n%s_count", s->sum, m->name);
    out_labels(o, m->labels, s->values, NULL);
    out_printf(o, " %llu\n", s->count);
}

static void render_family(struct out *o, struct bf_metric *m)
{
    static const char *const kinds[] = {"counter", "gauge", "histogram"};

    pthread_mutex_lock(&m->lock);
    out_printf(o, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, kinds[m->kind]);
    for (int i = 0; i < m->nseries; i++) {
        const struct series *s = &m->series[i];
        if (m->kind == METRIC_HISTOGRAM) {
            render_histogram_series(o, m, s);
            continue;
        }
        out_printf(o, "%s", m->name);
        out_labels(o, m->labels, s->values, NULL);
        out_printf(o, " %.17g\n", s->value);
    }
    pthread_mutex_unlock(&m->lock);
}

char *bf_metrics_render(void)
{
    struct out o = {.buf = malloc(4096), .cap = 4096};

    if (!o.buf)
        return NULL;
    o.buf[0] = '\0';
    pthread_mutex_lock(&families_lock);
    for (struct bf_metric *m = families; m; m = m->next)
        render_family(&o, m);
    pthread_mutex_unlock(&families_lock);
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    return o.buf;
}

void bf_metrics_free_all(void)
{
    pthread_mutex_lock(&families_lock);
    while (families) {
        struct bf_metric *m = families;
        families = m->next;
        for (int i = 0; i < m->nseries; i++)
            free(m->series[i].values);
        pthread_mutex_destroy(&m->lock);
        free(m->help);
        free(m->labels);
        free(m);
    }
    pthread_mutex_unlock(&families_lock);
}
