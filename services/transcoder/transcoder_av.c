/* SPDX-License-Identifier: Apache-2.0 */
/* Decode once, filter once, encode the 720p and 360p H.264+AAC MP4s, a poster, or an .m4a. */
/*
 * Threads: this (the calling) thread demuxes, decodes, runs both filter graphs, encodes the
 * AAC once and the poster. Each H.264 rendition has its own encoder thread fed through a
 * bounded queue of frame refs (struct tc_fq), so the 720p and 360p x264 encoders (each
 * with its own frame threads) run side by side instead of one waiting for the other. An
 * encoder thread owns its codec context and its muxer's video side; the muxer itself is
 * shared with the audio written from here, under the muxer's lock.
 */
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <stdio.h>
#include <string.h>

#include "transcoder.h"

enum { V720, V360, NV };

/* One MP4 (or .m4a) being written. */
struct mux {
    AVFormatContext *oc;
    AVStream *vst, *ast;
    AVCodecContext *venc; /* NULL for the .m4a */
    struct tc_output *out;
    AVPacket *held; /* the last video packet, written once the next gives its duration */
    int64_t last_dur;
    pthread_mutex_t lock; /* oc: video from the encoder thread, audio from the main one */
    bool lock_ready;
    struct tc_fq q; /* frames to the encoder thread */
    pthread_t tid;
    bool running;
    AVPacket *pkt; /* the encoder thread's */
    int rc;        /* the encoder thread's result */
};

struct av_job {
    AVFormatContext *in;
    const struct tc_probe *info;
    const struct tc_limits *lim;
    AVCodecContext *vdec, *adec, *aenc, *penc;
    AVFilterGraph *vg, *ag;
    AVFilterContext *vsrc, *vsink[NV], *psink, *asrc, *asink;
    struct mux mux[NV];
    int nmux;
    AVFrame *frame, *filt;
    AVPacket *pkt;
    struct tc_output *poster;
    bool poster_done;
    long long frames;
    int64_t max_pts_ms;
    tc_progress_fn *progress;
    void *parg;
};

/* ---- decoders ------------------------------------------------------------------------ */

static int open_decoder(struct av_job *j, int idx, enum tc_media kind, AVCodecContext **out)
{
    const AVStream *st = j->in->streams[idx];
    const AVCodec *dec = avcodec_find_decoder(st->codecpar->codec_id);
    AVDictionary *o = NULL;
    AVCodecContext *c;
    int rc;

    if (!dec || !(c = avcodec_alloc_context3(dec)))
        return AVERROR_DECODER_NOT_FOUND;
    *out = c;
    if ((rc = avcodec_parameters_to_context(c, st->codecpar)) < 0)
        return rc;
    c->pkt_timebase = st->time_base;
    c->thread_count = tc_codec_threads(j->lim);
    c->max_pixels = j->lim->max_pixels;
    av_dict_set(&o, "codec_whitelist", tc_codec_whitelist(kind), 0);
    rc = avcodec_open2(c, dec, &o);
    av_dict_free(&o);
    return rc;
}

/* ---- sizes ------------------------------------------------------------------------------ */

/* Fit the display size (SAR applied) into box bw x bh (either orientation), never upscaling,
 * even dimensions. */
static void fit(const struct av_job *j, int bw, int bh, int *w, int *h)
{
    const AVCodecParameters *p = j->in->streams[j->info->video]->codecpar;
    double sar = p->sample_aspect_ratio.num > 0 && p->sample_aspect_ratio.den > 0
                     ? av_q2d(p->sample_aspect_ratio)
                     : 1.0;
    bool swap = j->info->rotation == 90 || j->info->rotation == 270;
    double dw = swap ? p->height : p->width * sar, dh = swap ? p->width * sar : p->height;
    double s;

    if (dw < dh) { /* portrait: the box turns with the picture */
        int t = bw;
        bw = bh;
        bh = t;
    }
    s = dw / bw > dh / bh ? bw / dw : bh / dh;
    if (s > 1)
        s = 1;
    *w = (int)(dw * s) & ~1;
    *h = (int)(dh * s) & ~1;
    *w = *w < 2 ? 2 : *w;
    *h = *h < 2 ? 2 : *h;
}

