/* buddy.c: the buddy byte allocator (arc_buddy_ops): naturally aligned power-of-two blocks from
 * 16 B, split on alloc and merged with their buddy (addr ^ size) on free, over any number of
 * caller regions. Never calls the OS, allocates, locks, prints or keeps globals.
 *
 * Layout. A region is trimmed inward to ARC_MIN_ALIGN (16-byte) boundaries, [lo, hi); all its
 * bookkeeping lives at its start:
 *
 *   [region header][byte map: n bytes][unused < 17 B][area: n granules of 16 B, ending at hi]
 *
 * n is the largest count with header + n + 16 n <= hi - lo. The area is carved greedily into the
 * largest blocks that are naturally aligned on their absolute address and fit, so a block of
 * order k always sits at a multiple of 2^k and its buddy is addr ^ 2^k. The byte map has one
 * byte per granule: 0 inside a block; at a block's first granule MAP_HEAD | order, plus MAP_USED
 * while the block is allocated. free() needs no size (the map knows each block's order), and
 * double frees and interior pointers are exact (their granule is not a used head).
 *
 * Regions sit in the shared address treap (region_tree.h), a node in each region header:
 * add_memory's overlap test and the pointer-to-region lookup of free/usable_size are
 * O(log regions), one step with one region; the rest of each operation is O(orders).
 *
 * Statistics (exact after every operation):
 *   total_bytes     = sum over regions of the area (16 n): every byte a block can cover.
 *   used_bytes      = sum of the block sizes (= usable_size) of live blocks.
 *   available_bytes = total - used = the bytes of the free blocks. The header and byte map are
 *                     outside total; a block carries no header, so the only waste is rounding
 *                     requests up to a power of two (it shows in used_bytes).
 *
 * Secure builds (ARC_SECURE): a live block has no header (its map byte is out of band, at the
 * region start), so what sits next to program blocks is the free blocks' list links. Each free
 * block's {next, prev} is sealed: a 16-bit checksum of (block address, next, prev, order, the
 * instance's 64-bit key) in the top LINK_TAG_BITS of the two link words (user addresses stay
 * below 2^56 on every 64-bit Linux: x86-64 5-level paging and arm64 included). dealloc and
 * dealloc_in check every buddy they would merge with before changing anything (a bad one:
 * ARC_INVALID_PARAM); alloc and take_free check the block they pop (a bad one: ARC_NO_MEMORY,
 * the list left as it is); a list neighbour whose seal is already bad is never re-sealed.
 * usable_size reads only the map and has nothing in-band to check. Normal builds store plain
 * pointers. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arcalloc.h"
#include "bits.h"
#include "ilist.h"
#include "region_tree.h"

/* ---- constants ---------------------------------------------------------------------------- */

/* One map byte describes one granule of ARC_MIN_ALIGN bytes, the smallest block. */
#define GRANULE_LOG2 4
#define GRANULE      ((uintptr_t)1 << GRANULE_LOG2)

/* Orders are log2 of block sizes. The smallest block is one granule (it must hold the two
 * free-list links); the largest, 2^62 B, is beyond any real address space and keeps every size
 * computation below 2^63 so nothing overflows. Free lists are indexed by order directly. */
#define ORDER_MIN   GRANULE_LOG2
#define ORDER_MAX   62
#define ORDER_LISTS (ORDER_MAX + 1)
#define BLOCK_LIMIT ((size_t)1 << ORDER_MAX)

/* A map byte: the order in the low bits, two flags above. */
#define MAP_ORDER_MASK 0x3fu
#define MAP_HEAD       0x40u /* the granule starts a block */
#define MAP_USED       0x80u /* ... which is allocated */

_Static_assert((1u << GRANULE_LOG2) == ARC_MIN_ALIGN, "a granule is the minimum alignment");
_Static_assert(sizeof(size_t) == 8 && sizeof(uintptr_t) == 8, "64-bit targets only");
_Static_assert(ORDER_MAX <= MAP_ORDER_MASK, "every order fits the map byte");
_Static_assert(ORDER_LISTS <= 64, "the non-empty list set is one 64-bit word");
_Static_assert((MAP_ORDER_MASK & (MAP_HEAD | MAP_USED)) == 0, "flags above the order");

