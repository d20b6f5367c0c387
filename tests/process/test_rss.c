/* test_rss.c: RSS follows the live heap. A program that allocates 1 GiB in small blocks and
 * frees them all must come back within 10 % of where it started, within a bounded time and while
 * it sleeps (freed memory decays: ARCALLOC_DECAY, 1 s by default); so must one that cycles large
 * blocks, which must reuse its freed block without page faults meanwhile; and one that hands
 * blocks to a new worker thread again and again must not grow from cycle to cycle. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arcalloc.h"
#include "check.h"
#include "os_page.h"

enum { KIB = 1 << 10, MIB = 1 << 20 };

/* The target: after a phase that frees everything, RSS is back within 10 % of its start. */
static size_t start_plus_tenth(size_t start)
{
    return start + start / 10;
}

/* How long RSS may take to come back: the default decay (1 s), the purger's batching (an eighth of
 * it) and its shortest sleep, with room for a loaded machine. */
#define SETTLE_LIMIT_MS 5000
#define POLL_MS         50

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Sleeps (the program idle: no allocator call) until RSS is within 10 % of start or the limit
 * passes; returns the RSS last read and the milliseconds it took in *waited. */
static size_t rss_settled(size_t start, long *waited)
{
    size_t rss = check_rss_bytes();
    for (*waited = 0; rss > start_plus_tenth(start) && *waited < SETTLE_LIMIT_MS;
         *waited += POLL_MS) {
        sleep_ms(POLL_MS);
        rss = check_rss_bytes();
    }
    return rss;
}

static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* 1 GiB of small blocks, or a quarter of the heap limit on the small address_space builds. */
static size_t total_bytes(void)
{
    size_t limit = (size_t)ARC_ADDRESS_SPACE_BYTES / 4, gib = (size_t)1 << 30;
    return limit < gib ? limit : gib;
}

/* Allocates about `total` bytes of 16..`largest`-byte blocks into blocks[] (at most cap of
 * them) and fills each; returns how many, their bytes in *bytes. */
static size_t fill_sizes(void **blocks, size_t cap, size_t total, size_t largest, size_t *bytes)
{
    size_t count = 0;
    unsigned r = 7;
    *bytes = 0;
    while (*bytes < total && count < cap) {
        r = r * 1103515245 + 12345;
        size_t size = 16 + (r >> 8) % (largest - 15);
        blocks[count] = malloc(size);
        if (!blocks[count]) {
            CHECKF(0, "malloc(%zu) failed after %zu MiB", size, *bytes / MIB);
            break;
        }
        memset(blocks[count], (int)count, size);
        *bytes += size;
        count++;
    }
    return count;
}

static size_t fill_small(void **blocks, size_t cap, size_t total, size_t *bytes)
{
    return fill_sizes(blocks, cap, total, 512, bytes);
}

/* Frees blocks[0..count) in an interleaved order, as real programs do. */
static void free_interleaved(void **blocks, size_t count)
{
    for (size_t i = 0; i < count; i += 2)
        free(blocks[i]);
    for (size_t i = 1; i < count; i += 2)
        free(blocks[i]);
}

/* Cycles: blocks handed to a worker thread that grows them. Each cycle the main thread allocates
 * CYCLE_BLOCKS small blocks, a new thread (it takes over the heap the last one left) grows each
 * by realloc, which moves it into its own heap, and the main thread frees them all: the worker's
 * heap empties after a big phase every cycle. Its next segment starts clean, taken from the
 * heap's cache, not from fresh pages beside it: fresh pages left the cached segment resident and
 * added one to the cache every cycle (RSS grew by 2 MiB every other cycle, 18 -> 39 MiB in 20). */
enum { CYCLES = 20, CYCLE_BLOCKS = 20000, CYCLE_FIRST_SIZE = 50, CYCLE_SIZES = 300 };

static void *cycle_blocks[CYCLE_BLOCKS];
static size_t cycle_failed; /* reallocs that returned NULL, over every cycle */

static void *cycle_grow(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < CYCLE_BLOCKS; i++) {
        void *q = realloc(cycle_blocks[i], 64 + i % CYCLE_SIZES * 3);
        if (q)
            cycle_blocks[i] = q;
        else
            cycle_failed++;
    }
    return NULL;
}

