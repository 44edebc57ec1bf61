/* SPDX-License-Identifier: Apache-2.0 */
/* Outbound HTTP(S) through libcurl behind the SSRF guard: evidence downloads, webhooks, LRS. */
#include "badgeflow/fetch.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "badgeflow/util.h"

#if LIBCURL_VERSION_NUM < 0x075500
#error "libcurl 7.85.0 or later is needed (CURLOPT_PROTOCOLS_STR)"
#endif

#define FETCH_USER_AGENT "badgeflow/0.1"
#define FETCH_READ_CHUNK ((size_t)64 * 1024)

/* ---- process-wide initialisation ---------------------------------------------------- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init_once(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int bf_fetch_global_init(void)
{
    pthread_once(&global_once, global_init_once);
    return global_rc == CURLE_OK ? 0 : -BF_EINTERNAL;
}

void bf_fetch_policy_init(struct bf_fetch_policy *p)
{
    *p = (struct bf_fetch_policy){
        .max_bytes = 2LL << 30,
        .max_response_bytes = 64LL * 1024,
        .timeout_ms = 10LL * 60 * 1000,
        .connect_timeout_ms = 10LL * 1000,
        .stall_ms = 30LL * 1000,
        .max_redirects = 5,
    };
}

static int policy_check(const struct bf_fetch_policy *p, struct bf_err *err)
{
    if (p->max_bytes <= 0 || p->max_response_bytes <= 0 || p->timeout_ms <= 0 ||
        p->connect_timeout_ms <= 0 || p->stall_ms <= 0 || p->max_redirects < 0)
        return bf_err_set(err, BF_EINVAL,
                          "fetch policy: caps and timeouts must be positive "
                          "(start from bf_fetch_policy_init)");
    return 0;
}

/* ---- the address guard --------------------------------------------------------------- */

static const char why_loopback[] = "a loopback address";
static const char why_private[] = "a private address";
static const char why_reserved[] = "a reserved address";
static const char why_doc[] = "a documentation address";

struct v4_range {
    uint32_t net;
    unsigned bits;
    const char *why;
};

/* IANA special-purpose IPv4 registry, the ranges no evidence or webhook host lives in. */
static const struct v4_range v4_ranges[] = {
    {0x00000000, 8, "an unspecified address"},    /* 0.0.0.0/8 "this network" */
    {0x0a000000, 8, why_private},                 /* 10.0.0.0/8 */
    {0x64400000, 10, "a shared (CGNAT) address"}, /* 100.64.0.0/10 */
    {0x7f000000, 8, why_loopback},                /* 127.0.0.0/8 */
    {0xa9fe0000, 16, "a link-local address"},     /* 169.254.0.0/16 (cloud metadata) */
    {0xac100000, 12, why_private},                /* 172.16.0.0/12 */
    {0xc0000000, 24, why_reserved},               /* 192.0.0.0/24 IETF protocol assignments */
    {0xc0000200, 24, why_doc},                    /* 192.0.2.0/24 TEST-NET-1 */
    {0xc0586300, 24, why_reserved},               /* 192.88.99.0/24 6to4 relay anycast */
    {0xc0a80000, 16, why_private},                /* 192.168.0.0/16 */
    {0xc6120000, 15, "a benchmarking address"},   /* 198.18.0.0/15 */
    {0xc6336400, 24, why_doc},                    /* 198.51.100.0/24 TEST-NET-2 */
    {0xcb007100, 24, why_doc},                    /* 203.0.113.0/24 TEST-NET-3 */
    {0xe0000000, 4, "a multicast address"},       /* 224.0.0.0/4 */
    {0xffffffff, 32, "a broadcast address"},      /* 255.255.255.255 */
    {0xf0000000, 4, why_reserved},                /* 240.0.0.0/4 */
};

