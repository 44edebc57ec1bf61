/* SPDX-License-Identifier: Apache-2.0 */
/* The catalogue in PostgreSQL: store what the files say, read back what services use. */
#ifndef BADGEFLOW_CATALOGUE_PG_H
#define BADGEFLOW_CATALOGUE_PG_H

#include "badgeflow/catalogue.h"
#include "badgeflow/err.h"
#include "badgeflow/pg.h"

/* What bf_cat_store() changed. */
struct bf_cat_store_report {
    int stacks;        /* stacks inserted or updated */
    int versions_new;  /* credential versions inserted */
    int versions_kept; /* versions already there with the same digest */
    int retired;       /* credentials no longer in the files, now retired */
};

/*
 * Store cat in one transaction: upsert stacks, insert new credential versions (an existing
 * (id, version) with another digest fails: -BF_ECONFLICT "versions are immutable: bump
 * version"), point each credential at its latest version, retire credentials the files no
 * longer hold. report may be NULL. 0 or -BF_E* (nothing is stored on failure).
 */
int bf_cat_store(struct bf_pg *pg, const struct bf_cat *cat, struct bf_cat_store_report *report,
                 struct bf_err *err) BF_MUST_CHECK;

/*
 * Read every stack and every credential version from PostgreSQL into a new catalogue
 * (older versions included: submissions name the version they are assessed against).
 * Caller frees with bf_cat_free(). NULL with err (-BF_ETRANSIENT when the database is
 * down; -BF_EINVAL when a stored version no longer validates, naming it).
 */
struct bf_cat *bf_cat_load_pg(struct bf_pg *pg, struct bf_err *err);

#endif
