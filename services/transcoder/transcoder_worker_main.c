/* SPDX-License-Identifier: Apache-2.0 */
/* badgeflow-transcode-worker JOB_FILE: one job (any kind) in a confined process; result JSON on
 * stdout. */
#include "transcoder.h"

int main(int argc, char **argv)
{
    return tc_worker_main(argc, argv, tc_worker_media);
}