#if ARC_SECURE
/* A free block's seal: 8 bits in the top of each link word (addresses are below 2^56). The
 * mixing constants are MurmurHash3's fmix64 multipliers (odd, from its author). */
#define LINK_TAG_BITS  8
#define LINK_TAG_SHIFT (64 - LINK_TAG_BITS)
#define LINK_ADDR_MASK (~(uintptr_t)0 >> LINK_TAG_BITS)
#define LINK_TAG_MASK  (((uintptr_t)1 << LINK_TAG_BITS) - 1)
#define SEAL_MIX1      0xff51afd7ed558ccdull
#define SEAL_MIX2      0xc4ceb9fe1a85ec53ull
/* The default key: the state's address through the same mix, never zero. */
#define KEY_DEFAULT_SALT 0x9e3779b97f4a7c15ull /* 2^64 / golden ratio, an odd constant */
_Static_assert(2 * LINK_TAG_BITS == 16, "a 16-bit seal: a forged pair passes with chance 2^-16");
#endif

/* A free block: its first granule holds the links of its order's list. A secure build seals
 * them (read and written only through link_next, link_prev and link_set); a normal build's are a
 * plain list link (ilist.h), so a list head is a block pointer. */
#if ARC_SECURE
typedef struct arc_buddy_block {
    uintptr_t next, prev; /* address | 8 seal bits on top */
} arc_buddy_block_t;
#else
typedef arc_ilist_link_t arc_buddy_block_t;
#endif

_Static_assert(sizeof(arc_buddy_block_t) <= ((size_t)1 << ORDER_MIN),
               "the smallest block has links");

typedef struct arc_buddy_region {
    arc_region_node_t node; /* first (region_of); [lo, hi): the trimmed region, in the treap */
    uintptr_t area_lo;      /* first granule of the area; the area ends at node.hi */
    size_t live;            /* allocated blocks in this region */
} arc_buddy_region_t;

/* The header plus one map byte and one granule: the smallest region add_memory takes. */
#define REGION_MIN (sizeof(arc_buddy_region_t) + 1 + GRANULE)

_Static_assert(sizeof(arc_buddy_region_t) % GRANULE == 0, "the map starts on a granule");
_Static_assert(offsetof(arc_buddy_region_t, node) == 0, "region_of(NULL) is NULL");

/* The control block: the whole of the caller's state memory. */
typedef struct arc_buddy {
    arc_region_tree_t regions;
    uint64_t nonempty; /* bit k: lists[k] != NULL */
    size_t total, used;
    arc_buddy_block_t *lists[ORDER_LISTS];
#if ARC_SECURE
    uint64_t key; /* seals every free block's links (arc_byte_set_key); never zero */
#endif
} arc_buddy_t;

static arc_buddy_t *buddy_of(arc_byte_allocator_t *a)
{
    return (arc_buddy_t *)(void *)a;
}

static const arc_buddy_t *buddy_of_const(const arc_byte_allocator_t *a)
{
    return (const arc_buddy_t *)(const void *)a;
}

/* ---- orders ------------------------------------------------------------------------------ */

/* The order of the smallest block holding `need` bytes (0 < need <= BLOCK_LIMIT). */
static inline unsigned order_for(size_t need)
{
    return need <= GRANULE ? ORDER_MIN : arc_bit_msb(need - 1) + 1;
}

/* ---- the byte map ------------------------------------------------------------------------- */

static inline uint8_t *region_map(const arc_buddy_region_t *r)
{
    return (uint8_t *)(uintptr_t)(r + 1);
}

static inline uint8_t *map_byte(const arc_buddy_region_t *r, uintptr_t addr)
{
    return region_map(r) + ((addr - r->area_lo) >> GRANULE_LOG2);
}

