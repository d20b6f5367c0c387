/* test_large.c: large blocks (page runs) reused while still committed ("dirty") and moved by
 * realloc with mremap (issue 7). Checks contents only through the malloc family and
 * /proc/self/statm: calloc is all zeros on reused pages (and makes no more of them resident than
 * were), realloc keeps every byte, RSS comes back once everything is freed, pages the program
 * locked read as zero once given back, and (secure builds) guard pages still fault. Calls the arc_
 * names, so it also runs under ASan (whose malloc would take the standard names). */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arcalloc.h"
#include "check.h"
#include "os_page.h"

enum {
    KIB = 1 << 10,
    MIB = 1 << 20,
    PAGE = 4096,
    /* Live, never touched: keeps freed runs dirty (the dirty budget is a share of the live
     * large bytes) without costing resident memory. */
    BALLAST = 64 * MIB,
    /* "A few MiB": what RSS may stay above its start once every large block is freed. */
    RSS_SLACK = 8 * MIB,
};

/* Offset of the first nonzero byte of p[0..n), or n. */
static size_t first_nonzero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return i;
    return n;
}

/* A pattern that tells every 8-byte word apart. */
static void pattern_fill(unsigned char *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t v = seed ^ (i * 0x9e3779b97f4a7c15ULL);
        memcpy(p + i, &v, 8);
    }
}

/* Offset of the first word that differs from the pattern, or n. */
static size_t pattern_check(const unsigned char *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        if (v != (seed ^ (i * 0x9e3779b97f4a7c15ULL)))
            return i;
    }
    return n;
}

/* calloc (and a first-class heap's calloc) right after freeing a block written with a pattern:
 * the new block usually lands on the same, still committed, pages, and must read as zero. */
static void test_calloc_after_dirty_free(void)
{
    void *ballast = arc_malloc(BALLAST);
    CHECK(ballast != NULL);
    check_rng_t rng = {0x1a2b3c4d5e6fULL};
    struct arc_stats before, after;
    size_t same_place = 0, no_decommit = 0;
    const size_t rounds = 60;
    for (size_t r = 0; r < rounds; r++) {
        size_t size = (size_t)check_range(&rng, 129 * KIB, 6 * MIB);
        unsigned char *p = arc_malloc(size);
        CHECK(p != NULL);
        if (!p)
            continue;
        memset(p, 0xa5, size);
        CHECK_KEEP(p);
        arc_stats_get(&before);
        arc_free(p);
        arc_stats_get(&after);
        no_decommit += after.madvise_calls == before.madvise_calls;
        /* Same size, smaller or larger: the reused part of the run is dirty either way. */
        size_t size2 = size + (size_t)check_range(&rng, 0, 64 * KIB) - 32 * KIB;
        unsigned char *q = arc_calloc(1, size2);
        CHECK(q != NULL);
        if (!q)
            continue;
        same_place += q == p;
        size_t bad = first_nonzero(q, size2);
        CHECKF(bad == size2, "arc_calloc(%zu) after freeing %zu dirty bytes: byte %zu is %#x",
               size2, size, bad, bad < size2 ? q[bad] : 0);
        arc_free(q);
    }
    /* The dirty path really ran: freed runs were kept committed and reused. */
    CHECKF(no_decommit > rounds / 2, "%zu of %zu large frees kept their pages", no_decommit,
           rounds);
#if ARC_SECURE
    /* Secure mode: the freed run waits in quarantine (ARC_LARGE_QUARANTINE_RUNS): never the next
     * block (test_secure checks that it comes back later, still zero). */
    CHECKF(same_place == 0, "%zu of %zu callocs got the run freed just before", same_place, rounds);
#else
    CHECKF(same_place > rounds / 2, "%zu of %zu callocs reused the freed run", same_place, rounds);
#endif

    arc_heap_t *h = arc_heap_new(NULL);
    CHECK(h != NULL);
    for (size_t r = 0; h && r < 20; r++) {
        size_t size = (size_t)check_range(&rng, 129 * KIB, 4 * MIB);
        unsigned char *p = arc_malloc(size);
        CHECK(p != NULL);
        if (!p)
            continue;
        memset(p, 0x5a, size);
        CHECK_KEEP(p);
        arc_free(p);
        unsigned char *q = arc_heap_calloc(h, 1, size);
        CHECK(q != NULL);
        if (!q)
            continue;
        size_t bad = first_nonzero(q, size);
        CHECKF(bad == size, "arc_heap_calloc(%zu) after a dirty free: byte %zu is %#x", size, bad,
               bad < size ? q[bad] : 0);
        arc_heap_free(h, q);
    }
    arc_heap_destroy(h);
    arc_free(ballast);
}

