/* SPDX-License-Identifier: Apache-2.0 */
/* The worker process: confine itself, fetch one item, validate, transcode, store, report. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "badgeflow/fetch.h"
#include "badgeflow/util.h"
#include "transcoder.h"

/*
 * The job file (written by the runner, transcoder_runner.c):
 *   {"kind": "video", "uri": "https://..." | null, "sha256": hex | null, "text": str | null,
 *    "prefix": "ev/ab/...", "media_root": dir, "scratch": dir, "file_root": dir | "",
 *    "allow_loopback": bool, "allow_http": bool, "limits": {...}, "rlimits": {...}}
 */

static long long jint(const json_t *o, const char *k, long long def)
{
    const json_t *v = json_object_get(o, k);

    return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s && *s ? s : NULL;
}

static void read_limits(const json_t *j, struct tc_limits *l)
{
    tc_limits_default(l);
    l->max_bytes = jint(j, "max_bytes", l->max_bytes);
    l->fetch_timeout_ms = jint(j, "fetch_timeout_ms", l->fetch_timeout_ms);
    l->max_duration_ms = jint(j, "max_duration_ms", l->max_duration_ms);
    l->max_width = (int)jint(j, "max_width", l->max_width);
    l->max_height = (int)jint(j, "max_height", l->max_height);
    l->max_streams = (int)jint(j, "max_streams", l->max_streams);
    l->max_pixels = jint(j, "max_pixels", l->max_pixels);
    l->probe_size = jint(j, "probe_size", l->probe_size);
    l->analyze_us = jint(j, "analyze_us", l->analyze_us);
    l->threads = (int)jint(j, "threads", l->threads);
    l->image_max_side = (int)jint(j, "image_max_side", l->image_max_side);
    l->crf = (int)jint(j, "crf", l->crf);
    l->maxrate_720_k = (int)jint(j, "maxrate_720_k", l->maxrate_720_k);
    l->maxrate_360_k = (int)jint(j, "maxrate_360_k", l->maxrate_360_k);
}

/* ---- memory ------------------------------------------------------------------------------ */

/* Headroom under the cap that still counts as "at the cap": more than any one allocation a
 * decoder, x264 or a thread's stack makes within the pixel limits. */
#define TC_MEM_MARGIN (32LL << 20)

/* Freed when the cap was hit, so the failure can still be written. */
static void *mem_reserve;

/* VmPeak of this process in bytes, or -1. A stack buffer, no allocation: it runs when the
 * address space may be exhausted. */
static long long vm_peak(void)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    const char *p;

    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    p = strstr(buf, "VmPeak:");
    return p ? strtoll(p + 7, NULL, 10) * 1024 : -1;
}

/* Did this process reach its address-space cap (worker_memory)? Out of memory, libav and x264
 * fail with ENOMEM, EAGAIN (no stack for a thread), a generic external error, or a decoder
 * that stops giving frames; the peak against the cap tells which failures were memory. */
static bool hit_memory_cap(void)
{
    struct rlimit r;
    long long peak = vm_peak();

    return getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY && peak >= 0 &&
           peak + TC_MEM_MARGIN >= (long long)r.rlim_cur;
}

/* A failure at the cap says so (the file was not unreadable; it was too big to work on). */
static json_t *memory_verdict(json_t *out)
{
    if (json_is_true(json_object_get(out, "ok")) || !hit_memory_cap())
        return out;
    json_decref(out);
    free(mem_reserve);
    mem_reserve = NULL;
    return json_pack("{sbssss}", "ok", 0, "code", "worker_crashed", "reason",
                     "the file needs more memory to process than the system allows; export it "
                     "at a lower resolution, such as 720p, and resubmit");
}

static int set_limit(int res, long long v)
{
    struct rlimit r = {(rlim_t)v, (rlim_t)v};

    return v > 0 && setrlimit(res, &r) < 0 ? -BF_EIO : 0;
}

int tc_worker_confine(const json_t *job, struct bf_err *err)
{
    const json_t *r = json_object_get(job, "rlimits");

    /* Taken before the cap applies, freed when it is hit: the failure still has room to be
     * written. */
    mem_reserve = malloc(1 << 20);
    /* Die with the daemon: its lease expires and another instance redoes the job. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        set_limit(RLIMIT_AS, jint(r, "as", 0)) < 0 ||
        set_limit(RLIMIT_CPU, jint(r, "cpu", 0)) < 0 ||
        set_limit(RLIMIT_FSIZE, jint(r, "fsize", 0)) < 0 ||
        set_limit(RLIMIT_NOFILE, jint(r, "nofile", 0)) < 0)
        return bf_err_set(err, BF_EIO, "cannot confine the worker: %s", strerror(errno));
    struct rlimit core = {0, 0}; /* a crashing decoder must not write the input to disk */

    return setrlimit(RLIMIT_CORE, &core) < 0 ? bf_err_set(err, BF_EIO, "cannot confine the worker")
                                             : 0;
}

