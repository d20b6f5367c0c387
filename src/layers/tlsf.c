/* tlsf.c: the TLSF byte allocator (Masmano et al., ECRTS 2004): two-level segregated free lists
 * with O(1) alloc and free over regions the caller hands in (dealloc_in; dealloc and usable_size
 * first find the region, O(log regions)); owns the block and region layout.
 * Never calls the OS, never allocates, holds no globals or locks, never prints.
 *
 * Layout. A region is trimmed inward to ARC_MIN_ALIGN (16-byte) boundaries: start rounded up,
 * end rounded down; what is left must hold the region header, one minimum block and the end
 * sentinel (REGION_MIN bytes) or add_memory says ARC_INVALID_PARAM.
 *
 *   [region header 32][block][block]...[block][sentinel 16]
 *
 * The region header is the region's node in the byte allocators' address treap (region_tree.h):
 * adding, removing and finding a region are O(log regions), so a heap of tens of thousands of
 * regions (a malloc heap's segments) adds its next one as fast as its first. dealloc and
 * usable_size find ptr's region in the treap and judge ptr within its exact bounds; the _in
 * variants are told the region.
 *
 * Every block starts on a 16-byte boundary with a 16-byte header {prev_phys, head}; its payload
 * follows, so every payload is 16-byte aligned. `head` holds the block's stride (bytes to the
 * next block's header, a multiple of 16) and two flags in the low bits: FREE and PREV_FREE.
 * The trick (from the paper, as in mattconte/tlsf): prev_phys is only read when PREV_FREE is
 * set, so a live block may write over the next block's prev_phys word. A live block therefore
 * costs one 8-byte head word (BLOCK_OVERHEAD) and its usable size is stride - 8. A free block
 * keeps its list links in its first payload words. The sentinel is a zero-stride live block
 * that ends the region's physical chain.
 *
 * Statistics (exact after every operation):
 *   total_bytes     = sum over regions of their initial block's stride = trimmed size - 48.
 *   used_bytes      = sum of usable_size() of live blocks (stride - 8 each).
 *   available_bytes = total - used - 8 * live blocks = sum of the strides of the free blocks.
 * So total = used + live headers + available. The largest single block obtainable is a free
 * stride minus its 8-byte header: an empty region serves one block of total - 8 bytes.
 *
 * Secure builds (ARC_SECURE): every head word is sealed. Strides stay below 2^48 (STRIDE_LIMIT,
 * 256 TiB, above any user address space), which frees the head word's top 16 bits for a
 * checksum of (header address, stride | flags, the instance's 64-bit key): the top bits of
 * ((value ^ key) * SEAL_MIX1 ^ address) * SEAL_MIX2. dealloc, dealloc_in and usable_size check
 * the block's own head, its physical successor's and, when coalescing, the free predecessor's
 * and the block after a free successor; usable_size_in checks the block's own. A bad seal:
 * dealloc says ARC_INVALID_PARAM before changing anything, usable_size says 0. Flag updates on
 * a neighbour whose seal is already bad leave it bad, so a corruption is never re-sealed. Not
 * covered: prev_phys (checked by structure only) and the free-list links of free blocks.
 * Secure builds also leave no word of their own in what they hand out (arc_byte_ops_t's
 * clean_blocks): a block taken has its list links and the prev_phys word at its end cleared, and
 * a merge clears the header (and a free block's links) it swallows, so a block handed out holds
 * the bytes its callers left there and nothing else: zeros, when they clear what they free.
 * Normal builds compile none of it: the head word is stride | flags as above.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arcalloc.h"
#include "bits.h"
#include "ilist.h"
#include "region_tree.h"

/* ---- constants ---------------------------------------------------------------------------- */

/* Bitmap words are 64 bits wide (32-bit words would cap a pool at 8 GiB, as in the seed). */
#define WORD_BITS ARC_WORD_BITS
/* arcalloc.h: byte-allocator state is caller memory aligned to 64 bytes; state_size keeps it. */
#define STATE_ALIGN ((size_t)64)

/* The one tunable: log2 of the linear second-level lists per power of two (the paper's J).
 * 32 lists bound the search's rounding waste to 1/32 of a request. */
#define SL_LOG2  5
#define SL_COUNT (1u << SL_LOG2)

/* Blocks start and end on ARC_MIN_ALIGN boundaries: the granule of every stride. */
#define GRANULE_LOG2 4
#define GRANULE      ((size_t)1 << GRANULE_LOG2)

/* Strides below SMALL_LIMIT map linearly into first level 0 (one granule per list); from there
 * on, first level i >= 1 holds strides in [2^(FL_SHIFT+i-1), 2^(FL_SHIFT+i)). */
#define FL_SHIFT    (SL_LOG2 + GRANULE_LOG2)
#define SMALL_LIMIT ((size_t)1 << FL_SHIFT)

/* Strides stay below 2^62: above any real address space (5-level paging gives 57 bits), and the
 * two spare bits let request arithmetic (size + align + header) never overflow a size_t.
 * Secure builds: below 2^48 (256 TiB, still above any region a user space can map), so the top
 * SEAL_BITS of a head word hold its seal. */
