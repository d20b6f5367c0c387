/* bufreuse.c: one large scratch buffer taken and given back again and again, the way a program
 * reading files or building replies into a fresh buffer per request does, with a little string
 * work around it. Each iteration: a few short-lived strings, one buffer of 64 KiB .. 3 MiB (four
 * sizes in turn) filled with memset and checked, the strings freed, the buffer freed, and one
 * string put into a ring of 64 slots that outlive the iteration. Only one large block is ever
 * live, so an allocator that keeps the freed buffer's pages for the next one pays no page
 * faults after the first round of sizes. Prints "bufreuse ops=N" (N = malloc + free calls).
 * Never calls the allocator except through the standard malloc family; prints nothing else.
 */
#include "bench.h"

/* Iterations at scale 1.0: 0.4-0.7 s under glibc on the reference machine (memset of
 * ~1 MiB per iteration on average dominates). */
#define BUFREUSE_ITERS 25000u
/* At least 50 rounds of the four sizes even at the smallest scale, so every size is reused
 * many times after its first (--quick, at scale 0.05, does 1 250 iterations). */
#define BUFREUSE_MIN_ITERS 200u
/* Short-lived strings per iteration: half made before the buffer, half after; all checked
 * and freed before it. */
#define BUFREUSE_TEMP_STRINGS 6u
/* Strings kept across iterations: one replaced per iteration. */
#define BUFREUSE_RING_SLOTS 64u
/* String lengths (without the terminator): the short names, keys and lines programs keep. */
#define BUFREUSE_MIN_STRLEN 16u
#define BUFREUSE_MAX_STRLEN 200u
/* Stride of the page check: the smallest page size Linux uses on x86-64 and aarch64. */
#define BUFREUSE_PAGE 4096u

/* The buffer sizes taken in turn: 64 KiB, 192 KiB, 1 MiB and 3 MiB. The first is under
 * arcalloc's large-block threshold (128 KiB, src/process/arena.h), so a medium block inside a
 * segment; the others are large page runs, the last two of the sizes realloc moves with mremap. */
static const size_t buffer_sizes[] = {64u << 10, 192u << 10, 1u << 20, 3u << 20};
#define BUFREUSE_NSIZES (sizeof buffer_sizes / sizeof buffer_sizes[0])

typedef struct {
    char *s;
    size_t len;
} ring_slot_t;

static const char *const name = "bufreuse";

/* BUFREUSE_MAX_STRLEN letters: a string of length n is its last n characters. */
static char source[BUFREUSE_MAX_STRLEN + 1];

static void make_source(void)
{
    for (size_t i = 0; i < BUFREUSE_MAX_STRLEN; i++)
        source[i] = (char)('a' + i % 26);
    source[BUFREUSE_MAX_STRLEN] = '\0';
}

static const char *source_of_len(size_t len)
{
    return source + BUFREUSE_MAX_STRLEN - len;
}

/* A fresh copy of the source string of length len (drawn by the caller). */
static char *new_string(size_t len, unsigned long long *ops)
{
    char *s = bench_malloc(name, len + 1);
    (*ops)++;
    strcpy(s, source_of_len(len));
    return s;
}

/* Checks a string made by new_string, then frees it. */
static void drop_string(char *s, size_t len, unsigned long long *ops)
{
    if (strlen(s) != len || memcmp(s, source_of_len(len), len) != 0)
        bench_fail(name, "a %zu-byte string at %p was overwritten", len, (void *)s);
    free(s);
    (*ops)++;
}

/* The buffer's first byte of every page, which memset gave the tag's low byte, must still hold
 * it; bench_intact checks the tag words at both ends and the middle. */
static void check_buffer(const unsigned char *p, size_t n, uint64_t tag)
{
    if (!bench_intact(p, n, tag))
        bench_fail(name, "the ends of a %zu-byte buffer at %p were overwritten", n,
                   (const void *)p);
    unsigned char fill = (unsigned char)(tag & 0xff);
    for (size_t off = BUFREUSE_PAGE; off + sizeof tag < n; off += BUFREUSE_PAGE)
        if (p[off] != fill)
            bench_fail(name, "page at offset %zu of a %zu-byte buffer was overwritten", off, n);
}

int main(int argc, char **argv)
{
    double scale = bench_scale(name, argc, argv);
    size_t iters = bench_scaled(BUFREUSE_ITERS, scale, BUFREUSE_MIN_ITERS);
    bench_rng_t rng = bench_rng(11);
    ring_slot_t ring[BUFREUSE_RING_SLOTS] = {{0}};
    char *temp[BUFREUSE_TEMP_STRINGS];
    size_t temp_len[BUFREUSE_TEMP_STRINGS];
    unsigned long long ops = 0;

    make_source();
    for (size_t it = 0; it < iters; it++) {
        /* Half the temporaries before the buffer, half after: the small and the large block
         * alternate in the allocator, as in a program formatting a header, then the body. */
        for (size_t i = 0; i < BUFREUSE_TEMP_STRINGS / 2; i++) {
            temp_len[i] = bench_range(&rng, BUFREUSE_MIN_STRLEN, BUFREUSE_MAX_STRLEN);
            temp[i] = new_string(temp_len[i], &ops);
        }
        size_t n = buffer_sizes[it % BUFREUSE_NSIZES];
        uint64_t tag = bench_rand(&rng);
        unsigned char *buf = bench_malloc(name, n);
        ops++;
        bench_fill(buf, n, tag);
        for (size_t i = BUFREUSE_TEMP_STRINGS / 2; i < BUFREUSE_TEMP_STRINGS; i++) {
            temp_len[i] = bench_range(&rng, BUFREUSE_MIN_STRLEN, BUFREUSE_MAX_STRLEN);
            temp[i] = new_string(temp_len[i], &ops);
        }
        check_buffer(buf, n, tag);
        for (size_t i = 0; i < BUFREUSE_TEMP_STRINGS; i++)
            drop_string(temp[i], temp_len[i], &ops);
        free(buf);
        ops++;

        ring_slot_t *r = &ring[it % BUFREUSE_RING_SLOTS];
        if (r->s)
            drop_string(r->s, r->len, &ops);
        r->len = bench_range(&rng, BUFREUSE_MIN_STRLEN, BUFREUSE_MAX_STRLEN);
        r->s = new_string(r->len, &ops);
    }
    for (size_t i = 0; i < BUFREUSE_RING_SLOTS; i++)
        if (ring[i].s)
            drop_string(ring[i].s, ring[i].len, &ops);
    printf("%s ops=%llu\n", name, ops);
    return 0;
}
