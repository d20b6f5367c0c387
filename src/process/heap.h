/* heap.h: a heap is one byte-allocator instance that grows by 1 MiB segments taken from the
 * arena, the spans of small blocks it cuts from it, and a lock-free list of blocks other threads
 * freed. Thread heaps are owned by one thread and take no lock on their fast paths; first-class
 * heaps (arc_heap_new) are shared and take their mutex. Knows nothing of symbol names. */
#ifndef ARC_HEAP_H
#define ARC_HEAP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arcalloc.h"
#include "arena.h"
#include "prof_hooks.h"
#include "report.h"
#include "counters.h"

#if defined(__GNUC__)
#define arc_likely(x)   __builtin_expect(!!(x), 1)
#define arc_unlikely(x) __builtin_expect(!!(x), 0)
#define ARC_NOINLINE    __attribute__((noinline))
#define ARC_INLINE      inline __attribute__((always_inline))
#else
#define arc_likely(x)   (x)
#define arc_unlikely(x) (x)
#define ARC_NOINLINE
#define ARC_INLINE inline
#endif

/* Segment: the unit a heap grows and shrinks by. Segments are aligned to their size, so a small
 * block's segment is its address rounded down. */
#define ARC_SEGMENT_PAGES (ARC_SEGMENT_SIZE / ARC_PAGE_SIZE)
/* A heap keeps its only segment, empty or not (a thread whose one block comes and goes does not
 * move it in and out of its byte allocator each time), unless the heap is empty after holding at
 * least this many segments since it last held none: a program that built up 8 MiB and freed it
 * all gets back to where it started (tests/process/test_rss.c). Every other empty segment goes to
 * the heap's dirty cache at once, committed until it decays (dirty.h). */
#define ARC_HEAP_EMPTIED_AFTER_SEGMENTS 8
/* Live-block map granule: malloc's alignment, so every block start has its own bit. */
#define ARC_GRANULE    ((size_t)ARC_MIN_ALIGN)
#define ARC_LIVE_WORDS (ARC_SEGMENT_SIZE / ARC_GRANULE / 64)

/* Small blocks (up to ARC_SMALL_MAX, malloc's alignment) live in spans: ARC_SPAN_SIZE bytes the
 * heap takes from its byte allocator (one page-aligned block) and cuts into blocks of one size
 * class. A span's free blocks are linked through their first word; malloc pops, free pushes,
 * and neither calls the byte allocator. 32 KiB: 32 blocks of the largest class, few enough
 * that a class used a little does not pin much, many enough that a span is taken rarely. */
#define ARC_SMALL_MAX ((size_t)1024)
#define ARC_SPAN_SIZE ((size_t)32 << 10)
/* A span asks its byte allocator for this many bytes less than its size (ARC_SPAN_SIZE, or
 * ARC_SPAN_FIRST_SIZE below): TLSF puts an 8-byte head word before each block (tlsf.c), so a
 * request of 32 KiB - 8 has a stride of exactly 32 KiB and the next page-aligned span starts
 * right after it. A request of a full 32 KiB would push the next span a page further on, leaving
 * a 4 KiB gap (and a page faulted in for its header) after every span. Buddy and slab round the
 * request up to the span's size; the span's blocks fill whatever the byte allocator gave, up to
 * that size. The page map (span_at) sends every pointer in the pages a span's blocks lie in to
 * the span, so no other block may start in them: with
 * TLSF the block after a span has its header in the span's last 16 bytes and its payload on the
 * next page. A larger head room breaks that (32 bytes more put the next block's payload, a medium
 * block once handed out, inside the span's last page, where free took it for a small block). */
#define ARC_SPAN_HEAD_ROOM ((size_t)8)
/* A class's first span in a heap is one page (span.c): a span touches its first page for its
 * blocks and TLSF writes the head word of the free block after it in its last page, so a 32 KiB
 * span holding a few blocks costs two pages where one would do. A thread that allocates a few
 * blocks of many classes (a pool of threads each with a small heap) touches about half the pages;
 * a class used more gets full spans from its second span on. */
#define ARC_SPAN_FIRST_SIZE ((size_t)ARC_PAGE_SIZE)
/* Span descriptors a segment holds (slot 0 means "no span"): a 1 MiB segment fits at most 31
 * full spans after its header, and a heap's first span of each class may be one page. */
#define ARC_SPAN_SLOTS 64u
_Static_assert(ARC_SPAN_SIZE <= UINT32_MAX, "block offsets in a span fit 32 bits (block_magic)");
/* Size classes: 16-byte steps to 128 B, then four per doubling to 1 KiB (at most 25 % of a
 * block is rounding). Class 0 is "no class": the request goes to the byte allocator. */
#define ARC_CLASSES 21u
_Static_assert(ARC_SEGMENT_SIZE / ARC_SPAN_SIZE + ARC_CLASSES <= ARC_SPAN_SLOTS,
               "a slot for every span");
_Static_assert(ARC_CLASSES <= 32, "spanned_classes has a bit per class");
_Static_assert(ARC_CLASSES <= ARC_STATS_CLASS_SLOTS, "a counter slot for every size class");
/* Bytes a span's free list grows by when its never-used tail is cut (span.c): one page at a
 * time, so a span's memory is touched as it is used. */
#define ARC_SPAN_EXTEND_BYTES ((size_t)ARC_PAGE_SIZE)

/* A span's `used` word: the count of its blocks out (in the program's hands or on a remote
 * list) in the low bits, and three flags above it. CURRENT pins its class's current span (the
 * one malloc takes from), so its count reaching 0 is no event; a current span is pinned the
 * first time it empties soon after it became current (span.c: a class whose only blocks come
 * and go), and given back instead when it empties later (a program that freed everything).
 * Free's one test after the decrement, (used - 1) >= ARC_SPAN_SAMPLED - 1, catches all the rare
 * cases at once: an unpinned span emptied, a full span got a block back, or the span holds
 * sampled blocks. */
#define ARC_SPAN_FULL    ((uint32_t)1 << 31) /* out of its class's ring: no free block, no tail */
#define ARC_SPAN_SAMPLED ((uint32_t)1 << 30) /* holds blocks the heap profiler sampled */
#define ARC_SPAN_CURRENT ((uint32_t)1 << 29) /* its class's current span, pinned */
#define ARC_SPAN_COUNT   (ARC_SPAN_CURRENT - 1)

