/* prof.c: the heap profiler (ARCALLOC_PROF): exponential sampling of allocated bytes, call
 * stacks from libunwind, the tables of stacks and live samples, and the dump (folded stacks,
 * pprof's text heap profile, a top-20 table). Its memory comes from arc_os_map, never from
 * malloc, and it never samples an allocation made while it runs (a thread-local guard). */
#include "prof.h"
#include "prof_hooks.h"

#if ARC_PROF /* else the whole file is left out (-Dprof=disabled, or no libunwind) */

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "os.h"
#include "out.h"
#include "report.h"
#include "unwind.h"

/* ---- constants ------------------------------------------------------------------------------ */

/* Mean bytes between two samples unless ARCALLOC_PROF_SAMPLE says otherwise: jemalloc's
 * default (lg_prof_sample 19) and the issue's. */
#define PROF_SAMPLE_DEFAULT ((uint64_t)512 << 10)
/* Sites in the text table. */
#define PROF_TOP_SITES 20
/* Callers shown beside each site of the table. */
#define PROF_TOP_CALLERS 3
/* First capacities of the open-addressed tables (grown by doubling at half full). */
#define SAMPLES_MIN 4096u
#define STACKS_MIN  1024u
/* Stack records come from chunks this big (never freed: stacks are few and live forever). */
#define POOL_CHUNK ((size_t)1 << 20)
/* The free-path filter: one saturating 8-bit count of live samples per slot, indexed by a
 * hash of the block address. A free whose slot reads 0 skips the lock. 2^18 slots (256 KiB)
 * keep false hits rare up to ~100 000 live samples (50 GiB of live heap at the default). */
#define FILTER_BITS       18
#define FILTER_SLOTS      ((size_t)1 << FILTER_BITS)
#define FILTER_SATURATED  UINT8_MAX
#define PROF_MAPS_CHUNK   8192 /* bytes of /proc/self/maps read at a time by the dump */
#define PROF_PATH_MAX     4096 /* PATH_MAX on Linux */
#define PROF_NAME_MAX     512  /* one symbolised frame */
#define PROF_LINE_MAX     256  /* one warning line, before report.c's prefix */
#define FOLDED_SUFFIX     ".folded"
#define HEAP_SUFFIX       ".heap"
#define TOP_SUFFIX        ".top.txt"
#define PEAK_TAG          ".peak" /* before the suffixes: the profile at the timeline's peak */
#define PROF_FILE_DEFAULT "arcalloc-prof.%p" FOLDED_SUFFIX

/* Fibonacci hashing: 2^64 / golden ratio. */
#define HASH_MULT 0x9e3779b97f4a7c15ULL
/* Blocks are 16-byte aligned: the low 4 bits of an address carry no information. */
#define ADDR_SHIFT 4

/* IEEE 754 binary64: 52 stored mantissa bits, exponent bias 1023. */
#define DBL_MANT_BITS 52
#define DBL_EXP_MASK  0x7ffu
#define DBL_EXP_BIAS  1023
#define LN2           0.69314718055994530942 /* ln 2 */
#define SQRT2         1.41421356237309504880 /* sqrt 2 */
/* Terms of the series below: |s| <= 0.1716 (ln) and t <= 0.5 (exp) reach 1e-17 by then. */
#define LN_SERIES_TERMS  12
#define EXP_SERIES_TERMS 20
/* exp(-40) < 2^-57: 1 - exp(-t) rounds to 1 in double precision beyond this. */
#define EXP_SATURATE 40.0
/* A uniform double in (0, 1] from the top 53 bits of a 64-bit random number. */
#define UNIFORM_BITS  53
#define UNIFORM_SCALE (1.0 / 9007199254740992.0) /* 2^-53 */
_Static_assert(UNIFORM_BITS == DBL_MANT_BITS + 1, "a double holds exactly 53 random bits");

/* ---- state ---------------------------------------------------------------------------------- */

typedef struct prof_stack {
    struct prof_stack *next_all; /* every stack, newest first: what the dump walks */
    uint64_t hash;
    uint32_t depth;
    uint32_t truncated; /* the stack went on beyond ARC_UNWIND_FRAMES_MAX frames (roots lost) */
    uint64_t live_count, live_bytes;   /* sampled blocks still live, their requested bytes */
    uint64_t alloc_count, alloc_bytes; /* every sample ever taken with this stack */
    double live_estimate;              /* unbiased estimate of the live bytes it stands for */
    uintptr_t frames[];                /* return addresses, innermost first */
} prof_stack_t;

