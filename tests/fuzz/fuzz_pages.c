/* fuzz_pages.c: libFuzzer harness for the page allocator: init, add_memory, alloc, alloc_at and
 * dealloc over made-up address ranges, each checked against a byte-per-page model (exact codes and
 * addresses, counts, arc_pages_check). Never touches the memory the ranges name. */
#include <stdint.h>
#include <string.h>

#include "arcalloc.h"
#include "fuzz_common.h"

#define PAGE ((uintptr_t)ARC_PAGE_SIZE)
/* The map window (arcalloc.h): ARC_ADDRESS_SPACE_BYTES from the first region's start aligned
 * down to ARC_PAGES_MAX_ALIGN, or to the window size when that is smaller; less far when the
 * region, no larger than the window, would run past its end from there (window_start). */
#define WINDOW_PAGES ((size_t)(ARC_ADDRESS_SPACE_BYTES / ARC_PAGE_SIZE))
#define BASE_ALIGN                                                                                 \
    ((uintptr_t)(ARC_ADDRESS_SPACE_BYTES < ARC_PAGES_MAX_ALIGN ? ARC_ADDRESS_SPACE_BYTES           \
                                                               : ARC_PAGES_MAX_ALIGN))

enum {
    /* The model keeps one byte per page of three slices of the window: its start, a middle
     * that straddles a BASE_ALIGN boundary, and its end. Regions are made inside them. */
    SLICES = 3,
    SLICE_PAGES = 4096,
    MODEL_PAGES = SLICES * SLICE_PAGES,
    RECENT = 32, /* allocated runs remembered as dealloc targets */
    PAGE_NONE = 0,
    PAGE_FREE = 1,
    PAGE_USED = 2,
};

_Static_assert(WINDOW_PAGES >= 4 * SLICE_PAGES, "the slices fit the window apart");
_Static_assert(WINDOW_PAGES % 2 == 0 && SLICE_PAGES % 2 == 0, "the middle slice is centred");

typedef struct run {
    uintptr_t addr;
    size_t pages;
} run_t;

static uint8_t model[MODEL_PAGES];
static size_t region_first[ARC_PAGES_MAX_REGIONS], region_end[ARC_PAGES_MAX_REGIONS];
static size_t nregions, model_total, model_used;
static uintptr_t base;
static bool ready;
static run_t recent[RECENT];
static size_t recent_next;
static arc_pages_t *pa;

static const size_t slice_lo[SLICES] = {0, WINDOW_PAGES / 2 - SLICE_PAGES / 2,
                                        WINDOW_PAGES - SLICE_PAGES};

/* Window bases to try: each a multiple of BASE_ALIGN; the last puts the window's end at the top
 * of the address space (its last page is never part of a region: see trim()). */
/* clang-format off */
static const uintptr_t bases[] = {
    (uintptr_t)1 << 30,
    (uintptr_t)3 << 30,
    (uintptr_t)1 << 40,
    ((uintptr_t)1 << 47) - (uintptr_t)ARC_ADDRESS_SPACE_BYTES,
    (uintptr_t)0 - (uintptr_t)ARC_ADDRESS_SPACE_BYTES
};
/* clang-format on */

/* ---- model ---------------------------------------------------------------------------------- */

/* The model index of window page i, or -1 outside the slices. */
static long model_index(size_t i)
{
    for (int k = 0; k < SLICES; k++)
        if (i >= slice_lo[k] && i < slice_lo[k] + SLICE_PAGES)
            return (long)(k * SLICE_PAGES + (i - slice_lo[k]));
    return -1;
}

static uint8_t page_state(size_t i)
{
    long m = model_index(i);
    return m < 0 ? PAGE_NONE : model[m];
}

static void page_set(size_t i, uint8_t v)
{
    long m = model_index(i);
    FUZZ_CHECK(m >= 0, "page %zu outside the model", i);
    model[m] = v;
}

/* Whether window pages [f, l) lie in one slice. */
static bool in_one_slice(size_t f, size_t l)
{
    long a = model_index(f), b = model_index(l - 1);
    return a >= 0 && b >= 0 && a / SLICE_PAGES == b / SLICE_PAGES && b - a == (long)(l - 1 - f);
}

static int region_holding(size_t f, size_t l)
{
    for (size_t r = 0; r < nregions; r++)
        if (region_first[r] <= f && l <= region_end[r])
            return (int)r;
    return -1;
}

