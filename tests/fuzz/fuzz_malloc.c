/* fuzz_malloc.c: libFuzzer harness for the process allocator under its arc_ names (malloc family,
 * first-class heaps, frees from other threads), checked against a model of every block: alignment,
 * usable size, overlap, contents, errno. Never misuses the API: misuse aborts by design. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "arcalloc.h"
#include "fuzz_common.h"

enum {
    MAX_LIVE = 256, /* blocks the model holds */
    MAX_HEAPS = 4,  /* first-class heaps alive at once */
    THREAD_OPS = 8, /* blocks one helper thread frees or allocates */
};
/* Above this a request goes to page runs (src/process/arena.h's ARC_LARGE_THRESHOLD: 128 KiB). */
#define LARGE_THRESHOLD ((size_t)128 << 10)
/* The largest block asked for, and the most live bytes the model allows (RSS stays small). */
#define SIZE_MAX_PICK  ((size_t)320 << 10)
#define LIVE_BYTES_MAX ((size_t)16 << 20)
#define MALLOC_ALIGN   ((size_t)ARC_MIN_ALIGN)
#define HEAP_NONE      (-1) /* a block of a thread heap (not of a first-class heap) */
/* A known arcalloc bug (reproducer: crashes/fuzz_malloc/aligned-size0): a zero-size request
 * aligned above ARC_MIN_ALIGN fails with ENOMEM, because src/process/heap.c arc_heap_block_alloc
 * passes size 0 on to the byte allocator (which refuses it), and arc_large_alloc asks for 0 pages;
 * so posix_memalign(&p, 32, 0) returns ENOMEM. While it is 1 such requests ask for 1 byte instead,
 * so the fuzzer can go past it; set it to 0 once the bug is fixed. */
#ifndef FUZZ_SKIP_ALIGNED_ZERO
#define FUZZ_SKIP_ALIGNED_ZERO 0 /* fixed in arc_heap_block_alloc and arc_large_alloc */
#endif

typedef struct blk {
    unsigned char *p;
    size_t size, usable, align;
    int heap; /* index in heaps[], or HEAP_NONE */
    uint8_t seed;
} blk_t;

static blk_t live[MAX_LIVE];
static size_t nlive, live_bytes;
static arc_heap_t *heaps[MAX_HEAPS];

/* ---- model ---------------------------------------------------------------------------------- */

static void block_verify(const blk_t *b)
{
    size_t bad = fuzz_fill_bad(b->p, 0, b->usable, b->seed);
    FUZZ_CHECK(bad == b->usable, "block %p (size %zu usable %zu) lost its pattern at byte %zu",
               (void *)b->p, b->size, b->usable, bad);
}

static size_t heap_model_bytes(int h)
{
    size_t sum = 0;
    for (size_t i = 0; i < nlive; i++)
        if (live[i].heap == h)
            sum += live[i].usable;
    return sum;
}

/* First-class heaps never cache: their used bytes are exactly their live blocks' usable sizes
 * (heap blocks and page runs alike). */
static void heaps_check(void)
{
    for (int h = 0; h < MAX_HEAPS; h++) {
        if (!heaps[h])
            continue;
        size_t used = arc_heap_used_bytes(heaps[h]), want = heap_model_bytes(h);
        FUZZ_CHECK(used == want, "heap %d: used_bytes %zu, model %zu", h, used, want);
    }
}

/* A block the allocator just returned for `size` bytes at `align`: checked, filled, recorded.
 * `prefix` bytes of it must already hold seed's pattern (realloc), or, when `zeroed`, `size`
 * bytes must be zero (calloc). */
