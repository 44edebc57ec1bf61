/* SPDX-License-Identifier: Apache-2.0 */
/* badgeflow-gateway: the districts' HTTP API on the daemon skeleton. */
#include "gateway.h"

int main(int argc, char **argv)
{
    return bf_daemon_main(&gateway_service, argc, argv);
}