/* a in host byte order. */
static const char *v4_refusal(uint32_t a, bool allow_loopback)
{
    for (size_t i = 0; i < BF_ARRAY_LEN(v4_ranges); i++) {
        const struct v4_range *r = &v4_ranges[i];
        uint32_t mask = r->bits ? ~0u << (32 - r->bits) : 0;

        if ((a & mask) != r->net)
            continue;
        if (r->why == why_loopback && allow_loopback)
            return NULL;
        return r->why;
    }
    return NULL;
}

struct v6_range {
    const char *net;
    unsigned bits;
    const char *why; /* NULL: allowed unless the embedded IPv4 address is refused */
    int v4_offset;   /* byte offset of an embedded IPv4 address to check, or -1 */
};

/* IANA special-purpose IPv6 registry; first match wins. Outside 2000::/3 is refused. */
static const struct v6_range v6_ranges[] = {
    {"::", 128, "an unspecified address", -1},
    {"::1", 128, why_loopback, -1},
    {"::ffff:0:0", 96, NULL, 12},   /* IPv4-mapped */
    {"::ffff:0:0:0", 96, NULL, 12}, /* IPv4-translated (SIIT) */
    {"::", 96, "a deprecated IPv4-compatible address", 12},
    {"64:ff9b::", 96, NULL, 12},          /* NAT64 well-known prefix */
    {"64:ff9b:1::", 48, why_private, -1}, /* local-use NAT64 */
    {"100::", 64, "a discard-only address", -1},
    {"2001:db8::", 32, why_doc, -1},
    {"2001::", 23, why_reserved, -1}, /* IETF protocol assignments, Teredo */
    {"2002::", 16, NULL, 2},          /* 6to4 */
    {"3fff::", 20, why_doc, -1},
    {"fc00::", 7, why_private, -1}, /* unique local */
    {"fe80::", 10, "a link-local address", -1},
    {"fec0::", 10, why_private, -1}, /* site-local (deprecated) */
    {"ff00::", 8, "a multicast address", -1},
};

static bool v6_in(const unsigned char *a, const char *net_txt, unsigned bits)
{
    unsigned char net[16];
    unsigned full = bits / 8, rest = bits % 8;

    if (inet_pton(AF_INET6, net_txt, net) != 1)
        return false;
    if (memcmp(a, net, full) != 0)
        return false;
    return rest == 0 || ((a[full] ^ net[full]) & (0xffu << (8 - rest)) & 0xffu) == 0;
}

static const char *v6_refusal(const unsigned char *a, bool allow_loopback)
{
    for (size_t i = 0; i < BF_ARRAY_LEN(v6_ranges); i++) {
        const struct v6_range *r = &v6_ranges[i];
        const char *why;

        if (!v6_in(a, r->net, r->bits))
            continue;
        if (r->why == why_loopback)
            return allow_loopback ? NULL : why_loopback;
        if (r->v4_offset >= 0) {
            uint32_t v4 = (uint32_t)a[r->v4_offset] << 24 | (uint32_t)a[r->v4_offset + 1] << 16 |
                          (uint32_t)a[r->v4_offset + 2] << 8 | a[r->v4_offset + 3];

            why = v4_refusal(v4, allow_loopback);
            if (why)
                return why;
        }
        return r->why;
    }
    return (a[0] & 0xe0) == 0x20 ? NULL : why_reserved; /* global unicast is 2000::/3 */
}

const char *bf_fetch_addr_refusal(const struct sockaddr *sa, bool allow_loopback)
{
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        return v4_refusal(ntohl(in->sin_addr.s_addr), allow_loopback);
    }
    if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        return v6_refusal(in6->sin6_addr.s6_addr, allow_loopback);
    }
    return "not an IP address";
}

bool bf_fetch_addr_allowed(const struct sockaddr *sa, bool allow_loopback)
{
    return bf_fetch_addr_refusal(sa, allow_loopback) == NULL;
}

