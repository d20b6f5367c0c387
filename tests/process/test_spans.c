/* test_spans.c: how the process allocator holds and gives back memory between spans, segments
 * and the arena, read through arc_stats_get's counters: spans fill a segment with no gap between
 * them (packing), a heap that held many segments gives every one back once it empties (segment
 * give-back), and a class whose current span went back once keeps its next one pinned rather
 * than taking and returning a span per burst (span pinning), and a thread taking over an exited
 * thread's heap cuts its blocks from the spans that thread left (relay), and malloc_trim keeps each
 * class's current span while its segment holds other blocks (trim). Uses the arc_ names so it
 * measures arcalloc under any sanitizer. Built only with -Dstats=true (the default): the span
 * counters are compiled out otherwise. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "arcalloc.h"
#include "check.h"

/* Runs fn(arg) on a fresh thread and waits for it: each case measures a heap of its own. */
static void run_thread(void *(*fn)(void *), void *arg)
{
    pthread_t tid;
    CHECK(pthread_create(&tid, NULL, fn, arg) == 0);
    pthread_join(tid, NULL);
}

/* A wave: a fresh thread fills about WAVE_BYTES with small blocks, then frees them all. Its heap
 * held 8 segments or more, so once empty it gives every one back (heap.h:
 * ARC_HEAP_EMPTIED_AFTER_SEGMENTS). */
#define WAVE_BYTES    ((size_t)12 << 20)
#define WAVE_BLOCK    256
#define WAVE_SEGMENTS 8 /* the least the wave must have needed: 12 MiB in 1 MiB segments */
#define WAVE_KEPT_MAX 0 /* segments the emptied heap may still hold */

typedef struct {
    struct arc_stats peak, after;
} wave_t;

static void *wave_main(void *arg)
{
    wave_t *w = arg;
    static void *blocks[WAVE_BYTES / WAVE_BLOCK];
    size_t n = WAVE_BYTES / WAVE_BLOCK;
    for (size_t i = 0; i < n; i++)
        blocks[i] = arc_malloc(WAVE_BLOCK);
    arc_stats_get(&w->peak);
    for (size_t i = 0; i < n; i++)
        arc_free(blocks[i]);
    arc_stats_get(&w->after);
    return NULL;
}

static void check_wave(void)
{
    static wave_t w;
    struct arc_stats s0;
    arc_stats_get(&s0);
    run_thread(wave_main, &w);
    CHECKF(w.peak.segments >= s0.segments + WAVE_SEGMENTS, "segments %llu at the peak, %llu before",
           (unsigned long long)w.peak.segments, (unsigned long long)s0.segments);
    CHECKF(w.after.segments <= s0.segments + WAVE_KEPT_MAX,
           "segments %llu after freeing the wave, %llu before",
           (unsigned long long)w.after.segments, (unsigned long long)s0.segments);
}

/* Packing: spans of one class follow each other in a segment with nothing between them. A fresh
 * thread allocates 256-byte blocks until its heap takes a second segment; the spans the first
 * one held before that must be at least what its backend fits in a 1 MiB segment after the
 * segment's header and the backend's own bookkeeping (check_packing). With the TLSF backend a
 * span asking for a full 32 KiB had a stride of 32 KiB + 16, which pushed every next
 * page-aligned span a page further on: 28 spans a segment. */
#define PACK_BLOCK 256
#define PACK_MAX   8192 /* blocks: two segments' worth of 256-byte blocks and more */

typedef struct {
    unsigned long long spans; /* spans the first segment held when the second was taken */
} pack_t;

static void *pack_main(void *arg)
{
    pack_t *k = arg;
    static void *blocks[PACK_MAX];
    struct arc_stats s0, s;
    arc_stats_get(&s0);
    size_t n = 0;
    while (n < PACK_MAX) {
        blocks[n++] = arc_malloc(PACK_BLOCK);
        arc_stats_get(&s);
        if (s.segments_added >= s0.segments_added + 2) {
            k->spans = s.spans_added - s0.spans_added - 1; /* the last one is the second's */
            break;
        }
    }
    for (size_t i = 0; i < n; i++)
        arc_free(blocks[i]);
    return NULL;
}

