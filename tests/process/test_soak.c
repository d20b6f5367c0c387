/* test_soak.c: a multi-threaded soak of the malloc API (issue 6): 4 threads doing random malloc,
 * calloc, realloc and free for ARC_SOAK_SECONDS (default 60), a share of blocks freed by another
 * thread, every block's content checked. Linked -larcalloc; never touches allocator internals. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define THREADS         4
#define SLOTS           2048 /* live blocks a thread keeps at most */
#define MAILBOX         1024 /* blocks waiting for another thread to free them */
#define DEFAULT_SECONDS 60
/* Sizes: biased small. Of 100 draws, SMALL_SHARE are 1..SMALL_MAX, MEDIUM_SHARE up to
 * MEDIUM_MAX, the rest up to LARGE_MAX (256 KiB, past the large-block threshold of 128 KiB). */
#define SMALL_MAX    256
#define MEDIUM_MAX   4096
#define LARGE_MAX    ((size_t)256 << 10)
#define SMALL_SHARE  80
#define MEDIUM_SHARE 16
/* One free in CROSS_SHARE of 100 goes to another thread's mailbox. */
#define CROSS_SHARE 25
/* The clock is read once every CLOCK_EVERY operations. */
#define CLOCK_EVERY 256

typedef struct block {
    unsigned char *p;
    size_t size;
} block_t;

typedef struct mailbox {
    pthread_mutex_t lock;
    size_t count;
    block_t items[MAILBOX];
} mailbox_t;

typedef struct worker {
    unsigned index;
    check_rng_t rng;
    block_t live[SLOTS];
    size_t nlive;
    unsigned long ops, cross_sent, cross_freed, bad_content, null_returns, bad_zero;
} worker_t;

static mailbox_t mailboxes[THREADS];
static worker_t workers[THREADS];
static double soak_seconds;
static struct timespec soak_start;

static double elapsed(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - soak_start.tv_sec) +
           (double)(now.tv_nsec - soak_start.tv_nsec) / 1e9;
}

/* The pattern byte i of a block of size bytes at p: derived from both, so a block handed out
 * twice, moved without its content, or overwritten by a neighbour shows. */
static inline unsigned char pattern(const unsigned char *p, size_t size, size_t i)
{
    uintptr_t a = (uintptr_t)p;
    return (unsigned char)((a >> 4) ^ (a >> 12) ^ size ^ (size >> 8) ^ (i * 157u) ^ (i >> 8));
}

static void fill(block_t b)
{
    for (size_t i = 0; i < b.size; i++)
        b.p[i] = pattern(b.p, b.size, i);
}

/* The first n bytes hold the pattern of (at, size)? */
static int intact(const unsigned char *now, const unsigned char *at, size_t size, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (now[i] != pattern(at, size, i))
            return 0;
    return 1;
}

static size_t size_draw(check_rng_t *r)
{
    unsigned long long kind = check_range(r, 0, 99);
    if (kind < SMALL_SHARE)
        return (size_t)check_range(r, 1, SMALL_MAX);
    if (kind < SMALL_SHARE + MEDIUM_SHARE)
        return (size_t)check_range(r, SMALL_MAX + 1, MEDIUM_MAX);
    return (size_t)check_range(r, MEDIUM_MAX + 1, LARGE_MAX);
}

static void release(worker_t *w, block_t b)
{
    if (!intact(b.p, b.p, b.size, b.size))
        w->bad_content++;
    free(b.p);
}

/* Frees what other threads left in this thread's mailbox. */
static void mailbox_drain(worker_t *w)
{
    mailbox_t *m = &mailboxes[w->index];
    block_t items[MAILBOX];
    pthread_mutex_lock(&m->lock);
    size_t n = m->count;
    memcpy(items, m->items, n * sizeof items[0]);
    m->count = 0;
    pthread_mutex_unlock(&m->lock);
    for (size_t i = 0; i < n; i++)
        release(w, items[i]);
    w->cross_freed += n;
}

/* Hands b to another thread to free; false when its mailbox is full. */
static int mailbox_post(worker_t *w, block_t b)
{
    mailbox_t *m = &mailboxes[(w->index + 1 + check_range(&w->rng, 0, THREADS - 2)) % THREADS];
    int ok = 0;
    pthread_mutex_lock(&m->lock);
    if (m->count < MAILBOX) {
        m->items[m->count++] = b;
        ok = 1;
    }
    pthread_mutex_unlock(&m->lock);
    return ok;
}

