/* secure.c: secure mode's block checks (docs/security.md), compiled in -Dsecure=true builds only:
 * each small and medium block's canary and slack, zero on free and the zero check on reuse, the
 * quarantine of freed blocks and sized-free checks (zero-size blocks are zero.c's, in every build).
 * Called from the heap's and the API's paths when the heap's `secure` is set; never touches
 * another heap's state. */
#include "heap.h"

#include <limits.h>
#include <string.h>

#include "os.h"
#include "vg.h"

#if ARC_SECURE

/* ---- canaries ------------------------------------------------------------------------------
 * A block of `block` bytes holding a request of n ends in a canary word at block - 8:
 * mix(key, address) with its low byte replaced by (slack ^ that byte), where slack is the
 * number of bytes between the request and the canary (at most SLACK_CODED). The first
 * SLACK_VEC_BYTES of that slack (all of a shorter one) hold a pattern byte, also derived from the
 * key and the address, never zero. A free checks the word's upper seven bytes, decodes the slack
 * and checks those bytes: an overflow by one byte past the request is caught whether it lands in
 * the slack or on the canary (a NUL written over the low byte changes the decoded slack, whose
 * bytes then fail the pattern). Only the slack's first bytes are written and checked: an
 * overflow, byte by byte or by memcpy, reaches them before any byte further on, so checking the
 * rest would see no overflow these do not; a stray write into the middle of a long slack, apart
 * from the request, is not seen (a write after free there is: the block is zero-checked). */

/* Slack bytes the canary's low byte can state; more slack (a backend's rounding of a large
 * medium request) is stated as this much, and the checked bytes start SLACK_CODED bytes before
 * the canary: an overflow is seen once it reaches them. */
#define SLACK_CODED ((size_t)0xff)
/* Mixing constant of the canary hash: 2^64 / golden ratio, odd (Knuth's multiplicative hash). */
#define CANARY_MUL ((uint64_t)0x9e3779b97f4a7c15)
/* Shift folding the product's high bits into its low ones. */
#define CANARY_FOLD 29
/* Bits of the low byte, which codes the slack, and the shift to the pattern byte above it. */
#define CANARY_LOW_MASK     ((uint64_t)0xff)
#define CANARY_LOW_HIGH_BIT ((uint64_t)0x80)
#define PATTERN_SHIFT       8
/* The pattern byte's top bit is set: never zero, so a NUL written into the slack is seen. */
#define PATTERN_HIGH_BIT 0x80u
/* A word with every byte 1: times a byte, that byte in every position. */
#define BYTES_ONES ((uint64_t)0x0101010101010101)
/* The word a free block keeps for its free-list link (span lists, remote lists): the first. */
#define LINK_BYTES sizeof(uint64_t)

/* The canary's low byte has its top bit set: a slack below 128 bytes codes to a nonzero byte,
 * so a string's NUL written one byte too far always changes it (with a random low byte it
 * would go unseen once in 256 blocks). */
static inline uint64_t canary_of(const arc_heap_t *h, const void *p)
{
    uint64_t x = ((uint64_t)h->link_key ^ (uint64_t)(uintptr_t)p) * CANARY_MUL;
    return (x ^ (x >> CANARY_FOLD)) | CANARY_LOW_HIGH_BIT;
}

static inline unsigned char pattern_of(uint64_t canary)
{
    return (unsigned char)((canary >> PATTERN_SHIFT) | PATTERN_HIGH_BIT);
}

static inline uint64_t *canary_word(void *p, size_t block)
{
    return (uint64_t *)((char *)p + block - ARC_CANARY_BYTES);
}

/* Two words at any address (also the short blocks' checks and clears below): the slack starts
 * where the request ends, on any byte. The checked slack is written and compared in one such
 * vector when it is 16 bytes or more, else in two words (the one at s unaligned, overlapping the
 * one before end) from 8 bytes, else in the high bytes of the word before end: end is a word
 * boundary and that word lies in the block. */
typedef uint64_t slack_vec_t
    __attribute__((vector_size(2 * sizeof(uint64_t)), aligned(1), may_alias));
#define SLACK_VEC_BYTES sizeof(slack_vec_t)
#define WORD_BYTES      sizeof(uint64_t)
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "a word's high bytes are its last");

/* The bytes of a word at or above its byte `keep` (little-endian: the word's last 8 - keep). */
static inline uint64_t high_bytes(size_t keep)
{
    return ~(uint64_t)0 << (CHAR_BIT * keep);
}

