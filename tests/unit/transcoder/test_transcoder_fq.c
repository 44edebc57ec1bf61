/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the frame queue between the filter graph and the encoder threads. */
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <pthread.h>
#include <sched.h>

#include "bf_test.h"
#include "transcoder.h"

enum { FRAMES = 200 };

struct consumer {
    struct tc_fq *q;
    int64_t seen[FRAMES];
    int n, stop_after, rc;
    bool end;
};

/* Pop until the end (or stop_after frames, then stop the queue as a failing encoder does). */
static void *consume(void *arg)
{
    struct consumer *c = arg;
    AVFrame *f;

    while ((c->rc = tc_fq_pop(c->q, &f)) == 0 && f) {
        c->seen[c->n++] = f->pts;
        av_frame_free(&f);
        if (c->n == c->stop_after) {
            tc_fq_stop(c->q, AVERROR(EINVAL));
            return NULL;
        }
    }
    c->end = c->rc == 0;
    return NULL;
}

static AVFrame *frame(int64_t pts)
{
    AVFrame *f = av_frame_alloc();

    f->pts = pts;
    return f;
}

/* Every frame arrives once, in order, through a queue much smaller than the stream. */
static void test_order_and_end(void)
{
    struct tc_fq q;
    struct consumer c = {.q = &q};
    pthread_t t;
    int bad = 0;

    CHECK(tc_fq_init(&q) == 0);
    CHECK(pthread_create(&t, NULL, consume, &c) == 0);
    for (int i = 0; i < FRAMES; i++)
        bad += tc_fq_push(&q, frame(i)) != 0;
    CHECK(tc_fq_push(&q, NULL) == 0);
    pthread_join(t, NULL);
    CHECK(bad == 0);
    CHECK(c.end);
    CHECK(c.n == FRAMES);
    for (int i = 0; i < c.n; i++)
        bad += c.seen[i] != i;
    CHECK(bad == 0);
    tc_fq_destroy(&q);
}

/* A consumer that fails unblocks a producer waiting on a full queue, with its error. */
static void test_consumer_failure_stops_producer(void)
{
    struct tc_fq q;
    struct consumer c = {.q = &q, .stop_after = 3};
    pthread_t t;
    int rc = 0, pushed = 0;

    CHECK(tc_fq_init(&q) == 0);
    CHECK(pthread_create(&t, NULL, consume, &c) == 0);
    while (rc == 0 && pushed < FRAMES)
        if ((rc = tc_fq_push(&q, frame(pushed))) == 0)
            pushed++;
    pthread_join(t, NULL);
    CHECK(rc == AVERROR(EINVAL));
    CHECK(pushed <= 3 + TC_FQ_CAP); /* bounded: it never ran ahead of the consumer */
    CHECK(c.n == 3);
    tc_fq_destroy(&q); /* frees what is still queued (ASan: no leak) */
}

/* A producer that gives up wakes a consumer waiting on an empty queue. */
static void test_producer_abort_wakes_consumer(void)
{
    struct tc_fq q;
    struct consumer c = {.q = &q};
    pthread_t t;

    CHECK(tc_fq_init(&q) == 0);
    CHECK(pthread_create(&t, NULL, consume, &c) == 0);
    CHECK(tc_fq_push(&q, frame(0)) == 0);
    tc_fq_stop(&q, AVERROR_EXIT);
    tc_fq_stop(&q, AVERROR(EIO)); /* the first error stays */
    pthread_join(t, NULL);
    CHECK(c.rc == AVERROR_EXIT);
    CHECK(!c.end);
    CHECK(tc_fq_push(&q, frame(1)) == AVERROR_EXIT);
    tc_fq_destroy(&q);
    tc_fq_destroy(&q); /* twice, and on a zeroed queue: no-ops */
    struct tc_fq zero = {0};
    tc_fq_destroy(&zero);
}

static void test_threads_capped_at_cpus(void)
{
    struct tc_limits lim;

    tc_limits_default(&lim);
    lim.threads = 1;
    CHECK(tc_codec_threads(&lim) == 1);
    lim.threads = 64;
    CHECK(tc_codec_threads(&lim) >= 1 && tc_codec_threads(&lim) <= 64);
    cpu_set_t set;
    CHECK(sched_getaffinity(0, sizeof(set), &set) == 0);
    CHECK(tc_codec_threads(&lim) == (CPU_COUNT(&set) < 64 ? CPU_COUNT(&set) : 64));
    lim.threads = 0;
    CHECK(tc_codec_threads(&lim) == 1);
}

int main(void)
{
    BF_TEST_RUN(test_order_and_end);
    BF_TEST_RUN(test_consumer_failure_stops_producer);
    BF_TEST_RUN(test_producer_abort_wakes_consumer);
    BF_TEST_RUN(test_threads_capped_at_cpus);
    return BF_TEST_DONE();
}