typedef struct arc_span {
    void *free;                   /* blocks ready to hand out */
    struct arc_span *next, *prev; /* the class's ring of spans with room (not FULL) */
    char *start, *bump, *end;     /* blocks; [bump, end) never handed out yet */
    uint32_t used;                /* blocks out | FULL | SAMPLED | CURRENT flags */
    uint32_t block_size;          /* bytes, a multiple of ARC_GRANULE */
    uint8_t cls;                  /* size class */
    uint8_t pad;
    uint16_t sampled;       /* blocks of it the heap profiler holds samples of */
    uint32_t current_since; /* span_events when malloc's slow path last switched to it */
} arc_span_t;
_Static_assert(sizeof(arc_span_t) == 64, "one cache line per span descriptor");

/* ---- holes (holes.c) ---------------------------------------------------------------------------
 * A segment that stays in use (one live block is enough) would keep all its pages resident, the
 * free ones too. So a heap takes its byte allocator's large free blocks out whole ("holes") and
 * puts their inner pages in its held cache (dirty.h): they decay there like any freed run, and
 * the purger decommits them even while the heap's thread sleeps (the block stays taken, so no
 * one writes it meanwhile). A request that finds no free block, or the segment's release, gives
 * holes back to the byte allocator first. */
/* The least free block made a hole: 16 KiB, of which 3 pages at least lie whole inside past
 * its link. Smaller free blocks are the gaps of a busy heap, reused soon. */
#define ARC_HOLE_MIN_BYTES ((size_t)16 << 10)
/* Bytes a heap frees into its byte allocator between two sweeps for holes: a program that frees
 * everything and sleeps leaves at most about this much free and resident in a heap's segments
 * (a sweep that finds no free block that large costs one failed search). */
#define ARC_HOLE_SWEEP_BYTES ((size_t)64 << 10)
/* ... and while holes are wasted: a hole a request took back before it decayed made the heap
 * pay for it (a lock and a clock read on each side, about 200 ns) for nothing, as a heap whose
 * one medium block comes and goes does at every sweep. For a decay time after that, the heap
 * sweeps once per 4 MiB freed, which bounds the waste to a few nanoseconds per 64 KiB block. */
#define ARC_HOLE_QUIET_BYTES ((size_t)4 << 20)
/* Holes a request that found no free block looks at before the heap grows instead: bounds the
 * time of a miss in a heap of thousands of holes. */
#define ARC_HOLE_SEARCH_MAX 256u
/* Holes one request gives back at most before the heap grows instead. */
#define ARC_HOLE_RETURN_MAX 8u
/* Two holes are side by side when at most this lies between them: a byte allocator's block
 * header (TLSF's head word; buddy and slab blocks have none). Less than any block between. */
#define ARC_HOLE_JOIN_GAP ((size_t)2 * ARC_GRANULE)
/* Holes one sweep makes at most, per ARC_HOLE_MIN_BYTES of the credit that started it: four
 * times what that credit can have freed, so sweeps keep up with a heap that shrinks, while one
 * sweep's time stays bounded (16 holes; 1 024 for the rare sweep of a quiet heap). */
#define ARC_HOLE_SWEEP_PER_MIN 4u

typedef struct arc_segment {
    arc_heap_t *heap;
    arc_ilist_link_t link; /* in the heap's list of segments */
    size_t backend_blocks; /* blocks the byte allocator has handed out of this segment */
    uint32_t sampled;      /* live blocks in it that the heap profiler sampled */
    uint32_t nholes;       /* holes.c: holes on the `holes` list */
    uint32_t medium_kept;  /* medium.c: its blocks in the heap's medium cache */
    bool body_dirty; /* its body came with old bytes (dirty pages): secure malloc clears blocks */
    uint64_t span_slots;         /* bit i: spans[i] describes a span (bit 0 is always set) */
    arc_ilist_link_t empty_link; /* in the heap's list of empty segments (heap.c) */
    arc_ilist_link_t hole_link;  /* in the heap's list of segments with holes (holes.c) */
    void *holes;                 /* holes.c: its holes, linked through their first word */
    /* Page of the segment -> the span covering it, NULL when no span does. */
    struct arc_span *span_at[ARC_SEGMENT_PAGES];
    _Alignas(64) arc_span_t spans[ARC_SPAN_SLOTS]; /* a cache line each */
    /* One bit per granule: set while a block starting there is in the program's hands. Clear
     * for free blocks, which makes double free and interior pointers exact whatever the
     * backend. */
    uint64_t live[ARC_LIVE_WORDS];
} arc_segment_t;

/* The header's bytes, and where the byte allocator's memory (the body) starts: on the first page
 * boundary after the header, so that the body's first block starts a few bytes into a page. A
 * block whose program writes only its start (a buffer partly filled) then keeps to one page where
 * a body right after the header would put that start near a page's end and the write across two
 * (bench/connbufs: 64 KiB buffers with 2 KiB written). The header's last page is resident
 * anyway; what the body gives up is the rest of that page, under ARC_PAGE_SIZE of address space. */
#define ARC_SEGMENT_HEADER sizeof(arc_segment_t)
#define ARC_SEGMENT_BODY_OFFSET                                                                    \
    ((ARC_SEGMENT_HEADER + ARC_PAGE_SIZE - 1) / ARC_PAGE_SIZE * ARC_PAGE_SIZE)
_Static_assert(sizeof(arc_segment_t) % 64 == 0, "the header's maps stay 64-byte aligned");
_Static_assert(ARC_LARGE_THRESHOLD + ARC_HEAP_MAX_ALIGN <
                   ARC_SEGMENT_SIZE - ARC_SEGMENT_BODY_OFFSET,
               "every heap request must fit in a fresh segment");

/* Request granules -> size bin: one bin per 16-byte size up to ARC_SMALL_MAX (arcalloc.h). */
_Static_assert(ARC_SIZE_BINS == ARC_SMALL_MAX / ARC_GRANULE + 1, "one bin per 16-byte size");

/* Alignments a span class can give beyond the granule's: 32 B (2^ARC_ALIGN_ROW0_SHIFT) up to
 * ARC_SMALL_MAX, one row of a heap's class_aligned table each (arc_heap_class_aligned). */
#define ARC_ALIGN_ROW0_SHIFT 5
#define ARC_ALIGN_ROWS       6u
_Static_assert(((size_t)1 << ARC_ALIGN_ROW0_SHIFT) == 2 * ARC_GRANULE, "row 0: twice the granule");
_Static_assert(((size_t)1 << (ARC_ALIGN_ROW0_SHIFT + ARC_ALIGN_ROWS - 1)) == ARC_SMALL_MAX,
               "the last row: the largest small block");