typedef struct prof_sample {
    uintptr_t ptr; /* 0: empty slot */
    prof_stack_t *stack;
    uint64_t size;
    double estimate; /* size / P(sampled) */
} prof_sample_t;

static struct {
    bool on;
    uint64_t mean; /* ARCALLOC_PROF_SAMPLE */
    pthread_mutex_t lock;
    prof_sample_t *samples;
    size_t samples_cap, samples_used;
    prof_stack_t **stacks;
    size_t stacks_cap, stacks_used;
    prof_stack_t *all_stacks;
    arc_os_bump_t pool;
    uint64_t dropped;    /* samples lost because a table could not grow */
    uint64_t generation; /* changes of the live samples, */
    uint64_t dumped;     /* ... and how many there had been at the last dump (+1; 0: none) */
    bool file_warned;    /* the warning that the profile cannot be written was printed */
    char file[PROF_PATH_MAX];
} prof = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* One dump at a time (exit and the signal's dump thread may meet): held while writing. */
static pthread_mutex_t dump_lock = PTHREAD_MUTEX_INITIALIZER;
/* Read without the lock on the free path; written under it. */
static _Atomic uint8_t *filter;
static _Atomic uint64_t seed_counter;
/* Set while this thread samples, dumps or unwinds: its allocations are not sampled, and a
 * dump from a signal handler that interrupted it is skipped instead of deadlocking. */
static __thread bool prof_busy __attribute__((tls_model("initial-exec")));

/* ---- numbers: random intervals without libm ------------------------------------------------- */

/* splitmix64: a full-period 64-bit generator, one state word. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += HASH_MULT);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL; /* Stafford's Mix13 constants */
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* ln x for a normal x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)), and
 * ln m = 2 atanh((m - 1) / (m + 1)), a fast series there. */
static double math_ln(double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e = (int)((bits >> DBL_MANT_BITS) & DBL_EXP_MASK) - DBL_EXP_BIAS;
    bits =
        (bits & (((uint64_t)1 << DBL_MANT_BITS) - 1)) | ((uint64_t)DBL_EXP_BIAS << DBL_MANT_BITS);
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > SQRT2) {
        m /= 2;
        e++;
    }
    double s = (m - 1) / (m + 1), s2 = s * s, term = s, sum = 0;
    for (int k = 0; k < LN_SERIES_TERMS; k++) {
        sum += term / (2 * k + 1);
        term *= s2;
    }
    return e * LN2 + 2 * sum;
}

/* 1 - exp(-t) for t >= 0 without cancellation: its series at t / 2^n <= 1/2, then n doublings
 * through 1 - exp(-2u) = d (2 - d) where d = 1 - exp(-u). */
static double math_one_minus_exp_neg(double t)
{
    if (t >= EXP_SATURATE)
        return 1.0;
    int halvings = 0;
    while (t > 0.5) {
        t /= 2;
        halvings++;
    }
    double term = t, d = 0;
    for (int k = 1; k <= EXP_SERIES_TERMS; k++) {
        d += term;
        term *= -t / (k + 1);
    }
    while (halvings-- > 0)
        d = d * (2 - d);
    return d;
}

/* Bytes to the next sample: exponential with mean prof.mean (memoryless, so an allocation of s
 * bytes is sampled with probability 1 - exp(-s / mean) whatever came before it). */
static int64_t countdown_draw(uint64_t *state)
{
    double u = (double)((rng_next(state) >> (64 - UNIFORM_BITS)) + 1) * UNIFORM_SCALE;
    double bytes = -math_ln(u) * (double)prof.mean;
    if (bytes >= (double)(INT64_MAX / 2))
        return INT64_MAX / 2;
    return (int64_t)bytes + 1;
}

static uint64_t seed_next(void)
{
    uint64_t state = atomic_fetch_add_explicit(&seed_counter, 1, memory_order_relaxed);
    return rng_next(&state);
}

/* ---- tables (caller holds prof.lock) -------------------------------------------------------- */

static size_t addr_hash(uintptr_t p)
{
    return (size_t)(((uint64_t)p >> ADDR_SHIFT) * HASH_MULT >> 20);
}

static void *table_map(size_t count, size_t entry)
{
    return arc_os_map(count * entry);
}

