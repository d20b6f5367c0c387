/* thread.c: gives each thread a heap, runs start-up once on first use (startup.h), takes a dying
 * thread's heap back for reuse, and keeps the allocator usable across fork. Owns the heap registry;
 * never allocates through a heap while holding the registry lock. */
#include "thread.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "dirty.h"
#include "startup.h"

__thread arc_heap_t *arc_tls_heap __attribute__((tls_model("initial-exec")));
arc_heap_t arc_heap_none = {.current = {[0] = &arc_span_none}};
__thread arc_heap_t *arc_tls_alloc_heap __attribute__((tls_model("initial-exec"))) = &arc_heap_none;
static __thread bool tls_in_init __attribute__((tls_model("initial-exec")));
/* The thread's exit has given its heap back: what destructors still free after that goes to the
 * owners one block at a time (arc_thread_heap_for_free). */
static __thread bool tls_exited __attribute__((tls_model("initial-exec")));

enum { INIT_NONE, INIT_RUNNING, INIT_DONE, INIT_FAILED };
static _Atomic int init_state = INIT_NONE;

/* The thread's heap, h or none (NULL), for every reader of the two pointers. */
static void tls_heap_set(arc_heap_t *h)
{
    arc_tls_heap = h;
    arc_tls_alloc_heap = h ? h : &arc_heap_none;
}

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static arc_heap_t *all_heaps, *abandoned_heaps, *destroyed_shared;
static size_t heaps_created, heaps_reused, heaps_abandoned;
/* Threads holding a heap now: when the last one exits, the purger thread is told to end, so
 * that it never is the thread keeping the process alive. */
static size_t threads_holding;
static pthread_key_t heap_key;
static const arc_byte_ops_t *thread_ops;

/* Bootstrap: libc may allocate while arcalloc's own start-up runs (pthread_atfork's table, for
 * one). Those few blocks come from here; each carries its size in the 16 bytes before it. */
#define BOOTSTRAP_BYTES ((size_t)64 << 10)
static _Alignas(64) unsigned char bootstrap[BOOTSTRAP_BYTES];
static _Atomic size_t bootstrap_used;

void *arc_bootstrap_alloc(size_t size)
{
    size_t need = ((size + 15) & ~(size_t)15) + 16;
    if (size > BOOTSTRAP_BYTES)
        return NULL;
    size_t at = atomic_fetch_add_explicit(&bootstrap_used, need, memory_order_relaxed);
    if (at + need > BOOTSTRAP_BYTES)
        return NULL;
    memcpy(bootstrap + at, &size, sizeof size);
    return bootstrap + at + 16;
}

bool arc_bootstrap_contains(const void *p)
{
    return (const unsigned char *)p >= bootstrap &&
           (const unsigned char *)p < bootstrap + BOOTSTRAP_BYTES;
}

size_t arc_bootstrap_size(const void *p)
{
    size_t size;
    memcpy(&size, (const unsigned char *)p - 16, sizeof size);
    return size;
}

bool arc_thread_in_init(void)
{
    return tls_in_init;
}

static void registry_add(arc_heap_t *h)
{
    pthread_mutex_lock(&registry_lock);
    h->next_all = all_heaps;
    all_heaps = h;
    heaps_created++;
    threads_holding += h->kind == ARC_HEAP_THREAD; /* a new thread's heap: its thread holds it */
    pthread_mutex_unlock(&registry_lock);
}

/* Thread exit: empty spans go back to the byte allocator (so it can coalesce), but for the
 * current spans the next thread will cut from (arc_heap_trim), and the heap waits for it. Blocks
 * other threads free meanwhile wait on its list. */
static void thread_exit(void *value)
{
    arc_heap_t *h = value;
    tls_heap_set(NULL);
    tls_exited = true;
    if (!h)
        return;
    arc_heap_drain(h);
    arc_heap_trim(h, true);
    ARC_STAT_PUBLISH(h); /* the peak's sum gets the heap's last changes */
    pthread_mutex_lock(&registry_lock);
    h->abandoned = true;
    h->next_abandoned = abandoned_heaps;
    abandoned_heaps = h;
    heaps_abandoned++;
    bool last = threads_holding > 0 && --threads_holding == 0;
    pthread_mutex_unlock(&registry_lock);
    /* A main thread that ends with pthread_exit leaves the process to its other threads: the
     * purger must not be one of them. */
    if (last)
        arc_dirty_purger_stop();
}

static void fork_prepare(void)
{
    pthread_mutex_lock(&registry_lock);
    for (arc_heap_t *h = all_heaps; h; h = h->next_all)
        if (h->kind == ARC_HEAP_SHARED)
            pthread_mutex_lock(&h->lock);
    arc_dirty_fork_prepare();
    arc_arena_lock();
}

static void fork_parent(void)
{
    arc_arena_unlock();
    arc_dirty_fork_parent();
    for (arc_heap_t *h = all_heaps; h; h = h->next_all)
        if (h->kind == ARC_HEAP_SHARED)
            pthread_mutex_unlock(&h->lock);
    pthread_mutex_unlock(&registry_lock);
}

/* In the child only the forking thread exists. Heaps of the other threads may have been caught
 * mid-operation, so they are never adopted: their blocks stay valid, frees of them wait on
 * their lists, and the child's new threads get fresh heaps. */
static void fork_child(void)
{
    arc_arena_fork_child();
    arc_dirty_fork_child();
    for (arc_heap_t *h = all_heaps; h; h = h->next_all)
        if (h->kind == ARC_HEAP_SHARED)
            pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&registry_lock, NULL);
    threads_holding = arc_tls_heap != NULL;
}