#if ARC_SECURE
#define STRIDE_LIMIT_LOG2 48
#else
#define STRIDE_LIMIT_LOG2 62
#endif
#define STRIDE_LIMIT ((size_t)1 << STRIDE_LIMIT_LOG2)
#define FL_COUNT     (STRIDE_LIMIT_LOG2 - FL_SHIFT + 1)

/* Flags in the low bits of a block's head word (free because strides are multiples of 16). */
#define BLOCK_FREE      ((size_t)1)
#define BLOCK_PREV_FREE ((size_t)2)
#define BLOCK_FLAGS     (GRANULE - 1)
#define BLOCK_RESERVED  (BLOCK_FLAGS & ~(BLOCK_FREE | BLOCK_PREV_FREE)) /* always zero */

#if ARC_SECURE
/* The seal: the head word's bits from STRIDE_LIMIT_LOG2 up. Its mixing constants are
 * MurmurHash3's fmix64 multipliers (odd, from its author): the top bits of a product depend on
 * every bit of both factors. */
#define SEAL_SHIFT STRIDE_LIMIT_LOG2
#define SEAL_BITS  (64 - SEAL_SHIFT)
#define SEAL_MASK  (~(size_t)0 << SEAL_SHIFT)
#define SEAL_MIX1  0xff51afd7ed558ccdull
#define SEAL_MIX2  0xc4ceb9fe1a85ec53ull
/* The default key: the state's address through the same mix, never zero. */
#define KEY_DEFAULT_SALT 0x9e3779b97f4a7c15ull /* 2^64 / golden ratio, an odd constant */
_Static_assert(SEAL_BITS == 16, "a 16-bit seal: a forged head passes with chance 2^-16");
#endif

_Static_assert((1u << GRANULE_LOG2) == ARC_MIN_ALIGN, "granule is the minimum alignment");
_Static_assert(sizeof(size_t) == 8 && sizeof(uintptr_t) == 8, "64-bit targets only");
_Static_assert(SL_COUNT <= WORD_BITS && FL_COUNT < WORD_BITS, "each bitmap is one 64-bit word");
_Static_assert(SMALL_LIMIT == SL_COUNT * GRANULE, "level 0 lists are one granule apart");

typedef struct arc_tlsf_block {
    struct arc_tlsf_block *prev_phys; /* valid only while PREV_FREE: lent to the previous block */
    size_t head;                      /* stride | FREE | PREV_FREE */
    arc_ilist_link_t link;            /* free blocks only: first payload words, in its list */
} arc_tlsf_block_t;

/* Payload offset: both header words. */
#define BLOCK_HEADER_SIZE offsetof(arc_tlsf_block_t, link)
/* What a live block really costs: its head word (prev_phys belongs to the block before). */
#define BLOCK_OVERHEAD sizeof(size_t)
/* A free block must hold its header and both list links. */
#define MIN_STRIDE sizeof(arc_tlsf_block_t)

_Static_assert(BLOCK_HEADER_SIZE == GRANULE, "payloads stay 16-byte aligned");
_Static_assert(MIN_STRIDE % GRANULE == 0, "strides are whole granules");

/* A region header: its treap node, [lo, hi) the trimmed region, header and sentinel included.
 * A pointer into a header is outside every block's bounds (block_bounds), so it never passes
 * for a live block (tests/fuzz/crashes/fuzz_byte_tlsf/region-header-free). */
typedef struct arc_tlsf_region {
    arc_region_node_t node;
} arc_tlsf_region_t;

#define REGION_HEADER_SIZE sizeof(arc_tlsf_region_t)

static inline size_t region_size(const arc_tlsf_region_t *r)
{
    return r->node.hi - r->node.lo;
}
#define SENTINEL_SIZE   BLOCK_HEADER_SIZE
#define REGION_OVERHEAD (REGION_HEADER_SIZE + SENTINEL_SIZE)
#define REGION_MIN      (REGION_OVERHEAD + MIN_STRIDE)

_Static_assert(REGION_HEADER_SIZE % GRANULE == 0, "the first block starts on a granule");

/* The control block: the whole of the caller's state memory. */
typedef struct arc_tlsf {
    uint64_t fl_bitmap;                          /* bit fl: sl_bitmap[fl] != 0 */
    uint64_t sl_bitmap[FL_COUNT];                /* bit sl: heads[fl][sl] != NULL */
    arc_ilist_link_t *heads[FL_COUNT][SL_COUNT]; /* free blocks (block_of_link) */
    arc_region_tree_t regions;
    size_t total, used, live;
#if ARC_SECURE
    uint64_t key; /* seals every head word (arc_byte_set_key); never zero */
#endif
} arc_tlsf_t;

static arc_tlsf_t *tlsf_of(arc_byte_allocator_t *a)
{
    return (arc_tlsf_t *)(void *)a;
}

static const arc_tlsf_t *tlsf_of_const(const arc_byte_allocator_t *a)
{
    return (const arc_tlsf_t *)(const void *)a;
}

/* ---- blocks ------------------------------------------------------------------------------- */

/* stride | flags: the head word without its seal (all of it in a normal build). */
static inline size_t block_head(const arc_tlsf_block_t *b)
{
#if ARC_SECURE
    return b->head & ~SEAL_MASK;
#else
    return b->head;
#endif
}

static inline size_t block_stride(const arc_tlsf_block_t *b)
{
    return block_head(b) & ~BLOCK_FLAGS;
}

