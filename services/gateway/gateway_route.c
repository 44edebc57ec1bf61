/* SPDX-License-Identifier: Apache-2.0 */
/* The API's routes: method, path pattern, roles allowed, handler (docs/openapi.yaml). */
#include <stdio.h>
#include <string.h>

#include "gateway.h"

#define D   GW_DISTRICT
#define AS  GW_ASSESSOR
#define AD  GW_ADMIN
#define ANY (GW_DISTRICT | GW_ASSESSOR | GW_ADMIN)

const struct gw_route gw_routes[] = {
    {"POST", "/v1/submissions", D, false, gw_submission_create},
    {"GET", "/v1/submissions", D, false, gw_submission_list},
    {"GET", "/v1/submissions/{}", D, false, gw_submission_get},
    {"POST", "/v1/submissions/{}/withdraw", D, false, gw_submission_withdraw},
    {"POST", "/v1/submissions/{}/resubmissions", D, false, gw_submission_resubmit},
    {"POST", "/v1/uploads", D, true, gw_upload_finish},
    {"GET", "/v1/assignments", AS, false, gw_assignment_list},
    {"GET", "/v1/assignments/{}", AS, false, gw_assignment_get},
    {"POST", "/v1/assignments/{}/scores", AS, false, gw_assignment_score},
    {"POST", "/v1/assignments/{}/release", AS, false, gw_assignment_release},
    {"GET", "/v1/stacks", ANY, false, gw_catalogue_stacks},
    {"GET", "/v1/stacks/{}", ANY, false, gw_catalogue_stack},
    {"GET", "/v1/credentials/{}", ANY, false, gw_catalogue_credential},
    {"POST", "/v1/admin/tenants", AD, false, gw_admin_tenant_add},
    {"GET", "/v1/admin/tenants", AD, false, gw_admin_tenant_list},
    {"POST", "/v1/admin/assessors", AD, false, gw_admin_assessor_add},
    {"GET", "/v1/admin/assessors", AD, false, gw_admin_assessor_list},
    {"POST", "/v1/admin/api-keys", AD, false, gw_admin_key_add},
    {"GET", "/v1/admin/api-keys", AD, false, gw_admin_key_list},
    {"DELETE", "/v1/admin/api-keys/{}", AD, false, gw_admin_key_revoke},
    {"POST", "/v1/admin/webhook-endpoints", AD, false, gw_admin_hook_add},
    {"GET", "/v1/admin/webhook-endpoints", AD, false, gw_admin_hook_list},
    {"DELETE", "/v1/admin/webhook-endpoints/{}", AD, false, gw_admin_hook_delete},
    {"POST", "/v1/admin/webhook-endpoints/{}/rotate-secret", AD, false, gw_admin_hook_rotate},
    {"GET", "/v1/public/{}", GW_PUBLIC, false, gw_public_redirect},
    {"GET", "/v1/public/{}/{}", GW_PUBLIC, false, gw_public_redirect},
    {"GET", "/v1/public/{}/{}/{}", GW_PUBLIC, false, gw_public_redirect},
    {NULL, NULL, 0, false, NULL},
};

/* Match path against pattern segment by segment; {} takes one non-empty segment. */
static bool match(const char *pattern, const char *path, char params[GW_MAX_PARAMS][160])
{
    int np = 0;

    while (*pattern && *path) {
        if (strncmp(pattern, "{}", 2) == 0) {
            size_t n = strcspn(path, "/");
            if (n == 0 || n >= 160 || np >= GW_MAX_PARAMS)
                return false;
            memcpy(params[np], path, n);
            params[np++][n] = '\0';
            path += n;
            pattern += 2;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    return *pattern == '\0' && *path == '\0';
}

const struct gw_route *gw_route_find(const char *method, const char *path,
                                     char params[GW_MAX_PARAMS][160], bool *path_known)
{
    *path_known = false;
    for (const struct gw_route *rt = gw_routes; rt->method; rt++) {
        if (!match(rt->pattern, path, params))
            continue;
        if (strcmp(rt->method, method) == 0)
            return rt;
        *path_known = true;
    }
    return NULL;
}
