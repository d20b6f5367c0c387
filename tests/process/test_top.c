/* test_top.c: the window's accessible top (src/process/arena.c, "the accessible top"): arcalloc's
 * reserved range is PROT_NONE above the highest page it ever handed out, so a linear overflow
 * that runs off the end of the heap faults instead of writing into reserved memory. One case per
 * run, named by the argument; meson runs each with its settings:
 *
 *   overflow  children (this program again, secure mode off: its guards would stop them anyway)
 *             that malloc one block as their only one and write 1 MiB past its end die of
 *             SIGSEGV: 8 B (in the heap's one segment) and 256 KiB (the top large run); the same
 *             children writing nothing past the end exit normally.
 *   maps      /proc/self/maps: the window is readable and writable up to the top and PROT_NONE
 *             from there to its end, the top being the highest run's end rounded up to the OS
 *             page while huge pages are off, to the 2 MiB huge page while they are on (where the
 *             kernel has them: ARCALLOC_HUGEPAGES=1 from the start, auto once an 8 MiB run is
 *             in use, which rounds the top up at once); freeing the highest run (given back at
 *             once: ARCALLOC_DECAY=0) does not lower it, and a run placed below it does not raise
 *             it. Secure mode off, the window is exactly those two mappings. Huge pages and
 *             secure mode off: past 16 MiB of open window a rise opens a 32nd of it ahead, and
 *             runs that fit under that top leave it where it is.
 *   grow      a heap grown to many segments and large runs, freed and allocated again; a large
 *             block moved by realloc's mremap and its old range (mapped anew) reused; a forked
 *             child growing the heap further: every byte as written, at most about one page
 *             fault per page touched growing and no more allocating again, and the PROT_NONE
 *             part of the window still starting at the top of what was handed out. */
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arcalloc.h"
#include "check.h"
#include "os_page.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

/* The overflow: as far as the security matrix's overflow_1m cases write (tests/security). */
#define OVERFLOW_BYTES MIB
/* The top large run of the overflow case: a page run (above 128 KiB), below the 4 MiB in use at
 * which ARCALLOC_HUGEPAGES=auto turns huge pages on (then the top is exact). */
#define TOP_RUN_BYTES (256 * KIB)
/* Exit status of a child that could not allocate its block. */
#define EXIT_SETUP 3
/* The window's alignment (src/process/arena.c, WINDOW_ALIGN): its reservation is aligned to
 * this, or to its own size when that is less. */
#define WINDOW_ALIGN_MAX ((size_t)ARC_PAGES_MAX_ALIGN)
/* The huge page the top rounds up to while huge pages are on (src/process/arena.h). */
#define HUGE_PAGE ((size_t)2 * MIB)
/* A heap segment: 1 MiB, aligned to 1 MiB (src/process/arena.h, ARC_SEGMENT_SIZE). */
#define SEGMENT ((size_t)1 * MIB)

/* The maps case: a large block above the first one; freed, then a smaller one placed on it. */
#define MAPS_HIGH_BYTES  (8 * MIB)
#define MAPS_BELOW_BYTES (4 * MIB)

/* The grow case: small and medium blocks over many segments (one in GROW_MEDIUM_ONE_IN up to
 * GROW_SMALL_MAX, the others up to GROW_SMALL_MAX / GROW_SMALL_DIV), then large runs of growing
 * sizes. */
#define GROW_SMALL_BYTES   (24 * MIB)
#define GROW_SMALL_MIN     16u
#define GROW_SMALL_MAX     (64u * 1024u)
#define GROW_SMALL_DIV     64u
#define GROW_MEDIUM_ONE_IN 4u
#define GROW_LARGE_RUNS    16
#define GROW_LARGE_MIN     (256 * KIB)
#define GROW_LARGE_STEP    (192 * KIB)
#define GROW_BLOCKS_MAX    16384
/* The realloc move: a block of at least 1 MiB (arena.h, ARC_LARGE_MOVE_MIN) blocked by the next
 * one, grown to MOVE_TO. */