/* Whether the regions together cover [f, l) (adjacent regions chain). */
static bool regions_cover(size_t f, size_t l)
{
    while (f < l) {
        int r = region_holding(f, f + 1);
        if (r < 0)
            return false;
        f = region_end[r];
    }
    return true;
}

/* [start, start + size) as window pages [*f, *l) of a window at `at`: whole pages only, clipped
 * to the window; a range running past the top of the address space is clipped at UINTPTR_MAX
 * (so the top page is never in a region). False when nothing is left. */
static bool trim(uintptr_t at, uintptr_t start, size_t size, size_t *f, size_t *l)
{
    if (size == 0 || start > UINTPTR_MAX - (PAGE - 1))
        return false;
    uintptr_t s = (start + PAGE - 1) & ~(PAGE - 1);
    uintptr_t e = size > UINTPTR_MAX - start ? UINTPTR_MAX : start + size;
    e &= ~(PAGE - 1);
    if (e <= s || e <= at)
        return false;
    if (s < at)
        s = at;
    size_t first = (size_t)((s - at) / PAGE), last = (size_t)((e - at) / PAGE);
    if (last > WINDOW_PAGES)
        last = WINDOW_PAGES;
    if (first >= last)
        return false;
    *f = first;
    *l = last;
    return true;
}

/* Where init puts the window for a first region: the largest power-of-two alignment, at most
 * BASE_ALIGN, from which all of the region's whole pages lie inside the window; BASE_ALIGN when
 * none can (a region larger than the window is trimmed to it). */
static uintptr_t window_start(uintptr_t start, size_t size)
{
    uintptr_t s = (start + PAGE - 1) & ~(PAGE - 1);
    uintptr_t e = (size > UINTPTR_MAX - start ? UINTPTR_MAX : start + size) & ~(PAGE - 1);
    uintptr_t at = s & ~(BASE_ALIGN - 1);
    if (e <= s || (e - s) / PAGE > WINDOW_PAGES)
        return at;
    for (uintptr_t align = BASE_ALIGN; align >= PAGE; align /= 2) {
        at = s & ~(align - 1);
        if ((e - at) / PAGE <= WINDOW_PAGES)
            break;
    }
    return at;
}

static bool align_valid(size_t align)
{
    return align && !(align & (align - 1)) && align % PAGE == 0 && align <= ARC_PAGES_MAX_ALIGN;
}

/* The window page of addr with [page, page + n) inside the window, or false. */
static bool addr_page(uintptr_t addr, size_t n, size_t *page)
{
    if (addr < base || n > WINDOW_PAGES)
        return false;
    uintptr_t p = (addr - base) / PAGE;
    if (p > WINDOW_PAGES - n)
        return false;
    *page = (size_t)p;
    return true;
}

static uintptr_t page_addr(size_t i)
{
    return base + (uintptr_t)i * PAGE;
}

/* The lowest page of [lo, hi) starting a free run of n pages whose address is aligned, or
 * SIZE_MAX. A scan: each free run's lowest aligned start is its only candidate. */
static size_t region_fit(size_t lo, size_t hi, size_t n, size_t align)
{
    size_t run = SIZE_MAX;
    for (size_t j = lo; j < hi; j++) {
        if (page_state(j) != PAGE_FREE) {
            run = SIZE_MAX;
            continue;
        }
        if (run == SIZE_MAX)
            run = j;
        unsigned __int128 a = (unsigned __int128)page_addr(run) + align - 1;
        a &= ~(unsigned __int128)(align - 1);
        unsigned __int128 c = (a - page_addr(0)) / PAGE;
        if (c <= j && j + 1 - c >= n)
            return (size_t)c;
    }
    return SIZE_MAX;
}

static void stats_check(void)
{
    size_t total = arc_pages_total_pages(pa), used = arc_pages_used_pages(pa);
    size_t avail = arc_pages_available_pages(pa);
    FUZZ_CHECK(total == model_total, "total %zu, model %zu", total, model_total);
    FUZZ_CHECK(used == model_used, "used %zu, model %zu", used, model_used);
    FUZZ_CHECK(avail == total - used, "available %zu, total %zu, used %zu", avail, total, used);
    size_t bad = arc_pages_check(pa);
    FUZZ_CHECK(bad == 0, "arc_pages_check found %zu broken invariants", bad);
}

/* ---- operations ----------------------------------------------------------------------------- */

