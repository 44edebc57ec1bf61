/* SPDX-License-Identifier: Apache-2.0 */
/* Probe and validate untrusted media with libavformat: whitelists, bounded probing, caps. */
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "transcoder.h"

/* Demuxers a classroom recording or a photo plausibly comes in. Never hls/concat/image2
 * (they open other files), never lavfi, tty or data formats. */
static const char *const formats[] = {
    [TC_MEDIA_VIDEO] = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,ogg",
    [TC_MEDIA_AUDIO] = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,ogg,wav,mp3,flac,aac",
    [TC_MEDIA_IMAGE] = "jpeg_pipe,png_pipe,webp_pipe,bmp_pipe,gif,tiff_pipe",
};

static const char *const codecs[] = {
    [TC_MEDIA_VIDEO] = "h264,hevc,vp8,vp9,av1,mpeg4,mjpeg,aac,mp3,opus,vorbis,flac,alac,"
                       "pcm_s16le,pcm_s24le,pcm_f32le,libdav1d,libvpx,libvpx-vp9,libopus",
    [TC_MEDIA_AUDIO] = "aac,mp3,mp3float,opus,vorbis,flac,alac,pcm_s16le,pcm_s24le,pcm_f32le,"
                       "libopus,h264,hevc,mjpeg,png",
    [TC_MEDIA_IMAGE] = "mjpeg,png,webp,bmp,gif,tiff",
};

const char *tc_codec_whitelist(enum tc_media kind)
{
    return codecs[kind];
}

static int set_opts(AVDictionary **o, enum tc_media kind, const struct tc_limits *lim)
{
    int rc = 0;

    rc |= av_dict_set(o, "format_whitelist", formats[kind], 0);
    rc |= av_dict_set(o, "codec_whitelist", codecs[kind], 0);
    rc |= av_dict_set(o, "protocol_whitelist", "file", 0);
    rc |= av_dict_set_int(o, "probesize", lim->probe_size, 0);
    rc |= av_dict_set_int(o, "analyzeduration", lim->analyze_us, 0);
    rc |= av_dict_set_int(o, "max_streams", lim->max_streams, 0);
    rc |= av_dict_set_int(o, "formatprobesize",
                          lim->probe_size < (1 << 20) ? lim->probe_size : (1 << 20), 0);
    /* mov: never follow external data references (dref) to other files. */
    rc |= av_dict_set(o, "enable_drefs", "0", 0);
    rc |= av_dict_set(o, "use_absolute_path", "0", 0);
    return rc < 0 ? -BF_ENOMEM : 0;
}

/* Clockwise rotation and mirroring from the stream's display matrix (phones write one). */
static void orientation(const AVStream *st, struct tc_probe *info)
{
    const int32_t *m =
        (const int32_t *)av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    double theta;

    if (!m)
        return;
    /* av_display_rotation_get is counter-clockwise; -theta is what must be applied. */
    theta = -av_display_rotation_get(m);
    if (isnan(theta))
        return;
    theta -= 360 * floor(theta / 360 + 0.9 / 360);
    info->rotation = fabs(theta - 90) < 1    ? 90
                     : fabs(theta - 180) < 1 ? 180
                     : fabs(theta - 270) < 1 ? 270
                                             : 0;
    info->hflip = (int64_t)m[0] * m[4] - (int64_t)m[1] * m[3] < 0;
}