/* A block whose next pages are taken: returns a blocker placed right after p's usable bytes
 * (and, in secure mode, p's guard and the blocker's own), or NULL. Blocks placed in free pages
 * before p on the way there are freed. */
static void *block_after(void *p)
{
    char *end = (char *)p + arc_malloc_usable_size(p);
    enum { TRIES = 1024 }; /* up to 256 MiB of untouched blocks fill the holes before p */
    static void *tries[TRIES];
    void *found = NULL;
    size_t n = 0;
    for (; n < TRIES && !found; n++) {
        tries[n] = arc_malloc(256 * KIB);
        if (tries[n] && (char *)tries[n] >= end &&
            (char *)tries[n] <= end + 2 * PAGE + 2 * test_guard_bytes())
            found = tries[n--];
    }
    for (size_t i = 0; i < n; i++)
        arc_free(tries[i]);
    return found;
}

/* realloc of a block that cannot grow in place keeps every byte, moves, and its tail is
 * writable; growth repeated on the moved block too (each time from 4 MiB up). */
static void test_realloc_move(arc_heap_t *h)
{
    arc_malloc_trim(0); /* no dirty ranges: the next runs come one after another */
    size_t size = 4 * MIB;
    unsigned char *p = h ? arc_heap_malloc(h, size) : arc_malloc(size);
    CHECK(p != NULL);
    if (!p)
        return;
    uint64_t seed = 0x0123456789abcdefULL;
    pattern_fill(p, size, seed);
    struct arc_stats before, after;
    arc_stats_get(&before);
    for (int step = 0; step < 3; step++) {
        void *blocker = block_after(p);
        CHECKF(blocker != NULL, "no block could be placed right after %p", (void *)p);
        size_t bigger = size * 2 + 12345;
        unsigned char *q = h ? arc_heap_realloc(h, p, bigger) : arc_realloc(p, bigger);
        CHECK(q != NULL);
        arc_free(blocker);
        if (!q)
            return;
        CHECKF(q != p, "arc_realloc(%zu -> %zu) with the next pages taken stayed in place", size,
               bigger);
        size_t bad = pattern_check(q, size, seed);
        CHECKF(bad == size, "arc_realloc(%zu -> %zu) lost the byte at %zu", size, bigger, bad);
        /* The new tail is writable and keeps what is written. */
        memset(q + size, 0x3c, bigger - size);
        CHECK(q[size] == 0x3c && q[bigger - 1] == 0x3c);
        pattern_fill(q, bigger, seed + (uint64_t)step + 1);
        seed += (uint64_t)step + 1;
        p = q;
        size = bigger;
    }
    CHECK(pattern_check(p, size, seed) == size);
    /* The pages moved with mremap: one call a step. */
    arc_stats_get(&after);
    CHECKF(after.mremap_calls - before.mremap_calls >= 3, "mremap calls %llu",
           (unsigned long long)(after.mremap_calls - before.mremap_calls));
    if (h)
        arc_heap_free(h, p);
    else
        arc_free(p);
    /* The old ranges were mapped back: new blocks there work and read as written. */
    unsigned char *again = arc_malloc(6 * MIB);
    CHECK(again != NULL);
    if (again) {
        pattern_fill(again, 6 * MIB, 42);
        CHECK(pattern_check(again, 6 * MIB, 42) == 6 * MIB);
        arc_free(again);
    }
}

/* How long freed runs may stay committed after the program stops using them: the default decay
 * (1 s), the purger's batching and shortest sleep, with room for a loaded machine. */
#define SETTLE_LIMIT_MS 5000
#define POLL_MS         50

