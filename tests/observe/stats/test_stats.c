/* test_stats.c: arc_stats_get against work this program knows it did. Without arguments it
 * runs every in-process check (counters exact where they are exact, bounded where they are
 * not). With a mode argument it is the program test_stats.py drives: known work, then its
 * expectations as one JSON line on stdout, and arcalloc's own dump (at exit or on a signal) for
 * the script to compare. Uses the arc_ names so it measures arcalloc under any sanitizer. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arcalloc.h"
#include "check.h"
#include "libc_names.h"
#include "os_page.h"

/* Known work: small blocks of these sizes (each a cached size), medium and large blocks. */
static const size_t small_sizes[] = {1, 8, 24, 100, 256, 640, 1000, 1024};
#define SMALL_SIZES  (sizeof small_sizes / sizeof small_sizes[0])
#define SMALL_EACH   300
#define SMALL_COUNT  (SMALL_SIZES * SMALL_EACH)
#define MEDIUM_SIZE  3000
#define MEDIUM_COUNT 60
#define LARGE_SIZE   ((size_t)1 << 20) /* 1 MiB: 256 whole pages */
#define LARGE_COUNT  8
#define PAGE         ((size_t)ARC_PAGE_SIZE)
#define GRANULE      ((size_t)16)
/* A span of small blocks: 32 KiB cut into blocks of one size class (docs/design.md). */
#define SPAN_BYTES ((size_t)32 << 10)
/* Threads, and what each does: allocates OWN blocks for main to free, frees CROSS of main's. */
#define THREADS      4
#define THREAD_OWN   500
#define THREAD_CROSS 250
#define THREAD_SIZE  64
#define CROSS_SIZE   48
/* peak_live_bytes may trail or lead the true peak by a heap's unpublished change: 64 KiB plus
 * the free blocks of its current spans (20 classes x 32 KiB): 3 MiB covers both. */
#define PEAK_SLACK ((uint64_t)3 << 20)

/* A large block's bytes: its run's (whole OS pages when secure mode guards it). */
static size_t pages_of(size_t size)
{
    return test_run_bytes(size);
}

/* What a heap block counts: its usable size rounded down to 16. */
static size_t counted(const void *p)
{
    return arc_malloc_usable_size(p) / GRANULE * GRANULE;
}

/* ---- single-thread work: small, medium, large ---- */