/* Growth headroom of a moved realloc (api.c): 1/4, the spacing of a size class in allocators with
 * four classes per doubling, so repeated growth copies each byte a bounded number of times. */
#define ARC_REALLOC_HEADROOM_DIV 4

typedef enum arc_heap_kind { ARC_HEAP_THREAD = 0, ARC_HEAP_SHARED = 1 } arc_heap_kind_t;

#if ARC_SECURE
/* Secure mode (secure.c, docs/security.md). Every small and medium block ends in a canary word:
 * a request of n bytes takes a block of at least n + ARC_CANARY_BYTES, and malloc_usable_size
 * is the block's size less the canary. */
#define ARC_CANARY_BYTES ((size_t)8)
/* Freed small and medium blocks of a thread heap wait in a FIFO of this many before they can be
 * handed out again (secure.c): a use after free meets zeros, not another object, and the ring
 * is 2 KiB of the heap. */
#define ARC_QUARANTINE_SLOTS 256u
/* The block that leaves the FIFO is drawn from its 16 oldest: four bits of randomness in the
 * order blocks come back (hardened allocators draw the next slot at random for the same end),
 * while a block still waits at least 256 - 16 + 1 = 241 more frees of the thread. */
#define ARC_QUARANTINE_PICK 16u
/* ... and of at most this many bytes: 256 medium blocks would hold up to 32 MiB; 4 MiB (four
 * segments) bounds what the quarantine keeps from reuse while still delaying 32 of the largest
 * medium blocks. */
#define ARC_QUARANTINE_BYTES ((size_t)4 << 20)
#endif

/* Blocks a thread gathers for another thread heap before it hands them over in one atomic step:
 * 32 turns a contended compare-and-swap per free into one per 32 frees, and bounds what waits in
 * a thread that stops freeing to 31 blocks. */
#define ARC_OUTBOX_BLOCKS 32u
/* Full batches one heap keeps in other heaps at most; past it a full outbox goes over linked, as
 * a partial one does. 64 covers the hand-offs of the suite (a consumer's batches come back within
 * a few dozen) and bounds a heap's batches to 65, about 20 KiB, however long an owner leaves them
 * (without a bound, a million blocks waiting on a blocked thread held 10 MB of batches). */
#define ARC_OUTBOX_BATCHES_OUT 64u

/* Medium cache (medium.c): a thread heap keeps the blocks of the byte allocator it freed, up to
 * ARC_MEDIUM_CACHE_MAX bytes each (every heap block above the small sizes: larger ones are page
 * runs), in bins of sizes, and hands one to the next request of its bin without asking the byte
 * allocator. Bins split each doubling above ARC_SMALL_MAX in ARC_MEDIUM_BIN_SPLIT (at most 1/8 of
 * a block is rounding); a request that finds its bin empty takes a block of the bin's full size,
 * so that once freed it serves every request of the bin. Before it, a malloc and free of 4-16 KiB
 * went through the byte allocator each time: 930 allocator instructions a pair, 2.5 to 3.8 times
 * glibc's time; one buffer of 32-128 KiB taken and freed in a loop, 2.6 to 4.5 times
 * (docs/design.md). */
#define ARC_SMALL_SHIFT      10u /* log2(ARC_SMALL_MAX) */
#define ARC_MEDIUM_SPLIT_LOG 3u
#define ARC_MEDIUM_BIN_SPLIT (1u << ARC_MEDIUM_SPLIT_LOG)
#define ARC_MEDIUM_MAX_SHIFT 17u /* log2(ARC_MEDIUM_CACHE_MAX) */
#define ARC_MEDIUM_CACHE_MAX ((size_t)1 << ARC_MEDIUM_MAX_SHIFT)
#define ARC_MEDIUM_BINS      ((ARC_MEDIUM_MAX_SHIFT - ARC_SMALL_SHIFT) * ARC_MEDIUM_BIN_SPLIT)
/* Blocks one bin keeps at most, and bytes the whole cache keeps at most: what a thread that goes
 * idle after freeing medium blocks leaves resident (the purger cannot take another thread's
 * blocks), as a class's current span is for small blocks. 8 blocks cover a loop that holds a few
 * buffers of one size at once. 512 KiB holds four blocks of the largest bin; with 256 KiB, a
 * loop of one buffer of a random size in 32-128 KiB found a kept block too seldom (772
 * instructions a pair, the whole program under callgrind, against 457 with 512 KiB). */
#define ARC_MEDIUM_BIN_BLOCKS  8u
#define ARC_MEDIUM_CACHE_BYTES ((size_t)512 << 10)
/* A request above 32 KiB whose bin keeps nothing takes a kept block of the first bin that does,
 * up to ARC_MEDIUM_REACH bins above its own: the block is then at most 13/9 of the bin's size (the
 * widest step, from the first bin of a doubling). With 2 bins, one buffer of a random 32-128 KiB
 * in a loop ran 2.2 times glibc's time; with 4, 1.3 times. Below 32 KiB a request takes its own
 * bin only: a miss there costs the byte allocator's search, not a hole, and in a program holding
 * thousands of blocks the reach let blocks drift to larger bins (`bench/medium`, 1-16 KiB: peak
 * RSS 17.7 -> 19.9 MiB with it). */
#define ARC_MEDIUM_REACH 4u
/* Bins b .. b + ARC_MEDIUM_REACH of medium_full >> b. */
#define ARC_MEDIUM_REACH_MASK ((2ull << ARC_MEDIUM_REACH) - 1)
/* log2 of the size above which requests reach. */
#define ARC_MEDIUM_REACH_SHIFT 15u
#define ARC_MEDIUM_REACH_BIN   ((ARC_MEDIUM_REACH_SHIFT - ARC_SMALL_SHIFT) * ARC_MEDIUM_BIN_SPLIT)
_Static_assert(ARC_MEDIUM_CACHE_MAX == ARC_LARGE_THRESHOLD, "the cache covers every heap block");
_Static_assert(ARC_MEDIUM_BINS <= 64, "medium_full has a bit per bin");
_Static_assert(ARC_SMALL_MAX == (size_t)1 << ARC_SMALL_SHIFT, "ARC_SMALL_SHIFT is its log2");