static void check_packing(const char *backend)
{
    /* What each backend fits, measured: TLSF 31 (32 pages less the segment's header pages);
     * buddy 29 (its byte map, one byte per 16 bytes, takes 64 KiB); slab 31. */
    unsigned long long want = strcmp(backend, "tlsf") == 0    ? 31
                              : strcmp(backend, "buddy") == 0 ? 29
                                                              : 31;
    static pack_t k;
    run_thread(pack_main, &k);
    printf("packing (%s): the first segment held %llu spans of %d-byte blocks\n", backend, k.spans,
           PACK_BLOCK);
    CHECKF(k.spans >= want, "%s: %llu spans in a segment, expected at least %llu", backend, k.spans,
           want);
}

/* Bursts: a thread allocates a few blocks of one class, lets another class take and give back
 * whole spans, then frees the few. The bursty class must keep a span (re-pinned after the first
 * time its current span went back), not take and give back one per burst. */
#define BURSTS          2000
#define BURST_BLOCKS    4
#define BURST_SIZE      48
#define BURST_BIG_SIZE  1024
#define BURST_BIG_COUNT 62 /* two spans of 1 KiB blocks (31 each): spans come and go each burst */

typedef struct {
    struct arc_stats before, after;
} burst_t;

static void *burst_main(void *arg)
{
    burst_t *b = arg;
    void *few[BURST_BLOCKS], *big[BURST_BIG_COUNT];
    arc_free(arc_malloc(1)); /* the heap exists before the first reading */
    arc_stats_get(&b->before);
    for (int round = 0; round < BURSTS; round++) {
        for (int i = 0; i < BURST_BLOCKS; i++)
            few[i] = arc_malloc(BURST_SIZE);
        for (int i = 0; i < BURST_BIG_COUNT; i++)
            big[i] = arc_malloc(BURST_BIG_SIZE);
        for (int i = 0; i < BURST_BIG_COUNT; i++)
            arc_free(big[i]);
        for (int i = 0; i < BURST_BLOCKS; i++)
            arc_free(few[i]);
    }
    arc_stats_get(&b->after);
    return NULL;
}

static void check_bursts(void)
{
    static burst_t b;
    run_thread(burst_main, &b);
    unsigned long long added = (unsigned long long)(b.after.spans_added - b.before.spans_added);
    /* The 1 KiB class takes about one span per burst; the bursty class should add next to
     * nothing on top (one span per burst without the re-pin: twice as many). */
    printf("bursts: %llu spans taken in %d bursts\n", added, BURSTS);
    CHECKF(added <= BURSTS * 3 / 2, "%llu spans taken in %d bursts", added, BURSTS);
    CHECKF(added >= BURSTS / 2, "%llu spans taken in %d bursts: the 1 KiB spans went nowhere",
           added, BURSTS);
}

/* Relay: RELAY_THREADS threads one after another, each allocating RELAY_BLOCKS small blocks of
 * every class, freeing them but one in RELAY_HAND_ONE_IN, which it hands to the main thread to
 * free after the join (into a heap no thread holds). Each thread takes over the heap of the one
 * before, with the current spans it left: after the first, the threads take next to no span
 * (RELAY_SPANS_MAX in all). When a thread's exit gave back every empty span, each next thread
 * took about 7 spans, wherever the byte allocator placed them, and the pages a heap had touched
 * crept over its segment. */
#define RELAY_THREADS     400
#define RELAY_BLOCKS      128
#define RELAY_HAND_ONE_IN 4
#define RELAY_SPANS_MAX   (RELAY_THREADS / 8)

typedef struct {
    size_t id;
    void *handed[RELAY_BLOCKS / RELAY_HAND_ONE_IN];
} relay_t;