static void block_take(void *ptr, size_t size, size_t align, int heap, uint8_t seed, size_t prefix,
                       bool zeroed)
{
    unsigned char *p = ptr;
    size_t want = align > MALLOC_ALIGN ? align : MALLOC_ALIGN;
    FUZZ_CHECK((uintptr_t)p % want == 0, "%p (size %zu) not aligned to %zu", ptr, size, want);
    FUZZ_CHECK(arc_owns(p), "arc_owns(%p) is false for a live block", ptr);
    size_t usable = arc_malloc_usable_size(p);
    FUZZ_CHECK(usable >= size, "%p: usable %zu < size %zu", ptr, usable, size);
    for (size_t i = 0; i < nlive; i++)
        FUZZ_CHECK(p + usable <= live[i].p || live[i].p + live[i].usable <= p,
                   "%p+%zu overlaps live block %p+%zu", ptr, usable, (void *)live[i].p,
                   live[i].usable);
    if (zeroed)
        for (size_t i = 0; i < size; i++)
            FUZZ_CHECK(p[i] == 0, "calloc block %p byte %zu is %u", ptr, i, p[i]);
    size_t bad = fuzz_fill_bad(p, 0, prefix, seed);
    FUZZ_CHECK(bad == prefix, "realloc to %p lost the old contents at byte %zu of %zu", ptr, bad,
               prefix);
    fuzz_fill(p, prefix, usable, seed);
    FUZZ_CHECK(nlive < MAX_LIVE, "model table full");
    live[nlive++] = (blk_t){p, size, usable, align, heap, seed};
    live_bytes += usable;
}

static blk_t block_drop(size_t i)
{
    blk_t b = live[i];
    live[i] = live[--nlive];
    live_bytes -= b.usable;
    return b;
}

/* A live block about to be handed back: intact, same usable size. */
static void block_leaving(const blk_t *b)
{
    block_verify(b);
    size_t usable = arc_malloc_usable_size(b->p);
    FUZZ_CHECK(usable == b->usable, "%p: usable %zu, was %zu", (void *)b->p, usable, b->usable);
}

static bool room_for(size_t size)
{
    return nlive < MAX_LIVE && live_bytes < LIVE_BYTES_MAX && size <= LIVE_BYTES_MAX - live_bytes;
}

/* The alignment memalign gives for `align`: the next power of two (glibc's behaviour). */
static size_t pow2_at_least(size_t align)
{
    size_t p = 1;
    while (p < align)
        p <<= 1;
    return p;
}

/* A NULL from a call that had to fail with `err` (or from a zero-size request, which may). */
static void refusal_check(void *p, int err, int want, const char *call, size_t size)
{
    FUZZ_CHECK(p == NULL, "%s(%zu) succeeded", call, size);
    FUZZ_CHECK(err == want, "%s(%zu): errno %d, want %d", call, size, err, want);
}

/* ---- input decoding ------------------------------------------------------------------------- */

static size_t pick_size(fuzz_in_t *in)
{
    /* clang-format off */
    static const size_t edges[] = {
        0, 1, 15, 16, 17, 1008, 1009, 1024, 1025, 4096, 4097, 65536,
        LARGE_THRESHOLD - 1, LARGE_THRESHOLD, LARGE_THRESHOLD + 1, SIZE_MAX_PICK
    };
    /* clang-format on */
    uint8_t k = fuzz_u8(in);
    switch (k % 8) {
    case 0:
    case 1:
    case 2:
        return fuzz_u8(in);
    case 3:
    case 4:
        return fuzz_u16(in) % 1100;
    case 5:
        return fuzz_u32(in) % (LARGE_THRESHOLD + 4096);
    case 6:
        return fuzz_u32(in) % (SIZE_MAX_PICK + 1);
    default:
        return edges[k / 8 % (sizeof edges / sizeof edges[0])];
    }
}

/* Sizes no allocator can serve: each call must fail with ENOMEM. */
static size_t pick_impossible(fuzz_in_t *in)
{
    /* clang-format off */
    static const size_t sizes[] = {
        SIZE_MAX, SIZE_MAX - 15, SIZE_MAX / 2, (size_t)1 << 62,
        (size_t)ARC_ADDRESS_SPACE_BYTES + 1, PTRDIFF_MAX
    };
    /* clang-format on */
    return sizes[fuzz_u8(in) % (sizeof sizes / sizeof sizes[0])];
}

static size_t pick_align(fuzz_in_t *in)
{
    uint8_t k = fuzz_u8(in);
    if (k < 96)
        return (size_t)1 << (k % 5); /* 1 .. 16 */
    if (k < 224)
        return (size_t)1 << (5 + k % 8); /* 32 .. 4096 */
    return (size_t)1 << (13 + k % 10);   /* 8 KiB .. 4 MiB: page runs */
}

