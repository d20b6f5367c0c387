/* test_bitmap.c: the hierarchical bitmap against a naive byte-per-bit model: every operation on
 * random ranges (fixed seeds) at several capacities, long runs across word and summary
 * boundaries, the summary-consistency walk after changes, and that the walk sees corruption. */
#include <stdint.h>
#include <string.h>

#include "bitmap.h"
#include "check.h"

/* Capacities under test: tiny, around one word, past one summary word (64 * 64 = 4096), and
 * large enough for three and four summary levels. */
static const size_t capacities[] = {1, 63, 64, 65, 4096 + 7, (size_t)1 << 18, (size_t)1 << 20};
/* Random mutations per capacity: the large maps get fewer (the model is linear per query). */
#define OPS_SMALL 20000
#define OPS_LARGE 5000
/* Capacities up to this get the full check after every mutation, larger ones every CHECK_EVERY. */
#define CHECK_ALWAYS_MAX 8192
#define CHECK_EVERY      25

typedef struct model {
    unsigned char *used;
    size_t bits;
    size_t count;
} model_t;

static void model_write(model_t *m, size_t from, size_t to, unsigned char v)
{
    for (size_t i = from; i < to; i++) {
        m->count += (size_t)v - m->used[i];
        m->used[i] = v;
    }
}

static size_t model_next(const model_t *m, size_t from, size_t to, unsigned char want)
{
    for (size_t i = from; i < to; i++)
        if (m->used[i] == want)
            return i;
    return ARC_BITMAP_NONE;
}

/* Straightforward scan: try each start of the right phase, skip past a used bit when found. */
static size_t model_find_run(const model_t *m, size_t lo, size_t hi, size_t n, size_t align,
                             size_t phase)
{
    if (n == 0 || lo >= hi)
        return ARC_BITMAP_NONE;
    size_t ph = phase % align;
    size_t i = lo / align * align + ph;
    if (i < lo)
        i += align;
    while (i < hi && hi - i >= n) {
        size_t j = i;
        while (j < i + n && !m->used[j])
            j++;
        if (j == i + n)
            return i;
        i = (j + 1) / align * align + ph;
        if (i < j + 1)
            i += align;
    }
    return ARC_BITMAP_NONE;
}

/* A length in [1, max] with a log-uniform spread: short and long ranges alike. */
static size_t rand_len(check_rng_t *r, size_t max)
{
    unsigned k = (unsigned)check_range(r, 0, 63 - (unsigned)__builtin_clzll(max));
    size_t hi = (size_t)1 << k;
    if (hi > max)
        hi = max;
    return (size_t)check_range(r, 1, hi);
}

static void rand_range(check_rng_t *r, size_t cap, size_t *from, size_t *to)
{
    *from = (size_t)check_range(r, 0, cap);
    *to = *from;
    if (*from < cap && check_range(r, 0, 15) != 0)
        *to = *from + rand_len(r, cap - *from);
}

static void compare_full(const arc_bitmap_t *bm, const model_t *m, const char *what)
{
    size_t set = SIZE_MAX;
    size_t bad = arc_bitmap_check(bm, bm->bits, &set);
    CHECKF(bad == 0, "%s: %zu violations (bits %zu)", what, bad, m->bits);
    CHECKF(set == m->count, "%s: %zu set, model %zu (bits %zu)", what, set, m->count, m->bits);
}

/* Every query on one random range against the model. */
static void compare_queries(const arc_bitmap_t *bm, const model_t *m, check_rng_t *r)
{
    size_t cap = m->bits, from, to;
    rand_range(r, cap, &from, &to);
    size_t nf = model_next(m, from, to, 0), nu = model_next(m, from, to, 1);
    CHECKF(arc_bitmap_next_free(bm, from, to) == nf, "next_free [%zu,%zu) cap %zu", from, to, cap);
    CHECKF(arc_bitmap_next_used(bm, from, to) == nu, "next_used [%zu,%zu) cap %zu", from, to, cap);
    CHECK(arc_bitmap_all_free(bm, from, to) == (nu == ARC_BITMAP_NONE));
    CHECK(arc_bitmap_all_used(bm, from, to) == (nf == ARC_BITMAP_NONE));
    size_t i = (size_t)check_range(r, 0, cap + 1);
    CHECK(arc_bitmap_test(bm, i) == (i < cap && m->used[i]));

    rand_range(r, cap, &from, &to);
    size_t n = rand_len(r, cap);
    size_t align = check_range(r, 0, 7) == 0 ? (size_t)1 << check_range(r, 11, 62)
                                             : (size_t)1 << check_range(r, 0, 10);
    size_t phase = (size_t)check_rand(r);
    size_t want = model_find_run(m, from, to, n, align, phase);
    size_t got = arc_bitmap_find_run(bm, from, to, n, align, phase);
    CHECKF(got == want, "find_run [%zu,%zu) n %zu align %zu phase %zu: %zu, model %zu (cap %zu)",
           from, to, n, align, phase & (align - 1), got, want, cap);
    /* The same search with its floor: the same answer, no free aligned bit in [from, open), and
     * open no further than the run found (pages.c starts later searches at open). */
    size_t open = ARC_BITMAP_NONE;
    got = arc_bitmap_find_run_open(bm, from, to, n, align, phase, &open);
    CHECK(got == want);
    CHECK(open != ARC_BITMAP_NONE && (want == ARC_BITMAP_NONE || open <= want));
    size_t free_below = 0, end = open < to ? open : to;
    if (end > cap)
        end = cap;
    for (size_t b = from; b < end; b++)
        free_below += (b & (align - 1)) == (phase & (align - 1)) && !m->used[b];
    CHECKF(free_below == 0, "find_run_open [%zu,%zu) align %zu: %zu free aligned bits below %zu",
           from, to, align, free_below, open);
}