static void *relay_main(void *arg)
{
    relay_t *r = arg;
    void *blocks[RELAY_BLOCKS];
    for (size_t i = 0; i < RELAY_BLOCKS; i++) {
        size_t size = 16 + (i * 37 + r->id * 11) % 1009; /* every small class */
        blocks[i] = arc_malloc(size);
        CHECK(blocks[i] != NULL);
        if (blocks[i])
            memset(blocks[i], (int)i, size);
    }
    for (size_t i = 0; i < RELAY_BLOCKS; i++) {
        if (i % RELAY_HAND_ONE_IN == 0)
            r->handed[i / RELAY_HAND_ONE_IN] = blocks[i];
        else
            arc_free(blocks[i]);
    }
    return NULL;
}

static void check_relay(void)
{
    static relay_t r;
    struct arc_stats first, last;
    for (size_t t = 0; t < RELAY_THREADS; t++) {
        r.id = t;
        run_thread(relay_main, &r);
        for (size_t i = 0; i < RELAY_BLOCKS / RELAY_HAND_ONE_IN; i++)
            arc_free(r.handed[i]);
        if (t == 0)
            arc_stats_get(&first);
    }
    arc_stats_get(&last);
    unsigned long long added = (unsigned long long)(last.spans_added - first.spans_added);
    printf("relay: %llu spans taken by %d threads after the first\n", added, RELAY_THREADS - 1);
    CHECKF(added <= RELAY_SPANS_MAX, "%llu spans taken by %d threads after the first", added,
           RELAY_THREADS - 1);
}

/* Trim: malloc_trim gives back every empty span but each class's current one while its segment
 * holds another block, so a program that trims after each burst of small blocks cuts the next
 * burst from the same spans (TRIM_SPANS_MAX taken in all after the first round; every class's
 * span each round when trim gave them all back), and once the segment holds nothing else the
 * current spans go too, and the segment with them. */
#define TRIM_ROUNDS    50
#define TRIM_CLASSES   40 /* sizes 16 + 25 * i: one block of as many classes */
#define TRIM_SPANS_MAX (TRIM_ROUNDS / 5)

typedef struct {
    struct arc_stats start, first, rounds, kept, last;
} trim_t;

static void *trim_main(void *arg)
{
    trim_t *t = arg;
    arc_stats_get(&t->start);
    void *live = arc_malloc(48); /* holds the segment */
    for (int round = 0; round < TRIM_ROUNDS; round++) {
        void *blocks[TRIM_CLASSES];
        for (size_t i = 0; i < TRIM_CLASSES; i++)
            blocks[i] = arc_malloc(16 + 25 * i);
        for (size_t i = 0; i < TRIM_CLASSES; i++)
            arc_free(blocks[i]);
        arc_malloc_trim(0);
        if (round == 0)
            arc_stats_get(&t->first);
    }
    arc_stats_get(&t->rounds);
    arc_free(live);
    arc_stats_get(&t->kept);
    arc_malloc_trim(0);
    arc_stats_get(&t->last);
    return NULL;
}

static void check_trim(void)
{
    static trim_t t;
    run_thread(trim_main, &t);
    unsigned long long first = (unsigned long long)(t.first.spans_added - t.start.spans_added);
    unsigned long long added = (unsigned long long)(t.rounds.spans_added - t.first.spans_added);
    printf("trim: %llu spans in the first round, %llu in %d more\n", first, added, TRIM_ROUNDS - 1);
    CHECKF(added <= TRIM_SPANS_MAX, "%llu spans taken in %d rounds after the first", added,
           TRIM_ROUNDS - 1);
    /* The thread may have taken over an exited thread's heap, with its segments: the last trim
     * gives back at least the one the live block held. */
    CHECKF(t.last.segments < t.kept.segments,
           "segments %llu after the last trim, %llu before it: the current spans held one",
           (unsigned long long)t.last.segments, (unsigned long long)t.kept.segments);
}

int main(void)
{
    arc_free(arc_malloc(1)); /* the main thread's heap exists from here on */
    check_packing(arc_backend_name());
    check_wave();
    check_bursts();
    check_relay();
    check_trim();
    return check_done();
}
