/* large.c: large blocks. A few live slots; each step frees a random slot's block and allocates
 * one of 64 KiB .. 32 MiB (log-uniform), then touches every page of it, as a program filling a
 * buffer would. Checks a word on every page before freeing; prints "large ops=N" (N = malloc
 * + free calls).
 * Never calls the allocator except through the standard malloc family; prints nothing else.
 */
#include "bench.h"

/* Live blocks at once: up to 8 x 32 MiB = 256 MiB at worst, ~40 MiB on average. */
#define LARGE_SLOTS 8u
/* Steps at scale 1.0: about one second under glibc on the reference machine. */
#define LARGE_STEPS     800u
#define LARGE_MIN_STEPS 40u
/* Sizes: 2^16 .. 2^25 bytes, log-uniform, plus a random tail so they are not powers of two. */
#define LARGE_MIN_SHIFT 16u
#define LARGE_MAX_SHIFT 25u
/* Stride of the touch: the smallest page size Linux uses on x86-64 and aarch64. */
#define LARGE_TOUCH_STRIDE 4096u

typedef struct {
    unsigned char *p;
    size_t size;
    uint64_t tag;
} slot_t;

static const char *const name = "large";

static size_t large_size(bench_rng_t *rng)
{
    size_t shift = bench_range(rng, LARGE_MIN_SHIFT, LARGE_MAX_SHIFT - 1);
    return ((size_t)1 << shift) + bench_range(rng, 0, ((size_t)1 << shift) - 1);
}

/* Every page gets its offset mixed into the tag, so pages swapped or lost show. */
static void large_touch(slot_t *s)
{
    for (size_t off = 0; off + sizeof s->tag <= s->size; off += LARGE_TOUCH_STRIDE) {
        uint64_t v = s->tag ^ off;
        memcpy(s->p + off, &v, sizeof v);
    }
    memcpy(s->p + s->size - sizeof s->tag, &s->tag, sizeof s->tag);
}

static void slot_release(slot_t *s, unsigned long long *ops)
{
    uint64_t v;
    for (size_t off = 0; off + sizeof v <= s->size - sizeof v; off += LARGE_TOUCH_STRIDE) {
        memcpy(&v, s->p + off, sizeof v);
        if (v != (s->tag ^ off))
            bench_fail(name, "page at offset %zu of a %zu-byte block was overwritten", off,
                       s->size);
    }
    memcpy(&v, s->p + s->size - sizeof v, sizeof v);
    if (v != s->tag)
        bench_fail(name, "the end of a %zu-byte block was overwritten", s->size);
    free(s->p);
    s->p = NULL;
    (*ops)++;
}

int main(int argc, char **argv)
{
    double scale = bench_scale(name, argc, argv);
    size_t steps = bench_scaled(LARGE_STEPS, scale, LARGE_MIN_STEPS);
    bench_rng_t rng = bench_rng(5);
    slot_t slots[LARGE_SLOTS] = {{0}};
    unsigned long long ops = 0;

    for (size_t step = 0; step < steps; step++) {
        slot_t *s = &slots[bench_rand(&rng) % LARGE_SLOTS];
        if (s->p)
            slot_release(s, &ops);
        s->size = large_size(&rng);
        s->tag = bench_rand(&rng);
        s->p = bench_malloc(name, s->size);
        ops++;
        large_touch(s);
    }
    for (size_t i = 0; i < LARGE_SLOTS; i++)
        if (slots[i].p)
            slot_release(&slots[i], &ops);
    printf("%s ops=%llu\n", name, ops);
    return 0;
}