/* Is x in the cyclic range (lo, hi]? For backward-shift deletion in linear probing. */
static bool cyclic_between(size_t lo, size_t x, size_t hi)
{
    return lo <= hi ? (lo < x && x <= hi) : (lo < x || x <= hi);
}

/* A table of `fresh_cap` slots of `stride` bytes holding every full slot of `old` (`old_cap`
 * slots; a slot is empty while its first word is 0), each placed again from `home` by linear
 * probing; `old` is unmapped. NULL, with `old` untouched, when the OS refuses the memory. */
static void *table_regrow(void *old, size_t old_cap, size_t fresh_cap, size_t stride,
                          size_t (*home)(const void *slot))
{
    size_t mask = fresh_cap - 1;
    char *fresh = table_map(fresh_cap, stride);
    if (!fresh)
        return NULL;
    for (size_t i = 0; i < old_cap; i++) {
        const char *slot = (const char *)old + i * stride;
        if (!*(const uintptr_t *)slot)
            continue;
        size_t j = home(slot) & mask;
        while (*(const uintptr_t *)(fresh + j * stride))
            j = (j + 1) & mask;
        memcpy(fresh + j * stride, slot, stride);
    }
    if (old)
        arc_os_unmap(old, old_cap * stride);
    return fresh;
}

static size_t sample_home(const void *slot)
{
    return addr_hash(((const prof_sample_t *)slot)->ptr);
}

static bool samples_grow(void)
{
    size_t cap = prof.samples_cap ? prof.samples_cap * 2 : SAMPLES_MIN;
    prof_sample_t *fresh =
        table_regrow(prof.samples, prof.samples_cap, cap, sizeof *fresh, sample_home);
    if (!fresh)
        return false;
    prof.samples = fresh;
    prof.samples_cap = cap;
    return true;
}

static size_t filter_slot(uintptr_t p)
{
    return (size_t)(((uint64_t)p >> ADDR_SHIFT) * HASH_MULT >> (64 - FILTER_BITS));
}

/* Adds (+1) or takes away (-1) one sample from its stack's figures and the filter. */
static void sample_account(const prof_sample_t *s, int sign)
{
    prof_stack_t *st = s->stack;
    prof.generation++;
    st->live_count += (uint64_t)(int64_t)sign;
    st->live_bytes += (uint64_t)(int64_t)sign * s->size;
    st->live_estimate += sign * s->estimate;
    size_t slot = filter_slot(s->ptr);
    uint8_t n = atomic_load_explicit(&filter[slot], memory_order_relaxed);
    if (n != FILTER_SATURATED)
        atomic_store_explicit(&filter[slot], (uint8_t)(n + sign), memory_order_relaxed);
}

enum { SAMPLE_DROPPED, SAMPLE_NEW, SAMPLE_REPLACED };

static int sample_insert(const prof_sample_t *s)
{
    if ((prof.samples_used + 1) * 2 > prof.samples_cap && !samples_grow())
        return SAMPLE_DROPPED;
    size_t mask = prof.samples_cap - 1, i = addr_hash(s->ptr) & mask;
    while (prof.samples[i].ptr && prof.samples[i].ptr != s->ptr)
        i = (i + 1) & mask;
    int result = SAMPLE_NEW;
    if (prof.samples[i].ptr) { /* a block whose free never reached us: replace its sample */
        sample_account(&prof.samples[i], -1);
        result = SAMPLE_REPLACED;
    } else {
        prof.samples_used++;
    }
    prof.samples[i] = *s;
    sample_account(s, +1);
    s->stack->alloc_count++;
    s->stack->alloc_bytes += s->size;
    return result;
}

static void sample_delete_at(size_t i)
{
    size_t mask = prof.samples_cap - 1;
    sample_account(&prof.samples[i], -1);
    for (size_t j = (i + 1) & mask; prof.samples[j].ptr; j = (j + 1) & mask) {
        size_t home = addr_hash(prof.samples[j].ptr) & mask;
        if (!cyclic_between(i, home, j)) {
            prof.samples[i] = prof.samples[j];
            i = j;
        }
    }
    prof.samples[i].ptr = 0;
    prof.samples_used--;
}

static bool sample_remove(uintptr_t p)
{
    if (!prof.samples_cap)
        return false;
    size_t mask = prof.samples_cap - 1;
    for (size_t i = addr_hash(p) & mask; prof.samples[i].ptr; i = (i + 1) & mask) {
        if (prof.samples[i].ptr == p) {
            sample_delete_at(i);
            return true;
        }
    }
    return false;
}