/* ---- the video filter graph --------------------------------------------------------------- */

static const char *rotate_filters(const struct tc_probe *i)
{
    switch (i->rotation) {
    case 90:
        return i->hflip ? "transpose=cclock_flip," : "transpose=clock,";
    case 180:
        return i->hflip ? "vflip," : "hflip,vflip,";
    case 270:
        return i->hflip ? "transpose=clock_flip," : "transpose=cclock,";
    default:
        return i->hflip ? "hflip," : "";
    }
}

/* HLG/PQ to SDR BT.709: linearise, tone-map (hable), back to BT.709 limited range. */
static const char *hdr_filters(const struct tc_probe *i)
{
    return i->hdr ? "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,"
                    "tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,"
                  : "";
}

static int add_sink(AVFilterGraph *g, const char *name, AVFilterContext **sink, AVFilterInOut **ins)
{
    AVFilterInOut *io = avfilter_inout_alloc();
    const char *type = strcmp(name, "out") == 0 ? "abuffersink" : "buffersink";
    int rc = avfilter_graph_create_filter(sink, avfilter_get_by_name(type), name, NULL, NULL, g);

    if (rc < 0 || !io) {
        avfilter_inout_free(&io);
        return rc < 0 ? rc : AVERROR(ENOMEM);
    }
    io->name = av_strdup(name);
    io->filter_ctx = *sink;
    io->next = *ins;
    *ins = io;
    return 0;
}

static int video_graph_desc(struct av_job *j, int w[NV], int h[NV], double poster_t, char *d,
                            size_t n)
{
    fit(j, 1280, 720, &w[V720], &h[V720]);
    fit(j, 640, 360, &w[V360], &h[V360]);
    return snprintf(d, n,
                    "[in]%s%ssplit=3[a][b][c];"
                    "[a]scale=%d:%d:flags=bicubic,setsar=1,format=yuv420p[o720];"
                    "[b]scale=%d:%d:flags=bicubic,setsar=1,format=yuv420p[o360];"
                    "[c]select='gte(t\\,%.3f)',trim=end_frame=1,scale=%d:%d,setsar=1,"
                    "format=yuvj420p[poster]",
                    rotate_filters(j->info), hdr_filters(j->info), w[V720], h[V720], w[V360],
                    h[V360], poster_t, w[V720], h[V720]) >= (int)n
               ? AVERROR(EINVAL)
               : 0;
}

static int video_graph(struct av_job *j, int w[NV], int h[NV])
{
    const AVStream *st = j->in->streams[j->info->video];
    AVFilterInOut *outs = avfilter_inout_alloc(), *ins = NULL;
    char args[512], desc[2048];
    double dur = j->info->duration_ms > 0 ? j->info->duration_ms / 1000.0 : 0;
    int rc;

    j->vg = avfilter_graph_alloc();
    if (!j->vg || !outs) {
        avfilter_inout_free(&outs);
        return AVERROR(ENOMEM);
    }
    j->vg->nb_threads = tc_codec_threads(j->lim);
    snprintf(args, sizeof(args), "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=%d/%d",
             j->vdec->width, j->vdec->height, j->vdec->pix_fmt, st->time_base.num,
             st->time_base.den, j->vdec->sample_aspect_ratio.num,
             j->vdec->sample_aspect_ratio.den > 0 ? j->vdec->sample_aspect_ratio.den : 1);
    rc = avfilter_graph_create_filter(&j->vsrc, avfilter_get_by_name("buffer"), "in", args, NULL,
                                      j->vg);
    if (rc >= 0)
        rc = add_sink(j->vg, "poster", &j->psink, &ins);
    if (rc >= 0)
        rc = add_sink(j->vg, "o360", &j->vsink[V360], &ins);
    if (rc >= 0)
        rc = add_sink(j->vg, "o720", &j->vsink[V720], &ins);
    if (rc >= 0)
        rc = video_graph_desc(j, w, h, dur > 3 ? 1.0 : dur / 3, desc, sizeof(desc));
    if (rc >= 0) {
        outs->name = av_strdup("in");
        outs->filter_ctx = j->vsrc;
        rc = avfilter_graph_parse_ptr(j->vg, desc, &ins, &outs, NULL);
    }
    if (rc >= 0)
        rc = avfilter_graph_config(j->vg, NULL);
    avfilter_inout_free(&ins);
    avfilter_inout_free(&outs);
    return rc;
}