/* A batch of blocks the thread of heap `sender` freed into another thread heap (heap.c): filled
 * in the sender's outbox, pushed whole onto the owner's list, emptied by the owner, which reads
 * the pointers here rather than links in the blocks, and pushed back onto the sender's list of
 * emptied batches. Batches come from arena metadata and are never freed: heaps are never unmapped,
 * so a batch can always go back to its sender, even one whose thread has ended. */
typedef struct arc_remote_batch arc_remote_batch_t;
struct arc_remote_batch {
    arc_remote_batch_t *next; /* on the owner's list, the sender's emptied list or its spares */
    arc_heap_t *sender;
    uint32_t count;
    void *blocks[ARC_OUTBOX_BLOCKS];
};

/* An empty span with no blocks: a class with no span points here, so malloc's fast path needs
 * no NULL test (its free list is always empty). Never written. */
extern arc_span_t arc_span_none;

struct arc_heap {
    arc_span_t *current[ARC_CLASSES]; /* fast path first: each class's span to allocate from */
    uint8_t class_of[ARC_SIZE_BINS];  /* request granules -> class (0: none, the byte allocator) */
    /* Row r: requests aligned to 2^(r + ARC_ALIGN_ROW0_SHIFT), granules -> class (0: none). */
    uint8_t class_aligned[ARC_ALIGN_ROWS][ARC_SIZE_BINS];
    uint8_t sweep_class;              /* span.c: the class whose empty current span goes next */
    uint32_t span_events;             /* span.c: spans taken plus spans given back, wrapping */
    uint32_t dropped_at[ARC_CLASSES]; /* span.c: span_events when a current span last went back */
    uint32_t spanned_classes;         /* span.c: bit c set once class c had a span in this heap */
#if ARC_SECURE
    bool secure;        /* secure mode (arc_arena_secure(), copied at creation) */
    uintptr_t link_key; /* arc_arena_secure_key(): free-list links are encoded with it */
    uint64_t reuse_rng; /* xorshift64 state: which quarantined block leaves next */
    /* Per class, UINT64_MAX / block size + 1: an offset below 2^32 is a whole number of blocks
     * when its product with this is below it (arc_link_in_span; no division on the pop). */
    uint64_t block_magic[ARC_CLASSES];
    uint32_t quarantine_head, quarantine_count; /* secure.c: the ring of freed blocks */
    uint32_t quarantine_scrub;                  /* the next block arc_secure_scrub checks */
    size_t quarantine_bytes;
    uintptr_t quarantine[ARC_QUARANTINE_SLOTS]; /* blocks, with secure.c's mark in bit 0 */
    /* First-class heaps: their live blocks of the byte allocator, each with a canary that
     * arc_heap_shared_used leaves out (the program's usable bytes, as in default mode). */
    size_t canaried_live;
#endif
    int64_t prof_left; /* bytes until the heap profiler samples (prof_hooks.h) */
#if ARC_PROF
    uint64_t prof_rng; /* the profiler draws this heap's sampling intervals from it */
#endif
    const arc_byte_ops_t *ops;
    arc_byte_allocator_t *backend;
    /* Blocks other threads freed into this heap: one at a time by threads without a heap, linked
     * through their first word, and in batches from other thread heaps. */
    _Atomic(void *) remote;
    _Atomic(arc_remote_batch_t *) remote_batches;
    /* Outbox: the batch this heap's thread is filling for the thread heap out_owner (both NULL
     * when none), its spare batches, and its batches that owners emptied and gave back. */
    arc_heap_t *out_owner;
    arc_remote_batch_t *outbox;
    arc_remote_batch_t *spare_batches;
    uint32_t batches_out; /* its batches in other heaps, or given back and not reclaimed yet */
    _Atomic(arc_remote_batch_t *) batches_back;
    /* medium.c: freed blocks of the byte allocator per bin, each starting with an
     * arc_medium_link_t, while medium_on (a thread heap, not secure, not under valgrind). */
    void *medium[ARC_MEDIUM_BINS];
    uint8_t medium_count[ARC_MEDIUM_BINS];
    uint8_t medium_want[ARC_MEDIUM_BINS]; /* blocks a bin may keep: one per miss, to the bound */
    uint64_t medium_full;                 /* bit b set: bin b keeps a block */
    uint32_t medium_taken, medium_given;  /* medium.c: requests and frees in this window */
    bool medium_on;
    bool medium_flushing; /* medium.c: the flush under way gives back blocks one by one */
    size_t medium_bytes;
    arc_heap_kind_t kind;
    bool backend_ready, abandoned;
    pthread_mutex_t lock;       /* shared heaps: held by every operation */
    arc_ilist_link_t *segments; /* its segments' links, newest first */
    size_t nsegments;
    size_t peak_segments; /* most segments held since the heap last held none */
    bool grow_clean;      /* heap.c: emptied after a big phase, its next segment starts clean */
    size_t nempty;        /* segments with no block of the byte allocator out, newest first: */
    arc_ilist_link_t *empty_newest;
    arc_segment_t *empty_oldest;
    arc_ilist_link_t *large; /* shared heaps: their large runs' links, so destroy frees them */
    arc_dirty_cache_t cache; /* freed large runs and segments, committed until they decay */
    arc_dirty_cache_t held;  /* holes.c: the inner pages of its holes, until they decay */
    arc_ilist_link_t *holed; /* holes.c: its segments with holes */
    size_t hole_credit;      /* holes.c: bytes freed into the byte allocator since the last sweep */
    size_t hole_period;      /* holes.c: the credit that starts a sweep (0: not set up yet) */
    uint64_t hole_quiet_ns;  /* holes.c: sweeps stay rare until then (arc_os_now_ns time) */
    bool hole_joins_fail;    /* holes.c: its byte allocator did not merge two holes side by side */
    size_t hole_bytes;       /* holes.c: usable bytes of its holes (not the program's) */
#if ARC_SECURE
    arc_dirty_cache_t guarded; /* secure mode: freed large runs with their guards closed */
#endif
    arc_heap_t *next_all, *next_abandoned;
#if ARC_STATS
    arc_heap_stats_t stats; /* written by the owner only; summed by the report */
#endif
};

/* Size of each class in bytes (span.c). */
extern const uint16_t arc_class_size[ARC_CLASSES];

