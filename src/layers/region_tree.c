/* region_tree.c: the region treap of the byte allocators (see region_tree.h): binary search tree
 * order on lo, heap order on a priority hashed from lo, so its shape depends only on the set of
 * regions and its depth is O(log regions) expected whatever order they come in. Owns the nodes'
 * links; never touches the memory around a node, allocates, calls the OS, locks, prints or keeps
 * globals. */
#include "region_tree.h"

/* Priorities: lo through MurmurHash3's 64-bit finaliser (fmix64), whose two multipliers come from
 * its author; a plain multiplicative hash of evenly spaced regions (1 MiB heap segments) gives a
 * treap twice as deep. fmix64 is a bijection, so two regions never tie. */
#define TREAP_MIX1 0xff51afd7ed558ccdull
#define TREAP_MIX2 0xc4ceb9fe1a85ec53ull
/* walk(): a treap of n regions is about 3 log2 n deep and n < 2^64, so deeper is a cycle. */
#define TREAP_DEPTH_LIMIT 256

static inline uint64_t node_priority(const arc_region_node_t *n)
{
    uint64_t x = n->lo;
    x = (x ^ (x >> 33)) * TREAP_MIX1;
    x = (x ^ (x >> 33)) * TREAP_MIX2;
    return x ^ (x >> 33);
}

arc_region_node_t *arc_region_tree_find_overlap(const arc_region_tree_t *t, uintptr_t lo,
                                                uintptr_t hi)
{
    arc_region_node_t *n = t->root;
    while (n && (hi <= n->lo || lo >= n->hi))
        n = hi <= n->lo ? n->left : n->right;
    return n;
}

/* Splits t into the nodes below key (*below) and the rest (*rest). */
static void treap_split(arc_region_node_t *t, uintptr_t key, arc_region_node_t **below,
                        arc_region_node_t **rest)
{
    if (!t) {
        *below = *rest = NULL;
    } else if (t->lo < key) {
        treap_split(t->right, key, &t->right, rest);
        *below = t;
    } else {
        treap_split(t->left, key, below, &t->left);
        *rest = t;
    }
}

/* Joins two treaps, every node of l below every node of r. */
static arc_region_node_t *treap_join(arc_region_node_t *l, arc_region_node_t *r)
{
    if (!l || !r)
        return l ? l : r;
    if (node_priority(l) >= node_priority(r)) {
        l->right = treap_join(l->right, r);
        return l;
    }
    r->left = treap_join(l, r->left);
    return r;
}

/* Down the search path to the first node of lower priority than n; n takes its place, the
 * subtree split around n->lo under it. */
void arc_region_tree_insert(arc_region_tree_t *t, arc_region_node_t *n)
{
    uint64_t prio = node_priority(n);
    arc_region_node_t **link = &t->root;
    while (*link && node_priority(*link) > prio)
        link = n->lo < (*link)->lo ? &(*link)->left : &(*link)->right;
    treap_split(*link, n->lo, &n->left, &n->right);
    *link = n;
}

/* Down the search path to n; its two subtrees, joined, take its place. */
void arc_region_tree_remove(arc_region_tree_t *t, arc_region_node_t *n)
{
    arc_region_node_t **link = &t->root;
    while (*link && *link != n)
        link = n->lo < (*link)->lo ? &(*link)->left : &(*link)->right;
    if (*link)
        *link = treap_join(n->left, n->right);
}

typedef struct walk_state {
    arc_region_visit_fn *visit;
    void *ctx;
    uintptr_t prev_hi; /* the end of the last node visited: nodes come in address order */
    size_t bad;
} walk_state_t;

static void walk(const arc_region_node_t *n, walk_state_t *w, unsigned depth)
{
    if (!n)
        return;
    if (depth > TREAP_DEPTH_LIMIT) {
        w->bad++;
        return;
    }
    w->bad += n->left && node_priority(n->left) > node_priority(n);
    w->bad += n->right && node_priority(n->right) > node_priority(n);
    walk(n->left, w, depth + 1);
    if (n->lo < w->prev_hi || n->hi <= n->lo) {
        w->bad++;
    } else {
        w->prev_hi = n->hi;
        w->visit(n, w->ctx);
    }
    walk(n->right, w, depth + 1);
}

size_t arc_region_tree_walk(const arc_region_tree_t *t, arc_region_visit_fn *visit, void *ctx)
{
    walk_state_t w = {.visit = visit, .ctx = ctx};
    walk(t->root, &w, 0);
    return w.bad;
}
