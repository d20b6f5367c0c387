/* slab.c: the slab byte allocator (arc_slab_ops): 28 size classes from 16 B to 4 KiB served
 * from fixed 64 KiB slabs, and a page-run fallback for everything else, all in caller regions.
 * Never calls the OS, allocates, locks, prints or keeps globals.
 *
 * Layout. A region is trimmed inward to ARC_MIN_ALIGN (16-byte) boundaries, [lo, hi); inside,
 * only whole 4 KiB pages (on absolute page boundaries) are handed out:
 *
 *   [region header][page map: one 64-bit word per page][pad to a page][pages ...][< 4 KiB unused]
 *
 * The pages form segments: free runs, allocated runs (the fallback: requests above 4 KiB, or
 * aligned above their class's natural alignment, or made when no slab can be carved; and the
 * free runs take_free hands out whole) and slabs (SLAB_PAGES pages aligned to SLAB_BYTES, so a
 * slab's header is ptr & ~(SLAB_BYTES - 1)).
 * Every segment's first and last page map words give its kind and length (boundary tags), so
 * freeing a run coalesces with both neighbours in O(1); every page of a slab says SLAB. Free runs
 * keep their links in their first page and sit in segregated lists by log2 of their length,
 * searched first-fit. A slab header holds the class, an intrusive free list of freed objects, a
 * bump index for never-used ones and one allocated bit per object: double free and interior
 * pointers are exact. A class keeps its slabs with free objects in a list; a slab that empties
 * goes back to the page pool unless it is its class's only slab with room (then it is kept as
 * the class's one spare, given back when pages run short or its region is removed).
 *
 * Regions sit in the shared address treap (region_tree.h), a node in each region header: the
 * overlap test and the pointer-to-region lookup of free/usable_size are O(log regions), one step
 * with one region.
 *
 * Statistics (exact after every operation):
 *   total_bytes     = sum over regions of their pages (4096 each).
 *   used_bytes      = sum of usable_size of live blocks: the class size of a slab object, the
 *                     whole pages of a run.
 *   available_bytes = total - used - bookkeeping, where bookkeeping is, for each slab holding a
 *                     live object, its header and the tail too short for an object
 *                     (SLAB_BYTES - capacity * size). An empty slab counts as available: it is
 *                     given back whenever its pages are needed.
 *
 * Secure builds (ARC_SECURE): objects and runs carry no header (runs are described by the
 * out-of-band page map), so the metadata next to program blocks is each slab's header: it ends
 * where the slab's first object starts and begins where the memory before the slab (another
 * slab's tail or a run) ends. Both ends are guarded with the instance's 64-bit key: the header's
 * first word is a seal, a checksum of (slab address, region, size, recip, capacity, class, key),
 * so a linear overflow from below or a write over the fields that size objects is caught; its
 * last word (SLAB_CANARY_OFFSET, just before object 0) is a canary derived from (slab address,
 * key), so an underflow from the first object is caught. dealloc, dealloc_in, usable_size and
 * usable_size_in check both before they trust the header: a bad one makes dealloc say
 * ARC_INVALID_PARAM (nothing changed) and usable_size 0 for every object of that slab. Not
 * covered: the free list, allocated bits and counters in the header's middle, and the intrusive
 * links of freed objects. Normal builds compile none of it. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arcalloc.h"
#include "bits.h"
#include "ilist.h"
#include "region_tree.h"

/* ---- constants ---------------------------------------------------------------------------- */

#define GRANULE_LOG2 4 /* log2(ARC_MIN_ALIGN) */
#define GRANULE      ((uintptr_t)1 << GRANULE_LOG2)
#define PAGE_LOG2    12 /* the page pool's unit: ARC_PAGE_SIZE */
#define PAGE_BYTES   ((uintptr_t)1 << PAGE_LOG2)

/* The one tunable: a slab is 16 pages. A 4 KiB object then wastes at most 1/16 of a slab, and a
 * slab's offsets stay below 2^16, which the division-by-multiply below relies on. */
#define SLAB_PAGES_LOG2 4
#define SLAB_PAGES      ((size_t)1 << SLAB_PAGES_LOG2)
#define SLAB_BYTES      (PAGE_BYTES << SLAB_PAGES_LOG2)

/* Objects start this far into a slab, after the header; being a power of two, it is also the
 * largest alignment any class gives (an object's alignment is min(lowest bit of size, this)). */
#define SLAB_HEADER_BYTES ((uintptr_t)1024)
#define CLASS_ALIGN_MAX   SLAB_HEADER_BYTES
#define CLASS_MAX         ((size_t)4096) /* the largest class; bigger requests are runs */
#define CLASS_NONE        0xffu          /* class_for: no class serves this request */

/* The most objects a slab holds (all of the smallest class) and their allocated bits. */
#define SLAB_OBJECTS_MAX  ((SLAB_BYTES - SLAB_HEADER_BYTES) / GRANULE)
#define SLAB_BITMAP_WORDS ((SLAB_OBJECTS_MAX + 63) / 64)

/* Requests above 2^62 B are absurd (beyond any address space): refused before any arithmetic
 * that could wrap. */
#define REQUEST_LIMIT ((size_t)1 << 62)

/* A page map word: kind in the low two bits, HEAD/TAIL flags, the segment's length above. */
#define PAGE_FREE      1u /* part of a free run */
#define PAGE_RUN       2u /* part of an allocated run */
#define PAGE_SLAB      3u /* part of a slab (every page of it) */
#define PAGE_KIND_MASK 3u
#define PAGE_HEAD      4u /* the segment's first page */
#define PAGE_TAIL      8u /* the segment's last page */
#define PAGE_LEN_SHIFT 4
#define PAGE_RUN_HEAD  (PAGE_RUN | PAGE_HEAD)
#define PAGE_BIN_COUNT 64 /* free runs by log2 of their length: one 64-bit word of bins */

/* Size classes: 16, 32, 48 (one granule apart), then four per doubling from 64 B to CLASS_MAX.
 * The table is written out once (X-macro: index, bytes) and pinned to CLASS_FORMULA, which
 * class_of() inverts. */
