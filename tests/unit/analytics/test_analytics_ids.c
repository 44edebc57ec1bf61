/* SPDX-License-Identifier: Apache-2.0 */
/* Pseudonyms and deterministic ids against vectors computed independently with Python. */
#include <string.h>

#include "analytics.h"
#include "bf_test.h"

#define KEY  "test-pseudonym-key-0123456789abcdef"
#define EVID "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"

/*
 * python3 -c 'import hmac,hashlib; K=b"test-pseudonym-key-0123456789abcdef";
 *   print(hmac.new(K, b"educator/district-a/edu-42", hashlib.sha256).hexdigest())'
 */
#define PSEUDO_EDU_A "b827a6e144aa037500d569967fb3e368f2392a83bc1885e897233faf4003ebf7"
/* ... of b"educator/district-b/edu-42": the same id in another tenant is another person. */
#define PSEUDO_EDU_B "d611313a4cfb936f51355008fc6782a795fdffc5dd480b9a21891b1e0797dd6a"
/* ... of b"assessor//an-assessor-1": assessors are pseudonymised without a tenant. */
#define PSEUDO_ASR "2797ee1e6889a16df95a06d8040b18cc73cac807608e279206f4272777b955d6"

static void test_pseudonym_vectors(void)
{
    char out[AN_PSEUDONYM_LEN + 1];

    CHECK(an_pseudonym(KEY, "educator", "district-a", "edu-42", out) == 0);
    CHECK_STR(out, PSEUDO_EDU_A);
    CHECK(an_pseudonym(KEY, "educator", "district-b", "edu-42", out) == 0);
    CHECK_STR(out, PSEUDO_EDU_B);
    CHECK(an_pseudonym(KEY, "assessor", "", "an-assessor-1", out) == 0);
    CHECK_STR(out, PSEUDO_ASR);
    CHECK(an_pseudonym(KEY, "assessor", NULL, "an-assessor-1", out) == 0);
    CHECK_STR(out, PSEUDO_ASR);
}

static void test_pseudonym_key_matters(void)
{
    char a[AN_PSEUDONYM_LEN + 1], b[AN_PSEUDONYM_LEN + 1];

    CHECK(an_pseudonym(KEY, "educator", "district-a", "edu-42", a) == 0);
    CHECK(an_pseudonym(KEY "x", "educator", "district-a", "edu-42", b) == 0);
    CHECK(strcmp(a, b) != 0);
    CHECK(strlen(a) == AN_PSEUDONYM_LEN);
    /* no key, no pseudonym (never a plain hash that guesses could reverse) */
    CHECK(an_pseudonym("", "educator", "district-a", "edu-42", a) == -BF_EINVAL);
    CHECK(an_pseudonym(NULL, "educator", "district-a", "edu-42", a) == -BF_EINVAL);
}

static void test_pseudonym_too_long(void)
{
    char id[600], out[AN_PSEUDONYM_LEN + 1];

    memset(id, 'x', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    CHECK(an_pseudonym(KEY, "educator", "t", id, out) == -BF_EINVAL);
}

/*
 * import uuid; NS = uuid.UUID("5c0d3f4e-7b1a-5e2c-9d48-a61f0b3c7e95")
 * uuid.uuid5(NS, EVID), uuid.uuid5(NS, EVID + "/registered")
 */
static void test_statement_ids(void)
{
    char a[BF_UUID_STRLEN + 1], a2[BF_UUID_STRLEN + 1], r[BF_UUID_STRLEN + 1];

    CHECK(an_statement_id(EVID, NULL, a) == 0);
    CHECK_STR(a, "60ae0340-fd0e-53de-a53e-b9ed0089ddc7");
    CHECK(an_statement_id(EVID, NULL, a2) == 0); /* stable: a replay gives the same id */
    CHECK_STR(a2, a);
    CHECK(an_statement_id(EVID, "registered", r) == 0);
    CHECK_STR(r, "df0d3404-a7da-5a69-a040-85d49c2ce7e2");
    CHECK(strcmp(a, r) != 0); /* distinct per step of one event */
    CHECK(an_statement_id("3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e60", NULL, a2) == 0);
    CHECK(strcmp(a, a2) != 0);
    CHECK(an_statement_id("not-a-uuid", NULL, a) == -BF_EINVAL);
}

/* uuid.uuid5(NS, "registration/" + PSEUDO_EDU_A + "/cl.cultivating-a-shared-purpose/1") */
static void test_registration(void)
{
    char one[BF_UUID_STRLEN + 1], two[BF_UUID_STRLEN + 1];

    CHECK(an_registration(PSEUDO_EDU_A, "cl.cultivating-a-shared-purpose", 1, one) == 0);
    CHECK_STR(one, "1e45a8f8-4279-5ee4-a59c-24fbf1bc443a");
    CHECK(an_registration(PSEUDO_EDU_A, "cl.cultivating-a-shared-purpose", 2, two) == 0);
    CHECK_STR(two, "40510f4a-f8a5-5542-8b83-e299bb41b9ba");
}

int main(void)
{
    BF_TEST_RUN(test_pseudonym_vectors);
    BF_TEST_RUN(test_pseudonym_key_matters);
    BF_TEST_RUN(test_pseudonym_too_long);
    BF_TEST_RUN(test_statement_ids);
    BF_TEST_RUN(test_registration);
    return BF_TEST_DONE();
}