static void test_capacity(size_t cap, unsigned long long seed)
{
    size_t nwords = arc_bitmap_words(cap);
    CHECK(nwords >= (cap + 63) / 64);
    uint64_t *words = calloc(nwords, sizeof *words);
    model_t m = {calloc(cap, 1), cap, 0};
    arc_bitmap_t bm;
    arc_bitmap_setup(&bm, words, cap);
    CHECK(bm.bits == cap);
    CHECK(bm.level[bm.top].words == 1);

    /* Fresh: all free, and setup wrote nothing. */
    size_t nonzero = 0;
    for (size_t w = 0; w < nwords; w++)
        nonzero += words[w] != 0;
    CHECK(nonzero == 0);
    CHECK(arc_bitmap_next_free(&bm, 0, cap) == 0);
    CHECK(arc_bitmap_next_used(&bm, 0, cap) == ARC_BITMAP_NONE);
    CHECK(arc_bitmap_find_run(&bm, 0, cap, cap, 1, 0) == 0);
    CHECK(arc_bitmap_find_run(&bm, 0, cap, cap + 1, 1, 0) == ARC_BITMAP_NONE);
    compare_full(&bm, &m, "fresh");

    /* Everything used, then everything free again. */
    arc_bitmap_set(&bm, 0, cap);
    model_write(&m, 0, cap, 1);
    compare_full(&bm, &m, "all set");
    CHECK(arc_bitmap_next_free(&bm, 0, cap) == ARC_BITMAP_NONE);
    CHECK(arc_bitmap_all_used(&bm, 0, cap));
    CHECK(arc_bitmap_find_run(&bm, 0, cap, 1, 1, 0) == ARC_BITMAP_NONE);
    arc_bitmap_clear(&bm, 0, cap);
    model_write(&m, 0, cap, 0);
    compare_full(&bm, &m, "all clear");
    nonzero = 0;
    for (size_t w = 0; w < nwords; w++)
        nonzero += words[w] != 0;
    CHECK(nonzero == 0);

    /* Long runs crossing word and summary boundaries (64, 4096, 262144 bits). */
    static const size_t edges[] = {1, 63, 64, 65, 4095, 4096, 4097, 262143, 262144, 262145};
    for (size_t a = 0; a < sizeof edges / sizeof edges[0]; a++) {
        for (size_t b = a; b < sizeof edges / sizeof edges[0]; b++) {
            size_t from = edges[a] - 1, to = edges[b] + 1;
            if (to > cap)
                continue;
            arc_bitmap_set(&bm, from, to);
            model_write(&m, from, to, 1);
            compare_full(&bm, &m, "edge set");
            CHECK(arc_bitmap_next_used(&bm, 0, cap) == model_next(&m, 0, cap, 1));
            CHECK(arc_bitmap_next_free(&bm, from, cap) == model_next(&m, from, cap, 0));
            CHECK(arc_bitmap_find_run(&bm, 0, cap, to - from, 1, 0) ==
                  model_find_run(&m, 0, cap, to - from, 1, 0));
            arc_bitmap_clear(&bm, from + 1, to - 1);
            model_write(&m, from + 1, to - 1, 0);
            compare_full(&bm, &m, "edge clear inner");
            CHECK(arc_bitmap_next_used(&bm, from + 1, cap) == model_next(&m, from + 1, cap, 1));
            size_t n = to - from > 2 ? to - from - 2 : 1;
            CHECK(arc_bitmap_find_run(&bm, 0, cap, n, 1, 0) == model_find_run(&m, 0, cap, n, 1, 0));
            arc_bitmap_clear(&bm, from, to);
            model_write(&m, from, to, 0);
        }
    }
    compare_full(&bm, &m, "edges done");

    /* Random mutations, each followed by queries. */
    check_rng_t r = {seed};
    int ops = cap <= CHECK_ALWAYS_MAX ? OPS_SMALL : OPS_LARGE;
    for (int op = 0; op < ops; op++) {
        size_t from, to;
        rand_range(&r, cap, &from, &to);
        /* Lean towards setting so the map spends time both sparse and dense. */
        bool set = check_range(&r, 0, 99) < (op / 500 % 2 ? 35 : 60);
        if (set) {
            arc_bitmap_set(&bm, from, to);
            model_write(&m, from, to, 1);
        } else {
            arc_bitmap_clear(&bm, from, to);
            model_write(&m, from, to, 0);
        }
        if (cap <= CHECK_ALWAYS_MAX || op % CHECK_EVERY == 0)
            compare_full(&bm, &m, set ? "random set" : "random clear");
        for (int q = 0; q < 3; q++)
            compare_queries(&bm, &m, &r);
    }
    compare_full(&bm, &m, "random done");

    /* The walk notices broken summaries: flip a summary bit over a used leaf, a padding bit. */
    if (bm.top > 0) {
        size_t used = arc_bitmap_next_used(&bm, 0, cap);
        if (used == ARC_BITMAP_NONE) {
            arc_bitmap_set(&bm, 0, 1);
            model_write(&m, 0, 1, 1);
            used = 0;
        }
        uint64_t *any1 = &bm.level[1].any[used / 64 / 64];
        uint64_t saved = *any1;
        *any1 ^= (uint64_t)1 << (used / 64 % 64);
        CHECK(arc_bitmap_check(&bm, bm.bits, NULL) > 0);
        *any1 = saved;
        uint64_t *full1 = &bm.level[1].full[used / 64 / 64];
        saved = *full1;
        *full1 ^= (uint64_t)1 << (used / 64 % 64);
        CHECK(arc_bitmap_check(&bm, bm.bits, NULL) > 0);
        *full1 = saved;
        CHECK(arc_bitmap_check(&bm, bm.bits, NULL) == 0);
    }
    if (cap % 64) {
        uint64_t *last = &bm.level[0].full[bm.level[0].words - 1];
        *last ^= (uint64_t)1 << 63;
        CHECK(arc_bitmap_check(&bm, bm.bits, NULL) > 0);
        *last ^= (uint64_t)1 << 63;
    }
    compare_full(&bm, &m, "after corruption tests");
    free(m.used);
    free(words);
}