static inline bool block_is_free(const arc_tlsf_block_t *b)
{
    return block_head(b) & BLOCK_FREE;
}

static inline bool block_prev_is_free(const arc_tlsf_block_t *b)
{
    return block_head(b) & BLOCK_PREV_FREE;
}

#if ARC_SECURE
/* The seal bits of the head word `value` (stride | flags) at b under key. */
static inline size_t seal_of(uint64_t key, const arc_tlsf_block_t *b, size_t value)
{
    uint64_t h = ((value ^ key) * SEAL_MIX1 ^ (uintptr_t)b) * SEAL_MIX2;
    return h & SEAL_MASK;
}

static inline bool block_sealed(const arc_tlsf_t *t, const arc_tlsf_block_t *b)
{
    return (b->head & SEAL_MASK) == seal_of(t->key, b, block_head(b));
}

static uint64_t key_default(const void *state)
{
    uint64_t h = ((uintptr_t)state ^ KEY_DEFAULT_SALT) * SEAL_MIX1;
    h = (h ^ (h >> 33)) * SEAL_MIX2;
    return h ? h : KEY_DEFAULT_SALT;
}
#endif

/* Writes b's head word: stride | flags, sealed in a secure build. */
static inline void block_set_head(const arc_tlsf_t *t, arc_tlsf_block_t *b, size_t value)
{
#if ARC_SECURE
    b->head = value | seal_of(t->key, b, value);
#else
    (void)t;
    b->head = value;
#endif
}

/* Sets and clears flags of b; in a secure build a head whose seal is already bad is left as it
 * is, so the corruption stays visible to the next check. */
static inline void block_set_flags(const arc_tlsf_t *t, arc_tlsf_block_t *b, size_t set,
                                   size_t clear)
{
#if ARC_SECURE
    if (block_sealed(t, b))
        block_set_head(t, b, (block_head(b) | set) & ~clear);
#else
    (void)t;
    b->head = (b->head | set) & ~clear;
#endif
}

static inline arc_tlsf_block_t *block_at(uintptr_t addr)
{
    return (arc_tlsf_block_t *)addr;
}

/* The free block a list link is in (NULL for NULL). */
static inline arc_tlsf_block_t *block_of_link(const arc_ilist_link_t *l)
{
    return ARC_ILIST_ENTRY(l, arc_tlsf_block_t, link);
}

static inline arc_tlsf_block_t *block_next(const arc_tlsf_block_t *b)
{
    return block_at((uintptr_t)b + block_stride(b));
}

static inline void *block_payload(arc_tlsf_block_t *b)
{
    return (char *)b + BLOCK_HEADER_SIZE;
}

static inline size_t block_usable(const arc_tlsf_block_t *b)
{
    return block_stride(b) - BLOCK_OVERHEAD;
}

/* The stride that holds `size` usable bytes (size < STRIDE_LIMIT, so nothing overflows). */
static inline size_t stride_for(size_t size)
{
    size_t stride = (size + BLOCK_OVERHEAD + GRANULE - 1) & ~(GRANULE - 1);
    return stride < MIN_STRIDE ? MIN_STRIDE : stride;
}

/* ---- size classes and free lists ---------------------------------------------------------- */

/* A free list: first level fl, second level sl. */
typedef struct list_index {
    unsigned fl, sl;
} list_index_t;

/* The list a free block of this stride lives in. */
static inline list_index_t list_of(size_t stride)
{
    if (stride < SMALL_LIMIT)
        return (list_index_t){0, (unsigned)(stride >> GRANULE_LOG2)};
    unsigned msb = arc_bit_msb(stride);
    return (list_index_t){msb - FL_SHIFT + 1, (unsigned)(stride >> (msb - SL_LOG2)) - SL_COUNT};
}

static inline bool list_same(list_index_t x, list_index_t y)
{
    return x.fl == y.fl && x.sl == y.sl;
}

static void list_insert(arc_tlsf_t *t, arc_tlsf_block_t *b)
{
    list_index_t i = list_of(block_stride(b));
    arc_ilist_push(&t->heads[i.fl][i.sl], &b->link);
    t->sl_bitmap[i.fl] |= (uint64_t)1 << i.sl;
    t->fl_bitmap |= (uint64_t)1 << i.fl;
}

/* Unlink b from list i (passed in: b's stride may already have changed). */
static void list_remove(arc_tlsf_t *t, arc_tlsf_block_t *b, list_index_t i)
{
    if (!arc_ilist_unlink(&t->heads[i.fl][i.sl], &b->link))
        return;
    t->sl_bitmap[i.fl] &= ~((uint64_t)1 << i.sl);
    if (!t->sl_bitmap[i.fl])
        t->fl_bitmap &= ~((uint64_t)1 << i.fl);
}

/* `fresh` takes the list place of `old`, which was in list i: no bitmap changes. Splitting a
 * big block or growing one by a neighbour usually keeps its list, so this is the common case
 * on both paths (half the instructions of a remove plus an insert). */
static void list_replace(arc_tlsf_t *t, arc_tlsf_block_t *old, arc_tlsf_block_t *fresh,
                         list_index_t i)
{
    arc_ilist_replace(&t->heads[i.fl][i.sl], &old->link, &fresh->link);
}

