/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of seal.c: values sealed by the services' earlier code still open; refusals. */
#include "badgeflow/seal.h"
#include "bf_test.h"

#define KEK_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

/*
 * Known answers, sealed under KEK_HEX by each service's own code before seal.c existed
 * (gw_secret_seal, notifier_secret_seal, issuer_seal), checked with Python's AESGCM too.
 * They are what the databases hold: if one stops opening, stored secrets are lost.
 */
/* gateway: V1, no AAD, plaintext "whsec_MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1u" */
static const char GW_V1[] =
    "01c87cba7ad8d0bf6ed2b7332abf03c67a9489b8500c25fb061be74580aee69aba0d9a5c9e922be28e27723115"
    "663174227c8eee09ec5e1637a216a32748e44789af28";
/* notifier: V1, no AAD, plaintext "whsec_" + base64 of the bytes 0xa0..0xbf */
static const char NOTIFIER_V1[] =
    "01a3a2c720bd0dfbcf8a8e11a012b075149921a3fc014ee4a05c125599721872cb20b779230411e72a9ca4ff99"
    "966871bf7edec5bb0a073f14c4407e65ec827ff85a9774f67d0141b9e1c1452193f0";
/* issuer: BARE, AAD "kid-1", plaintext "secret" */
static const char ISSUER_6[] =
    "2f9daa8b28d6234e31d149c5e515e64f6e2f00e7239b3600c32f516d571c27dbcf49";
/* issuer: BARE, AAD "wake.es256.0123456789ab", plaintext bytes (i * 7) & 0xff, i < 100 */
static const char ISSUER_100[] =
    "b81bfc6be46f484a898e858857e1e8a38b7631e698e0fd534c6dfbb90fe597acbc3d4ed28b074a24471158441935"
    "f8bdda76db04e94f7583106da5430c0689caeba2b87ba74ecc8f4c1fece3e98418ada8ea712358c407211b63ea5f"
    "11bdf473464afeb0a50925ac4be5a0be01797bd068967e8bd7ece800cd88ca1981455640";
/* issuer: BARE, AAD "kid-0", empty plaintext */
static const char ISSUER_0[] = "5e5cd2f26e63c8d1e45aa6b1eacc56cb846b5714ec40c1a5e4cde377";

static size_t unhex(const char *hex, unsigned char *out)
{
    size_t n = strlen(hex) / 2;

    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;

        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (unsigned char)v;
    }
    return n;
}

static void kek(unsigned char k[BF_SEAL_KEK_LEN])
{
    struct bf_err err = {0};

    CHECK(bf_seal_kek_parse(KEK_HEX, k, &err) == 0);
}

/* Open vector hex (fmt, aad) under KEK_HEX into out; its length, or -1 with err.msg shown. */
static long open_vec(const char *hex, enum bf_seal_fmt fmt, const char *aad, unsigned char *out)
{
    unsigned char k[BF_SEAL_KEK_LEN], sealed[256];
    struct bf_err err = {0};
    size_t n = unhex(hex, sealed), len = 0;

    kek(k);
    if (bf_seal_open(k, fmt, aad, sealed, n, out, 256, &len, &err) < 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        return -1;
    }
    return (long)len;
}

static void test_known_answers(void)
{
    static const char gw[] = "whsec_MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1u";
    static const char nf[] = "whsec_oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8=";
    unsigned char out[256], want[100];

    CHECK(open_vec(GW_V1, BF_SEAL_V1, NULL, out) == (long)strlen(gw));
    CHECK(memcmp(out, gw, strlen(gw)) == 0);
    CHECK(open_vec(GW_V1, BF_SEAL_V1, "", out) == (long)strlen(gw)); /* "" is no AAD */
    CHECK(open_vec(NOTIFIER_V1, BF_SEAL_V1, NULL, out) == (long)strlen(nf));
    CHECK(memcmp(out, nf, strlen(nf)) == 0);
    CHECK(open_vec(ISSUER_6, BF_SEAL_BARE, "kid-1", out) == 6);
    CHECK(memcmp(out, "secret", 6) == 0);
    for (int i = 0; i < 100; i++)
        want[i] = (unsigned char)(i * 7);
    CHECK(open_vec(ISSUER_100, BF_SEAL_BARE, "wake.es256.0123456789ab", out) == 100);
    CHECK(memcmp(out, want, 100) == 0);
    CHECK(open_vec(ISSUER_0, BF_SEAL_BARE, "kid-0", out) == 0);
}

/* sealed (n bytes) must be refused with code, the message containing what. */
static void refused(const unsigned char *sealed, size_t n, enum bf_seal_fmt fmt, const char *aad,
                    const unsigned char *k, int code, const char *what)
{
    unsigned char out[256];
    struct bf_err err = {0};
    size_t len = 12345;

    CHECK(bf_seal_open(k, fmt, aad, sealed, n, out, sizeof(out), &len, &err) == -code);
    CHECK(err.code == code);
    CHECK_CONTAINS(err.msg, what);
    CHECK(len == 12345); /* nothing claimed opened */
}