static int pick_streams(AVFormatContext *f, struct tc_probe *info)
{
    info->video = -1;
    info->audio = av_find_best_stream(f, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    for (unsigned i = 0; i < f->nb_streams; i++) {
        const AVStream *st = f->streams[i];
        /* Cover art is a picture attached to audio, not a video. */
        if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
            !(st->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
            info->video = (int)i;
            break;
        }
    }
    if (info->audio < 0)
        info->audio = -1;
    return 0;
}

static void describe(AVFormatContext *f, struct tc_probe *info)
{
    snprintf(info->container, sizeof(info->container), "%s", f->iformat->name);
    info->duration_ms = f->duration > 0 ? f->duration / 1000 : -1;
    if (info->video >= 0) {
        const AVStream *st = f->streams[info->video];
        const AVCodecParameters *p = st->codecpar;
        snprintf(info->video_codec, sizeof(info->video_codec), "%s", avcodec_get_name(p->codec_id));
        orientation(st, info);
        bool swap = info->rotation == 90 || info->rotation == 270;
        info->width = swap ? p->height : p->width;
        info->height = swap ? p->width : p->height;
        info->hdr = p->color_trc == AVCOL_TRC_ARIB_STD_B67 || p->color_trc == AVCOL_TRC_SMPTE2084;
    }
    if (info->audio >= 0)
        snprintf(info->audio_codec, sizeof(info->audio_codec), "%s",
                 avcodec_get_name(f->streams[info->audio]->codecpar->codec_id));
}

static const char *kind_word(enum tc_media kind)
{
    return kind == TC_MEDIA_VIDEO   ? "a video"
           : kind == TC_MEDIA_AUDIO ? "an audio recording"
                                    : "a picture";
}

/* The caps of the config and of the requirement, in words a teacher can act on. */
static int check_caps(enum tc_media kind, const struct tc_limits *lim, const struct tc_probe *i,
                      struct tc_fail *fail)
{
    char words[64];

    if (kind == TC_MEDIA_VIDEO && i->video < 0)
        return tc_fail_set(fail, i->audio >= 0 ? "kind_mismatch" : "unreadable",
                           i->audio >= 0 ? "the file has sound but no picture: upload the video"
                                         : "file is not a video the system can read");
    if (kind == TC_MEDIA_AUDIO && i->audio < 0)
        return tc_fail_set(fail, "kind_mismatch", "the file has no sound");
    if (kind == TC_MEDIA_IMAGE && i->video < 0)
        return tc_fail_set(fail, "unreadable", "file is not a picture the system can read");
    if (i->video >= 0 && (i->width <= 0 || i->height <= 0))
        return tc_fail_set(fail, "unreadable", "file is not %s the system can read",
                           kind_word(kind));
    if (i->width > lim->max_width || i->height > lim->max_height ||
        (long long)i->width * i->height > lim->max_pixels)
        return tc_fail_set(fail, "resolution_too_high",
                           "the picture is %dx%d pixels; the largest allowed is %dx%d", i->width,
                           i->height, lim->max_width, lim->max_height);
    if (kind != TC_MEDIA_IMAGE && i->duration_ms > lim->max_duration_ms) {
        tc_duration_words(lim->max_duration_ms, words);
        return tc_fail_set(fail, "too_long", "%s longer than %s",
                           kind == TC_MEDIA_VIDEO ? "video" : "recording", words);
    }
    return 0;
}

/* The size the container declares, checked before any frame is decoded: a hostile file
 * claiming 16000x16000 is refused without allocating a picture of that size. */
static int declared_size(AVFormatContext *f, const struct tc_limits *lim, struct tc_fail *fail)
{
    for (unsigned i = 0; i < f->nb_streams; i++) {
        const AVCodecParameters *p = f->streams[i]->codecpar;
        int lo = p->width < p->height ? p->width : p->height;
        int hi = p->width < p->height ? p->height : p->width;
        int cap_lo = lim->max_width < lim->max_height ? lim->max_width : lim->max_height;
        int cap_hi = lim->max_width < lim->max_height ? lim->max_height : lim->max_width;
        if (p->codec_type == AVMEDIA_TYPE_VIDEO && (lo > cap_lo || hi > cap_hi))
            return tc_fail_set(fail, "resolution_too_high",
                               "the picture is %dx%d pixels; the largest allowed is %dx%d",
                               p->width, p->height, lim->max_width, lim->max_height);
    }
    return 0;
}

/* Read stream info with the probing decoders under the same pixel cap and whitelist as ours. */
static int find_info(AVFormatContext *f, enum tc_media kind, const struct tc_limits *lim)
{
    unsigned n = f->nb_streams; /* streams found later get no options: count them now */
    AVDictionary **o = av_calloc(n ? n : 1, sizeof(AVDictionary *));
    int rc;

    if (!o)
        return AVERROR(ENOMEM);
    for (unsigned i = 0; i < n; i++) {
        av_dict_set_int(&o[i], "max_pixels", lim->max_pixels, 0);
        av_dict_set(&o[i], "codec_whitelist", codecs[kind], 0);
        av_dict_set_int(&o[i], "threads", 1, 0);
    }
    rc = avformat_find_stream_info(f, o);
    for (unsigned i = 0; i < n; i++)
        av_dict_free(&o[i]);
    av_free(o);
    return rc;
}

int tc_probe_open(const char *path, enum tc_media kind, const struct tc_limits *lim,
                  AVFormatContext **fmt, struct tc_probe *info, struct tc_fail *fail)
{
    AVDictionary *opts = NULL;
    AVFormatContext *f = avformat_alloc_context();
    int rc;

    *info = (struct tc_probe){.video = -1, .audio = -1, .duration_ms = -1};
    if (!f || set_opts(&opts, kind, lim) < 0) {
        avformat_free_context(f);
        av_dict_free(&opts);
        return tc_fail_set(fail, "unreadable", "out of memory while reading the file");
    }
    rc = avformat_open_input(&f, path, NULL, &opts); /* frees f on failure */
    av_dict_free(&opts);
    if (rc < 0)
        return tc_fail_set(fail, kind == TC_MEDIA_IMAGE ? "unsupported_type" : "unreadable",
                           "file is not %s the system can read", kind_word(kind));
    if (f->nb_streams > (unsigned)lim->max_streams) {
        avformat_close_input(&f);
        return tc_fail_set(fail, "too_many_streams", "the file has more than %d tracks",
                           lim->max_streams);
    }
    rc = declared_size(f, lim, fail);
    if (rc >= 0 && (rc = find_info(f, kind, lim)) < 0)
        rc = tc_fail_set(fail, "unreadable", "file is not %s the system can read", kind_word(kind));
    if (rc >= 0)
        rc = pick_streams(f, info);
    if (rc >= 0) {
        describe(f, info);
        rc = check_caps(kind, lim, info, fail);
    }
    if (rc < 0) {
        avformat_close_input(&f);
        return rc;
    }
    *fmt = f;
    return 0;
}
