/* SPDX-License-Identifier: Apache-2.0 */
/* badgeflow-scorer: validates rubric scores, aggregates assessors, decides. */
#include "scorer.h"

int main(int argc, char **argv)
{
    return bf_daemon_main(&scorer_service, argc, argv);
}
