/* SPDX-License-Identifier: Apache-2.0 */
/* The transcoder's core API: intake handlers, the job runner, the worker and its pieces. */
#ifndef BADGEFLOW_TRANSCODER_H
#define BADGEFLOW_TRANSCODER_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "badgeflow/cfg.h"
#include "badgeflow/err.h"

struct bf_service;

/* The service (handlers, config table, init/tick/fini). */
extern const struct bf_service transcoder_service;
extern const struct bf_cfg_def transcoder_cfg_defs[];

/* ---- the worker's view: limits and failures ------------------------------------------ */

/* What one job may do, sent to the worker in its job file. */
struct tc_limits {
    long long max_bytes; /* fetched file cap */
    long long fetch_timeout_ms;
    long long max_duration_ms; /* min(service cap, requirement cap) */
    int max_width, max_height; /* decoded (display) size cap */
    int max_streams;
    long long max_pixels; /* per frame, given to the decoders */
    long long probe_size; /* bytes */
    long long analyze_us; /* analyzeduration */
    int threads;          /* decoder/encoder/filter threads */
    int image_max_side;   /* normalised image's longest side */
    int crf;
    int maxrate_720_k, maxrate_360_k;
};

/* Fill lim with the defaults of the config table (for tests and the benchmark). */
void tc_limits_default(struct tc_limits *lim);

/* Threads of each decoder, encoder and filter graph: the configured count, capped at the
 * CPUs this process may use (more threads than cores only add switching and stacks). */
int tc_codec_threads(const struct tc_limits *lim);

/* ---- a bounded queue of frames, filter graph -> encoder thread (transcoder_fq.c) ---- */

struct AVFrame;

enum { TC_FQ_CAP = 8 }; /* frames in flight per rendition: enough to ride out jitter */

struct tc_fq {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled on every push, pop and stop */
    struct AVFrame *f[TC_FQ_CAP];
    int head, n;
    int err; /* < 0 once stopped: both sides give up */
    bool ready;
};

int tc_fq_init(struct tc_fq *q) BF_MUST_CHECK;
/* Frees what is still queued; a no-op on a queue never initialised (zeroed). */
void tc_fq_destroy(struct tc_fq *q);
/* Takes f (NULL: end of stream); blocks while full. Returns 0 or the stop error (f freed). */
int tc_fq_push(struct tc_fq *q, struct AVFrame *f) BF_MUST_CHECK;
/* Blocks while empty. 0 with *f (NULL: end of stream), or the stop error. */
int tc_fq_pop(struct tc_fq *q, struct AVFrame **f) BF_MUST_CHECK;
/* Stop the queue with err (< 0) and wake both sides; the first error stays. */
void tc_fq_stop(struct tc_fq *q, int err);

/* A failure of an item: a stable code of evidence.failed and words a teacher can act on. */
struct tc_fail {
    const char *code; /* static: "too_long", "unreadable", ... */
    char reason[512];
};

/* Set fail and return -BF_EINVAL (a failure of the input, not of the system). */
int tc_fail_set(struct tc_fail *fail, const char *code, const char *fmt, ...) BF_PRINTF(3, 4);

/* "20 minutes", "1 minute 30 seconds": a duration in words for reasons. Into out[64]. */
void tc_duration_words(long long ms, char out[64]);

/* ---- sniffing (documents, text) ------------------------------------------------------ */

/* What the first bytes of a document say. */
struct tc_sniff {
    const char *content_type; /* "application/pdf", ... or NULL: not a document we take */
    const char *container;    /* "pdf", "ooxml", "odf", "text" */
    const char *ext;          /* file extension for the stored original: "pdf", "docx", ... */
};

/* Sniff n bytes (the whole file when small, else its start) by magic bytes: PDF, OOXML zip
 * (a [Content_Types].xml entry), ODF zip (a first "mimetype" entry), plain UTF-8 text.
 * whole: buf holds the whole file (text is only accepted if the whole file was seen). */
void tc_sniff_document(const unsigned char *buf, size_t n, bool whole, struct tc_sniff *out);

/* True if buf[0..n) is valid UTF-8 without NUL or C0 controls other than \t \n \r \f. */
bool tc_utf8_text(const unsigned char *buf, size_t n);

/* ---- probing (libavformat) ----------------------------------------------------------- */

enum tc_media { TC_MEDIA_VIDEO, TC_MEDIA_AUDIO, TC_MEDIA_IMAGE };

/* What the probe found in an input, display orientation applied. */
struct tc_probe {
    int video;             /* stream index or -1 */
    int audio;             /* stream index or -1 */
    int width, height;     /* display size (rotation applied); 0 without video */
    int rotation;          /* 0, 90, 180, 270 (clockwise, to apply) */
    bool hflip;            /* display matrix mirrors */
    bool hdr;              /* HLG or PQ transfer */
    long long duration_ms; /* -1 unknown */
    char container[64];
    char video_codec[32];
    char audio_codec[32];
};

struct AVFormatContext;

/*
 * Open path as media of kind with the demuxer/codec/protocol whitelists and limits, read
 * stream info and check the caps. On success *fmt is open (caller closes with
 * avformat_close_input) and info is filled. Returns 0, or -BF_EINVAL with fail set.
 */
int tc_probe_open(const char *path, enum tc_media kind, const struct tc_limits *lim,
                  struct AVFormatContext **fmt, struct tc_probe *info,
                  struct tc_fail *fail) BF_MUST_CHECK;