static void addr_text(const struct sockaddr *sa, char *out, size_t n)
{
    const void *a = NULL;

    if (sa->sa_family == AF_INET)
        a = &((const struct sockaddr_in *)sa)->sin_addr;
    else if (sa->sa_family == AF_INET6)
        a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (!a || !inet_ntop(sa->sa_family, a, out, (socklen_t)n))
        snprintf(out, n, "(address family %d)", sa->sa_family);
}

/* ---- where the body goes: a file or memory, counted, capped and hashed ----------------- */

struct sink {
    int fd;    /* -1: keep in memory */
    char *mem; /* NUL-terminated when fd < 0 */
    size_t mem_len, mem_cap;
    long long max;
    long long bytes;
    EVP_MD_CTX *md; /* NULL: no hash */
    bool too_big;
    bool write_failed;
    int write_errno;
};

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int mem_append(struct sink *s, const char *p, size_t n)
{
    if (s->mem_len + n + 1 > s->mem_cap) {
        size_t cap = s->mem_cap ? s->mem_cap : 4096;
        char *m;

        while (cap < s->mem_len + n + 1)
            cap *= 2;
        m = realloc(s->mem, cap);
        if (!m)
            return -1;
        s->mem = m;
        s->mem_cap = cap;
    }
    memcpy(s->mem + s->mem_len, p, n);
    s->mem_len += n;
    s->mem[s->mem_len] = '\0';
    return 0;
}

/* Take n more bytes of body. 0, or -1 with too_big or write_failed set. */
static int sink_put(struct sink *s, const char *p, size_t n)
{
    if ((unsigned long long)s->bytes + n > (unsigned long long)s->max) {
        s->too_big = true;
        return -1;
    }
    if ((s->md && EVP_DigestUpdate(s->md, p, n) != 1) ||
        (s->fd >= 0 ? write_all(s->fd, p, n) : mem_append(s, p, n)) < 0) {
        s->write_failed = true;
        s->write_errno = errno ? errno : ENOMEM;
        return -1;
    }
    s->bytes += (long long)n;
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    size_t n = size * nmemb;

    return sink_put(userdata, data, n) == 0 ? n : 0;
}

/* ---- the temporary file that becomes dest_path --------------------------------------- */

struct out_file {
    char path[PATH_MAX];
    int fd;
};

static int out_open(struct out_file *o, const char *dest, struct bf_err *err)
{
    o->fd = -1;
    if ((size_t)snprintf(o->path, sizeof(o->path), "%s.part.XXXXXX", dest) >= sizeof(o->path))
        return bf_err_set(err, BF_EINVAL, "dest_path: too long");
    o->fd = mkostemp(o->path, O_CLOEXEC);
    if (o->fd < 0)
        return bf_err_set(err, BF_EIO, "%s: cannot create: %s", o->path, strerror(errno));
    return 0;
}

static void out_abort(struct out_file *o)
{
    if (o->fd >= 0) {
        close(o->fd);
        o->fd = -1;
        unlink(o->path);
    }
}

/* Make the file durable, then visible under its name, in one rename. */
static int out_commit(struct out_file *o, const char *dest, struct bf_err *err)
{
    int rc = 0;

    if (fsync(o->fd) < 0 || close(o->fd) < 0) {
        rc = bf_err_set(err, BF_EIO, "%s: %s", o->path, strerror(errno));
        o->fd = -1;
        unlink(o->path);
        return rc;
    }
    o->fd = -1;
    if (rename(o->path, dest) < 0) {
        rc = bf_err_set(err, BF_EIO, "%s: cannot rename into place: %s", dest, strerror(errno));
        unlink(o->path);
    }
    return rc;
}

/* ---- URL checks ---------------------------------------------------------------------- */

static const char *allowed_schemes(const struct bf_fetch_policy *p)
{
    return p->allow_http ? "http,https" : "https";
}

static const char *scheme_rule(const struct bf_fetch_policy *p)
{
    return p->allow_http ? "http and https only" : "https only";
}