#define CLASS_LINEAR     3 /* classes one granule apart before the geometric ones */
#define CLASS_STEPS_LOG2 2 /* four classes per doubling: rounding wastes at most 1/5 */
#define CLASS_STEPS      (1u << CLASS_STEPS_LOG2)
#define CLASS_GEOM_LOG2  (GRANULE_LOG2 + CLASS_STEPS_LOG2) /* the first geometric class: 64 B */
#define CLASS_FORMULA(i)                                                                           \
    ((i) < CLASS_LINEAR ? ((i) + 1) << GRANULE_LOG2                                                \
                        : (CLASS_STEPS + ((i)-CLASS_LINEAR) % CLASS_STEPS)                         \
                              << (((i)-CLASS_LINEAR) / CLASS_STEPS + GRANULE_LOG2))
/* clang-format off */
#define SLAB_CLASSES(X)                                                                            \
    X(0, 16)    X(1, 32)    X(2, 48)    X(3, 64)    X(4, 80)    X(5, 96)    X(6, 112)              \
    X(7, 128)   X(8, 160)   X(9, 192)   X(10, 224)  X(11, 256)  X(12, 320)  X(13, 384)             \
    X(14, 448)  X(15, 512)  X(16, 640)  X(17, 768)  X(18, 896)  X(19, 1024) X(20, 1280)            \
    X(21, 1536) X(22, 1792) X(23, 2048) X(24, 2560) X(25, 3072) X(26, 3584) X(27, 4096)
/* clang-format on */
#define CLASS_ENTRY(i, bytes) bytes,
#define CLASS_PIN(i, bytes)                                                                        \
    _Static_assert((bytes) == CLASS_FORMULA(i) && (bytes) % GRANULE == 0 &&                        \
                       ((i) == 0 || CLASS_FORMULA((i)-1) < (bytes)),                               \
                   "class table in order, on the formula, whole granules");
SLAB_CLASSES(CLASS_PIN)

static const uint16_t class_bytes[] = {SLAB_CLASSES(CLASS_ENTRY)};
#define CLASS_COUNT (sizeof class_bytes / sizeof class_bytes[0])

_Static_assert(CLASS_COUNT < CLASS_NONE, "class indexes fit a byte, CLASS_NONE apart");
_Static_assert(CLASS_FORMULA(CLASS_COUNT - 1) == CLASS_MAX, "the last class is CLASS_MAX");
_Static_assert(CLASS_FORMULA(CLASS_LINEAR) == (1u << CLASS_GEOM_LOG2), "geometric from 64 B");
_Static_assert((1u << GRANULE_LOG2) == ARC_MIN_ALIGN, "a granule is the minimum alignment");
_Static_assert(PAGE_BYTES == ARC_PAGE_SIZE, "pages are the page allocator's");
_Static_assert(SLAB_BYTES <= ((uintptr_t)1 << 16) && CLASS_MAX <= ((size_t)1 << 12),
               "offset * recip >> 32 is exact for offsets < 2^16 and sizes <= 2^12");
_Static_assert(CLASS_MAX <= SLAB_BYTES - SLAB_HEADER_BYTES, "a slab holds the largest class");
_Static_assert((CLASS_ALIGN_MAX & (CLASS_ALIGN_MAX - 1)) == 0, "alignment is a power of two");
_Static_assert(sizeof(size_t) == 8 && sizeof(uintptr_t) == 8, "64-bit targets only");

/* ---- types -------------------------------------------------------------------------------- */

typedef struct arc_slab_region {
    arc_region_node_t node; /* first (region_of); [lo, hi): the trimmed region, in the treap */
    uintptr_t pages_lo;     /* first page */
    size_t npages;
    size_t live_runs;  /* allocated runs here */
    size_t busy_slabs; /* slabs here holding a live object */
} arc_slab_region_t;

_Static_assert(sizeof(arc_slab_region_t) % sizeof(uint64_t) == 0, "the page map follows");
_Static_assert(offsetof(arc_slab_region_t, node) == 0, "region_of(NULL) is NULL");

/* The region a treap node heads (NULL for NULL). */
static inline arc_slab_region_t *region_of(const arc_region_node_t *n)
{
    return (arc_slab_region_t *)(uintptr_t)n;
}

/* A slab's header, at its SLAB_BYTES-aligned start. */
typedef struct arc_slab_span {
#if ARC_SECURE
    uint64_t seal; /* first: a linear overflow from below meets it before anything else */
#endif
    arc_ilist_link_t link; /* in the class's list of slabs with free objects */
    arc_slab_region_t *region;
    void *free;        /* freed objects, linked through their first word */
    uint32_t size;     /* object bytes: the class size */
    uint32_t recip;    /* floor((2^32 - 1) / size) + 1: offset / size == offset * recip >> 32 */
    uint32_t capacity; /* objects that fit */
    uint32_t bump;     /* objects [bump, capacity) were never handed out */
    uint32_t live;
    uint32_t cls;
    uint64_t bits[SLAB_BITMAP_WORDS]; /* bit i: object i is allocated */
} arc_slab_span_t;

_Static_assert(sizeof(arc_slab_span_t) <= SLAB_HEADER_BYTES, "the header fits before objects");

#if ARC_SECURE
/* The canary: the header's last word, just before object 0. The mixing constants are
 * MurmurHash3's fmix64 multipliers (odd, from its author). */
#define SLAB_CANARY_OFFSET (SLAB_HEADER_BYTES - sizeof(uint64_t))
#define SEAL_MIX1          0xff51afd7ed558ccdull
#define SEAL_MIX2          0xc4ceb9fe1a85ec53ull
/* The default key: the state's address through the same mix, never zero. */
#define KEY_DEFAULT_SALT 0x9e3779b97f4a7c15ull /* 2^64 / golden ratio, an odd constant */
_Static_assert(sizeof(arc_slab_span_t) <= SLAB_CANARY_OFFSET, "the canary is past the fields");
#endif

/* A free run: its first page holds the links of its bin. */
typedef struct arc_slab_run {
    arc_ilist_link_t link; /* in its bin's list */
    arc_slab_region_t *region;
    size_t pages;
} arc_slab_run_t;