static void check_blocks(void)
{
    static void *small[SMALL_COUNT], *medium[MEDIUM_COUNT], *large[LARGE_COUNT];
    static uint64_t class_allocs[ARC_SIZE_BINS];
    static struct arc_stats s0, s1, s2;
    uint64_t requested = 0, allocated = 0, large_bytes = 0, small_medium = 0;
    memset(class_allocs, 0, sizeof class_allocs);

    arc_stats_get(&s0);
    for (size_t i = 0; i < SMALL_COUNT; i++) {
        size_t size = small_sizes[i % SMALL_SIZES];
        small[i] = arc_malloc(size);
        requested += size;
        allocated += counted(small[i]);
        /* The block's class is its usable size: a backend may hand a bigger block than the
         * request's bin (slab's page-run fallback), which counts as medium. */
        size_t cls = arc_malloc_usable_size(small[i]) / GRANULE;
        if (cls < ARC_SIZE_BINS)
            class_allocs[cls]++;
        else
            small_medium++;
    }
    for (size_t i = 0; i < MEDIUM_COUNT; i++) {
        medium[i] = arc_malloc(MEDIUM_SIZE);
        requested += MEDIUM_SIZE;
        allocated += counted(medium[i]);
    }
    for (size_t i = 0; i < LARGE_COUNT; i++) {
        large[i] = arc_malloc(LARGE_SIZE + i * 1000);
        memset(large[i], 1, 4096);
        requested += LARGE_SIZE + i * 1000;
        allocated += pages_of(LARGE_SIZE + i * 1000);
        large_bytes += pages_of(LARGE_SIZE + i * 1000);
    }
    arc_stats_get(&s1);
    /* Spans: each class's blocks fill at least ceil(blocks / (SPAN_BYTES / size)) spans, one of
     * which may have been taken before s0. */
    uint64_t spans_needed = 0, classes_used = 0;
    for (size_t c = 1; c < ARC_SIZE_BINS; c++) {
        size_t per_span = SPAN_BYTES / (c * GRANULE);
        spans_needed += (class_allocs[c] + per_span - 1) / per_span;
        classes_used += class_allocs[c] != 0;
    }
    CHECKF(s1.spans_added - s0.spans_added + classes_used >= spans_needed,
           "spans added %llu, needed %llu", (unsigned long long)(s1.spans_added - s0.spans_added),
           (unsigned long long)spans_needed);

    CHECK(s1.stats_enabled == 1);
    CHECKF(s1.requested_bytes - s0.requested_bytes == requested, "requested %llu, expected %llu",
           (unsigned long long)(s1.requested_bytes - s0.requested_bytes),
           (unsigned long long)requested);
    CHECKF(s1.allocated_bytes - s0.allocated_bytes == allocated, "allocated %llu, expected %llu",
           (unsigned long long)(s1.allocated_bytes - s0.allocated_bytes),
           (unsigned long long)allocated);
    CHECK(s1.freed_bytes == s0.freed_bytes);
    CHECK(s1.allocs - s0.allocs == SMALL_COUNT + MEDIUM_COUNT + LARGE_COUNT);
    CHECK(s1.medium_allocs - s0.medium_allocs == MEDIUM_COUNT + small_medium);
    CHECK(s1.large_allocs - s0.large_allocs == LARGE_COUNT);
    CHECK(s1.large_live - s0.large_live == LARGE_COUNT);
    CHECK(s1.large_bytes - s0.large_bytes == large_bytes);
    CHECK(s1.live_bytes - s0.live_bytes == allocated);
    int classes_ok = 1;
    for (size_t c = 1; c < ARC_SIZE_BINS; c++) {
        uint64_t got = s1.size_classes[c].allocs - s0.size_classes[c].allocs;
        if (got != class_allocs[c] || s1.size_classes[c].size != c * GRANULE) {
            classes_ok = 0;
            fprintf(stderr, "class %zu: %llu allocations counted, %llu made\n", c * GRANULE,
                    (unsigned long long)got, (unsigned long long)class_allocs[c]);
        }
    }
    CHECK(classes_ok);
    /* Figures that must agree with each other at any quiet moment. */
    CHECK(s1.committed_bytes == s1.segment_bytes + s1.large_bytes + s1.dirty_bytes);
    /* Secure mode puts a guard (used, never committed) before and after each large run. */
    CHECK(s1.committed_bytes + 2 * s1.large_live * test_guard_bytes() == s1.page_used_pages * PAGE);
    CHECK(s1.fragmentation_bytes == s1.committed_bytes - s1.live_bytes);
    CHECK(s1.live_bytes <= s1.committed_bytes);
    CHECK(s1.segments * ((size_t)1 << 20) == s1.segment_bytes);
    CHECK(s1.byte_used_bytes + s1.byte_available_bytes <= s1.byte_total_bytes);
    CHECK(s1.byte_used_bytes >= s1.live_bytes - s1.large_bytes + s1.cached_bytes);
    CHECK(s1.page_used_pages + s1.page_available_pages == s1.page_total_pages);
    CHECK(s1.page_peak_pages >= s1.page_used_pages);
    CHECK(s1.page_total_pages * PAGE == s1.address_space_bytes);
    CHECK(s1.peak_live_bytes >= s1.live_bytes);
    CHECK(s1.peak_live_bytes <= s1.live_bytes + PEAK_SLACK);
    CHECK(s1.resident_bytes >= large_bytes / 256); /* each large block touched one page */
    CHECK(s1.peak_resident_bytes >= s1.resident_bytes);
    CHECK(s1.mmap_calls >= 1);
    CHECK(strcmp(s1.backend, arc_backend_name()) == 0);
    CHECK(strcmp(s1.address_space, ARC_ADDRESS_SPACE_NAME) == 0);

    for (size_t i = 0; i < SMALL_COUNT; i++)
        arc_free(small[i]);
    for (size_t i = 0; i < MEDIUM_COUNT; i++)
        arc_free(medium[i]);
    for (size_t i = 0; i < LARGE_COUNT; i++)
        arc_free(large[i]);
    arc_stats_get(&s2);
    CHECK(s2.frees - s1.frees == SMALL_COUNT + MEDIUM_COUNT + LARGE_COUNT);
    CHECK(s2.freed_bytes - s1.freed_bytes == allocated);
    CHECK(s2.live_bytes == s0.live_bytes);
    CHECK(s2.medium_frees - s1.medium_frees == MEDIUM_COUNT + small_medium);
    CHECK(s2.large_frees - s1.large_frees == LARGE_COUNT);
    CHECK(s2.large_live == s0.large_live);
    int frees_ok = 1;
    for (size_t c = 1; c < ARC_SIZE_BINS; c++) {
        const struct arc_stats_class *a = &s2.size_classes[c], *b = &s0.size_classes[c];
        frees_ok &= a->frees - b->frees == class_allocs[c] && a->live == b->live;
    }
    CHECK(frees_ok);
    /* Every span emptied goes back but the one each class allocates from. */
    CHECKF(s2.spans_released - s1.spans_released + classes_used >= s1.spans_added - s0.spans_added,
           "spans released %llu of %llu added, %llu classes",
           (unsigned long long)(s2.spans_released - s1.spans_released),
           (unsigned long long)(s1.spans_added - s0.spans_added), (unsigned long long)classes_used);
    CHECK(s2.cached_bytes <= s0.cached_bytes + classes_used * SPAN_BYTES);
    /* Freed page runs stay committed for reuse (they decay later), counted as dirty and in
     * committed_bytes; malloc_trim gives them back at once. */
    CHECKF(s2.dirty_bytes >= large_bytes, "dirty %llu after freeing %llu of large blocks",
           (unsigned long long)s2.dirty_bytes, (unsigned long long)large_bytes);
    CHECK(s2.committed_bytes == s2.segment_bytes + s2.large_bytes + s2.dirty_bytes);
    CHECK(malloc_trim(0) == 1);
    struct arc_stats s3;
    arc_stats_get(&s3);
    CHECK(s3.dirty_bytes == 0);
    CHECK(s3.decayed_bytes - s2.decayed_bytes >= large_bytes);
    CHECK(s3.returned_bytes - s2.returned_bytes >= large_bytes);
    CHECK(s3.madvise_calls > s2.madvise_calls);
    /* The peak saw the large blocks: each is published as it is allocated. */
    CHECKF(s2.peak_live_bytes + PEAK_SLACK >= s1.live_bytes, "peak %llu, live was %llu",
           (unsigned long long)s2.peak_live_bytes, (unsigned long long)s1.live_bytes);
}

