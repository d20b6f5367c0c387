/* bitmap.h: the hierarchical bitmap that pages.c and ids.c share: 64-bit leaf words under two
 * summary trees (`full`, `any`), kept in caller words that start zero-filled (all free). Never
 * allocates, and never reads or writes a word off the path of the bits an operation touches. */
#ifndef ARC_BITMAP_H
#define ARC_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bits per word at every level (house rule: 64-bit bitmap words). */
#define ARC_BITMAP_WORD_BITS 64u
/* log2(ARC_BITMAP_WORD_BITS): one summary bit stands for one word, 2^6 bits, of the level below. */
#define ARC_BITMAP_WORD_SHIFT 6u
/* Largest capacity: 2^28 bits, one per 4 KiB page of the 1 TiB address_space build. */
#define ARC_BITMAP_MAX_BITS ((size_t)1 << 28)
/* Levels at ARC_BITMAP_MAX_BITS: the leaf (2^22 words) and summaries of 2^16, 2^10, 16, 1 words. */
#define ARC_BITMAP_MAX_LEVELS 5u
/* What the searches return when nothing in the range qualifies. */
#define ARC_BITMAP_NONE SIZE_MAX

_Static_assert(((size_t)1 << ARC_BITMAP_WORD_SHIFT) == ARC_BITMAP_WORD_BITS, "shift matches word");
_Static_assert(sizeof(uint64_t) * 8 == ARC_BITMAP_WORD_BITS, "words are uint64_t");
_Static_assert(ARC_BITMAP_MAX_BITS <= (size_t)1 << (ARC_BITMAP_WORD_SHIFT * ARC_BITMAP_MAX_LEVELS),
               "the top level of the largest map fits in one word");
_Static_assert(ARC_BITMAP_MAX_BITS > (size_t)1
                                         << (ARC_BITMAP_WORD_SHIFT * (ARC_BITMAP_MAX_LEVELS - 1)),
               "no level is wasted at the largest map");

/* One level. The leaf (level 0) holds the bits themselves: its `full` and `any` are the same
 * words. Above it, bit j of `full` says word j of the level below has all its bits set, and
 * bit j of `any` says it has at least one (below the leaf: of the same summary kind). */
typedef struct arc_bitmap_level {
    uint64_t *full;
    uint64_t *any;
    size_t bits;  /* bits in use at this level: the capacity, then the word count below */
    size_t words; /* words in each array of this level */
} arc_bitmap_level_t;

/* The header. It lives apart from the words (in the owner's state) and is written by setup. */
typedef struct arc_bitmap {
    size_t bits;  /* capacity */
    unsigned top; /* the level that fits in one word (0 when the leaf does) */
    arc_bitmap_level_t level[ARC_BITMAP_MAX_LEVELS];
} arc_bitmap_t;

/* Internal to the library: the meson build compiles with -fvisibility=hidden, so none of these
 * is exported. All ranges are half-open [from, to) with from <= to <= capacity; out-of-range ends
 * are clamped to the capacity. Costs: L = levels (<= 5), n = bits in the range. */

/* Words a map of `bits` bits needs; 0 when bits is 0 or above ARC_BITMAP_MAX_BITS. O(L). */
size_t arc_bitmap_words(size_t bits);
/* Words enough for a map of `bits` bits on which every operation stays within bits [0, n): the
 * summaries and the leaf words of those bits (the leaf is last in the words). O(L). */
size_t arc_bitmap_words_below(size_t bits, size_t n);
/* Points the header at arc_bitmap_words(bits) caller words, bits in 1 .. ARC_BITMAP_MAX_BITS;
 * never writes them (zero-filled words are an all-free map). O(L). */
void arc_bitmap_setup(arc_bitmap_t *bm, uint64_t *words, size_t bits);
/* O(1). */
bool arc_bitmap_test(const arc_bitmap_t *bm, size_t i);
/* Mark used / free; long ranges write whole words. O(n / 64 + L). */
void arc_bitmap_set(arc_bitmap_t *bm, size_t from, size_t to);
void arc_bitmap_clear(arc_bitmap_t *bm, size_t from, size_t to);
/* True for an empty range. O(L). */
bool arc_bitmap_all_free(const arc_bitmap_t *bm, size_t from, size_t to);
bool arc_bitmap_all_used(const arc_bitmap_t *bm, size_t from, size_t to);
/* Lowest free / used bit in [from, to), or ARC_BITMAP_NONE. O(L). */
size_t arc_bitmap_next_free(const arc_bitmap_t *bm, size_t from, size_t to);
size_t arc_bitmap_next_used(const arc_bitmap_t *bm, size_t from, size_t to);
/* Lowest i in [lo, hi) with i % align == phase % align and [i, i + n) free and inside [lo, hi);
 * align is a power of two. ARC_BITMAP_NONE if none (or n == 0, or align is not a power of two).
 * O(L) per used run the search jumps over. */
size_t arc_bitmap_find_run(const arc_bitmap_t *bm, size_t lo, size_t hi, size_t n, size_t align,
                           size_t phase);
/* The same search, and in *open the lowest aligned bit in [lo, hi) it did not find used (a free
 * one it passed over, the run's start, or where it stopped; hi when every aligned bit from lo
 * on is used): every aligned bit in [lo, *open) is used, so a later search for any run of the
 * same alignment may start there (pages.c keeps these as its search floors). */
size_t arc_bitmap_find_run_open(const arc_bitmap_t *bm, size_t lo, size_t hi, size_t n,
                                size_t align, size_t phase, size_t *open);
/* Broken invariants, walking only words under a set `any` bit (and reading their children):
 * summaries against their children, padding bits clear. *set_bits receives the used bits seen.
 * `backed`: the bits whose leaf words the caller's memory holds (the capacity, or the n of
 * arc_bitmap_words_below); no leaf word past them is read, so the leaf's padding is checked only
 * when its word is one of them.
 * O(words in use * 64). */
size_t arc_bitmap_check(const arc_bitmap_t *bm, size_t backed, size_t *set_bits);

#endif
