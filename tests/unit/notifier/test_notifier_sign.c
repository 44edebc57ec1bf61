/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the notifier's pure parts: signatures, sealed secrets, back-off, the body. */
#include <stdlib.h>
#include <string.h>

#include "bf_test.h"
#include "notifier.h"

/* The Standard Webhooks reference vector (standard-webhooks/standard-webhooks, libraries'
 * tests): secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, id msg_p5jXN8AQM9LWM0D4loKWxJek,
 * timestamp 1614265330, body {"test": 2432232314}. */
static void test_sign_reference_vector(void)
{
    unsigned char s[NOTIFIER_SECRET_MAX];
    size_t len = 0;
    char sig[128];
    const char *body = "{\"test\": 2432232314}";
    struct bf_err err = {0};

    CHECK(notifier_secret_decode("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", s, &len, &err) == 0);
    CHECK(len == 24);
    notifier_sign_one(s, len, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body), sig,
                      sizeof(sig));
    CHECK_STR(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

static void test_sign_rotation_lists_both(void)
{
    unsigned char a[32], b[32];
    char both[256], one[128];

    memset(a, 'a', sizeof(a));
    memset(b, 'b', sizeof(b));
    notifier_sign(a, 32, b, 32, "id1", 1700000000, "{}", 2, both, sizeof(both));
    notifier_sign_one(a, 32, "id1", 1700000000, "{}", 2, one, sizeof(one));
    CHECK(strncmp(both, one, strlen(one)) == 0);
    CHECK(both[strlen(one)] == ' ');
    notifier_sign_one(b, 32, "id1", 1700000000, "{}", 2, one, sizeof(one));
    CHECK_STR(strchr(both, ' ') + 1, one);
    notifier_sign(a, 32, NULL, 0, "id1", 1700000000, "{}", 2, both, sizeof(both));
    CHECK(strchr(both, ' ') == NULL);
}

static void test_secret_seal_open(void)
{
    unsigned char kek[NOTIFIER_KEK_LEN], other[NOTIFIER_KEK_LEN], s[NOTIFIER_SECRET_MAX];
    unsigned char sealed[NOTIFIER_SEALED_MAX], out[NOTIFIER_SECRET_MAX];
    size_t len = 0, olen = 0, sl = 0;
    struct bf_err err = {0};

    CHECK(notifier_kek_parse("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                             kek, &err) == 0);
    CHECK(notifier_kek_parse("00", other, &err) == -BF_EINVAL);
    CHECK(notifier_kek_parse("zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                             other, &err) == -BF_EINVAL);
    CHECK(notifier_secret_generate(s, &len) == 0 && len == 32);
    CHECK(notifier_secret_seal(kek, s, len, sealed, &sl, &err) == 0);
    CHECK(sealed[0] == 1 && sl == NOTIFIER_SEAL_OVERHEAD + 6 + 44); /* whsec_ + base64(32) */
    CHECK(notifier_secret_open(kek, sealed, sl, out, &olen, &err) == 0);
    CHECK(olen == len && memcmp(out, s, len) == 0);
    memcpy(other, kek, sizeof(other));
    other[0] ^= 1;
    CHECK(notifier_secret_open(other, sealed, sl, out, &olen, &err) == -BF_EINVAL);
    sealed[0] = 2; /* another format version */
    CHECK(notifier_secret_open(kek, sealed, sl, out, &olen, &err) == -BF_EINVAL);
    sealed[0] = 1;
    sealed[20] ^= 1; /* tampered ciphertext */
    CHECK(notifier_secret_open(kek, sealed, sl, out, &olen, &err) == -BF_EINVAL);
    CHECK(notifier_secret_seal(kek, s, 8, sealed, &sl, &err) == -BF_EINVAL);
    CHECK(notifier_secret_open(kek, sealed, 10, out, &olen, &err) == -BF_EINVAL);
}

static void test_secret_text_form(void)
{
    unsigned char s[NOTIFIER_SECRET_MAX], back[NOTIFIER_SECRET_MAX];
    size_t len = 0, blen = 0;
    char text[128];
    struct bf_err err = {0};

    CHECK(notifier_secret_generate(s, &len) == 0);
    notifier_secret_encode(s, len, text, sizeof(text));
    CHECK(strncmp(text, "whsec_", 6) == 0);
    CHECK(notifier_secret_decode(text, back, &blen, &err) == 0);
    CHECK(blen == len && memcmp(s, back, len) == 0);
    CHECK(notifier_secret_decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", back, &blen, &err) < 0);
    CHECK(notifier_secret_decode("whsec_c2hvcnQ=", back, &blen, &err) < 0); /* too short */
    CHECK(notifier_secret_decode("whsec_!!!!", back, &blen, &err) < 0);
}

static void test_backoff(void)
{
    CHECK(notifier_backoff_ms(1, 1000, 60000, 0.0) == 500);
    CHECK(notifier_backoff_ms(1, 1000, 60000, 0.999) >= 999);
    CHECK(notifier_backoff_ms(3, 1000, 60000, 0.0) == 2000);
    CHECK(notifier_backoff_ms(40, 1000, 60000, 0.0) == 30000);
    CHECK(notifier_backoff_ms(40, 1000, 60000, 0.99) <= 60000);
    for (int a = 1; a < 60; a++) {
        int64_t d = notifier_backoff_ms(a, 5000, 4 * 3600 * 1000LL, 0.5);
        CHECK(d >= 2500 && d <= 4 * 3600 * 1000LL);
    }
}

static void test_body_is_cloudevents(void)
{
    json_t *data = json_pack("{ssss}", "tenant_id", "t1", "submission_id", "s1");
    char *b = notifier_body("e1", "/badgeflow/scorer", "org.badgeflow.decision.made.v1", "s1",
                            "2026-11-23T16:05:00.123Z", data);

    CHECK_STR(b, "{\"specversion\":\"1.0\",\"id\":\"e1\",\"source\":\"/badgeflow/scorer\","
                 "\"type\":\"org.badgeflow.decision.made.v1\",\"subject\":\"s1\","
                 "\"time\":\"2026-11-23T16:05:00.123Z\",\"datacontenttype\":\"application/json\","
                 "\"data\":{\"tenant_id\":\"t1\",\"submission_id\":\"s1\"}}");
    free(b);
    b = notifier_body("e2", "/x", "t", NULL, "2026-11-23T16:05:00Z", data);
    CHECK(b && strstr(b, "subject") == NULL);
    free(b);
    json_decref(data);
}

int main(void)
{
    BF_TEST_RUN(test_sign_reference_vector);
    BF_TEST_RUN(test_sign_rotation_lists_both);
    BF_TEST_RUN(test_secret_seal_open);
    BF_TEST_RUN(test_secret_text_form);
    BF_TEST_RUN(test_backoff);
    BF_TEST_RUN(test_body_is_cloudevents);
    return BF_TEST_DONE();
}