/* ---- threads: heaps, cross-thread frees ---- */

typedef struct worker {
    void *own[THREAD_OWN];
    void *cross[THREAD_CROSS];
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    for (size_t i = 0; i < THREAD_OWN; i++) {
        w->own[i] = arc_malloc(THREAD_SIZE);
        memset(w->own[i], 7, THREAD_SIZE);
    }
    for (size_t i = 0; i < THREAD_CROSS; i++)
        arc_free(w->cross[i]);
    return NULL;
}

static void *idle_main(void *arg)
{
    return arg;
}

static void check_threads(void)
{
    static worker_t workers[THREADS];
    static struct arc_stats s0, s1, s2;
    pthread_t tid[THREADS];
    /* glibc allocates a new thread's TLS vector with calloc and keeps it with the stack it
     * caches at exit: a first round of idle threads leaves those blocks in place, so the counted
     * round below allocates nothing but its own blocks. */
    for (size_t t = 0; t < THREADS; t++)
        pthread_create(&tid[t], NULL, idle_main, NULL);
    for (size_t t = 0; t < THREADS; t++)
        pthread_join(tid[t], NULL);
    /* Main's heap exists (this thread allocated before): these blocks are its own. */
    for (size_t t = 0; t < THREADS; t++)
        for (size_t i = 0; i < THREAD_CROSS; i++)
            workers[t].cross[i] = arc_malloc(CROSS_SIZE);
    uint64_t cross_counted = 0; /* blocks of one size may still differ in usable size */
    for (size_t t = 0; t < THREADS; t++)
        for (size_t i = 0; i < THREAD_CROSS; i++)
            cross_counted += counted(workers[t].cross[i]);
    arc_stats_get(&s0);
    for (size_t t = 0; t < THREADS; t++)
        pthread_create(&tid[t], NULL, worker_main, &workers[t]);
    for (size_t t = 0; t < THREADS; t++)
        pthread_join(tid[t], NULL);
    /* A medium block always takes the slow path, which takes back what other threads freed. */
    void *medium = arc_malloc(MEDIUM_SIZE);
    arc_stats_get(&s1);
    uint64_t own_counted = 0;
    for (size_t t = 0; t < THREADS; t++)
        for (size_t i = 0; i < THREAD_OWN; i++)
            own_counted += counted(workers[t].own[i]);
    CHECKF(s1.threads_started - s0.threads_started == THREADS, "threads_started +%llu",
           (unsigned long long)(s1.threads_started - s0.threads_started));
    CHECK(s1.threads_live == s0.threads_live);
    CHECK(s1.heaps_created - s0.heaps_created <= THREADS);
    CHECK(s1.heaps_waiting >= 1);
    CHECK(s1.remote_frees_sent - s0.remote_frees_sent == THREADS * THREAD_CROSS);
    CHECK(s1.remote_frees_received - s0.remote_frees_received == THREADS * THREAD_CROSS);
    uint64_t live_change = own_counted + counted(medium) - cross_counted;
    CHECKF(s1.live_bytes - s0.live_bytes == live_change, "live +%lld, expected +%llu",
           (long long)(s1.live_bytes - s0.live_bytes), (unsigned long long)live_change);
    /* Main frees the workers' blocks: remote frees into heaps whose threads are gone. */
    for (size_t t = 0; t < THREADS; t++)
        for (size_t i = 0; i < THREAD_OWN; i++)
            arc_free(workers[t].own[i]);
    arc_free(medium);
    arc_stats_get(&s2);
    CHECK(s2.remote_frees_sent - s1.remote_frees_sent == THREADS * THREAD_OWN);
    CHECK(s2.remote_frees_received <= s2.remote_frees_sent);
}