/* A listed free block of at least `stride`, or NULL. O(1): the head of the list the stride
 * maps to if it is big enough (an exact or near fit), else the head of the next non-empty list
 * above, whose every block is bigger (the paper's good fit). */
static arc_tlsf_block_t *block_find(const arc_tlsf_t *t, size_t stride)
{
    list_index_t i = list_of(stride);
    if (i.fl >= FL_COUNT)
        return NULL;
    arc_tlsf_block_t *b = block_of_link(t->heads[i.fl][i.sl]);
    if (b && block_stride(b) >= stride)
        return b;
    uint64_t sl_map = t->sl_bitmap[i.fl] & (~(uint64_t)1 << i.sl); /* lists above sl */
    if (!sl_map) {
        uint64_t fl_map = t->fl_bitmap & (~(uint64_t)1 << i.fl);
        if (!fl_map)
            return NULL;
        i.fl = arc_bit_lsb(fl_map);
        sl_map = t->sl_bitmap[i.fl];
    }
    return block_of_link(t->heads[i.fl][arc_bit_lsb(sl_map)]);
}

/* Hand out the listed free block b cut to `stride`; a tail of at least MIN_STRIDE stays free
 * (in b's list place when its class is b's), a smaller one stays in b and shows in usable_size. */
static void *block_use(arc_tlsf_t *t, arc_tlsf_block_t *b, size_t stride)
{
    size_t whole = block_stride(b);
    if (whole - stride >= MIN_STRIDE) {
        arc_tlsf_block_t *rest = block_at((uintptr_t)b + stride);
        block_set_head(t, rest, (whole - stride) | BLOCK_FREE); /* b live next: no PREV_FREE */
        block_next(rest)->prev_phys = rest;                     /* its PREV_FREE is already set */
        list_index_t i = list_of(whole);
        if (list_same(list_of(whole - stride), i)) {
            list_replace(t, b, rest, i);
        } else {
            list_remove(t, b, i);
            list_insert(t, rest);
        }
        block_set_head(t, b, stride | (block_head(b) & BLOCK_PREV_FREE));
    } else {
        list_remove(t, b, list_of(whole));
        block_set_head(t, b, block_head(b) & ~BLOCK_FREE);
        block_set_flags(t, block_next(b), 0, BLOCK_PREV_FREE);
    }
#if ARC_SECURE
    b->link = (arc_ilist_link_t){0};
    block_next(b)->prev_phys = NULL; /* b's last word, read only while b is free */
#endif
    t->used += block_usable(b);
    t->live++;
    return block_payload(b);
}

/* ---- alloc -------------------------------------------------------------------------------- */

/* Rare case of tlsf_alloc: align > 16. Find a block with room for the worst leading gap and
 * split the gap off as a free block (a one-granule gap cannot stand alone: skip one more align). */
static __attribute__((noinline)) int alloc_aligned(arc_tlsf_t *t, size_t stride, size_t align,
                                                   void **out)
{
    /* A good fit that happens to be aligned already needs no room for a gap: a freed page-aligned
     * block (the malloc heap's spans) serves the next request of its size and alignment. */
    arc_tlsf_block_t *b = block_find(t, stride);
    if (b && ((uintptr_t)block_payload(b) & (align - 1)) == 0) {
        *out = block_use(t, b, stride);
        return ARC_OK;
    }
    b = block_find(t, stride + align + GRANULE);
    if (!b)
        return ARC_NO_MEMORY;
    uintptr_t payload = (uintptr_t)block_payload(b);
    size_t gap = ((payload + align - 1) & ~(uintptr_t)(align - 1)) - payload;
    if (gap && gap < MIN_STRIDE)
        gap += align;
    if (gap) {
        arc_tlsf_block_t *lead = b;
        list_remove(t, lead, list_of(block_stride(lead)));
        b = block_at((uintptr_t)lead + gap);
        b->prev_phys = lead;
        block_set_head(t, b, (block_stride(lead) - gap) | BLOCK_FREE | BLOCK_PREV_FREE);
        block_set_head(t, lead, gap | (block_head(lead) & BLOCK_FLAGS));
        block_next(b)->prev_phys = b;
        list_insert(t, lead);
        list_insert(t, b);
    }
    *out = block_use(t, b, stride);
    return ARC_OK;
}

/* Budget (callgrind, gcc -O2, x86-64): ~145 instructions to cut a 64 B block from a big free
 * block whose tail keeps its list; tlsf_dealloc merging it back in place is ~140. */
static int tlsf_alloc(arc_byte_allocator_t *a, size_t size, size_t align, void **out)
{
    arc_tlsf_t *t = tlsf_of(a);
    if (!out || !size || !arc_is_pow2(align))
        return ARC_INVALID_PARAM;
    *out = NULL;
    if (size >= STRIDE_LIMIT || align >= STRIDE_LIMIT)
        return ARC_NO_MEMORY; /* absurd: checked before any arithmetic that could wrap */
    size_t stride = stride_for(size);
    if (align > ARC_MIN_ALIGN)
        return alloc_aligned(t, stride, align, out);
    arc_tlsf_block_t *b = block_find(t, stride);
    if (!b)
        return ARC_NO_MEMORY;
    *out = block_use(t, b, stride);
    return ARC_OK;
}

/* A free block of at least min_size usable bytes handed out whole: the one block_find gives for
 * that stride (so O(1)), with nothing cut off. */