#define MOVE_FROM (2 * MIB)
#define MOVE_TO   (8 * MIB)
#define MOVE_NEXT (256 * KIB)
/* The forked child's heap growth. */
#define FORK_BYTES (32 * MIB)
/* Faults allowed growing, per page touched, beyond one: span and segment headers, the page map,
 * the program's own pages (a tenth); and a fixed allowance for start-up and stdio. */
#define FAULTS_SLACK_DIV   10
#define FAULTS_SLACK_FIXED 512

/* ---- /proc/self/maps ---------------------------------------------------------------------- */

typedef struct mapping {
    uintptr_t start, end;
    char perms[5];
} mapping_t;

#define MAPS_MAX   4096
#define MAPS_CHARS ((size_t)1 << 18)
static mapping_t maps[MAPS_MAX];
static size_t maps_count;
static char maps_text[MAPS_CHARS];

/* Reads /proc/self/maps into maps[] with read(2) only: no allocation, which could move the top
 * while it is being read. */
static bool maps_read(void)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    size_t len = 0;
    ssize_t n;
    if (fd < 0)
        return false;
    while (len < MAPS_CHARS - 1 && (n = read(fd, maps_text + len, MAPS_CHARS - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    maps_text[len] = '\0';
    maps_count = 0;
    for (char *line = maps_text; *line && maps_count < MAPS_MAX;) {
        mapping_t *m = &maps[maps_count];
        char *eol = strchr(line, '\n');
        if (eol)
            *eol = '\0';
        unsigned long start, end;
        if (sscanf(line, "%lx-%lx %4s", &start, &end, m->perms) == 3) {
            m->start = start;
            m->end = end;
            maps_count++;
        }
        if (!eol)
            break;
        line = eol + 1;
    }
    return maps_count > 0;
}

static const mapping_t *maps_find(uintptr_t addr)
{
    for (size_t i = 0; i < maps_count; i++)
        if (maps[i].start <= addr && addr < maps[i].end)
            return &maps[i];
    return NULL;
}

/* The window [base, end) as a test sees it. `guard`: secure mode's guard after the highest run,
 * PROT_NONE below the top while the run is live (0 without secure mode). `two`: nothing but the
 * open part and the closed part is mapped in the window (secure mode off, no mremap done). */
typedef struct window {
    uintptr_t base, end;
    size_t guard;
    bool two;
} window_t;

/* The window holding p, from its size (arc_stats) and alignment. */
static window_t window_of(const void *p, size_t guard, bool two)
{
    struct arc_stats s;
    arc_stats_get(&s);
    size_t size = (size_t)s.address_space_bytes;
    size_t align = size < WINDOW_ALIGN_MAX ? size : WINDOW_ALIGN_MAX;
    uintptr_t base = (uintptr_t)p & ~(uintptr_t)(align - 1);
    return (window_t){.base = base, .end = base + size, .guard = guard, .two = two};
}

/* The window is open below `top` (but a live run's guard right below it) and closed (PROT_NONE)
 * from it to the window's end (or beyond: the kernel may merge a neighbour's PROT_NONE mapping).
 * With w->two, [base, top) is one mapping and [top, end) another. Fresh maps read first. */
static void check_top(const window_t *w, const char *when, uintptr_t top)
{
    uintptr_t base = w->base, end = w->end, closed = top - w->guard;
    CHECKF(maps_read(), "%s: /proc/self/maps unreadable", when);
    const mapping_t *below = maps_find(closed - 1), *above = maps_find(top);
    CHECKF(below && strcmp(below->perms, "rw-p") == 0, "%s: the page below the top %#lx is %s",
           when, (unsigned long)top, below ? below->perms : "unmapped");
    CHECKF(above && strcmp(above->perms, "---p") == 0 && above->start >= closed &&
               above->start <= top && above->end >= end,
           "%s: the window above %#lx is %s %#lx-%#lx, not PROT_NONE from there to %#lx", when,
           (unsigned long)top, above ? above->perms : "unmapped",
           above ? (unsigned long)above->start : 0UL, above ? (unsigned long)above->end : 0UL,
           (unsigned long)end);
    if (!w->two)
        return;
    size_t inside = 0;
    for (size_t i = 0; i < maps_count; i++)
        inside += maps[i].start < end && base < maps[i].end;
    CHECKF(inside == 2 && below && below->start <= base, "%s: %zu mappings in the window %#lx-%#lx",
           when, inside, (unsigned long)base, (unsigned long)end);
}

static uintptr_t round_up(uintptr_t x, size_t unit)
{
    return (x + unit - 1) / unit * unit;
}

/* Whether the kernel gives arcalloc huge pages when it asks: its THP mode is not never, with
 * 2 MiB huge pages (src/process/arena.c, huge_init). */
static bool thp_usable(void)
{
    char mode[128] = "", size[64] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f) {
        if (!fgets(mode, sizeof mode, f))
            mode[0] = '\0';
        fclose(f);
    }
    f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "r");
    if (f) {
        if (!fgets(size, sizeof size, f))
            size[0] = '\0';
        fclose(f);
    }
    return mode[0] && !strstr(mode, "[never]") && strtoull(size, NULL, 10) == HUGE_PAGE;
}

