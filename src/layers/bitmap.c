/* bitmap.c: the hierarchical bitmap (see bitmap.h): range writes that keep the `full` and `any`
 * summaries exact, and searches that climb and descend them. Owns no memory; never touches a
 * word off the path of the bits it reads or writes, so untouched caller words stay untouched. */
#include "bitmap.h"

/* All ones: a full word. */
#define WORD_ONES (~(uint64_t)0)
/* Mask of a bit's position inside its word. */
#define WORD_MASK ((size_t)ARC_BITMAP_WORD_BITS - 1)

_Static_assert(WORD_MASK == 63, "64-bit words");

/* Count trailing zeros of a nonzero word. */
static unsigned word_ctz(uint64_t w)
{
    return (unsigned)__builtin_ctzll(w);
}

/* Words needed for `bits` bits. */
static size_t bits_words(size_t bits)
{
    return (bits + WORD_MASK) >> ARC_BITMAP_WORD_SHIFT;
}

/* The bits of word w that lie past the level's end (only the last word has any). */
static uint64_t level_padding(const arc_bitmap_level_t *lv, size_t w)
{
    size_t tail = lv->bits & WORD_MASK;
    if (w != lv->words - 1 || tail == 0)
        return 0;
    return WORD_ONES << tail;
}

/* Whether word w of array a (of level lv) is all ones (want_full) or all zeros. */
static bool word_saturated(const arc_bitmap_level_t *lv, const uint64_t *a, size_t w,
                           bool want_full)
{
    if (want_full)
        return (a[w] | level_padding(lv, w)) == WORD_ONES;
    return a[w] == 0;
}

/* Sets or clears the bits of `mask` in word w; stores only a changed word (an untouched zero
 * page stays untouched). Whether it changed. O(1). */
static bool word_apply(uint64_t *a, size_t w, uint64_t mask, bool set)
{
    uint64_t v = set ? a[w] | mask : a[w] & ~mask;
    if (v == a[w])
        return false;
    a[w] = v;
    return true;
}

/* Sets or clears bits [from, to) of one array, whole words in the middle. Whether any word
 * changed. O(n / 64). */
static bool words_fill(uint64_t *a, size_t from, size_t to, bool set)
{
    if (from >= to)
        return false;
    size_t fw = from >> ARC_BITMAP_WORD_SHIFT, lw = (to - 1) >> ARC_BITMAP_WORD_SHIFT;
    uint64_t first = WORD_ONES << (from & WORD_MASK);
    uint64_t last = WORD_ONES >> (WORD_MASK - ((to - 1) & WORD_MASK));
    if (fw == lw)
        return word_apply(a, fw, first & last, set);
    bool changed = word_apply(a, fw, first, set);
    for (size_t w = fw + 1; w < lw; w++)
        changed |= word_apply(a, w, WORD_ONES, set);
    return word_apply(a, lw, last, set) | changed;
}

/* Bits [from, to) of level `lv`'s `full` (use_full) or `any` array were just all set or all
 * cleared; bring that summary tree up to date above. Two cases per level:
 * - mirror (setting `any`, clearing `full`): every touched word changes its summary bit the
 *   same way, so the next range is all touched words;
 * - saturate (setting `full`, clearing `any`): only the touched words now all ones (all zeros)
 *   flip their bit; the inner words are such by construction, the two end words are tested.
 * Either way the next range is contiguous. A level left unchanged ends the climb.
 * O(n / 64 + L). */
static void summary_update(const arc_bitmap_t *bm, unsigned lv, bool use_full, bool set,
                           size_t from, size_t to)
{
    bool saturate = (use_full == set);
    for (; lv < bm->top && from < to; lv++) {
        const arc_bitmap_level_t *cur = &bm->level[lv];
        const uint64_t *a = use_full ? cur->full : cur->any;
        size_t fw = from >> ARC_BITMAP_WORD_SHIFT, lw = (to - 1) >> ARC_BITMAP_WORD_SHIFT;
        from = fw;
        to = lw + 1;
        if (saturate) {
            if (!word_saturated(cur, a, fw, set))
                from = fw + 1;
            if (from <= lw && !word_saturated(cur, a, lw, set))
                to = lw;
        }
        const arc_bitmap_level_t *up = &bm->level[lv + 1];
        if (!words_fill(use_full ? up->full : up->any, from, to, set))
            return; /* this level is as it was, so every level above is too */
    }
}

/* Candidates at word w of level lv: free bits / not-full children (want_used false), or used
 * bits / children with a used bit (want_used true). */
static uint64_t level_candidates(const arc_bitmap_t *bm, unsigned lv, size_t w, bool want_used)
{
    const arc_bitmap_level_t *l = &bm->level[lv];
    return want_used ? l->any[w] : ~l->full[w];
}