static int tlsf_take_free(arc_byte_allocator_t *a, size_t min_size, void **out)
{
    arc_tlsf_t *t = tlsf_of(a);
    int rc = arc_take_free_args(out, min_size, STRIDE_LIMIT - 1);
    if (rc != ARC_OK)
        return rc;
    arc_tlsf_block_t *b = block_find(t, stride_for(min_size));
    if (!b)
        return ARC_NO_MEMORY;
    *out = block_use(t, b, block_stride(b));
    return ARC_OK;
}

/* ---- dealloc ------------------------------------------------------------------------------ */

/* Where a block of one region may lie: its first block's header, and its sentinel (the end of the
 * last block). */
typedef struct block_bounds {
    uintptr_t first, end;
} block_bounds_t;

static block_bounds_t bounds_of(const arc_tlsf_region_t *r)
{
    return (block_bounds_t){r->node.lo + REGION_HEADER_SIZE, r->node.hi - SENTINEL_SIZE};
}

/* The bounds of the region holding ptr (O(log regions)); false when no region does. */
static bool bounds_find(const arc_tlsf_t *t, const void *ptr, block_bounds_t *out)
{
    const arc_region_node_t *n = arc_region_tree_find(&t->regions, (uintptr_t)ptr);
    if (n)
        *out = bounds_of((const arc_tlsf_region_t *)n);
    return n != NULL;
}

/* The bounds of the region the caller says ptr is in: `region`, as given to init/add_memory. */
static block_bounds_t bounds_in(const void *region)
{
    uintptr_t lo = ((uintptr_t)region + GRANULE - 1) & ~(uintptr_t)(GRANULE - 1);
    return bounds_of((const arc_tlsf_region_t *)lo);
}

/* Whether p could be a block's payload within bounds `in`: on a granule, past the first block's
 * header and before the sentinel. */
static bool payload_within(block_bounds_t in, uintptr_t p)
{
    return p % GRANULE == 0 && p >= in.first + BLOCK_HEADER_SIZE && p < in.end;
}

/* The live block whose payload is ptr within bounds `in`, or NULL when cheap O(1) checks say it
 * cannot be one: outside the region's blocks, misaligned, flagged free, a stride that is not a
 * granule multiple or runs past the region, a next block that thinks we are free, or a PREV_FREE
 * flag whose prev_phys does not lead back to us. */
static arc_tlsf_block_t *block_live_at(block_bounds_t in, const void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;
    if (!payload_within(in, p))
        return NULL;
    arc_tlsf_block_t *b = block_at(p - BLOCK_HEADER_SIZE);
    size_t stride = block_stride(b);
    if (block_head(b) & (BLOCK_FREE | BLOCK_RESERVED) || stride < MIN_STRIDE ||
        stride > in.end - (uintptr_t)b)
        return NULL;
    if (block_prev_is_free(block_next(b)))
        return NULL;
    if (block_prev_is_free(b)) {
        uintptr_t prev = (uintptr_t)b->prev_phys;
        if (prev % GRANULE || prev < in.first || prev >= (uintptr_t)b ||
            (uintptr_t)b - prev < MIN_STRIDE || !block_is_free(block_at(prev)) ||
            block_stride(block_at(prev)) != (uintptr_t)b - prev)
            return NULL;
    }
    return b;
}

#if ARC_SECURE
/* Secure builds: true when a head word dealloc or usable_size reads for ptr fails its seal: the
 * block's own, its successor's, a free predecessor's (coalescing) and the one after a free
 * successor (whose PREV_FREE flag the merge rewrites). Pointers outside the region's blocks are
 * left to block_live_at (ARC_NOT_ALLOCATED), as are well-sealed heads that are no live block and
 * head words of zero (a merge clears the header it swallows). */
static bool header_bad(const arc_tlsf_t *t, block_bounds_t in, const void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;
    if (!payload_within(in, p))
        return false;
    const arc_tlsf_block_t *b = block_at(p - BLOCK_HEADER_SIZE);
    if (block_head(b) == 0) /* a header a merge swallowed and cleared: no block (a double free) */
        return false;
    if (!block_sealed(t, b))
        return true;
    size_t stride = block_stride(b);
    if (block_is_free(b) || stride < MIN_STRIDE || stride > in.end - (uintptr_t)b)
        return false;
    const arc_tlsf_block_t *next = block_next(b);
    if (!block_sealed(t, next))
        return true;
    if (block_is_free(next) && block_stride(next) >= MIN_STRIDE &&
        block_stride(next) <= in.end - (uintptr_t)next && !block_sealed(t, block_next(next)))
        return true;
    if (block_prev_is_free(b)) {
        uintptr_t prev = (uintptr_t)b->prev_phys;
        if (prev % GRANULE == 0 && prev >= in.first && prev < (uintptr_t)b &&
            !block_sealed(t, block_at(prev)))
            return true;
    }
    return false;
}
#endif

/* Free the live block b and merge it with its free physical neighbours. The merged block takes
 * the list place of the neighbour it swallowed (prev first) when it keeps that neighbour's class;
 * otherwise the neighbours leave their lists and it is inserted afresh. */