static inline void slack_fill(unsigned char *s, unsigned char *end, uint64_t words)
{
    size_t r = (size_t)(end - s);
    if (r >= SLACK_VEC_BYTES) {
        const slack_vec_t v = {words, words};
        *(slack_vec_t *)(void *)s = v;
    } else if (r >= WORD_BYTES) {
        *(uint64_t *)(void *)(end - WORD_BYTES) = words;
        memcpy(s, &words, WORD_BYTES);
    } else if (r > 0) {
        uint64_t *w = (uint64_t *)(void *)(end - WORD_BYTES), mask = high_bytes(WORD_BYTES - r);
        *w = (*w & ~mask) | (words & mask);
    }
}

static inline bool slack_intact(const unsigned char *s, const unsigned char *end, uint64_t words)
{
    size_t r = (size_t)(end - s);
    if (r >= SLACK_VEC_BYTES) {
        const slack_vec_t v = {words, words};
        slack_vec_t d = *(const slack_vec_t *)(const void *)s ^ v;
        return (d[0] | d[1]) == 0;
    }
    if (r >= WORD_BYTES) {
        uint64_t head;
        memcpy(&head, s, WORD_BYTES);
        return ((*(const uint64_t *)(const void *)(end - WORD_BYTES) ^ words) | (head ^ words)) ==
               0;
    }
    if (r > 0)
        return ((*(const uint64_t *)(const void *)(end - WORD_BYTES) ^ words) &
                high_bytes(WORD_BYTES - r)) == 0;
    return true;
}

/* Writes the slack pattern and the canary of a block holding n bytes. */
static ARC_INLINE void canary_write(const arc_heap_t *h, void *p, size_t n, size_t block)
{
    uint64_t canary = canary_of(h, p);
    size_t slack = block - ARC_CANARY_BYTES - n;
    if (slack > SLACK_CODED)
        slack = SLACK_CODED;
    unsigned char *end = (unsigned char *)p + block - ARC_CANARY_BYTES;
    slack_fill(end - slack, end, pattern_of(canary) * BYTES_ONES);
    *canary_word(p, block) = canary ^ slack;
}

/* The canary and slack of p are intact. The slack ends on a word boundary (block sizes are whole
 * words). With `linked`, bytes in the first word (a free-list link now) are not compared: the
 * freeing thread checked them before it linked the block (arc_secure_check_remote). */
static ARC_INLINE bool canary_ok(const arc_heap_t *h, void *p, size_t block, bool linked)
{
    uint64_t canary = canary_of(h, p), code = *canary_word(p, block) ^ canary;
    if (code & ~CANARY_LOW_MASK)
        return false;
    if (code > block - ARC_CANARY_BYTES)
        return false;
    const unsigned char *s = (const unsigned char *)p + block - ARC_CANARY_BYTES - code;
    const unsigned char *end = (const unsigned char *)p + block - ARC_CANARY_BYTES;
    const unsigned char *from = linked ? (const unsigned char *)p + LINK_BYTES : s;
    if (s < from)
        s = from;
    return slack_intact(s, end, pattern_of(canary) * BYTES_ONES);
}

void arc_secure_set_size(void *p, size_t block, size_t n)
{
    canary_write(arc_segment_of(p)->heap, p, n, block);
}

/* ---- zero on free, checked once before reuse ------------------------------------------------
 * A freed block is cleared at once and must still be zero when it is handed out again:
 * a small block is checked when malloc takes it from its span (or when its span, emptied, goes
 * back to the byte allocator); a medium block when it leaves the quarantine, since the byte
 * allocator then writes its own words into it. One check covers the whole time since the free:
 * quarantine and free list alike. */

/* Two words, compared at once: vector registers where there are some (SSE2, NEON). */
typedef uint64_t zero_vec_t __attribute__((vector_size(2 * sizeof(uint64_t)), may_alias));
/* Bytes per round of the zero check: eight vectors OR'ed together in two chains, one branch. */
#define ZERO_ROUND (8 * sizeof(zero_vec_t))