/* Lowest free (used) bit in [from, to): look in from's leaf word, then climb one level at a
 * time looking right of the current word, then descend taking the lowest candidate child.
 * Each level skips whole words of the level below. O(L). */
static size_t bitmap_next(const arc_bitmap_t *bm, size_t from, size_t to, bool want_used)
{
    if (to > bm->bits)
        to = bm->bits;
    if (from >= to)
        return ARC_BITMAP_NONE;
    size_t idx = from;
    unsigned lv = 0;
    for (;;) {
        size_t w = idx >> ARC_BITMAP_WORD_SHIFT;
        uint64_t m = level_candidates(bm, lv, w, want_used) & (WORD_ONES << (idx & WORD_MASK));
        if (m) {
            idx = (w << ARC_BITMAP_WORD_SHIFT) + word_ctz(m);
            break;
        }
        if (lv == bm->top)
            return ARC_BITMAP_NONE;
        idx = w + 1; /* the next word of this level, as a bit of the level above */
        lv++;
        if (idx > (to - 1) >> (ARC_BITMAP_WORD_SHIFT * lv))
            return ARC_BITMAP_NONE; /* that word starts at or past `to` */
    }
    while (lv > 0) {
        if (idx > (to - 1) >> (ARC_BITMAP_WORD_SHIFT * lv))
            return ARC_BITMAP_NONE; /* also stops at padding bits of a summary's last word */
        lv--;
        uint64_t m = level_candidates(bm, lv, idx, want_used);
        if (!m)
            return ARC_BITMAP_NONE; /* a broken summary: arc_bitmap_check reports it */
        idx = (idx << ARC_BITMAP_WORD_SHIFT) + word_ctz(m);
    }
    return idx < to ? idx : ARC_BITMAP_NONE;
}

size_t arc_bitmap_words(size_t bits)
{
    if (bits == 0 || bits > ARC_BITMAP_MAX_BITS)
        return 0;
    size_t total = 0, w = bits_words(bits);
    total += w; /* the leaf */
    while (w > 1) {
        w = bits_words(w);
        total += 2 * w; /* full and any */
    }
    return total;
}

size_t arc_bitmap_words_below(size_t bits, size_t n)
{
    size_t total = arc_bitmap_words(bits);
    if (total == 0 || n >= bits)
        return total;
    return total - bits_words(bits) + bits_words(n);
}

/* The summaries come first and the leaf last, so that a prefix of the words serves the bits at
 * the start of the map (arc_bitmap_words_below). */
void arc_bitmap_setup(arc_bitmap_t *bm, uint64_t *words, size_t bits)
{
    size_t w = bits_words(bits);
    unsigned lv = 0;
    uint64_t *leaf = words + arc_bitmap_words(bits) - w;
    *bm = (arc_bitmap_t){.bits = bits};
    bm->level[0] = (arc_bitmap_level_t){.full = leaf, .any = leaf, .bits = bits, .words = w};
    while (w > 1 && lv + 1 < ARC_BITMAP_MAX_LEVELS) {
        size_t below = w;
        w = bits_words(below);
        lv++;
        bm->level[lv] =
            (arc_bitmap_level_t){.full = words, .any = words + w, .bits = below, .words = w};
        words += 2 * w;
    }
    bm->top = lv;
}

bool arc_bitmap_test(const arc_bitmap_t *bm, size_t i)
{
    if (i >= bm->bits)
        return false;
    return (bm->level[0].full[i >> ARC_BITMAP_WORD_SHIFT] >> (i & WORD_MASK)) & 1;
}

/* Both range writes: the leaf, then each summary tree. O(n / 64 + L). */
static void bitmap_write(arc_bitmap_t *bm, size_t from, size_t to, bool set)
{
    if (to > bm->bits)
        to = bm->bits;
    if (from >= to)
        return;
    if (!words_fill(bm->level[0].full, from, to, set))
        return;
    summary_update(bm, 0, true, set, from, to);
    summary_update(bm, 0, false, set, from, to);
}

void arc_bitmap_set(arc_bitmap_t *bm, size_t from, size_t to)
{
    bitmap_write(bm, from, to, true);
}

void arc_bitmap_clear(arc_bitmap_t *bm, size_t from, size_t to)
{
    bitmap_write(bm, from, to, false);
}

size_t arc_bitmap_next_free(const arc_bitmap_t *bm, size_t from, size_t to)
{
    return bitmap_next(bm, from, to, false);
}

size_t arc_bitmap_next_used(const arc_bitmap_t *bm, size_t from, size_t to)
{
    return bitmap_next(bm, from, to, true);
}

