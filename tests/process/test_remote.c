/* test_remote.c: how blocks freed by one thread go back to the thread heap that owns them
 * (src/process/heap.c): full batches from a thread with a heap, which the owner empties and
 * gives back to their sender for reuse; the rest of an outbox, and the blocks of a thread without
 * a heap, on the owner's linked list; and a block listed twice is a double free, caught before
 * anything else is written. Linked with arcalloc's objects (the program's malloc is arcalloc's),
 * so it can look at heap state; it owns only that look, never changes a heap but through the
 * calls a program's frees make. */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "heap.h"
#include "thread.h"

/* Blocks the owner hands to another thread: three full batches and one partial. */
#define HANDED_BLOCKS (3 * ARC_OUTBOX_BLOCKS + 4)
#define BLOCK_BYTES   64
/* Enough blocks for two full batches past the bound on a heap's batches out. */
#define MOST_BLOCKS ((ARC_OUTBOX_BATCHES_OUT + 2) * ARC_OUTBOX_BLOCKS)

static void *blocks[MOST_BLOCKS];

typedef struct {
    arc_heap_t *owner;
    size_t from, count;
    bool take_heap;           /* allocate first, so the thread has a heap */
    arc_heap_t *heap;         /* out: the thread's heap */
    size_t batches_pending;   /* out: batches on the owner's list before the thread ends */
    size_t blocks_in_outbox;  /* out: blocks still in its outbox then */
    arc_remote_batch_t *used; /* out: the batch the last frees went into */
} freer_t;

static size_t batch_count(arc_remote_batch_t *b, size_t *blocks_total)
{
    size_t n = 0;
    for (; b; b = b->next) {
        n++;
        if (blocks_total)
            *blocks_total += b->count;
    }
    return n;
}

/* The next block on a heap's linked list (links are encoded in secure mode, heap.h). */
static void *remote_next(const arc_heap_t *h, void *p)
{
#if ARC_SECURE
    if (h->secure)
        return (void *)(*(uintptr_t *)p ^ arc_link_code(h, p));
#else
    (void)h;
#endif
    return *(void **)p;
}

static void *freer(void *arg)
{
    freer_t *f = arg;
    if (f->take_heap)
        malloc_free_kept(BLOCK_BYTES);
    f->heap = arc_tls_heap;
    for (size_t i = f->from; i < f->from + f->count; i++) {
        if (f->take_heap)
            free(blocks[i]);
        else
            arc_heap_free_foreign(NULL, f->owner, blocks[i]); /* what a heapless free does */
    }
    f->batches_pending = batch_count(atomic_load(&f->owner->remote_batches), NULL);
    f->used = f->heap ? f->heap->outbox : NULL;
    f->blocks_in_outbox = f->used ? f->used->count : 0;
    return NULL;
}

static void run_freer(freer_t *f)
{
    pthread_t t;
    if (pthread_create(&t, NULL, freer, f) != 0) {
        fprintf(stderr, "cannot start a thread\n");
        exit(2);
    }
    pthread_join(t, NULL);
}

static void fill_blocks(size_t count)
{
    for (size_t i = 0; i < count; i++) {
        blocks[i] = malloc(BLOCK_BYTES);
        if (!blocks[i]) {
            fprintf(stderr, "malloc failed\n");
            exit(2);
        }
    }
}

static size_t live_blocks(size_t count)
{
    size_t live = 0;
    for (size_t i = 0; i < count; i++)
        live += arc_live_test(arc_segment_of(blocks[i]), blocks[i]);
    return live;
}

/* A thread with a heap hands blocks over in batches; the owner's drain frees every block and
 * sends each batch back; the sender's heap, taken over by the next thread, reuses them. */