/* Freeing every large block gives RSS back once the freed runs decay, while the program sleeps;
 * malloc_trim gives back at once the runs kept while something is still live. */
static void test_rss_returns(void)
{
    arc_malloc_trim(0);
    size_t start = check_rss_bytes();
    check_rng_t rng = {77};
    enum { SLOTS = 12 };
    void *slot[SLOTS] = {0};
    for (int step = 0; step < 200; step++) {
        size_t i = (size_t)check_range(&rng, 0, SLOTS - 1);
        arc_free(slot[i]);
        size_t size = (size_t)check_range(&rng, 200 * KIB, 8 * MIB);
        slot[i] = arc_malloc(size);
        CHECK(slot[i] != NULL);
        if (slot[i])
            memset(slot[i], step, size);
        CHECK_KEEP(slot[i]);
    }
    for (size_t i = 0; i < SLOTS; i++)
        arc_free(slot[i]);
    size_t after = check_rss_bytes();
    long waited = 0;
    for (; after > start + RSS_SLACK && waited < SETTLE_LIMIT_MS; waited += POLL_MS) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
        after = check_rss_bytes();
    }
    printf("large: RSS start %zu MiB, after freeing all %zu MiB (%ld ms idle)\n", start / MIB,
           after / MIB, waited);
    CHECKF(after <= start + RSS_SLACK, "RSS after freeing every large block: %zu MiB (start %zu)",
           after / MIB, start / MIB);

    void *ballast = arc_malloc(BALLAST);
    unsigned char *p = arc_malloc(16 * MIB);
    CHECK(ballast != NULL && p != NULL);
    if (!p || !ballast)
        return;
    memset(p, 1, 16 * MIB);
    CHECK_KEEP(p); /* the stores are not dead: free must not let the compiler drop them */
    size_t touched = check_rss_bytes();
    arc_free(p);
    size_t kept = check_rss_bytes();
    int trimmed = arc_malloc_trim(0);
    size_t purged = check_rss_bytes();
    printf("large: RSS touched %zu MiB, after free %zu MiB, after malloc_trim %zu MiB\n",
           touched / MIB, kept / MIB, purged / MIB);
    CHECK(trimmed == 1);
    CHECKF(touched >= start + 12 * MIB && kept + 4 * MIB >= touched,
           "a freed 16 MiB block beside a live one stays committed: RSS %zu -> %zu MiB",
           touched / MIB, kept / MIB);
    CHECKF(purged + 12 * MIB <= kept, "malloc_trim gave back %zu MiB of 16 dirty MiB",
           kept > purged ? (kept - purged) / MIB : 0);
    arc_free(ballast);
}

/* Page runs of a few pages (requests aligned past a page take runs whatever their size), each
 * filled, freed and taken again over and over, two held back at a time so that freed runs wait,
 * merge and are split again. In secure mode a run taken back from the guarded cache is checked
 * zero (every page of a short one); every block must keep its own bytes, and no check may report
 * a write that did not happen. (A check that compared a short run's pages with a single page of
 * zeros, reading past it, was caught by the page64k build's test_malloc, whose runs are 16 pages;
 * here, with 4 KiB pages, what lay past that page happened to read as zero.) */
static void test_small_runs_reused(void)
{
    enum { SMALL_RUN_ALIGN = 8 * KIB, SMALL_RUN_ROUNDS = 48 };
    void *held[2] = {NULL, NULL};
    for (int r = 0; r < SMALL_RUN_ROUNDS; r++) {
        size_t size = (size_t)(3 + r % 16) * PAGE - 100;
        void *p = NULL;
        CHECK(arc_posix_memalign(&p, SMALL_RUN_ALIGN, size) == 0 && p != NULL);
        if (!p)
            continue;
        pattern_fill(p, size, (uint64_t)r);
        CHECK(pattern_check(p, size, (uint64_t)r) == size);
        arc_free(held[r % 2]);
        held[r % 2] = p;
    }
    arc_free(held[0]);
    arc_free(held[1]);
}