typedef struct arc_slab_class {
    arc_ilist_link_t *partial; /* slabs with a free object (span_of) */
    arc_slab_span_t *spare;    /* the one empty slab kept (also in partial), or NULL */
} arc_slab_class_t;

/* The control block: the whole of the caller's state memory. */
typedef struct arc_slab {
    arc_region_tree_t regions;
    size_t total, used, overhead;
    uint64_t bins_nonempty;                 /* bit b: bins[b] != NULL */
    arc_ilist_link_t *bins[PAGE_BIN_COUNT]; /* free runs (run_of) */
    arc_slab_class_t classes[CLASS_COUNT];
#if ARC_SECURE
    uint64_t key; /* guards every slab header (arc_byte_set_key); never zero */
#endif
} arc_slab_t;

static arc_slab_t *slab_of(arc_byte_allocator_t *a)
{
    return (arc_slab_t *)(void *)a;
}

static const arc_slab_t *slab_of_const(const arc_byte_allocator_t *a)
{
    return (const arc_slab_t *)(const void *)a;
}

/* The free run and the slab a list link is in (NULL for NULL). */
static inline arc_slab_run_t *run_of(const arc_ilist_link_t *l)
{
    return ARC_ILIST_ENTRY(l, arc_slab_run_t, link);
}

static inline arc_slab_span_t *span_of(const arc_ilist_link_t *l)
{
    return ARC_ILIST_ENTRY(l, arc_slab_span_t, link);
}

/* ---- classes ------------------------------------------------------------------------------ */

/* The smallest class of at least size bytes (1 <= size <= CLASS_MAX): CLASS_FORMULA inverted. */
static inline unsigned class_of(size_t size)
{
    if (size <= ((size_t)1 << CLASS_GEOM_LOG2))
        return (unsigned)((size - 1) >> GRANULE_LOG2);
    unsigned e = arc_bit_msb(size - 1); /* 2^e < size <= 2^(e+1), e >= CLASS_GEOM_LOG2 */
    unsigned m = (unsigned)((size - 1) >> (e - CLASS_STEPS_LOG2)); /* the step it falls in */
    return CLASS_LINEAR + (e - CLASS_GEOM_LOG2) * CLASS_STEPS + (m - CLASS_STEPS) + 1;
}

static inline size_t class_align(unsigned cls)
{
    size_t size = class_bytes[cls], low = size & -size;
    return low < CLASS_ALIGN_MAX ? low : CLASS_ALIGN_MAX;
}

/* Rare case of class_for: align > 16. The first class from max(size, align) whose objects are
 * aligned enough (at most three steps: a power of two is a class), or CLASS_NONE. */
static __attribute__((noinline)) unsigned class_aligned(size_t size, size_t align)
{
    if (align > CLASS_ALIGN_MAX)
        return CLASS_NONE;
    unsigned cls = class_of(size > align ? size : align);
    while (cls < CLASS_COUNT && class_align(cls) < align)
        cls++;
    return cls < CLASS_COUNT ? cls : CLASS_NONE;
}

static inline unsigned class_for(size_t size, size_t align)
{
    if (size > CLASS_MAX)
        return CLASS_NONE;
    return align <= ARC_MIN_ALIGN ? class_of(size) : class_aligned(size, align);
}

/* ---- page map and free runs --------------------------------------------------------------- */

static inline uint64_t *region_map(const arc_slab_region_t *r)
{
    return (uint64_t *)(uintptr_t)(r + 1);
}

static inline uintptr_t page_addr(const arc_slab_region_t *r, size_t page)
{
    return r->pages_lo + (page << PAGE_LOG2);
}

static inline size_t page_index(const arc_slab_region_t *r, uintptr_t addr)
{
    return (addr - r->pages_lo) >> PAGE_LOG2;
}

static inline size_t entry_len(uint64_t e)
{
    return (size_t)(e >> PAGE_LEN_SHIFT);
}

/* Writes the boundary tags of a segment of n pages at page p. */
static void segment_mark(const arc_slab_region_t *r, size_t p, size_t n, unsigned kind)
{
    uint64_t *map = region_map(r), len = (uint64_t)n << PAGE_LEN_SHIFT;
    map[p + n - 1] = len | kind | PAGE_TAIL;
    map[p] = len | kind | PAGE_HEAD | (n == 1 ? PAGE_TAIL : 0);
}

static void run_insert(arc_slab_t *s, arc_slab_region_t *r, size_t p, size_t n)
{
    arc_slab_run_t *run = (arc_slab_run_t *)page_addr(r, p);
    unsigned bin = arc_bit_msb(n);
    segment_mark(r, p, n, PAGE_FREE);
    run->region = r;
    run->pages = n;
    arc_ilist_push(&s->bins[bin], &run->link);
    s->bins_nonempty |= (uint64_t)1 << bin;
}

static void run_remove(arc_slab_t *s, arc_slab_run_t *run)
{
    unsigned bin = arc_bit_msb(run->pages);
    if (arc_ilist_unlink(&s->bins[bin], &run->link))
        s->bins_nonempty &= ~((uint64_t)1 << bin);
}

/* n pages starting on a multiple of align_pages pages (absolute), first fit over the bins from
 * n's own; returns the address (0 when nothing fits) and the region in *out. The pages' map
 * words are the caller's to write. */
static uintptr_t pages_take(arc_slab_t *s, size_t n, size_t align_pages, arc_slab_region_t **out)
{
    uintptr_t mask = align_pages * PAGE_BYTES - 1;
    for (uint64_t bins = s->bins_nonempty & (~(uint64_t)0 << arc_bit_msb(n)); bins;
         bins &= bins - 1) {
        for (arc_slab_run_t *run = run_of(s->bins[arc_bit_lsb(bins)]); run;
             run = run_of(run->link.next)) {
            uintptr_t at = (uintptr_t)run;
            size_t lead = (((at + mask) & ~mask) - at) >> PAGE_LOG2, len = run->pages;
            if (lead >= len || len - lead < n)
                continue;
            arc_slab_region_t *r = run->region;
            size_t p = page_index(r, at);
            run_remove(s, run);
            if (lead)
                run_insert(s, r, p, lead);
            if (len - lead > n)
                run_insert(s, r, p + lead + n, len - lead - n);
            *out = r;
            return at + (lead << PAGE_LOG2);
        }
    }
    return 0;
}