/* ---- overflow ------------------------------------------------------------------------------ */

/* The child: one block of `size` bytes, the process's only one, then `past` bytes written after
 * its end. Returns only when it survived. */
static int child_overflow(size_t size, size_t past)
{
    unsigned char *p = malloc(size);
    if (!p)
        return EXIT_SETUP;
    memset(p, 0x11, size);
    memset(p + size, 0x5a, past);
    CHECK_KEEP(p);
    return 0;
}

/* Runs "child SIZE PAST" with secure mode off; waitpid's status. */
static int run_child(size_t size, size_t past)
{
    char size_arg[32], past_arg[32];
    snprintf(size_arg, sizeof size_arg, "%zu", size);
    snprintf(past_arg, sizeof past_arg, "%zu", past);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        setenv("ARCALLOC_SECURE", "0", 1);
        char *argv[] = {"test_top", "child", size_arg, past_arg, NULL};
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    int status = -1;
    if (pid > 0)
        waitpid(pid, &status, 0);
    return status;
}

static void case_overflow(void)
{
    const size_t sizes[] = {8, TOP_RUN_BYTES};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int status = run_child(sizes[i], 0);
        CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
               "malloc(%zu), nothing written past it: status %#x", sizes[i], status);
        status = run_child(sizes[i], OVERFLOW_BYTES);
        CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
               "malloc(%zu), 1 MiB written past it: status %#x, not SIGSEGV", sizes[i], status);
    }
}

/* ---- maps ---------------------------------------------------------------------------------- */

/* Where the window's closed part starts now: the PROT_NONE mapping that runs to its end. */
static uintptr_t closed_from(const window_t *w)
{
    if (!maps_read())
        return 0;
    for (size_t i = 0; i < maps_count; i++)
        if (maps[i].start >= w->base && maps[i].start < w->end && maps[i].end >= w->end &&
            strcmp(maps[i].perms, "---p") == 0)
            return maps[i].start;
    return 0;
}

/* Huge pages off: past AHEAD_FROM of open window a rise opens 1/AHEAD_DIV of it beyond the old
 * top at least (src/process/arena.c, TOP_AHEAD_FROM and TOP_AHEAD_DIV), so the next run above
 * needs no call; below that the top is the run's end. AHEAD_FILL_BYTES blocks take the window
 * past AHEAD_FROM, then AHEAD_RUN_BYTES runs rise above the top one after another. */
#define AHEAD_FROM       (16 * MIB)
#define AHEAD_DIV        32u
#define AHEAD_FILL_BYTES (4 * MIB)
#define AHEAD_RUN_BYTES  (256 * KIB)
#define AHEAD_BLOCKS     16u

