/* SPDX-License-Identifier: Apache-2.0 */
/* Process metrics (counters, gauges, histograms) rendered as Prometheus text. */
#ifndef BADGEFLOW_METRICS_H
#define BADGEFLOW_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "badgeflow/err.h"

struct bf_metric;

/*
 * Register a metric family once at start-up; names get the "badgeflow_" prefix.
 * labels is a comma-separated list of label names ("topic,reason") or NULL. Returns a
 * handle owned by the registry (never freed before bf_metrics_free_all), NULL on ENOMEM.
 * Registration is not thread-safe; updates are (atomics).
 */
struct bf_metric *bf_metrics_counter(const char *name, const char *help, const char *labels);
struct bf_metric *bf_metrics_gauge(const char *name, const char *help, const char *labels);
/* Histogram with the given upper bounds (seconds, ascending, n of them) plus +Inf. */
struct bf_metric *bf_metrics_histogram(const char *name, const char *help, const char *labels,
                                       const double *bounds, int n);

/*
 * Update the series of values (comma-separated label values in the order registered,
 * e.g. "submissions,bad_json", or NULL when the family has no labels). A series is
 * created on first use, up to 256 per family; updates of further series are dropped
 * (label values must come from a bounded set: topics, reasons, never ids).
 */
void bf_metrics_add(struct bf_metric *m, const char *values, double delta);
void bf_metrics_set(struct bf_metric *m, const char *values, double value);
void bf_metrics_observe(struct bf_metric *m, const char *values, double value);

/* Render every family as Prometheus text exposition format 0.0.4. Caller frees. */
char *bf_metrics_render(void);

/* Free every family (at exit; for tests). */
void bf_metrics_free_all(void);

#endif