static void block_release(arc_tlsf_t *t, arc_tlsf_block_t *b)
{
    arc_tlsf_block_t *prev = block_prev_is_free(b) ? b->prev_phys : NULL;
    arc_tlsf_block_t *next = block_is_free(block_next(b)) ? block_next(b) : NULL;
    arc_tlsf_block_t *listed = prev ? prev : next;
    list_index_t was = list_of(listed ? block_stride(listed) : 0);
    if (prev && next)
        list_remove(t, next, list_of(block_stride(next)));
    size_t stride = block_stride(b);
    stride += (prev ? block_stride(prev) : 0) + (next ? block_stride(next) : 0);
    arc_tlsf_block_t *merged = prev ? prev : b;
    block_set_head(t, merged, stride | BLOCK_FREE | (block_head(merged) & BLOCK_PREV_FREE));
    arc_tlsf_block_t *after = block_next(merged);
    after->prev_phys = merged;
    block_set_flags(t, after, BLOCK_PREV_FREE, 0);
    if (listed && list_same(list_of(stride), was)) {
        if (listed != merged)
            list_replace(t, listed, merged, was);
    } else {
        if (listed)
            list_remove(t, listed, was);
        list_insert(t, merged);
    }
#if ARC_SECURE
    /* What the merged block swallowed: b's header when prev took it, next's header and links. */
    if (prev)
        *b = (arc_tlsf_block_t){0};
    if (next)
        *next = (arc_tlsf_block_t){0};
#endif
}

/* dealloc(ptr, size, align): size above the block's usable size cannot be what alloc was asked,
 * so it is ARC_NOT_ALLOCATED too; align is not needed. */
/* dealloc of ptr, judged within bounds `in`. */
static int dealloc_within(arc_tlsf_t *t, block_bounds_t in, void *ptr, size_t size)
{
#if ARC_SECURE
    if (header_bad(t, in, ptr))
        return ARC_INVALID_PARAM;
#endif
    arc_tlsf_block_t *b = block_live_at(in, ptr);
    if (!b || size > block_usable(b))
        return ARC_NOT_ALLOCATED;
    t->used -= block_usable(b);
    t->live--;
    block_release(t, b);
    return ARC_OK;
}

static int tlsf_dealloc(arc_byte_allocator_t *a, void *ptr, size_t size, size_t align)
{
    arc_tlsf_t *t = tlsf_of(a);
    block_bounds_t in;
    (void)align;
    if (!bounds_find(t, ptr, &in))
        return ARC_NOT_ALLOCATED;
    return dealloc_within(t, in, ptr, size);
}

/* The usable bytes of the live block ptr within bounds `in`; 0 when its head words (its own, the
 * next block's, a free predecessor's) say it is not one: freed, or overwritten by an overflow. */
static size_t usable_within(const arc_tlsf_t *t, block_bounds_t in, const void *ptr)
{
#if ARC_SECURE
    if (header_bad(t, in, ptr))
        return 0;
#else
    (void)t;
#endif
    const arc_tlsf_block_t *b = block_live_at(in, ptr);
    return b ? block_usable(b) : 0;
}

static size_t tlsf_usable_size(const arc_byte_allocator_t *a, const void *ptr)
{
    const arc_tlsf_t *t = tlsf_of_const(a);
    block_bounds_t in;
    return bounds_find(t, ptr, &in) ? usable_within(t, in, ptr) : 0;
}

/* The heap knows the region and that ptr is live: the header word is the whole answer. */
static size_t tlsf_usable_size_in(const arc_byte_allocator_t *a, const void *region,
                                  const void *ptr)
{
    (void)region;
    const arc_tlsf_block_t *b = block_at((uintptr_t)ptr - BLOCK_HEADER_SIZE);
#if ARC_SECURE
    if (!block_sealed(tlsf_of_const(a), b))
        return 0;
#else
    (void)a;
#endif
    return block_usable(b);
}

/* usable_size's checks without the region lookup: an overflow that reached the next block's head
 * word shows here, at the free that would hand the block on. */
static size_t tlsf_usable_size_checked_in(const arc_byte_allocator_t *a, const void *region,
                                          const void *ptr)
{
    return usable_within(tlsf_of_const(a), bounds_in(region), ptr);
}

/* The region is the caller's word: no treap walk, the same O(1) checks within its bounds. */
static int tlsf_dealloc_in(arc_byte_allocator_t *a, void *region, void *ptr, size_t size,
                           size_t align)
{
    (void)align;
    return dealloc_within(tlsf_of(a), bounds_in(region), ptr, size);
}

/* ---- regions ------------------------------------------------------------------------------ */

/* Trim [start, start + size) inward to granules; ARC_INVALID_PARAM when too small, wrapping
 * the address space, or larger than a block can describe. */
static int region_trim(const void *start, size_t size, uintptr_t *lo, uintptr_t *hi)
{
    uintptr_t s = (uintptr_t)start;
    if (!start || size > UINTPTR_MAX - s)
        return ARC_INVALID_PARAM;
    *lo = (s + GRANULE - 1) & ~(uintptr_t)(GRANULE - 1);
    *hi = (s + size) & ~(uintptr_t)(GRANULE - 1);
    if (*hi < *lo || *hi - *lo < REGION_MIN || *hi - *lo - REGION_OVERHEAD >= STRIDE_LIMIT)
        return ARC_INVALID_PARAM;
    return ARC_OK;
}