static void check_ahead(const window_t *w)
{
    void *blocks[AHEAD_BLOCKS] = {0};
    size_t n = 0, exact_rises = 0, ahead_rises = 0, wrong = 0, quiet = 0;
    for (; n < AHEAD_BLOCKS; n++) {
        uintptr_t before = closed_from(w);
        size_t size = before - w->base < AHEAD_FROM ? AHEAD_FILL_BYTES : AHEAD_RUN_BYTES;
        unsigned char *p = blocks[n] = malloc(size);
        if (!p || !before)
            break;
        memset(p, 5, size);
        uintptr_t after = closed_from(w),
                  end = round_up((uintptr_t)p + size + w->guard, test_os_page());
        size_t open = before - w->base;
        uintptr_t expect = end <= before ? before : end;
        if (end > before && open >= AHEAD_FROM) {
            uintptr_t ahead = round_up(before + open / AHEAD_DIV, test_os_page());
            expect = ahead > end ? ahead : end;
            ahead_rises += ahead > end;
        }
        exact_rises += end > before && open < AHEAD_FROM;
        quiet += end <= before && open >= AHEAD_FROM;
        wrong += after != expect;
        if (after != expect)
            printf("block %zu (%zu KiB): top %#lx -> %#lx, expected %#lx\n", n, size / KIB,
                   (unsigned long)before, (unsigned long)after, (unsigned long)expect);
    }
    CHECKF(n == AHEAD_BLOCKS && wrong == 0 && exact_rises >= 1 && ahead_rises >= 1 && quiet >= 1,
           "the top ahead: %zu blocks, %zu tops not as expected, %zu exact rises, %zu ahead, "
           "%zu runs under an ahead top",
           n, wrong, exact_rises, ahead_rises, quiet);
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
}

static void case_maps(void)
{
    /* First, before stdio allocates: the heap's segment, then a large run above it. */
    unsigned char *small = malloc(8), *run = malloc(TOP_RUN_BYTES);
    CHECK(small && run);
    if (!small || !run)
        return;
    /* Huge pages: on from the start with ARCALLOC_HUGEPAGES=1, from the 8 MiB run on (4 MiB in
     * use) with auto, never with 0; only where the kernel has them. */
    const char *setting = getenv("ARCALLOC_HUGEPAGES");
    bool on = setting && strcmp(setting, "1") == 0, off = setting && strcmp(setting, "0") == 0;
    bool thp = thp_usable();
    size_t grain = on && thp ? HUGE_PAGE : test_os_page();
    size_t high_grain = !off && thp ? HUGE_PAGE : test_os_page(), guard = test_guard_bytes();
    window_t w = window_of(small, guard, guard == 0);
    printf("window %#lx-%#lx, top grain %zu KiB, then %zu KiB%s\n", (unsigned long)w.base,
           (unsigned long)w.end, grain / KIB, high_grain / KIB,
           guard ? ", secure mode's guards" : "");
    /* Secure mode: the run's tail guard (PROT_NONE while it is live) is below the top. */
    uintptr_t top = round_up((uintptr_t)run + TOP_RUN_BYTES + guard, grain);
    memset(small, 1, 8);
    memset(run, 2, TOP_RUN_BYTES);
    check_top(&w, "a segment and a 256 KiB run", top);

    unsigned char *high = malloc(MAPS_HIGH_BYTES);
    CHECK(high != NULL);
    if (!high)
        return;
    memset(high, 3, MAPS_HIGH_BYTES);
    uintptr_t high_top = round_up((uintptr_t)high + MAPS_HIGH_BYTES + guard, high_grain);
    CHECKF(high_top > top, "the 8 MiB block %p is not above the top %#lx", (void *)high,
           (unsigned long)top);
    check_top(&w, "an 8 MiB run above", high_top);
    free(high);  /* ARCALLOC_DECAY=0: given back at once */
    w.guard = 0; /* opened with the run's pages when it went back */
    check_top(&w, "the 8 MiB run freed", high_top);
    unsigned char *below = malloc(MAPS_BELOW_BYTES);
    CHECK(below != NULL && (uintptr_t)below + MAPS_BELOW_BYTES <= high_top);
    if (below)
        fill_kept(below, 4, MAPS_BELOW_BYTES);
    check_top(&w, "a 4 MiB run below the top", high_top);
    if (off && guard == 0) /* secure mode's guards below the top merge with the closed part */
        check_ahead(&w);
    free(below);
    free(run);
    free(small);
}

