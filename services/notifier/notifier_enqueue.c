/* SPDX-License-Identifier: Apache-2.0 */
/* Events in: one webhook_deliveries row per matching endpoint, in the record's transaction. */
#include <stdlib.h>
#include <string.h>

#include "badgeflow/events.h"
#include "badgeflow/json.h"
#include "badgeflow/log.h"
#include "notifier.h"

#define TYPE_PREFIX "org.badgeflow."

/* The event's tenant's endpoints, and its state agency's that include districts. The unique
 * (endpoint_id, event_id) makes a replayed record a no-op; an endpoint's filter names types in
 * full or without the org.badgeflow. prefix; empty means every type. */
#define ENQUEUE_STMT "notifier_enqueue"
#define ENQUEUE_SQL                                                                                \
    "INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, event_type, payload)"   \
    " SELECT gen_random_uuid(), e.tenant_id, e.id, $2, $3, $4 FROM webhook_endpoints e"            \
    " WHERE e.tenant_id = ANY (ARRAY[$1, (SELECT parent_id FROM tenants WHERE id = $1)])"          \
    " AND (e.tenant_id = $1 OR e.include_districts) AND e.disabled_at IS NULL AND "                \
    "(cardinality(e.event_types) = 0"                                                              \
    " OR $3 = ANY (e.event_types) OR $5 = ANY (e.event_types))"                                    \
    " ON CONFLICT (endpoint_id, event_id) DO NOTHING"

char *notifier_body(const char *id, const char *source, const char *type, const char *subject,
                    const char *time, const json_t *data)
{
    json_t *o = json_object();
    char *s = NULL;

    if (!o)
        return NULL;
    /* insertion order is kept by jansson: the receiver sees the envelope first, data last */
    if (json_object_set_new(o, "specversion", json_string("1.0")) == 0 &&
        json_object_set_new(o, "id", json_string(id)) == 0 &&
        json_object_set_new(o, "source", json_string(source)) == 0 &&
        json_object_set_new(o, "type", json_string(type)) == 0 &&
        (!subject || json_object_set_new(o, "subject", json_string(subject)) == 0) &&
        json_object_set_new(o, "time", json_string(time)) == 0 &&
        json_object_set_new(o, "datacontenttype", json_string("application/json")) == 0 &&
        json_object_set(o, "data", (json_t *)data) == 0)
        s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

/* What an endpoint filter may name besides the full type: the type without its prefix. */
static const char *short_type(const char *type)
{
    size_t n = strlen(TYPE_PREFIX);

    return strncmp(type, TYPE_PREFIX, n) == 0 ? type + n : type;
}

static int enqueue(struct bf_pg *pg, const char *tenant, const struct bf_event *ev,
                   const char *body, long long *rows, struct bf_err *err)
{
    const char *p[5] = {tenant, ev->id, ev->type, body, short_type(ev->type)};
    int rc = bf_pg_prepare(pg, ENQUEUE_STMT, ENQUEUE_SQL, err);

    return rc < 0 ? rc : bf_pg_cmd(pg, ENQUEUE_STMT, 5, p, rows, err);
}

int notifier_on_event(void *state, struct bf_event *ev, struct bf_err *err)
{
    const char *tenant = NULL;
    long long rows = 0;
    char *body;
    int rc;

    (void)state;
    /* never forward what the contract refuses: an unknown type or a bad event is dead-lettered */
    rc = bf_ev_check(ev->type, ev->data, err);
    if (rc < 0) {
        err->code = BF_EINVAL; /* unknown type too: nothing a retry would fix */
        return -BF_EINVAL;
    }
    if (bf_json_id(ev->data, "", "tenant_id", &tenant, err) < 0)
        return -BF_EINVAL;
    body = notifier_body(ev->id, ev->source, ev->type, ev->subject, ev->time, ev->data);
    if (!body)
        return bf_err_set(err, BF_ENOMEM, "webhook body: out of memory");
    rc = enqueue(ev->pg, tenant, ev, body, &rows, err);
    free(body);
    if (rc == 0 && rows > 0)
        bf_log_kv(BF_LOG_DEBUG, "BF_NOTIFIER_ENQUEUED", "webhook deliveries queued", "tenant_id",
                  tenant, "type", ev->type, NULL);
    return rc;
}