static const char *const backend_names[] = {"tlsf", "buddy", "slab", NULL, ""};

/* ---- operations ----------------------------------------------------------------------------- */

static void op_malloc(fuzz_in_t *in)
{
    size_t size = pick_size(in);
    uint8_t seed = fuzz_u8(in);
    if (!room_for(size))
        return;
    void *p = arc_malloc(size);
    FUZZ_CHECK(p || size == 0, "malloc(%zu) failed", size);
    if (p)
        block_take(p, size, MALLOC_ALIGN, HEAP_NONE, seed, 0, false);
}

static void op_calloc(fuzz_in_t *in)
{
    size_t size = pick_size(in), count = 1 + fuzz_u8(in) % 8;
    uint8_t seed = fuzz_u8(in);
    size /= count;
    if (!room_for(size * count))
        return;
    void *p = arc_calloc(count, size);
    FUZZ_CHECK(p || size == 0, "calloc(%zu, %zu) failed", count, size);
    if (p)
        block_take(p, size * count, MALLOC_ALIGN, HEAP_NONE, seed, 0, true);
}

/* posix_memalign, aligned_alloc, memalign, valloc, pvalloc. */
static void op_aligned(fuzz_in_t *in)
{
    uint8_t which = fuzz_u8(in);
    size_t size = pick_size(in), align = pick_align(in);
    uint8_t seed = fuzz_u8(in);
    if (!room_for(size + align))
        return;
    void *p = NULL;
    if (FUZZ_SKIP_ALIGNED_ZERO && size == 0 && (which % 5 == 3 || align > MALLOC_ALIGN))
        size = 1; /* valloc is page-aligned; memalign's rounding keeps align > 16 above 16 */
    size_t got_align = align, want_size = size;
    switch (which % 5) {
    case 0: {
        if (align < sizeof(void *))
            align = got_align = sizeof(void *);
        int saved = errno = 1234;
        int rc = arc_posix_memalign(&p, align, size);
        FUZZ_CHECK(rc == 0 && errno == saved, "posix_memalign(%zu, %zu) -> %d, errno %d", align,
                   size, rc, errno);
        break;
    }
    case 1:
        p = arc_aligned_alloc(align, size);
        break;
    case 2: {
        /* memalign rounds a non-power-of-two alignment up (glibc's behaviour). */
        size_t asked = which & 0x80 && align > 2 ? align - 1 - fuzz_u8(in) % (align / 2) : align;
        got_align = pow2_at_least(asked);
        p = arc_memalign(asked, size);
        break;
    }
    case 3:
        p = arc_valloc(size);
        got_align = ARC_PAGE_SIZE;
        break;
    default:
        p = arc_pvalloc(size);
        got_align = ARC_PAGE_SIZE;
        want_size =
            size ? (size + ARC_PAGE_SIZE - 1) & ~(size_t)(ARC_PAGE_SIZE - 1) : ARC_PAGE_SIZE;
        break;
    }
    FUZZ_CHECK(p || size == 0, "aligned call %u (%zu, %zu) failed", which % 5u, align, size);
    if (p)
        block_take(p, want_size, got_align, HEAP_NONE, seed, 0, false);
}