/* True when [p, p + bytes) is all zero; p and bytes are whole words. */
static bool all_zero_narrow(const void *p, size_t bytes)
{
    const unsigned char *s = p, *end = s + bytes;
    uint64_t acc = 0;
    if ((uintptr_t)s % sizeof(zero_vec_t) && s < end) {
        acc = *(const uint64_t *)s;
        s += sizeof(uint64_t);
    }
    zero_vec_t v = {0, 0}, w = {0, 0};
    for (; end - s >= (ptrdiff_t)ZERO_ROUND; s += ZERO_ROUND) {
        const zero_vec_t *q = (const zero_vec_t *)(const void *)s;
        v |= q[0] | q[1] | q[2] | q[3];
        w |= q[4] | q[5] | q[6] | q[7];
    }
    for (; end - s >= (ptrdiff_t)sizeof(zero_vec_t); s += sizeof(zero_vec_t))
        v |= *(const zero_vec_t *)(const void *)s;
    if (s < end)
        acc |= *(const uint64_t *)s;
    v |= w;
    return (acc | v[0] | v[1]) == 0;
}

/* 256-bit vectors where the CPU has them (arc_os_cpu_wide_vectors, set once by
 * arc_secure_setup): half the instructions of the check above, and a clear that needs no call. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define WIDE_VECTORS 1
#define WIDE_TARGET  __attribute__((target("avx2")))
/* Four words, at any word address (unaligned loads and stores). */
typedef uint64_t wide_vec_t
    __attribute__((vector_size(4 * sizeof(uint64_t)), aligned(sizeof(uint64_t)), may_alias));
#define WIDE_BYTES sizeof(wide_vec_t)
/* Vectors per round of the wide check and clear. */
#define WIDE_ROUND_VECS 4

static bool wide;

/* all_zero_narrow's contract. Its last vector may overlap the one before: ORing a byte twice
 * changes nothing, and no byte outside [p, p + bytes) is read. */
WIDE_TARGET static bool all_zero_wide(const void *p, size_t bytes)
{
    const unsigned char *s = p, *end = s + bytes;
    if (bytes < WIDE_BYTES)
        return all_zero_narrow(p, bytes);
    wide_vec_t v = {0, 0, 0, 0}, w = {0, 0, 0, 0};
    for (; s + WIDE_ROUND_VECS * WIDE_BYTES < end; s += WIDE_ROUND_VECS * WIDE_BYTES) {
        const wide_vec_t *q = (const wide_vec_t *)(const void *)s;
        v |= q[0] | q[1];
        w |= q[2] | q[3];
    }
    for (; s + WIDE_BYTES < end; s += WIDE_BYTES)
        v |= *(const wide_vec_t *)(const void *)s;
    v |= w | *(const wide_vec_t *)(const void *)(end - WIDE_BYTES);
    return (v[0] | v[1] | v[2] | v[3]) == 0;
}

/* Clears [p, p + bytes), bytes whole words and at least WIDE_BYTES; the last store may overlap. */
WIDE_TARGET static void clear_wide(void *p, size_t bytes)
{
    unsigned char *s = p, *end = s + bytes;
    const wide_vec_t z = {0, 0, 0, 0};
    for (; s + WIDE_ROUND_VECS * WIDE_BYTES < end; s += WIDE_ROUND_VECS * WIDE_BYTES) {
        wide_vec_t *q = (wide_vec_t *)(void *)s;
        q[0] = z;
        q[1] = z;
        q[2] = z;
        q[3] = z;
        __asm__("" : : "r"(s) : "memory"); /* keeps the compiler from making this a memset call */
    }
    for (; s + WIDE_BYTES < end; s += WIDE_BYTES) {
        *(wide_vec_t *)(void *)s = z;
        __asm__("" : : "r"(s) : "memory");
    }
    *(wide_vec_t *)(void *)(end - WIDE_BYTES) = z;
}
#else
#define WIDE_VECTORS 0
#endif

/* Blocks of up to this many bytes are checked and cleared inline: two or four 16-byte vectors,
 * the second pair overlapping the first (most small blocks are this short, where a loop's set-up
 * costs more than the bytes). */
#define SHORT_BYTES (4 * SLACK_VEC_BYTES)