/* A thread that never allocates frees a large block: counted all the same. */
static void *orphan_main(void *arg)
{
    arc_free(arg);
    return NULL;
}

static void check_orphan_and_realloc(void)
{
    static struct arc_stats s0, s1, s2;
    arc_stats_get(&s0);
    void *p = arc_malloc(LARGE_SIZE);
    pthread_t tid;
    pthread_create(&tid, NULL, orphan_main, p);
    pthread_join(tid, NULL);
    arc_stats_get(&s1);
    CHECK(s1.large_frees - s0.large_frees == 1);
    CHECK(s1.live_bytes == s0.live_bytes);
    CHECK(s1.large_live == s0.large_live);

    /* realloc of a large block: in place or moved, live bytes follow the block. */
    char *q = arc_malloc(LARGE_SIZE);
    memset(q, 3, LARGE_SIZE);
    q = arc_realloc(q, 3 * LARGE_SIZE);
    arc_stats_get(&s2);
    CHECK(q && q[LARGE_SIZE - 1] == 3);
    CHECK(s2.live_bytes - s1.live_bytes == pages_of(3 * LARGE_SIZE));
    CHECK(s2.large_bytes - s1.large_bytes == pages_of(3 * LARGE_SIZE));
    q = arc_realloc(q, 2 * LARGE_SIZE);
    arc_stats_get(&s2);
    CHECK(s2.live_bytes - s1.live_bytes == pages_of(2 * LARGE_SIZE));
    arc_free(q);
    arc_stats_get(&s2);
    CHECK(s2.live_bytes == s1.live_bytes);
    CHECK(s2.allocs - s2.frees == s1.allocs - s1.frees);
}

/* ---- first-class heaps ---- */

