/* test_threads.c: threads on arcalloc. Cross-thread frees with content checks, a hundred
 * thousand short-lived threads that must not grow the process, malloc_trim from one thread while
 * others come and go, fork while other threads allocate (each fork's child allocates and
 * frees; a deadlock fails by the alarm), and 300 threads joined at once before the purger thread
 * runs. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arcalloc.h"
#include "check.h"
#include "libc_names.h"

/* ---- cross-thread frees: producers fill blocks, consumers check and free them ---- */

enum { QUEUE_SLOTS = 4096, PER_PRODUCER = 200000, PRODUCERS = 2 };

typedef struct {
    _Atomic(unsigned char *) slot[QUEUE_SLOTS];
    _Atomic long bad, consumed;
    _Atomic int producers_done;
} queue_t;

static queue_t queue;

static size_t block_size(uint64_t n)
{
    return 8 + (size_t)(n * 2654435761u % 3000);
}

static void *producer(void *arg)
{
    uint64_t id = (uintptr_t)arg;
    for (uint64_t i = 0; i < PER_PRODUCER; i++) {
        uint64_t n = id * PER_PRODUCER + i;
        size_t size = block_size(n);
        unsigned char *p = malloc(size);
        memcpy(p, &n, sizeof n);
        memset(p + sizeof n, (int)(n & 0xff), size - sizeof n);
        size_t s = (size_t)(n * 7919) % QUEUE_SLOTS;
        unsigned char *expected = NULL;
        while (!atomic_compare_exchange_weak(&queue.slot[s], &expected, p)) {
            expected = NULL;
            s = (s + 1) % QUEUE_SLOTS;
        }
    }
    atomic_fetch_add(&queue.producers_done, 1);
    return NULL;
}

static void consume(unsigned char *p)
{
    uint64_t n;
    memcpy(&n, p, sizeof n);
    size_t size = block_size(n);
    for (size_t k = sizeof n; k < size; k++)
        if (p[k] != (unsigned char)(n & 0xff)) {
            atomic_fetch_add(&queue.bad, 1);
            break;
        }
    free(p);
    atomic_fetch_add(&queue.consumed, 1);
}

static void *consumer(void *arg)
{
    (void)arg;
    for (;;) {
        int done = atomic_load(&queue.producers_done) == PRODUCERS;
        int got = 0;
        for (size_t s = 0; s < QUEUE_SLOTS; s++) {
            unsigned char *p = atomic_exchange(&queue.slot[s], NULL);
            if (p) {
                consume(p);
                got = 1;
            }
        }
        if (done && !got)
            return NULL;
    }
}

static void test_cross_thread(void)
{
    pthread_t prod[PRODUCERS], cons;
    pthread_create(&cons, NULL, consumer, NULL);
    for (uintptr_t i = 0; i < PRODUCERS; i++)
        pthread_create(&prod[i], NULL, producer, (void *)i);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(prod[i], NULL);
    pthread_join(cons, NULL);
    CHECK(atomic_load(&queue.bad) == 0);
    CHECKF(atomic_load(&queue.consumed) == (long)PRODUCERS * PER_PRODUCER, "consumed %ld",
           atomic_load(&queue.consumed));
}

/* ---- thread churn: a hundred thousand threads, each allocating a little ---- */

static void *short_lived(void *arg)
{
    size_t n = (uintptr_t)arg;
    void *keep[16];
    for (int i = 0; i < 16; i++) {
        keep[i] = malloc(16 + (n + (size_t)i) % 700);
        memset(keep[i], i, 16);
    }
    for (int i = 0; i < 16; i++)
        free(keep[i]);
    return malloc(64); /* freed by the joining thread: a cross-thread free of a dead heap */
}

/* Threads started together, then joined, in the churn tests. */
#define CHURN_BATCH 8

/* Starts CHURN_BATCH short-lived threads (numbered from `first`), joins them and frees the
 * blocks they return; how many returned one. */
static size_t short_lived_batch(size_t first)
{
    pthread_t tids[CHURN_BATCH];
    for (size_t k = 0; k < CHURN_BATCH; k++)
        CHECK(pthread_create(&tids[k], NULL, short_lived, (void *)(uintptr_t)(first + k)) == 0);
    size_t returned = 0;
    for (size_t k = 0; k < CHURN_BATCH; k++) {
        void *ret = NULL;
        pthread_join(tids[k], &ret);
        returned += ret != NULL;
        free(ret);
    }
    return returned;
}

static void test_thread_churn(void)
{
    enum { THREADS = 100000 };
    size_t arena_after_warmup = 0;
    for (size_t t = 0; t < THREADS; t += CHURN_BATCH) {
        CHECK(short_lived_batch(t) == CHURN_BATCH);
        if (t == 1000)
            arena_after_warmup = mallinfo2().arena;
    }
    size_t arena_end = mallinfo2().arena;
    CHECKF(arena_end <= arena_after_warmup + (8 << 20),
           "heap grew with thread churn: %zu -> %zu bytes", arena_after_warmup, arena_end);
}

/* ---- malloc_trim from one thread while short-lived threads allocate and end ----
 * A trim gives back every cached run, the pages of other heaps' holes among them, while those
 * heaps' threads (or the new threads taking the heaps over) use their segments. A heap that took
 * a hole back while the trim was still decommitting it had the block headers it wrote zeroed:
 * "corrupted block header" within a few thousand threads, in 3 runs of 3. */