/* ---- results --------------------------------------------------------------------------- */

static json_t *failed(const struct tc_fail *f)
{
    return json_pack("{sbssss}", "ok", 0, "code", f->code ? f->code : "unreadable", "reason",
                     f->reason[0] ? f->reason : "file is not something the system can read");
}

static int file_sha256(const char *path, char hex[65], long long *bytes)
{
    unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    FILE *f = fopen(path, "rbe");
    size_t r;
    int rc = c && f && EVP_DigestInit_ex(c, EVP_sha256(), NULL) ? 0 : -BF_EIO;

    *bytes = 0;
    while (rc == 0 && (r = fread(buf, 1, sizeof(buf), f)) > 0) {
        *bytes += (long long)r;
        rc = EVP_DigestUpdate(c, buf, r) ? 0 : -BF_EIO;
    }
    if (rc == 0 && (ferror(f) || !EVP_DigestFinal_ex(c, md, &mdlen)))
        rc = -BF_EIO;
    if (rc == 0)
        bf_hex(md, mdlen, hex);
    if (f)
        fclose(f);
    EVP_MD_CTX_free(c);
    return rc;
}

/* Store one output under prefix and describe it as a rendition (plus audio_codec, which only
 * the database keeps). */
static int put_output(struct tc_store *st, const char *prefix, const struct tc_output *o,
                      json_t *list, struct bf_err *err)
{
    char key[512], hex[65];
    long long bytes;
    json_t *r;

    snprintf(key, sizeof(key), "%s/%s.%s", prefix, o->name, o->ext);
    if (file_sha256(o->path, hex, &bytes) < 0)
        return bf_err_set(err, BF_EIO, "cannot read %s", o->path);
    if (st->put(st, key, o->path, err) < 0)
        return -BF_EIO;
    r = json_pack("{sssssssIss}", "name", o->name, "uri", key, "content_type", o->content_type,
                  "bytes", (json_int_t)bytes, "sha256", hex);
    if (!r)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    tc_json_opt_int(r, "width", o->width, o->width > 0);
    tc_json_opt_int(r, "height", o->height, o->height > 0);
    tc_json_opt_int(r, "duration_ms", o->duration_ms, o->duration_ms >= 0);
    if (o->codec[0])
        json_object_set_new(r, "codec", json_string(o->codec));
    if (o->audio_codec[0])
        json_object_set_new(r, "audio_codec", json_string(o->audio_codec));
    json_array_append_new(list, r);
    return 0;
}

/* ---- the steps ------------------------------------------------------------------------- */

struct job {
    const json_t *j;
    const char *kind, *prefix, *scratch;
    struct tc_limits lim;
    struct tc_store *store;
    tc_media_fn *media; /* NULL in the document worker, which links no media library */
    int progress_fd;
    char input[4096];
    char sha256[65];
    long long bytes;
};

static void beat(void *arg)
{
    const struct job *jb = arg;

    if (jb->progress_fd >= 0 && write(jb->progress_fd, ".", 1) < 0) {
        /* The runner may be slow to read: a full pipe is progress enough. */
    }
}

static int fetch_fail(int rc, const struct bf_err *e, const struct tc_limits *l,
                      struct tc_fail *fail)
{
    switch (-rc) {
    case BF_EDENIED:
        return tc_fail_set(fail, "fetch_refused", "the link to the file is not allowed (%s)",
                           e->msg);
    case BF_ETOOBIG:
        return tc_fail_set(fail, "too_large", "file is larger than %lld MB",
                           l->max_bytes / 1000000);
    case BF_ETIMEOUT:
        return tc_fail_set(fail, "timeout", "the file took too long to download");
    case BF_ENOTFOUND:
        return tc_fail_set(fail, "fetch_failed", "no file was found at the link");
    default:
        if (strstr(e->msg, "checksum"))
            return tc_fail_set(fail, "checksum_mismatch",
                               "the file is not the one that was uploaded (checksum differs)");
        return tc_fail_set(fail, "fetch_failed", "the file could not be downloaded (%s)", e->msg);
    }
}

