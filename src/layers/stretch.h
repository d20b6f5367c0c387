/* stretch.h: the free-stretch summary of the page bitmap: for every chunk of pages and every node
 * of a binary tree over the chunks, the free pages at its start, at its end and the longest free
 * stretch inside it. The page allocator's first-fit search descends it instead of walking every
 * used run below the fit. Reads the bitmap's leaf words; never writes them, never allocates, and
 * writes only the summaries of the chunks a change touches and their ancestors, so untouched caller
 * words stay untouched (zero-filled words summarise free chunks).
 */
#ifndef ARC_STRETCH_H
#define ARC_STRETCH_H

#include <stddef.h>
#include <stdint.h>

#include "bitmap.h"

/* Pages a leaf of the tree summarises: 16 bitmap words, or more in windows of over 2^24 pages,
 * so that the tree never has more than ARC_STRETCH_MAX_CHUNKS leaves. A change rescans its
 * chunks' words and the search scans at most one chunk's words at its end; the tree, which comes
 * whole before the bitmap in the page allocator's state (also under a cap on the address space),
 * stays at 384 KiB: the 1 TiB window's, at 1 024 pages a chunk, was 6 MiB, and a program under a
 * 96 MiB cap lost that much of its room (tests/process/test_oom.c, `tight`). */
#define ARC_STRETCH_MIN_CHUNK  ((size_t)1024)
#define ARC_STRETCH_MAX_CHUNKS ((size_t)1 << 14)
#define ARC_STRETCH_CHUNK_OF(bits)                                                                 \
    ((bits) / ARC_STRETCH_MAX_CHUNKS > ARC_STRETCH_MIN_CHUNK ? (bits) / ARC_STRETCH_MAX_CHUNKS     \
                                                             : ARC_STRETCH_MIN_CHUNK)

/* One summary, as pages missing from the node's size, so that zero-filled memory reads as a
 * free node: free pages at its start, at its end, and in its longest free stretch. */
typedef struct arc_stretch_node {
    uint32_t head_short, tail_short, best_short;
} arc_stretch_node_t;

typedef struct arc_stretch {
    arc_stretch_node_t *node; /* node[1] the root, node[2i] and node[2i+1] the children of i,
                               * node[chunks + c] chunk c */
    size_t chunks;            /* a power of two */
    size_t chunk;             /* pages a chunk: ARC_STRETCH_CHUNK_OF(the map's bits) */
} arc_stretch_t;

/* uint64_t words the summary of a map of `bits` bits needs (bits a power of two of at least
 * ARC_STRETCH_MIN_CHUNK, at most ARC_BITMAP_MAX_BITS). */
size_t arc_stretch_words(size_t bits);
/* Points the summary at arc_stretch_words(bits) zero-filled caller words (every page free). */
void arc_stretch_setup(arc_stretch_t *st, uint64_t *words, size_t bits);
/* Bits [from, to) of the map changed: their chunks are summarised again, then their ancestors.
 * O((to - from) / 64 + chunks touched * 16 + log chunks). */
void arc_stretch_update(arc_stretch_t *st, const arc_bitmap_t *bm, size_t from, size_t to);
/* The lowest p >= from with bits [p, p + n) all free and p + n <= to; ARC_BITMAP_NONE if none.
 * O(log chunks + 32) word reads, whatever the used runs between from and the fit. */
size_t arc_stretch_find(const arc_stretch_t *st, const arc_bitmap_t *bm, size_t from, size_t to,
                        size_t n);
/* Summaries that disagree with the map, walking only nodes that are not all free (and checking
 * those that say so against the map), reading no leaf word past the chunk that holds bit
 * `backed` - 1 (the caller's memory holds the map's words up to there, bitmap.h). A node not
 * all free past there counts as one. O(used chunks * (16 + log chunks)). */
size_t arc_stretch_check(const arc_stretch_t *st, const arc_bitmap_t *bm, size_t backed);

#endif