/* Gives back n pages at page p (their map words already cleared), merged with free neighbours. */
static void pages_give(arc_slab_t *s, arc_slab_region_t *r, size_t p, size_t n)
{
    uint64_t *map = region_map(r);
    if (p > 0 && (map[p - 1] & PAGE_KIND_MASK) == PAGE_FREE) {
        size_t before = entry_len(map[p - 1]);
        p -= before;
        n += before;
        run_remove(s, (arc_slab_run_t *)page_addr(r, p));
    }
    if (p + n < r->npages && (map[p + n] & PAGE_KIND_MASK) == PAGE_FREE) {
        size_t after = entry_len(map[p + n]);
        run_remove(s, (arc_slab_run_t *)page_addr(r, p + n));
        n += after;
    }
    run_insert(s, r, p, n);
}

/* ---- slabs -------------------------------------------------------------------------------- */

static inline uintptr_t slab_objects(const arc_slab_span_t *slab)
{
    return (uintptr_t)slab + SLAB_HEADER_BYTES;
}

/* Header and short tail: bookkeeping while the slab holds a live object. */
static inline size_t slab_waste(const arc_slab_span_t *slab)
{
    return SLAB_BYTES - (size_t)slab->capacity * slab->size;
}

/* The index of the object starting at addr, or UINT32_MAX when addr starts none. */
static inline uint32_t slab_index(const arc_slab_span_t *slab, uintptr_t addr)
{
    uint64_t off = addr - slab_objects(slab);
    if (off >= (uint64_t)slab->capacity * slab->size)
        return UINT32_MAX;
    uint32_t i = (uint32_t)((off * slab->recip) >> 32);
    return (uint64_t)i * slab->size == off ? i : UINT32_MAX;
}

static inline bool slab_bit(const arc_slab_span_t *slab, uint32_t i)
{
    return (slab->bits[i >> 6] >> (i & 63)) & 1;
}

#if ARC_SECURE
/* The seal of a slab header's fixed fields, under key. */
static inline uint64_t seal_of(uint64_t key, const arc_slab_span_t *slab)
{
    uint64_t h = (((uint64_t)slab->recip << 32 | slab->size) ^ key) * SEAL_MIX1;
    h = (h ^ ((uint64_t)slab->capacity << 32 | slab->cls) ^ (uintptr_t)slab->region) * SEAL_MIX2;
    return (h ^ (uintptr_t)slab) * SEAL_MIX1;
}

static inline uint64_t *slab_canary(const arc_slab_span_t *slab)
{
    return (uint64_t *)((uintptr_t)slab + SLAB_CANARY_OFFSET);
}

static inline uint64_t canary_of(uint64_t key, const arc_slab_span_t *slab)
{
    return ((uintptr_t)slab ^ key) * SEAL_MIX2;
}

static inline bool slab_sealed(uint64_t key, const arc_slab_span_t *slab)
{
    return slab->seal == seal_of(key, slab) && *slab_canary(slab) == canary_of(key, slab);
}

static inline void slab_seal(uint64_t key, arc_slab_span_t *slab)
{
    slab->seal = seal_of(key, slab);
    *slab_canary(slab) = canary_of(key, slab);
}

static uint64_t key_default(const void *state)
{
    uint64_t h = ((uintptr_t)state ^ KEY_DEFAULT_SALT) * SEAL_MIX1;
    h = (h ^ (h >> 33)) * SEAL_MIX2;
    return h ? h : KEY_DEFAULT_SALT;
}
#endif

static void partial_push(arc_slab_class_t *c, arc_slab_span_t *slab)
{
    arc_ilist_push(&c->partial, &slab->link);
}

static void partial_unlink(arc_slab_class_t *c, arc_slab_span_t *slab)
{
    arc_ilist_unlink(&c->partial, &slab->link);
}

/* An empty slab's pages go back to the pool. */
static void slab_release(arc_slab_t *s, arc_slab_span_t *slab)
{
    arc_slab_class_t *c = &s->classes[slab->cls];
    arc_slab_region_t *r = slab->region;
    partial_unlink(c, slab);
    if (c->spare == slab)
        c->spare = NULL;
    size_t p = page_index(r, (uintptr_t)slab);
    memset(&region_map(r)[p], 0, SLAB_PAGES * sizeof(uint64_t));
    pages_give(s, r, p, SLAB_PAGES);
}

/* Gives every class's spare slab back; false when there was none. */
static bool spares_release(arc_slab_t *s)
{
    bool any = false;
    for (unsigned c = 0; c < CLASS_COUNT; c++) {
        if (s->classes[c].spare) {
            slab_release(s, s->classes[c].spare);
            any = true;
        }
    }
    return any;
}

/* pages_take, and once more after the spare slabs went back to the pool. */
static uintptr_t pages_take_reclaim(arc_slab_t *s, size_t n, size_t align_pages,
                                    arc_slab_region_t **out)
{
    uintptr_t at = pages_take(s, n, align_pages, out);
    if (!at && spares_release(s))
        at = pages_take(s, n, align_pages, out);
    return at;
}

/* Rare case of class_alloc: the class has no slab with room. */
static __attribute__((noinline)) arc_slab_span_t *slab_create(arc_slab_t *s, unsigned cls)
{
    arc_slab_region_t *r;
    uintptr_t at = pages_take_reclaim(s, SLAB_PAGES, SLAB_PAGES, &r);
    if (!at)
        return NULL;
    size_t p = page_index(r, at);
    uint64_t *map = region_map(r);
    for (size_t i = 0; i < SLAB_PAGES; i++)
        map[p + i] = ((uint64_t)SLAB_PAGES << PAGE_LEN_SHIFT) | PAGE_SLAB;
    segment_mark(r, p, SLAB_PAGES, PAGE_SLAB);
    arc_slab_span_t *slab = (arc_slab_span_t *)at;
    memset(slab, 0, sizeof *slab);
    slab->region = r;
    slab->size = class_bytes[cls];
    slab->recip = UINT32_MAX / slab->size + 1;
    slab->capacity = (uint32_t)((SLAB_BYTES - SLAB_HEADER_BYTES) / slab->size);
    slab->cls = cls;
#if ARC_SECURE
    slab_seal(s->key, slab);
#endif
    partial_push(&s->classes[cls], slab);
    s->classes[cls].spare = slab;
    return slab;
}

