/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the transcoder's document sniffing, UTF-8 check, words and store keys. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bf_test.h"
#include "transcoder.h"

static void sniff(const char *buf, size_t n, bool whole, struct tc_sniff *out)
{
    tc_sniff_document((const unsigned char *)buf, n, whole, out);
}

static void test_pdf_and_text(void)
{
    struct tc_sniff s;

    sniff("%PDF-1.7\n...", 12, true, &s);
    CHECK_STR(s.content_type, "application/pdf");
    sniff("Plain words, caf\xc3\xa9.\n", 20, true, &s);
    CHECK_STR(s.container, "text");
    sniff("Plain words", 11, false, &s); /* only the start seen: not provably text */
    CHECK(s.content_type == NULL);
    sniff("bad \xc3\x28 utf8", 12, true, &s);
    CHECK(s.content_type == NULL);
    sniff("nul\0inside", 10, true, &s);
    CHECK(s.content_type == NULL);
    sniff("\x7f"
          "ELF\x02\x01",
          6, true, &s);
    CHECK(s.content_type == NULL);
}

/* A zip whose first entry is name with content data (stored). */
static size_t zip(char *out, const char *name, const char *data)
{
    size_t nl = strlen(name), dl = strlen(data);

    memset(out, 0, 30);
    memcpy(out, "PK\3\4", 4);
    out[26] = (char)nl;
    memcpy(out + 30, name, nl);
    memcpy(out + 30 + nl, data, dl);
    return 30 + nl + dl;
}

static void test_office(void)
{
    char buf[256];
    struct tc_sniff s;
    size_t n = zip(buf, "mimetype", "application/vnd.oasis.opendocument.text");

    sniff(buf, n, true, &s);
    CHECK_STR(s.ext, "odt");
    n = zip(buf, "[Content_Types].xml", "<Types/>word/document.xml");
    sniff(buf, n, true, &s);
    CHECK_STR(s.ext, "docx");
    n = zip(buf, "evil.txt", "hello"); /* a zip, but no office document */
    sniff(buf, n, true, &s);
    CHECK(s.content_type == NULL);
}

static void test_utf8(void)
{
    CHECK(tc_utf8_text((const unsigned char *)"tab\tnew\nline", 12));
    CHECK(!tc_utf8_text((const unsigned char *)"\xed\xa0\x80", 3)); /* a surrogate */
    CHECK(!tc_utf8_text((const unsigned char *)"\xc0\xaf", 2));     /* overlong */
    CHECK(!tc_utf8_text((const unsigned char *)"\xe2\x82", 2));     /* cut short */
    CHECK(tc_utf8_text((const unsigned char *)"\xf0\x9f\x98\x80", 4));
}

static void test_words(void)
{
    char w[64];

    tc_duration_words(1200000, w);
    CHECK_STR(w, "20 minutes");
    tc_duration_words(330000, w);
    CHECK_STR(w, "5 minutes 30 seconds");
    tc_duration_words(4000, w);
    CHECK_STR(w, "4 seconds");
    tc_duration_words(60000, w);
    CHECK_STR(w, "1 minute");
}

static void test_keys(void)
{
    char a[64], b[64];

    tc_item_prefix("t", "s:1", "i", a);
    tc_item_prefix("t", "s:1", "i", b);
    CHECK_STR(a, b);
    CHECK(strncmp(a, "ev/", 3) == 0 && strlen(a) == 3 + 2 + 1 + 30 && !strchr(a, ':'));
    tc_item_prefix("ts", ":1", "i", b); /* the separators keep concatenations apart */
    CHECK(strcmp(a, b) != 0);
}

static void test_store_is_atomic(void)
{
    char root[] = "/tmp/tc-store-XXXXXX", src[300], got[300];
    struct bf_err err = {0};
    struct tc_store *st;
    size_t len = 0;
    char *buf;
    FILE *f;

    CHECK(mkdtemp(root) != NULL);
    st = tc_store_local_new(root, &err);
    CHECK(st != NULL);
    if (!st)
        return;
    snprintf(src, sizeof(src), "%s/src", root);
    f = fopen(src, "w");
    fputs("rendition", f);
    fclose(f);
    CHECK(!st->exists(st, "ev/aa/x/720p.mp4"));
    CHECK(st->put(st, "ev/aa/x/720p.mp4", src, &err) == 0);
    CHECK(st->exists(st, "ev/aa/x/720p.mp4"));
    buf = st->get(st, "ev/aa/x/720p.mp4", 100, &len);
    CHECK_STR(buf, "rendition");
    free(buf);
    snprintf(got, sizeof(got), "%s/missing", root);
    CHECK(st->put(st, "ev/aa/x/360p.mp4", got, &err) < 0); /* no half-written 360p left */
    CHECK(!st->exists(st, "ev/aa/x/360p.mp4"));
    st->free(st);
    snprintf(got, sizeof(got), "%s/ev/aa/x/720p.mp4", root);
    CHECK(unlink(got) == 0 && unlink(src) == 0);
    static const char *const dirs[] = {"/ev/aa/x", "/ev/aa", "/ev", ""};
    for (size_t i = 0; i < 4; i++) {
        snprintf(got, sizeof(got), "%s%s", root, dirs[i]);
        CHECK(rmdir(got) == 0); /* nothing else (no temp file) was left behind */
    }
}

int main(void)
{
    BF_TEST_RUN(test_pdf_and_text);
    BF_TEST_RUN(test_office);
    BF_TEST_RUN(test_utf8);
    BF_TEST_RUN(test_words);
    BF_TEST_RUN(test_keys);
    BF_TEST_RUN(test_store_is_atomic);
    return BF_TEST_DONE();
}
