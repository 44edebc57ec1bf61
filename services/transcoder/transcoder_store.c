/* SPDX-License-Identifier: Apache-2.0 */
/* The media store behind one interface; here the local directory (temp file + rename). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "badgeflow/util.h"
#include "transcoder.h"

struct tc_store_local {
    struct tc_store ops;
    char root[PATH_MAX];
};

/* mkdir -p of the directories of path (not its last element). */
static int mkdirs_for(const char *path)
{
    char buf[PATH_MAX];

    if (!bf_strlcpy(buf, path, sizeof(buf)))
        return -BF_EINVAL;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -BF_EIO;
        *p = '/';
    }
    return 0;
}

/* Copy src into the open fd (src may be on another file system than the store). */
static int copy_into(const char *src, int fd)
{
    char buf[65536];
    ssize_t r;
    int in = open(src, O_RDONLY | O_CLOEXEC);

    if (in < 0)
        return -BF_EIO;
    while ((r = read(in, buf, sizeof(buf))) > 0)
        if (write(fd, buf, (size_t)r) != r) {
            r = -1;
            break;
        }
    close(in);
    return r < 0 ? -BF_EIO : 0;
}

/* Write to "<dest>.tmp.XXXXXX" beside dest, fsync, rename: readers see all or nothing, and a
 * SIGKILL leaves only a .tmp file that no key names. */
static int local_put(struct tc_store *s, const char *key, const char *src, struct bf_err *err)
{
    struct tc_store_local *l = (struct tc_store_local *)s;
    char dest[PATH_MAX], tmp[PATH_MAX + 16];
    int fd, rc;

    snprintf(dest, sizeof(dest), "%s/%s", l->root, key);
    snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", dest);
    if (mkdirs_for(dest) < 0 || (fd = mkostemp(tmp, O_CLOEXEC)) < 0)
        return bf_err_set(err, BF_EIO, "media store: cannot write %s: %s", key, strerror(errno));
    rc = copy_into(src, fd);
    if (rc == 0 && (fchmod(fd, 0644) < 0 || fsync(fd) < 0))
        rc = -BF_EIO;
    close(fd);
    if (rc == 0 && rename(tmp, dest) < 0)
        rc = -BF_EIO;
    if (rc < 0) {
        unlink(tmp);
        return bf_err_set(err, BF_EIO, "media store: cannot write %s", key);
    }
    return 0;
}

static bool local_exists(struct tc_store *s, const char *key)
{
    struct tc_store_local *l = (struct tc_store_local *)s;
    char path[PATH_MAX];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", l->root, key);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char *local_get(struct tc_store *s, const char *key, size_t max, size_t *len)
{
    struct tc_store_local *l = (struct tc_store_local *)s;
    char path[PATH_MAX], *buf;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", l->root, key);
    if (!(f = fopen(path, "rbe")))
        return NULL;
    buf = malloc(max + 1);
    *len = buf ? fread(buf, 1, max, f) : 0;
    if (buf)
        buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void local_free(struct tc_store *s)
{
    free(s);
}

struct tc_store *tc_store_local_new(const char *root, struct bf_err *err)
{
    struct tc_store_local *l = calloc(1, sizeof(*l));
    char probe[PATH_MAX];

    if (!l) {
        bf_err_set(err, BF_ENOMEM, "out of memory");
        return NULL;
    }
    l->ops = (struct tc_store){local_put, local_exists, local_get, local_free};
    snprintf(l->root, sizeof(l->root), "%s", root);
    snprintf(probe, sizeof(probe), "%s/x", root);
    if (mkdirs_for(probe) < 0) {
        bf_err_set(err, BF_EIO, "media store: cannot create %s: %s", root, strerror(errno));
        free(l);
        return NULL;
    }
    return &l->ops;
}

void tc_item_prefix(const char *tenant, const char *submission, const char *item, char out[64])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    /* NUL separators: ("a", "bc") and ("ab", "c") hash differently. */
    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
        EVP_DigestUpdate(ctx, tenant, strlen(tenant) + 1) &&
        EVP_DigestUpdate(ctx, submission, strlen(submission) + 1) &&
        EVP_DigestUpdate(ctx, item, strlen(item) + 1))
        EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    bf_hex(md, mdlen, hex);
    snprintf(out, 64, "ev/%.2s/%.30s", hex, hex + 2);
}