/* The decoder whitelist of kind, for the decoders the worker opens ("h264,hevc,..."). */
const char *tc_codec_whitelist(enum tc_media kind);

/* ---- transcoding (in the worker) ----------------------------------------------------- */

/* One output file written into the scratch directory. */
struct tc_output {
    const char *name;         /* rendition name: 720p, 360p, poster, audio, image, original */
    const char *ext;          /* "mp4", "jpg", "m4a", ... */
    const char *content_type; /* "video/mp4" */
    char path[4096];          /* where the worker wrote it */
    int width, height;
    long long duration_ms; /* -1 when not applicable */
    char codec[32], audio_codec[32];
    long long frames; /* video frames encoded (benchmark, tests) */
};

#define TC_MAX_OUTPUTS 4

/* Everything one transcode produced. */
struct tc_result {
    size_t n;
    struct tc_output out[TC_MAX_OUTPUTS];
};

/* Progress heartbeat: called every few frames (the worker writes to its progress pipe). */
typedef void tc_progress_fn(void *arg);

/*
 * Decode the probed video (or audio-only) input once into the 720p and 360p H.264+AAC MP4s
 * and a JPEG poster (video), or an AAC .m4a (audio), in dir. 0, or -BF_EINVAL with fail
 * (the input does not decode, or lies about its duration), or another -BF_E* with err.
 */
int tc_transcode_av(struct AVFormatContext *in, const struct tc_probe *info, enum tc_media kind,
                    const struct tc_limits *lim, const char *dir, tc_progress_fn *progress,
                    void *parg, struct tc_result *res, struct tc_fail *fail,
                    struct bf_err *err) BF_MUST_CHECK;

/* Decode one image, apply its orientation, cap its size, strip metadata: a JPEG in dir. */
int tc_transcode_image(struct AVFormatContext *in, const struct tc_probe *info,
                       const struct tc_limits *lim, const char *dir, struct tc_result *res,
                       struct tc_fail *fail, struct bf_err *err) BF_MUST_CHECK;

/* ---- the media store ------------------------------------------------------------------ */

/* A media store: a local directory now, S3 later, behind these operations. */
struct tc_store {
    /* Publish the file at src as key (atomically: never visible half-written). */
    int (*put)(struct tc_store *s, const char *key, const char *src, struct bf_err *err);
    /* True if key exists. */
    bool (*exists)(struct tc_store *s, const char *key);
    /* Read key (at most max bytes) into a NUL-terminated buffer; caller frees. NULL if absent. */
    char *(*get)(struct tc_store *s, const char *key, size_t max, size_t *len);
    void (*free)(struct tc_store *s);
};

/* The local-directory store rooted at root (created if missing). NULL with err. */
struct tc_store *tc_store_local_new(const char *root, struct bf_err *err);

/* The key prefix of an item: "ev/<2 hex>/<30 hex>" from a hash of tenant, submission and
 * item (ids may hold ':' which media keys refuse, and keys must not reveal identities). */
void tc_item_prefix(const char *tenant, const char *submission, const char *item, char out[64]);

/* ---- the worker ----------------------------------------------------------------------- */

/*
 * The media step of a job: probe input (fetched into scratch) as m and transcode it into
 * scratch, filling res and meta. 0, or -BF_EINVAL with fail (the file breaks a rule or does not
 * decode), or another -BF_E* with err.
 */
typedef int tc_media_fn(const char *input, const char *scratch, enum tc_media m,
                        const struct tc_limits *lim, tc_progress_fn *progress, void *parg,
                        struct tc_result *res, json_t *meta, struct tc_fail *fail,
                        struct bf_err *err);
tc_media_fn tc_worker_media;

/* The media kind of an evidence kind ("video", "audio", else image). */
enum tc_media tc_media_of(const char *kind);

/* Set o[k] = v when `when` holds. */
void tc_json_opt_int(json_t *o, const char *k, long long v, bool when);

/*
 * Run one job described by the JSON file job_path (see transcoder_worker.c) and return the
 * result object: {"ok":true,"renditions":[...],"metadata":{...},...} or
 * {"ok":false,"code":...,"reason":...}. progress_fd (or -1) gets a byte now and then.
 * Caller frees with json_decref().
 */
json_t *tc_worker_run(const char *job_path, int progress_fd, tc_media_fn *media);

/* A worker's main(): confine, run the job named by argv[1], print the result. media: the media
 * step, or NULL in the document worker. Returns the exit status. */
int tc_worker_main(int argc, char **argv, tc_media_fn *media);

/* Apply the worker's own limits (rlimits, no new privileges) from the job. 0 or -BF_E*. */
int tc_worker_confine(const json_t *job, struct bf_err *err) BF_MUST_CHECK;

/* ---- the job runner (daemon side) ----------------------------------------------------- */

struct tc_runner;

/* Where a job's worker runs and what it may do (from the config). */
struct tc_runner_cfg {
    const char *worker_path;     /* media jobs */
    const char *doc_worker_path; /* document and text jobs: no media library loaded */
    const char *scratch_dir;
    const char *media_root;
    const char *upload_root; /* "" or NULL: no file:// */
    bool allow_loopback, allow_http;
    int jobs;     /* slots of media jobs */
    int doc_jobs; /* slots of document and text jobs, after them */
    long long deadline_ms, stall_ms, lease_ms;
    long long mem_bytes, cpu_s, fsize_bytes;
    int backlog_pause;
    int max_attempts;
    struct tc_limits lim;
};

#endif