static void do_init(uintptr_t start, size_t size)
{
    bool valid = start <= UINTPTR_MAX - (PAGE - 1);
    uintptr_t at = valid ? window_start(start, size) : 0;
    size_t f = 0, l = 0;
    bool has = valid && trim(at, start, size, &f, &l);
    if (has && !in_one_slice(f, l))
        return; /* a region the model could not follow */
    int rc = arc_pages_init(pa, start, size);
    if ((ready && model_used) || !has) {
        /* A state with used pages cannot be initialised again; nothing changes either way. */
        FUZZ_CHECK(rc == ARC_INVALID_PARAM, "init(%#zx, %zu) -> %d", (size_t)start, size, rc);
        if (ready)
            stats_check();
        return;
    }
    FUZZ_CHECK(rc == ARC_OK, "init(%#zx, %zu) -> %d", (size_t)start, size, rc);
    memset(model, PAGE_NONE, sizeof model);
    memset(recent, 0, sizeof recent);
    base = at;
    nregions = 1;
    region_first[0] = f;
    region_end[0] = l;
    for (size_t i = f; i < l; i++)
        page_set(i, PAGE_FREE);
    model_total = l - f;
    model_used = 0;
    ready = true;
    stats_check();
}

static void do_add(uintptr_t start, size_t size)
{
    size_t f = 0, l = 0, joins = SIZE_MAX;
    int want = ARC_OK;
    if (!trim(base, start, size, &f, &l)) {
        want = ARC_INVALID_PARAM;
    } else {
        for (size_t r = 0; r < nregions; r++)
            if (f < region_end[r] && region_first[r] < l)
                want = ARC_MEMORY_OVERLAP;
        /* Starting where an earlier region ends, it extends that one (no new slot). */
        for (size_t r = 0; r < nregions && want == ARC_OK && joins == SIZE_MAX; r++)
            if (region_end[r] == f)
                joins = r;
        if (want == ARC_OK && joins == SIZE_MAX && nregions == ARC_PAGES_MAX_REGIONS)
            want = ARC_NO_MEMORY;
        if (want == ARC_OK && !in_one_slice(f, l))
            return; /* a region the model could not follow */
    }
    int rc = arc_pages_add_memory(pa, start, size);
    FUZZ_CHECK(rc == want, "add_memory(%#zx, %zu) -> %d, want %d", (size_t)start, size, rc, want);
    if (rc == ARC_OK && joins != SIZE_MAX) {
        region_end[joins] = l;
    } else if (rc == ARC_OK) {
        region_first[nregions] = f;
        region_end[nregions++] = l;
    }
    if (rc == ARC_OK) {
        for (size_t i = f; i < l; i++)
            page_set(i, PAGE_FREE);
        model_total += l - f;
    }
    stats_check();
}

static void run_remember(uintptr_t addr, size_t n)
{
    recent[recent_next++ % RECENT] = (run_t){addr, n};
}

static void mark_used(size_t first, size_t n)
{
    for (size_t i = first; i < first + n; i++)
        page_set(i, PAGE_USED);
    model_used += n;
    run_remember(page_addr(first), n);
}

static void do_alloc(size_t n, size_t align)
{
    int want = ARC_NO_MEMORY;
    size_t at = SIZE_MAX;
    if (n == 0 || !align_valid(align)) {
        want = ARC_INVALID_PARAM;
    } else {
        for (size_t r = 0; r < nregions && at == SIZE_MAX; r++)
            at = region_fit(region_first[r], region_end[r], n, align);
        if (at != SIZE_MAX)
            want = ARC_OK;
    }
    uintptr_t out = 0;
    int rc = arc_pages_alloc(pa, n, align, &out);
    FUZZ_CHECK(rc == want, "alloc(%zu, %#zx) -> %d, want %d", n, align, rc, want);
    if (rc == ARC_OK) {
        FUZZ_CHECK(out == page_addr(at), "alloc(%zu, %#zx) -> %#zx, want %#zx", n, align,
                   (size_t)out, (size_t)page_addr(at));
        mark_used(at, n);
    }
    stats_check();
}

static void do_alloc_at(uintptr_t addr, size_t n, size_t align)
{
    size_t first = 0;
    int want = ARC_OK;
    if (n == 0 || !align_valid(align) || addr % PAGE || addr % align ||
        !addr_page(addr, n, &first) || region_holding(first, first + n) < 0) {
        want = ARC_INVALID_PARAM;
    } else {
        for (size_t i = first; i < first + n; i++)
            if (page_state(i) != PAGE_FREE)
                want = ARC_NO_MEMORY;
    }
    int rc = arc_pages_alloc_at(pa, addr, n, align);
    FUZZ_CHECK(rc == want, "alloc_at(%#zx, %zu, %#zx) -> %d, want %d", (size_t)addr, n, align, rc,
               want);
    if (rc == ARC_OK)
        mark_used(first, n);
    stats_check();
}