/* Parse url into *u (caller frees with curl_url_cleanup), whatever its scheme. */
static int url_parse(const char *url, CURLU **u, struct bf_err *err)
{
    CURLUcode rc;

    *u = curl_url();
    if (!*u)
        return bf_err_set(err, BF_ENOMEM, "url: out of memory");
    rc = curl_url_set(*u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
    if (rc != CURLUE_OK)
        return bf_err_set(err, BF_EINVAL, "url: not a valid absolute URL (%s)",
                          curl_url_strerror(rc));
    return 0;
}

/* Refuse schemes the policy does not allow; *is_file says file:// (only if file_ok). */
static int scheme_check(const struct bf_fetch_policy *p, CURLU *u, bool file_ok, bool *is_file,
                        struct bf_err *err)
{
    char *scheme = NULL;
    int rc = 0;

    *is_file = false;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
        return bf_err_set(err, BF_EINVAL, "url: no scheme");
    if (strcmp(scheme, "https") == 0 || (strcmp(scheme, "http") == 0 && p->allow_http))
        goto out;
    if (strcmp(scheme, "file") == 0 && file_ok) {
        *is_file = true;
        goto out;
    }
    rc = bf_err_set(err, BF_EDENIED, "refused: scheme %s is not allowed (%s)", scheme,
                    scheme_rule(p));
out:
    curl_free(scheme);
    return rc;
}

/* ---- file:// beneath file_root --------------------------------------------------------- */

/* Open real (a symlink-free absolute path beneath root) without following any link. */
static int open_beneath(const char *root, const char *real, struct bf_err *err)
{
    int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
    struct open_how how = {.flags = (uint64_t)flags,
                           .resolve =
                               RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    size_t rl = strlen(root);
    const char *rel = real + (rl == 1 ? 1 : rl + 1);
    int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int fd = -1;

    int saved;

    if (rootfd >= 0) {
        fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
        saved = errno;
        close(rootfd);
        errno = saved;
    }
    if (fd < 0 && (rootfd < 0 || errno == ENOSYS || errno == EPERM))
        fd = open(real, flags); /* no openat2 (old kernel, seccomp): last component only */
    if (fd >= 0)
        return fd;
    if (errno == ENOENT)
        return bf_err_set(err, BF_ENOTFOUND, "%s: no such file", real);
    if (errno == ELOOP || errno == EXDEV)
        return bf_err_set(err, BF_EDENIED, "refused: %s changed into a link while opened", real);
    int code = errno == EACCES ? BF_EDENIED : BF_EIO;
    return bf_err_set(err, code, "%s: %s", real, strerror(errno));
}

/* Resolve path and open it if it lies beneath root and is a regular file. fd or -BF_E*. */
static int file_open_checked(const struct bf_fetch_policy *p, const char *path, struct bf_err *err)
{
    char root[PATH_MAX], real[PATH_MAX];
    size_t rl;
    struct stat st;
    int fd;

    if (!realpath(p->file_root, root))
        return bf_err_set(err, BF_EIO, "file root %s: %s", p->file_root, strerror(errno));
    if (!realpath(path, real)) {
        int code = errno == ENOENT ? BF_ENOTFOUND : BF_EDENIED;
        const char *why = errno == ENOENT ? "no such file" : strerror(errno);
        return bf_err_set(err, code, "%s: %s", path, why);
    }
    rl = strlen(root);
    if (rl > 1 && (strncmp(real, root, rl) != 0 || real[rl] != '/'))
        return bf_err_set(err, BF_EDENIED, "refused: %s is outside the file root", path);
    fd = open_beneath(root, real, err);
    if (fd < 0)
        return fd;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return bf_err_set(err, BF_EDENIED, "refused: %s is not a regular file", path);
    }
    if (st.st_size > p->max_bytes) {
        close(fd);
        return bf_err_set(err, BF_ETOOBIG, "larger than %lld bytes", p->max_bytes);
    }
    return fd;
}

/* The decoded local path of a file:// URL; caller frees with curl_free(). */
static int file_url_path(CURLU *u, char **path, struct bf_err *err)
{
    char *host = NULL;
    bool remote;

    *path = NULL;
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        remote = host[0] && strcasecmp(host, "localhost") != 0;
        curl_free(host);
        if (remote)
            return bf_err_set(err, BF_EDENIED, "refused: file:// URL names a host");
    }
    if (curl_url_get(u, CURLUPART_PATH, path, CURLU_URLDECODE) != CURLUE_OK)
        return bf_err_set(err, BF_EINVAL, "url: file path cannot be decoded");
    return 0;
}

