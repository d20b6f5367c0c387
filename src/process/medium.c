/* medium.c: a thread heap's cache of freed medium blocks (heap.h, "Medium cache"): keeping a
 * block its owner freed, and giving every kept block back to the byte allocator. The pop is in
 * heap.h. Only the heap's own thread calls these; never touches another heap, the OS or a span. */
#include "heap.h"

/* The bin whose every request a block of `usable` bytes serves: the last bin whose size is at
 * most `usable`. A block past the last bin's size by an eighth of it or more (an aligned
 * request's block, or one the byte allocator did not split) has no bin: kept, it would serve
 * requests far below its size. */
static bool medium_bin_of_block(size_t usable, size_t *bin)
{
    size_t last = ARC_MEDIUM_BINS - 1;
    if (usable < arc_medium_bin_size(0))
        return false;
    if (usable >= arc_medium_bin_size(last)) {
        *bin = last;
        return usable < arc_medium_bin_size(last) + (ARC_MEDIUM_CACHE_MAX >> ARC_MEDIUM_SPLIT_LOG);
    }
    *bin = arc_medium_bin(usable + 1) - 1; /* the bin before the first that usable + 1 fits */
    return true;
}

/* The heap's frees of medium blocks are weighed against its requests once per this many frees:
 * a heap that freed more than MEDIUM_SHRINKING_RATIO times what it asked for is giving back what
 * it built (a phase ends, a table is dropped). Its kept blocks then go back, and no bin keeps a
 * block again before a request misses it: kept now, a block would only stand between free ones
 * (the holes that give their pages back, holes.c) and wait for a request that does not come. */
#define MEDIUM_WINDOW_FREES    256u
#define MEDIUM_SHRINKING_RATIO 2u

static bool medium_window_shrank(arc_heap_t *h)
{
    bool shrinking = h->medium_given > MEDIUM_SHRINKING_RATIO * h->medium_taken;
    h->medium_given = h->medium_taken = 0;
    if (!shrinking)
        return false;
    for (size_t b = 0; b < ARC_MEDIUM_BINS; b++)
        h->medium_want[b] = 0;
    arc_heap_medium_flush(h);
    return true;
}

bool arc_heap_medium_keep(arc_heap_t *h, void *p, size_t usable)
{
    size_t b;
    if (!h->medium_on)
        return false;
    if (++h->medium_given >= MEDIUM_WINDOW_FREES && medium_window_shrank(h))
        return false;
    if (!medium_bin_of_block(usable, &b))
        return false;
    if (h->medium_count[b] >= h->medium_want[b] ||
        h->medium_bytes + usable > ARC_MEDIUM_CACHE_BYTES)
        return false;
    /* The byte allocator's own check of a block it is given back (tlsf: the block's head word and
     * its successor's, which an overflow past the block reaches first), in O(1) (the region is
     * the segment's body; the region lookup of usable_size took 13 % of `bench/connbufs`' time
     * over 667 segments): a block it would refuse goes there, and its refusal is reported. */
    arc_segment_t *seg = arc_segment_of(p);
    if (h->ops->usable_size_checked_in(h->backend, arc_segment_body(seg), p) != usable)
        return false;
    /* A segment held by kept blocks alone would not go back when the program has freed all it
     * put there: the block goes, and the cache with it (arc_heap_backend_free). */
    if (seg->backend_blocks == seg->medium_kept + 1 && arc_heap_segment_may_go(h))
        return false;
    arc_medium_link_t *block = p;
    *block = (arc_medium_link_t){.next = h->medium[b], .usable = usable};
    block->check = arc_medium_check(block);
    h->medium[b] = block;
    h->medium_count[b]++;
    h->medium_full |= (uint64_t)1 << b;
    h->medium_bytes += usable;
    seg->medium_kept++;
    return true;
}

void arc_heap_medium_flush(arc_heap_t *h)
{
    h->medium_flushing = true;
    for (size_t b = 0; b < ARC_MEDIUM_BINS; b++) {
        while (h->medium[b]) {
            arc_medium_link_t *block = arc_heap_medium_unlink(h, b);
            arc_heap_medium_release(h, arc_segment_of(block), block);
        }
    }
    h->medium_flushing = false;
}