static void do_dealloc(uintptr_t addr, size_t n)
{
    size_t first = 0;
    int want = ARC_OK;
    if (n == 0 || addr % PAGE || !addr_page(addr, n, &first) || !regions_cover(first, first + n)) {
        want = ARC_INVALID_PARAM;
    } else {
        for (size_t i = first; i < first + n; i++)
            if (page_state(i) != PAGE_USED)
                want = ARC_NOT_ALLOCATED;
    }
    int rc = arc_pages_dealloc(pa, addr, n);
    FUZZ_CHECK(rc == want, "dealloc(%#zx, %zu) -> %d, want %d", (size_t)addr, n, rc, want);
    if (rc == ARC_OK) {
        for (size_t i = first; i < first + n; i++)
            page_set(i, PAGE_FREE);
        model_used -= n;
    }
    stats_check();
}

/* ---- input decoding ------------------------------------------------------------------------- */

static size_t pick_pages(fuzz_in_t *in)
{
    uint8_t k = fuzz_u8(in);
    switch (k % 8) {
    case 0:
    case 1:
    case 2:
        return 1 + k / 8 % 8;
    case 3:
    case 4:
        return 1 + fuzz_u8(in);
    case 5:
        return 1 + fuzz_u16(in) % SLICE_PAGES;
    case 6:
        return 0;
    default: {
        /* clang-format off */
        static const size_t specials[] = {
            WINDOW_PAGES, WINDOW_PAGES + 1, SIZE_MAX, SIZE_MAX / PAGE, (size_t)1 << 40,
            512, 1000, SLICE_PAGES, SLICE_PAGES + 1
        };
        /* clang-format on */
        return specials[k / 8 % (sizeof specials / sizeof specials[0])];
    }
    }
}

static size_t pick_align(fuzz_in_t *in)
{
    uint8_t k = fuzz_u8(in);
    if (k < 128)
        return PAGE;
    if (k < 224)
        return PAGE << (k % 19); /* 4 KiB .. 1 GiB */
    static const size_t specials[] = {0, 1, 2048, 3 * PAGE, (size_t)2 << 30, (size_t)1 << 63};
    return specials[k % (sizeof specials / sizeof specials[0])];
}

/* An address: a page of a slice, of a region or of a remembered run, or anything at all. */
static uintptr_t pick_addr(fuzz_in_t *in)
{
    uint8_t k = fuzz_u8(in);
    switch (k % 8) {
    case 0:
    case 1:
    case 2: {
        const run_t *r = &recent[fuzz_u8(in) % RECENT];
        if (!r->pages)
            return page_addr(slice_lo[k % SLICES]);
        return r->addr + (uintptr_t)(k / 8 % 4 == 3 ? fuzz_below(in, r->pages) : 0) * PAGE;
    }
    case 3:
    case 4: {
        size_t r = fuzz_u8(in) % nregions;
        return page_addr(region_first[r] + fuzz_below(in, region_end[r] - region_first[r] + 1));
    }
    case 5:
        return page_addr(slice_lo[k % SLICES] + fuzz_below(in, SLICE_PAGES));
    case 6:
        return page_addr(slice_lo[k % SLICES] + fuzz_below(in, SLICE_PAGES)) + k / 8;
    default:
        return (uintptr_t)fuzz_u64(in);
    }
}

/* A range for init/add_memory: inside a slice with sub-page jitter at either end, reaching
 * below the window or past its end, or anything at all. */
static void pick_range(fuzz_in_t *in, uintptr_t at, bool init, uintptr_t *start, size_t *size)
{
    uint8_t k = fuzz_u8(in);
    int slice = init ? 0 : k % SLICES;
    size_t off = fuzz_below(in, SLICE_PAGES), max = SLICE_PAGES - off;
    size_t n = 1 + (k & 0x80 ? fuzz_below(in, max) : fuzz_u8(in) % (max < 64 ? max : 64));
    /* Sub-page jitter: the start moved down by `head` bytes, the end moved by `tail` bytes
     * down (mode 1) or up (mode 2); trimming keeps whole pages only. */
    unsigned tail_mode = (k >> 5) % 4;
    size_t head = (k >> 3) % 4 == 0 ? fuzz_u8(in) * 17u % PAGE : 0;
    size_t tail = tail_mode == 1 || tail_mode == 2 ? 1 + fuzz_u8(in) * 17u % (PAGE - 1) : 0;
    *start = at + (slice_lo[slice] + off) * PAGE - head;
    *size = n * PAGE + head;
    *size = tail_mode == 1 ? *size - tail : *size + tail;
    switch ((k >> 3) % 4) {
    case 1: /* from below the window (the window's first page for init, which sets the base) */
        if (!init && slice == 0) {
            size_t below = 1 + fuzz_u8(in);
            *start -= below * PAGE;
            *size += below * PAGE;
        }
        break;
    case 2: /* past the window's end (or the address space's) */
        if (slice == SLICES - 1)
            *size += (1 + (size_t)fuzz_u8(in)) * PAGE;
        break;
    case 3:
        if (k & 0x40) {
            *start = (uintptr_t)fuzz_u64(in);
            *size = (size_t)fuzz_u64(in) >> (fuzz_u8(in) % 64);
        }
        break;
    default:
        break;
    }
}

