/* SPDX-License-Identifier: Apache-2.0 */
/* A very small unit-test harness: checks count failures, main returns their number. */
#ifndef BF_TEST_H
#define BF_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bf_test_failures;
static int bf_test_checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        bf_test_checks++;                                                                          \
        if (!(cond)) {                                                                             \
            bf_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        bf_test_checks++;                                                                          \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                                     \
            bf_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s = \"%s\", expected \"%s\"\n", __FILE__,   \
                    __LINE__, #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                         \
        }                                                                                          \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        bf_test_checks++;                                                                          \
        if (h_ == NULL || strstr(h_, n_) == NULL) {                                                \
            bf_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,         \
                    h_ ? h_ : "(null)", n_);                                                       \
        }                                                                                          \
    } while (0)

/*
 * A part that needs the real stack cannot run (its addresses are not in the environment):
 * a skip on a developer's machine, a failure in CI (CI set), where it must run.
 */
static inline void bf_test_skip(const char *what)
{
    if (getenv("CI")) {
        bf_test_failures++;
        fprintf(stderr, "FAIL: %s: not run, and CI must run it\n", what);
        return;
    }
    fprintf(stderr, "skip %s\n", what);
}

#define BF_TEST_RUN(fn)                                                                            \
    do {                                                                                           \
        int before_ = bf_test_failures;                                                            \
        fn();                                                                                      \
        fprintf(stderr, "%s %s\n", bf_test_failures == before_ ? "ok  " : "FAIL", #fn);            \
    } while (0)

#define BF_TEST_DONE()                                                                             \
    (fprintf(stderr, "%d checks, %d failed\n", bf_test_checks, bf_test_failures),                  \
     bf_test_failures ? 1 : 0)

#endif
