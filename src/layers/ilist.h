/* ilist.h: intrusive doubly linked lists: the byte allocators' free lists (slab.c's free runs
 * and partial slabs, tlsf.c's free blocks, buddy.c's free blocks in normal builds) and the
 * process allocator's lists (a heap's segments, its empty segments, a first-class heap's large
 * runs). A link the owner embeds in its node, a list that is a pointer to its first link (NULL:
 * empty), pushed at the front. Owns only the links' two words; never reads or writes past a link,
 * allocates, calls the OS, locks, prints or keeps globals. Whatever the owner keeps beside a list
 * (the bitmap of non-empty lists, a tail, counters) stays the owner's. */
#ifndef ARC_ILIST_H
#define ARC_ILIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One node's place in a list: next toward the end, prev toward the head (NULL at the head). */
typedef struct arc_ilist_link {
    struct arc_ilist_link *next, *prev;
} arc_ilist_link_t;

/* The node of type `type` whose member `member` is the link `link`; NULL for NULL. `link` is
 * evaluated once. */
#define ARC_ILIST_ENTRY(link, type, member)                                                        \
    ((type *)arc_ilist_entry_at((link), offsetof(type, member)))

/* ARC_ILIST_ENTRY's arithmetic: the address `offset` bytes before `link`, or NULL for NULL. */
static inline void *arc_ilist_entry_at(const arc_ilist_link_t *link, size_t offset)
{
    return link ? (void *)((uintptr_t)link - offset) : NULL;
}

/* Links n at the front of the list *head. O(1). */
static inline void arc_ilist_push(arc_ilist_link_t **head, arc_ilist_link_t *n)
{
    n->prev = NULL;
    n->next = *head;
    if (n->next)
        n->next->prev = n;
    *head = n;
}

/* Unlinks n from the list *head, which holds it; n's own links are left as they were. Returns
 * whether the list is now empty. O(1). */
static inline bool arc_ilist_unlink(arc_ilist_link_t **head, arc_ilist_link_t *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        *head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    return !*head;
}

/* `fresh`, in no list, takes the place of `old` in the list *head (old's links are left as they
 * were). The list stays exactly as long, so a bitmap of non-empty lists needs no change. O(1). */
static inline void arc_ilist_replace(arc_ilist_link_t **head, const arc_ilist_link_t *old,
                                     arc_ilist_link_t *fresh)
{
    fresh->next = old->next;
    fresh->prev = old->prev;
    if (fresh->next)
        fresh->next->prev = fresh;
    if (fresh->prev)
        fresh->prev->next = fresh;
    else
        *head = fresh;
}

#endif