bool arc_bitmap_all_free(const arc_bitmap_t *bm, size_t from, size_t to)
{
    return bitmap_next(bm, from, to, true) == ARC_BITMAP_NONE;
}

bool arc_bitmap_all_used(const arc_bitmap_t *bm, size_t from, size_t to)
{
    return bitmap_next(bm, from, to, false) == ARC_BITMAP_NONE;
}

/* p = first free bit at or after the cursor; i = p rounded up to the phase; if [i, i + n) holds
 * a used bit q, no start in [cursor, q] can work (each would contain q or begin on a used bit
 * before the next free one), so resume after q. Each round costs O(L) and passes a used bit. */
size_t arc_bitmap_find_run_open(const arc_bitmap_t *bm, size_t lo, size_t hi, size_t n,
                                size_t align, size_t phase, size_t *open)
{
    if (hi > bm->bits)
        hi = bm->bits;
    *open = lo;
    if (n == 0 || align == 0 || (align & (align - 1)) != 0 || lo >= hi || n > hi - lo)
        return ARC_BITMAP_NONE;
    size_t mask = align - 1, cursor = lo;
    bool opened = false; /* *open is a free aligned bit the search reached */
    phase &= mask;
    for (;;) {
        size_t p = bitmap_next(bm, cursor, hi, false);
        if (p == ARC_BITMAP_NONE) {
            if (!opened)
                *open = hi; /* every aligned bit from lo on is used */
            return ARC_BITMAP_NONE;
        }
        size_t gap = (phase - p) & mask;
        size_t i = p + gap; /* bits in [cursor, p) are used, none in (p, i) is aligned */
        if (!opened)
            *open = i;
        if (gap > hi - p || n > hi - p - gap)
            return ARC_BITMAP_NONE;
        size_t q = bitmap_next(bm, i, i + n, true);
        if (q == ARC_BITMAP_NONE)
            return i;
        opened |= q != i;
        cursor = q + 1;
    }
}

size_t arc_bitmap_find_run(const arc_bitmap_t *bm, size_t lo, size_t hi, size_t n, size_t align,
                           size_t phase)
{
    size_t open;
    return arc_bitmap_find_run_open(bm, lo, hi, n, align, phase, &open);
}

/* Checks word w of level lv (reached because something under it is used) against its children
 * and descends into every child that has, or claims to have, a used bit. */
static size_t word_check(const arc_bitmap_t *bm, unsigned lv, size_t w, size_t backed,
                         size_t *set_bits)
{
    const arc_bitmap_level_t *cur = &bm->level[lv];
    if (lv == 0) {
        *set_bits += (size_t)__builtin_popcountll(cur->full[w]);
        return 0;
    }
    size_t bad = 0;
    uint64_t full = cur->full[w], any = cur->any[w];
    if (full & ~any)
        bad++; /* a full child must also be a non-empty one */
    const arc_bitmap_level_t *below = &bm->level[lv - 1];
    size_t first = w << ARC_BITMAP_WORD_SHIFT;
    size_t children = cur->bits - first;
    if (children > ARC_BITMAP_WORD_BITS)
        children = ARC_BITMAP_WORD_BITS;
    if (lv == 1) { /* leaf words past the caller's memory are not read */
        size_t leaf_words = (backed + ARC_BITMAP_WORD_BITS - 1) >> ARC_BITMAP_WORD_SHIFT;
        children = first >= leaf_words             ? 0
                   : children < leaf_words - first ? children
                                                   : leaf_words - first;
    }
    for (size_t c = 0; c < children; c++) {
        size_t j = first + c;
        bool claims_any = (any >> c) & 1, claims_full = (full >> c) & 1;
        bool has_any = below->any[j] != 0;
        bool is_full = word_saturated(below, below->full, j, true);
        bad += (claims_any != has_any) + (claims_full != is_full);
        if (claims_any || has_any || below->full[j] != 0)
            bad += word_check(bm, lv - 1, j, backed, set_bits);
    }
    return bad;
}

size_t arc_bitmap_check(const arc_bitmap_t *bm, size_t backed, size_t *set_bits)
{
    size_t bad = 0, seen = 0;
    for (unsigned lv = 0; lv <= bm->top; lv++) {
        const arc_bitmap_level_t *cur = &bm->level[lv];
        if (lv == 0 && (cur->words - 1) << ARC_BITMAP_WORD_SHIFT >= backed)
            continue; /* the leaf's last word is not in the caller's words */
        uint64_t pad = level_padding(cur, cur->words - 1);
        if ((cur->full[cur->words - 1] & pad) || (cur->any[cur->words - 1] & pad))
            bad++; /* bits past the end are never used */
    }
    bad += word_check(bm, bm->top, 0, backed, &seen);
    if (set_bits)
        *set_bits = seen;
    return bad;
}
