/* SPDX-License-Identifier: Apache-2.0 */
/* Normalise a picture: EXIF orientation applied in pixels, size capped, metadata stripped. */
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transcoder.h"

/* Filters for EXIF orientation 1..8 (TIFF tag 0x0112). */
static const char *exif_filters(int o)
{
    static const char *const f[] = {"",
                                    "",
                                    "hflip,",
                                    "hflip,vflip,",
                                    "vflip,",
                                    "transpose=clock_flip,",
                                    "transpose=clock,",
                                    "transpose=cclock_flip,",
                                    "transpose=cclock,"};
    return o >= 1 && o <= 8 ? f[o] : "";
}

/* Orientation from the frame: the decoder's display matrix, or the EXIF tag it exported. */
static int frame_orientation(const AVFrame *f)
{
    const AVFrameSideData *sd = av_frame_get_side_data(f, AV_FRAME_DATA_DISPLAYMATRIX);
    const AVDictionaryEntry *e = av_dict_get(f->metadata, "Orientation", NULL, 0);

    if (sd) {
        double t = -av_display_rotation_get((const int32_t *)sd->data);
        t -= 360 * floor(t / 360 + 0.9 / 360);
        return fabs(t - 90) < 1 ? 6 : fabs(t - 180) < 1 ? 3 : fabs(t - 270) < 1 ? 8 : 1;
    }
    long v = e ? strtol(e->value, NULL, 10) : 1;

    return v >= 1 && v <= 8 ? (int)v : 1;
}

