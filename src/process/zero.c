/* zero.c: the zero-size blocks' region (zero.h), in every build: 1 MiB of address space made
 * inaccessible once, at the first zero-size request, and a bitmap of its slots. Any thread takes
 * and frees any slot with atomics, under no lock but the region's one-time creation. Never maps
 * the region accessible, never calls malloc. */
#include "zero.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "arcalloc.h"
#include "os.h"
#include "report.h"

/* Slots of 16 bytes (malloc's alignment), 65536 of them: 1 MiB of address space, no memory,
 * and 8 KiB of bitmap. A program with more zero-size blocks live gets ordinary ones. */
#define ZERO_SLOT  ((size_t)ARC_MIN_ALIGN)
#define ZERO_SLOTS ((size_t)1 << 16)
#define ZERO_BYTES (ZERO_SLOT * ZERO_SLOTS)
#define ZERO_WORDS (ZERO_SLOTS / 64)
_Static_assert(ZERO_BYTES % ARC_PAGE_SIZE == 0, "the region is whole pages");

static _Atomic uint64_t zero_used[ZERO_WORDS];
static _Atomic uintptr_t zero_base; /* 0 until made; 1 when it could not be */
static _Atomic size_t zero_hint;    /* a word to start looking in: the last taken or freed */
/* Slots taken now, and the count at which a search last found none for its alignment: while the
 * count stays at or above it no search is made (a program with more zero-size blocks live than
 * slots would otherwise scan all 1 024 words of the bitmap on every malloc(0)). */
static _Atomic size_t zero_live;
static _Atomic size_t zero_full_at = ZERO_SLOTS + 1;
static pthread_mutex_t zero_lock = PTHREAD_MUTEX_INITIALIZER;

/* Marks zero_base as "could not be made". */
#define ZERO_FAILED ((uintptr_t)1)

static uintptr_t zero_region(void)
{
    uintptr_t base = atomic_load_explicit(&zero_base, memory_order_acquire);
    if (base)
        return base;
    pthread_mutex_lock(&zero_lock);
    base = atomic_load_explicit(&zero_base, memory_order_relaxed);
    if (!base) {
        size_t got = 0;
        void *mem = arc_os_reserve_closed(ZERO_BYTES, ZERO_BYTES, ARC_PAGE_SIZE, &got);
        base = mem ? (uintptr_t)mem : ZERO_FAILED;
        atomic_store_explicit(&zero_base, base, memory_order_release);
    }
    pthread_mutex_unlock(&zero_lock);
    return base;
}

bool arc_zero_contains(const void *p)
{
    uintptr_t base = atomic_load_explicit(&zero_base, memory_order_relaxed);
    return base > ZERO_FAILED && (uintptr_t)p - base < ZERO_BYTES;
}

/* Takes slot i if free. */
static bool zero_take(size_t i)
{
    uint64_t bit = (uint64_t)1 << (i % 64);
    return !(atomic_fetch_or_explicit(&zero_used[i / 64], bit, memory_order_relaxed) & bit);
}

void *arc_zero_alloc(size_t align)
{
    uintptr_t base = zero_region();
    if (base == ZERO_FAILED || align > ARC_PAGE_SIZE)
        return NULL;
    size_t live = atomic_load_explicit(&zero_live, memory_order_relaxed);
    if (live >= atomic_load_explicit(&zero_full_at, memory_order_relaxed))
        return NULL;
    size_t step = align > ZERO_SLOT ? align / ZERO_SLOT : 1;
    size_t start = atomic_load_explicit(&zero_hint, memory_order_relaxed) % ZERO_WORDS;
    for (size_t n = 0; n < ZERO_WORDS; n++) {
        size_t w = (start + n) % ZERO_WORDS;
        uint64_t used = atomic_load_explicit(&zero_used[w], memory_order_relaxed);
        if (used == UINT64_MAX)
            continue;
        for (size_t i = w * 64; i < w * 64 + 64; i++) {
            if (i % step || (used >> (i % 64)) & 1 || !zero_take(i))
                continue;
            atomic_fetch_add_explicit(&zero_live, 1, memory_order_relaxed);
            atomic_store_explicit(&zero_hint, w, memory_order_relaxed);
            return (void *)(base + i * ZERO_SLOT);
        }
    }
    atomic_store_explicit(&zero_full_at, live, memory_order_relaxed);
    return NULL;
}

void arc_zero_free(const void *p)
{
    uintptr_t off = (uintptr_t)p - atomic_load_explicit(&zero_base, memory_order_relaxed);
    if (off % ZERO_SLOT)
        arc_report_bad_pointer(ARC_OP_FREE, ARC_BAD_FOREIGN, p);
    size_t i = off / ZERO_SLOT;
    uint64_t bit = (uint64_t)1 << (i % 64);
    if (!(atomic_fetch_and_explicit(&zero_used[i / 64], ~bit, memory_order_relaxed) & bit))
        arc_report_bad_pointer(ARC_OP_FREE, ARC_BAD_FREED, p);
    atomic_fetch_sub_explicit(&zero_live, 1, memory_order_relaxed);
    if (atomic_load_explicit(&zero_full_at, memory_order_relaxed) <= ZERO_SLOTS)
        atomic_store_explicit(&zero_full_at, ZERO_SLOTS + 1, memory_order_relaxed);
    atomic_store_explicit(&zero_hint, i / 64, memory_order_relaxed);
}