static inline bool all_zero(const void *p, size_t bytes)
{
    if (bytes <= SHORT_BYTES) {
        const unsigned char *s = p, *end = s + bytes;
        if (bytes < SLACK_VEC_BYTES) /* one word: bytes are whole words */
            return *(const uint64_t *)p == 0;
        slack_vec_t v = *(const slack_vec_t *)(const void *)s |
                        *(const slack_vec_t *)(const void *)(end - SLACK_VEC_BYTES);
        if (bytes > 2 * SLACK_VEC_BYTES)
            v |= *(const slack_vec_t *)(const void *)(s + SLACK_VEC_BYTES) |
                 *(const slack_vec_t *)(const void *)(end - 2 * SLACK_VEC_BYTES);
        return (v[0] | v[1]) == 0;
    }
#if WIDE_VECTORS
    if (wide)
        return all_zero_wide(p, bytes);
#endif
    return all_zero_narrow(p, bytes);
}

/* Clears a freed block: a small one (at most ARC_SMALL_MAX bytes) with inline vector stores,
 * anything longer with libc's memset (whose long-run stores beat a loop). */
static inline void clear_block(void *p, size_t bytes)
{
    if (bytes >= SLACK_VEC_BYTES && bytes <= SHORT_BYTES) {
        unsigned char *s = p, *end = s + bytes;
        const slack_vec_t z = {0, 0};
        *(slack_vec_t *)(void *)s = z;
        *(slack_vec_t *)(void *)(end - SLACK_VEC_BYTES) = z;
        if (bytes > 2 * SLACK_VEC_BYTES) {
            *(slack_vec_t *)(void *)(s + SLACK_VEC_BYTES) = z;
            *(slack_vec_t *)(void *)(end - 2 * SLACK_VEC_BYTES) = z;
        }
        return;
    }
#if WIDE_VECTORS
    if (wide && bytes >= WIDE_BYTES && bytes <= ARC_SMALL_MAX) {
        clear_wide(p, bytes);
        return;
    }
#endif
    memset(p, 0, bytes);
}

/* ---- big medium blocks, by the pages the kernel holds -----------------------------------------
 * A medium block of SPARSE_MIN_BYTES or more is cleared at its free, and of the program's bytes
 * at malloc, by arc_large_clear: its resident pages by stores, the others given back (a page not
 * resident may be in swap, with old bytes). Clearing such a block by stores made every page of it
 * resident: a server's 64 KiB buffers with 2 KiB of each written took all 64 KiB of each (see
 * docs/security.md). A block whose free found pages not resident waits in the quarantine marked
 * so (QUARANTINE_SPARSE, its ring entry's low bit), and its zero check when it leaves reads only
 * its resident pages: a write after free makes its page resident, and reading the others would
 * map them. */

/* From here a mincore call (about 2.2 us on the development guest) costs about what the stores
 * of a resident block do (2.0 us for 64 KiB, measured 2026-12-07), and saves the faults, and the
 * resident pages, of the pages the program never touched. */
#define SPARSE_MIN_BYTES ((size_t)64 << 10)
/* ... and it spans this many OS pages: with fewer, most of its pages are shared with what lies
 * around it and are written whole (64 KiB pages: a medium block never qualifies). */
#define SPARSE_MIN_OS_PAGES 4u

/* max(SPARSE_MIN_BYTES, SPARSE_MIN_OS_PAGES OS pages), set by arc_secure_setup. */
static size_t sparse_min = SPARSE_MIN_BYTES;
/* A ring entry's low bit: the block had pages not resident when it was cleared at its free
 * (blocks are ARC_GRANULE-aligned, so the bit is free). */
#define QUARANTINE_SPARSE ((uintptr_t)1)

/* Clears a freed medium block; true when it had pages not resident (left so). */
static bool clear_medium(void *p, size_t bytes)
{
    if (bytes < sparse_min) {
        clear_block(p, bytes);
        return false;
    }
    return !arc_large_clear(p, bytes);
}

/* ctx: a bool, cleared at the first resident stretch that is not all zero. */
static bool scan_stretch(void *ctx, uintptr_t addr, size_t size, bool resident)
{
    if (!resident || all_zero((void *)addr, size))
        return true;
    *(bool *)ctx = false;
    return false;
}

/* True when the resident pages of [p, p + bytes) are all zero (the others read as zero, or
 * hold the zeros they were swapped out with). */
static bool resident_all_zero(void *p, size_t bytes)
{
    bool zero = true;
    if (!arc_os_residency((uintptr_t)p, bytes, scan_stretch, &zero))
        return all_zero(p, bytes);
    return zero;
}

void arc_secure_setup(void)
{
    size_t os_pages = SPARSE_MIN_OS_PAGES * arc_os_page_size();
    sparse_min = os_pages > SPARSE_MIN_BYTES ? os_pages : SPARSE_MIN_BYTES;
#if WIDE_VECTORS
    wide = arc_os_cpu_wide_vectors();
#endif
}

