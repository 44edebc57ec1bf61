/* SPDX-License-Identifier: Apache-2.0 */
/* badgeflow-notifier: delivers tenants' signed webhooks (all logic in notifier_core). */
#include "notifier.h"

int main(int argc, char **argv)
{
    return bf_daemon_main(&notifier_service, argc, argv);
}