static uint64_t frames_hash(const uintptr_t *frames, int depth)
{
    uint64_t h = (uint64_t)depth;
    for (int i = 0; i < depth; i++)
        h = (h ^ frames[i]) * HASH_MULT;
    return h ^ (h >> 29);
}

static size_t stack_home(const void *slot)
{
    return (size_t)(*(prof_stack_t *const *)slot)->hash;
}

static bool stacks_grow(void)
{
    size_t cap = prof.stacks_cap ? prof.stacks_cap * 2 : STACKS_MIN;
    prof_stack_t **fresh =
        table_regrow(prof.stacks, prof.stacks_cap, cap, sizeof *fresh, stack_home);
    if (!fresh)
        return false;
    prof.stacks = fresh;
    prof.stacks_cap = cap;
    return true;
}

static void *pool_alloc(size_t size)
{
    return arc_os_bump(&prof.pool, (size + 15) & ~(size_t)15, POOL_CHUNK);
}

/* The one record of this stack, created on first sight; NULL when memory ran out. */
static prof_stack_t *stack_intern(const uintptr_t *frames, int depth, bool truncated)
{
    uint64_t hash = frames_hash(frames, depth) ^ truncated;
    if ((prof.stacks_used + 1) * 2 > prof.stacks_cap && !stacks_grow())
        return NULL;
    size_t mask = prof.stacks_cap - 1, i = hash & mask;
    for (; prof.stacks[i]; i = (i + 1) & mask) {
        prof_stack_t *st = prof.stacks[i];
        if (st->hash == hash && st->depth == (uint32_t)depth && st->truncated == truncated &&
            memcmp(st->frames, frames, (size_t)depth * sizeof *frames) == 0)
            return st;
    }
    prof_stack_t *st = pool_alloc(sizeof *st + (size_t)depth * sizeof *frames);
    if (!st)
        return NULL;
    st->hash = hash;
    st->depth = (uint32_t)depth;
    st->truncated = truncated;
    memcpy(st->frames, frames, (size_t)depth * sizeof *frames);
    st->next_all = prof.all_stacks;
    prof.all_stacks = st;
    prof.stacks[i] = st;
    prof.stacks_used++;
    return st;
}

/* ---- the hooks ------------------------------------------------------------------------------ */

int64_t arc_prof_sample(uint64_t *rng, const void *p, size_t size, arc_prof_mark_t *mark)
{
    *mark = ARC_PROF_UNMARKED;
    if (!prof.on)
        return INT64_MAX;
    if (prof_busy || arc_unwind_busy()) /* the sampler's or the unwinder's own allocation */
        return (int64_t)prof.mean;
    prof_busy = true;
    uintptr_t frames[ARC_UNWIND_FRAMES_MAX + 1]; /* one more: tells a cut stack */
    int depth = arc_unwind_backtrace(frames, ARC_UNWIND_FRAMES_MAX + 1);
    bool truncated = depth > ARC_UNWIND_FRAMES_MAX;
    if (truncated)
        depth = ARC_UNWIND_FRAMES_MAX;
    /* Sampled with probability 1 - exp(-size / mean): weighting by its inverse makes the
     * estimate of live bytes unbiased (jemalloc's and pprof's unsampling). */
    double estimate = size ? (double)size / math_one_minus_exp_neg((double)size / prof.mean) : 0;
    pthread_mutex_lock(&prof.lock);
    int64_t next = countdown_draw(rng);
    prof_stack_t *st = stack_intern(frames, depth, truncated);
    int added = SAMPLE_DROPPED;
    if (st) {
        prof_sample_t s = {.ptr = (uintptr_t)p, .stack = st, .size = size, .estimate = estimate};
        added = sample_insert(&s);
    }
    if (added == SAMPLE_DROPPED)
        prof.dropped++;
    else
        *mark = added == SAMPLE_NEW ? ARC_PROF_MARK_NEW : ARC_PROF_MARK_AGAIN;
    pthread_mutex_unlock(&prof.lock);
    prof_busy = false;
    return next;
}

/* False when p surely holds no sample: the free path then skips the lock. */
static bool filter_maybe(const void *p)
{
    return filter &&
           atomic_load_explicit(&filter[filter_slot((uintptr_t)p)], memory_order_relaxed) != 0;
}

