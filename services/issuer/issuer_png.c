/* SPDX-License-Identifier: Apache-2.0 */
/* Baked badges: a small PNG rendered locally (the catalogue's image URLs are not fetched),
 * with the VC-JWT in an iTXt chunk keyword "openbadgecredential" (OB 3.0 §5.3 baking). */
#include <arpa/inet.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "issuer.h"

static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* Append one chunk (length, type, data, CRC over type and data) at *pos of buf. */
static void chunk(unsigned char *buf, size_t *pos, const char *type, const unsigned char *data,
                  size_t len)
{
    uint32_t n = htonl((uint32_t)len), crc;

    memcpy(buf + *pos, &n, 4);
    memcpy(buf + *pos + 4, type, 4);
    if (len)
        memcpy(buf + *pos + 8, data, len);
    crc = (uint32_t)crc32(0, buf + *pos + 4, (uInt)(len + 4));
    crc = htonl(crc);
    memcpy(buf + *pos + 8 + len, &crc, 4);
    *pos += 12 + len;
}

/* Raw scanlines (filter byte 0 + RGB): a filled disc in the seed's colour on white. */
static unsigned char *pixels(const char *seed, int size, size_t *len)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    size_t row = 1 + 3 * (size_t)size;
    unsigned char *raw = malloc(row * (size_t)size);
    int r2 = (size / 2 - 2) * (size / 2 - 2);

    if (!raw)
        return NULL;
    SHA256((const unsigned char *)seed, strlen(seed), md);
    for (int y = 0; y < size; y++) {
        unsigned char *p = raw + row * (size_t)y;
        *p++ = 0;
        for (int x = 0; x < size; x++, p += 3) {
            int dx = x - size / 2, dy = y - size / 2;
            bool in = dx * dx + dy * dy <= r2, ring = in && dx * dx + dy * dy > r2 * 3 / 4;
            p[0] = in ? (ring ? md[3] / 2 : md[0] / 2 + 64) : 255;
            p[1] = in ? (ring ? md[4] / 2 : md[1] / 2 + 64) : 255;
            p[2] = in ? (ring ? md[5] / 2 : md[2] / 2 + 64) : 255;
        }
    }
    *len = row * (size_t)size;
    return raw;
}

int issuer_png_render(const char *seed, int size, unsigned char **out, size_t *len,
                      struct bf_err *err)
{
    size_t rawlen = 0, pos = 0;
    unsigned char *raw = pixels(seed, size, &rawlen), *z = NULL, *buf = NULL;
    uLongf zlen = compressBound((uLong)rawlen);
    unsigned char ihdr[13] = {0};
    uint32_t w = htonl((uint32_t)size);
    int rc = -BF_ENOMEM;

    z = raw ? malloc(zlen) : NULL;
    if (!z || compress2(z, &zlen, raw, (uLong)rawlen, 9) != Z_OK)
        goto out;
    buf = malloc(8 + 25 + 12 + zlen + 12);
    if (!buf)
        goto out;
    memcpy(ihdr, &w, 4);
    memcpy(ihdr + 4, &w, 4);
    ihdr[8] = 8; /* bit depth */
    ihdr[9] = 2; /* colour type: RGB */
    memcpy(buf, png_sig, 8);
    pos = 8;
    chunk(buf, &pos, "IHDR", ihdr, 13);
    chunk(buf, &pos, "IDAT", z, zlen);
    chunk(buf, &pos, "IEND", NULL, 0);
    *out = buf;
    *len = pos;
    buf = NULL;
    rc = 0;
out:
    if (rc < 0)
        bf_err_set(err, BF_ENOMEM, "cannot render the badge image");
    free(raw);
    free(z);
    free(buf);
    return rc;
}

int issuer_png_bake(const unsigned char *png, size_t len, const char *keyword, const char *text,
                    unsigned char **out, size_t *outlen, struct bf_err *err)
{
    size_t kl = strlen(keyword), tl = strlen(text), dl = kl + 5 + tl, pos;
    unsigned char *data, *buf;

    /* The IEND chunk is the last 12 bytes of a well-formed PNG. */
    if (len < 8 + 12 || memcmp(png, png_sig, 8) != 0 || memcmp(png + len - 8, "IEND", 4) != 0)
        return bf_err_set(err, BF_EINVAL, "image: not a PNG ending in IEND");
    data = malloc(dl);
    buf = malloc(len + 12 + dl);
    if (!data || !buf) {
        free(data);
        free(buf);
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    }
    /* keyword NUL, compression flag 0, method 0, language "" NUL, translated "" NUL, text */
    memcpy(data, keyword, kl);
    memset(data + kl, 0, 5);
    /* iTXt text runs to the end of the chunk: no terminating NUL, by the PNG spec */
    memcpy(data + kl + 5, text, tl); // NOLINT(bugprone-not-null-terminated-result)
    pos = len - 12;
    memcpy(buf, png, pos);
    chunk(buf, &pos, "iTXt", data, dl);
    memcpy(buf + pos, png + len - 12, 12);
    *out = buf;
    *outlen = pos + 12;
    free(data);
    return 0;
}
