/* SPDX-License-Identifier: Apache-2.0 */
/* The media step of badgeflow-transcode-worker: probe, then transcode video, audio or image.
 * Kept apart so that the document worker links no media library (it starts in milliseconds
 * where a process loading FFmpeg's libraries takes a tenth of a second of CPU). */
#include <libavformat/avformat.h>
#include <libavutil/log.h>
#include <string.h>

#include "transcoder.h"

/* The media type of what the demuxer recognised (the sniffed type, not the declared one). */
static const char *media_type(const char *container, enum tc_media m)
{
    static const struct {
        const char *prefix, *video, *audio;
    } map[] = {{"mov,", "video/mp4", "audio/mp4"}, {"matroska", "video/webm", "audio/webm"},
               {"avi", "video/x-msvideo", NULL},   {"mpegts", "video/mp2t", NULL},
               {"ogg", "video/ogg", "audio/ogg"},  {"wav", NULL, "audio/wav"},
               {"mp3", NULL, "audio/mpeg"},        {"flac", NULL, "audio/flac"},
               {"aac", NULL, "audio/aac"},         {"jpeg_pipe", "image/jpeg", NULL},
               {"png_pipe", "image/png", NULL},    {"webp_pipe", "image/webp", NULL},
               {"gif", "image/gif", NULL},         {"bmp_pipe", "image/bmp", NULL},
               {"tiff_pipe", "image/tiff", NULL}};

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strncmp(container, map[i].prefix, strlen(map[i].prefix)) == 0)
            return m == TC_MEDIA_AUDIO && map[i].audio ? map[i].audio
                   : map[i].video                      ? map[i].video
                                                       : map[i].audio;
    return NULL;
}

static void media_meta(const struct tc_probe *p, enum tc_media m, json_t *meta)
{
    const char *ct = media_type(p->container, m);

    if (ct)
        json_object_set_new(meta, "content_type", json_string(ct));
    tc_json_opt_int(meta, "duration_ms", p->duration_ms,
                    p->duration_ms >= 0 && m != TC_MEDIA_IMAGE);
    tc_json_opt_int(meta, "width", p->width, p->width > 0);
    tc_json_opt_int(meta, "height", p->height, p->height > 0);
    if (p->video_codec[0])
        json_object_set_new(meta, "video_codec", json_string(p->video_codec));
    if (p->audio_codec[0])
        json_object_set_new(meta, "audio_codec", json_string(p->audio_codec));
    json_object_set_new(meta, "container", json_string(p->container));
}

int tc_worker_media(const char *input, const char *scratch, enum tc_media m,
                    const struct tc_limits *lim, tc_progress_fn *progress, void *parg,
                    struct tc_result *res, json_t *meta, struct tc_fail *fail, struct bf_err *err)
{
    AVFormatContext *in = NULL;
    struct tc_probe info;
    int rc;

    av_log_set_level(AV_LOG_ERROR);
    if ((rc = tc_probe_open(input, m, lim, &in, &info, fail)) < 0)
        return rc;
    media_meta(&info, m, meta);
    rc = m == TC_MEDIA_IMAGE
             ? tc_transcode_image(in, &info, lim, scratch, res, fail, err)
             : tc_transcode_av(in, &info, m, lim, scratch, progress, parg, res, fail, err);
    avformat_close_input(&in);
    if (rc == 0 && m == TC_MEDIA_IMAGE) { /* the picture as shown: EXIF orientation applied */
        json_object_set_new(meta, "width", json_integer(res->out[0].width));
        json_object_set_new(meta, "height", json_integer(res->out[0].height));
    }
    return rc;
}