/* Blocks aligned beyond a page come and go in a live set, each of a random size: every run is a
 * whole number of its alignment (usable size), so a freed one serves any later request of its
 * alignment up to its size, and parts carved out of it keep the alignment. When runs were just
 * the request's pages, freed runs split into tails no aligned request could take: the cache
 * filled with them, each put gave an old run back (a madvise call) and each request faulted in
 * fresh pages (one call per 3 requests, 0.4 faults per request: 2-2.6 times glibc's time). */
static void test_aligned_runs_reused(void)
{
    enum { ALIGNED_SLOTS = 64, ALIGNED_STEPS = 3000, ALIGNED_MADVISE_MAX = ALIGNED_STEPS / 30 };
    static const size_t aligns[] = {16 * KIB, 64 * KIB, 256 * KIB};
    check_rng_t rng = {0x5eed};
    for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++) {
        size_t align = aligns[a];
        unsigned char *slot[ALIGNED_SLOTS] = {NULL};
        struct arc_stats s0, s1;
        arc_stats_get(&s0);
        for (int step = 0; step < ALIGNED_STEPS; step++) {
            size_t k = (size_t)check_range(&rng, 0, ALIGNED_SLOTS - 1);
            arc_free(slot[k]);
            slot[k] = NULL;
            size_t size = (size_t)check_range(&rng, 1000, 2 * align);
            void *p = NULL;
            CHECK(arc_posix_memalign(&p, align, size) == 0 && p != NULL);
            if (!p)
                continue;
            size_t usable = arc_malloc_usable_size(p);
            CHECKF((uintptr_t)p % align == 0 && usable >= size && usable % align == 0,
                   "posix_memalign(%zu, %zu): %p of %zu usable bytes", align, size, p, usable);
            slot[k] = p;
            slot[k][0] = (unsigned char)step;
            slot[k][size - 1] = (unsigned char)step;
        }
        arc_stats_get(&s1);
        unsigned long long calls = (unsigned long long)(s1.madvise_calls - s0.madvise_calls);
        printf("aligned runs of %zu KiB: %d requests, %llu madvise calls\n", align / KIB,
               ALIGNED_STEPS, calls);
        CHECKF(calls <= ALIGNED_MADVISE_MAX, "%llu madvise calls for %d aligned requests", calls,
               ALIGNED_STEPS);
        for (size_t k = 0; k < ALIGNED_SLOTS; k++)
            arc_free(slot[k]);
    }
}

/* A big block calloc'd on the run of one the program wrote sparsely (a table of which it used a
 * few entries): only the pages that were resident are stored to and the others given back, so
 * the resident set stays about what the program wrote, where a store to every byte made all of
 * the 16 MiB resident (and took a fault a page). The block reads as zero all the same. */
static void test_calloc_sparse(void)
{
    enum { SPARSE = 16 * MIB, SPARSE_WRITES = 16, RSS_GROWTH_MAX = 2 * MIB };
    unsigned char *p = arc_malloc(SPARSE);
    CHECK(p != NULL);
    if (!p)
        return;
    for (size_t i = 0; i < SPARSE_WRITES; i++)
        p[i * (SPARSE / SPARSE_WRITES) + i] = 0x5a;
    CHECK_KEEP(p);
    size_t before = check_rss_bytes();
    arc_free(p);
    unsigned char *q = arc_calloc(1, SPARSE);
    size_t after = check_rss_bytes();
    CHECK(q != NULL);
    if (!q)
        return;
    /* Secure mode: the freed run waits in quarantine (cleared at its free the same way). */
    CHECKF(test_secure_on() || q == p, "calloc was not placed on the run just freed");
    CHECKF(after <= before + RSS_GROWTH_MAX,
           "calloc of %d MiB on a sparsely written run: RSS %zu -> %zu KiB", SPARSE / MIB,
           before / KIB, after / KIB);
    size_t bad = first_nonzero(q, SPARSE);
    CHECKF(bad == SPARSE, "calloc on a sparsely written run: byte %zu is %#x", bad,
           bad < SPARSE ? q[bad] : 0);
    arc_free(q);
}