static void op_alloc(worker_t *w)
{
    size_t size = size_draw(&w->rng);
    int zeroed = check_range(&w->rng, 0, 3) == 0;
    unsigned char *p = zeroed ? calloc(1, size) : malloc(size);
    if (!p) {
        w->null_returns++;
        return;
    }
    if (zeroed)
        for (size_t i = 0; i < size; i++)
            w->bad_zero += p[i] != 0;
    block_t b = {p, size};
    fill(b);
    w->live[w->nlive++] = b;
}

static void op_free(worker_t *w)
{
    size_t k = (size_t)check_range(&w->rng, 0, w->nlive - 1);
    block_t b = w->live[k];
    w->live[k] = w->live[--w->nlive];
    if (check_range(&w->rng, 0, 99) < CROSS_SHARE && mailbox_post(w, b)) {
        w->cross_sent++;
        return;
    }
    release(w, b);
}

static void op_realloc(worker_t *w)
{
    size_t k = (size_t)check_range(&w->rng, 0, w->nlive - 1);
    block_t b = w->live[k];
    if (!intact(b.p, b.p, b.size, b.size))
        w->bad_content++;
    size_t size = size_draw(&w->rng);
    unsigned char *p = realloc(b.p, size);
    if (!p) {
        w->null_returns++;
        return; /* the old block is still there, unchanged */
    }
    if (!intact(p, b.p, b.size, b.size < size ? b.size : size))
        w->bad_content++;
    w->live[k] = (block_t){p, size};
    fill(w->live[k]);
}

static void *worker_run(void *arg)
{
    worker_t *w = arg;
    for (;;) {
        if (w->ops % CLOCK_EVERY == 0) {
            mailbox_drain(w);
            if (elapsed() >= soak_seconds)
                break;
        }
        unsigned long long dice = check_range(&w->rng, 0, 99);
        if (w->nlive == 0 || (w->nlive < SLOTS && dice < 45))
            op_alloc(w);
        else if (dice < 80)
            op_free(w);
        else
            op_realloc(w);
        w->ops++;
    }
    while (w->nlive)
        release(w, w->live[--w->nlive]);
    return NULL;
}

int main(void)
{
    const char *env = getenv("ARC_SOAK_SECONDS");
    soak_seconds = env && atof(env) > 0 ? atof(env) : DEFAULT_SECONDS;
    pthread_t threads[THREADS];
    clock_gettime(CLOCK_MONOTONIC, &soak_start);
    for (unsigned i = 0; i < THREADS; i++) {
        pthread_mutex_init(&mailboxes[i].lock, NULL);
        workers[i].index = i;
        workers[i].rng.s = 0x50a50a50a5ull + i; /* fixed seeds: the same draws every run */
    }
    for (unsigned i = 0; i < THREADS; i++)
        CHECK(pthread_create(&threads[i], NULL, worker_run, &workers[i]) == 0);
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    /* Blocks posted after their receiver stopped: freed here, checked the same way. */
    for (unsigned i = 0; i < THREADS; i++)
        mailbox_drain(&workers[i]);
    unsigned long ops = 0, sent = 0, freed = 0, bad = 0, nulls = 0, zeros = 0;
    for (unsigned i = 0; i < THREADS; i++) {
        ops += workers[i].ops;
        sent += workers[i].cross_sent;
        freed += workers[i].cross_freed;
        bad += workers[i].bad_content;
        nulls += workers[i].null_returns;
        zeros += workers[i].bad_zero;
        CHECKF(workers[i].ops > 0, "thread %u did nothing", i);
    }
    printf("test_soak: %lu operations in %.1f s on %d threads, %lu blocks freed by another "
           "thread\n",
           ops, elapsed(), THREADS, freed);
    CHECKF(bad == 0, "%lu blocks lost their content", bad);
    CHECKF(zeros == 0, "%lu calloc bytes not zero", zeros);
    CHECKF(nulls == 0, "%lu allocations returned NULL", nulls);
    CHECKF(sent == freed && sent > 0, "%lu blocks posted, %lu freed by their receiver", sent,
           freed);
    return check_done();
}
