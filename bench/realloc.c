/* realloc.c: growth by realloc. String builders append short pieces (half grow to the exact
 * length each time, half by half again their capacity) and vectors of integers double their
 * capacity; dozens of each grow side by side, so a block often cannot grow in place. Every
 * builder's hash and every vector element is checked before it is freed; prints
 * "realloc ops=N" (N = malloc + realloc + free calls).
 * Never calls the allocator except through the standard malloc family; prints nothing else.
 */
#include "bench.h"

/* Builders and vectors growing at once. */
#define REALLOC_BUILDERS 64u
#define REALLOC_VECTORS  16u
/* Steps at scale 1.0: about one second under glibc on the reference machine. A step appends
 * to one builder, or pushes to one vector. */
#define REALLOC_STEPS     6000000u
#define REALLOC_MIN_STEPS 50000u
/* One step in this many goes to a vector. */
#define REALLOC_VECTOR_ONE_IN 4u
/* Pieces appended to builders: 1..48 characters. */
#define PIECE_MAX 48u
/* A builder is finished (checked and freed) at a length drawn from 256 B .. 64 KiB; a vector
 * at 1 Ki .. 256 Ki elements (8 KiB .. 2 MiB, past glibc's mmap threshold). */
#define BUILDER_MIN_END 256u
#define BUILDER_MAX_END (64u << 10)
#define VECTOR_MIN_END  (1u << 10)
#define VECTOR_MAX_END  (256u << 10)

typedef struct {
    char *s;
    size_t len, cap, end;
    uint64_t hash; /* FNV-1a of the bytes appended so far */
    int exact;     /* grows to the exact length, or by half its capacity */
} builder_t;

typedef struct {
    uint64_t *v;
    size_t len, cap, end;
    uint64_t seed;
} vector_t;

static const char *const name = "realloc";
static unsigned long long ops;

static void *xrealloc(void *p, size_t n)
{
    uintptr_t old = (uintptr_t)p; /* for messages: p itself is dead after realloc */
    void *q = realloc(p, n);
    ops++;
    if (!q)
        bench_fail(name, "realloc(%#lx, %zu) returned NULL", (unsigned long)old, n);
    if (!bench_aligned(q, n))
        bench_fail(name, "realloc(%#lx, %zu) returned misaligned %p", (unsigned long)old, n, q);
    return q;
}

static uint64_t fnv_bytes(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL; /* FNV-1a 64-bit prime */
    return h;
}

static void builder_start(builder_t *b, bench_rng_t *rng, int exact)
{
    b->s = NULL;
    b->len = b->cap = 0;
    b->end = bench_range(rng, BUILDER_MIN_END, BUILDER_MAX_END);
    b->hash = 1469598103934665603ULL; /* FNV-1a 64-bit offset basis */
    b->exact = exact;
}

static void builder_finish(builder_t *b)
{
    if (strlen(b->s) != b->len || fnv_bytes(1469598103934665603ULL, b->s, b->len) != b->hash)
        bench_fail(name, "a %zu-byte string lost its content while growing", b->len);
    free(b->s);
    ops++;
}

static void builder_append(builder_t *b, bench_rng_t *rng)
{
    char piece[PIECE_MAX];
    size_t n = bench_range(rng, 1, PIECE_MAX);
    uint64_t r = bench_rand(rng);
    for (size_t i = 0; i < n; i++)
        piece[i] = (char)('a' + (r >> (i % 60)) % 26);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->exact ? b->len + n + 1
                              : (b->cap + b->cap / 2 > b->len + n + 1 ? b->cap + b->cap / 2
                                                                      : b->len + n + 1 + 16);
        b->s = xrealloc(b->s, cap); /* realloc(NULL, n) is the first malloc */
        b->cap = cap;
    }
    memcpy(b->s + b->len, piece, n);
    b->len += n;
    b->s[b->len] = '\0';
    b->hash = fnv_bytes(b->hash, piece, n);
}

static uint64_t vector_value(const vector_t *v, size_t i)
{
    return v->seed ^ (i * 0x9E3779B97F4A7C15ULL);
}

static void vector_start(vector_t *v, bench_rng_t *rng)
{
    v->v = NULL;
    v->len = v->cap = 0;
    v->end = bench_range(rng, VECTOR_MIN_END, VECTOR_MAX_END);
    v->seed = bench_rand(rng);
}

static void vector_finish(vector_t *v)
{
    for (size_t i = 0; i < v->len; i++)
        if (v->v[i] != vector_value(v, i))
            bench_fail(name, "element %zu of a %zu-element vector changed while growing", i,
                       v->len);
    free(v->v);
    ops++;
}

static void vector_push(vector_t *v)
{
    if (v->len == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 4;
        v->v = xrealloc(v->v, v->cap * sizeof *v->v);
    }
    v->v[v->len] = vector_value(v, v->len);
    v->len++;
}

int main(int argc, char **argv)
{
    double scale = bench_scale(name, argc, argv);
    size_t steps = bench_scaled(REALLOC_STEPS, scale, REALLOC_MIN_STEPS);
    bench_rng_t rng = bench_rng(4);
    builder_t b[REALLOC_BUILDERS];
    vector_t v[REALLOC_VECTORS];
    for (size_t i = 0; i < REALLOC_BUILDERS; i++)
        builder_start(&b[i], &rng, (int)(i & 1));
    for (size_t i = 0; i < REALLOC_VECTORS; i++)
        vector_start(&v[i], &rng);

    for (size_t step = 0; step < steps; step++) {
        uint64_t r = bench_rand(&rng);
        if (r % REALLOC_VECTOR_ONE_IN == 0) {
            vector_t *x = &v[(r >> 16) % REALLOC_VECTORS];
            vector_push(x);
            if (x->len >= x->end) {
                vector_finish(x);
                vector_start(x, &rng);
            }
        } else {
            builder_t *x = &b[(r >> 16) % REALLOC_BUILDERS];
            builder_append(x, &rng);
            if (x->len >= x->end) {
                builder_finish(x);
                builder_start(x, &rng, x->exact);
            }
        }
    }
    for (size_t i = 0; i < REALLOC_BUILDERS; i++)
        if (b[i].s)
            builder_finish(&b[i]);
    for (size_t i = 0; i < REALLOC_VECTORS; i++)
        if (v[i].v)
            vector_finish(&v[i]);
    printf("%s ops=%llu\n", name, ops);
    return 0;
}
