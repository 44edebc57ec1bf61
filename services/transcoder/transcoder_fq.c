/* SPDX-License-Identifier: Apache-2.0 */
/* A bounded queue of AVFrame refs between the filter graph's thread and one encoder thread. */
#include <libavutil/frame.h>
#include <sched.h>

#include "transcoder.h"

/* Bounded: a slow encoder makes the decoder wait instead of the worker buffering decoded
 * pictures without limit (1080p yuv420p is 3 MB a frame). */
int tc_fq_init(struct tc_fq *q)
{
    *q = (struct tc_fq){0};
    if (pthread_mutex_init(&q->mu, NULL) != 0)
        return -BF_EIO;
    if (pthread_cond_init(&q->cv, NULL) != 0) {
        pthread_mutex_destroy(&q->mu);
        return -BF_EIO;
    }
    q->ready = true;
    return 0;
}

void tc_fq_destroy(struct tc_fq *q)
{
    if (!q->ready)
        return;
    while (q->n > 0) {
        av_frame_free(&q->f[q->head]);
        q->head = (q->head + 1) % TC_FQ_CAP;
        q->n--;
    }
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    q->ready = false;
}

/* Takes f (NULL: end of stream). Waits while the queue is full; returns the consumer's
 * error instead once it stopped, and then frees f itself. */
int tc_fq_push(struct tc_fq *q, AVFrame *f)
{
    int rc;

    pthread_mutex_lock(&q->mu);
    while (q->n == TC_FQ_CAP && q->err == 0)
        pthread_cond_wait(&q->cv, &q->mu);
    rc = q->err;
    if (rc == 0) {
        q->f[(q->head + q->n) % TC_FQ_CAP] = f;
        q->n++;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    if (rc != 0)
        av_frame_free(&f);
    return rc;
}

/* The next frame into *f (NULL at the end of stream): 0, or the error the queue was
 * stopped with. */
int tc_fq_pop(struct tc_fq *q, AVFrame **f)
{
    int rc;

    pthread_mutex_lock(&q->mu);
    while (q->n == 0 && q->err == 0)
        pthread_cond_wait(&q->cv, &q->mu);
    rc = q->err;
    if (rc == 0) {
        *f = q->f[q->head];
        q->head = (q->head + 1) % TC_FQ_CAP;
        q->n--;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

/* Stop both sides with err (< 0): the producer's next push and the consumer's next pop
 * return it. The first error stays. */
void tc_fq_stop(struct tc_fq *q, int err)
{
    pthread_mutex_lock(&q->mu);
    if (q->err == 0)
        q->err = err < 0 ? err : -BF_EIO;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* The CPUs this process may run on (affinity mask, so a container's cpuset counts). */
static int cpus(void)
{
    cpu_set_t set;
    int n;

    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return 1;
    n = CPU_COUNT(&set);
    return n > 0 ? n : 1;
}

int tc_codec_threads(const struct tc_limits *lim)
{
    int n = cpus();

    return lim->threads < 1 ? 1 : lim->threads < n ? lim->threads : n;
}