/* The highest RSS of the cycles after the first, and the first's, in *first. */
static size_t cycles_peak(size_t *first)
{
    size_t peak = 0;
    for (int c = 0; c < CYCLES; c++) {
        for (size_t i = 0; i < CYCLE_BLOCKS; i++)
            cycle_blocks[i] = malloc(CYCLE_FIRST_SIZE);
        pthread_t tid;
        CHECK(pthread_create(&tid, NULL, cycle_grow, NULL) == 0);
        pthread_join(tid, NULL);
        size_t rss = check_rss_bytes();
        if (c == 0)
            *first = rss;
        else if (rss > peak)
            peak = rss;
        for (size_t i = 0; i < CYCLE_BLOCKS; i++)
            free(cycle_blocks[i]);
    }
    return peak;
}

/* A thread that allocates one block of every small size class: each class's first span in its
 * heap is one page (heap.h, ARC_SPAN_FIRST_SIZE), so the heap's segment has about one page
 * resident per class, plus its header's and the byte allocator's few. Full 32 KiB spans touched
 * two each (their blocks' page, and their last page, where TLSF writes the head word of the free
 * block after them): 1 000 such threads took 151 MB against 99 MB now. */
static const size_t class_sizes[] = {16,  32,  48,  64,  80,  96,  112, 128, 160, 192,
                                     224, 256, 320, 384, 448, 512, 640, 768, 896, 1024};
#define CLASSES (sizeof class_sizes / sizeof class_sizes[0])
/* Pages besides one per class: the segment header (fields, span map, descriptors, live bits)
 * and the byte allocator's region words, 5 measured, with room. Buddy is the exception: each
 * split writes the free-list links of the upper half it leaves at that half's start, a page a
 * level for the first blocks of a fresh region (43 measured; full spans: 42), so there only
 * twice the classes is promised. */
#define FIRST_SPANS_OVERHEAD_PAGES 8
enum { SEGMENT_BYTES = 1 << 20, OS_PAGE = 4096 };

static size_t first_spans_resident = 0;
static bool first_spans_one_segment = true;

static void *first_spans(void *arg)
{
    (void)arg;
    void *blocks[CLASSES];
    uintptr_t seg = 0;
    for (size_t i = 0; i < CLASSES; i++) {
        blocks[i] = malloc(class_sizes[i] - 8); /* secure mode adds an 8-byte canary */
        if (!blocks[i])
            return NULL;
        memset(blocks[i], 1, class_sizes[i] - 8);
        uintptr_t s = (uintptr_t)blocks[i] & ~(uintptr_t)(SEGMENT_BYTES - 1);
        first_spans_one_segment &= seg == 0 || s == seg;
        seg = s;
    }
    unsigned char vec[SEGMENT_BYTES / OS_PAGE];
    if (mincore((void *)seg, SEGMENT_BYTES, vec) == 0)
        for (size_t i = 0; i < sizeof vec; i++)
            first_spans_resident += vec[i] & 1;
    for (size_t i = 0; i < CLASSES; i++)
        free(blocks[i]);
    return NULL;
}

static void test_first_spans(void)
{
    pthread_t tid;
    CHECK(pthread_create(&tid, NULL, first_spans, NULL) == 0);
    pthread_join(tid, NULL);
    printf("first spans: %zu classes, %zu pages of the thread's segment resident\n", CLASSES,
           first_spans_resident);
    CHECK(first_spans_one_segment);
    size_t per_class = strcmp(arc_backend_name(), "buddy") == 0 ? 2 : 1;
    CHECKF(first_spans_resident > CLASSES / 2 &&
               first_spans_resident <= per_class * CLASSES + FIRST_SPANS_OVERHEAD_PAGES,
           "a heap with one block of each of %zu classes has %zu pages resident", CLASSES,
           first_spans_resident);
}

/* Pages of the 1 MiB segment at seg resident now. */
static size_t segment_resident(uintptr_t seg)
{
    unsigned char vec[SEGMENT_BYTES / OS_PAGE];
    size_t pages = 0;
    if (mincore((void *)seg, SEGMENT_BYTES, vec) != 0)
        return SEGMENT_BYTES / OS_PAGE;
    for (size_t i = 0; i < sizeof vec; i++)
        pages += vec[i] & 1;
    return pages;
}