/* A slab's first live object (from empty): no longer a spare; its bookkeeping now counts. */
static __attribute__((noinline)) void slab_woken(arc_slab_t *s, arc_slab_span_t *slab)
{
    arc_slab_class_t *c = &s->classes[slab->cls];
    if (c->spare == slab)
        c->spare = NULL;
    slab->region->busy_slabs++;
    s->overhead += slab_waste(slab);
}

/* A slab's last live object went: keep it as the class's spare if it is the only slab with room,
 * else give its pages back. */
static __attribute__((noinline)) void slab_emptied(arc_slab_t *s, arc_slab_span_t *slab)
{
    arc_slab_class_t *c = &s->classes[slab->cls];
    slab->region->busy_slabs--;
    s->overhead -= slab_waste(slab);
    if (c->partial == &slab->link && !slab->link.next)
        c->spare = slab;
    else
        slab_release(s, slab);
}

/* ---- alloc -------------------------------------------------------------------------------- */

/* Budget (x86-64, -O2), slab with room: ~8 instructions for the class, ~12 to pop the free list
 * (a multiply for the index) or bump, ~8 for the bit, count and full test. */
static inline void *class_alloc(arc_slab_t *s, unsigned cls)
{
    arc_slab_class_t *c = &s->classes[cls];
    arc_slab_span_t *slab = span_of(c->partial);
    if (!slab && !(slab = slab_create(s, cls)))
        return NULL;
    uintptr_t obj;
    uint32_t i;
    if (slab->free) {
        obj = (uintptr_t)slab->free;
        slab->free = *(void **)slab->free;
        i = slab_index(slab, obj);
    } else {
        i = slab->bump++;
        obj = slab_objects(slab) + (uintptr_t)i * slab->size;
    }
    slab->bits[i >> 6] |= (uint64_t)1 << (i & 63);
    if (slab->live++ == 0)
        slab_woken(s, slab);
    if (slab->live == slab->capacity)
        partial_unlink(c, slab);
    s->used += slab->size;
    return (void *)obj;
}

/* The fallback: whole pages, aligned to max(align, a page). */
static __attribute__((noinline)) void *run_alloc(arc_slab_t *s, size_t size, size_t align)
{
    if (size > REQUEST_LIMIT || align > REQUEST_LIMIT)
        return NULL;
    size_t n = (size + PAGE_BYTES - 1) >> PAGE_LOG2;
    arc_slab_region_t *r;
    uintptr_t at = pages_take_reclaim(s, n, align > PAGE_BYTES ? align >> PAGE_LOG2 : 1, &r);
    if (!at)
        return NULL;
    segment_mark(r, page_index(r, at), n, PAGE_RUN);
    r->live_runs++;
    s->used += n << PAGE_LOG2;
    return (void *)at;
}

static int slab_alloc(arc_byte_allocator_t *a, size_t size, size_t align, void **out)
{
    arc_slab_t *s = slab_of(a);
    if (!out || !size || !arc_is_pow2(align))
        return ARC_INVALID_PARAM;
    unsigned cls = class_for(size, align);
    void *p = cls != CLASS_NONE ? class_alloc(s, cls) : NULL;
    if (!p) /* large, over-aligned, or no slab could be carved */
        p = run_alloc(s, size, align);
    *out = p;
    return p ? ARC_OK : ARC_NO_MEMORY;
}

/* A free run of at least min_size bytes handed out whole as an allocated run, not split: the
 * first long enough in the bin of its page count (a walk of that one bin), else the first of the
 * lowest non-empty bin above (every run there is long enough). Slabs, an empty spare included,
 * are never taken. */
static int slab_take_free(arc_byte_allocator_t *a, size_t min_size, void **out)
{
    arc_slab_t *s = slab_of(a);
    int rc = arc_take_free_args(out, min_size, REQUEST_LIMIT);
    if (rc != ARC_OK)
        return rc;
    size_t n = min_size ? (min_size + PAGE_BYTES - 1) >> PAGE_LOG2 : 1;
    for (uint64_t bins = s->bins_nonempty & (~(uint64_t)0 << arc_bit_msb(n)); bins;
         bins &= bins - 1) {
        for (arc_slab_run_t *run = run_of(s->bins[arc_bit_lsb(bins)]); run;
             run = run_of(run->link.next)) {
            if (run->pages < n)
                continue;
            arc_slab_region_t *r = run->region;
            size_t len = run->pages;
            run_remove(s, run);
            segment_mark(r, page_index(r, (uintptr_t)run), len, PAGE_RUN);
            r->live_runs++;
            s->used += len << PAGE_LOG2;
            *out = run;
            return ARC_OK;
        }
    }
    return ARC_NO_MEMORY;
}

/* ---- dealloc ------------------------------------------------------------------------------ */

/* The page-map entry of addr inside region r (0 when addr is not on one of r's pages). */
static inline uint64_t region_entry(const arc_slab_region_t *r, uintptr_t addr)
{
    if (addr < r->pages_lo || page_index(r, addr) >= r->npages)
        return 0;
    return region_map(r)[page_index(r, addr)];
}

/* The page map word of addr's page in its region (*out), or 0 when addr is on no page. */
static inline uint64_t page_entry(const arc_slab_t *s, uintptr_t addr, arc_slab_region_t **out)
{
    arc_slab_region_t *r = region_of(arc_region_tree_find(&s->regions, addr));
    if (!r)
        return 0;
    *out = r;
    return region_entry(r, addr);
}

/* The region header sits at the region's trimmed start. */
static inline arc_slab_region_t *region_at(const void *region)
{
    return (arc_slab_region_t *)(((uintptr_t)region + GRANULE - 1) & ~(GRANULE - 1));
}