/* ---- the audio filter graph ---------------------------------------------------------------- */

static int audio_graph(struct av_job *j)
{
    AVFilterInOut *outs = avfilter_inout_alloc(), *ins = NULL;
    char args[512], layout[128];
    int rc;

    j->ag = avfilter_graph_alloc();
    if (!j->ag || !outs) {
        avfilter_inout_free(&outs);
        return AVERROR(ENOMEM);
    }
    if (j->adec->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
        av_channel_layout_default(&j->adec->ch_layout, j->adec->ch_layout.nb_channels);
    av_channel_layout_describe(&j->adec->ch_layout, layout, sizeof(layout));
    snprintf(args, sizeof(args), "time_base=1/%d:sample_rate=%d:sample_fmt=%s:channel_layout=%s",
             j->adec->sample_rate, j->adec->sample_rate,
             av_get_sample_fmt_name(j->adec->sample_fmt), layout);
    rc = avfilter_graph_create_filter(&j->asrc, avfilter_get_by_name("abuffer"), "in", args, NULL,
                                      j->ag);
    if (rc >= 0)
        rc = add_sink(j->ag, "out", &j->asink, &ins);
    if (rc >= 0) {
        outs->name = av_strdup("in");
        outs->filter_ctx = j->asrc;
        rc = avfilter_graph_parse_ptr(
            j->ag, "[in]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[out]", &ins,
            &outs, NULL);
    }
    if (rc >= 0)
        rc = avfilter_graph_config(j->ag, NULL);
    if (rc >= 0)
        av_buffersink_set_frame_size(j->asink, j->aenc->frame_size);
    avfilter_inout_free(&ins);
    avfilter_inout_free(&outs);
    return rc;
}

/* ---- encoders -------------------------------------------------------------------------------- */

static int open_x264(struct av_job *j, int w, int h, int maxrate_k, AVCodecContext **out)
{
    const AVCodec *enc = avcodec_find_encoder_by_name("libx264");
    AVRational fr = av_guess_frame_rate(j->in, j->in->streams[j->info->video], NULL);
    AVDictionary *o = NULL;
    AVCodecContext *c;
    char num[32];
    int rc;

    if (!enc || !(c = avcodec_alloc_context3(enc)))
        return AVERROR_ENCODER_NOT_FOUND;
    *out = c;
    c->width = w;
    c->height = h;
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    c->sample_aspect_ratio = (AVRational){1, 1};
    /* The buffersink's time base is the input stream's: variable frame rates keep their pts. */
    c->time_base = av_buffersink_get_time_base(j->vsink[V720]);
    c->framerate = fr.num > 0 ? fr : (AVRational){30, 1};
    /* As many frame threads as the CLI's -threads gives: x264's output depends on it. */
    c->thread_count = tc_codec_threads(j->lim);
    c->rc_max_rate = (int64_t)maxrate_k * 1000;
    c->rc_buffer_size = (int)(2 * c->rc_max_rate);
    c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    c->color_primaries = AVCOL_PRI_BT709;
    c->color_trc = AVCOL_TRC_BT709;
    c->colorspace = AVCOL_SPC_BT709;
    c->color_range = AVCOL_RANGE_MPEG;
    snprintf(num, sizeof(num), "%d", j->lim->crf);
    av_dict_set(&o, "preset", "veryfast", 0);
    av_dict_set(&o, "crf", num, 0);
    av_dict_set(&o, "profile", "high", 0);
    rc = avcodec_open2(c, enc, &o);
    av_dict_free(&o);
    return rc;
}

static int open_aac(struct av_job *j)
{
    const AVCodec *enc = avcodec_find_encoder(AV_CODEC_ID_AAC);
    AVCodecContext *c;

    if (!enc || !(c = avcodec_alloc_context3(enc)))
        return AVERROR_ENCODER_NOT_FOUND;
    j->aenc = c;
    c->sample_rate = 48000;
    c->sample_fmt = AV_SAMPLE_FMT_FLTP;
    av_channel_layout_default(&c->ch_layout, 2);
    c->bit_rate = 128000;
    c->time_base = (AVRational){1, 48000};
    c->thread_count = 1; /* the native AAC encoder is single-threaded anyway */
    c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    return avcodec_open2(c, enc, NULL);
}

static int open_poster(struct av_job *j, int w, int h)
{
    const AVCodec *enc = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    AVCodecContext *c;

    if (!enc || !(c = avcodec_alloc_context3(enc)))
        return AVERROR_ENCODER_NOT_FOUND;
    j->penc = c;
    c->width = w;
    c->height = h;
    c->pix_fmt = AV_PIX_FMT_YUVJ420P;
    c->time_base = (AVRational){1, 25};
    c->flags |= AV_CODEC_FLAG_QSCALE;
    c->global_quality = FF_QP2LAMBDA * 3;
    return avcodec_open2(c, enc, NULL);
}

/* ---- muxers ------------------------------------------------------------------------------------
 */

static int add_stream(AVFormatContext *oc, AVCodecContext *enc, AVStream **out)
{
    AVStream *st = avformat_new_stream(oc, NULL);

    if (!st)
        return AVERROR(ENOMEM);
    st->time_base = enc->time_base;
    *out = st;
    return avcodec_parameters_from_context(st->codecpar, enc);
}

/* Open the output: no metadata copied from the input (no GPS, no device), faststart. */
static int open_mux(struct av_job *j, struct mux *m, const char *format)
{
    AVDictionary *o = NULL;
    int rc = avformat_alloc_output_context2(&m->oc, NULL, format, m->out->path);

    if (rc >= 0 && m->venc)
        rc = add_stream(m->oc, m->venc, &m->vst);
    if (rc >= 0 && j->aenc)
        rc = add_stream(m->oc, j->aenc, &m->ast);
    if (rc >= 0)
        rc = avio_open(&m->oc->pb, m->out->path, AVIO_FLAG_WRITE);
    if (rc < 0)
        return rc;
    av_dict_set(&o, "movflags", "+faststart", 0);
    m->oc->flags |= AVFMT_FLAG_BITEXACT; /* no encoder version tag either */
    rc = avformat_write_header(m->oc, &o);
    av_dict_free(&o);
    return rc;
}

/* own: copy the payload, so muxers written from different threads never share a buffer
 * (the audio packet goes into both MP4s; a few hundred bytes). */
static int write_pkt(struct mux *m, AVStream *st, AVRational tb, AVPacket *pkt, bool own)
{
    AVPacket *p = av_packet_clone(pkt);
    int rc;

    if (!p || (own && av_packet_make_writable(p) < 0)) {
        av_packet_free(&p);
        return AVERROR(ENOMEM);
    }
    av_packet_rescale_ts(p, tb, st->time_base);
    p->stream_index = st->index;
    rc = av_interleaved_write_frame(m->oc, p);
    av_packet_free(&p);
    return rc;
}

/* Video packets leave the encoder without a duration; the MP4's last sample would get none
 * and players (and the edit list) drop it. Hold each packet until the next one's dts says
 * how long it lasts; the last one takes the duration before it. */
static int write_video(struct mux *m, AVRational tb, AVPacket *pkt)
{
    int rc = 0;

    if (!m->held && !(m->held = av_packet_alloc()))
        return AVERROR(ENOMEM);
    if (m->held->data) {
        if (pkt && pkt->dts != AV_NOPTS_VALUE && m->held->dts != AV_NOPTS_VALUE &&
            pkt->dts > m->held->dts)
            m->last_dur = pkt->dts - m->held->dts;
        if (m->held->duration <= 0)
            m->held->duration = m->last_dur;
        rc = write_pkt(m, m->vst, tb, m->held, false);
        av_packet_unref(m->held);
    }
    if (rc >= 0 && pkt)
        rc = av_packet_ref(m->held, pkt);
    return rc;
}

/* ---- the loop -----------------------------------------------------------------------------------
 */

/* Drain the AAC encoder into every muxer (audio goes into both MP4s: encoded once). */
static int drain_audio(struct av_job *j)
{
    int rc;

    while ((rc = avcodec_receive_packet(j->aenc, j->pkt)) >= 0) {
        for (int i = 0; i < j->nmux && rc >= 0; i++) {
            struct mux *m = &j->mux[i];
            pthread_mutex_lock(&m->lock);
            rc = write_pkt(m, m->ast, j->aenc->time_base, j->pkt, true);
            pthread_mutex_unlock(&m->lock);
        }
        av_packet_unref(j->pkt);
        if (rc < 0)
            return rc;
    }
    return rc == AVERROR(EAGAIN) || rc == AVERROR_EOF ? 0 : rc;
}

/* ---- the encoder threads --------------------------------------------------------------------
 */

/* Drain a rendition's x264 into its muxer (encoder thread). */
static int drain_video(struct mux *m)
{
    int rc;

    while ((rc = avcodec_receive_packet(m->venc, m->pkt)) >= 0) {
        pthread_mutex_lock(&m->lock);
        rc = write_video(m, m->venc->time_base, m->pkt);
        pthread_mutex_unlock(&m->lock);
        av_packet_unref(m->pkt);
        if (rc < 0)
            return rc;
    }
    return rc == AVERROR(EAGAIN) || rc == AVERROR_EOF ? 0 : rc;
}

/* One rendition's encoder: frames from the queue until its end (NULL), then x264's
 * delayed frames. A failure stops the queue so the producer gives up too. */
static void *encoder_main(void *arg)
{
    struct mux *m = arg;
    AVFrame *f = NULL;
    bool end = false;
    int rc;

    do {
        rc = tc_fq_pop(&m->q, &f);
        end = rc >= 0 && !f;
        if (rc >= 0)
            rc = avcodec_send_frame(m->venc, f);
        av_frame_free(&f);
        if (rc >= 0)
            rc = drain_video(m);
    } while (rc >= 0 && !end);
    if (rc < 0)
        tc_fq_stop(&m->q, rc);
    m->rc = rc;
    return NULL;
}

/* A small explicit stack: RLIMIT_AS counts every thread's reserved stack (glibc would take
 * RLIMIT_STACK, 8 MiB, each). x264's frame threads run in x264's own threads. */
enum { ENCODER_STACK = 4 << 20 };

static int start_encoders(struct av_job *j)
{
    pthread_attr_t a;
    int rc = 0;

    if (pthread_attr_init(&a) != 0)
        return AVERROR(ENOMEM);
    pthread_attr_setstacksize(&a, ENCODER_STACK);
    for (int i = 0; i < j->nmux && rc >= 0; i++) {
        struct mux *m = &j->mux[i];
        if (!m->venc)
            continue;
        if (!(m->pkt = av_packet_alloc()) || tc_fq_init(&m->q) < 0)
            rc = AVERROR(ENOMEM);
        else if (pthread_create(&m->tid, &a, encoder_main, m) != 0)
            rc = AVERROR(EAGAIN);
        else
            m->running = true;
    }
    pthread_attr_destroy(&a);
    return rc;
}

/* Wait for the encoder thread; abort its queue first unless it was given its end. */
static int join_encoder(struct mux *m, bool abort)
{
    if (!m->running)
        return 0;
    if (abort)
        tc_fq_stop(&m->q, AVERROR_EXIT);
    pthread_join(m->tid, NULL);
    m->running = false;
    return m->rc;
}

static int write_poster(struct av_job *j, AVFrame *f)
{
    FILE *out;
    int rc = avcodec_send_frame(j->penc, f);

    if (rc >= 0)
        rc = avcodec_receive_packet(j->penc, j->pkt);
    if (rc < 0)
        return rc;
    out = fopen(j->poster->path, "wbe");
    if (!out || fwrite(j->pkt->data, 1, (size_t)j->pkt->size, out) != (size_t)j->pkt->size)
        rc = AVERROR(EIO);
    if (out && fclose(out) != 0)
        rc = AVERROR(EIO);
    av_packet_unref(j->pkt);
    j->poster_done = rc >= 0;
    return rc;
}

/* Hand what sink i has ready to its encoder thread (refs: no picture is copied). */
static int pull_rendition(struct av_job *j, int i)
{
    AVFrame *f;
    int rc;

    while ((rc = av_buffersink_get_frame(j->vsink[i], j->filt)) >= 0) {
        j->filt->pict_type = AV_PICTURE_TYPE_NONE;
        if (!(f = av_frame_alloc())) {
            av_frame_unref(j->filt);
            return AVERROR(ENOMEM);
        }
        av_frame_move_ref(f, j->filt);
        rc = tc_fq_push(&j->mux[i].q, f);
        if (rc >= 0 && i == V720)
            j->mux[i].out->frames++;
        if (rc < 0)
            return rc;
    }
    return rc == AVERROR(EAGAIN) || rc == AVERROR_EOF ? 0 : rc;
}

static int pull_video(struct av_job *j)
{
    int rc = 0;

    for (int i = 0; i < NV && rc >= 0; i++)
        rc = pull_rendition(j, i);
    while (rc >= 0 && (rc = av_buffersink_get_frame(j->psink, j->filt)) >= 0) {
        if (!j->poster_done)
            rc = write_poster(j, j->filt);
        av_frame_unref(j->filt);
    }
    return rc == AVERROR(EAGAIN) || rc == AVERROR_EOF ? 0 : rc;
}

static int pull_audio(struct av_job *j)
{
    int rc;

    while ((rc = av_buffersink_get_frame(j->asink, j->filt)) >= 0) {
        rc = avcodec_send_frame(j->aenc, j->filt);
        av_frame_unref(j->filt);
        if (rc >= 0)
            rc = drain_audio(j);
        if (rc < 0)
            return rc;
    }
    return rc == AVERROR(EAGAIN) || rc == AVERROR_EOF ? 0 : rc;
}

/* A decoded frame's time must stay within the cap: a container may lie about duration. */
static int check_time(struct av_job *j, AVFrame *f, AVRational tb, struct tc_fail *fail)
{
    char words[64];
    int64_t ms = f->best_effort_timestamp == AV_NOPTS_VALUE
                     ? 0
                     : av_rescale_q(f->best_effort_timestamp, tb, (AVRational){1, 1000});

    if (ms > j->max_pts_ms)
        j->max_pts_ms = ms;
    if (ms <= j->lim->max_duration_ms + 1000)
        return 0;
    tc_duration_words(j->lim->max_duration_ms, words);
    return tc_fail_set(fail, "too_long", "%s longer than %s",
                       j->info->video >= 0 ? "video" : "recording", words);
}

static int decode(struct av_job *j, AVCodecContext *dec, AVPacket *pkt, struct tc_fail *fail)
{
    bool video = dec == j->vdec;
    AVRational tb = j->in->streams[video ? j->info->video : j->info->audio]->time_base;
    int rc = avcodec_send_packet(dec, pkt);

    if (rc == AVERROR_INVALIDDATA)
        return 0; /* a damaged packet: skip it, as players do */
    while (rc >= 0 && (rc = avcodec_receive_frame(dec, j->frame)) >= 0) {
        j->frame->pts = j->frame->best_effort_timestamp;
        rc = check_time(j, j->frame, tb, fail);
        if (rc >= 0)
            rc = av_buffersrc_add_frame_flags(video ? j->vsrc : j->asrc, j->frame, 0);
        av_frame_unref(j->frame);
        if (rc >= 0)
            rc = video ? pull_video(j) : pull_audio(j);
        if (rc >= 0 && video && ++j->frames % 8 == 0 && j->progress)
            j->progress(j->parg);
    }
    return rc == AVERROR(EAGAIN) || rc == AVERROR_EOF || rc == AVERROR_INVALIDDATA ? 0 : rc;
}

static int read_all(struct av_job *j, struct tc_fail *fail)
{
    int rc;

    while ((rc = av_read_frame(j->in, j->pkt)) >= 0) {
        AVCodecContext *dec = j->pkt->stream_index == j->info->video && j->vdec   ? j->vdec
                              : j->pkt->stream_index == j->info->audio && j->adec ? j->adec
                                                                                  : NULL;
        if (dec)
            rc = decode(j, dec, j->pkt, fail);
        av_packet_unref(j->pkt);
        if (rc < 0)
            return rc;
        if (!j->vdec && j->progress && ++j->frames % 64 == 0)
            j->progress(j->parg);
    }
    return rc == AVERROR_EOF ? 0 : rc;
}

/* Give each encoder thread its end of stream and wait for it. */
static int finish_encoders(struct av_job *j)
{
    int rc = 0, r;

    for (int i = 0; i < NV && rc >= 0; i++)
        rc = j->mux[i].running ? tc_fq_push(&j->mux[i].q, NULL) : 0;
    for (int i = 0; i < NV; i++)
        if ((r = join_encoder(&j->mux[i], rc < 0)) < 0 && rc >= 0)
            rc = r;
    return rc;
}

/* End of input: flush decoders, filters, encoders, then the muxers' trailers. */
static int flush_all(struct av_job *j, struct tc_fail *fail)
{
    int rc = 0;

    if (j->vdec && (rc = decode(j, j->vdec, NULL, fail)) >= 0 &&
        (rc = av_buffersrc_add_frame(j->vsrc, NULL)) >= 0 && (rc = pull_video(j)) >= 0)
        rc = finish_encoders(j);
    if (rc >= 0 && j->adec && (rc = decode(j, j->adec, NULL, fail)) >= 0 &&
        (rc = av_buffersrc_add_frame(j->asrc, NULL)) >= 0 && (rc = pull_audio(j)) >= 0 &&
        (rc = avcodec_send_frame(j->aenc, NULL)) >= 0)
        rc = drain_audio(j);
    for (int i = 0; i < j->nmux && rc >= 0; i++) {
        if (j->mux[i].venc)
            rc = write_video(&j->mux[i], j->mux[i].venc->time_base, NULL);
        if (rc >= 0)
            rc = av_write_trailer(j->mux[i].oc);
    }
    return rc;
}

/* ---- set-up and results -----------------------------------------------------------------------
 */

static struct tc_output *new_output(struct tc_result *res, const char *dir, const char *name,
                                    const char *ext, const char *ctype)
{
    struct tc_output *o = &res->out[res->n++];

    *o = (struct tc_output){.name = name, .ext = ext, .content_type = ctype, .duration_ms = -1};
    snprintf(o->path, sizeof(o->path), "%s/%s.%s", dir, name, ext);
    return o;
}

static int setup_video(struct av_job *j, const char *dir, struct tc_result *res)
{
    static const char *const names[NV] = {"720p", "360p"};
    int w[NV], h[NV], rc;

    if ((rc = open_decoder(j, j->info->video, TC_MEDIA_VIDEO, &j->vdec)) < 0 ||
        (rc = video_graph(j, w, h)) < 0 || (rc = open_poster(j, w[V720], h[V720])) < 0)
        return rc;
    for (int i = 0; i < NV && rc >= 0; i++) {
        j->mux[i].out = new_output(res, dir, names[i], "mp4", "video/mp4");
        j->mux[i].out->width = w[i];
        j->mux[i].out->height = h[i];
        snprintf(j->mux[i].out->codec, sizeof(j->mux[i].out->codec), "h264");
        rc = open_x264(j, w[i], h[i], i == V720 ? j->lim->maxrate_720_k : j->lim->maxrate_360_k,
                       &j->mux[i].venc);
    }
    j->nmux = NV;
    j->poster = new_output(res, dir, "poster", "jpg", "image/jpeg");
    j->poster->width = w[V720];
    j->poster->height = h[V720];
    snprintf(j->poster->codec, sizeof(j->poster->codec), "mjpeg");
    return rc;
}

static int setup(struct av_job *j, enum tc_media kind, const char *dir, struct tc_result *res)
{
    int rc = 0;

    j->frame = av_frame_alloc();
    j->filt = av_frame_alloc();
    j->pkt = av_packet_alloc();
    if (!j->frame || !j->filt || !j->pkt)
        return AVERROR(ENOMEM);
    if (kind == TC_MEDIA_VIDEO && (rc = setup_video(j, dir, res)) < 0)
        return rc;
    if (j->info->audio >= 0 && ((rc = open_decoder(j, j->info->audio, kind, &j->adec)) < 0 ||
                                (rc = open_aac(j)) < 0 || (rc = audio_graph(j)) < 0))
        return rc;
    if (kind == TC_MEDIA_AUDIO) {
        j->mux[0].out = new_output(res, dir, "audio", "m4a", "audio/mp4");
        snprintf(j->mux[0].out->codec, sizeof(j->mux[0].out->codec), "aac");
        j->nmux = 1;
    }
    for (int i = 0; i < j->nmux && rc >= 0; i++) {
        if (pthread_mutex_init(&j->mux[i].lock, NULL) != 0)
            return AVERROR(ENOMEM);
        j->mux[i].lock_ready = true;
        if (j->aenc)
            snprintf(j->mux[i].out->audio_codec, sizeof(j->mux[i].out->audio_codec), "aac");
        rc = open_mux(j, &j->mux[i], kind == TC_MEDIA_AUDIO ? "ipod" : "mp4");
    }
    return rc;
}

static void job_free(struct av_job *j)
{
    for (int i = 0; i < NV; i++) { /* first: the threads use the contexts freed below */
        (void)join_encoder(&j->mux[i], true);
        tc_fq_destroy(&j->mux[i].q);
        av_packet_free(&j->mux[i].pkt);
    }
    for (int i = 0; i < NV; i++) {
        if (j->mux[i].lock_ready)
            pthread_mutex_destroy(&j->mux[i].lock);
        if (j->mux[i].oc && j->mux[i].oc->pb)
            avio_closep(&j->mux[i].oc->pb);
        avformat_free_context(j->mux[i].oc);
        avcodec_free_context(&j->mux[i].venc);
        av_packet_free(&j->mux[i].held);
    }
    avcodec_free_context(&j->vdec);
    avcodec_free_context(&j->adec);
    avcodec_free_context(&j->aenc);
    avcodec_free_context(&j->penc);
    avfilter_graph_free(&j->vg);
    avfilter_graph_free(&j->ag);
    av_frame_free(&j->frame);
    av_frame_free(&j->filt);
    av_packet_free(&j->pkt);
}

int tc_transcode_av(AVFormatContext *in, const struct tc_probe *info, enum tc_media kind,
                    const struct tc_limits *lim, const char *dir, tc_progress_fn *progress,
                    void *parg, struct tc_result *res, struct tc_fail *fail, struct bf_err *err)
{
    struct av_job j = {.in = in, .info = info, .lim = lim, .progress = progress, .parg = parg};
    char msg[128];
    int rc;

    res->n = 0;
    fail->code = NULL;
    rc = setup(&j, kind, dir, res);
    if (rc >= 0)
        rc = start_encoders(&j);
    if (rc >= 0)
        rc = read_all(&j, fail);
    if (rc >= 0)
        rc = flush_all(&j, fail);
    if (rc >= 0 && kind == TC_MEDIA_VIDEO && j.mux[V720].out->frames == 0)
        rc = tc_fail_set(fail, "unreadable", "file is not a video the system can read");
    if (rc >= 0 && kind == TC_MEDIA_VIDEO && !j.poster_done)
        res->n--; /* no frame reached the poster's time: no poster */
    for (size_t i = 0; rc >= 0 && i < res->n; i++)
        if (strcmp(res->out[i].name, "poster") != 0)
            res->out[i].duration_ms = info->duration_ms >= 0 ? info->duration_ms : j.max_pts_ms;
    job_free(&j);
    if (rc >= 0 || fail->code)
        return rc < 0 ? -BF_EINVAL : 0;
    av_strerror(rc, msg, sizeof(msg));
    /* A decoder or demuxer giving up half-way is the input's fault, not ours. */
    return tc_fail_set(fail, "unreadable", "file is not %s the system can read (%s)",
                       kind == TC_MEDIA_VIDEO ? "a video" : "an audio recording", msg);
    (void)err;
}