/* The class of a request of `size` bytes aligned to `align` (a power of two), or 0 when a span
 * cannot serve it (the byte allocator does). A span starts on a page and cuts blocks of its
 * class size one after another, so every block of a class whose size is a multiple of `align`
 * is aligned: aligned_alloc(64, 200) takes a 256-byte block. Every class size is a multiple of
 * the granule, so up to it the class is malloc's; above it the heap's class_aligned row of the
 * alignment answers (span.c fills it: the first class from the size rounded up to `align` whose
 * size is a multiple of it). A granule's sizes round up alike, since `align` is a whole number of
 * granules. */
static inline size_t arc_heap_class_aligned(const arc_heap_t *h, size_t size, size_t align)
{
    if (align > ARC_SMALL_MAX || size > ARC_SMALL_MAX)
        return 0;
    size_t g = (size + ARC_GRANULE - 1) / ARC_GRANULE;
    if (align <= ARC_GRANULE)
        return h->class_of[g];
    return h->class_aligned[__builtin_ctzll(align) - ARC_ALIGN_ROW0_SHIFT][g];
}

/* Creation and teardown (heap.c). The backend state follows the struct in the same metadata. */
arc_heap_t *arc_heap_make(const arc_byte_ops_t *ops, arc_heap_kind_t kind);
void arc_heap_release_all(arc_heap_t *h); /* empties a shared heap: every block and segment */
/* Slow paths. */
void *arc_heap_block_alloc(arc_heap_t *h, size_t size, size_t align);
void arc_heap_free_medium(arc_heap_t *h, arc_segment_t *seg, void *p);
/* A block of the byte allocator back to it, its statistics already counted (heap.c). */
void arc_heap_medium_release(arc_heap_t *h, arc_segment_t *seg, void *p);
/* Whether an empty segment of h would go back (heap.c, empty_give_back): one of several, or the
 * last one of a heap that held ARC_HEAP_EMPTIED_AFTER_SEGMENTS. */
bool arc_heap_segment_may_go(const arc_heap_t *h);

/* ---- the medium cache (medium.c) --------------------------------------------------------------
 * Bins of sizes above ARC_SMALL_MAX: bin b holds the sizes in (its lower neighbour's size,
 * arc_medium_bin_size(b)]. */

/* The bin of a request of `size` bytes, ARC_SMALL_MAX < size <= ARC_MEDIUM_CACHE_MAX. */
static inline size_t arc_medium_bin(size_t size)
{
    size_t s = size - 1;
    unsigned top = 63u - (unsigned)__builtin_clzll((unsigned long long)s);
    unsigned step = top - ARC_MEDIUM_SPLIT_LOG;
    return (top - ARC_SMALL_SHIFT) * ARC_MEDIUM_BIN_SPLIT +
           ((s >> step) & (ARC_MEDIUM_BIN_SPLIT - 1));
}

/* The largest size of bin b: every block the bin holds has at least this many usable bytes. */
static inline size_t arc_medium_bin_size(size_t b)
{
    unsigned step = ARC_SMALL_SHIFT + (unsigned)(b / ARC_MEDIUM_BIN_SPLIT) - ARC_MEDIUM_SPLIT_LOG;
    return (ARC_MEDIUM_BIN_SPLIT + b % ARC_MEDIUM_BIN_SPLIT + 1) << step;
}

/* The first words of a kept block: the bin's next block, the block's usable bytes, and a check
 * of both and of the block's address. A write after free that reaches them (a stale pointer's
 * memset, a dangling struct's first field) is reported when the block is handed out again,
 * rather than followed. */
typedef struct arc_medium_link {
    void *next;
    size_t usable;
    uintptr_t check;
} arc_medium_link_t;

/* An odd 64-bit constant (2^64 / golden ratio) mixing the fields, so that bytes all alike, or
 * zeros, never check. */
#define ARC_MEDIUM_CHECK_MIX 0x9e3779b97f4a7c15ull

static inline uintptr_t arc_medium_check(const arc_medium_link_t *block)
{
    return (uintptr_t)(((uint64_t)(uintptr_t)block->next ^ (uint64_t)block->usable) *
                           ARC_MEDIUM_CHECK_MIX ^
                       ~(uint64_t)(uintptr_t)block);
}

/* The kept block at p, its link words checked. */
static inline arc_medium_link_t *arc_medium_link_of(void *p)
{
    arc_medium_link_t *block = p;
    if (arc_unlikely(block->check != arc_medium_check(block)))
        arc_report_misuse("write after free detected", p);
    return block;
}

/* Keeps p, a medium block of h just freed with `usable` bytes (its live bit clear), for a later
 * request; false when its size has no bin or its bin or the cache is full. */
bool arc_heap_medium_keep(arc_heap_t *h, void *p, size_t usable);
/* Every kept block goes back to the byte allocator (trim, a thread's exit, a segment held by
 * kept blocks alone). */
void arc_heap_medium_flush(arc_heap_t *h);

void arc_heap_free_rare(arc_heap_t *h, arc_segment_t *seg, void *p); /* free_own's rest */
/* A small request of class cls (arc_heap_class_aligned; 0: the byte allocator) on a slow path:
 * malloc's miss, or an aligned request whose span had no free block. */
void *arc_heap_class_slow(arc_heap_t *h, size_t cls, size_t size);
void arc_heap_free_to_owner(arc_heap_t *owner, void *p);
/* A block of another heap freed by the thread of `self` (NULL: a thread without a heap). */
void arc_heap_free_foreign(arc_heap_t *self, arc_heap_t *owner, void *p);
void arc_heap_outbox_flush(arc_heap_t *self);
void arc_heap_drain(arc_heap_t *h);
/* Other threads freed blocks into h that its drain has not taken yet. */
static inline bool arc_heap_has_remote(arc_heap_t *h)
{
    return atomic_load_explicit(&h->remote, memory_order_relaxed) != NULL ||
           atomic_load_explicit(&h->remote_batches, memory_order_relaxed) != NULL;
}
/* Empty spans and segments go back, and (malloc_trim) every free block large enough becomes a
 * hole. Each class's current span stays, empty or not, where its segment holds other blocks
 * (span.c, arc_span_release_empty). A thread's exit (`exiting`) makes no holes: the next thread
 * takes the heap over soon, and would only take the holes back (10 000 short threads made 23
 * holes each, and their heaps grew 64 segments where 3 did). */
bool arc_heap_trim(arc_heap_t *h, bool exiting);
/* Free bytes in the heap's spans, in total and (counts not NULL) per 16-byte bin: counts[b]
 * blocks of b * 16 bytes. A snapshot for reports, safe to take while the owner runs. */