static void check_shared_heap(void)
{
    static struct arc_stats s0, s1, s2, s3;
    enum { COUNT = 100, SIZE = 200 };
    arc_stats_get(&s0);
    arc_heap_t *h = arc_heap_new("slab");
    uint64_t allocated = 0;
    void *last = NULL;
    for (int i = 0; i < COUNT; i++) {
        last = arc_heap_malloc(h, SIZE);
        allocated += counted(last);
    }
    void *big = arc_heap_malloc(h, LARGE_SIZE);
    allocated += pages_of(LARGE_SIZE);
    arc_stats_get(&s1);
    CHECK(s1.shared_heaps_live - s0.shared_heaps_live == 1);
    CHECK(s1.medium_allocs - s0.medium_allocs == COUNT); /* first-class heaps have no cache */
    CHECK(s1.large_allocs - s0.large_allocs == 1);
    CHECK(s1.live_bytes - s0.live_bytes == allocated);
    uint64_t gone = counted(last) + pages_of(LARGE_SIZE);
    arc_heap_free(h, last);
    arc_free(big);
    arc_stats_get(&s2);
    CHECK(s2.live_bytes - s0.live_bytes == allocated - gone);
    CHECK(s2.large_frees - s1.large_frees == 1);
    arc_heap_destroy(h); /* the other 99 blocks go with the heap */
    arc_stats_get(&s3);
    CHECK(s3.live_bytes == s0.live_bytes);
    CHECK(s3.shared_heaps_live == s0.shared_heaps_live);
    CHECK(s3.heaps_waiting - s0.heaps_waiting == 1);
    arc_heap_t *again = arc_heap_new("slab"); /* takes the destroyed heap back */
    arc_stats_get(&s3);
    CHECK(s3.heap_reuses - s0.heap_reuses == 1);
    arc_heap_destroy(again);
}

/* ---- the peak ---- */

static void check_peak(void)
{
    static struct arc_stats s0, s1;
    enum { SMALL_BURST = 20000, SMALL_BURST_SIZE = 512, LARGE_BURST = 24 };
    static void *blocks[SMALL_BURST];
    arc_stats_get(&s0);
    /* Small blocks only: published from the slow paths as segments fill. */
    uint64_t burst = 0;
    for (int i = 0; i < SMALL_BURST; i++) {
        blocks[i] = arc_malloc(SMALL_BURST_SIZE);
        burst += counted(blocks[i]);
    }
    for (int i = 0; i < SMALL_BURST; i++)
        arc_free(blocks[i]);
    arc_stats_get(&s1);
    CHECKF(s1.peak_live_bytes + PEAK_SLACK >= s0.live_bytes + burst,
           "small burst: peak %llu, live reached %llu", (unsigned long long)s1.peak_live_bytes,
           (unsigned long long)(s0.live_bytes + burst));
    CHECK(s1.peak_live_bytes <= s0.peak_live_bytes + burst + PEAK_SLACK);
    /* Large blocks: each one published as it comes. */
    for (int i = 0; i < LARGE_BURST; i++)
        blocks[i] = arc_malloc(LARGE_SIZE);
    for (int i = 0; i < LARGE_BURST; i++)
        arc_free(blocks[i]);
    arc_stats_get(&s1);
    CHECK(s1.peak_live_bytes + PEAK_SLACK >= s0.live_bytes + LARGE_BURST * LARGE_SIZE);
    CHECK(s1.live_bytes == s0.live_bytes);
}

/* ---- the formats, and the error cases ---- */

static size_t file_read(FILE *f, char *buf, size_t cap)
{
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    return n;
}