bool arc_prof_forget(const void *p)
{
    if (!filter_maybe(p))
        return false;
    pthread_mutex_lock(&prof.lock);
    bool removed = sample_remove((uintptr_t)p);
    pthread_mutex_unlock(&prof.lock);
    return removed;
}

void arc_prof_forget_range(uintptr_t lo, size_t bytes)
{
    pthread_mutex_lock(&prof.lock);
    /* Deletion shifts a later entry into slot i: look at i again before moving on. */
    for (size_t i = 0; i < prof.samples_cap;) {
        if (prof.samples[i].ptr && prof.samples[i].ptr - lo < bytes)
            sample_delete_at(i);
        else
            i++;
    }
    pthread_mutex_unlock(&prof.lock);
}

int64_t arc_prof_first_countdown(uint64_t *rng)
{
    *rng = seed_next();
    return prof.on ? countdown_draw(rng) : INT64_MAX;
}

/* ---- the dump ------------------------------------------------------------------------------- */

/* per-mille as "12.3%", right-aligned in 6 columns. */
static void out_percent(arc_out_t *o, double part, double whole)
{
    uint64_t pm = whole > 0 ? (uint64_t)(part * 1000 / whole + 0.5) : 0;
    arc_out_u64(o, pm / 10, 4);
    arc_out_str(o, ".");
    arc_out_u64(o, pm % 10, 0);
    arc_out_str(o, "%");
}

/* A frame's name for the folded format: ';' separates frames and ' ' ends the stack. */
static void out_folded_frame(arc_out_t *o, uintptr_t ip)
{
    char name[PROF_NAME_MAX];
    size_t n = arc_unwind_symbolize(ip, ARC_UNWIND_NAME_FUNC, name, sizeof name);
    for (size_t i = 0; i < n; i++)
        if (name[i] == ';' || name[i] == ' ')
            name[i] = '_';
    arc_out_put(o, name, n);
}

/* Starts o on a fresh file at path, or on stderr when path is NULL; false when the file cannot
 * be written (the caller says so). */
static bool profile_file_open(arc_out_t *o, const char *path)
{
    int fd = path ? arc_os_open_write(path) : arc_report_stderr_fd();
    if (fd < 0)
        return false;
    arc_out_to_fd(o, fd);
    return true;
}

static void profile_file_close(arc_out_t *o)
{
    arc_out_flush(o);
    if (!arc_report_is_stderr(o->fd))
        arc_os_close(o->fd);
}

/* What the dump writes, copied under the lock so that nothing slow runs while it is held
 * (dladdr takes the loader's lock, which a thread sampling inside dlopen may hold). */
typedef struct prof_row { /* one stack */
    const prof_stack_t *stack;
    uint64_t live_count, alloc_count, alloc_bytes;
    double estimate;
} prof_row_t;

typedef struct prof_live {     /* the live samples of one stack and one size */
    const prof_stack_t *stack; /* NULL: empty slot */
    uint64_t size, count;
} prof_live_t;

typedef struct prof_snapshot {
    prof_row_t *rows;
    size_t nrows, rows_cap;
    prof_live_t *live;
    size_t live_cap;
    uint64_t dropped;
} prof_snapshot_t;

typedef struct prof_site {
    uintptr_t ip; /* 0: empty slot */
    double estimate;
    uint64_t samples;
    const prof_stack_t *heaviest; /* whose callers the table shows */
    double heaviest_estimate;
} prof_site_t;

static size_t pow2_above(size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    return cap;
}

/* Caller holds prof.lock. False when the OS refuses the memory. */
static bool snapshot_take(prof_snapshot_t *snap)
{
    snap->rows_cap = prof.stacks_used ? prof.stacks_used : 1;
    snap->live_cap = pow2_above(prof.samples_used);
    snap->rows = table_map(snap->rows_cap, sizeof *snap->rows);
    snap->live = table_map(snap->live_cap, sizeof *snap->live);
    snap->nrows = 0;
    snap->dropped = prof.dropped;
    if (!snap->rows || !snap->live)
        return false;
    for (const prof_stack_t *st = prof.all_stacks; st && snap->nrows < snap->rows_cap;
         st = st->next_all)
        snap->rows[snap->nrows++] =
            (prof_row_t){st, st->live_count, st->alloc_count, st->alloc_bytes, st->live_estimate};
    size_t mask = snap->live_cap - 1;
    for (size_t i = 0; i < prof.samples_cap; i++) {
        const prof_sample_t *s = &prof.samples[i];
        if (!s->ptr)
            continue;
        size_t j = (size_t)((((uintptr_t)s->stack >> ADDR_SHIFT) ^ s->size) * HASH_MULT >> 20);
        for (j &= mask; snap->live[j].stack; j = (j + 1) & mask)
            if (snap->live[j].stack == s->stack && snap->live[j].size == s->size)
                break;
        snap->live[j].stack = s->stack;
        snap->live[j].size = s->size;
        snap->live[j].count++;
    }
    return true;
}