size_t arc_heap_cached(const arc_heap_t *h, size_t counts[ARC_SIZE_BINS]);
/* First-class heaps (their lock held): the large runs they own, so that destroy frees them. */
void arc_heap_large_keep(arc_heap_t *h, arc_large_t *large);
void arc_heap_large_forget(arc_heap_t *h, arc_large_t *large);
/* Bytes in the program's hands: the usable sizes of its live blocks of the byte allocator (in
 * secure mode without their canaries: what malloc_usable_size says) and of its large runs. */
size_t arc_heap_shared_used(const arc_heap_t *h);

/* A heap's figures for the reports, read while its owner runs (a first-class heap: under its
 * lock). counters is a copy of its statistics counters (zero with -Dstats=false). */
typedef struct arc_heap_figures {
    bool shared, abandoned;
    size_t segments, cached, byte_total, byte_used, byte_available;
#if ARC_STATS
    arc_heap_stats_t counters;
#endif
} arc_heap_figures_t;
void arc_heap_figures(arc_heap_t *h, arc_heap_figures_t *out);

/* p is in seg but not a live block start: says which misuse it is (interior pointer or double
 * free) for the call `op`, and aborts. */
_Noreturn void arc_heap_bad_free(arc_heap_t *h, arc_segment_t *seg, const void *p, arc_op_t op);

/* Holes (holes.c). Set-up of a new heap's held cache. */
void arc_hole_heap_setup(arc_heap_t *h);
/* Takes the byte allocator's free blocks of ARC_HOLE_MIN_BYTES or more out as holes: some (a
 * number bounded by the credit), or all of them (trim). */
void arc_hole_sweep(arc_heap_t *h);
void arc_hole_sweep_all(arc_heap_t *h);
/* The byte allocator had no block for size bytes aligned to align: holes large enough go back
 * to the byte allocator until the block can be allocated there (the byte allocator's alloc
 * answer, *out), and what is left of them is holes again, with their age. ARC_NO_MEMORY when
 * none made room. */
int arc_hole_alloc(arc_heap_t *h, size_t size, size_t align, void **out);
/* Gives every hole of seg back to the byte allocator (its segment is about to go). */
void arc_hole_return_segment(arc_heap_t *h, arc_segment_t *seg);
/* A destroyed heap's holes: their pages go back now, then the heap forgets them (its segments
 * go without being given back to the byte allocator). */
void arc_hole_forget_all(arc_heap_t *h);

/* bytes went back into the byte allocator: a sweep once enough have (ARC_HOLE_SWEEP_BYTES). */
static inline void arc_hole_credit(arc_heap_t *h, size_t bytes)
{
    h->hole_credit += bytes;
    if (arc_unlikely(h->hole_credit >= h->hole_period))
        arc_hole_sweep(h);
}

/* Spans (span.c). */
void arc_span_classes_setup(arc_heap_t *h);
void *arc_span_alloc(arc_heap_t *h, size_t cls, size_t size);            /* NULL: out of memory */
void arc_span_free_slow(arc_heap_t *h, arc_span_t *span, const void *p); /* after the push */
/* Trim: every empty span but each class's current one where its segment holds other blocks. */
void arc_span_release_empty(arc_heap_t *h);
/* A class's current span that is the last block of its segment goes back when empty, or loses
 * its pin, so that its emptying reaches arc_span_free_slow: a program that freed everything
 * keeps no segment for a span it is not using. Called where a segment may have dropped to one
 * block: after a span or a medium block went back. */
void arc_span_sweep_lone(arc_heap_t *h);

/* Backend blocks (heap.c), for span.c. */
void *arc_heap_backend_alloc(arc_heap_t *h, size_t size, size_t align);
void arc_heap_backend_free(arc_heap_t *h, arc_segment_t *seg, void *p);

/* The segment of a block known to be in one: segments are aligned to their size. */
static inline arc_segment_t *arc_segment_of(const void *p)
{
    return (arc_segment_t *)((uintptr_t)p & ~(uintptr_t)(ARC_SEGMENT_SIZE - 1));
}

/* Where the byte allocator's region of a segment starts: the `region` of its _in calls. */
static inline void *arc_segment_body(arc_segment_t *seg)
{
    return (char *)seg + ARC_SEGMENT_BODY_OFFSET;
}

/* The span p lies in, or NULL for a block of the byte allocator. */
static inline arc_span_t *arc_span_of(arc_segment_t *seg, const void *p)
{
    return seg->span_at[((uintptr_t)p - (uintptr_t)seg) / ARC_PAGE_SIZE];
}

/* Bytes of the block p of seg (a live block start of heap h; span: arc_span_of(seg, p)). */
static inline size_t arc_heap_block_bytes(arc_heap_t *h, arc_segment_t *seg, const arc_span_t *span,
                                          const void *p)
{
    return span ? span->block_size : h->ops->usable_size_in(h->backend, arc_segment_body(seg), p);
}

/* Usable bytes of a block of seg (p a live block start of heap h). */
static inline size_t arc_heap_usable(arc_heap_t *h, arc_segment_t *seg, const void *p)
{
    return arc_heap_block_bytes(h, seg, arc_span_of(seg, p), p);
}

static inline void arc_live_set(arc_segment_t *seg, const void *p)
{
    size_t bit = ((uintptr_t)p - (uintptr_t)seg) / ARC_GRANULE;
    seg->live[bit / 64] |= (uint64_t)1 << (bit % 64);
}

static inline bool arc_live_test(const arc_segment_t *seg, const void *p)
{
    size_t bit = ((uintptr_t)p - (uintptr_t)seg) / ARC_GRANULE;
    return (seg->live[bit / 64] >> (bit % 64)) & 1;
}

/* Clears p's live bit; false (nothing changed) when it was not set or p is not on a granule.
 * The granule test comes first; the word is loaded once, tested, and stored back with the bit
 * flipped by one xor (two instructions fewer on free's fast path than a clear by not + and). */
static inline bool arc_live_take(arc_segment_t *seg, const void *p)
{
    uintptr_t off = (uintptr_t)p - (uintptr_t)seg;
    if (arc_unlikely(off % ARC_GRANULE))
        return false;
    uint64_t *word = &seg->live[off / (ARC_GRANULE * 64)];
    uint64_t bits = *word, mask = (uint64_t)1 << (off / ARC_GRANULE % 64);
    if (arc_unlikely(!(bits & mask)))
        return false;
    *word = bits ^ mask;
    return true;
}