/* The order of the live block starting at addr in r, or 0 when addr is no live block start. */
static inline unsigned block_live_order(const arc_buddy_region_t *r, uintptr_t addr)
{
    if (addr < r->area_lo || addr >= r->node.hi || addr % GRANULE)
        return 0;
    unsigned m = *map_byte(r, addr);
    return (m & (MAP_HEAD | MAP_USED)) == (MAP_HEAD | MAP_USED) ? m & MAP_ORDER_MASK : 0;
}

/* ---- free lists --------------------------------------------------------------------------- */

static inline arc_buddy_block_t *link_next(const arc_buddy_block_t *blk)
{
#if ARC_SECURE
    return (arc_buddy_block_t *)(blk->next & LINK_ADDR_MASK);
#else
    return blk->next;
#endif
}

static inline arc_buddy_block_t *link_prev(const arc_buddy_block_t *blk)
{
#if ARC_SECURE
    return (arc_buddy_block_t *)(blk->prev & LINK_ADDR_MASK);
#else
    return blk->prev;
#endif
}

#if ARC_SECURE
/* The 16-bit seal of a free block of order k at blk with these links, under key. */
static inline uintptr_t seal_of(uint64_t key, const arc_buddy_block_t *blk, uintptr_t next,
                                uintptr_t prev, unsigned k)
{
    uint64_t h = ((next ^ key) * SEAL_MIX1 ^ prev ^ k) * SEAL_MIX2;
    return (uintptr_t)(((h ^ (uintptr_t)blk) * SEAL_MIX1) >> (64 - 2 * LINK_TAG_BITS));
}

static inline bool seal_holds(uint64_t key, const arc_buddy_block_t *blk, unsigned k)
{
    uintptr_t seal = seal_of(key, blk, blk->next & LINK_ADDR_MASK, blk->prev & LINK_ADDR_MASK, k);
    return (blk->next >> LINK_TAG_SHIFT) == (seal >> LINK_TAG_BITS) &&
           (blk->prev >> LINK_TAG_SHIFT) == (seal & LINK_TAG_MASK);
}

static inline void seal_write(uint64_t key, arc_buddy_block_t *blk, uintptr_t next, uintptr_t prev,
                              unsigned k)
{
    uintptr_t seal = seal_of(key, blk, next, prev, k);
    blk->next = next | (seal >> LINK_TAG_BITS) << LINK_TAG_SHIFT;
    blk->prev = prev | (seal & LINK_TAG_MASK) << LINK_TAG_SHIFT;
}

static uint64_t key_default(const void *state)
{
    uint64_t h = ((uintptr_t)state ^ KEY_DEFAULT_SALT) * SEAL_MIX1;
    h = (h ^ (h >> 33)) * SEAL_MIX2;
    return h ? h : KEY_DEFAULT_SALT;
}
#endif

/* The free block blk of order k: are its links its own (always in a normal build)? */
static inline bool link_sealed(const arc_buddy_t *b, const arc_buddy_block_t *blk, unsigned k)
{
#if ARC_SECURE
    return seal_holds(b->key, blk, k);
#else
    (void)b, (void)blk, (void)k;
    return true;
#endif
}

#if ARC_SECURE
/* Writes blk's links, sealed. */
static inline void link_set(const arc_buddy_t *b, arc_buddy_block_t *blk, arc_buddy_block_t *next,
                            arc_buddy_block_t *prev, unsigned k)
{
    seal_write(b->key, blk, (uintptr_t)next, (uintptr_t)prev, k);
}

/* A list neighbour's one changed link; a neighbour whose seal is already bad stays as it is. */
static inline void link_set_next(const arc_buddy_t *b, arc_buddy_block_t *blk,
                                 arc_buddy_block_t *next, unsigned k)
{
    if (seal_holds(b->key, blk, k))
        seal_write(b->key, blk, (uintptr_t)next, blk->prev & LINK_ADDR_MASK, k);
}