static void snapshot_free(prof_snapshot_t *snap)
{
    if (snap->rows)
        arc_os_unmap(snap->rows, snap->rows_cap * sizeof *snap->rows);
    if (snap->live)
        arc_os_unmap(snap->live, snap->live_cap * sizeof *snap->live);
}

static bool dump_folded(const char *path, const prof_snapshot_t *snap)
{
    arc_out_t o;
    if (!profile_file_open(&o, path))
        return false;
    for (size_t r = 0; r < snap->nrows; r++) {
        const prof_row_t *row = &snap->rows[r];
        if (!row->live_count)
            continue;
        if (row->stack->truncated) /* flame graphs gather the rootless stacks under one box */
            arc_out_str(&o, "[truncated];");
        for (uint32_t i = row->stack->depth; i-- > 0;) {
            out_folded_frame(&o, row->stack->frames[i]);
            if (i)
                arc_out_str(&o, ";");
        }
        if (!row->stack->depth)
            arc_out_str(&o, "[unknown]");
        arc_out_str(&o, " ");
        arc_out_u64(&o, (uint64_t)(row->estimate + 0.5), 0);
        arc_out_str(&o, "\n");
    }
    profile_file_close(&o);
    return true;
}

/* "live_count: live_bytes [alloc_count: alloc_bytes]", the figures of every heap line. */
static void out_counts(arc_out_t *o, const uint64_t counts[4], size_t width)
{
    arc_out_u64(o, counts[0], width);
    arc_out_str(o, ": ");
    arc_out_u64(o, counts[1], width);
    arc_out_str(o, width ? " [" : " [ ");
    arc_out_u64(o, counts[2], width);
    arc_out_str(o, ": ");
    arc_out_u64(o, counts[3], width);
    arc_out_str(o, "] @");
}

static void out_heap_line(arc_out_t *o, const uint64_t counts[4], const prof_stack_t *st)
{
    out_counts(o, counts, 6);
    for (uint32_t i = 0; i < st->depth; i++) {
        arc_out_str(o, " ");
        arc_out_hex(o, st->frames[i]);
    }
    arc_out_str(o, "\n");
}

/* pprof's legacy heap profile ("heap_v2", as gperftools and jemalloc write it): raw sampled
 * counts and bytes, which pprof unsamples line by line from the line's average size. So live
 * samples get one line per stack and size (their average is exact, and pprof's estimate equals
 * the folded file's), and each stack's allocation totals one more line. */
static void dump_heap(const char *path, const prof_snapshot_t *snap)
{
    arc_out_t o;
    if (!profile_file_open(&o, path)) {
        arc_report_warning("cannot write the heap profile ", path);
        return;
    }
    uint64_t totals[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < snap->live_cap; i++) {
        totals[0] += snap->live[i].count;
        totals[1] += snap->live[i].count * snap->live[i].size;
    }
    for (size_t r = 0; r < snap->nrows; r++) {
        totals[2] += snap->rows[r].alloc_count;
        totals[3] += snap->rows[r].alloc_bytes;
    }
    arc_out_str(&o, "heap profile: ");
    out_counts(&o, totals, 0);
    arc_out_str(&o, " heap_v2/");
    arc_out_u64(&o, prof.mean, 0);
    arc_out_str(&o, "\n");
    for (size_t i = 0; i < snap->live_cap; i++) {
        const prof_live_t *l = &snap->live[i];
        if (l->stack)
            out_heap_line(&o, (const uint64_t[4]){l->count, l->count * l->size, 0, 0}, l->stack);
    }
    for (size_t r = 0; r < snap->nrows; r++) {
        const prof_row_t *row = &snap->rows[r];
        if (row->alloc_count)
            out_heap_line(&o, (const uint64_t[4]){0, 0, row->alloc_count, row->alloc_bytes},
                          row->stack);
    }
    arc_out_str(&o, "\nMAPPED_LIBRARIES:\n");
    int maps = arc_os_open_read("/proc/self/maps");
    if (maps >= 0) {
        char chunk[PROF_MAPS_CHUNK];
        long got;
        while ((got = arc_os_read(maps, chunk, sizeof chunk)) > 0)
            arc_out_put(&o, chunk, (size_t)got);
        arc_os_close(maps);
    }
    profile_file_close(&o);
}