/* Pages the program locked (mlock) and freed without unlocking them, as a program that keeps
 * secrets in locked buffers may. The kernel's MADV_DONTNEED refuses locked pages; when their run
 * goes back (malloc_trim here, its decay otherwise) it must still read as zero, since a calloc
 * placed on pages given back takes them as fresh and does not clear them. Linux 5.18 and later
 * drop them with MADV_DONTNEED_LOCKED; where that does nothing (older kernels; qemu-user, which
 * tests/run runs this test under for aarch64 and riscv64), arcalloc stores zeros itself. Each
 * block the test takes is locked, filled and freed; the 8 MiB RLIMIT_MEMLOCK an unprivileged
 * process has on Debian is more than the runs locked here, which stay locked after their free (a
 * few places, reused). */
enum { LOCKED_BYTES = 256 * KIB, LOCKED_ROUNDS = 8 };
typedef struct locked_runs {
    unsigned char *at[2 * LOCKED_ROUNDS];
    size_t count, refused;
    int lock_errno;
} locked_runs_t;

/* Locks p's pages, fills them and frees p without unlocking them. */
static void lock_fill_free(locked_runs_t *l, unsigned char *p)
{
    if (mlock(p, LOCKED_BYTES) == 0)
        l->at[l->count++] = p;
    else
        l->refused++, l->lock_errno = errno;
    memset(p, 0xc3, LOCKED_BYTES);
    CHECK_KEEP(p);
    arc_free(p);
}

static void test_locked_pages(void)
{
    locked_runs_t l = {.count = 0};
    size_t on_locked = 0;
    for (int r = 0; r < LOCKED_ROUNDS; r++) {
        unsigned char *p = arc_malloc(LOCKED_BYTES);
        CHECK(p != NULL);
        if (!p)
            continue;
        lock_fill_free(&l, p);
        arc_malloc_trim(0);
        unsigned char *q = arc_calloc(1, LOCKED_BYTES);
        CHECK(q != NULL);
        if (!q)
            continue;
        /* Secure mode's quarantine keeps the run freed last back: an earlier one's comes. */
        bool overlaps = false;
        for (size_t i = 0; i < l.count; i++)
            overlaps |= q < l.at[i] + LOCKED_BYTES && l.at[i] < q + LOCKED_BYTES;
        on_locked += overlaps;
        size_t bad = first_nonzero(q, LOCKED_BYTES);
        CHECKF(bad == LOCKED_BYTES, "calloc on pages locked, freed and given back: byte %zu is %#x",
               bad, bad < LOCKED_BYTES ? q[bad] : 0);
        lock_fill_free(&l, q);
    }
    CHECKF(l.refused == 0, "mlock refused %zu times (errno %d)", l.refused, l.lock_errno);
    CHECKF(on_locked >= LOCKED_ROUNDS / 2,
           "%zu of %d callocs were placed on locked pages given back", on_locked, LOCKED_ROUNDS);
}

#if ARC_SECURE
/* Secure builds: a block placed on dirty pages still ends at a guard page. */
static void test_guard_after_dirty_reuse(void)
{
    const char *env = getenv("ARCALLOC_SECURE");
    if (env && strcmp(env, "0") == 0)
        return;
    void *ballast = arc_malloc(BALLAST);
    unsigned char *p = arc_malloc(2 * MIB);
    CHECK(p != NULL);
    memset(p, 0x77, 2 * MIB);
    CHECK_KEEP(p);
    arc_free(p);
    unsigned char *q = arc_calloc(1, 2 * MIB - 100);
    CHECK(q != NULL && first_nonzero(q, 2 * MIB - 100) == 2 * MIB - 100);
    size_t usable = arc_malloc_usable_size(q);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        ((volatile unsigned char *)q)[usable] = 1;
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
           "a write past a reused block did not fault (status %#x)", status);
    arc_free(q);
    arc_free(ballast);
}
#endif

int main(void)
{
    test_calloc_after_dirty_free();
    test_realloc_move(NULL);
    arc_heap_t *h = arc_heap_new(NULL);
    CHECK(h != NULL);
    if (h) {
        test_realloc_move(h);
        arc_heap_destroy(h);
    }
#if ARC_SECURE
    test_guard_after_dirty_reuse();
#endif
    test_rss_returns();
    test_calloc_sparse();
    test_small_runs_reused();
    test_aligned_runs_reused();
    test_locked_pages();
    return check_done();
}