/* Refusals: impossible sizes (ENOMEM), bad alignments (EINVAL), multiplication overflow. */
static void op_refusals(fuzz_in_t *in)
{
    uint8_t which = fuzz_u8(in);
    size_t huge = pick_impossible(in);
    void *p = NULL, *out = (void *)&p;
    int rc;
    errno = 0;
    switch (which % 8) {
    case 0:
        p = arc_malloc(huge);
        refusal_check(p, errno, ENOMEM, "malloc", huge);
        break;
    case 1:
        p = arc_calloc(huge / 2 + 2, 2 + which / 8 % 4);
        refusal_check(p, errno, ENOMEM, "calloc (overflow)", huge);
        break;
    case 2:
        p = arc_calloc(1, huge);
        refusal_check(p, errno, ENOMEM, "calloc", huge);
        break;
    case 3:
        rc = arc_posix_memalign(&out, 64, huge);
        FUZZ_CHECK(rc == ENOMEM && out == (void *)&p, "posix_memalign(64, %zu) -> %d", huge, rc);
        rc = arc_posix_memalign(&out, 24, 64);
        FUZZ_CHECK(rc == EINVAL && out == (void *)&p, "posix_memalign(24, 64) -> %d", rc);
        rc = arc_posix_memalign(&out, sizeof(void *) / 2, 64);
        FUZZ_CHECK(rc == EINVAL && out == (void *)&p, "posix_memalign(4, 64) -> %d", rc);
        break;
    case 4:
        p = arc_aligned_alloc(48, 64);
        refusal_check(p, errno, EINVAL, "aligned_alloc(48)", 64);
        errno = 0;
        p = arc_aligned_alloc(4096, huge);
        refusal_check(p, errno, ENOMEM, "aligned_alloc(4096)", huge);
        break;
    case 5:
        p = arc_memalign(((size_t)1 << 63) + 1, 64);
        refusal_check(p, errno, EINVAL, "memalign(2^63 + 1)", 64);
        break;
    case 6:
        p = arc_pvalloc(SIZE_MAX - 10);
        refusal_check(p, errno, ENOMEM, "pvalloc", SIZE_MAX - 10);
        break;
    default:
        p = arc_realloc(NULL, huge);
        refusal_check(p, errno, ENOMEM, "realloc(NULL)", huge);
        break;
    }
}

/* realloc / reallocarray of a live block: content kept up to the smaller size. A refused size
 * leaves the block as it was. */
static void op_realloc(fuzz_in_t *in)
{
    if (!nlive)
        return;
    size_t i = fuzz_below(in, nlive);
    uint8_t which = fuzz_u8(in);
    bool impossible = which % 8 == 7;
    size_t size = impossible ? pick_impossible(in) : pick_size(in);
    blk_t b = live[i];
    if (!impossible && !room_for(size))
        return;
    block_leaving(&b);
    void *q;
    errno = 0;
    if (which & 8)
        q = arc_reallocarray(b.p, impossible ? 2 : 1, impossible ? size / 2 + 1 : size);
    else
        q = arc_realloc(b.p, size);
    if (impossible) {
        refusal_check(q, errno, ENOMEM, "realloc", size);
        block_verify(&b); /* still live, untouched */
        return;
    }
    block_drop(i);
    if (size == 0) {
        FUZZ_CHECK(q == NULL, "realloc(%p, 0) did not free", (void *)b.p);
        return;
    }
    FUZZ_CHECK(q != NULL, "realloc(%p, %zu) failed", (void *)b.p, size);
    size_t keep = b.size < size ? b.size : size;
    block_take(q, size, MALLOC_ALIGN, q == b.p ? b.heap : HEAP_NONE, b.seed, keep, false);
}

/* free, free_sized, free_aligned_sized, heap_free, or realloc(p, 0). */
static void op_free(fuzz_in_t *in)
{
    if (!nlive)
        return;
    size_t i = fuzz_below(in, nlive);
    uint8_t which = fuzz_u8(in);
    blk_t b = live[i];
    block_leaving(&b);
    block_drop(i);
    switch (which % 5) {
    case 0:
        arc_free(b.p);
        break;
    case 1: /* C23: free_sized is for malloc, calloc and realloc's blocks; aligned ones take
             * free_aligned_sized (secure mode reports the other as a wrong size) */
        if (b.align > MALLOC_ALIGN)
            arc_free_aligned_sized(b.p, b.align, b.size);
        else
            arc_free_sized(b.p, b.size);
        break;
    case 2:
        arc_free_aligned_sized(b.p, b.align, b.size);
        break;
    case 3:
        if (b.heap != HEAP_NONE)
            arc_heap_free(heaps[b.heap], b.p);
        else
            arc_free(b.p);
        break;
    default:
        FUZZ_CHECK(arc_realloc(b.p, 0) == NULL, "realloc(%p, 0) returned a block", (void *)b.p);
        break;
    }
}

