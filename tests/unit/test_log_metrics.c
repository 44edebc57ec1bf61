/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of log.c (JSON lines, escaping, levels, event ids) and metrics.c (Prometheus text). */
#include <jansson.h>
#include <stdlib.h>

#include "badgeflow/log.h"
#include "badgeflow/metrics.h"
#include "bf_test.h"

/* Run fn with the log captured; returns the text (caller frees). */
static char *capture(void (*fn)(void))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);

    bf_log_init("router", BF_LOG_INFO, mem);
    fn();
    fclose(mem);
    bf_log_init("router", BF_LOG_INFO, NULL);
    char *text = strdup(buf);
    free(buf);
    return text;
}

static void log_some(void)
{
    bf_log_debug("BF_TEST_DEBUG", "not written");
    bf_log_set_event("ev-1", "4bf92f3577b34da6a3ce929d0e0e4736");
    bf_log_warn("BF_TEST_WARN", "quote \" backslash \\ newline \n tab \t ctl \x01 done");
    bf_log_set_event(NULL, NULL);
    bf_log_kv(BF_LOG_ERROR, "BF_TEST_KV", "dead-lettered", "topic", "submissions", "reason",
              "evidence[0].uri: must be https", NULL);
}

static void test_log_lines_are_json(void)
{
    char *text = capture(log_some);
    char *line2 = strchr(text, '\n');
    json_error_t jerr;
    json_t *a, *b;

    CHECK(line2 != NULL);
    if (!line2)
        return;
    *line2++ = '\0';
    a = json_loads(text, 0, &jerr);
    b = json_loads(line2, 0, &jerr);
    CHECK(a && b);
    CHECK(strstr(text, "not written") == NULL);
    CHECK_STR(json_string_value(json_object_get(a, "level")), "warn");
    CHECK_STR(json_string_value(json_object_get(a, "service")), "router");
    CHECK_STR(json_string_value(json_object_get(a, "code")), "BF_TEST_WARN");
    CHECK_STR(json_string_value(json_object_get(a, "event_id")), "ev-1");
    CHECK_CONTAINS(json_string_value(json_object_get(a, "msg")),
                   "quote \" backslash \\ newline \n");
    CHECK(json_object_get(b, "event_id") == NULL);
    CHECK_STR(json_string_value(json_object_get(b, "reason")), "evidence[0].uri: must be https");
    CHECK(json_string_length(json_object_get(a, "ts")) == 24);
    json_decref(a);
    json_decref(b);
    free(text);
}

static void test_metrics_render(void)
{
    static const double bounds[] = {0.01, 0.1, 1};
    struct bf_metric *c = bf_metrics_counter("records_total", "Records seen", "topic,outcome");
    struct bf_metric *g = bf_metrics_gauge("ready", "1 when ready", NULL);
    struct bf_metric *h =
        bf_metrics_histogram("handle_seconds", "Handling time", "topic", bounds, 3);
    char *text;

    bf_metrics_add(c, "submissions,applied", 2);
    bf_metrics_add(c, "submissions,applied", 1);
    bf_metrics_add(c, "sub\"x,dlq", 1);
    bf_metrics_set(g, NULL, 1);
    bf_metrics_observe(h, "scores", 0.05);
    bf_metrics_observe(h, "scores", 5);
    text = bf_metrics_render();
    CHECK_CONTAINS(text, "# TYPE badgeflow_records_total counter\n");
    CHECK_CONTAINS(text, "badgeflow_records_total{topic=\"submissions\",outcome=\"applied\"} 3\n");
    CHECK_CONTAINS(text, "badgeflow_records_total{topic=\"sub\\\"x\",outcome=\"dlq\"} 1\n");
    CHECK_CONTAINS(text, "badgeflow_ready 1\n");
    CHECK_CONTAINS(text, "badgeflow_handle_seconds_bucket{topic=\"scores\",le=\"0.01\"} 0\n");
    CHECK_CONTAINS(text, "badgeflow_handle_seconds_bucket{topic=\"scores\",le=\"0.1\"} 1\n");
    CHECK_CONTAINS(text, "badgeflow_handle_seconds_bucket{topic=\"scores\",le=\"+Inf\"} 2\n");
    CHECK_CONTAINS(text, "badgeflow_handle_seconds_count{topic=\"scores\"} 2\n");
    free(text);
    bf_metrics_free_all();
}

int main(void)
{
    BF_TEST_RUN(test_log_lines_are_json);
    BF_TEST_RUN(test_metrics_render);
    return BF_TEST_DONE();
}