static void batches_go_and_come_back(arc_heap_t *owner)
{
    fill_blocks(HANDED_BLOCKS);
    freer_t f = {.owner = owner, .from = 0, .count = HANDED_BLOCKS, .take_heap = true};
    run_freer(&f);
    CHECK(f.heap != NULL && f.heap != owner);
    CHECKF(f.batches_pending == 3, "%zu batches before the sender ended", f.batches_pending);
    CHECKF(f.blocks_in_outbox == 4, "%zu blocks in the outbox", f.blocks_in_outbox);
    /* The sender's exit linked its last 4 blocks on the owner's list and kept their batch;
     * nothing was freed yet. */
    size_t listed = 0;
    CHECK(batch_count(atomic_load(&owner->remote_batches), &listed) == 3);
    CHECK(listed == 3 * ARC_OUTBOX_BLOCKS);
    CHECK(atomic_load(&owner->remote) != NULL);
    CHECK(f.heap->spare_batches == f.used && f.used != NULL);
    for (arc_remote_batch_t *b = atomic_load(&owner->remote_batches); b; b = b->next)
        CHECK(b->sender == f.heap);
    CHECK(arc_heap_has_remote(owner));
    CHECK(live_blocks(HANDED_BLOCKS) == HANDED_BLOCKS);

    arc_heap_drain(owner);
    CHECK(!arc_heap_has_remote(owner));
    CHECKF(live_blocks(HANDED_BLOCKS) == 0, "%zu blocks still live", live_blocks(HANDED_BLOCKS));
    arc_remote_batch_t *back = atomic_load(&f.heap->batches_back);
    CHECKF(batch_count(back, NULL) == 3, "%zu batches back", batch_count(back, NULL));
    arc_remote_batch_t *given_back[3] = {NULL, NULL, NULL};
    for (size_t i = 0; back && i < 3; back = back->next)
        given_back[i++] = back; /* their links change when the sender takes them again */

    /* The next thread takes the ended thread's heap over: its first batch is the kept one, its
     * second one of those given back. */
    size_t again = ARC_OUTBOX_BLOCKS + 8;
    fill_blocks(again);
    freer_t g = {.owner = owner, .from = 0, .count = again, .take_heap = true};
    run_freer(&g);
    CHECK(g.heap == f.heap);
    CHECK(atomic_load(&owner->remote_batches) == f.used);
    bool reused = false;
    for (size_t i = 0; i < 3; i++)
        reused |= given_back[i] == g.used;
    CHECK(g.used != NULL && reused);
    arc_heap_drain(owner);
    CHECK(live_blocks(again) == 0);
}

/* An owner that does not drain holds at most ARC_OUTBOX_BATCHES_OUT of one sender's batches:
 * the full outboxes past them go linked; once the owner drains, batches cross again. */
static void batches_bounded(arc_heap_t *owner)
{
    fill_blocks(MOST_BLOCKS);
    freer_t f = {.owner = owner, .from = 0, .count = MOST_BLOCKS, .take_heap = true};
    run_freer(&f);
    size_t listed = 0;
    CHECKF(batch_count(atomic_load(&owner->remote_batches), &listed) == ARC_OUTBOX_BATCHES_OUT,
           "%zu batches", batch_count(atomic_load(&owner->remote_batches), NULL));
    CHECK(listed == ARC_OUTBOX_BATCHES_OUT * ARC_OUTBOX_BLOCKS);
    size_t linked = 0;
    for (void *p = atomic_load(&owner->remote); p; p = remote_next(owner, p))
        linked++;
    CHECKF(linked == 2 * ARC_OUTBOX_BLOCKS, "%zu blocks linked", linked);
    arc_heap_drain(owner);
    CHECK(live_blocks(MOST_BLOCKS) == 0);

    /* The owner gave every batch back: the next full outbox crosses as a batch again. */
    fill_blocks(ARC_OUTBOX_BLOCKS);
    freer_t g = {.owner = owner, .from = 0, .count = ARC_OUTBOX_BLOCKS, .take_heap = true};
    run_freer(&g);
    CHECK(g.heap == f.heap);
    CHECK(batch_count(atomic_load(&owner->remote_batches), NULL) == 1);
    arc_heap_drain(owner);
    CHECK(live_blocks(ARC_OUTBOX_BLOCKS) == 0);
}