static arc_tlsf_block_t *region_first_block(const arc_tlsf_region_t *r)
{
    return block_at((uintptr_t)r + REGION_HEADER_SIZE);
}

static int tlsf_add_memory(arc_byte_allocator_t *a, void *start, size_t size)
{
    arc_tlsf_t *t = tlsf_of(a);
    uintptr_t lo, hi;
    int rc = region_trim(start, size, &lo, &hi);
    if (rc)
        return rc;
    if (arc_region_tree_find_overlap(&t->regions, lo, hi))
        return ARC_MEMORY_OVERLAP;
    arc_tlsf_region_t *r = (arc_tlsf_region_t *)lo;
    r->node.lo = lo;
    r->node.hi = hi;
    arc_region_tree_insert(&t->regions, &r->node);
    arc_tlsf_block_t *b = region_first_block(r);
    block_set_head(t, b, (hi - lo - REGION_OVERHEAD) | BLOCK_FREE);
    arc_tlsf_block_t *sentinel = block_at(hi - SENTINEL_SIZE);
    sentinel->prev_phys = b;
    block_set_head(t, sentinel, BLOCK_PREV_FREE); /* stride 0, live */
    list_insert(t, b);
    t->total += block_stride(b);
    return ARC_OK;
}

static int tlsf_init(arc_byte_allocator_t *a, void *start, size_t size)
{
    if (!a || (uintptr_t)a % _Alignof(arc_tlsf_t))
        return ARC_INVALID_PARAM;
    memset(a, 0, sizeof(arc_tlsf_t)); /* all-zero bits are NULL heads on every Linux target */
#if ARC_SECURE
    tlsf_of(a)->key = key_default(a);
#endif
    return tlsf_add_memory(a, start, size);
}

#if ARC_SECURE
/* Re-seals every head word of every region's chain under the new key (0: the default). A head
 * already bad under the old key ends that region's walk and stays bad. */
/* One region's head words, re-sealed from the key in ctx[0] to the one in ctx[1]. */
static void region_reseal(const arc_region_node_t *node, void *ctx)
{
    const uint64_t *keys = ctx;
    const arc_tlsf_region_t *r = (const arc_tlsf_region_t *)node;
    uintptr_t end = bounds_of(r).end;
    arc_tlsf_block_t *b = region_first_block(r);
    while ((b->head & SEAL_MASK) == seal_of(keys[0], b, block_head(b))) {
        b->head = block_head(b) | seal_of(keys[1], b, block_head(b));
        size_t stride = block_stride(b);
        if ((uintptr_t)b >= end || stride < MIN_STRIDE || stride > end - (uintptr_t)b)
            break; /* the sentinel, or a chain that cannot be followed */
        b = block_next(b);
    }
}

static void tlsf_set_key(arc_byte_allocator_t *a, uint64_t key)
{
    arc_tlsf_t *t = tlsf_of(a);
    uint64_t keys[2] = {t->key, key ? key : key_default(a)};
    arc_region_tree_walk(&t->regions, region_reseal, keys);
    t->key = keys[1];
}
#endif

static int tlsf_remove_memory(arc_byte_allocator_t *a, void *start, size_t size)
{
    arc_tlsf_t *t = tlsf_of(a);
    uintptr_t lo, hi;
    if (region_trim(start, size, &lo, &hi))
        return ARC_INVALID_PARAM;
    arc_region_node_t *n = arc_region_tree_find(&t->regions, lo);
    if (!n || n->lo != lo || n->hi != hi)
        return ARC_INVALID_PARAM;
    arc_tlsf_region_t *r = (arc_tlsf_region_t *)n;
    arc_tlsf_block_t *b = region_first_block(r);
    if (!block_is_free(b) || block_stride(b) != region_size(r) - REGION_OVERHEAD)
        return ARC_INVALID_PARAM; /* something in it is live */
    list_remove(t, b, list_of(block_stride(b)));
    arc_region_tree_remove(&t->regions, n);
    t->total -= block_stride(b);
    return ARC_OK;
}

/* ---- statistics --------------------------------------------------------------------------- */

static size_t tlsf_total_bytes(const arc_byte_allocator_t *a)
{
    return tlsf_of_const(a)->total;
}

static size_t tlsf_used_bytes(const arc_byte_allocator_t *a)
{
    return tlsf_of_const(a)->used;
}

static size_t tlsf_available_bytes(const arc_byte_allocator_t *a)
{
    const arc_tlsf_t *t = tlsf_of_const(a);
    return t->total - t->used - BLOCK_OVERHEAD * t->live;
}

/* ---- check -------------------------------------------------------------------------------- */

/* What the physical walk and the list walk each see; the two must agree. */
typedef struct check_tally {
    size_t free_blocks, free_bytes, free_addr_sum;
    size_t live_blocks, live_usable, total;
} check_tally_t;

/* One region's physical chain: strides within the region, flags matching neighbours, no two
 * free blocks adjacent, the sentinel exactly at the end. */