/* Sizes and limits of the word count. */
static void test_words(void)
{
    CHECK(arc_bitmap_words(0) == 0);
    CHECK(arc_bitmap_words(ARC_BITMAP_MAX_BITS + 1) == 0);
    CHECK(arc_bitmap_words(1) == 1);
    CHECK(arc_bitmap_words(64) == 1);
    CHECK(arc_bitmap_words(65) == 2 + 2);
    CHECK(arc_bitmap_words(4096) == 64 + 2);
    CHECK(arc_bitmap_words(4097) == 65 + 2 * 2 + 2);
    size_t leaf = ARC_BITMAP_MAX_BITS / 64;
    CHECK(arc_bitmap_words(ARC_BITMAP_MAX_BITS) == leaf + 2 * (leaf / 64 + leaf / 4096 + 16 + 1));
    uint64_t one = 0;
    arc_bitmap_t bm;
    arc_bitmap_setup(&bm, &one, 1);
    CHECK(bm.top == 0);
    uint64_t *big = calloc(arc_bitmap_words(ARC_BITMAP_MAX_BITS), sizeof *big);
    arc_bitmap_setup(&bm, big, ARC_BITMAP_MAX_BITS);
    CHECK(bm.top == ARC_BITMAP_MAX_LEVELS - 1);
    /* A run at the very end of the largest map, found from the start through the summaries. */
    arc_bitmap_set(&bm, 0, ARC_BITMAP_MAX_BITS - 100);
    CHECK(arc_bitmap_next_free(&bm, 0, ARC_BITMAP_MAX_BITS) == ARC_BITMAP_MAX_BITS - 100);
    CHECK(arc_bitmap_find_run(&bm, 0, ARC_BITMAP_MAX_BITS, 64, 64, 0) == ARC_BITMAP_MAX_BITS - 64);
    CHECK(arc_bitmap_find_run(&bm, 0, ARC_BITMAP_MAX_BITS, 101, 1, 0) == ARC_BITMAP_NONE);
    size_t set = 0;
    CHECK(arc_bitmap_check(&bm, bm.bits, &set) == 0);
    CHECK(set == ARC_BITMAP_MAX_BITS - 100);
    arc_bitmap_clear(&bm, 1, ARC_BITMAP_MAX_BITS);
    CHECK(arc_bitmap_next_used(&bm, 1, ARC_BITMAP_MAX_BITS) == ARC_BITMAP_NONE);
    CHECK(arc_bitmap_check(&bm, bm.bits, &set) == 0 && set == 1);
    free(big);
}

int main(void)
{
    test_words();
    for (size_t i = 0; i < sizeof capacities / sizeof capacities[0]; i++)
        test_capacity(capacities[i], 0x9E3779B97F4A7C15ULL + i);
    return check_done();
}