static int fetch_file(const struct bf_fetch_policy *p, CURLU *u, struct sink *s, struct bf_err *err)
{
    char *path = NULL, *buf = NULL;
    ssize_t n;
    int fd = -1, rc;

    if (!p->file_root) {
        rc = bf_err_set(err, BF_EDENIED, "refused: scheme file is not allowed (no file root)");
        goto out;
    }
    rc = file_url_path(u, &path, err);
    if (rc < 0)
        goto out;
    rc = fd = file_open_checked(p, path, err);
    if (rc < 0)
        goto out;
    rc = 0;
    buf = malloc(FETCH_READ_CHUNK);
    if (!buf) {
        rc = bf_err_set(err, BF_ENOMEM, "fetch: out of memory");
        goto out;
    }
    while ((n = read(fd, buf, FETCH_READ_CHUNK)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = bf_err_set(err, BF_EIO, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (sink_put(s, buf, (size_t)n) < 0) {
            rc = s->too_big ? bf_err_set(err, BF_ETOOBIG, "larger than %lld bytes", s->max)
                            : bf_err_set(err, BF_EIO, "writing: %s", strerror(s->write_errno));
            goto out;
        }
    }
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    curl_free(path);
    return rc;
}

/* ---- libcurl transfers ----------------------------------------------------------------- */

struct xfer {
    const struct bf_fetch_policy *p;
    struct sink *sink;
    char refusal[160];            /* why the guard refused a connection, "" if it did not */
    char errbuf[CURL_ERROR_SIZE]; /* curl's own words */
    int64_t last_move_ms;         /* monotonic time bytes last moved (0: not started) */
    curl_off_t last_moved;        /* bytes moved so far, both ways */
    bool stalled;
};

/*
 * CURLOPT_XFERINFOFUNCTION: abort when no byte has moved for stall_ms. (curl's LOW_SPEED
 * options average over a window of several seconds, too coarse for a stall cap.)
 */
static int stall_watch(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct xfer *x = clientp;
    int64_t now = bf_mono_ms();

    if (x->last_move_ms == 0 || dlnow + ulnow != x->last_moved) {
        x->last_move_ms = now;
        x->last_moved = dlnow + ulnow;
        return 0;
    }
    if (now - x->last_move_ms < x->p->stall_ms)
        return 0;
    x->stalled = true;
    return 1;
}

/* CURLOPT_OPENSOCKETFUNCTION: the guard sees the address of every connection curl opens. */
static curl_socket_t guard_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct xfer *x = clientp;
    const char *why = bf_fetch_addr_refusal(&a->addr, x->p->allow_loopback);
    char txt[INET6_ADDRSTRLEN + 24];

    if (purpose != CURLSOCKTYPE_IPCXN)
        why = "not an outbound connection";
    if (why) {
        addr_text(&a->addr, txt, sizeof(txt));
        snprintf(x->refusal, sizeof(x->refusal), "refused: %s is %s", txt, why);
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* An easy handle for url with the guard and the policy's limits set. NULL on failure. */
static CURL *easy_new(struct xfer *x, const char *url, long long max_body)
{
    const struct bf_fetch_policy *p = x->p;
    CURL *c = curl_easy_init();
    int bad = 0;

    if (!c)
        return NULL;
    bad |= curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, allowed_schemes(p)) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, allowed_schemes(p)) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_PROXY, "") != CURLE_OK; /* ignore *_proxy env */
    bad |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, guard_open_socket) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, x) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)p->connect_timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, stall_watch) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_XFERINFODATA, x) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_body) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_WRITEDATA, x->sink) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_USERAGENT, FETCH_USER_AGENT) != CURLE_OK;
    if (p->ca_file)
        bad |= curl_easy_setopt(c, CURLOPT_CAINFO, p->ca_file) != CURLE_OK;
    if (bad) {
        curl_easy_cleanup(c);
        return NULL;
    }
    return c;
}