/* Rare case of slab_dealloc: addr is not on a slab page, so it must start an allocated run. */
static __attribute__((noinline)) int run_dealloc(arc_slab_t *s, arc_slab_region_t *r,
                                                 uintptr_t addr, uint64_t e, size_t size)
{
    size_t n = entry_len(e);
    if ((e & (PAGE_KIND_MASK | PAGE_HEAD)) != PAGE_RUN_HEAD || addr % PAGE_BYTES ||
        size > n << PAGE_LOG2)
        return ARC_NOT_ALLOCATED;
    size_t p = page_index(r, addr);
    region_map(r)[p] = region_map(r)[p + n - 1] = 0;
    pages_give(s, r, p, n);
    r->live_runs--;
    s->used -= n << PAGE_LOG2;
    return ARC_OK;
}

/* dealloc(ptr, size, align): size above the block's usable size cannot be what alloc was asked,
 * so it is ARC_NOT_ALLOCATED too; align is not needed (the page map knows the block). */
static int entry_dealloc(arc_slab_t *s, arc_slab_region_t *r, uintptr_t addr, uint64_t e,
                         size_t size)
{
    if ((e & PAGE_KIND_MASK) != PAGE_SLAB)
        return r ? run_dealloc(s, r, addr, e, size) : ARC_NOT_ALLOCATED;
    arc_slab_span_t *slab = (arc_slab_span_t *)(addr & ~(SLAB_BYTES - 1));
#if ARC_SECURE
    if (!slab_sealed(s->key, slab))
        return ARC_INVALID_PARAM;
#endif
    uint32_t i = slab_index(slab, addr);
    if (i == UINT32_MAX || !slab_bit(slab, i) || size > slab->size)
        return ARC_NOT_ALLOCATED;
    slab->bits[i >> 6] &= ~((uint64_t)1 << (i & 63));
    *(void **)addr = slab->free;
    slab->free = (void *)addr;
    s->used -= slab->size;
    if (slab->live-- == slab->capacity)
        partial_push(&s->classes[slab->cls], slab);
    if (slab->live == 0)
        slab_emptied(s, slab);
    return ARC_OK;
}

static int slab_dealloc(arc_byte_allocator_t *a, void *ptr, size_t size, size_t align)
{
    arc_slab_t *s = slab_of(a);
    arc_slab_region_t *r = NULL;
    uint64_t e = page_entry(s, (uintptr_t)ptr, &r);
    (void)align;
    return entry_dealloc(s, r, (uintptr_t)ptr, e, size);
}

static int slab_dealloc_in(arc_byte_allocator_t *a, void *region, void *ptr, size_t size,
                           size_t align)
{
    arc_slab_region_t *r = region_at(region);
    (void)align;
    if ((uintptr_t)ptr < r->node.lo || (uintptr_t)ptr >= r->node.hi)
        return ARC_NOT_ALLOCATED;
    return entry_dealloc(slab_of(a), r, (uintptr_t)ptr, region_entry(r, (uintptr_t)ptr), size);
}

/* ptr is live: a slab object's size is in its slab header, a run's length in the page map. */
static size_t slab_usable_size_in(const arc_byte_allocator_t *a, const void *region,
                                  const void *ptr)
{
    uintptr_t addr = (uintptr_t)ptr;
    uint64_t e = region_entry(region_at(region), addr);
    if ((e & PAGE_KIND_MASK) == PAGE_SLAB) {
        const arc_slab_span_t *slab = (const arc_slab_span_t *)(addr & ~(SLAB_BYTES - 1));
#if ARC_SECURE
        if (!slab_sealed(slab_of_const(a)->key, slab))
            return 0;
#else
        (void)a;
#endif
        return slab->size;
    }
    return entry_len(e) << PAGE_LOG2;
}

/* The usable size of the live block starting at addr, whose page's map word is e, else 0. */
static size_t live_size(const arc_byte_allocator_t *a, uintptr_t addr, uint64_t e)
{
    if ((e & PAGE_KIND_MASK) == PAGE_SLAB) {
        const arc_slab_span_t *slab = (const arc_slab_span_t *)(addr & ~(SLAB_BYTES - 1));
#if ARC_SECURE
        if (!slab_sealed(slab_of_const(a)->key, slab))
            return 0;
#else
        (void)a;
#endif
        uint32_t i = slab_index(slab, addr);
        return i != UINT32_MAX && slab_bit(slab, i) ? slab->size : 0;
    }
    if ((e & (PAGE_KIND_MASK | PAGE_HEAD)) == PAGE_RUN_HEAD && addr % PAGE_BYTES == 0)
        return entry_len(e) << PAGE_LOG2;
    return 0;
}

static size_t slab_usable_size(const arc_byte_allocator_t *a, const void *ptr)
{
    arc_slab_region_t *r = NULL;
    return live_size(a, (uintptr_t)ptr, page_entry(slab_of_const(a), (uintptr_t)ptr, &r));
}

static size_t slab_usable_size_checked_in(const arc_byte_allocator_t *a, const void *region,
                                          const void *ptr)
{
    return live_size(a, (uintptr_t)ptr, region_entry(region_at(region), (uintptr_t)ptr));
}

/* ---- regions ------------------------------------------------------------------------------ */

/* Trim [start, start + size) inward to granules and find whole pages inside after the header
 * and page map; ARC_INVALID_PARAM when it wraps the address space or holds no page. */
static int region_plan(const void *start, size_t size, arc_slab_region_t *plan)
{
    uintptr_t s = (uintptr_t)start;
    if (!start || size < PAGE_BYTES || size > UINTPTR_MAX - s)
        return ARC_INVALID_PARAM;
    uintptr_t lo = (s + GRANULE - 1) & ~(GRANULE - 1), hi = (s + size) & ~(GRANULE - 1);
    uintptr_t meta = lo + sizeof(arc_slab_region_t), end = hi & ~(PAGE_BYTES - 1);
    size_t n = end > meta ? (end - meta) / (PAGE_BYTES + sizeof(uint64_t)) : 0;
    uintptr_t first = (meta + n * sizeof(uint64_t) + PAGE_BYTES - 1) & ~(PAGE_BYTES - 1);
    while (n && first + n * PAGE_BYTES > end) { /* rounding up to a page cost one page */
        n--;
        first = (meta + n * sizeof(uint64_t) + PAGE_BYTES - 1) & ~(PAGE_BYTES - 1);
    }
    if (!n)
        return ARC_INVALID_PARAM;
    *plan = (arc_slab_region_t){.node = {.lo = lo, .hi = hi}, .pages_lo = first, .npages = n};
    return ARC_OK;
}

