/* SPDX-License-Identifier: Apache-2.0 */
/* Document type sniffing by magic bytes: PDF, OOXML and ODF zips, plain UTF-8 text. */
#include <string.h>

#include "transcoder.h"

/* A zip local file header: "PK\3\4", name length at 26, extra length at 28, name at 30. */
static bool zip_first_name(const unsigned char *b, size_t n, const char **name, size_t *len)
{
    if (n < 30 || memcmp(b, "PK\3\4", 4) != 0)
        return false;
    *len = (size_t)b[26] | (size_t)b[27] << 8;
    *name = (const char *)b + 30;
    return 30 + *len <= n;
}

/* True if the zip's first bytes name an entry "[Content_Types].xml" (OOXML's marker; Office
 * writes it first, other writers early: the sniffed window is searched). */
static bool has_content_types(const unsigned char *b, size_t n)
{
    static const char m[] = "[Content_Types].xml";

    return memmem(b, n, m, sizeof(m) - 1) != NULL;
}

/* ODF: the first entry is "mimetype", stored, its content the media type. */
static bool odf_type(const unsigned char *b, size_t n, struct tc_sniff *out)
{
    static const struct {
        const char *mime, *ext;
    } odf[] = {{"application/vnd.oasis.opendocument.text", "odt"},
               {"application/vnd.oasis.opendocument.spreadsheet", "ods"},
               {"application/vnd.oasis.opendocument.presentation", "odp"}};
    const char *name;
    size_t len, extra;

    if (!zip_first_name(b, n, &name, &len) || len != 8 || memcmp(name, "mimetype", 8) != 0)
        return false;
    extra = (size_t)b[28] | (size_t)b[29] << 8;
    for (size_t i = 0; i < sizeof(odf) / sizeof(odf[0]); i++) {
        size_t ml = strlen(odf[i].mime), at = 30 + len + extra;
        if (at + ml <= n && memcmp(b + at, odf[i].mime, ml) == 0) {
            *out = (struct tc_sniff){odf[i].mime, "odf", odf[i].ext};
            return true;
        }
    }
    return false;
}

static void ooxml_type(const unsigned char *b, size_t n, struct tc_sniff *out)
{
    if (memmem(b, n, "word/", 5))
        *out = (struct tc_sniff){
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "ooxml",
            "docx"};
    else if (memmem(b, n, "xl/", 3))
        *out = (struct tc_sniff){
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "ooxml", "xlsx"};
    else if (memmem(b, n, "ppt/", 4))
        *out = (struct tc_sniff){
            "application/vnd.openxmlformats-officedocument.presentationml.presentation", "ooxml",
            "pptx"};
}

void tc_sniff_document(const unsigned char *buf, size_t n, bool whole, struct tc_sniff *out)
{
    *out = (struct tc_sniff){NULL, NULL, NULL};
    if (n >= 5 && memcmp(buf, "%PDF-", 5) == 0)
        *out = (struct tc_sniff){"application/pdf", "pdf", "pdf"};
    else if (odf_type(buf, n, out))
        return;
    else if (n >= 4 && memcmp(buf, "PK\3\4", 4) == 0 && has_content_types(buf, n))
        ooxml_type(buf, n, out);
    else if (whole && n > 0 && tc_utf8_text(buf, n))
        *out = (struct tc_sniff){"text/plain; charset=utf-8", "text", "txt"};
}

/* Length of the UTF-8 sequence starting at b (valid, shortest form, no surrogates), or 0. */
static size_t utf8_seq(const unsigned char *b, size_t n)
{
    size_t len = b[0] < 0x80                    ? 1
                 : b[0] >= 0xc2 && b[0] <= 0xdf ? 2
                 : (b[0] & 0xf0) == 0xe0        ? 3
                 : b[0] >= 0xf0 && b[0] <= 0xf4 ? 4
                                                : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((b[i] & 0xc0) != 0x80)
            return 0;
    if (len == 3 && ((b[0] == 0xe0 && b[1] < 0xa0) || (b[0] == 0xed && b[1] >= 0xa0)))
        return 0;
    if (len == 4 && ((b[0] == 0xf0 && b[1] < 0x90) || (b[0] == 0xf4 && b[1] >= 0x90)))
        return 0;
    return len;
}

bool tc_utf8_text(const unsigned char *buf, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq(buf + i, n - i);
        if (len == 0)
            return false;
        if (len == 1 && buf[i] < 0x20 && (buf[i] == 0 || !strchr("\t\n\r\f", buf[i])))
            return false;
        i += len;
    }
    return true;
}