static int decode_one(AVFormatContext *in, AVCodecContext *dec, int idx, AVFrame *f)
{
    AVPacket *pkt = av_packet_alloc();
    int rc = pkt ? 0 : AVERROR(ENOMEM);

    while (rc >= 0 && (rc = avcodec_receive_frame(dec, f)) == AVERROR(EAGAIN)) {
        rc = av_read_frame(in, pkt);
        if (rc == AVERROR_EOF)
            rc = avcodec_send_packet(dec, NULL);
        else if (rc >= 0 && pkt->stream_index == idx)
            rc = avcodec_send_packet(dec, pkt);
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    return rc;
}

static int open_dec(AVFormatContext *in, int idx, const struct tc_limits *lim, AVCodecContext **c)
{
    const AVCodec *dec = avcodec_find_decoder(in->streams[idx]->codecpar->codec_id);
    AVDictionary *o = NULL;
    int rc;

    if (!dec || !(*c = avcodec_alloc_context3(dec)))
        return AVERROR_DECODER_NOT_FOUND;
    if ((rc = avcodec_parameters_to_context(*c, in->streams[idx]->codecpar)) < 0)
        return rc;
    (*c)->thread_count = tc_codec_threads(lim);
    (*c)->max_pixels = lim->max_pixels;
    av_dict_set(&o, "codec_whitelist", tc_codec_whitelist(TC_MEDIA_IMAGE), 0);
    rc = avcodec_open2(*c, dec, &o);
    av_dict_free(&o);
    return rc;
}

/* Run f through "orient, scale, yuvj420p" into out. */
static int filter_image(AVFrame *f, int orient, const struct tc_limits *lim, AVFrame *out)
{
    AVFilterGraph *g = avfilter_graph_alloc();
    AVFilterContext *src = NULL, *sink = NULL;
    char args[256], desc[512];
    bool swap = orient >= 5;
    int dw = swap ? f->height : f->width, dh = swap ? f->width : f->height;
    double s = fmin(1.0, (double)lim->image_max_side / (dw > dh ? dw : dh));
    int rc;

    snprintf(args, sizeof(args), "video_size=%dx%d:pix_fmt=%d:time_base=1/1:pixel_aspect=1/1",
             f->width, f->height, f->format);
    snprintf(desc, sizeof(desc), "%sscale=%d:%d:flags=lanczos,setsar=1,format=yuvj420p",
             exif_filters(orient), (int)(dw * s) < 1 ? 1 : (int)(dw * s),
             (int)(dh * s) < 1 ? 1 : (int)(dh * s));
    rc = g ? avfilter_graph_create_filter(&src, avfilter_get_by_name("buffer"), "in", args, NULL, g)
           : AVERROR(ENOMEM);
    if (rc >= 0)
        rc = avfilter_graph_create_filter(&sink, avfilter_get_by_name("buffersink"), "out", NULL,
                                          NULL, g);
    AVFilterInOut *o = avfilter_inout_alloc(), *i = avfilter_inout_alloc();
    if (rc >= 0 && o && i) {
        *o = (AVFilterInOut){av_strdup("in"), src, 0, NULL};
        *i = (AVFilterInOut){av_strdup("out"), sink, 0, NULL};
        rc = avfilter_graph_parse_ptr(g, desc, &i, &o, NULL);
    } else if (rc >= 0)
        rc = AVERROR(ENOMEM);
    avfilter_inout_free(&o);
    avfilter_inout_free(&i);
    if (rc >= 0 && (rc = avfilter_graph_config(g, NULL)) >= 0) {
        f->pts = 0;
        if ((rc = av_buffersrc_add_frame(src, f)) >= 0 &&
            (rc = av_buffersrc_add_frame(src, NULL)) >= 0)
            rc = av_buffersink_get_frame(sink, out);
    }
    avfilter_graph_free(&g);
    return rc;
}

/* Encode a JPEG (a fresh file: no EXIF, no GPS, no maker notes) at path. */
static int write_jpeg(AVFrame *f, const char *path)
{
    const AVCodec *enc = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    AVCodecContext *c = enc ? avcodec_alloc_context3(enc) : NULL;
    AVPacket *pkt = av_packet_alloc();
    FILE *out = NULL;
    int rc = c && pkt ? 0 : AVERROR(ENOMEM);

    if (rc >= 0) {
        c->width = f->width;
        c->height = f->height;
        c->pix_fmt = AV_PIX_FMT_YUVJ420P;
        c->time_base = (AVRational){1, 1};
        c->flags |= AV_CODEC_FLAG_QSCALE | AV_CODEC_FLAG_BITEXACT;
        c->global_quality = FF_QP2LAMBDA * 2;
        f->quality = c->global_quality;
        rc = avcodec_open2(c, enc, NULL);
    }
    if (rc >= 0 && (rc = avcodec_send_frame(c, f)) >= 0)
        rc = avcodec_receive_packet(c, pkt);
    if (rc >= 0 && (!(out = fopen(path, "wbe")) ||
                    fwrite(pkt->data, 1, (size_t)pkt->size, out) != (size_t)pkt->size))
        rc = AVERROR(EIO);
    if (out && fclose(out) != 0)
        rc = AVERROR(EIO);
    av_packet_free(&pkt);
    avcodec_free_context(&c);
    return rc;
}

int tc_transcode_image(AVFormatContext *in, const struct tc_probe *info,
                       const struct tc_limits *lim, const char *dir, struct tc_result *res,
                       struct tc_fail *fail, struct bf_err *err)
{
    AVCodecContext *dec = NULL;
    AVFrame *f = av_frame_alloc(), *out = av_frame_alloc();
    struct tc_output *o = &res->out[0];
    int rc = f && out ? open_dec(in, info->video, lim, &dec) : AVERROR(ENOMEM);

    if (rc >= 0)
        rc = decode_one(in, dec, info->video, f);
    if (rc >= 0)
        rc = filter_image(f, frame_orientation(f), lim, out);
    *o = (struct tc_output){
        .name = "image", .ext = "jpg", .content_type = "image/jpeg", .duration_ms = -1};
    snprintf(o->path, sizeof(o->path), "%s/image.jpg", dir);
    snprintf(o->codec, sizeof(o->codec), "mjpeg");
    if (rc >= 0 && (rc = write_jpeg(out, o->path)) >= 0) {
        o->width = out->width;
        o->height = out->height;
        res->n = 1;
    }
    av_frame_free(&f);
    av_frame_free(&out);
    avcodec_free_context(&dec);
    (void)err;
    return rc >= 0 ? 0
                   : tc_fail_set(fail, "unreadable", "file is not a picture the system can read");
}