/* ---- grow ---------------------------------------------------------------------------------- */

static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

typedef struct grown {
    unsigned char *block[GROW_BLOCKS_MAX];
    size_t size[GROW_BLOCKS_MAX];
    size_t count, bytes;
} grown_t;

/* The highest end of a block this process ever had. */
static uintptr_t high_water;

static void note_block(const void *p, size_t size)
{
    if ((uintptr_t)p + size > high_water)
        high_water = (uintptr_t)p + size;
}

/* One more block of `size` bytes in g, every byte written; false when malloc failed. */
static bool grown_add(grown_t *g, size_t size, unsigned tag)
{
    unsigned char *p = malloc(size);
    CHECK(p != NULL);
    if (!p)
        return false;
    memset(p, (int)((g->count + tag) & 0xff), size);
    note_block(p, size);
    g->block[g->count] = p;
    g->size[g->count++] = size;
    g->bytes += size;
    return true;
}

/* Allocates the heap (small and medium blocks, then large runs). */
static void grow(grown_t *g, unsigned tag)
{
    check_rng_t rng = {0x2545f4914f6cdd1dULL};
    g->count = g->bytes = 0;
    while (g->bytes < GROW_SMALL_BYTES && g->count < GROW_BLOCKS_MAX) {
        size_t size = (size_t)check_range(&rng, GROW_SMALL_MIN, GROW_SMALL_MAX);
        if (check_range(&rng, 0, GROW_MEDIUM_ONE_IN - 1)) /* mostly small */
            size = size / GROW_SMALL_DIV + GROW_SMALL_MIN;
        if (!grown_add(g, size, tag))
            return;
    }
    for (size_t i = 0; i < GROW_LARGE_RUNS && g->count < GROW_BLOCKS_MAX; i++)
        if (!grown_add(g, GROW_LARGE_MIN + i * GROW_LARGE_STEP, tag))
            return;
}

/* Checks every block's bytes and frees them. */
static void shrink(grown_t *g, unsigned tag)
{
    size_t bad = 0;
    for (size_t i = 0; i < g->count; i++) {
        unsigned char want = (unsigned char)((i + tag) & 0xff);
        for (size_t k = 0; k < g->size[i]; k++)
            bad += g->block[i][k] != want;
        free(g->block[i]);
    }
    CHECKF(bad == 0, "%zu bytes of %zu blocks changed", bad, g->count);
    g->count = 0;
}

static size_t first_not(const unsigned char *p, size_t n, unsigned char v)
{
    size_t i = 0;
    while (i < n && p[i] == v)
        i++;
    return i;
}

/* realloc's move: a block blocked by the next one grows by mremap; its old range, mapped anew,
 * is then reused. At the start of the process, where the lowest free pages are predictable. */
