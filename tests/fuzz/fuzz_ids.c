/* fuzz_ids.c: libFuzzer harness for the id allocator: init, alloc, alloc_fixed, dealloc and
 * is_allocated, each checked against a flat bit-per-id model (exact codes and first ids, counts,
 * arc_ids_check). Aborts on the first disagreement. */
#include <stdint.h>
#include <string.h>

#include "arcalloc.h"
#include "fuzz_common.h"

enum {
    /* Largest capacity the harness uses: 2^25 ids take the bitmap's five levels (the leaf,
     * then summaries of 2^19, 2^13, 2^7 and 2 words) while the model stays 4 MiB. */
    MODEL_LOG2 = 25,
    RECENT = 32, /* allocated runs remembered as dealloc targets */
    /* arc_ids_check() walks every word in use (64 bits each): run it after every CHECK_EVERY-th
     * operation, each init and the teardown; the counts are checked after every operation. */
    CHECK_EVERY = 8,
};
/* The largest capacity init takes: one bit per 4 KiB page of the 1 TiB build (src/layers/bitmap.h's
 * IDS_MAX, which arcalloc.h does not export; tests/layers/test_ids.c pins the same). */
#define IDS_MAX     ((size_t)1 << 28)
#define MODEL_MAX   ((size_t)1 << MODEL_LOG2)
#define MODEL_WORDS (MODEL_MAX / 64)

typedef struct run {
    size_t first, count;
} run_t;

static uint64_t model[MODEL_WORDS]; /* bit i: id i allocated */
static size_t cap, model_used;
static bool ready;
static run_t recent[RECENT];
static size_t recent_next;
static arc_ids_t *ids;
static void *ids_raw;

/* ---- model ---------------------------------------------------------------------------------- */

static bool model_test(size_t i)
{
    return (model[i / 64] >> (i % 64)) & 1;
}

/* The lowest id >= from that is used (want_used) or free, or cap. Word at a time. */
static size_t model_next(size_t from, bool want_used)
{
    while (from < cap) {
        uint64_t w = model[from / 64];
        if (!want_used)
            w = ~w;
        w &= ~(uint64_t)0 << (from % 64);
        if (w) {
            size_t i = from / 64 * 64 + (size_t)__builtin_ctzll(w);
            return i < cap ? i : cap;
        }
        from = (from / 64 + 1) * 64;
    }
    return cap;
}

/* Sets or clears bits [first, first + count): whole words in the middle. */
static void model_mark(size_t first, size_t count, bool used)
{
    for (size_t i = first, end = first + count; i < end;) {
        size_t n = 64 - i % 64 < end - i ? 64 - i % 64 : end - i;
        uint64_t mask = (n == 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1)) << (i % 64);
        if (used)
            model[i / 64] |= mask;
        else
            model[i / 64] &= ~mask;
        i += n;
    }
}

/* The lowest multiple of align starting count free ids below cap, or SIZE_MAX. */
static size_t model_fit(size_t count, size_t align)
{
    for (size_t pos = 0;;) {
        size_t f = model_next(pos, false);
        if (f >= cap)
            return SIZE_MAX;
        if (f > SIZE_MAX - (align - 1))
            return SIZE_MAX;
        size_t c = (f + align - 1) & ~(align - 1);
        if (c >= cap || cap - c < count)
            return SIZE_MAX; /* every later start is higher still */
        size_t u = model_next(c, true);
        if (u - c >= count)
            return c;
        pos = u;
    }
}

static unsigned step; /* operations run in this input */

static void stats_check(void)
{
    FUZZ_CHECK(arc_ids_size(ids) == cap, "size %zu, model %zu", arc_ids_size(ids), cap);
    FUZZ_CHECK(arc_ids_used(ids) == model_used, "used %zu, model %zu", arc_ids_used(ids),
               model_used);
    FUZZ_CHECK(arc_ids_available(ids) == cap - model_used, "available %zu, model %zu",
               arc_ids_available(ids), cap - model_used);
    if (step % CHECK_EVERY == 0) {
        size_t bad = arc_ids_check(ids);
        FUZZ_CHECK(bad == 0, "arc_ids_check found %zu broken invariants (step %u)", bad, step);
    }
}

/* ---- operations ----------------------------------------------------------------------------- */