/* Buffers a program fills only the start of (a server's 64 KiB receive buffers with a 2 KiB
 * request in each): each must keep one page resident, not two. A segment's body starts on a page
 * (heap.h, ARC_SEGMENT_BODY_OFFSET), so the first buffer starts a few bytes into a page and each
 * next one a head word later. Before, the body followed the header directly, the first buffer
 * started 2 224 bytes into a page, and each buffer's 2 KiB reached into a second page: 2 pages a
 * buffer (bench/connbufs: 99 MB of peak RSS against 62 now). The limit: a page per buffer, and
 * per segment its header (4 pages), the head word of the free block after its last buffer, the
 * page of the byte allocator's region end and one spare (84 pages measured with tlsf and slab).
 * buddy keeps one map byte per 16 bytes at its region's start, 16 pages of a segment, and each
 * buffer's byte lies on a page of its own there: two pages a buffer, and per segment its header
 * and the map's first pages (171 measured for 60 buffers in 5 segments, the same as before). */
enum { FILLED_BUFFERS = 60, FILLED_BUFFER = 64 * KIB, FILLED_WRITTEN = 2 * KIB };
enum { FILLED_SEGMENT_PAGES = 7, FILLED_SEGMENT_PAGES_BUDDY = 13, FILLED_SEGMENTS_MAX = 16 };
static size_t filled_resident = 0, filled_segments = 0;

static void *filled_buffers(void *arg)
{
    (void)arg;
    static char *buffers[FILLED_BUFFERS];
    static uintptr_t segments[FILLED_SEGMENTS_MAX];
    for (size_t i = 0; i < FILLED_BUFFERS; i++) {
        buffers[i] = malloc(FILLED_BUFFER);
        if (!buffers[i])
            return NULL;
        memset(buffers[i], (int)i, FILLED_WRITTEN);
        uintptr_t seg = (uintptr_t)buffers[i] & ~(uintptr_t)(SEGMENT_BYTES - 1);
        size_t k = 0;
        while (k < filled_segments && segments[k] != seg)
            k++;
        if (k == filled_segments && filled_segments < FILLED_SEGMENTS_MAX)
            segments[filled_segments++] = seg;
    }
    for (size_t k = 0; k < filled_segments; k++)
        filled_resident += segment_resident(segments[k]);
    for (size_t i = 0; i < FILLED_BUFFERS; i++)
        free(buffers[i]);
    return NULL;
}

static void test_filled_buffers(void)
{
    pthread_t tid;
    CHECK(pthread_create(&tid, NULL, filled_buffers, NULL) == 0);
    pthread_join(tid, NULL);
    printf("partly filled buffers: %d of %d KiB with %d KiB written, %zu segments, %zu pages "
           "resident\n",
           FILLED_BUFFERS, FILLED_BUFFER / KIB, FILLED_WRITTEN / KIB, filled_segments,
           filled_resident);
    CHECK(filled_segments > 0 && filled_segments < FILLED_SEGMENTS_MAX);
    bool buddy = strcmp(arc_backend_name(), "buddy") == 0;
    size_t per_buffer = buddy ? 2 : 1;
    size_t per_segment = buddy ? FILLED_SEGMENT_PAGES_BUDDY : FILLED_SEGMENT_PAGES;
    CHECKF(filled_resident >= FILLED_BUFFERS &&
               filled_resident <= per_buffer * FILLED_BUFFERS + filled_segments * per_segment,
           "%d buffers with their first %d KiB written keep %zu pages of %zu segments resident",
           FILLED_BUFFERS, FILLED_WRITTEN / KIB, filled_resident, filled_segments);
}

