/* SPDX-License-Identifier: Apache-2.0 */
/* badgeflow-issuer: signs Open Badges 3.0 credentials for earned decisions. */
#include "issuer.h"

int main(int argc, char **argv)
{
    return bf_daemon_main(&issuer_service, argc, argv);
}
