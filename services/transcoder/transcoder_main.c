/* SPDX-License-Identifier: Apache-2.0 */
/* badgeflow-transcoder: evidence media processing (see docs/transcoder.md). */
#include "badgeflow/daemon.h"
#include "transcoder.h"

int main(int argc, char **argv)
{
    return bf_daemon_main(&transcoder_service, argc, argv);
}
