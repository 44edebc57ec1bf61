/* SPDX-License-Identifier: Apache-2.0 */
/* bf_fetch_tool: a tiny CLI over bf_fetch for the integration tests; prints one JSON line. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/fetch.h"
#include "badgeflow/util.h"

#define MAX_HEADERS 16

static const char usage[] =
    "usage: bf_fetch_tool get [options] URL DEST\n"
    "       bf_fetch_tool post [options] [-H 'Name: value']... URL BODY\n"
    "options: --allow-loopback --allow-http --ca FILE --file-root DIR --max-bytes N\n"
    "         --max-response N --timeout-ms N --connect-timeout-ms N --stall-ms N\n"
    "         --redirects N --sha256 HEX\n"
    "Prints {\"code\":\"BF_...\",\"msg\":...,\"status\":...} and exits 0 on success, 1 on a\n"
    "fetch error, 2 on a usage error.\n";

struct tool_args {
    struct bf_fetch_policy policy;
    const char *sha256;
    const char *headers[MAX_HEADERS + 1];
    int nheaders;
};

static const struct option long_opts[] = {
    {"allow-loopback", no_argument, NULL, 'L'},
    {"allow-http", no_argument, NULL, 'P'},
    {"ca", required_argument, NULL, 'c'},
    {"file-root", required_argument, NULL, 'f'},
    {"max-bytes", required_argument, NULL, 'm'},
    {"max-response", required_argument, NULL, 'M'},
    {"timeout-ms", required_argument, NULL, 't'},
    {"connect-timeout-ms", required_argument, NULL, 'C'},
    {"stall-ms", required_argument, NULL, 's'},
    {"redirects", required_argument, NULL, 'r'},
    {"sha256", required_argument, NULL, 'S'},
    {NULL, 0, NULL, 0},
};

static int number(const char *s, long long *out)
{
    if (bf_parse_ll(s, 0, 1LL << 50, out) < 0) {
        fprintf(stderr, "bf_fetch_tool: %s: not a number\n", s);
        return -1;
    }
    return 0;
}

/* Apply one option to a; 0 or -1 on a bad value. */
static int apply_opt(struct tool_args *a, int opt, const char *val)
{
    struct bf_fetch_policy *p = &a->policy;
    long long n = 0;

    switch (opt) {
    case 'L':
        p->allow_loopback = true;
        return 0;
    case 'P':
        p->allow_http = true;
        return 0;
    case 'c':
        p->ca_file = val;
        return 0;
    case 'f':
        p->file_root = val;
        return 0;
    case 'S':
        a->sha256 = val;
        return 0;
    case 'H':
        if (a->nheaders == MAX_HEADERS)
            return -1;
        a->headers[a->nheaders++] = val;
        return 0;
    default:
        break;
    }
    if (number(val, &n) < 0)
        return -1;
    switch (opt) {
    case 'm':
        p->max_bytes = n;
        return 0;
    case 'M':
        p->max_response_bytes = n;
        return 0;
    case 't':
        p->timeout_ms = n;
        return 0;
    case 'C':
        p->connect_timeout_ms = n;
        return 0;
    case 's':
        p->stall_ms = n;
        return 0;
    case 'r':
        p->max_redirects = (int)n;
        return 0;
    default:
        return -1;
    }
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

    if (s) {
        puts(s);
        free(s);
    }
    json_decref(j);
}

static json_t *base_json(int rc, const struct bf_err *err)
{
    return json_pack("{s:s, s:s}", "code", bf_err_name(rc), "msg", rc ? err->msg : "");
}

static int do_get(struct tool_args *a, const char *url, const char *dest)
{
    struct bf_fetch_result res;
    struct bf_err err = {0};
    int rc = bf_fetch_to_file(&a->policy, url, a->sha256, dest, &res, &err);
    json_t *j = base_json(rc, &err);

    json_object_set_new(j, "status", json_integer(res.status));
    json_object_set_new(j, "bytes", json_integer(res.bytes));
    json_object_set_new(j, "sha256", json_string(res.sha256));
    json_object_set_new(j, "content_type", json_string(res.content_type));
    json_object_set_new(j, "effective_url", json_string(res.effective_url));
    print_json(j);
    return rc == 0 ? 0 : 1;
}

static int do_post(struct tool_args *a, const char *url, const char *body)
{
    struct bf_fetch_response resp;
    struct bf_err err = {0};
    int rc = bf_fetch_post(&a->policy, url, a->headers, body, strlen(body), &resp, &err);
    json_t *j = base_json(rc, &err);

    json_object_set_new(j, "status", json_integer(resp.status));
    json_object_set_new(j, "body", json_stringn(resp.body ? resp.body : "", resp.len));
    json_object_set_new(j, "content_type", json_string(resp.content_type));
    json_object_set_new(j, "location", json_string(resp.location));
    print_json(j);
    bf_fetch_response_free(&resp);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct tool_args a = {0};
    const char *cmd;
    int opt;

    if (argc < 2 || bf_fetch_global_init() < 0) {
        fputs(usage, stderr);
        return 2;
    }
    cmd = argv[1];
    bf_fetch_policy_init(&a.policy);
    optind = 2;
    while ((opt = getopt_long(argc, argv, "H:", long_opts, NULL)) != -1) {
        if (opt == '?' || apply_opt(&a, opt, optarg) < 0) {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (argc - optind != 2) {
        fputs(usage, stderr);
        return 2;
    }
    if (strcmp(cmd, "get") == 0)
        return do_get(&a, argv[optind], argv[optind + 1]);
    if (strcmp(cmd, "post") == 0)
        return do_post(&a, argv[optind], argv[optind + 1]);
    fputs(usage, stderr);
    return 2;
}