static int slab_add_memory(arc_byte_allocator_t *a, void *start, size_t size)
{
    arc_slab_t *s = slab_of(a);
    arc_slab_region_t plan;
    int rc = region_plan(start, size, &plan);
    if (rc)
        return rc;
    if (arc_region_tree_find_overlap(&s->regions, plan.node.lo, plan.node.hi))
        return ARC_MEMORY_OVERLAP;
    arc_slab_region_t *r = (arc_slab_region_t *)plan.node.lo;
    *r = plan;
    memset(region_map(r), 0, r->npages * sizeof(uint64_t));
    run_insert(s, r, 0, r->npages);
    arc_region_tree_insert(&s->regions, &r->node);
    s->total += r->npages << PAGE_LOG2;
    return ARC_OK;
}

static int slab_init(arc_byte_allocator_t *a, void *start, size_t size)
{
    if (!a || (uintptr_t)a % _Alignof(arc_slab_t))
        return ARC_INVALID_PARAM;
    memset(a, 0, sizeof(arc_slab_t)); /* all-zero bits are NULL lists on every Linux target */
#if ARC_SECURE
    slab_of(a)->key = key_default(a);
#endif
    return slab_add_memory(a, start, size);
}

#if ARC_SECURE
typedef struct reseal_keys {
    uint64_t old, key;
} reseal_keys_t;

/* Re-guards the slabs of one region under keys->key; a header already bad under keys->old stays
 * bad. */
static void region_reseal(const arc_region_node_t *node, void *keys)
{
    const arc_slab_region_t *r = region_of(node);
    const reseal_keys_t *k = keys;
    const uint64_t *map = region_map(r);
    for (size_t p = 0; p < r->npages; p++) {
        arc_slab_span_t *slab = (arc_slab_span_t *)page_addr(r, p);
        if ((map[p] & (PAGE_KIND_MASK | PAGE_HEAD)) == (PAGE_SLAB | PAGE_HEAD) &&
            slab_sealed(k->old, slab))
            slab_seal(k->key, slab);
    }
}

static void slab_set_key(arc_byte_allocator_t *a, uint64_t key)
{
    arc_slab_t *s = slab_of(a);
    reseal_keys_t keys = {.old = s->key, .key = key ? key : key_default(a)};
    (void)arc_region_tree_walk(&s->regions, region_reseal, &keys); /* faults: check()'s to count */
    s->key = keys.key;
}
#endif

/* Takes back a region given whole to init/add_memory (the same start and size, or any that
 * trim to the same range) when no block in it is live: its spare slabs go back to its pool,
 * which is then one free run. */
static int slab_remove_memory(arc_byte_allocator_t *a, void *start, size_t size)
{
    arc_slab_t *s = slab_of(a);
    arc_slab_region_t plan;
    if (region_plan(start, size, &plan))
        return ARC_INVALID_PARAM;
    arc_slab_region_t *r = region_of(arc_region_tree_find(&s->regions, plan.node.lo));
    if (!r || r->node.lo != plan.node.lo || r->node.hi != plan.node.hi || r->live_runs ||
        r->busy_slabs)
        return ARC_INVALID_PARAM;
    for (unsigned c = 0; c < CLASS_COUNT; c++)
        if (s->classes[c].spare && s->classes[c].spare->region == r)
            slab_release(s, s->classes[c].spare);
    run_remove(s, (arc_slab_run_t *)r->pages_lo);
    arc_region_tree_remove(&s->regions, &r->node);
    s->total -= r->npages << PAGE_LOG2;
    return ARC_OK;
}

/* ---- statistics --------------------------------------------------------------------------- */

static size_t slab_total_bytes(const arc_byte_allocator_t *a)
{
    return slab_of_const(a)->total;
}

static size_t slab_used_bytes(const arc_byte_allocator_t *a)
{
    return slab_of_const(a)->used;
}

static size_t slab_available_bytes(const arc_byte_allocator_t *a)
{
    const arc_slab_t *s = slab_of_const(a);
    return s->total - s->used - s->overhead;
}

/* ---- check -------------------------------------------------------------------------------- */

/* What the page walks see; the bins, class lists and counters must agree with it. */
typedef struct check_tally {
    size_t bad, total, used, overhead, free_runs;
    size_t with_room[CLASS_COUNT], empty[CLASS_COUNT];
#if ARC_SECURE
    uint64_t key; /* every slab header's seal and canary must hold under it */
#endif
} check_tally_t;

/* One slab: header sane, allocated bits = live, free list = handed-out objects now free. */
static void slab_check(const arc_slab_region_t *r, const arc_slab_span_t *slab, check_tally_t *t)
{
    unsigned cls = slab->cls;
#if ARC_SECURE
    t->bad += !slab_sealed(t->key, slab);
#endif
    if (slab->region != r || cls >= CLASS_COUNT || slab->size != class_bytes[cls] ||
        slab->recip != UINT32_MAX / slab->size + 1 ||
        slab->capacity != (SLAB_BYTES - SLAB_HEADER_BYTES) / slab->size ||
        slab->bump > slab->capacity || slab->live > slab->bump) {
        t->bad++;
        return; /* the rest cannot be trusted */
    }
    size_t bits = 0, freed = 0;
    for (size_t w = 0; w < SLAB_BITMAP_WORDS; w++)
        bits += (size_t)__builtin_popcountll(slab->bits[w]);
    for (uint32_t i = slab->bump; i < slab->capacity; i++)
        t->bad += slab_bit(slab, i);
    for (const void *o = slab->free; o && freed <= slab->bump; o = *(void *const *)o, freed++) {
        uint32_t i = slab_index(slab, (uintptr_t)o);
        t->bad += i >= slab->bump || slab_bit(slab, i);
    }
    t->bad += bits != slab->live || freed != slab->bump - slab->live;
    t->used += (size_t)slab->live * slab->size;
    t->overhead += slab->live ? slab_waste(slab) : 0;
    t->with_room[cls] += slab->live < slab->capacity;
    t->empty[cls] += slab->live == 0;
}

