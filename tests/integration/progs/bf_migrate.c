/* SPDX-License-Identifier: Apache-2.0 */
/* Apply the migrations of a directory (for the integration tests, until the admin CLI does). */
#include <stdio.h>

#include "badgeflow/log.h"
#include "badgeflow/pg.h"

int main(int argc, char **argv)
{
    const struct bf_cfg_def *tables[] = {bf_cfg_common_defs, NULL};
    struct bf_err err = {0};
    struct bf_cfg *cfg;
    struct bf_pg *pg = NULL;
    int rc = 1, n;

    if (argc != 2) {
        fprintf(stderr, "usage: bf_migrate DIR  (postgres.* from BADGEFLOW_POSTGRES_*)\n");
        return 2;
    }
    bf_log_init("migrate", BF_LOG_INFO, stderr);
    cfg = bf_cfg_load(tables, NULL, NULL, &err);
    if (cfg)
        pg = bf_pg_new_cfg(cfg, "migrate", &err);
    if (pg && bf_pg_connect(pg, NULL, &err) == 0) {
        n = bf_pg_migrate(pg, argv[1], &err);
        if (n >= 0) {
            printf("%d migrations applied\n", n);
            rc = 0;
        }
    }
    if (rc)
        fprintf(stderr, "bf_migrate: %s\n", err.msg);
    bf_pg_free(pg);
    bf_cfg_free(cfg);
    return rc;
}