/* Threads arcalloc starts for itself (the purger): what their creation allocates (glibc's
 * thread-local table) comes from the bootstrap buffer, as during start-up, not from a heap,
 * where a block that lives as long as the process would keep a segment and its pages. */
bool arc_thread_start_internal(void *(*fn)(void *), void *arg, size_t stack_bytes, const char *name)
{
    arc_heap_t *h = arc_tls_heap;
    bool nested = tls_in_init;
    tls_heap_set(NULL);
    tls_in_init = true;
    bool ok = arc_os_thread_start(fn, arg, stack_bytes, name);
    tls_in_init = nested;
    tls_heap_set(h);
    return ok;
}

bool arc_thread_setup(const arc_byte_ops_t *ops)
{
    thread_ops = ops;
    if (pthread_key_create(&heap_key, thread_exit) != 0)
        return false;
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    return true;
}

/* Runs start-up exactly once; other threads wait for it, the starting thread's own nested
 * allocations are told to use the bootstrap. */
static bool process_ready(void)
{
    int state = atomic_load_explicit(&init_state, memory_order_acquire);
    if (state == INIT_DONE)
        return true;
    if (state == INIT_FAILED || tls_in_init)
        return false;
    int expected = INIT_NONE;
    if (atomic_compare_exchange_strong(&init_state, &expected, INIT_RUNNING)) {
        tls_in_init = true;
        bool ok = arc_process_start();
        tls_in_init = false;
        atomic_store_explicit(&init_state, ok ? INIT_DONE : INIT_FAILED, memory_order_release);
        return ok;
    }
    while ((state = atomic_load_explicit(&init_state, memory_order_acquire)) == INIT_RUNNING)
        sched_yield();
    return state == INIT_DONE;
}

/* Takes a heap for this thread: an abandoned one, else a new one. NULL at start-up, while
 * arcalloc starts a thread of its own, or out of memory. */
static arc_heap_t *heap_take(void)
{
    if (tls_in_init || !process_ready()) /* start-up, or starting an internal thread */
        return NULL;
    pthread_mutex_lock(&registry_lock);
    arc_heap_t *h = abandoned_heaps;
    if (h) {
        abandoned_heaps = h->next_abandoned;
        h->abandoned = false;
        heaps_abandoned--;
        heaps_reused++;
        threads_holding++;
        ARC_STAT_ADD(h, heap_reuses, 1);
    }
    pthread_mutex_unlock(&registry_lock);
    if (!h) {
        h = arc_heap_make(thread_ops, ARC_HEAP_THREAD);
        if (!h)
            return NULL;
        registry_add(h);
    }
    tls_heap_set(h);
    pthread_setspecific(heap_key, h);
    return h;
}

arc_heap_t *arc_thread_heap_acquire(void)
{
    if (arc_tls_heap)
        return arc_tls_heap;
    arc_heap_t *h = heap_take();
    /* A thread's first allocation: where the process has other threads, the purger starts here
     * if it does not run, since frees may not start it (dirty.h). Not in a free's heap_take. */
    if (h)
        arc_dirty_purger_poke();
    return h;
}

arc_heap_t *arc_thread_heap_for_free(void)
{
    if (arc_tls_heap || tls_exited)
        return arc_tls_heap;
    return heap_take();
}

const arc_byte_ops_t *arc_thread_ops(void)
{
    process_ready();
    return thread_ops ? thread_ops : arc_byte_ops_find(ARC_DEFAULT_BACKEND);
}

arc_heap_t *arc_thread_shared_heap_new(const arc_byte_ops_t *ops)
{
    if (!process_ready())
        return NULL;
    arc_heap_t *h = NULL;
    pthread_mutex_lock(&registry_lock);
    /* A destroyed shared heap of the same backend is reused: metadata is never unmapped. */
    for (arc_heap_t **link = &destroyed_shared; *link; link = &(*link)->next_abandoned) {
        if ((*link)->ops == ops) {
            h = *link;
            *link = h->next_abandoned;
            h->abandoned = false;
            heaps_abandoned--;
            heaps_reused++;
            ARC_STAT_ADD(h, heap_reuses, 1);
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    if (!h) {
        h = arc_heap_make(ops, ARC_HEAP_SHARED);
        if (h)
            registry_add(h);
    }
    return h;
}

void arc_thread_shared_heap_destroy(arc_heap_t *h)
{
    pthread_mutex_lock(&h->lock);
    arc_heap_release_all(h);
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_lock(&registry_lock);
    h->abandoned = true;
    h->next_abandoned = destroyed_shared;
    destroyed_shared = h;
    heaps_abandoned++;
    pthread_mutex_unlock(&registry_lock);
}

void arc_heaps_foreach(void (*fn)(arc_heap_t *h, void *arg), void *arg)
{
    pthread_mutex_lock(&registry_lock);
    for (arc_heap_t *h = all_heaps; h; h = h->next_all)
        fn(h, arg);
    pthread_mutex_unlock(&registry_lock);
}

void arc_heaps_counts(size_t *live, size_t *abandoned, size_t *created, size_t *reused)
{
    pthread_mutex_lock(&registry_lock);
    *created = heaps_created;
    *reused = heaps_reused;
    *abandoned = heaps_abandoned;
    *live = heaps_created - heaps_abandoned;
    pthread_mutex_unlock(&registry_lock);
}