static inline void link_set_prev(const arc_buddy_t *b, arc_buddy_block_t *blk,
                                 arc_buddy_block_t *prev, unsigned k)
{
    if (seal_holds(b->key, blk, k))
        seal_write(b->key, blk, blk->next & LINK_ADDR_MASK, (uintptr_t)prev, k);
}

static inline void list_push(arc_buddy_t *b, uintptr_t addr, unsigned k)
{
    arc_buddy_block_t *blk = (arc_buddy_block_t *)addr, *first = b->lists[k];
    link_set(b, blk, first, NULL, k);
    if (first)
        link_set_prev(b, first, blk, k);
    b->lists[k] = blk;
    b->nonempty |= (uint64_t)1 << k;
}

static inline void list_unlink(arc_buddy_t *b, arc_buddy_block_t *blk, unsigned k)
{
    arc_buddy_block_t *next = link_next(blk), *prev = link_prev(blk);
    if (prev)
        link_set_next(b, prev, next, k);
    else
        b->lists[k] = next;
    if (next)
        link_set_prev(b, next, prev, k);
    if (!b->lists[k])
        b->nonempty &= ~((uint64_t)1 << k);
}
#else
/* A normal build's lists are plain (ilist.h); the secure ones above check and keep seals. */
static inline void list_push(arc_buddy_t *b, uintptr_t addr, unsigned k)
{
    arc_ilist_push(&b->lists[k], (arc_buddy_block_t *)addr);
    b->nonempty |= (uint64_t)1 << k;
}

static inline void list_unlink(arc_buddy_t *b, arc_buddy_block_t *blk, unsigned k)
{
    if (arc_ilist_unlink(&b->lists[k], blk))
        b->nonempty &= ~((uint64_t)1 << k);
}
#endif

/* ---- regions in the treap ---------------------------------------------------------------- */

/* The region a treap node heads (NULL for NULL). */
static inline arc_buddy_region_t *region_of(const arc_region_node_t *n)
{
    return (arc_buddy_region_t *)(uintptr_t)n;
}

/* The region holding addr, or NULL. */
static inline arc_buddy_region_t *region_find(const arc_buddy_t *b, uintptr_t addr)
{
    return region_of(arc_region_tree_find(&b->regions, addr));
}

/* ---- alloc -------------------------------------------------------------------------------- */

/* Unlinks the first block of the lowest non-empty list of order k or above and returns it, its
 * order in *j; NULL when there is none, or (secure build) when that block's links were
 * overwritten: nothing changed then. */
static inline arc_buddy_block_t *list_pop_fit(arc_buddy_t *b, unsigned k, unsigned *j)
{
    uint64_t fit = b->nonempty & (~(uint64_t)0 << k);
    if (!fit)
        return NULL;
    *j = arc_bit_lsb(fit);
    arc_buddy_block_t *blk = b->lists[*j];
    if (!link_sealed(b, blk, *j))
        return NULL;
    list_unlink(b, blk, *j);
    return blk;
}

/* Budget (x86-64, -O2): ~10 instructions of checks and order, ~6 to pick the list, ~10 to pop,
 * the region lookup (~6 per treap level), then ~12 per split level. */
static int buddy_alloc(arc_byte_allocator_t *a, size_t size, size_t align, void **out)
{
    arc_buddy_t *b = buddy_of(a);
    if (!out || !size || !arc_is_pow2(align))
        return ARC_INVALID_PARAM;
    *out = NULL;
    size_t need = size > align ? size : align;
    if (need > BLOCK_LIMIT)
        return ARC_NO_MEMORY; /* absurd: before any arithmetic that could wrap */
    unsigned k = order_for(need), j = 0;
    arc_buddy_block_t *blk = list_pop_fit(b, k, &j);
    if (!blk)
        return ARC_NO_MEMORY;
    uintptr_t addr = (uintptr_t)blk;
    arc_buddy_region_t *r = region_find(b, addr);
    while (j > k) { /* keep the lower half, list the upper */
        j--;
        uintptr_t upper = addr + ((uintptr_t)1 << j);
        list_push(b, upper, j);
        *map_byte(r, upper) = (uint8_t)(MAP_HEAD | j);
    }
    *map_byte(r, addr) = (uint8_t)(MAP_HEAD | MAP_USED | k);
    r->live++;
    b->used += (size_t)1 << k;
    *out = blk;
    return ARC_OK;
}