static void check_print(void)
{
    static char buf[64 << 10];
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(arc_stats_print(f, ARC_STATS_JSON) == 0);
    size_t n = file_read(f, buf, sizeof buf);
    CHECK(n > 2 && strncmp(buf, "{\"pid\":", 7) == 0 && strcmp(buf + n - 2, "}\n") == 0);
    CHECK(strchr(buf, '\n') == buf + n - 1); /* one object, one line */
    CHECK(strstr(buf, "\"live_bytes\":") && strstr(buf, "\"size_classes\":["));
    fclose(f);
    f = tmpfile();
    CHECK(arc_stats_print(f, ARC_STATS_TEXT) == 0);
    file_read(f, buf, sizeof buf);
    CHECK(strncmp(buf, "arcalloc statistics: pid ", 25) == 0);
    CHECK(strstr(buf, "\n  peak_live_bytes ") && strstr(buf, "\n  requested_bytes "));
    errno = 0;
    CHECK(arc_stats_print(f, 7) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(arc_malloc_info(1, f) == -1 && errno == EINVAL);
    CHECK(arc_malloc_info(0, f) == 0);
    file_read(f, buf, sizeof buf);
    CHECK(strstr(buf, "<malloc version=\"1\">") && strstr(buf, "</malloc>\n"));
    fclose(f);
}

/* With -Dstats=false the counters are gone; everything else is still measured. */
static void check_no_counters(void)
{
    static struct arc_stats s0, s1;
    arc_stats_get(&s0);
    void *big = arc_malloc(LARGE_SIZE);
    arc_stats_get(&s1);
    CHECK(s1.stats_enabled == 0 && s1.requested_bytes == 0 && s1.allocs == 0);
    CHECK(s1.large_live - s0.large_live == 1);
    CHECK(s1.large_bytes - s0.large_bytes == pages_of(LARGE_SIZE));
    CHECK(s1.live_bytes - s0.live_bytes == pages_of(LARGE_SIZE));
    /* Secure mode puts a guard (used, never committed) before and after each large run. */
    CHECK(s1.committed_bytes + 2 * s1.large_live * test_guard_bytes() == s1.page_used_pages * PAGE);
    arc_free(big);
}

/* ---- modes test_stats.py drives ---- */

static atomic_int stop_flag;
static atomic_long corrupt;

/* Allocates and frees with content checks until told to stop. */
static void *churn_main(void *arg)
{
    uint64_t seed = (uintptr_t)arg * 0x9e3779b97f4a7c15u + 1;
    enum { SLOTS = 256 };
    unsigned char *slot[SLOTS] = {0};
    size_t size[SLOTS] = {0};
    while (!atomic_load(&stop_flag)) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        size_t i = seed % SLOTS;
        if (slot[i]) {
            for (size_t k = 0; k < size[i]; k++)
                if (slot[i][k] != (unsigned char)(i + size[i]))
                    atomic_fetch_add(&corrupt, 1);
            arc_free(slot[i]);
        }
        size[i] = (seed >> 16) % 4000 + 1;
        if ((seed >> 40) % 64 == 0)
            size[i] += 200000; /* now and then a large block */
        slot[i] = arc_malloc(size[i]);
        memset(slot[i], (int)(unsigned char)(i + size[i]), size[i]);
    }
    for (size_t i = 0; i < SLOTS; i++)
        arc_free(slot[i]);
    return NULL;
}

static int mode_signal(void)
{
    arc_free(arc_malloc(1)); /* main holds a heap too, whoever serves libc's own malloc */
    pthread_t tid[THREADS];
    for (size_t t = 0; t < THREADS; t++)
        pthread_create(&tid[t], NULL, churn_main, (void *)(uintptr_t)(t + 1));
    printf("{\"pid\": %d, \"threads\": %d}\n", (int)getpid(), THREADS);
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin) && strncmp(line, "stop", 4) != 0) {
    }
    atomic_store(&stop_flag, 1);
    for (size_t t = 0; t < THREADS; t++)
        pthread_join(tid[t], NULL);
    printf("{\"corrupt\": %ld}\n", atomic_load(&corrupt));
    return atomic_load(&corrupt) ? 1 : 0;
}