/* A small block of `block` bytes just taken for a request of n: zero since its free (or its
 * span's cut) but for the link word the free list wrote, which is cleared; then its canary. */
static ARC_INLINE void prepare_small(arc_heap_t *h, void *p, size_t n, size_t block)
{
    if (arc_unlikely(!all_zero((char *)p + LINK_BYTES, block - LINK_BYTES)))
        arc_report_misuse("write after free detected", p);
    *(uint64_t *)p = 0;
    canary_write(h, p, n, block);
}

void arc_secure_prepare(arc_heap_t *h, void *p, size_t n, size_t block, bool small)
{
    if (small) {
        prepare_small(h, p, n, block);
        return;
    }
    /* A byte allocator that keeps its own words in free blocks (buddy, slab) leaves them in what
     * it hands out: cleared here. One that clears them itself (tlsf) hands out zeros from a
     * segment whose body started as zeros: every block given back was cleared at its free,
     * spans' link words when they go back, holes' heads when they return. A segment on dirty
     * pages (body_dirty) may hold old bytes anywhere: its blocks are cleared. The canary may lie
     * past what memcheck was told of (block_alloc pads under valgrind). */
    if (!h->ops->clean_blocks || arc_segment_of(p)->body_dirty) {
        if (n >= sparse_min)
            arc_large_clear(p, n);
        else
            memset(p, 0, n);
    }
    ARC_VG_QUIET();
    canary_write(h, p, n, block);
    ARC_VG_LOUD();
}

void *arc_secure_small_pop(arc_heap_t *h, size_t cls, size_t size)
{
    arc_span_t *span = h->current[cls];
    void *p = span->free;
    if (arc_unlikely(p == NULL))
        return NULL;
    arc_span_take(h, span, p, size + ARC_CANARY_BYTES);
    prepare_small(h, p, size, span->block_size);
    arc_secure_scrub(h);
    return p;
}

void arc_secure_span_check(arc_span_t *span, bool releasing)
{
    for (char *p = span->start; p < span->bump; p += span->block_size) {
        if (!all_zero(p + LINK_BYTES, span->block_size - LINK_BYTES))
            arc_report_misuse("write after free detected", p);
        if (releasing)
            *(uint64_t *)p = 0;
    }
}

/* Checks p's canary and slack (`linked`: p's first word is a remote-list link, canary_ok). */
static ARC_INLINE void check_canary(const arc_heap_t *h, void *p, size_t block, bool linked)
{
    if (arc_unlikely(block == 0)) /* the byte allocator refused to read its header */
        arc_report_misuse("corrupted block header", p);
    if (arc_unlikely(block < ARC_CANARY_BYTES || !canary_ok(h, p, block, linked)))
        arc_report_misuse("heap overflow detected", p);
}

/* A small block p of span: the block before it is intact where p's underflow would land, its
 * canary when live, zeros when free (a span's first block has none: its slot before is never
 * handed out). */
static ARC_INLINE void check_below(const arc_heap_t *h, const arc_segment_t *seg,
                                   const arc_span_t *span, void *p, size_t block)
{
    if ((char *)p == span->start)
        return;
    char *prev = (char *)p - block;
    uint64_t word = *canary_word(prev, block);
    bool intact = arc_live_test(seg, prev) ? ((word ^ canary_of(h, prev)) & ~CANARY_LOW_MASK) == 0
                                           : word == 0;
    if (arc_unlikely(!intact))
        arc_report_misuse("heap underflow detected", p);
}

/* The checks of a free, then p is cleared; returns its bytes (*sparse: clear_medium's answer). */
static ARC_INLINE size_t check_and_clear(arc_heap_t *h, arc_segment_t *seg, arc_span_t *span,
                                         void *p, bool linked, bool *sparse)
{
    if (span) {
        size_t block = span->block_size;
        check_canary(h, p, block, linked);
        check_below(h, seg, span, p, block);
        clear_block(p, block);
        return block;
    }
    /* A medium block has bytes past what memcheck was told of. */
    size_t block = arc_heap_block_bytes(h, seg, NULL, p);
    ARC_VG_QUIET();
    check_canary(h, p, block, linked);
    *sparse = clear_medium(p, block);
    ARC_VG_LOUD();
    return block;
}