static size_t region_check(const arc_tlsf_t *t, const arc_tlsf_region_t *r, check_tally_t *tally)
{
    (void)t; /* read by the seal checks of secure builds only */
    size_t bad = 0;
    uintptr_t end = (uintptr_t)r + region_size(r);
    if ((uintptr_t)r % GRANULE || r->node.lo != (uintptr_t)r || region_size(r) % GRANULE ||
        region_size(r) < REGION_MIN)
        return 1; /* the chain cannot be trusted */
    const arc_tlsf_block_t *prev = NULL, *b = region_first_block(r);
    size_t sum = 0;
    while ((uintptr_t)b < end - SENTINEL_SIZE) {
        size_t stride = block_stride(b);
        bad += (block_head(b) & BLOCK_RESERVED) != 0;
#if ARC_SECURE
        bad += !block_sealed(t, b);
#endif
        bad += block_prev_is_free(b) != (prev && block_is_free(prev));
        bad += block_prev_is_free(b) && b->prev_phys != prev;
        bad += prev && block_is_free(prev) && block_is_free(b); /* missed coalescing */
        if (stride < MIN_STRIDE || stride > end - SENTINEL_SIZE - (uintptr_t)b)
            return bad + 1;
        if (block_is_free(b)) {
            tally->free_blocks++;
            tally->free_bytes += stride;
            tally->free_addr_sum += (uintptr_t)b;
        } else {
            tally->live_blocks++;
            tally->live_usable += block_usable(b);
        }
        sum += stride;
        prev = b;
        b = block_next(b);
    }
    bad += (uintptr_t)b != end - SENTINEL_SIZE;
    bad += block_stride(b) != 0 || block_is_free(b);
    bad += block_prev_is_free(b) != block_is_free(prev);
#if ARC_SECURE
    bad += !block_sealed(t, b);
#endif
    bad += sum != region_size(r) - REGION_OVERHEAD;
    tally->total += region_size(r) - REGION_OVERHEAD;
    return bad;
}

/* Every list: bitmap bits against emptiness, each member free, in its own class and linked
 * both ways; members counted so the total can be held against the physical walk. */
static size_t lists_check(const arc_tlsf_t *t, size_t max_blocks, check_tally_t *tally)
{
    size_t bad = 0;
    bad += (t->fl_bitmap >> FL_COUNT) != 0;
    for (unsigned fl = 0; fl < FL_COUNT; fl++) {
        bad += ((t->fl_bitmap >> fl) & 1) != (t->sl_bitmap[fl] != 0);
        bad += SL_COUNT < WORD_BITS && (t->sl_bitmap[fl] >> (SL_COUNT % WORD_BITS)) != 0;
        for (unsigned sl = 0; sl < SL_COUNT; sl++) {
            const arc_ilist_link_t *l = t->heads[fl][sl], *before = NULL;
            bad += ((t->sl_bitmap[fl] >> sl) & 1) != (l != NULL);
            for (; l; before = l, l = l->next) {
                if (tally->free_blocks++ > max_blocks)
                    return bad + 1; /* a cycle or a foreign block */
                const arc_tlsf_block_t *b = block_of_link(l);
                list_index_t i = list_of(block_stride(b));
                bad += !block_is_free(b) || i.fl != fl || i.sl != sl || l->prev != before;
                tally->free_bytes += block_stride(b);
                tally->free_addr_sum += (uintptr_t)b;
            }
        }
    }
    return bad;
}

/* The treap walk's visit: one region's chain into the tally. */
typedef struct region_walk {
    const arc_tlsf_t *t;
    check_tally_t *tally;
    size_t bad;
} region_walk_t;

static void region_visit(const arc_region_node_t *node, void *ctx)
{
    region_walk_t *w = ctx;
    w->bad += region_check(w->t, (const arc_tlsf_region_t *)node, w->tally);
}

static size_t tlsf_check(const arc_byte_allocator_t *a)
{
    const arc_tlsf_t *t = tlsf_of_const(a);
    check_tally_t walk = {0}, lists = {0};
    region_walk_t regions = {.t = t, .tally = &walk, .bad = 0};
    size_t bad = arc_region_tree_walk(&t->regions, region_visit, &regions);
    bad += regions.bad;
    bad += lists_check(t, walk.free_blocks, &lists);
    bad += lists.free_blocks != walk.free_blocks; /* a free block missing from its list */
    bad += lists.free_bytes != walk.free_bytes || lists.free_addr_sum != walk.free_addr_sum;
    bad += walk.total != t->total;
    bad += walk.live_blocks != t->live || walk.live_usable != t->used;
    bad += walk.free_bytes != tlsf_available_bytes(a);
    return bad;
}

const arc_byte_ops_t arc_tlsf_ops = {
    .name = "tlsf",
    .state_size = (sizeof(arc_tlsf_t) + STATE_ALIGN - 1) & ~(STATE_ALIGN - 1),
    .init = tlsf_init,
    .add_memory = tlsf_add_memory,
    .remove_memory = tlsf_remove_memory,
    .alloc = tlsf_alloc,
    .dealloc = tlsf_dealloc,
    .usable_size = tlsf_usable_size,
    .usable_size_in = tlsf_usable_size_in,
    .usable_size_checked_in = tlsf_usable_size_checked_in,
    .dealloc_in = tlsf_dealloc_in,
    .total_bytes = tlsf_total_bytes,
    .used_bytes = tlsf_used_bytes,
    .available_bytes = tlsf_available_bytes,
    .check = tlsf_check,
    .take_free = tlsf_take_free,
#if ARC_SECURE
    .set_key = tlsf_set_key,
    .clean_blocks = true,
#endif
};