/* One region's pages (arc_region_tree_walk visits the regions in address order, and checks that
 * they are disjoint): segments tile them, tags agree, no two free runs adjacent. */
static void region_check(const arc_region_node_t *node, void *tally)
{
    const arc_slab_region_t *r = region_of(node);
    check_tally_t *t = tally;
    const uint64_t *map = region_map(r);
    if (r->node.lo % GRANULE || r->node.hi % GRANULE || r->pages_lo % PAGE_BYTES ||
        r->pages_lo < (uintptr_t)(map + r->npages) ||
        r->npages > (r->node.hi - r->pages_lo) / PAGE_BYTES) {
        t->bad++;
        return; /* the map cannot be trusted */
    }
    t->total += r->npages << PAGE_LOG2;
    size_t runs = 0, busy = 0;
    unsigned prev_kind = 0;
    for (size_t p = 0; p < r->npages;) {
        uint64_t e = map[p];
        unsigned kind = e & PAGE_KIND_MASK;
        size_t n = entry_len(e);
        if (!(e & PAGE_HEAD) || !kind || !n || n > r->npages - p ||
            (map[p + n - 1] | PAGE_HEAD) != (e | PAGE_TAIL)) {
            t->bad++;
            return;
        }
        const void *at = (const void *)page_addr(r, p);
        if (kind == PAGE_FREE) {
            const arc_slab_run_t *run = at;
            t->bad += prev_kind == PAGE_FREE || run->region != r || run->pages != n;
            t->free_runs++;
        } else if (kind == PAGE_RUN) {
            runs++;
            t->used += n << PAGE_LOG2;
        } else {
            for (size_t i = 1; i + 1 < n; i++)
                t->bad += map[p + i] != (e & ~(uint64_t)PAGE_HEAD);
            if (n != SLAB_PAGES || page_addr(r, p) % SLAB_BYTES) {
                t->bad++;
            } else {
                slab_check(r, at, t);
                busy += ((const arc_slab_span_t *)at)->live != 0;
            }
        }
        prev_kind = kind;
        p += n;
    }
    t->bad += runs != r->live_runs || busy != r->busy_slabs;
}

/* Bins: members free run heads in their own bin, linked both ways, as many as the walk found. */
static size_t bins_check(const arc_slab_t *s, const check_tally_t *t)
{
    size_t bad = 0, count = 0;
    for (unsigned b = 0; b < PAGE_BIN_COUNT; b++) {
        const arc_ilist_link_t *before = NULL;
        bad += ((s->bins_nonempty >> b) & 1) != (s->bins[b] != NULL);
        for (const arc_ilist_link_t *l = s->bins[b]; l; before = l, l = l->next) {
            if (count++ > t->free_runs)
                return bad + 1; /* a cycle or a foreign run */
            const arc_slab_run_t *run = run_of(l);
            const arc_slab_region_t *r = run->region;
            uintptr_t at = (uintptr_t)run;
            bad += l->prev != before || !run->pages || arc_bit_msb(run->pages) != b;
            bad += at % PAGE_BYTES || at < r->pages_lo || page_index(r, at) >= r->npages ||
                   region_map(r)[page_index(r, at)] !=
                       (((uint64_t)run->pages << PAGE_LEN_SHIFT) | PAGE_FREE | PAGE_HEAD |
                        (run->pages == 1 ? PAGE_TAIL : 0));
        }
    }
    return bad + (count != t->free_runs);
}

/* Classes: the partial list holds exactly the slabs with room, the spare the one empty slab. */
static size_t classes_check(const arc_slab_t *s, const check_tally_t *t)
{
    size_t bad = 0;
    for (unsigned c = 0; c < CLASS_COUNT; c++) {
        const arc_slab_class_t *cl = &s->classes[c];
        const arc_ilist_link_t *before = NULL;
        size_t count = 0;
        for (const arc_ilist_link_t *l = cl->partial; l; before = l, l = l->next) {
            if (count++ > t->with_room[c])
                return bad + 1;
            const arc_slab_span_t *slab = span_of(l);
            bad += l->prev != before || slab->cls != c || slab->live >= slab->capacity;
        }
        bad += count != t->with_room[c] || t->empty[c] > 1;
        bad += cl->spare ? cl->spare->live != 0 || cl->spare->cls != c || t->empty[c] != 1
                         : t->empty[c] != 0;
    }
    return bad;
}

static size_t slab_check_all(const arc_byte_allocator_t *a)
{
    const arc_slab_t *s = slab_of_const(a);
    check_tally_t t = {0};
#if ARC_SECURE
    t.key = s->key;
#endif
    t.bad += arc_region_tree_walk(&s->regions, region_check, &t);
    t.bad += bins_check(s, &t) + classes_check(s, &t);
    t.bad += t.total != s->total || t.used != s->used || t.overhead != s->overhead;
    t.bad += s->used + s->overhead > s->total;
    return t.bad;
}

const arc_byte_ops_t arc_slab_ops = {
    .name = "slab",
    .state_size = (sizeof(arc_slab_t) + 63) & ~(size_t)63,
    .init = slab_init,
    .add_memory = slab_add_memory,
    .remove_memory = slab_remove_memory,
    .alloc = slab_alloc,
    .dealloc = slab_dealloc,
    .usable_size = slab_usable_size,
    .usable_size_in = slab_usable_size_in,
    .usable_size_checked_in = slab_usable_size_checked_in,
    .dealloc_in = slab_dealloc_in,
    .total_bytes = slab_total_bytes,
    .used_bytes = slab_used_bytes,
    .available_bytes = slab_available_bytes,
    .check = slab_check_all,
    .take_free = slab_take_free,
#if ARC_SECURE
    .set_key = slab_set_key,
#endif
};
