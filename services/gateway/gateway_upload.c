/* SPDX-License-Identifier: Apache-2.0 */
/* Evidence uploads: streamed to <upload_root>/<tenant>/<uuid> with the SHA-256 computed on
 * the way, capped, sniffed; the body is never held whole in memory. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "badgeflow/log.h"
#include "gateway.h"

#define HEAD_LEN 64

struct gw_upload {
    int fd;
    EVP_MD_CTX *md;
    size_t bytes;
    unsigned char head[HEAD_LEN];
    size_t nhead;
    bool failed;
    char part[1024]; /* the file while it is written; removed unless renamed */
    char final[1024];
    char id[BF_UUID_STRLEN + 1];
};

struct magic {
    size_t off;
    const char *bytes;
    size_t len;
    const char *type, *kind;
};

static const struct magic magics[] = {
    {4, "ftypqt", 6, "video/quicktime", "video"},
    {4, "ftypM4A", 7, "audio/mp4", "audio"},
    {4, "ftyp", 4, "video/mp4", "video"},
    {0, "\x1a\x45\xdf\xa3", 4, "video/webm", "video"},
    {0, "%PDF-", 5, "application/pdf", "document"},
    {0, "\x89PNG\r\n\x1a\n", 8, "image/png", "image"},
    {0, "\xff\xd8\xff", 3, "image/jpeg", "image"},
    {0, "GIF8", 4, "image/gif", "image"},
    {0, "ID3", 3, "audio/mpeg", "audio"},
    {0, "\xff\xfb", 2, "audio/mpeg", "audio"},
    {0, "OggS", 4, "audio/ogg", "audio"},
    {0, "fLaC", 4, "audio/flac", "audio"},
    {8, "WAVE", 4, "audio/wav", "audio"},
    {8, "WEBP", 4, "image/webp", "image"},
    {0, "PK\x03\x04", 4, "application/zip", "document"},
    {0, "\xd0\xcf\x11\xe0", 4, "application/x-ole-storage", "document"},
};

static bool is_text(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x09 || (p[i] > 0x0d && p[i] < 0x20) || p[i] == 0x7f)
            return false;
    return n > 0;
}

const char *gw_sniff(const unsigned char *head, size_t n, const char **kind)
{
    for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++) {
        const struct magic *m = &magics[i];
        if (n >= m->off + m->len && memcmp(head + m->off, m->bytes, m->len) == 0) {
            *kind = m->kind;
            return m->type;
        }
    }
    *kind = is_text(head, n) ? "document" : "unknown";
    return is_text(head, n) ? "text/plain" : "application/octet-stream";
}

static int mkdir_p(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(path, 0750);
        *p = '/';
        if (rc < 0 && errno != EEXIST)
            return -BF_EIO;
    }
    return mkdir(path, 0750) < 0 && errno != EEXIST ? -BF_EIO : 0;
}

int gw_upload_open(struct gw_req *r, struct bf_err *err)
{
    struct gw_upload *up = calloc(1, sizeof(*up));
    char dir[1024];

    if (!up)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    up->fd = -1;
    r->up = up;
    snprintf(dir, sizeof(dir), "%s/%s", r->gw->upload_root, r->key.tenant_id);
    if (bf_uuid_v4(up->id) < 0 || mkdir_p(dir) < 0)
        goto fail;
    snprintf(up->final, sizeof(up->final), "%s/%s", dir, up->id);
    snprintf(up->part, sizeof(up->part), "%s/.%s.part", dir, up->id);
    up->fd = open(up->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    up->md = EVP_MD_CTX_new();
    if (up->fd < 0 || !up->md || EVP_DigestInit_ex(up->md, EVP_sha256(), NULL) != 1)
        goto fail;
    return 0;
fail:
    bf_log_err("BF_GATEWAY_UPLOAD", "cannot create an upload under %s: %s", dir, strerror(errno));
    return bf_err_set(err, BF_EIO, "cannot store the upload");
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

void gw_upload_write(struct gw_req *r, const char *data, size_t n)
{
    struct gw_upload *up = r->up;

    if (up->failed)
        return;
    if (up->bytes + n > r->gw->max_upload) {
        r->too_big = true; /* the part file goes at the end of the request */
        return;
    }
    if (up->nhead < HEAD_LEN) {
        size_t k = HEAD_LEN - up->nhead < n ? HEAD_LEN - up->nhead : n;
        memcpy(up->head + up->nhead, data, k);
        up->nhead += k;
    }
    up->bytes += n;
    if (EVP_DigestUpdate(up->md, data, n) != 1 || !write_all(up->fd, data, n))
        up->failed = true;
}

void gw_upload_free(struct gw_upload *up)
{
    if (!up)
        return;
    if (up->fd >= 0)
        close(up->fd);
    if (up->part[0])
        unlink(up->part); /* no-op once renamed */
    EVP_MD_CTX_free(up->md);
    free(up);
}

/* All received: fsync, rename into place, answer its file:// URI and digest. */
void gw_upload_finish(struct gw_req *r)
{
    struct gw_upload *up = r->up;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char sha[65], uri[1100];
    const char *kind, *type;

    if (up->bytes == 0) {
        gw_problem(r, 422, "empty-upload", "Empty upload", NULL, "the request body is empty");
        return;
    }
    if (up->failed || fsync(up->fd) < 0 || EVP_DigestFinal_ex(up->md, md, &mdlen) != 1 ||
        rename(up->part, up->final) < 0) {
        bf_log_err("BF_GATEWAY_UPLOAD", "cannot store upload %s: %s", up->final, strerror(errno));
        gw_problem(r, 500, "internal", "Internal error", NULL, "cannot store the upload");
        return;
    }
    up->part[0] = '\0';
    bf_hex(md, mdlen, sha);
    type = gw_sniff(up->head, up->nhead, &kind);
    snprintf(uri, sizeof(uri), "file://%s", up->final);
    gw_reply_json(r, 201,
                  json_pack("{sssssssIssss}", "upload_id", up->id, "uri", uri, "sha256", sha,
                            "size", (json_int_t)up->bytes, "content_type", type, "kind", kind));
}