static void op_heap_new(fuzz_in_t *in)
{
    uint8_t k = fuzz_u8(in);
    int h = k % MAX_HEAPS;
    if (heaps[h])
        return;
    if (k & 0x80) {
        errno = 0;
        FUZZ_CHECK(arc_heap_new("nonesuch") == NULL && errno == EINVAL,
                   "heap_new of an unknown backend");
        return;
    }
    heaps[h] = arc_heap_new(backend_names[k / 4 % 5]);
    FUZZ_CHECK(heaps[h] != NULL, "heap_new(%s) failed",
               backend_names[k / 4 % 5] ? backend_names[k / 4 % 5] : "NULL");
    FUZZ_CHECK(arc_heap_used_bytes(heaps[h]) == 0, "a new heap has used bytes");
}

/* Destroy a heap: its live blocks go with it (checked intact first, then forgotten). */
static void op_heap_destroy(fuzz_in_t *in)
{
    int h = fuzz_u8(in) % MAX_HEAPS;
    if (!heaps[h])
        return;
    for (size_t i = 0; i < nlive;) {
        if (live[i].heap == h) {
            block_leaving(&live[i]);
            block_drop(i);
        } else {
            i++;
        }
    }
    arc_heap_destroy(heaps[h]);
    heaps[h] = NULL;
}

static void op_heap_alloc(fuzz_in_t *in)
{
    int h = fuzz_u8(in) % MAX_HEAPS;
    uint8_t which = fuzz_u8(in);
    size_t size = pick_size(in), align = pick_align(in);
    uint8_t seed = fuzz_u8(in);
    if (!heaps[h] || !room_for(size + align))
        return;
    void *p;
    size_t got_align = MALLOC_ALIGN;
    bool zeroed = false;
    if (FUZZ_SKIP_ALIGNED_ZERO && size == 0 && which % 4 == 2 && align > MALLOC_ALIGN)
        size = 1;
    switch (which % 4) {
    case 0:
        p = arc_heap_malloc(heaps[h], size);
        break;
    case 1:
        p = arc_heap_calloc(heaps[h], 1, size);
        zeroed = true;
        break;
    case 2:
        p = arc_heap_memalign(heaps[h], align, size);
        got_align = align;
        break;
    default: {
        /* realloc of one of this heap's blocks, or of NULL. */
        size_t i = nlive;
        for (size_t j = 0; j < nlive; j++)
            if (live[(j + which) % nlive].heap == h)
                i = (j + which) % nlive;
        if (i == nlive) {
            p = arc_heap_realloc(heaps[h], NULL, size);
            break;
        }
        blk_t b = live[i];
        block_leaving(&b);
        block_drop(i);
        void *q = arc_heap_realloc(heaps[h], b.p, size);
        if (size == 0) {
            FUZZ_CHECK(q == NULL, "heap_realloc(%p, 0) did not free", (void *)b.p);
            return;
        }
        FUZZ_CHECK(q != NULL, "heap_realloc(%p, %zu) failed", (void *)b.p, size);
        block_take(q, size, MALLOC_ALIGN, h, b.seed, b.size < size ? b.size : size, false);
        return;
    }
    }
    FUZZ_CHECK(p || size == 0, "heap alloc %u (%zu, %zu) failed", which % 4u, size, align);
    if (p)
        block_take(p, size, got_align, h, seed, 0, zeroed);
}

/* A helper thread frees some live blocks (remote frees into this thread's heap or the first-class
 * heaps) and allocates some of its own, then exits (its heap is kept for the next thread). */
typedef struct thread_job {
    unsigned char *to_free[THREAD_OPS];
    size_t nfree;
    size_t sizes[THREAD_OPS];
    void *made[THREAD_OPS];
    size_t nmade;
} thread_job_t;

static void *thread_main(void *arg)
{
    thread_job_t *job = arg;
    for (size_t i = 0; i < job->nfree; i++)
        arc_free(job->to_free[i]);
    for (size_t i = 0; i < job->nmade; i++)
        job->made[i] = arc_malloc(job->sizes[i]);
    return NULL;
}