/* A free block of at least min_size bytes handed out whole: the first of the lowest non-empty
 * list whose blocks are that large, not split (O(1) but for the region lookup, as alloc). */
static int buddy_take_free(arc_byte_allocator_t *a, size_t min_size, void **out)
{
    arc_buddy_t *b = buddy_of(a);
    int rc = arc_take_free_args(out, min_size, BLOCK_LIMIT);
    if (rc != ARC_OK)
        return rc;
    unsigned j = 0;
    arc_buddy_block_t *blk = list_pop_fit(b, order_for(min_size), &j);
    if (!blk)
        return ARC_NO_MEMORY;
    arc_buddy_region_t *r = region_find(b, (uintptr_t)blk);
    *map_byte(r, (uintptr_t)blk) = (uint8_t)(MAP_HEAD | MAP_USED | j);
    r->live++;
    b->used += (size_t)1 << j;
    *out = blk;
    return ARC_OK;
}

/* ---- dealloc ------------------------------------------------------------------------------ */

#if ARC_SECURE
/* Secure builds: true when a buddy the free of the block of order k at addr would merge with
 * has links that fail their seal (the same walk as region_dealloc's merge, reading only). */
static bool merge_bad(const arc_buddy_t *b, const arc_buddy_region_t *r, uintptr_t addr, unsigned k)
{
    for (; k < ORDER_MAX; k++) {
        uintptr_t buddy = addr ^ ((uintptr_t)1 << k);
        if (buddy < r->area_lo || buddy >= r->node.hi || *map_byte(r, buddy) != (MAP_HEAD | k))
            return false;
        if (!seal_holds(b->key, (const arc_buddy_block_t *)buddy, k))
            return true;
        addr &= ~((uintptr_t)1 << k);
    }
    return false;
}
#endif

/* dealloc(ptr, size, align): size above the block's size cannot be what alloc was asked, so it
 * is ARC_NOT_ALLOCATED too; align is not needed (the map knows the order). */
static int region_dealloc(arc_buddy_t *b, arc_buddy_region_t *r, uintptr_t addr, size_t size)
{
    unsigned k = r ? block_live_order(r, addr) : 0;
    if (!k || size > (size_t)1 << k)
        return ARC_NOT_ALLOCATED;
#if ARC_SECURE
    if (merge_bad(b, r, addr, k))
        return ARC_INVALID_PARAM;
#endif
    *map_byte(r, addr) = 0;
    r->live--;
    b->used -= (size_t)1 << k;
    for (; k < ORDER_MAX; k++) { /* merge while the buddy is a free block of the same order */
        uintptr_t buddy = addr ^ ((uintptr_t)1 << k);
        if (buddy < r->area_lo || buddy >= r->node.hi || *map_byte(r, buddy) != (MAP_HEAD | k))
            break;
        list_unlink(b, (arc_buddy_block_t *)buddy, k);
        *map_byte(r, buddy) = 0;
        addr &= ~((uintptr_t)1 << k);
    }
    *map_byte(r, addr) = (uint8_t)(MAP_HEAD | k);
    list_push(b, addr, k);
    return ARC_OK;
}

static int buddy_dealloc(arc_byte_allocator_t *a, void *ptr, size_t size, size_t align)
{
    arc_buddy_t *b = buddy_of(a);
    (void)align;
    return region_dealloc(b, region_find(b, (uintptr_t)ptr), (uintptr_t)ptr, size);
}

/* The region header sits at the region's trimmed start. */
static arc_buddy_region_t *region_at(const void *region)
{
    return (arc_buddy_region_t *)(((uintptr_t)region + GRANULE - 1) & ~(GRANULE - 1));
}