/* A thread without a heap pushes blocks one at a time on the owner's linked list. */
static void single_blocks(arc_heap_t *owner)
{
    fill_blocks(5);
    freer_t f = {.owner = owner, .from = 0, .count = 5, .take_heap = false};
    run_freer(&f);
    CHECK(f.heap == NULL);
    CHECK(atomic_load(&owner->remote) != NULL);
    CHECK(atomic_load(&owner->remote_batches) == NULL);
    CHECK(live_blocks(5) == 5);
    arc_heap_drain(owner);
    CHECK(atomic_load(&owner->remote) == NULL);
    CHECK(live_blocks(5) == 0);
}

/* A destructor of the program's own thread key, which runs after arcalloc's (its key is older)
 * and asks for more rounds until the last: there it frees a block of the main thread. */
static pthread_key_t late_key;
static unsigned late_rounds;

static void late_free(void *value)
{
    if (++late_rounds < PTHREAD_DESTRUCTOR_ITERATIONS) {
        pthread_setspecific(late_key, value); /* once more, in the next round */
        return;
    }
    free(value);
}

static void *late_freer(void *arg)
{
    malloc_free_kept(BLOCK_BYTES); /* a heap, which the thread's exit gives back */
    pthread_setspecific(late_key, arg);
    return NULL;
}

/* A block freed by a destructor after the thread's exit gave its heap back reaches its owner:
 * the thread takes no heap for it, which no exit would give back, with the block in its outbox
 * for good. */
static void freed_after_exit(arc_heap_t *owner)
{
    if (pthread_key_create(&late_key, late_free) != 0) {
        fprintf(stderr, "cannot make a thread key\n");
        exit(2);
    }
    fill_blocks(1);
    pthread_t t;
    if (pthread_create(&t, NULL, late_freer, blocks[0]) != 0) {
        fprintf(stderr, "cannot start a thread\n");
        exit(2);
    }
    pthread_join(t, NULL);
    CHECKF(late_rounds == PTHREAD_DESTRUCTOR_ITERATIONS, "%u rounds of destructors", late_rounds);
    arc_heap_drain(owner);
    CHECK(live_blocks(1) == 0);
}

/* The first of `count` blocks freed twice, last, by a thread with a heap (a full batch: the
 * owner's drain catches it; a partial one: its flush at the thread's exit) or without one (twice
 * on the list: the owner's drain). */
typedef struct {
    arc_heap_t *owner;
    size_t count;
    bool take_heap;
} twice_t;

static void free_twice(void *arg)
{
    twice_t *t = arg;
    fill_blocks(t->count);
    blocks[t->count - 1] = blocks[0];
    freer_t f = {.owner = t->owner, .from = 0, .count = t->count, .take_heap = t->take_heap};
    run_freer(&f);
    arc_heap_drain(t->owner);
}

/* In a child: the double free must abort with its report on stderr. */
static void double_listed(arc_heap_t *owner, size_t count, bool take_heap, const char *what)
{
    twice_t t = {.owner = owner, .count = count, .take_heap = take_heap};
    check_aborts(free_twice, &t, "double free", what);
}

int main(void)
{
    malloc_free_kept(BLOCK_BYTES); /* the main thread's heap: the owner */
    arc_heap_t *owner = arc_tls_heap;
    CHECK(owner != NULL);
    if (!owner)
        return check_done();
    batches_go_and_come_back(owner);
    batches_bounded(owner);
    single_blocks(owner);
    freed_after_exit(owner);
    double_listed(owner, ARC_OUTBOX_BLOCKS, true, "twice in a full batch");
    double_listed(owner, 2, true, "twice in a partial outbox");
    double_listed(owner, 2, false, "twice on the linked list");
    return check_done();
}