void arc_secure_check_zero(arc_heap_t *h, arc_segment_t *seg, void *p)
{
    bool sparse = false;
    check_and_clear(h, seg, arc_span_of(seg, p), p, false, &sparse);
}

/* The neighbour check is left out: the block before p is its owner's, changing under us. */
void arc_secure_check_remote(arc_heap_t *owner, arc_segment_t *seg, void *p)
{
    if (!arc_live_test(seg, p))
        arc_heap_bad_free(owner, seg, p, ARC_OP_FREE);
    size_t block = arc_heap_block_bytes(owner, seg, arc_span_of(seg, p), p);
    ARC_VG_QUIET();
    check_canary(owner, p, block, false);
    ARC_VG_LOUD();
}

/* ---- the quarantine -------------------------------------------------------------------------
 * A FIFO ring of freed blocks: a freed block enters at the tail; a block leaves when the ring
 * holds ARC_QUARANTINE_SLOTS blocks, or when the next block would take it past
 * ARC_QUARANTINE_BYTES. The one that leaves is drawn at random from the ARC_QUARANTINE_PICK
 * oldest (the head takes its place), so the order blocks leave in, and so the order a span hands
 * them out again, is not the order they were freed in, while a block still waits at least
 * ARC_QUARANTINE_SLOTS - ARC_QUARANTINE_PICK + 1 frees once the ring is full. Its live bit was
 * cleared when it entered, so a second free of it is a double free; it goes back the way a free
 * would have sent it, without the live check: a small block to its span (its link word checked
 * zero here, the rest when malloc takes it), a medium block, checked zero here, to the byte
 * allocator. */

_Static_assert((ARC_QUARANTINE_SLOTS & (ARC_QUARANTINE_SLOTS - 1)) == 0,
               "the ring's index wraps with a mask");
#define QUARANTINE_MASK (ARC_QUARANTINE_SLOTS - 1)
_Static_assert(ARC_QUARANTINE_PICK >= 1 && ARC_QUARANTINE_PICK <= ARC_QUARANTINE_SLOTS,
               "the block that leaves is drawn from blocks the ring holds");
/* xorshift64's shifts (Marsaglia, "Xorshift RNGs", 2003): the draws of which block leaves. */
#define REUSE_XS_A 13
#define REUSE_XS_B 7
#define REUSE_XS_C 17
/* Bits of a draw scaled to its range by one multiplication (Lemire, "Fast random integer
 * generation in an interval", 2019): the top 32 of the state. */
#define DRAW_BITS 32

/* A draw uniform in [0, n) from h's xorshift64 state (n <= ARC_QUARANTINE_PICK: bias 2^-28). */
static inline uint32_t reuse_draw(arc_heap_t *h, uint32_t n)
{
    uint64_t x = h->reuse_rng;
    x ^= x << REUSE_XS_A;
    x ^= x >> REUSE_XS_B;
    x ^= x << REUSE_XS_C;
    h->reuse_rng = x;
    return (uint32_t)(((x >> DRAW_BITS) * n) >> DRAW_BITS);
}

/* A medium block leaves the quarantine: checked zero, back to the byte allocator. */
static ARC_NOINLINE void quarantine_evict_medium(arc_heap_t *h, arc_segment_t *seg, void *p,
                                                 bool sparse)
{
    size_t block = arc_heap_block_bytes(h, seg, NULL, p);
    h->quarantine_bytes -= block;
    ARC_VG_QUIET();
    bool zero = sparse ? resident_all_zero(p, block) : all_zero(p, block);
    ARC_VG_LOUD();
    if (!zero)
        arc_report_misuse("write after free detected", p);
    arc_heap_free_medium(h, seg, p);
}

/* One of the ring's ARC_QUARANTINE_PICK oldest blocks, at random, leaves. */
static ARC_INLINE void quarantine_evict(arc_heap_t *h)
{
    uint32_t head = h->quarantine_head, n = h->quarantine_count;
    uint32_t pick = n < ARC_QUARANTINE_PICK ? n : ARC_QUARANTINE_PICK;
    uint32_t at = (head + reuse_draw(h, pick)) & QUARANTINE_MASK;
    uintptr_t entry = h->quarantine[at];
    void *p = (void *)(entry & ~QUARANTINE_SPARSE);
    h->quarantine[at] = h->quarantine[head];
    h->quarantine_head = (head + 1) & QUARANTINE_MASK;
    h->quarantine_count = n - 1;
    arc_segment_t *seg = arc_segment_of(p);
    arc_span_t *span = arc_span_of(seg, p);
    if (arc_unlikely(span == NULL)) {
        quarantine_evict_medium(h, seg, p, entry & QUARANTINE_SPARSE);
        return;
    }
    /* Its link word is about to be overwritten: a write there is seen now, the rest of the
     * block when malloc takes it (a write to the link after this: "corrupted free list"). */
    if (arc_unlikely(*(const uint64_t *)p != 0))
        arc_report_misuse("write after free detected", p);
    h->quarantine_bytes -= span->block_size;
    arc_span_push(h, span, p);
}