static int buddy_dealloc_in(arc_byte_allocator_t *a, void *region, void *ptr, size_t size,
                            size_t align)
{
    arc_buddy_region_t *r = region_at(region);
    (void)align;
    if ((uintptr_t)ptr < r->node.lo || (uintptr_t)ptr >= r->node.hi)
        return ARC_NOT_ALLOCATED;
    return region_dealloc(buddy_of(a), r, (uintptr_t)ptr, size);
}

static size_t buddy_usable_size_in(const arc_byte_allocator_t *a, const void *region,
                                   const void *ptr)
{
    (void)a;
    return (size_t)1 << (*map_byte(region_at(region), (uintptr_t)ptr) & MAP_ORDER_MASK);
}

/* The size of the live block starting at ptr in region r (NULL: none), else 0. */
static size_t live_size(const arc_buddy_region_t *r, const void *ptr)
{
    unsigned k = r ? block_live_order(r, (uintptr_t)ptr) : 0;
    return k ? (size_t)1 << k : 0;
}

static size_t buddy_usable_size(const arc_byte_allocator_t *a, const void *ptr)
{
    return live_size(region_find(buddy_of_const(a), (uintptr_t)ptr), ptr);
}

static size_t buddy_usable_size_checked_in(const arc_byte_allocator_t *a, const void *region,
                                           const void *ptr)
{
    (void)a;
    return live_size(region_at(region), ptr);
}

/* ---- regions ------------------------------------------------------------------------------ */

/* Trim [start, start + size) inward to granules; ARC_INVALID_PARAM when it wraps the address
 * space or what is left cannot hold the header, one map byte and one granule. */
static int region_trim(const void *start, size_t size, uintptr_t *lo, uintptr_t *hi)
{
    uintptr_t s = (uintptr_t)start;
    if (!start || size < REGION_MIN || size > UINTPTR_MAX - s)
        return ARC_INVALID_PARAM;
    *lo = (s + GRANULE - 1) & ~(GRANULE - 1);
    *hi = (s + size) & ~(GRANULE - 1);
    if (*hi < *lo || *hi - *lo < REGION_MIN)
        return ARC_INVALID_PARAM;
    return ARC_OK;
}

/* Carve the area into the largest naturally aligned blocks that fit, all free. */
static void region_carve(arc_buddy_t *b, arc_buddy_region_t *r)
{
    for (uintptr_t addr = r->area_lo; addr < r->node.hi;) {
        unsigned k = arc_bit_lsb(addr), fit = arc_bit_msb(r->node.hi - addr);
        k = k < fit ? k : fit;
        k = k < ORDER_MAX ? k : ORDER_MAX;
        *map_byte(r, addr) = (uint8_t)(MAP_HEAD | k);
        list_push(b, addr, k);
        addr += (uintptr_t)1 << k;
    }
}

static int buddy_add_memory(arc_byte_allocator_t *a, void *start, size_t size)
{
    arc_buddy_t *b = buddy_of(a);
    uintptr_t lo, hi;
    int rc = region_trim(start, size, &lo, &hi);
    if (rc)
        return rc;
    if (arc_region_tree_find_overlap(&b->regions, lo, hi))
        return ARC_MEMORY_OVERLAP;
    arc_buddy_region_t *r = (arc_buddy_region_t *)lo;
    size_t granules = (hi - lo - sizeof *r) / (GRANULE + 1); /* each costs 16 B + a map byte */
    *r = (arc_buddy_region_t){.node = {.lo = lo, .hi = hi}, .area_lo = hi - granules * GRANULE};
    memset(region_map(r), 0, granules);
    region_carve(b, r);
    arc_region_tree_insert(&b->regions, &r->node);
    b->total += hi - r->area_lo;
    return ARC_OK;
}