/* Known work left live at exit; the expectations go to stdout as one JSON line. */
static int mode_work(void)
{
    static worker_t workers[THREADS];
    static void *kept[SMALL_EACH];
    uint64_t live_min = 0;
    for (size_t i = 0; i < SMALL_EACH; i++) {
        kept[i] = arc_malloc(100);
        live_min += counted(kept[i]);
    }
    for (size_t i = 0; i < LARGE_COUNT; i++) {
        void *p = arc_malloc(LARGE_SIZE);
        memset(p, 1, 64);
        live_min += pages_of(LARGE_SIZE);
    }
    for (size_t t = 0; t < THREADS; t++)
        for (size_t i = 0; i < THREAD_CROSS; i++)
            workers[t].cross[i] = arc_malloc(CROSS_SIZE);
    pthread_t tid[THREADS];
    for (size_t t = 0; t < THREADS; t++)
        pthread_create(&tid[t], NULL, worker_main, &workers[t]);
    for (size_t t = 0; t < THREADS; t++)
        pthread_join(tid[t], NULL);
    for (size_t t = 0; t < THREADS; t++)
        for (size_t i = 0; i < THREAD_OWN; i++)
            live_min += counted(workers[t].own[i]);
    int same_class = 0; /* kept blocks in kept[0]'s class (TLSF may give some a bigger one) */
    for (size_t i = 0; i < SMALL_EACH; i++)
        same_class += counted(kept[i]) == counted(kept[0]);
    printf("{\"pid\": %d, \"backend\": \"%s\", \"large_live\": %d, \"large_bytes\": %zu, "
           "\"class\": %zu, \"class_live_min\": %d, \"threads\": %d, \"remote_sent_min\": %d, "
           "\"live_min\": %llu}\n",
           (int)getpid(), arc_backend_name(), LARGE_COUNT, LARGE_COUNT * pages_of(LARGE_SIZE),
           counted(kept[0]), same_class, THREADS, THREADS * THREAD_CROSS,
           (unsigned long long)live_min);
    return 0;
}

/* Blocks in known places, then glibc's malloc_info() XML on stdout; expectations on stderr. */
static int mode_info(void)
{
    enum { KEPT = 100, CACHED = 50 };
    static void *kept[KEPT], *cached[CACHED];
    for (int i = 0; i < KEPT; i++)
        kept[i] = arc_malloc(48);
    for (int i = 0; i < CACHED; i++)
        cached[i] = arc_malloc(96);
    size_t cached_size = arc_malloc_usable_size(cached[0]) / GRANULE * GRANULE;
    for (int i = 0; i < CACHED; i++)
        arc_free(cached[i]);
    void *large[2] = {arc_malloc(LARGE_SIZE), arc_malloc(LARGE_SIZE)};
    fflush(stdout);
    int rc = malloc_info(0, stdout);
    fprintf(stderr,
            "{\"backend\": \"%s\", \"cached_size\": %zu, \"cached_min\": %d, \"large_live\": 2, "
            "\"large_bytes\": %zu}\n",
            arc_backend_name(), cached_size, CACHED, 2 * pages_of(LARGE_SIZE));
    arc_free(large[0]);
    arc_free(large[1]);
    for (int i = 0; i < KEPT; i++)
        arc_free(kept[i]);
    return rc;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "signal") == 0)
        return mode_signal();
    if (strcmp(mode, "work") == 0)
        return mode_work();
    if (strcmp(mode, "info") == 0)
        return mode_info();
    if (strcmp(mode, "child") == 0) {
        void *p = arc_malloc(100);
        printf("%s\n", arc_backend_name());
        arc_free(p);
        return 0;
    }
    arc_free(arc_malloc(1)); /* this thread's heap exists from here on */
    /* The first freed page run kept for reuse starts the purger thread; what its creation
     * allocates comes from arcalloc's bootstrap buffer, not from a heap: no block appears. */
    struct arc_stats idle, started;
    arc_stats_get(&idle);
    arc_free(arc_malloc(LARGE_SIZE));
    arc_stats_get(&started);
    CHECK(idle.purger_thread == 0 && started.purger_thread == 1);
    CHECK(started.dirty_bytes >= LARGE_SIZE);
    CHECK(started.live_bytes == idle.live_bytes);
    CHECK(started.allocs - idle.allocs == 1 && started.frees - idle.frees == 1);
    if (ARC_STATS) {
        check_blocks();
        check_threads();
        check_orphan_and_realloc();
        check_shared_heap();
        check_peak();
    } else {
        check_no_counters();
    }
    check_print();
    return check_done();
}