/* ---- free-list links ------------------------------------------------------------------------
 * A free block's first word links it to the next free block of its span (or, on a heap's remote
 * list, to the next block another thread freed). In secure mode the link is stored encoded,
 * next ^ key ^ (address of the link >> ARC_LINK_SHIFT) (glibc 2.32's "safe-linking" with a
 * per-process key): an attacker who overwrites it without knowing the key cannot aim the next
 * allocation, and a decoded link that is not a free block where one may be is reported as
 * "corrupted free list". */
#if ARC_SECURE
/* Drops the page offset, the bits an attacker who knows a block's alignment could guess. */
#define ARC_LINK_SHIFT 12
/* Reports "corrupted free list" at the block whose link is bad, and aborts. */
_Noreturn void arc_heap_bad_link(const void *block);

/* A decoded span link is sound when it is NULL or a block of the span already cut from its
 * tail and not live. Whether the offset is a whole number of blocks is a multiplication by the
 * class's block_magic (Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019:
 * for n < 2^32, d divides n exactly when n * (UINT64_MAX / d + 1) mod 2^64 < UINT64_MAX / d + 1),
 * not a division: the offset is below the span's 32 KiB. */
static inline bool arc_link_in_span(const arc_heap_t *h, const arc_span_t *span, const void *next)
{
    if (next == NULL)
        return true;
    uintptr_t off = (uintptr_t)next - (uintptr_t)span->start;
    uint64_t magic = h->block_magic[span->cls];
    return off < (uintptr_t)(span->bump - span->start) && (uint64_t)off * magic < magic &&
           !arc_live_test(arc_segment_of(next), next);
}

static inline uintptr_t arc_link_code(const arc_heap_t *h, const void *block)
{
    return h->link_key ^ ((uintptr_t)block >> ARC_LINK_SHIFT);
}
#endif

/* Writes block's link to next (encoded in secure mode). */
static inline void arc_link_store(const arc_heap_t *h, void *block, void *next)
{
#if ARC_SECURE
    if (h->secure) {
        *(uintptr_t *)block = (uintptr_t)next ^ arc_link_code(h, block);
        return;
    }
#else
    (void)h;
#endif
    *(void **)block = next;
}

/* Reads the link of block, a free block of span (decoded and checked in secure mode). */
static inline void *arc_link_load(const arc_heap_t *h, const arc_span_t *span, void *block)
{
#if ARC_SECURE
    if (h->secure) {
        void *next = (void *)(*(uintptr_t *)block ^ arc_link_code(h, block));
        if (arc_unlikely(!arc_link_in_span(h, span, next)))
            arc_heap_bad_link(block);
        return next;
    }
#else
    (void)h;
    (void)span;
#endif
    return *(void **)block;
}

/* Takes p, the head of span's free list, for a request of `size` bytes. Secure mode decodes and
 * checks the link; the order freed blocks come back in is randomised before they reach the span
 * (secure.c's quarantine), so the pop itself stays LIFO. */
static inline void *arc_span_take(arc_heap_t *h, arc_span_t *span, void *p, size_t size)
{
    span->free = arc_link_load(h, span, p);
    span->used++;
    arc_live_set(arc_segment_of(p), p);
    ARC_STAT_CLASS(h, class_allocs, span->cls);
    ARC_STAT_ADD(h, requested_bytes, size);
    ARC_STAT_ADD(h, allocated_bytes, span->block_size);
    (void)size;
    return p;
}

/* malloc's miss (size <= ARC_SMALL_MAX): the slow path of size's class. */
static inline void *arc_heap_small_slow(arc_heap_t *h, size_t size)
{
    return arc_heap_class_slow(h, h->class_of[(size + ARC_GRANULE - 1) / ARC_GRANULE], size);
}

/* Fast path, owner thread: a free block of size's class, or NULL. */
static inline void *arc_heap_small_pop(arc_heap_t *h, size_t size)
{
    arc_span_t *span = h->current[h->class_of[(size + ARC_GRANULE - 1) / ARC_GRANULE]];
    void *p = span->free;
    if (arc_likely(p != NULL))
        return arc_span_take(h, span, p, size);
    return NULL;
}

/* Takes the first kept block of bin b (not empty) off the cache, its link words checked. */
static inline arc_medium_link_t *arc_heap_medium_unlink(arc_heap_t *h, size_t b)
{
    arc_medium_link_t *block = arc_medium_link_of(h->medium[b]);
    h->medium[b] = block->next;
    if (--h->medium_count[b] == 0)
        h->medium_full &= ~((uint64_t)1 << b);
    h->medium_bytes -= block->usable;
    arc_segment_of(block)->medium_kept--;
    return block;
}

/* A kept block for a request of `size` bytes (ARC_SMALL_MAX < size <= ARC_MEDIUM_CACHE_MAX)
 * aligned to `align` (a power of two, at most ARC_HEAP_MAX_ALIGN), from its bin (or, from
 * ARC_MEDIUM_REACH_BIN on, one of the ARC_MEDIUM_REACH above), live and counted, or NULL. Only
 * each bin's first block is looked at: a program that asks for one alignment gets back the
 * blocks it freed, and those have it. */
static inline void *arc_heap_medium_pop(arc_heap_t *h, size_t size, size_t align)
{
    size_t b = arc_medium_bin(size);
    uint64_t near = (h->medium_full >> b) & (b >= ARC_MEDIUM_REACH_BIN ? ARC_MEDIUM_REACH_MASK : 1);
    for (; near != 0; near &= near - 1) {
        size_t k = b + (size_t)__builtin_ctzll(near);
        if (((uintptr_t)h->medium[k] & (align - 1)) != 0)
            continue;
        arc_medium_link_t *p = arc_heap_medium_unlink(h, k);
        arc_live_set(arc_segment_of(p), p);
        ARC_STAT_ADD(h, requested_bytes, size);
        ARC_STAT_ADD(h, allocated_bytes, p->usable / ARC_GRANULE * ARC_GRANULE);
        ARC_STAT_ADD(h, medium_allocs, 1);
        (void)size;
        return p;
    }
    return NULL;
}

/* malloc's fast path for a medium request (ARC_SMALL_MAX < size <= ARC_MEDIUM_CACHE_MAX), owner
 * thread: a kept block, counted as block_alloc counts one (the request in the shrink window, the
 * peak's checkpoint), or NULL (the slow path asks again, after blocks other threads freed). */
