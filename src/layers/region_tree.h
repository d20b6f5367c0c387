/* region_tree.h: the address tree of the regions a byte allocator was given (add_memory), shared
 * by buddy.c and slab.c: an intrusive treap keyed by a region's start, over nodes the backends
 * embed in their region headers. Owns only the nodes' links and the tree's shape and order; never
 * reads or writes past a node, allocates, calls the OS, locks, prints or keeps globals. */
#ifndef ARC_REGION_TREE_H
#define ARC_REGION_TREE_H

#include <stddef.h>
#include <stdint.h>

/* One region, [lo, hi) with lo < hi, embedded in the backend's region header. The backend writes
 * lo and hi before arc_region_tree_insert and leaves them alone while the node is linked; left
 * and right are the tree's. */
typedef struct arc_region_node {
    uintptr_t lo, hi;
    struct arc_region_node *left, *right;
} arc_region_node_t;

/* The tree: all-zero bits are an empty tree. */
typedef struct arc_region_tree {
    arc_region_node_t *root;
} arc_region_tree_t;

/* What arc_region_tree_walk calls for each node, in address order. */
typedef void arc_region_visit_fn(const arc_region_node_t *node, void *ctx);

/* Internal to the library (the build compiles with -fvisibility=hidden). The regions of one tree
 * are disjoint. Costs: d = the tree's depth, O(log regions) expected; one step with one region. */

/* The node whose [lo, hi) holds addr, or NULL. O(d). Inline: the free and usable_size paths of
 * both backends start here. */
static inline arc_region_node_t *arc_region_tree_find(const arc_region_tree_t *t, uintptr_t addr)
{
    arc_region_node_t *n = t->root;
    while (n && (addr < n->lo || addr >= n->hi))
        n = addr < n->lo ? n->left : n->right;
    return n;
}

/* Some node meeting [lo, hi) (lo < hi), or NULL: add_memory's overlap test. O(d). */
arc_region_node_t *arc_region_tree_find_overlap(const arc_region_tree_t *t, uintptr_t lo,
                                                uintptr_t hi);
/* Links n, whose [lo, hi) meets no node of t (arc_region_tree_find_overlap said NULL); writes
 * n->left and n->right. O(d). */
void arc_region_tree_insert(arc_region_tree_t *t, arc_region_node_t *n);
/* Unlinks n, a node of t (nothing happens when it is not one). O(d). */
void arc_region_tree_remove(arc_region_tree_t *t, arc_region_node_t *n);
/* Calls visit(node, ctx) on the nodes in address order and returns the tree's broken invariants:
 * a child whose priority is above its parent's, a node deeper than any real tree (a cycle: its
 * subtree is not entered), a node not above the previous one or with hi <= lo (it is not visited:
 * the backend cannot trust what it describes). The check() of both backends; O(regions). */
size_t arc_region_tree_walk(const arc_region_tree_t *t, arc_region_visit_fn *visit, void *ctx);

#endif
