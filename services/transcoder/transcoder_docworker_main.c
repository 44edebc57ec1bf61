/* SPDX-License-Identifier: Apache-2.0 */
/* badgeflow-transcode-docworker JOB_FILE: one document or text job in a confined process that
 * links no media library; result JSON on stdout. */
#include "transcoder.h"

int main(int argc, char **argv)
{
    return tc_worker_main(argc, argv, NULL);
}