/* A few blocks that live on (a program's tables, what pthread_create keeps) sit in the heap's
 * first segment when a big phase fills it and frees everything: the segment stays, and its free
 * pages must still go back. Before holes (heap.h) the whole segment stayed resident for good
 * (256 pages, RSS 1 MiB above the start after 3 s idle and malloc_trim). The blocks here reach
 * 4 KiB, so the byte allocator's own blocks sit between the spans. The limit: the segment's
 * header (4 pages), the kept blocks' span and page, the spans the warm-up left current, and the
 * page at each edge of a hole: 31 pages measured with tlsf, and slab keeps a spare slab per
 * class, 50: a quarter of the segment is the limit. buddy joins no holes (it merges only
 * buddies) and keeps the first page of each (their link: its blocks start on pages), 56 to 67:
 * three eighths. With OS pages of 64 KiB (a page-size test build) each hole keeps one of those:
 * buddy 128, five eighths. While it waits the test reads RSS (fopen allocates), as a program idle
 * but for a little work now and then. */
enum { PINNED_TOTAL = 256 * MIB, PINNED_LARGEST = 4000, PINNED_SEGMENT_PAGES_MAX = 64 };
enum { PINNED_SEGMENT_PAGES_MAX_BUDDY = 96, PINNED_SEGMENT_PAGES_MAX_BIG_PAGES = 160 };

static void test_pinned(void)
{
    enum { WARM_BLOCKS = 2048, WARM_BYTES = 256 * KIB };
    static void *warm[WARM_BLOCKS];
    size_t bytes;
    free_interleaved(warm, fill_small(warm, WARM_BLOCKS, WARM_BYTES, &bytes));
    char *kept_small = malloc(64), *kept_medium = malloc(3000);
    CHECK(kept_small != NULL && kept_medium != NULL);
    if (!kept_small || !kept_medium)
        return;
    memset(kept_small, 1, 64);
    memset(kept_medium, 2, 3000);
    uintptr_t seg = (uintptr_t)kept_medium & ~(uintptr_t)(SEGMENT_BYTES - 1);
    /* 256 MiB, or what the small address_space builds hold (total_bytes). */
    size_t total = total_bytes() < PINNED_TOTAL ? total_bytes() : PINNED_TOTAL;
    size_t start = check_rss_bytes(), cap = total / 1000;
    void **blocks = malloc(cap * sizeof *blocks);
    CHECK(blocks != NULL);
    if (!blocks)
        return;
    size_t count = fill_sizes(blocks, cap, total, PINNED_LARGEST, &bytes);
    size_t full = segment_resident(seg);
    free_interleaved(blocks, count);
    free(blocks);
    long waited;
    /* Where the OS page is larger (a page-size test build), each hole keeps one of those. */
    size_t most = strcmp(arc_backend_name(), "buddy") == 0 ? PINNED_SEGMENT_PAGES_MAX_BUDDY
                                                           : PINNED_SEGMENT_PAGES_MAX;
    if (test_os_page() > OS_PAGE)
        most = PINNED_SEGMENT_PAGES_MAX_BIG_PAGES;
    size_t after = rss_settled(start, &waited), left = segment_resident(seg);
    for (; left > most && waited < SETTLE_LIMIT_MS; waited += POLL_MS) {
        sleep_ms(POLL_MS);
        left = segment_resident(seg);
    }
    after = check_rss_bytes();
    printf("pinned segment: %zu blocks, %zu MiB; RSS start %zu KiB, after free %zu KiB (%ld ms "
           "idle); the kept blocks' segment %zu pages resident full, %zu after\n",
           count, bytes / MIB, start / KIB, after / KIB, waited, full, left);
    CHECK(full > most); /* the phase did fill the kept blocks' segment */
    CHECKF(left <= most, "%zu pages of the kept blocks' segment resident", left);
    CHECKF(after <= start_plus_tenth(start),
           "RSS %ld ms after freeing %zu MiB beside kept blocks: %zu KiB (start %zu KiB)", waited,
           bytes / MIB, after / KIB, start / KIB);
    CHECK(kept_small[63] == 1 && kept_medium[2999] == 2);
    free(kept_small);
    free(kept_medium);
}

/* Runs fn in a child process, which starts with no thread heap left by an earlier test. */
static void in_child(const char *name, void (*fn)(void))
{
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        fn();
        fflush(stdout);
        _exit(check_failed ? 1 : 0);
    }
    int status = -1;
    CHECK(child > 0 && waitpid(child, &status, 0) == child);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: child status %#x", name, status);
}

