/* ids.c: the id allocator: integer ids 0 .. capacity-1, one bit each in a hierarchical bitmap
 * (bitmap.c) held in caller memory. Knows nothing of memory addresses; never allocates. */
#include <stddef.h>
#include <string.h>

#include "arcalloc.h"
#include "bitmap.h"

/* arcalloc.h promises callers a 64-byte aligned state; its size is kept a multiple of that. */
#define IDS_STATE_ALIGN 64u

struct arc_ids {
    size_t capacity;
    size_t used;
    arc_bitmap_t map;
    uint64_t words[]; /* the bitmap, cleared by init */
};

/* 0 for a capacity init refuses (0, or above ARC_BITMAP_MAX_BITS). O(L). */
size_t arc_ids_state_size(size_t capacity)
{
    size_t words = arc_bitmap_words(capacity);
    if (words == 0)
        return 0;
    size_t bytes = offsetof(arc_ids_t, words) + words * sizeof(uint64_t);
    return (bytes + IDS_STATE_ALIGN - 1) / IDS_STATE_ALIGN * IDS_STATE_ALIGN;
}

/* Clears the whole state: O(capacity / 64). */
int arc_ids_init(arc_ids_t *ids, size_t capacity)
{
    size_t bytes = arc_ids_state_size(capacity);
    if (!ids || bytes == 0)
        return ARC_INVALID_PARAM;
    memset(ids, 0, bytes);
    ids->capacity = capacity;
    arc_bitmap_setup(&ids->map, ids->words, capacity);
    return ARC_OK;
}

/* Lowest run of count free ids starting at a multiple of align. One id: O(L); O(L) more per
 * used run the search jumps over; O(count / 64 + L) to mark the run. */
int arc_ids_alloc(arc_ids_t *ids, size_t count, size_t align, size_t *out_first)
{
    if (!ids || !out_first || count == 0 || align == 0 || (align & (align - 1)) != 0)
        return ARC_INVALID_PARAM;
    size_t first = arc_bitmap_find_run(&ids->map, 0, ids->capacity, count, align, 0);
    if (first == ARC_BITMAP_NONE)
        return ARC_NO_MEMORY;
    arc_bitmap_set(&ids->map, first, first + count);
    ids->used += count;
    *out_first = first;
    return ARC_OK;
}

/* O(L). */
int arc_ids_alloc_fixed(arc_ids_t *ids, size_t id)
{
    if (!ids || id >= ids->capacity)
        return ARC_INVALID_PARAM;
    if (arc_bitmap_test(&ids->map, id))
        return ARC_NO_MEMORY;
    arc_bitmap_set(&ids->map, id, id + 1);
    ids->used++;
    return ARC_OK;
}

/* Every id of [first, first + count) must be allocated; nothing changes otherwise.
 * O(count / 64 + L). */
int arc_ids_dealloc(arc_ids_t *ids, size_t first, size_t count)
{
    if (!ids || count == 0 || first >= ids->capacity || count > ids->capacity - first)
        return ARC_INVALID_PARAM;
    if (!arc_bitmap_all_used(&ids->map, first, first + count))
        return ARC_NOT_ALLOCATED;
    arc_bitmap_clear(&ids->map, first, first + count);
    ids->used -= count;
    return ARC_OK;
}

/* O(1). */
bool arc_ids_is_allocated(const arc_ids_t *ids, size_t id)
{
    return id < ids->capacity && arc_bitmap_test(&ids->map, id);
}

/* O(1). */
size_t arc_ids_size(const arc_ids_t *ids)
{
    return ids->capacity;
}

/* O(1). */
size_t arc_ids_used(const arc_ids_t *ids)
{
    return ids->used;
}

/* O(1). */
size_t arc_ids_available(const arc_ids_t *ids)
{
    return ids->capacity - ids->used;
}

/* The bitmap's own walk (only where ids are used), set bits == used. O(words in use * 64). */
size_t arc_ids_check(const arc_ids_t *ids)
{
    if (ids->capacity == 0 || ids->capacity > ARC_BITMAP_MAX_BITS)
        return 1;
    size_t set = 0;
    size_t bad = arc_bitmap_check(&ids->map, ids->map.bits, &set);
    bad += set != ids->used;
    bad += ids->used > ids->capacity;
    return bad;
}