static int fetch(struct job *jb, struct tc_fail *fail, bool *retry)
{
    struct bf_fetch_policy p;
    struct bf_fetch_result res = {0};
    struct bf_err e = {0};
    int rc;

    bf_fetch_policy_init(&p);
    p.file_root = jstr(jb->j, "file_root");
    p.allow_loopback = json_is_true(json_object_get(jb->j, "allow_loopback"));
    p.allow_http = json_is_true(json_object_get(jb->j, "allow_http"));
    p.max_bytes = jb->lim.max_bytes;
    p.timeout_ms = jb->lim.fetch_timeout_ms;
    snprintf(jb->input, sizeof(jb->input), "%s/input.bin", jb->scratch);
    rc = bf_fetch_to_file(&p, jstr(jb->j, "uri"), jstr(jb->j, "sha256"), jb->input, &res, &e);
    if (rc == -BF_ETRANSIENT)
        *retry = true;
    if (rc < 0)
        return fetch_fail(rc, &e, &jb->lim, fail);
    jb->bytes = res.bytes;
    bf_strlcpy(jb->sha256, res.sha256, sizeof(jb->sha256));
    if (res.bytes == 0)
        return tc_fail_set(fail, "empty", "the file is empty");
    return 0;
}

static int document(struct job *jb, struct tc_result *res, json_t *meta, struct tc_fail *fail)
{
    unsigned char buf[65536];
    struct tc_sniff sn;
    FILE *f = fopen(jb->input, "rbe");
    size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;

    if (f)
        fclose(f);
    tc_sniff_document(buf, n, jb->bytes <= (long long)sizeof(buf), &sn);
    if (!sn.content_type)
        return tc_fail_set(fail, "unsupported_type",
                           "file is not a PDF, Word, Excel, PowerPoint, OpenDocument or plain "
                           "text document");
    res->n = 1;
    res->out[0] = (struct tc_output){
        .name = "original", .ext = sn.ext, .content_type = sn.content_type, .duration_ms = -1};
    bf_strlcpy(res->out[0].path, jb->input, sizeof(res->out[0].path));
    json_object_set_new(meta, "container", json_string(sn.container));
    json_object_set_new(meta, "content_type", json_string(sn.content_type));
    return 0;
}

static int text(struct job *jb, const char *t, struct tc_result *res, json_t *meta,
                struct tc_fail *fail)
{
    FILE *f;
    size_t n = strlen(t);

    if (!tc_utf8_text((const unsigned char *)t, n))
        return tc_fail_set(fail, "unsupported_type",
                           "the text holds characters that are not "
                           "plain text");
    snprintf(jb->input, sizeof(jb->input), "%s/original.txt", jb->scratch);
    if (!(f = fopen(jb->input, "wbe")) || fwrite(t, 1, n, f) != n || fclose(f) != 0)
        return tc_fail_set(fail, "unreadable", "the text could not be stored");
    res->n = 1;
    res->out[0] = (struct tc_output){.name = "original",
                                     .ext = "txt",
                                     .content_type = "text/plain; charset=utf-8",
                                     .duration_ms = -1};
    bf_strlcpy(res->out[0].path, jb->input, sizeof(res->out[0].path));
    json_object_set_new(meta, "container", json_string("text"));
    json_object_set_new(meta, "content_type", json_string("text/plain; charset=utf-8"));
    return 0;
}

static int process(struct job *jb, struct tc_result *res, json_t *meta, struct tc_fail *fail,
                   bool *retry, struct bf_err *err)
{
    const char *t = jstr(jb->j, "text");
    int rc;

    if (t)
        return text(jb, t, res, meta, fail);
    if ((rc = fetch(jb, fail, retry)) < 0)
        return rc;
    json_object_set_new(meta, "sha256", json_string(jb->sha256));
    json_object_set_new(meta, "bytes", json_integer(jb->bytes));
    if (strcmp(jb->kind, "document") == 0)
        return document(jb, res, meta, fail);
    if (!jb->media)
        return bf_err_set(err, BF_EINTERNAL, "a %s job came to the document worker", jb->kind);
    return jb->media(jb->input, jb->scratch, tc_media_of(jb->kind), &jb->lim, beat, jb, res, meta,
                     fail, err);
}

/* Store every output, then the manifest (last: its presence means "all stored"). */
static json_t *store_all(struct job *jb, const struct tc_result *res, json_t *meta,
                         struct bf_err *err)
{
    json_t *list = json_array(), *out;
    char key[512], path[4096], *dump;
    FILE *f;