static _Atomic int stop_trim;
static _Atomic long trims;

static void *trimmer(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_trim)) {
        malloc_trim(0);
        atomic_fetch_add(&trims, 1);
    }
    return NULL;
}

static void test_trim_during_churn(void)
{
    enum { THREADS = 16000 };
    pthread_t trim_thread;
    CHECK(pthread_create(&trim_thread, NULL, trimmer, NULL) == 0);
    for (size_t t = 0; t < THREADS; t += CHURN_BATCH)
        CHECK(short_lived_batch(t) == CHURN_BATCH);
    atomic_store(&stop_trim, 1);
    pthread_join(trim_thread, NULL);
    CHECKF(atomic_load(&trims) > 0, "%ld trims ran beside the threads", atomic_load(&trims));
}

/* ---- fork while other threads allocate ---- */

static _Atomic int stop_churn;

static void *churner(void *arg)
{
    (void)arg;
    void *slots[256] = {0};
    unsigned r = 1;
    while (!atomic_load(&stop_churn)) {
        r = r * 1103515245 + 12345;
        unsigned i = (r >> 8) % 256;
        free(slots[i]);
        slots[i] = malloc(16 + (r >> 4) % 5000);
    }
    for (int i = 0; i < 256; i++)
        free(slots[i]);
    return NULL;
}

static void *child_thread(void *arg)
{
    (void)arg;
    void *p = malloc(1000);
    fill_kept(p, 1, 1000);
    free(p);
    return NULL;
}

static void test_fork(void)
{
    enum { CHURNERS = 2, FORKS = 60 };
    pthread_t churn[CHURNERS];
    for (int i = 0; i < CHURNERS; i++)
        pthread_create(&churn[i], NULL, churner, NULL);
    int ok = 0;
    for (int f = 0; f < FORKS; f++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(10); /* a deadlock in the child ends it by SIGALRM, which the parent sees */
            void *blocks[1000];
            for (int i = 0; i < 1000; i++)
                blocks[i] = malloc(16 + (size_t)i * 13);
            for (int i = 0; i < 1000; i++)
                free(blocks[i]);
            malloc_free_kept(1 << 20);
            pthread_t t;
            pthread_create(&t, NULL, child_thread, NULL);
            pthread_join(t, NULL);
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
        usleep(1000);
    }
    atomic_store(&stop_churn, 1);
    for (int i = 0; i < CHURNERS; i++)
        pthread_join(churn[i], NULL);
    CHECKF(ok == FORKS, "%d of %d children allocated and exited cleanly", ok, FORKS);
}

/* ---- many threads joined at once, before anything started the purger ----
 * Joining threads whose stacks overflow glibc's cache of stacks (40 MiB) frees their TLS blocks
 * while glibc holds its stack-cache lock, and pthread_create takes that lock. A free that started
 * the purger thread there (the first run held for decay, from the blocks and spans those frees
 * gave back) waited on the lock its own caller held, for ever. Run in a child before any other
 * test, so that the purger is not running yet; a hang is killed after PARKED_TIMEOUT_S. */
enum { PARKED_THREADS = 300, PARKED_TIMEOUT_S = 15 };
static pthread_barrier_t parked_barrier;

static void *parked(void *arg)
{
    unsigned char *p = malloc(100 + (uintptr_t)arg % 900);
    if (p)
        memset(p, 1, 100);
    pthread_barrier_wait(&parked_barrier); /* all live at once: no stack is reused */
    pthread_barrier_wait(&parked_barrier);
    free(p);
    return NULL;
}

static void test_join_many(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        pthread_t t[PARKED_THREADS];
        int started = 0;
        pthread_barrier_init(&parked_barrier, NULL, PARKED_THREADS + 1);
        for (int i = 0; i < PARKED_THREADS; i++)
            started += pthread_create(&t[i], NULL, parked, (void *)(uintptr_t)i) == 0;
        if (started != PARKED_THREADS)
            _exit(2);
        pthread_barrier_wait(&parked_barrier);
        pthread_barrier_wait(&parked_barrier);
        for (int i = 0; i < PARKED_THREADS; i++)
            pthread_join(t[i], NULL);
        _exit(0);
    }
    /* The parent keeps the time: a thread stuck inside pthread_create has every signal blocked,
     * so the child's own alarm may never be delivered. */
    int status = 0, waited_ms = 0;
    pid_t done = 0;
    while (pid > 0 && (done = waitpid(pid, &status, WNOHANG)) == 0 &&
           waited_ms < PARKED_TIMEOUT_S * 1000) {
        usleep(10000);
        waited_ms += 10;
    }
    if (pid > 0 && done == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    CHECKF(done == pid, "%d threads joined: the child hung for %d s (killed)", PARKED_THREADS,
           PARKED_TIMEOUT_S);
    CHECKF(done != pid || (WIFEXITED(status) && WEXITSTATUS(status) == 0),
           "%d threads joined: the child %s %d", PARKED_THREADS,
           WIFSIGNALED(status) ? "died of signal" : "exited with",
           WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

int main(void)
{
    alarm(240); /* the whole program: a hang fails instead of stalling CI */
    test_join_many();
    test_cross_thread();
    test_thread_churn();
    test_trim_during_churn();
    test_fork();
    return check_done();
}