/* The live heap by allocation site (the innermost frame), heaviest first; on stderr when path
 * is NULL. */
static void dump_top(const char *path, const prof_snapshot_t *snap)
{
    size_t cap = pow2_above(snap->nrows);
    prof_site_t *sites = table_map(cap, sizeof *sites);
    if (!sites)
        return;
    double total = 0;
    uint64_t samples = 0;
    size_t nsites = 0;
    for (size_t r = 0; r < snap->nrows; r++) {
        const prof_row_t *row = &snap->rows[r];
        if (!row->live_count)
            continue;
        uintptr_t ip = row->stack->depth ? row->stack->frames[0] : 1;
        size_t i = addr_hash(ip) & (cap - 1);
        while (sites[i].ip && sites[i].ip != ip)
            i = (i + 1) & (cap - 1);
        nsites += !sites[i].ip;
        sites[i].ip = ip;
        sites[i].estimate += row->estimate;
        sites[i].samples += row->live_count;
        if (!sites[i].heaviest || row->estimate > sites[i].heaviest_estimate) {
            sites[i].heaviest = row->stack;
            sites[i].heaviest_estimate = row->estimate;
        }
        total += row->estimate;
        samples += row->live_count;
    }
    arc_out_t o;
    if (profile_file_open(&o, path)) {
        arc_out_str(&o, "arcalloc heap profile: live bytes by allocation site, top ");
        arc_out_u64(&o, nsites < PROF_TOP_SITES ? nsites : PROF_TOP_SITES, 0);
        arc_out_str(&o, " of ");
        arc_out_u64(&o, nsites, 0);
        arc_out_str(&o, "\npid ");
        arc_out_u64(&o, (uint64_t)arc_os_getpid(), 0);
        arc_out_str(&o, ", one sample every ");
        arc_out_u64(&o, prof.mean, 0);
        arc_out_str(&o, " bytes on average, ");
        arc_out_u64(&o, samples, 0);
        arc_out_str(&o, " live samples (");
        arc_out_u64(&o, snap->dropped, 0);
        arc_out_str(&o, " dropped)\nestimated live bytes: ");
        arc_out_u64(&o, (uint64_t)(total + 0.5), 0);
        arc_out_str(&o, "\n\n       bytes   share    cum  samples  site  <- callers\n");
        double cumulative = 0;
        for (int k = 0; k < PROF_TOP_SITES; k++) {
            prof_site_t *best = NULL;
            for (size_t i = 0; i < cap; i++)
                if (sites[i].ip && sites[i].estimate >= 0 &&
                    (!best || sites[i].estimate > best->estimate))
                    best = &sites[i];
            if (!best)
                break;
            cumulative += best->estimate;
            arc_out_u64(&o, (uint64_t)(best->estimate + 0.5), 12);
            out_percent(&o, best->estimate, total);
            out_percent(&o, cumulative, total);
            arc_out_u64(&o, best->samples, 9);
            arc_out_str(&o, "  ");
            const prof_stack_t *st = best->heaviest;
            char name[PROF_NAME_MAX];
            for (uint32_t i = 0; i < st->depth && i <= PROF_TOP_CALLERS; i++) {
                if (i)
                    arc_out_str(&o, "  <- ");
                arc_unwind_symbolize(st->frames[i], ARC_UNWIND_NAME_FULL, name, sizeof name);
                arc_out_str(&o, name);
            }
            arc_out_str(&o, st->depth ? "\n" : "[unknown]\n");
            best->estimate = -1; /* printed */
        }
        profile_file_close(&o);
    } else {
        arc_report_warning("cannot write the heap profile ", path);
    }
    arc_os_unmap(sites, cap * sizeof *sites);
}

/* Writes the three files from a snapshot, named after ARCALLOC_PROF_FILE with `tag` before
 * their suffix ("" at exit and on the signal, ".peak" for the peak). When the folded file
 * cannot be written, one warning names it and, with `fallback`, the top sites go to stderr
 * instead (not for the peak's files: a growing program would print them again and again). */
