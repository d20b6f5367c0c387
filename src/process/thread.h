/* thread.h: which heap the calling thread uses, process start-up, thread exit and fork. The
 * only thread-local state is the heap pointer, its copy for malloc's fast path (and an init
 * guard), kept to what the fast paths need. */
#ifndef ARC_THREAD_H
#define ARC_THREAD_H

#include <stdbool.h>

#include "heap.h"

extern __thread arc_heap_t *arc_tls_heap __attribute__((tls_model("initial-exec")));
/* The heap malloc's fast path pops from: the thread's heap, or arc_heap_none while it has none,
 * so that the fast path needs no test for "no heap" (every class of arc_heap_none is empty, and
 * its miss goes the slow way, which gives the thread a heap). Always set with arc_tls_heap. */
extern __thread arc_heap_t *arc_tls_alloc_heap __attribute__((tls_model("initial-exec")));
/* No heap: every size maps to class 0, whose current span has no free block. Never a segment's
 * heap, never written. */
extern arc_heap_t arc_heap_none;

/* The calling thread's heap, starting arcalloc and adopting or creating a heap as needed. NULL
 * when arcalloc cannot start (address space refused) or is starting on this very thread. */
arc_heap_t *arc_thread_heap_acquire(void);
/* The heap whose outbox a thread's free of another thread's block goes through: its own, or one
 * taken now for a thread that never allocated, so that its frees go in batches. NULL once the
 * thread's exit gave its heap back: a destructor that runs after that, in the last round of
 * destructors, would take a heap that no exit gives back, with blocks waiting in its outbox for
 * good. NULL also where arc_thread_heap_acquire is. */
arc_heap_t *arc_thread_heap_for_free(void);
/* True while this thread runs arcalloc's own start-up (allocations then use the bootstrap). */
bool arc_thread_in_init(void);

/* A static buffer for the few allocations libc makes while arcalloc starts. Never freed. */
void *arc_bootstrap_alloc(size_t size);
bool arc_bootstrap_contains(const void *p);
/* Size a bootstrap block was allocated with. */
size_t arc_bootstrap_size(const void *p);

/* Start-up (start.c): thread heaps use `ops`; the thread-exit key and the fork handlers are set.
 * False when the key cannot be made. */
bool arc_thread_setup(const arc_byte_ops_t *ops);
/* Starts one of arcalloc's own threads (the purger): what its creation allocates comes from the
 * bootstrap buffer, not from a heap, where a block living as long as the process would keep a
 * segment. arc_os_thread_start's contract otherwise. */
bool arc_thread_start_internal(void *(*fn)(void *), void *arg, size_t stack_bytes,
                               const char *name);

/* The byte allocator thread heaps use (starting arcalloc if needed). */
const arc_byte_ops_t *arc_thread_ops(void);

/* First-class heaps. */
arc_heap_t *arc_thread_shared_heap_new(const arc_byte_ops_t *ops);
void arc_thread_shared_heap_destroy(arc_heap_t *h);

/* Calls fn on every heap ever created, under the registry lock. */
void arc_heaps_foreach(void (*fn)(arc_heap_t *h, void *arg), void *arg);
/* Figures of the registry. */
void arc_heaps_counts(size_t *live, size_t *abandoned, size_t *created, size_t *reused);

#endif