static void do_init(size_t capacity, uint8_t garbage)
{
    size_t bytes = arc_ids_state_size(capacity);
    if (capacity == 0 || capacity > IDS_MAX) {
        FUZZ_CHECK(bytes == 0, "state_size(%zu) = %zu for a capacity init refuses", capacity,
                   bytes);
        static _Alignas(64) unsigned char dummy[64];
        int rc = arc_ids_init(ids ? ids : (arc_ids_t *)(void *)dummy, capacity);
        FUZZ_CHECK(rc == ARC_INVALID_PARAM, "init(%zu) -> %d", capacity, rc);
        if (ready)
            stats_check(); /* refused before writing anything */
        return;
    }
    FUZZ_CHECK(bytes > 0 && bytes % 64 == 0 && bytes >= capacity / 8, "state_size(%zu) = %zu",
               capacity, bytes);
    if (capacity > MODEL_MAX)
        return; /* fine for the allocator, too big for the model */
    free(ids_raw);
    ids_raw = malloc(bytes + 64);
    FUZZ_CHECK(ids_raw != NULL, "no memory for %zu bytes of state", bytes);
    ids = (arc_ids_t *)(((uintptr_t)ids_raw + 63) & ~(uintptr_t)63);
    memset(ids, garbage, bytes); /* init clears the state itself */
    int rc = arc_ids_init(ids, capacity);
    FUZZ_CHECK(rc == ARC_OK, "init(%zu) -> %d", capacity, rc);
    memset(model, 0, (capacity + 63) / 64 * sizeof model[0]);
    memset(recent, 0, sizeof recent);
    cap = capacity;
    model_used = 0;
    ready = true;
    stats_check();
}

static void run_remember(size_t first, size_t count)
{
    recent[recent_next++ % RECENT] = (run_t){first, count};
}

static void do_alloc(size_t count, size_t align)
{
    int want = ARC_NO_MEMORY;
    size_t at = SIZE_MAX;
    if (count == 0 || align == 0 || (align & (align - 1))) {
        want = ARC_INVALID_PARAM;
    } else {
        at = model_fit(count, align);
        if (at != SIZE_MAX)
            want = ARC_OK;
    }
    size_t out = SIZE_MAX;
    int rc = arc_ids_alloc(ids, count, align, &out);
    FUZZ_CHECK(rc == want, "alloc(%zu, %zu) -> %d, want %d", count, align, rc, want);
    if (rc == ARC_OK) {
        FUZZ_CHECK(out == at, "alloc(%zu, %zu) -> %zu, want %zu", count, align, out, at);
        model_mark(at, count, true);
        model_used += count;
        run_remember(at, count);
    }
    stats_check();
}

static void do_alloc_fixed(size_t id)
{
    int want = id >= cap ? ARC_INVALID_PARAM : model_test(id) ? ARC_NO_MEMORY : ARC_OK;
    int rc = arc_ids_alloc_fixed(ids, id);
    FUZZ_CHECK(rc == want, "alloc_fixed(%zu) -> %d, want %d", id, rc, want);
    if (rc == ARC_OK) {
        model_mark(id, 1, true);
        model_used++;
        run_remember(id, 1);
    }
    stats_check();
}

static void do_dealloc(size_t first, size_t count)
{
    int want = ARC_OK;
    if (count == 0 || first >= cap || count > cap - first)
        want = ARC_INVALID_PARAM;
    else if (model_next(first, false) < first + count)
        want = ARC_NOT_ALLOCATED;
    int rc = arc_ids_dealloc(ids, first, count);
    FUZZ_CHECK(rc == want, "dealloc(%zu, %zu) -> %d, want %d", first, count, rc, want);
    if (rc == ARC_OK) {
        model_mark(first, count, false);
        model_used -= count;
    }
    stats_check();
}

static void do_is_allocated(size_t id)
{
    bool want = id < cap && model_test(id);
    FUZZ_CHECK(arc_ids_is_allocated(ids, id) == want, "is_allocated(%zu) != %d", id, want);
}

/* ---- input decoding ------------------------------------------------------------------------- */

static size_t pick_capacity(fuzz_in_t *in)
{
    /* Mostly small maps (fast runs); a level boundary or a big map now and then. */
    static const size_t edges[] = {0, 1, 63, 64, 65, 4095, 4096, 4097, 262143, 262144, 262145};
    /* clang-format off */
    static const size_t big[] = {
        (size_t)1 << 20, MODEL_MAX - 1, MODEL_MAX, IDS_MAX, IDS_MAX + 1, SIZE_MAX
    };
    /* clang-format on */
    uint8_t k = fuzz_u8(in);
    switch (k % 16) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
        return 1 + fuzz_u8(in);
    case 6:
    case 7:
    case 8:
    case 9:
        return 1 + fuzz_u16(in) % 8192;
    case 10:
        return 1 + fuzz_u32(in) % (1u << 20);
    case 15:
        return big[k / 16 % (sizeof big / sizeof big[0])];
    default:
        return edges[k / 16 % (sizeof edges / sizeof edges[0])];
    }
}