int main(void)
{
    /* First, in a child while no thread has ended (its new heap's segment is fresh memory, not
     * one a finished thread left committed), so the phases below start with no heap waiting. */
    in_child("first spans", test_first_spans);
    in_child("pinned segment", test_pinned);
    if (test_os_page() == OS_PAGE) /* with bigger OS pages a buffer's 2 KiB share pages anyway */
        in_child("partly filled buffers", test_filled_buffers);

    /* A first, small phase (256 KiB, within the heap's first segment): the start figure then
     * includes arcalloc's fixed costs and the C library code a phase runs (memset), so what is
     * compared is what the big phase leaves behind. */
    enum { WARM_BLOCKS = 2048, WARM_BYTES = 256 * KIB };
    static void *warm[WARM_BLOCKS];
    size_t warm_bytes;
    free_interleaved(warm, fill_small(warm, WARM_BLOCKS, WARM_BYTES, &warm_bytes));
    size_t start = check_rss_bytes();

    const size_t total = total_bytes();
    size_t bytes, cap = total / 128; /* sizes average 264 B */
    void **blocks = malloc(cap * sizeof *blocks);
    CHECK(blocks != NULL);
    if (!blocks)
        return check_done();
    size_t count = fill_small(blocks, cap, total, &bytes);
    size_t peak = check_rss_bytes();
    free_interleaved(blocks, count);
    free(blocks);
    long waited;
    size_t after = rss_settled(start, &waited);
    printf("small blocks: %zu blocks, %zu MiB; RSS start %zu KiB, peak %zu MiB, after free %zu KiB "
           "(%ld ms idle)\n",
           count, bytes / MIB, start / KIB, peak / MIB, after / KIB, waited);
    CHECK(peak >= start + total / 2); /* the blocks were really resident */
    CHECKF(after <= start_plus_tenth(start),
           "RSS %ld ms after freeing 1 GiB: %zu KiB (start %zu KiB)", waited, after / KIB,
           start / KIB);

    /* Large blocks: 64 rounds of a 16 MiB block, touched and freed, nothing else large live. The
     * first round faults its pages in; the others reuse them (the freed run stays committed), so
     * together they take fewer faults than one round's pages. */
    enum { ROUNDS = 64, LARGE = 16 * MIB, PAGE = 4096, HUGE_PAGE = 2 * MIB };
    long faults_first = 0, faults_rest = 0;
    for (int round = 0; round < ROUNDS; round++) {
        long before = minor_faults();
        char *volatile p = malloc(LARGE); /* volatile: the compiler may not drop the block */
        CHECK(p != NULL);
        if (!p)
            break;
        fill_kept(p, round, LARGE);
        CHECK(p[LARGE - 1] == (char)round);
        free(p);
        *(round == 0 ? &faults_first : &faults_rest) += minor_faults() - before;
    }
    size_t after_large = rss_settled(start, &waited);
    printf("large blocks: %d x 16 MiB: %ld page faults in the first round, %ld in the %d others; "
           "RSS %zu KiB after %ld ms idle\n",
           ROUNDS, faults_first, faults_rest, ROUNDS - 1, after_large / KIB, waited);
    /* The first round did touch fresh pages: a fault per 4 KiB page, or per 2 MiB where huge
     * pages back the block (the 1 GiB phase turned them on: docs/design.md, "Huge pages"). */
    CHECK(faults_first >= LARGE / HUGE_PAGE);
    CHECKF(faults_rest < LARGE / PAGE, "%ld page faults in %d rounds that reuse the block",
           faults_rest, ROUNDS - 1);
    CHECKF(after_large <= start_plus_tenth(start),
           "RSS %ld ms after the large blocks: %zu KiB (start %zu KiB)", waited, after_large / KIB,
           start / KIB);

    size_t first_cycle = 0;
    size_t cycles = cycles_peak(&first_cycle);
    printf("cycles: %d workers each growing %d blocks: RSS %zu KiB after the first, at most %zu "
           "KiB after the others\n",
           CYCLES, CYCLE_BLOCKS, first_cycle / KIB, cycles / KIB);
    CHECKF(cycle_failed == 0, "%zu reallocs failed in the cycles", cycle_failed);
    CHECKF(cycles <= first_cycle + first_cycle / 4,
           "RSS grew over the cycles: %zu KiB, %zu KiB after the first", cycles / KIB,
           first_cycle / KIB);
    return check_done();
}