static void dump_files(const prof_snapshot_t *snap, const char *tag, bool fallback)
{
    char folded[PROF_PATH_MAX], path[PROF_PATH_MAX];
    if (!arc_out_path_expand(prof.file, folded, sizeof folded, NULL))
        arc_report_warning("ARCALLOC_PROF_FILE: path too long; profile cut to it", NULL);
    size_t len = strlen(folded), suffix = strlen(FOLDED_SUFFIX);
    size_t base =
        len > suffix && strcmp(folded + len - suffix, FOLDED_SUFFIX) == 0 ? len - suffix : len;
    memcpy(path, folded, base);
    base = arc_text_append(path, sizeof path, base, tag);
    arc_text_append(path, sizeof path, base, FOLDED_SUFFIX);
    if (!dump_folded(path, snap)) {
        if (!prof.file_warned) {
            char line[PROF_LINE_MAX];
            size_t n = arc_text_append(line, sizeof line, 0, "ARCALLOC_PROF_FILE: cannot write ");
            n = arc_text_append(line, sizeof line, n, path);
            arc_text_append(line, sizeof line, n,
                            " (nor the .heap beside it); the top allocation sites go to stderr");
            arc_report_warning(line, NULL);
            prof.file_warned = true;
        }
        if (fallback)
            dump_top(NULL, snap);
        return;
    }
    arc_text_append(path, sizeof path, base, HEAP_SUFFIX);
    dump_heap(path, snap);
    arc_text_append(path, sizeof path, base, TOP_SUFFIX);
    dump_top(path, snap);
}

/* The dump at exit or on the signal, or (`peak`) the one at a new peak: written whatever
 * changed, under the ".peak" names, with no stderr fallback. */
static void prof_dump(bool peak)
{
    if (!prof.on || prof_busy)
        return;
    prof_busy = true;
    pthread_mutex_lock(&dump_lock);
    /* Nothing changed since the last dump (the statistics' dump at exit after ours): the files
     * already say it. */
    prof_snapshot_t snap = {.rows = NULL, .live = NULL};
    pthread_mutex_lock(&prof.lock);
    bool fresh = peak || prof.dumped != prof.generation + 1;
    bool ok = fresh && snapshot_take(&snap);
    if (ok && !peak)
        prof.dumped = prof.generation + 1;
    pthread_mutex_unlock(&prof.lock);
    if (ok)
        dump_files(&snap, peak ? PEAK_TAG : "", !peak);
    snapshot_free(&snap);
    pthread_mutex_unlock(&dump_lock);
    prof_busy = false;
}

void arc_prof_dump(void)
{
    prof_dump(false);
}

void arc_prof_dump_peak(void)
{
    prof_dump(true);
}

/* ---- start-up ------------------------------------------------------------------------------- */

static bool stats_on(void)
{
    return arc_option_int(ARC_OPT_STATS) != 0; /* 0: off, else the report's format */
}

static void prof_at_exit(void)
{
    arc_prof_dump();
}

/* A child may have forked while another thread held the lock (samples are taken under shared
 * heaps' locks, so the lock cannot be taken before fork without inverting that order). */
static void prof_fork_child(void)
{
    pthread_mutex_init(&prof.lock, NULL);
    pthread_mutex_init(&dump_lock, NULL);
    prof.dumped = 0; /* the child's files carry its own pid */
}

void arc_prof_start(void)
{
    if (arc_option_int(ARC_OPT_PROF) == 0)
        return;
    uint64_t mean = (uint64_t)arc_option_int(ARC_OPT_PROF_SAMPLE);
    prof.mean = mean ? mean : PROF_SAMPLE_DEFAULT;
    const char *file = arc_option_str(ARC_OPT_PROF_FILE);
    arc_text_append(prof.file, sizeof prof.file, 0, file && *file ? file : PROF_FILE_DEFAULT);
    arc_report_keep_stderr();
    filter = arc_os_map(FILTER_SLOTS * sizeof *filter);
    if (!filter) {
        arc_report_warning("heap profiling off: no memory for its tables", NULL);
        return;
    }
    pthread_atfork(NULL, NULL, prof_fork_child);
    /* With ARCALLOC_STATS the statistics dump at exit writes the profile too. */
    if (!stats_on())
        atexit(prof_at_exit);
    prof.on = true;
}

#else
/* ISO C wants a declaration in every translation unit. */
typedef int arc_prof_compiled_out;
#endif