static int http_status_error(long status, struct bf_err *err)
{
    int code = BF_EINVAL;

    if (status == 404 || status == 410)
        code = BF_ENOTFOUND;
    else if (status == 408 || status == 429 || status >= 500)
        code = BF_ETRANSIENT;
    return bf_err_set(err, code, "HTTP %ld", status);
}

static const char *curl_words(const struct xfer *x, CURLcode cr)
{
    return x->errbuf[0] ? x->errbuf : curl_easy_strerror(cr);
}

/* Map curl's result of a transfer to 0 or -BF_E* with a message for people. */
static int xfer_result(const struct xfer *x, CURLcode cr, long status, struct bf_err *err)
{
    if (x->sink->too_big || cr == CURLE_FILESIZE_EXCEEDED)
        return bf_err_set(err, BF_ETOOBIG, "larger than %lld bytes", x->sink->max);
    if (x->sink->write_failed)
        return bf_err_set(err, BF_EIO, "writing: %s", strerror(x->sink->write_errno));
    switch (cr) {
    case CURLE_OK:
        return 0;
    case CURLE_COULDNT_CONNECT:
        if (x->refusal[0])
            return bf_err_set(err, BF_EDENIED, "%s", x->refusal);
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
        return bf_err_set(err, BF_EDENIED, "refused: redirect to a scheme not allowed (%s): %s",
                          scheme_rule(x->p), curl_words(x, cr));
    case CURLE_TOO_MANY_REDIRECTS:
        return bf_err_set(err, BF_EDENIED, "refused: more than %d redirects", x->p->max_redirects);
    case CURLE_ABORTED_BY_CALLBACK:
        if (x->stalled)
            return bf_err_set(err, BF_ETIMEOUT, "stalled: no data for %lld ms", x->p->stall_ms);
        break;
    case CURLE_OPERATION_TIMEDOUT:
        return bf_err_set(err, BF_ETIMEOUT, "timed out: %s", curl_words(x, cr));
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        return bf_err_set(err, BF_EDENIED, "refused: TLS: %s", curl_words(x, cr));
    case CURLE_OUT_OF_MEMORY:
        return bf_err_set(err, BF_ENOMEM, "fetch: out of memory");
    case CURLE_URL_MALFORMAT:
        return bf_err_set(err, BF_EINVAL, "url: %s", curl_words(x, cr));
    case CURLE_HTTP_RETURNED_ERROR:
        return http_status_error(status, err);
    default:
        break;
    }
    return bf_err_set(err, BF_ETRANSIENT, "%s", curl_words(x, cr));
}

static void copy_info(CURL *c, CURLINFO what, char *out, size_t n)
{
    char *s = NULL;

    if (curl_easy_getinfo(c, what, &s) == CURLE_OK && s)
        bf_strlcpy(out, s, n);
}

static int fetch_http(const struct bf_fetch_policy *p, const char *url, struct sink *s,
                      struct bf_fetch_result *res, struct bf_err *err)
{
    struct xfer x = {.p = p, .sink = s};
    CURL *c = easy_new(&x, url, p->max_bytes);
    CURLcode cr;
    int rc;