static void grow_move(void)
{
    struct arc_stats before, after;
    arc_stats_get(&before);
    unsigned char *a = malloc(MOVE_FROM), *next = malloc(MOVE_NEXT);
    CHECK(a && next);
    if (!a || !next)
        return;
    memset(a, 0x6b, MOVE_FROM);
    note_block(next, MOVE_NEXT);
    unsigned char *old = a;
    a = realloc(a, MOVE_TO);
    CHECK(a != NULL);
    if (!a)
        return;
    note_block(a, MOVE_TO);
    arc_stats_get(&after);
    CHECKF(first_not(a, MOVE_FROM, 0x6b) == MOVE_FROM, "the moved block's bytes changed");
    memset(a, 0x6c, MOVE_TO);
    /* The old range's pages came back fresh: a block placed there is written whole. Nothing
     * allocated in between (stdio's buffer would take the free pages before it). */
    unsigned char *reuse = malloc(MOVE_FROM);
    CHECK(reuse != NULL);
    if (reuse) {
        memset(reuse, 0x6d, MOVE_FROM);
        CHECK(first_not(reuse, MOVE_FROM, 0x6d) == MOVE_FROM);
    }
    if (after.stats_enabled) /* arcalloc's own placement: said, not checked */
        printf("realloc %zu -> %zu MiB %s (%llu mremap call), a %zu MiB block then %s its old "
               "range\n",
               MOVE_FROM / MIB, MOVE_TO / MIB, a == old ? "in place" : "moved",
               (unsigned long long)(after.mremap_calls - before.mremap_calls), MOVE_FROM / MIB,
               reuse == old ? "reuses" : "does not reuse");
    CHECK(first_not(a, MOVE_TO, 0x6c) == MOVE_TO);
    free(reuse);
    free(a);
    free(next);
}

/* A child of fork grows the heap above the parent's top. */
static void grow_fork(void)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        unsigned char *p = malloc(FORK_BYTES);
        if (!p)
            _exit(EXIT_SETUP);
        memset(p, 0x77, FORK_BYTES);
        _exit(first_not(p, FORK_BYTES, 0x77) == FORK_BYTES ? 0 : 1);
    }
    int status = -1;
    if (pid > 0)
        waitpid(pid, &status, 0);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "forked child: status %#x", status);
}

static void case_grow(void)
{
    static grown_t g;
    grow_move();
    long f0 = minor_faults();
    grow(&g, 0);
    long f1 = minor_faults();
    size_t touched_pages = g.bytes / ARC_PAGE_SIZE, blocks = g.count;
    shrink(&g, 0);
    long f2 = minor_faults();
    grow(&g, 1);
    long f3 = minor_faults();
    shrink(&g, 1);
    grow_fork();
    long grown = f1 - f0, again = f3 - f2;
    printf("grown %zu MiB in %zu blocks: %ld page faults (%zu pages written); allocated again: "
           "%ld\n",
           g.bytes / MIB, blocks, grown, touched_pages, again);
    CHECKF((size_t)grown <= touched_pages + touched_pages / FAULTS_SLACK_DIV + FAULTS_SLACK_FIXED,
           "growing took %ld faults for %zu pages", grown, touched_pages);
    CHECKF(again <= grown, "allocating again took %ld faults, growing %ld", again, grown);
    /* The top: at the end of what was handed out (a segment holding the highest block ends at
     * most at the next segment boundary), and nothing past it open. */
    uintptr_t top = 0;
    window_t w = window_of((void *)(high_water - 1), 0, false); /* secure mode off (meson.build) */
    CHECK(maps_read());
    const mapping_t *m = maps_find(high_water - 1);
    if (m && strcmp(m->perms, "rw-p") == 0) {
        while ((m = maps_find(m->end)) && strcmp(m->perms, "rw-p") == 0)
            ;
        top = m ? m->start : 0;
    }
    CHECKF(top >= high_water && top <= round_up(high_water, SEGMENT),
           "the highest block ends at %#lx, the window is open up to %#lx",
           (unsigned long)high_water, (unsigned long)top);
    if (top)
        check_top(&w, "the heap grown, freed and grown again", top);
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "";
    if (strcmp(which, "child") == 0 && argc == 4)
        return child_overflow(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10));
    if (strcmp(which, "overflow") == 0)
        case_overflow();
    else if (strcmp(which, "maps") == 0)
        case_maps();
    else if (strcmp(which, "grow") == 0)
        case_grow();
    else {
        fprintf(stderr, "usage: test_top overflow|maps|grow\n");
        return 2;
    }
    return check_done();
}