static size_t pick_count(fuzz_in_t *in)
{
    uint8_t k = fuzz_u8(in);
    switch (k % 8) {
    case 0:
    case 1:
    case 2:
    case 3:
        return 1 + k / 8 % 4;
    case 4:
    case 5:
        return 1 + fuzz_u8(in);
    case 6:
        return 1 + fuzz_below(in, cap);
    default: {
        static const size_t specials[] = {0, 63, 64, 65, 4096, SIZE_MAX, SIZE_MAX / 2};
        size_t v = specials[k / 8 % (sizeof specials / sizeof specials[0])];
        return k & 0x80 ? cap - (cap > 0) * (k / 8 % 2) : v;
    }
    }
}

static size_t pick_align(fuzz_in_t *in)
{
    uint8_t k = fuzz_u8(in);
    if (k < 128)
        return 1;
    if (k < 240)
        return (size_t)1 << (k % 26);
    static const size_t specials[] = {0, 3, 6, 100, (size_t)1 << 63, SIZE_MAX};
    return specials[k % (sizeof specials / sizeof specials[0])];
}

/* An id: in a remembered run, anywhere below the capacity, at its edges, or anything. */
static size_t pick_id(fuzz_in_t *in)
{
    uint8_t k = fuzz_u8(in);
    const run_t *r = &recent[k / 8 % RECENT];
    switch (k % 8) {
    case 0:
    case 1:
    case 2:
        return r->count ? r->first + fuzz_below(in, r->count) : 0;
    case 3:
    case 4:
        return fuzz_below(in, cap);
    case 5:
        return cap - 1 + k / 8 % 3; /* cap - 1, cap, cap + 1 */
    default:
        return (size_t)fuzz_u64(in);
    }
}

enum {
    OP_INIT = 0,
    OP_ALLOC_FIRST = 1, /* 1..5 */
    OP_ALLOC_LAST = 5,
    OP_FIXED = 6,
    OP_DEALLOC_FIRST = 7, /* 7..10 */
    OP_DEALLOC_LAST = 10,
    OP_IS_ALLOCATED = 11,
    OP_COUNT = 12,
};

static void op_run(fuzz_in_t *in, unsigned op)
{
    if (op == OP_INIT) {
        size_t capacity = pick_capacity(in);
        do_init(capacity, fuzz_u8(in));
    } else if (op <= OP_ALLOC_LAST) {
        size_t count = pick_count(in);
        do_alloc(count, pick_align(in));
    } else if (op == OP_FIXED) {
        do_alloc_fixed(pick_id(in));
    } else if (op <= OP_DEALLOC_LAST) {
        /* A remembered run: whole, a head, a tail, one more id; or any range. */
        uint8_t k = fuzz_u8(in);
        const run_t *r = &recent[fuzz_u8(in) % RECENT];
        if (k % 8 < 4 && r->count) {
            size_t cut = r->count > 1 ? 1 + fuzz_below(in, r->count - 1) : 1;
            if (k % 8 == 0)
                do_dealloc(r->first, r->count);
            else if (k % 8 == 1)
                do_dealloc(r->first, cut);
            else if (k % 8 == 2)
                do_dealloc(r->first + r->count - cut, cut);
            else
                do_dealloc(r->first, r->count + 1);
        } else {
            size_t first = pick_id(in);
            do_dealloc(first, pick_count(in));
        }
    } else {
        do_is_allocated(pick_id(in));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    ready = false;
    cap = model_used = 0;
    memset(recent, 0, sizeof recent);
    for (step = 1; fuzz_more(&in); step++) {
        unsigned op = fuzz_u8(&in) % OP_COUNT;
        if (!ready || op == OP_INIT)
            step = 0; /* full check after an init */
        op_run(&in, ready ? op : OP_INIT);
    }
    step = 0; /* full checks from here on */
    if (ready) {
        /* Free every run of used ids; the allocator ends empty and sound. */
        for (size_t i = model_next(0, true); i < cap; i = model_next(i, true))
            do_dealloc(i, model_next(i, false) - i);
        FUZZ_CHECK(model_used == 0, "ids left used: %zu", model_used);
    }
    free(ids_raw);
    ids_raw = NULL;
    ids = NULL;
    return 0;
}