enum {
    OP_INIT = 0,
    OP_ADD = 1,
    OP_ALLOC_FIRST = 2, /* 2..7: alloc */
    OP_ALLOC_LAST = 7,
    OP_ALLOC_AT_FIRST = 8, /* 8..9 */
    OP_ALLOC_AT_LAST = 9,
    OP_DEALLOC_FIRST = 10, /* 10..14: dealloc */
    OP_DEALLOC_LAST = 14,
    OP_COUNT = 15,
};

static void op_run(fuzz_in_t *in, unsigned op)
{
    if (op == OP_INIT) {
        uintptr_t at = ready && fuzz_u8(in) < 192 ? base : bases[fuzz_u8(in) % 5];
        uintptr_t start;
        size_t size;
        pick_range(in, at, true, &start, &size);
        do_init(start, size);
    } else if (op == OP_ADD) {
        uintptr_t start;
        size_t size;
        pick_range(in, base, false, &start, &size);
        do_add(start, size);
    } else if (op <= OP_ALLOC_LAST) {
        size_t n = pick_pages(in);
        do_alloc(n, pick_align(in));
    } else if (op <= OP_ALLOC_AT_LAST) {
        uintptr_t addr = pick_addr(in);
        size_t n = pick_pages(in);
        size_t align = pick_align(in);
        if (fuzz_u8(in) < 128 && align_valid(align))
            addr &= ~(uintptr_t)(align - 1);
        do_alloc_at(addr, n, align);
    } else {
        /* A remembered run: whole, a head, a tail, one page, one page more, or anything. */
        uint8_t k = fuzz_u8(in);
        const run_t *r = &recent[fuzz_u8(in) % RECENT];
        if (k % 8 < 5 && r->pages) {
            size_t cut = r->pages > 1 ? 1 + fuzz_below(in, r->pages - 1) : 1;
            switch (k % 8) {
            case 0:
                do_dealloc(r->addr, r->pages);
                break;
            case 1:
                do_dealloc(r->addr, cut);
                break;
            case 2:
                do_dealloc(r->addr + (r->pages - cut) * PAGE, cut);
                break;
            case 3:
                do_dealloc(r->addr + (cut - 1) * PAGE, 1);
                break;
            default:
                do_dealloc(r->addr, r->pages + 1);
                break;
            }
        } else {
            uintptr_t addr = pick_addr(in);
            do_dealloc(addr, pick_pages(in));
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Zero-filled state, 64-byte aligned (calloc promises 16): arcalloc.h's requirement. */
    void *raw = calloc(1, arc_pages_state_size() + 64);
    FUZZ_CHECK(raw != NULL, "no memory for the state");
    pa = (arc_pages_t *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
    fuzz_in_t in = {data, size};
    ready = false;
    nregions = model_total = model_used = 0;
    memset(recent, 0, sizeof recent);
    while (fuzz_more(&in)) {
        unsigned op = fuzz_u8(&in) % OP_COUNT;
        op_run(&in, ready ? op : OP_INIT);
    }
    if (ready) {
        /* Free every used page, run by run; the state ends empty and sound, and can be
         * initialised again. */
        for (size_t r = 0; r < nregions; r++) {
            for (size_t i = region_first[r]; i < region_end[r];) {
                size_t j = i;
                while (j < region_end[r] && page_state(j) == PAGE_USED)
                    j++;
                if (j > i)
                    do_dealloc(page_addr(i), j - i);
                i = j > i ? j : i + 1;
            }
        }
        FUZZ_CHECK(model_used == 0, "pages left used: %zu", model_used);
        do_init(page_addr(0), PAGE);
    }
    free(raw);
    return 0;
}