/* p, freed (live bit clear, checked and zeroed), of `block` bytes, waits in h's quarantine
 * (`sparse`: some of its pages were not resident at its clear). */
static inline void quarantine_put(arc_heap_t *h, void *p, size_t block, bool sparse)
{
    while (arc_unlikely(h->quarantine_bytes + block > ARC_QUARANTINE_BYTES) &&
           h->quarantine_count > 0)
        quarantine_evict(h);
    if (h->quarantine_count == ARC_QUARANTINE_SLOTS)
        quarantine_evict(h);
    h->quarantine[(h->quarantine_head + h->quarantine_count) & QUARANTINE_MASK] =
        (uintptr_t)p | (sparse ? QUARANTINE_SPARSE : 0);
    h->quarantine_count++;
    h->quarantine_bytes += block;
}

void arc_secure_free(arc_heap_t *h, arc_segment_t *seg, void *p, bool linked)
{
    if (arc_unlikely(!arc_live_take(seg, p)))
        arc_heap_bad_free(h, seg, p, ARC_OP_FREE);
    arc_span_t *span = arc_span_of(seg, p);
    bool sparse = false;
    size_t block = check_and_clear(h, seg, span, p, linked, &sparse);
    if (!span) {
        arc_heap_forget_sampled(seg, p);
        /* Under memcheck, which keeps its own quarantine, the block goes back at once: memcheck
         * must see the free now to report a use after it. */
        if (ARC_VG_RUNNING()) {
            arc_heap_free_medium(h, seg, p);
            return;
        }
    }
    quarantine_put(h, p, block, sparse);
}

void arc_secure_scrub_one(arc_heap_t *h)
{
    uint32_t i = h->quarantine_scrub;
    if (i >= h->quarantine_count)
        i = 0;
    h->quarantine_scrub = i + 1;
    const uint64_t *q =
        (const uint64_t *)(h->quarantine[(h->quarantine_head + i) & QUARANTINE_MASK] &
                           ~QUARANTINE_SPARSE);
    if (arc_unlikely(*q != 0))
        arc_report_misuse("write after free detected", q);
}

void arc_secure_quarantine_flush(arc_heap_t *h)
{
    while (h->quarantine_count)
        quarantine_evict(h);
}

/* ---- sized frees ---------------------------------------------------------------------------- */

bool arc_secure_size_fits(const arc_segment_t *seg, const void *p, size_t block, size_t size,
                          size_t align)
{
    const arc_span_t *span = arc_span_of((arc_segment_t *)seg, p);
    const arc_heap_t *h = seg->heap;
    size_t need = size + ARC_CANARY_BYTES;
    if (span) {
        /* Small: the class a malloc (or an aligned call) of `size` would have taken, or the
         * roomier one a realloc to `size` takes when it moves a growing block (api.c's
         * headroom). */
        size_t roomy = need + size / ARC_REALLOC_HEADROOM_DIV;
        return arc_heap_class_aligned(h, need, align) == span->cls ||
               arc_heap_class_aligned(h, roomy, ARC_GRANULE) == span->cls;
    }
    /* Medium: a backend rounds a request up by less than twice the request and its alignment
     * (buddy's powers of two and slab's classes for aligned requests are the coarsest, a
     * realloc's headroom a quarter), or to the pages it needs (slab's page runs, when no slab of
     * the class fits in the segment's pages left); more slack than that means another size. The
     * canary's slack cannot say more: malloc_usable_size hands the whole block to the program
     * and moves the canary to its end. */
    if (need > block)
        return false;
    size_t pages = (need + ARC_PAGE_SIZE - 1) / ARC_PAGE_SIZE * ARC_PAGE_SIZE;
    return block - need < 2 * (need + align) || block == pages;
}

#endif