    for (size_t i = 0; i < res->n; i++)
        if (put_output(jb->store, jb->prefix, &res->out[i], list, err) < 0) {
            json_decref(list);
            return NULL;
        }
    out = json_pack("{sbsoso}", "ok", 1, "renditions", list, "metadata", json_incref(meta));
    dump = out ? json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    snprintf(path, sizeof(path), "%s/manifest.json", jb->scratch);
    snprintf(key, sizeof(key), "%s/manifest.json", jb->prefix);
    if (!dump || !(f = fopen(path, "we")) || fputs(dump, f) < 0 || fclose(f) != 0 ||
        jb->store->put(jb->store, key, path, err) < 0) {
        json_decref(out);
        out = NULL;
    }
    free(dump);
    return out;
}

/* Idempotence: a manifest stored by an earlier run means every rendition is there. */
static json_t *stored_before(struct job *jb)
{
    char key[512], *buf;
    size_t len = 0;
    json_t *j;

    snprintf(key, sizeof(key), "%s/manifest.json", jb->prefix);
    if (!jb->store->exists(jb->store, key) ||
        !(buf = jb->store->get(jb->store, key, 1 << 20, &len)))
        return NULL;
    j = json_loadb(buf, len, 0, NULL);
    free(buf);
    if (j && json_is_true(json_object_get(j, "ok")))
        json_object_set_new(j, "cached", json_true());
    return j;
}

static json_t *run(struct job *jb)
{
    struct tc_result res = {0};
    struct tc_fail fail = {0};
    struct bf_err err = {0};
    json_t *meta = json_object(), *out = NULL;
    bool retry = false;

    if ((out = stored_before(jb)))
        goto done;
    if (process(jb, &res, meta, &fail, &retry, &err) < 0) {
        out = fail.code ? failed(&fail)
                        : json_pack("{sbsbss}", "ok", 0, "retry", 1, "error", err.msg);
        if (out && retry)
            json_object_set_new(out, "retry", json_true());
        goto done;
    }
    out = store_all(jb, &res, meta, &err);
    if (!out)
        out = json_pack("{sbsbss}", "ok", 0, "retry", 1, "error", err.msg);
done:
    json_decref(meta);
    return out;
}

/* Fault injection for the tests (transcoder.test_worker_delay): a slow job, beating. */
static void test_delay(struct job *jb, long long ms)
{
    for (long long t = 0; t < ms; t += 100) {
        beat(jb);
        usleep(100000);
    }
}

json_t *tc_worker_run(const char *job_path, int progress_fd, tc_media_fn *media)
{
    struct bf_err err = {0};
    json_t *j = json_load_file(job_path, 0, NULL), *out = NULL;
    struct job jb = {.j = j, .progress_fd = progress_fd, .media = media};

    jb.kind = jstr(j, "kind");
    jb.prefix = jstr(j, "prefix");
    jb.scratch = jstr(j, "scratch");
    if (!j || !jb.kind || !jb.prefix || !jb.scratch || !jstr(j, "media_root"))
        out = json_pack("{sbsbss}", "ok", 0, "retry", 0, "error", "bad job file");
    else if (!(jb.store = tc_store_local_new(jstr(j, "media_root"), &err)))
        out = json_pack("{sbsbss}", "ok", 0, "retry", 1, "error", err.msg);
    else {
        read_limits(json_object_get(j, "limits"), &jb.lim);
        test_delay(&jb, jint(j, "test_delay_ms", 0));
        out = memory_verdict(run(&jb));
        jb.store->free(jb.store);
    }
    free(mem_reserve);
    mem_reserve = NULL;
    json_decref(j);
    return out;
}

/* fd 3, when open, is the progress pipe the runner watches (its no-progress watchdog). */
static int progress_fd(void)
{
    return fcntl(3, F_GETFD) >= 0 ? 3 : -1;
}

int tc_worker_main(int argc, char **argv, tc_media_fn *media)
{
    struct bf_err err = {0};
    json_t *job, *out;

    if (argc != 2) {
        fprintf(stderr, "usage: %s JOB_FILE\n", argv[0]);
        return 2;
    }
    /* glibc reserves a 64 MiB heap per thread that allocates (up to 8 per core): with a
     * dozen codec threads that alone would eat a tight RLIMIT_AS. Four arenas suffice: the
     * pictures come from libav's buffer pools. */
    mallopt(M_ARENA_MAX, 4);
    job = json_load_file(argv[1], 0, NULL);
    if (!job || tc_worker_confine(job, &err) < 0) {
        fprintf(stderr, "%s: %s\n", argv[0], job ? err.msg : "bad job file");
        json_decref(job);
        return 1;
    }
    json_decref(job);
    out = tc_worker_run(argv[1], progress_fd(), media);
    if (!out || json_dumpf(out, stdout, JSON_COMPACT) < 0 || fflush(stdout) != 0)
        return 1;
    json_decref(out);
    return 0;
}