static int buddy_init(arc_byte_allocator_t *a, void *start, size_t size)
{
    if (!a || (uintptr_t)a % _Alignof(arc_buddy_t))
        return ARC_INVALID_PARAM;
    memset(a, 0, sizeof(arc_buddy_t)); /* all-zero bits are NULL lists on every Linux target */
#if ARC_SECURE
    buddy_of(a)->key = key_default(a);
#endif
    return buddy_add_memory(a, start, size);
}

#if ARC_SECURE
/* Re-seals every free block's links under the new key (0: the default). A block already bad
 * under the old key ends its list's walk and stays bad. */
static void buddy_set_key(arc_byte_allocator_t *a, uint64_t key)
{
    arc_buddy_t *b = buddy_of(a);
    uint64_t old = b->key;
    key = key ? key : key_default(a);
    for (unsigned k = ORDER_MIN; k <= ORDER_MAX; k++) {
        arc_buddy_block_t *blk = b->lists[k];
        while (blk && seal_holds(old, blk, k)) {
            arc_buddy_block_t *next = link_next(blk);
            seal_write(key, blk, (uintptr_t)next, (uintptr_t)link_prev(blk), k);
            blk = next;
        }
    }
    b->key = key;
}
#endif

/* Takes back a region given whole to init/add_memory (the same start and size, or any that
 * trim to the same range) when none of its blocks is live. With nothing live every buddy pair
 * has merged, so the area is exactly its carving again: unlink those blocks and the region. */
static int buddy_remove_memory(arc_byte_allocator_t *a, void *start, size_t size)
{
    arc_buddy_t *b = buddy_of(a);
    uintptr_t lo, hi;
    if (region_trim(start, size, &lo, &hi))
        return ARC_INVALID_PARAM;
    arc_buddy_region_t *r = region_find(b, lo);
    if (!r || r->node.lo != lo || r->node.hi != hi || r->live)
        return ARC_INVALID_PARAM;
#if ARC_SECURE
    /* every seal, before anything changes */
    for (uintptr_t addr = r->area_lo; addr < r->node.hi;) {
        unsigned k = *map_byte(r, addr) & MAP_ORDER_MASK;
        if (!seal_holds(b->key, (arc_buddy_block_t *)addr, k))
            return ARC_INVALID_PARAM;
        addr += (uintptr_t)1 << k;
    }
#endif
    for (uintptr_t addr = r->area_lo; addr < r->node.hi;) {
        unsigned k = *map_byte(r, addr) & MAP_ORDER_MASK;
        list_unlink(b, (arc_buddy_block_t *)addr, k);
        addr += (uintptr_t)1 << k;
    }
    arc_region_tree_remove(&b->regions, &r->node);
    b->total -= r->node.hi - r->area_lo;
    return ARC_OK;
}

/* ---- statistics --------------------------------------------------------------------------- */

static size_t buddy_total_bytes(const arc_byte_allocator_t *a)
{
    return buddy_of_const(a)->total;
}

static size_t buddy_used_bytes(const arc_byte_allocator_t *a)
{
    return buddy_of_const(a)->used;
}

static size_t buddy_available_bytes(const arc_byte_allocator_t *a)
{
    const arc_buddy_t *b = buddy_of_const(a);
    return b->total - b->used;
}

/* ---- check -------------------------------------------------------------------------------- */

/* What the map walk sees; the lists and counters must agree with it. */
typedef struct check_tally {
    size_t bad, total, used;
    size_t free_blocks[ORDER_LISTS];
} check_tally_t;

/* One region's map (arc_region_tree_walk visits the regions in address order, and checks that
 * they are disjoint): every granule either a head of a naturally aligned block inside the area
 * or zero inside one; no two free buddies of one order left unmerged; live count right. */
