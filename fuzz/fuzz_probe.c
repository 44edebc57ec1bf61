/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the transcoder's probe/validate path (tc_probe_open) on arbitrary bytes.
 * The first byte picks the kind (video, audio, image); the rest is the file. */
#define _GNU_SOURCE
#include <libavformat/avformat.h>
#include <libavutil/log.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "transcoder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tc_limits lim;
    struct tc_probe info;
    struct tc_fail fail = {0};
    AVFormatContext *in = NULL;
    char path[64];
    int fd;

    if (size < 1)
        return 0;
    av_log_set_level(AV_LOG_QUIET);
    tc_limits_default(&lim);
    lim.probe_size = 1 << 20;
    lim.analyze_us = 2000000;
    fd = memfd_create("fuzz_probe", MFD_CLOEXEC); /* a file path without touching the disk */
    if (fd < 0 || write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    if (tc_probe_open(path, (enum tc_media)(data[0] % 3), &lim, &in, &info, &fail) == 0)
        avformat_close_input(&in);
    else if (!fail.code || !fail.reason[0])
        __builtin_trap(); /* every refusal must say why */
    close(fd);
    return 0;
}
