/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the probe: hostile bytes end in a failure with a code and words, never more. */
#include <libavformat/avformat.h>
#include <libavutil/log.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bf_test.h"
#include "transcoder.h"

static const char *probe_bytes(const void *buf, size_t n, enum tc_media kind, struct tc_fail *f)
{
    char path[] = "/tmp/tc-probe-XXXXXX";
    struct tc_limits lim;
    struct tc_probe info;
    AVFormatContext *in = NULL;
    int fd = mkstemp(path), rc;

    tc_limits_default(&lim);
    if (fd < 0 || write(fd, buf, n) != (ssize_t)n)
        return "io";
    close(fd);
    *f = (struct tc_fail){0};
    rc = tc_probe_open(path, kind, &lim, &in, &info, f);
    unlink(path);
    if (rc == 0) {
        avformat_close_input(&in);
        return "ok";
    }
    return f->code;
}

static void test_hostile_bytes_fail_cleanly(void)
{
    static const char hls[] = "#EXTM3U\n#EXTINF:2,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n";
    static const char ftyp[] = "\0\0\0\x18"
                               "ftypisom\0\0\x02\0isomiso2";
    static const char zip[] = "PK\3\4\x14\0\0\0\0\0";
    struct tc_fail f;

    CHECK_STR(probe_bytes("", 0, TC_MEDIA_VIDEO, &f), "unreadable");
    CHECK_STR(probe_bytes(hls, sizeof(hls) - 1, TC_MEDIA_VIDEO, &f), "unreadable");
    CHECK_STR(f.reason, "file is not a video the system can read");
    CHECK_STR(probe_bytes(ftyp, sizeof(ftyp) - 1, TC_MEDIA_VIDEO, &f), "unreadable");
    CHECK_STR(probe_bytes(zip, sizeof(zip) - 1, TC_MEDIA_AUDIO, &f), "unreadable");
    CHECK_STR(probe_bytes("%PDF-1.4", 8, TC_MEDIA_IMAGE, &f), "unsupported_type");
}

/* A PNG header declaring 60000x60000 pixels is refused by size before any decoding. */
static void test_huge_png_is_too_high(void)
{
    static const unsigned char png[] = {
        0x89, 'P',  'N',  'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I',  'H',  'D',  'R', 0,
        0,    0xea, 0x60, 0,   0,    0xea, 0x60, 8,    2, 0, 0, 0,  0x9d, 0x2c, 0x0b, 0x91};
    struct tc_fail f;
    const char *code = probe_bytes(png, sizeof(png), TC_MEDIA_IMAGE, &f);

    CHECK(code && (strcmp(code, "resolution_too_high") == 0 || strcmp(code, "unreadable") == 0));
    CHECK(f.reason[0] != '\0');
}

int main(void)
{
    av_log_set_level(AV_LOG_QUIET);
    BF_TEST_RUN(test_hostile_bytes_fail_cleanly);
    BF_TEST_RUN(test_huge_png_is_too_high);
    return BF_TEST_DONE();
}