static void region_check(const arc_region_node_t *node, void *tally)
{
    const arc_buddy_region_t *r = region_of(node);
    check_tally_t *t = tally;
    size_t granules = (r->node.hi - r->area_lo) >> GRANULE_LOG2, live = 0;
    if (r->node.lo % GRANULE || r->node.hi % GRANULE || r->area_lo % GRANULE ||
        r->area_lo > r->node.hi || r->area_lo < r->node.lo + sizeof *r + granules) {
        t->bad++;
        return; /* the map cannot be trusted */
    }
    t->total += r->node.hi - r->area_lo;
    const uint8_t *map = region_map(r);
    for (size_t g = 0; g < granules;) {
        uintptr_t addr = r->area_lo + (g << GRANULE_LOG2);
        unsigned m = map[g], k = m & MAP_ORDER_MASK;
        if (!(m & MAP_HEAD) || k < ORDER_MIN || k > ORDER_MAX || addr & (((uintptr_t)1 << k) - 1) ||
            ((uintptr_t)1 << k) > r->node.hi - addr) {
            t->bad++;
            g++;
            continue;
        }
        size_t span = (size_t)1 << (k - GRANULE_LOG2);
        for (size_t i = 1; i < span; i++)
            t->bad += map[g + i] != 0;
        if (m & MAP_USED) {
            live++;
            t->used += (size_t)1 << k;
        } else {
            t->free_blocks[k]++;
            uintptr_t buddy = addr ^ ((uintptr_t)1 << k);
            t->bad += k < ORDER_MAX && buddy > addr && buddy < r->node.hi && map[g + span] == m;
        }
        g += span;
    }
    t->bad += live != r->live;
}

/* Every list: linked both ways, each member a free head of its order in some region, as many
 * members as the map walk found; the non-empty set matching. */
static size_t lists_check(const arc_buddy_t *b, const check_tally_t *t)
{
    size_t bad = (b->nonempty & (((uint64_t)1 << ORDER_MIN) - 1)) != 0;
    for (unsigned k = ORDER_MIN; k <= ORDER_MAX; k++) {
        size_t count = 0;
        const arc_buddy_block_t *before = NULL;
        bad += ((b->nonempty >> k) & 1) != (b->lists[k] != NULL);
        for (const arc_buddy_block_t *blk = b->lists[k]; blk; before = blk, blk = link_next(blk)) {
            if (count++ > t->free_blocks[k])
                break; /* more than the map holds: a cycle or a foreign block */
            if (!link_sealed(b, blk, k)) {
                bad += 2; /* its links cannot be followed; the count will not match either */
                break;
            }
            const arc_buddy_region_t *r = region_find(b, (uintptr_t)blk);
            bad += link_prev(blk) != before;
            bad += !r || (uintptr_t)blk < r->area_lo || (uintptr_t)blk % GRANULE ||
                   *map_byte(r, (uintptr_t)blk) != (MAP_HEAD | k);
        }
        bad += count != t->free_blocks[k];
    }
    return bad;
}

static size_t buddy_check(const arc_byte_allocator_t *a)
{
    const arc_buddy_t *b = buddy_of_const(a);
    check_tally_t t = {0};
    t.bad += arc_region_tree_walk(&b->regions, region_check, &t);
    t.bad += lists_check(b, &t);
    t.bad += t.total != b->total || t.used != b->used || b->used > b->total;
    return t.bad;
}

const arc_byte_ops_t arc_buddy_ops = {
    .name = "buddy",
    .state_size = (sizeof(arc_buddy_t) + 63) & ~(size_t)63,
    .init = buddy_init,
    .add_memory = buddy_add_memory,
    .remove_memory = buddy_remove_memory,
    .alloc = buddy_alloc,
    .dealloc = buddy_dealloc,
    .usable_size = buddy_usable_size,
    .usable_size_in = buddy_usable_size_in,
    .usable_size_checked_in = buddy_usable_size_checked_in,
    .dealloc_in = buddy_dealloc_in,
    .total_bytes = buddy_total_bytes,
    .used_bytes = buddy_used_bytes,
    .available_bytes = buddy_available_bytes,
    .check = buddy_check,
    .take_free = buddy_take_free,
#if ARC_SECURE
    .set_key = buddy_set_key,
#endif
};