    if (!c || curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)p->max_redirects) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L) != CURLE_OK) {
        curl_easy_cleanup(c);
        return bf_err_set(err, BF_ENOMEM, "fetch: cannot set up libcurl");
    }
    cr = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
    copy_info(c, CURLINFO_CONTENT_TYPE, res->content_type, sizeof(res->content_type));
    copy_info(c, CURLINFO_EFFECTIVE_URL, res->effective_url, sizeof(res->effective_url));
    rc = xfer_result(&x, cr, res->status, err);
    if (rc == 0 && (res->status < 200 || res->status > 299))
        rc = http_status_error(res->status, err);
    curl_easy_cleanup(c);
    return rc;
}

/* ---- bf_fetch_to_file ----------------------------------------------------------------- */

static bool sha256_hex_valid(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++)
        if (!isxdigit((unsigned char)s[n]))
            return false;
    return n == 64;
}

static int digest_check(struct sink *s, const char *expected, struct bf_fetch_result *res,
                        struct bf_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    if (EVP_DigestFinal_ex(s->md, md, &len) != 1 || len != 32)
        return bf_err_set(err, BF_EINTERNAL, "sha256: digest failed");
    bf_hex(md, len, res->sha256);
    if (expected && strcasecmp(expected, res->sha256) != 0)
        return bf_err_set(err, BF_EINVAL, "checksum mismatch: expected sha256 %s, got %s", expected,
                          res->sha256);
    return 0;
}

static int args_check(const struct bf_fetch_policy *p, const char *url, const char *expected,
                      struct bf_err *err)
{
    if (!p || !url)
        return bf_err_set(err, BF_EINVAL, "fetch: policy and url are required");
    if (expected && !sha256_hex_valid(expected))
        return bf_err_set(err, BF_EINVAL, "sha256: must be 64 hex digits");
    if (bf_fetch_global_init() < 0)
        return bf_err_set(err, BF_EINTERNAL, "fetch: curl_global_init failed");
    return policy_check(p, err);
}

/* Fetch u (file or http) into the open temporary file o, hashing. */
static int fetch_into(const struct bf_fetch_policy *p, CURLU *u, bool is_file, const char *expected,
                      struct out_file *o, struct bf_fetch_result *res, struct bf_err *err)
{
    struct sink s = {.fd = o->fd, .max = p->max_bytes, .md = EVP_MD_CTX_new()};
    char *url = NULL;
    int rc;

    if (!s.md || EVP_DigestInit_ex(s.md, EVP_sha256(), NULL) != 1) {
        rc = bf_err_set(err, BF_ENOMEM, "sha256: cannot initialise");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
        rc = bf_err_set(err, BF_EINVAL, "url: cannot be normalised");
        goto out;
    }
    if (is_file) {
        bf_strlcpy(res->effective_url, url, sizeof(res->effective_url));
        rc = fetch_file(p, u, &s, err);
    } else {
        rc = fetch_http(p, url, &s, res, err);
    }
    res->bytes = s.bytes;
    if (rc == 0)
        rc = digest_check(&s, expected, res, err);
out:
    curl_free(url);
    free(s.mem);
    EVP_MD_CTX_free(s.md);
    return rc;
}

int bf_fetch_to_file(const struct bf_fetch_policy *p, const char *url, const char *expected_sha256,
                     const char *dest_path, struct bf_fetch_result *res, struct bf_err *err)
{
    struct out_file o = {.fd = -1};
    CURLU *u = NULL;
    bool is_file;
    int rc;

    memset(res, 0, sizeof(*res));
    rc = args_check(p, url, expected_sha256, err);
    if (rc == 0 && (!dest_path || !dest_path[0]))
        rc = bf_err_set(err, BF_EINVAL, "fetch: dest_path is required");
    if (rc < 0)
        goto out;
    rc = url_parse(url, &u, err);
    if (rc < 0)
        goto out;
    rc = scheme_check(p, u, true, &is_file, err);
    if (rc < 0)
        goto out;
    rc = out_open(&o, dest_path, err);
    if (rc < 0)
        goto out;
    rc = fetch_into(p, u, is_file, expected_sha256, &o, res, err);
    if (rc == 0)
        rc = out_commit(&o, dest_path, err);
out:
    out_abort(&o);
    curl_url_cleanup(u);
    return rc;
}