static void op_thread(fuzz_in_t *in)
{
    thread_job_t job = {{0}, 0, {0}, {0}, 0};
    size_t nfree = fuzz_u8(in) % (THREAD_OPS + 1), nmade = fuzz_u8(in) % (THREAD_OPS + 1);
    for (size_t n = 0; n < nfree && nlive; n++) {
        size_t i = fuzz_below(in, nlive);
        block_leaving(&live[i]);
        job.to_free[job.nfree++] = block_drop(i).p;
    }
    size_t bytes = 0;
    for (; job.nmade < nmade && nlive + job.nmade < MAX_LIVE; job.nmade++) {
        size_t size = pick_size(in);
        if (!room_for(bytes + size))
            break;
        job.sizes[job.nmade] = size;
        bytes += size;
    }
    pthread_t t;
    FUZZ_CHECK(pthread_create(&t, NULL, thread_main, &job) == 0, "pthread_create failed");
    FUZZ_CHECK(pthread_join(t, NULL) == 0, "pthread_join failed");
    for (size_t i = 0; i < job.nmade; i++) {
        FUZZ_CHECK(job.made[i] || job.sizes[i] == 0, "malloc(%zu) in a thread failed",
                   job.sizes[i]);
        if (job.made[i])
            block_take(job.made[i], job.sizes[i], MALLOC_ALIGN, HEAP_NONE, (uint8_t)i, 0, false);
    }
}

/* Everything that reads: usable sizes, ownership, every block's contents; and malloc_trim,
 * which flushes caches and gives empty segments back without moving a live block. */
static void op_inspect(fuzz_in_t *in)
{
    uint8_t k = fuzz_u8(in);
    int local = 0;
    FUZZ_CHECK(!arc_owns(&local) && !arc_owns(NULL), "arc_owns of a foreign pointer");
    FUZZ_CHECK(arc_malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL)");
    arc_free(NULL);
    if (k % 4 == 0)
        arc_malloc_trim(0);
    for (size_t i = 0; i < nlive; i++)
        block_leaving(&live[i]);
    (void)local;
}

enum {
    OP_MALLOC_LAST = 5, /* 0..5 malloc */
    OP_CALLOC = 6,
    OP_ALIGNED = 7,
    OP_REALLOC_FIRST = 8, /* 8..9 realloc */
    OP_REALLOC_LAST = 9,
    OP_FREE_FIRST = 10, /* 10..14 free */
    OP_FREE_LAST = 14,
    OP_REFUSALS = 15,
    OP_HEAP_NEW = 16,
    OP_HEAP_DESTROY = 17,
    OP_HEAP_ALLOC_FIRST = 18, /* 18..20 */
    OP_HEAP_ALLOC_LAST = 20,
    OP_THREAD = 21,
    OP_INSPECT = 22,
    OP_COUNT = 23,
};

static void op_run(fuzz_in_t *in, unsigned op)
{
    if (op <= OP_MALLOC_LAST)
        op_malloc(in);
    else if (op == OP_CALLOC)
        op_calloc(in);
    else if (op == OP_ALIGNED)
        op_aligned(in);
    else if (op <= OP_REALLOC_LAST)
        op_realloc(in);
    else if (op <= OP_FREE_LAST)
        op_free(in);
    else if (op == OP_REFUSALS)
        op_refusals(in);
    else if (op == OP_HEAP_NEW)
        op_heap_new(in);
    else if (op == OP_HEAP_DESTROY)
        op_heap_destroy(in);
    else if (op <= OP_HEAP_ALLOC_LAST)
        op_heap_alloc(in);
    else if (op == OP_THREAD)
        op_thread(in);
    else
        op_inspect(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    while (fuzz_more(&in)) {
        op_run(&in, fuzz_u8(&in) % OP_COUNT);
        heaps_check();
    }
    /* Everything back: blocks one by one (first-class heaps' too, so each ends at zero used
     * bytes), then the heaps. */
    while (nlive) {
        blk_t b = live[nlive - 1];
        block_leaving(&b);
        block_drop(nlive - 1);
        arc_free(b.p);
    }
    heaps_check();
    for (int h = 0; h < MAX_HEAPS; h++) {
        if (heaps[h])
            arc_heap_destroy(heaps[h]);
        heaps[h] = NULL;
    }
    return 0;
}
