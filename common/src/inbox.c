/* SPDX-License-Identifier: Apache-2.0 */
/* The inbox: event ids each consumer has applied, claimed in the effect's transaction. */
#include <stdio.h>

#include "badgeflow/pg.h"

/*
 * In the same statement, the transaction-local badgeflow.event_id: the trigger that logs
 * submission state changes (submission_events.event_id) names the event that caused them, for
 * every service, at no extra round trip.
 */
#define INBOX_STMT "bf_inbox_insert"
#define INBOX_SQL                                                                                  \
    "WITH cause AS (SELECT set_config('badgeflow.event_id', $2, true))"                            \
    " INSERT INTO inbox (consumer, event_id, topic, kpartition, koffset, outcome, reason)"         \
    " SELECT $1::text, $2::text, $3::text, $4::integer, $5::bigint, $6::text, $7::text FROM cause" \
    " ON CONFLICT (consumer, event_id) DO NOTHING"

static int inbox_insert(struct bf_pg *pg, const char *consumer, const char *event_id,
                        const char *topic, int32_t partition, int64_t offset, const char *outcome,
                        const char *reason, bool *fresh, struct bf_err *err)
{
    char part[16], off[24];
    const char *p[7] = {consumer, event_id, topic, part, off, outcome, reason};
    long long rows = 0;
    int rc;

    snprintf(part, sizeof(part), "%d", (int)partition);
    snprintf(off, sizeof(off), "%lld", (long long)offset);
    rc = bf_pg_prepare(pg, INBOX_STMT, INBOX_SQL, err);
    if (rc == 0)
        rc = bf_pg_cmd(pg, INBOX_STMT, 7, p, &rows, err);
    if (rc < 0)
        return rc;
    *fresh = rows == 1;
    return 0;
}

int bf_inbox_claim(struct bf_pg *pg, const char *consumer, const char *event_id, const char *topic,
                   int32_t partition, int64_t offset, bool *fresh, struct bf_err *err)
{
    return inbox_insert(pg, consumer, event_id, topic, partition, offset, "applied", NULL, fresh,
                        err);
}

int bf_inbox_dead_letter(struct bf_pg *pg, const char *consumer, const char *event_id,
                         const char *topic, int32_t partition, int64_t offset, const char *reason,
                         bool *fresh, struct bf_err *err)
{
    return inbox_insert(pg, consumer, event_id, topic, partition, offset, "dead_lettered", reason,
                        fresh, err);
}
