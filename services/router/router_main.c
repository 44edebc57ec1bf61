/* SPDX-License-Identifier: Apache-2.0 */
/* badgeflow-router: assigns eligible, available assessors to ready submissions. */
#include "router.h"

int main(int argc, char **argv)
{
    return bf_daemon_main(&router_service, argc, argv);
}
