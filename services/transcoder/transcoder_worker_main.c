/* SPDX-License-Identifier: Apache-2.0 */
/* badgeflow-transcode-worker JOB_FILE: one job in a confined process; result JSON on stdout. */
#include <fcntl.h>
#include <libavutil/log.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "transcoder.h"

/* fd 3, when open, is the progress pipe the runner watches (its no-progress watchdog). */
static int progress_fd(void)
{
    return fcntl(3, F_GETFD) >= 0 ? 3 : -1;
}

int main(int argc, char **argv)
{
    struct bf_err err = {0};
    json_t *job, *out;

    if (argc != 2) {
        fprintf(stderr, "usage: badgeflow-transcode-worker JOB_FILE\n");
        return 2;
    }
    av_log_set_level(AV_LOG_ERROR);
    /* glibc reserves a 64 MiB heap per thread that allocates (up to 8 per core): with a
     * dozen codec threads that alone would eat a tight RLIMIT_AS. Four arenas suffice: the
     * pictures come from libav's buffer pools. */
    mallopt(M_ARENA_MAX, 4);
    job = json_load_file(argv[1], 0, NULL);
    if (!job || tc_worker_confine(job, &err) < 0) {
        fprintf(stderr, "badgeflow-transcode-worker: %s\n", job ? err.msg : "bad job file");
        json_decref(job);
        return 1;
    }
    json_decref(job);
    out = tc_worker_run(argv[1], progress_fd());
    if (!out || json_dumpf(out, stdout, JSON_COMPACT) < 0 || fflush(stdout) != 0)
        return 1;
    json_decref(out);
    return 0;
}
