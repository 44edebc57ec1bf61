/* SPDX-License-Identifier: Apache-2.0 */
/* badgeflow-analytics: the daemon; all logic is in analytics_core. */
#include "analytics.h"

int main(int argc, char **argv)
{
    return bf_daemon_main(&analytics_service, argc, argv);
}