/* ---- bf_fetch_post -------------------------------------------------------------------- */

/* Build the header list: each "Name: value", no CR or LF; plus "Expect:" (no 100-continue). */
static int headers_build(const char *const *headers, struct curl_slist **out, struct bf_err *err)
{
    struct curl_slist *l = NULL, *n;

    for (size_t i = 0; headers && headers[i]; i++) {
        const char *h = headers[i];

        if (!strchr(h, ':') || h[0] == ':' || strpbrk(h, "\r\n")) {
            curl_slist_free_all(l);
            return bf_err_set(err, BF_EINVAL,
                              "headers[%zu]: must be \"Name: value\" on one "
                              "line",
                              i);
        }
        n = curl_slist_append(l, h);
        if (!n)
            goto nomem;
        l = n;
    }
    n = curl_slist_append(l, "Expect:");
    if (!n)
        goto nomem;
    *out = n;
    return 0;
nomem:
    curl_slist_free_all(l);
    return bf_err_set(err, BF_ENOMEM, "headers: out of memory");
}

static int post_perform(struct xfer *x, const char *url, struct curl_slist *hdrs, const void *body,
                        size_t len, struct bf_fetch_response *resp, struct bf_err *err)
{
    CURL *c = easy_new(x, url, x->p->max_response_bytes);
    CURLcode cr;
    int rc;

    if (!c || curl_easy_setopt(c, CURLOPT_POST, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "") != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK) {
        curl_easy_cleanup(c);
        return bf_err_set(err, BF_ENOMEM, "fetch: cannot set up libcurl");
    }
    cr = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    copy_info(c, CURLINFO_CONTENT_TYPE, resp->content_type, sizeof(resp->content_type));
    rc = xfer_result(x, cr, resp->status, err);
    if (rc == 0 && resp->status >= 300 && resp->status <= 399) {
        copy_info(c, CURLINFO_REDIRECT_URL, resp->location, sizeof(resp->location));
        rc = bf_err_set(err, BF_EDENIED, "redirect not followed: HTTP %ld to %s", resp->status,
                        resp->location[0] ? resp->location : "(no Location)");
    }
    curl_easy_cleanup(c);
    return rc;
}

int bf_fetch_post(const struct bf_fetch_policy *p, const char *url, const char *const *headers,
                  const void *body, size_t len, struct bf_fetch_response *resp, struct bf_err *err)
{
    struct sink s = {.fd = -1};
    struct xfer x = {.p = p, .sink = &s};
    struct curl_slist *hdrs = NULL;
    CURLU *u = NULL;
    char *norm = NULL;
    bool is_file;
    int rc;

    memset(resp, 0, sizeof(*resp));
    rc = args_check(p, url, NULL, err);
    if (rc < 0)
        goto out;
    s.max = p->max_response_bytes;
    rc = url_parse(url, &u, err);
    if (rc == 0)
        rc = scheme_check(p, u, false, &is_file, err);
    if (rc == 0 && curl_url_get(u, CURLUPART_URL, &norm, 0) != CURLUE_OK)
        rc = bf_err_set(err, BF_EINVAL, "url: cannot be normalised");
    if (rc == 0)
        rc = headers_build(headers, &hdrs, err);
    if (rc == 0)
        rc = post_perform(&x, norm, hdrs, body, len, resp, err);
    if (rc != -BF_ETOOBIG) {
        resp->body = s.mem;
        resp->len = s.mem_len;
        s.mem = NULL;
    }
out:
    free(s.mem);
    curl_free(norm);
    curl_slist_free_all(hdrs);
    curl_url_cleanup(u);
    return rc;
}

void bf_fetch_response_free(struct bf_fetch_response *resp)
{
    if (!resp)
        return;
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}