static void test_refusals(void)
{
    unsigned char k[BF_SEAL_KEK_LEN], other[BF_SEAL_KEK_LEN], v1[256], bare[256];
    size_t n1 = unhex(GW_V1, v1), nb = unhex(ISSUER_6, bare);
    const char *denied = "does not open";

    kek(k);
    memcpy(other, k, sizeof(other));
    other[31] ^= 0x80;
    refused(v1, n1, BF_SEAL_V1, NULL, other, BF_EDENIED, denied);        /* wrong key */
    refused(bare, nb, BF_SEAL_BARE, "kid-1", other, BF_EDENIED, denied); /* wrong key */
    refused(bare, nb, BF_SEAL_BARE, "kid-2", k, BF_EDENIED, denied);     /* wrong AAD */
    refused(bare, nb, BF_SEAL_BARE, NULL, k, BF_EDENIED, denied);        /* AAD left out */
    refused(v1, n1, BF_SEAL_V1, "kid-1", k, BF_EDENIED, denied);         /* AAD added */
    refused(v1, n1 - 1, BF_SEAL_V1, NULL, k, BF_EDENIED, denied);        /* one byte cut */
    refused(v1, 28, BF_SEAL_V1, NULL, k, BF_EINVAL, "shorter");          /* cut to nothing */
    refused(bare, 27, BF_SEAL_BARE, "kid-1", k, BF_EINVAL, "shorter");
    refused(v1, n1, BF_SEAL_BARE, NULL, k, BF_EDENIED, denied); /* read in the wrong layout */
    for (size_t i = 0; i < n1; i++) { /* every single altered byte: version, nonce, text, tag */
        v1[i] ^= 0x01;
        refused(v1, n1, BF_SEAL_V1, NULL, k, i == 0 ? BF_EINVAL : BF_EDENIED,
                i == 0 ? "format version 0, expected 1" : denied);
        v1[i] ^= 0x01;
    }
    for (size_t i = 0; i < nb; i++) {
        bare[i] ^= 0x40;
        refused(bare, nb, BF_SEAL_BARE, "kid-1", k, BF_EDENIED, denied);
        bare[i] ^= 0x40;
    }
}

static void test_round_trip(void)
{
    unsigned char k[BF_SEAL_KEK_LEN], a[64 + BF_SEAL_OVERHEAD(BF_SEAL_V1)], b[sizeof(a)], out[64];
    struct bf_err err = {0};
    size_t na = 0, nb = 0, no = 0;

    kek(k);
    CHECK(BF_SEAL_OVERHEAD(BF_SEAL_V1) == 29 && BF_SEAL_OVERHEAD(BF_SEAL_BARE) == 28);
    CHECK(bf_seal(k, BF_SEAL_V1, NULL, "whsec_x", 7, a, sizeof(a), &na, &err) == 0);
    CHECK(bf_seal(k, BF_SEAL_V1, NULL, "whsec_x", 7, b, sizeof(b), &nb, &err) == 0);
    CHECK(na == 36 && nb == 36 && a[0] == 1);
    CHECK(memcmp(a + 1, b + 1, BF_SEAL_NONCE_LEN) != 0); /* a fresh nonce each time */
    CHECK(bf_seal_open(k, BF_SEAL_V1, NULL, a, na, out, sizeof(out), &no, &err) == 0);
    CHECK(no == 7 && memcmp(out, "whsec_x", 7) == 0);
    CHECK(bf_seal(k, BF_SEAL_BARE, "kid", "der", 3, a, sizeof(a), &na, &err) == 0 && na == 31);
    CHECK(bf_seal_open(k, BF_SEAL_BARE, "kid", a, na, out, sizeof(out), &no, &err) == 0);
    CHECK(no == 3 && memcmp(out, "der", 3) == 0);
    CHECK(bf_seal_open(k, BF_SEAL_BARE, "kid", a, na, out, 2, &no, &err) == -BF_ETOOBIG);
    CHECK_CONTAINS(err.msg, "opens to 3 bytes, over the 2 expected");
    CHECK(bf_seal(k, BF_SEAL_V1, NULL, "whsec_x", 7, a, 35, &na, &err) == -BF_EINTERNAL);
    CHECK_CONTAINS(err.msg, "needs 36 bytes of output, has 35");
}

static void test_kek_parse(void)
{
    unsigned char k[BF_SEAL_KEK_LEN], want[BF_SEAL_KEK_LEN];
    struct bf_err err = {0};

    for (int i = 0; i < BF_SEAL_KEK_LEN; i++)
        want[i] = (unsigned char)i;
    CHECK(bf_seal_kek_parse(KEK_HEX, k, &err) == 0 && memcmp(k, want, sizeof(k)) == 0);
    CHECK(bf_seal_kek_parse("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", k,
                            &err) == 0 &&
          memcmp(k, want, sizeof(k)) == 0);
    CHECK(bf_seal_kek_parse("00", k, &err) == -BF_EINVAL);
    CHECK_CONTAINS(err.msg, "must be 64 hex digits (openssl rand -hex 32), not 2");
    CHECK(bf_seal_kek_parse(NULL, k, &err) == -BF_EINVAL);
    CHECK(bf_seal_kek_parse("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1eQZ", k,
                            &err) == -BF_EINVAL);
    CHECK_STR(err.msg, "must be hex digits only (character 63 is not)"); /* no key text */
    CHECK(bf_seal_kek_parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", k, &err) == -BF_EINVAL);
    memset(k, 0, sizeof(k));
    CHECK(bf_seal_kek_parse_any("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", k, &err) == 0);
    CHECK(memcmp(k, want, sizeof(k)) == 0);
    CHECK(bf_seal_kek_parse_any(KEK_HEX, k, &err) == 0 && memcmp(k, want, sizeof(k)) == 0);
    CHECK(bf_seal_kek_parse_any("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", k, &err) ==
          -BF_EINVAL);
    CHECK_CONTAINS(err.msg, "64 hex digits or 44 base64 characters");
    CHECK(bf_seal_kek_parse_any("", k, &err) == -BF_EINVAL);
}

int main(void)
{
    BF_TEST_RUN(test_known_answers);
    BF_TEST_RUN(test_refusals);
    BF_TEST_RUN(test_round_trip);
    BF_TEST_RUN(test_kek_parse);
    return BF_TEST_DONE();
}