static inline void *arc_heap_medium_take(arc_heap_t *h, size_t size)
{
    if (h->medium_full == 0) /* arc_heap_none's, and every heap's without the cache */
        return NULL;
    void *p = arc_heap_medium_pop(h, size, ARC_GRANULE);
    if (p) {
        h->medium_taken++;
        ARC_STAT_CHECKPOINT(h);
    }
    return p;
}

/* Heap profiler samples (heap.c): an allocation whose countdown ran out; a freed block of a
 * segment, or a large run, that may hold a sample. */
#if ARC_PROF
void *arc_heap_sampled(arc_heap_t *h, void *p, size_t size);
#endif
void arc_heap_forget_sampled_slow(arc_segment_t *seg, const void *p);

/* A freed block of seg: the profiler is asked only when seg holds samples (one load and a
 * predictable branch on the free paths otherwise). */
static inline void arc_heap_forget_sampled(arc_segment_t *seg, const void *p)
{
#if ARC_PROF
    if (arc_unlikely(seg->sampled != 0))
        arc_heap_forget_sampled_slow(seg, p);
#else
    (void)seg;
    (void)p;
#endif
}
void arc_heap_forget_large(arc_large_t *large);

/* Every allocation passes here: the profiler's countdown (one predictable branch). */
static inline void *arc_prof_on_alloc(arc_heap_t *h, void *p, size_t size)
{
#if ARC_PROF
    if (arc_unlikely((h->prof_left -= (int64_t)size) < 0))
        return arc_heap_sampled(h, p, size);
#else
    (void)h;
    (void)size;
#endif
    return p;
}

/* Puts p, whose live bit is clear, back on its span's free list. */
static inline void arc_span_push(arc_heap_t *h, arc_span_t *span, void *p)
{
    ARC_STAT_CLASS(h, class_frees, span->cls);
    ARC_STAT_ADD(h, freed_bytes, span->block_size);
    arc_link_store(h, p, span->free);
    span->free = p;
    uint32_t used = --span->used;
    if (arc_unlikely(used - 1 >= ARC_SPAN_SAMPLED - 1)) /* emptied, was full, or sampled */
        arc_span_free_slow(h, span, p);
}

#if ARC_SECURE
/* ---- secure mode (secure.c) ------------------------------------------------------------------
 * A thread heap's free in secure mode: checks the block's canary (and, for a small block, the
 * canary of the block before it), zeroes it and puts it in the heap's quarantine. `linked`: p
 * came off the heap's remote list, its first word is a link (arc_secure_check_remote checked
 * the bytes there before). */
void arc_secure_free(arc_heap_t *h, arc_segment_t *seg, void *p, bool linked);
/* Another thread frees p, a block of the thread heap `owner`, before linking it: p must be live
 * and its canary and slack intact (checked here, while p's first word is still the program's). */
void arc_secure_check_remote(arc_heap_t *owner, arc_segment_t *seg, void *p);
/* An emptied span: each of its cut blocks, all free, must be zero but for its link word (a write
 * after free, else). `releasing`: the span goes back to the byte allocator, and the link words
 * are cleared too (what the byte allocator hands out again must read as zero). */
void arc_secure_span_check(arc_span_t *span, bool releasing);
/* A first-class heap's free in secure mode (no quarantine): the same checks, then zeroes p. */
void arc_secure_check_zero(arc_heap_t *h, arc_segment_t *seg, void *p);
/* A fresh block of `block` bytes for a request of n: checks it is still zero where the free left
 * it zero (small blocks: past their link word), clears the program's bytes (medium blocks) and
 * writes the slack pattern and the canary. */
void arc_secure_prepare(arc_heap_t *h, void *p, size_t n, size_t block, bool small);
/* Secure malloc's fast path: a block of class cls's current span for a request of `size` bytes
 * (the class holds size + ARC_CANARY_BYTES), checked and given its canary as arc_secure_prepare
 * does; NULL when that span has no free block. */
void *arc_secure_small_pop(arc_heap_t *h, size_t cls, size_t size);
/* One block of h's quarantine, in turn, must still have a zero first word: a write after free
 * is seen while the block waits, not only when it leaves (a program that stops freeing keeps
 * its quarantine full). Every secure malloc calls arc_secure_scrub: one load. */
void arc_secure_scrub_one(arc_heap_t *h);
static inline void arc_secure_scrub(arc_heap_t *h)
{
    if (h->quarantine_count)
        arc_secure_scrub_one(h);
}
/* Every block in h's quarantine goes back (trim, thread exit). */
void arc_secure_quarantine_flush(arc_heap_t *h);
/* True when a sized free of `size` fits the heap block p of `block` bytes allocated with
 * alignment `align`: small blocks, the same class; medium blocks, within the backend's
 * rounding (secure.c). */
bool arc_secure_size_fits(const arc_segment_t *seg, const void *p, size_t block, size_t size,
                          size_t align);
/* The live heap block p of `block` bytes now holds n (realloc kept it; or malloc_usable_size
 * was asked, and the program may use every usable byte): its slack and canary are rewritten. */
void arc_secure_set_size(void *p, size_t block, size_t n);
/* Once per secure heap, before its first block: picks the block checks' vector width for the
 * CPU (idempotent). */
void arc_secure_setup(void);
#endif

/* The heap's cache of guarded large runs (arc_large_alloc), NULL when secure mode is off. */
static inline arc_dirty_cache_t *arc_heap_guarded(arc_heap_t *h)
{
#if ARC_SECURE
    return h->secure ? &h->guarded : NULL;
#else
    (void)h;
    return NULL;
#endif
}

/* Fast path, owner thread: p belongs to seg, a segment of h. Everything rare (a block of the
 * byte allocator, a span to update, misuse) is one call away, so this stays a leaf. */
/* A block of h's own segment seg whose span (arc_span_of, NULL for a medium block) is known. */
static inline void arc_heap_free_in_span(arc_heap_t *h, arc_segment_t *seg, arc_span_t *span,
                                         void *p)
{
    if (arc_likely(span != NULL && arc_live_take(seg, p))) {
        arc_span_push(h, span, p);
        return;
    }
    arc_heap_free_rare(h, seg, p);
}

static inline void arc_heap_free_own(arc_heap_t *h, arc_segment_t *seg, void *p)
{
#if ARC_SECURE
    if (h->secure) {
        arc_secure_free(h, seg, p, false);
        return;
    }
#endif
    arc_heap_free_in_span(h, seg, arc_span_of(seg, p), p);
}

#endif
