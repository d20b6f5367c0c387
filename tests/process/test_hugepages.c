/* test_hugepages.c: transparent huge pages under arcalloc (ARCALLOC_HUGEPAGES, docs/design.md
 * "Huge pages"). One case per run, named by the argument; meson runs each with its setting:
 *
 *   big    (auto) 64 MiB of small blocks, touched: where the kernel's THP mode is madvise or
 *          always, the mappings holding them have AnonHugePages > 0 (and so has
 *          /proc/self/smaps_rollup); where it is never, both are 0 and the blocks still work.
 *   small  (auto) 2 MiB of small blocks, below the 4 MiB of one heap's segments at which auto
 *          turns huge pages on: none back them in any mode, and RSS grows by about what was
 *          touched.
 *   off    (ARCALLOC_HUGEPAGES=0) the 64 MiB of `big`: none back them in any mode.
 *   on     (ARCALLOC_HUGEPAGES=1) the 2 MiB of `small`: huge pages back them at once where the
 *          kernel allows them (0 where its mode is never).
 *   pool   (auto) POOL_THREADS threads, each with POOL_BLOCKS small blocks in its own heap, all
 *          live at once: a heap's first segment does not count toward the threshold, so huge
 *          pages stay off (no `hg` on the window) and RSS grows by about what the threads
 *          touched, not by a resident 2 MiB per pair of segments.
 *   reuse  (auto) a small heap and a 16 MiB block freed and taken again REUSE_ROUNDS times: the
 *          block's first allocation turns huge pages on and its first free off, and the block
 *          taken back from the cache, resident as it was, switches nothing: at most two
 *          madvise calls in all (`hugepage_calls` of arc_stats_get), not two a round. Where
 *          huge pages are never asked for (THP mode never, ARCALLOC_HUGEPAGES=0) there are
 *          none. Secure mode asks for them the same way (its guard pages then keep them from
 *          forming).
 *   sparse (auto) SPARSE_BLOCKS blocks of 64 KiB of which the program writes the first 2 KiB
 *          (a server's connection buffers), 64 MiB in use: the window is resident at 1/32 of
 *          what is in use, so huge pages are never asked for (no `hg`, no AnonHugePages under
 *          the blocks) and RSS grows by about what was touched, not by 64 MiB. Secure mode too:
 *          it clears blocks of 64 KiB or more, at malloc and at free, by the pages the kernel
 *          holds, not by writing every page (where OS pages are 4 KiB: kept_sparse).
 *   late   (auto) the blocks of `sparse`, LATE_BLOCKS of them, after a 4 MiB table the program
 *          fills: that first big run turns huge pages on with no segment to judge by, so they
 *          cover only the runs (arena.h, huge_provisional); the blocks after it are judged and
 *          found sparse, so none of them from LATE_PAST on is under a huge page and RSS grows by
 *          what was written plus the huge page the table's end reaches into (LATE_EXTENT), not by
 *          every 2 MiB extent the blocks reach (192 MiB), nor by the 64 MiB the heap's first
 *          frontier once covered whatever lay there. Secure mode too, as in `sparse`.
 *   runs   (auto) RUNS_COUNT large blocks of RUNS_BYTES beside a small heap, 1.75 MiB in all: under
 *          the threshold, but past the 1 MiB in ARC_HUGE_AUTO_RUNS live runs at which huge pages
 *          go on for runs alone (src/process/arena.h), so the runs after the first huge page
 *          extent are under a huge page where the kernel gives them, and the window asks for them.
 *   onerun (auto) one large block of ONE_RUN_BYTES (2.5 MiB) beside a small heap: one buffer is
 *          a small program still, so no huge page is asked for.
 *   sparseruns (auto) RUNS_SPARSE_COUNT large blocks of 256 KiB of which the program writes the
 *          first 2 KiB (a server's read buffers), 64 MiB in use: the runs handed out are judged
 *          as segments are, found sparse, so huge pages are never asked for and RSS grows by
 *          about what was written (the library before: 64 MiB of huge pages, every run resident
 *          whole).
 *   lateruns (auto) the blocks of `sparseruns`, LATERUNS_COUNT of them, after a 4 MiB table the
 *          program fills: the table turns huge pages on and their cover follows the runs after
 *          it only until the heap's reach has grown by ARC_HUGE_COVER_MIN (16 MiB) past it; the
 *          runs past that are judged, found sparse, and none of them from LATERUNS_PAST on is
 *          under a huge page, so RSS grows by at most the table, those 16 MiB and what was
 *          written, not by every extent the blocks reach (the library before: 196 MiB).
 *   bigruns (auto) a 4 MiB table filled, then BIGRUNS_COUNT blocks of 16 MiB filled: past the
 *          cover's limit the heads of the runs are judged on 4 KiB pages and found dense, and the
 *          rest of each run asks for huge pages at once, so the last blocks are under huge pages
 *          where the kernel gives them, as the first are, and filling them takes at most
 *          BIGRUNS_FAULTS_MAX faults. Secure mode's guards do not split the whole huge pages
 *          inside such a run: there too some of the last runs are under huge pages.
 *
 * Secure mode (a -Dsecure=true build, unless ARCALLOC_SECURE=0) puts a PROT_NONE guard page at
 * the end of every segment and large run, which splits every 2 MiB extent a block ends in: there
 * no case but `bigruns` expects huge pages under the blocks, and each of them checks there are
 * none.
 *
 * Huge pages depend on the kernel finding free 2 MiB of physical memory; on a machine short of
 * it the kernel falls back to 4 KiB pages and `big`/`on` fail with a message that says so. The
 * mode read is printed first, so a log always shows what was expected and why. */
#include <pthread.h>
#include <sys/resource.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arcalloc.h"
#include "arcalloc_config.h"
#include "check.h"
#include "os_page.h"

enum { KIB = 1 << 10, MIB = 1 << 20 };

/* The heap sizes of the cases: `big` is sixteen times the auto threshold (4 MiB of one heap's
 * segments, src/arena.h), so nearly all of it is allocated after huge pages are on; `small` is half
 * of it (its blocks, with size-class rounding and headers, keep the pages in use under 4 MiB). */
#define BIG_BYTES   ((size_t)64 * MIB)
#define SMALL_BYTES ((size_t)2 * MIB)
/* Small blocks: span-sized classes up to 1 KiB (design.md, "Small blocks live in spans"). */
#define BLOCK_MIN 32u
#define BLOCK_MAX 256u
/* `small` may grow RSS by what it touched, plus a quarter for size-class rounding and span and
 * segment headers, plus 1 MiB for the segment the heap fills first: a huge page per 2 MiB
 * touched would add up to 2 MiB more. */
#define SMALL_RSS_SLACK_DIV 4u
#define SMALL_RSS_EXTRA     ((size_t)1 * MIB)

typedef enum { THP_NEVER, THP_MADVISE, THP_ALWAYS } thp_mode_t;

/* The kernel's THP mode: the bracketed word of /sys/kernel/mm/transparent_hugepage/enabled
 * ("always [madvise] never"); never when the file is missing (a kernel without THP). */
static thp_mode_t thp_mode(const char **name)
{
    char buf[128] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            buf[0] = '\0';
        fclose(f);
    }
    if (strstr(buf, "[always]")) {
        *name = "always";
        return THP_ALWAYS;
    }
    if (strstr(buf, "[madvise]")) {
        *name = "madvise";
        return THP_MADVISE;
    }
    *name = f ? "never" : "never (no THP in this kernel)";
    return THP_NEVER;
}

/* AnonHugePages in KiB of the whole process (/proc/self/smaps_rollup). */
static long rollup_huge_kib(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    long kib = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "AnonHugePages:", 14) == 0)
            kib = atol(line + 14);
    fclose(f);
    return kib;
}

/* AnonHugePages in KiB of the mappings that overlap [lo, hi) (/proc/self/smaps): arcalloc's
 * window, where the blocks are, and nothing else of the process. */
static long range_huge_kib(uintptr_t lo, uintptr_t hi)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    long kib = 0;
    bool inside = false;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long start, end;
        /* A mapping's first line: "start-end perms offset dev inode [path]". */
        if (sscanf(line, "%lx-%lx ", &start, &end) == 2 && strchr(line, '-') < strchr(line, ' '))
            inside = start < hi && lo < end;
        else if (inside && strncmp(line, "AnonHugePages:", 14) == 0)
            kib += atol(line + 14);
    }
    fclose(f);
    return kib;
}

/* The VmFlags of the mapping holding p (/proc/self/smaps): 'h' when it has `hg` (MADV_HUGEPAGE),
 * 'n' when `nh` (MADV_NOHUGEPAGE), '-' when neither, '?' when the file or the mapping is missing.
 */
static char huge_flag(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512], flag = '?';
    bool inside = false;
    if (!f)
        return flag;
    while (fgets(line, sizeof line, f)) {
        unsigned long start, end;
        if (sscanf(line, "%lx-%lx ", &start, &end) == 2 && strchr(line, '-') < strchr(line, ' '))
            inside = start <= (uintptr_t)p && (uintptr_t)p < end;
        else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            flag = strstr(line, " hg") ? 'h' : strstr(line, " nh") ? 'n' : '-';
            break;
        }
    }
    fclose(f);
    return flag;
}

/* `reuse`: see the top. The block is the size that turned huge pages on at every allocation and
 * off at every free before a run taken from a cache stopped counting as new pages (two madvise
 * calls over the whole window a round). */
#define REUSE_ROUNDS 32
#define REUSE_BYTES  ((size_t)16 * MIB)
#define REUSE_TOUCH  ((size_t)64 * KIB)
/* Calls asked for over the rounds: on at the first allocation, off at its free. */
#define REUSE_MAX_CALLS 2
/* Secure mode: a freed run waits in quarantine (ARC_LARGE_QUARANTINE_RUNS), so the second round
 * takes fresh pages, a second on and off; from then on the two runs take turns. */
#define REUSE_MAX_CALLS_GUARDED 4

static void reuse(bool asked, bool guarded)
{
    int max_calls = guarded ? REUSE_MAX_CALLS_GUARDED : REUSE_MAX_CALLS;
    char *small = malloc(64);
    CHECK(small != NULL);
    struct arc_stats before, after;
    arc_stats_get(&before);
    size_t bad = 0;
    for (int round = 0; round < REUSE_ROUNDS; round++) {
        char *volatile big = malloc(REUSE_BYTES);
        CHECK(big != NULL);
        if (!big)
            break;
        fill_kept(big, round, REUSE_TOUCH);
        bad += big[REUSE_TOUCH - 1] != (char)round;
        free(big);
    }
    arc_stats_get(&after);
    unsigned long long calls = (unsigned long long)(after.hugepage_calls - before.hugepage_calls);
    char flag = huge_flag(small);
    printf("reuse: %d rounds of a %zu MiB block beside a small heap: %llu huge-page madvise calls; "
           "window flag '%c' after\n",
           REUSE_ROUNDS, REUSE_BYTES / MIB, calls, flag);
    CHECK(bad == 0);
    CHECK(flag != '?');
    if (asked) {
        CHECKF(calls >= 1 && calls <= (unsigned long long)max_calls,
               "%llu huge-page madvise calls in %d rounds (expected 1 to %d)", calls, REUSE_ROUNDS,
               max_calls);
        CHECKF(flag != 'h', "huge pages still asked for with only a small heap in use");
    } else {
        CHECKF(calls == 0 && flag != 'h', "huge pages asked for where none may be");
    }
    free(small);
}

/* `runs` and `onerun`: see the top. Seven runs of 256 KiB after the heap's first segment: the
 * fifth is the first in the second huge page extent, and the first past the runs' 1 MiB. */
#define RUNS_BYTES    ((size_t)256 * KIB)
#define RUNS_COUNT    7
#define ONE_RUN_BYTES ((size_t)2560 * KIB)

static void runs(bool many, bool asked, bool formed)
{
    char *blocks[RUNS_COUNT] = {0};
    size_t count = many ? RUNS_COUNT : 1, size = many ? RUNS_BYTES : ONE_RUN_BYTES;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    char *small = malloc(64);
    CHECK(small != NULL);
    struct arc_stats before, after;
    arc_stats_get(&before);
    for (size_t i = 0; i < count; i++) {
        blocks[i] = malloc(size);
        CHECK(blocks[i] != NULL);
        if (!blocks[i])
            return;
        memset(blocks[i], (int)i + 1, size);
        if ((uintptr_t)blocks[i] < lo)
            lo = (uintptr_t)blocks[i];
        if ((uintptr_t)blocks[i] + size > hi)
            hi = (uintptr_t)blocks[i] + size;
    }
    arc_stats_get(&after);
    unsigned long long calls = (unsigned long long)(after.hugepage_calls - before.hugepage_calls);
    long range = range_huge_kib(lo, hi);
    char flag = huge_flag(blocks[count - 1]);
    printf("%s: %zu blocks of %zu KiB beside a small heap: %llu huge-page madvise calls, window "
           "flag '%c' at the last, AnonHugePages %ld KiB under the blocks\n",
           many ? "runs" : "onerun", count, size / KIB, calls, flag, range);
    CHECK(flag != '?' && range >= 0);
    if (many && asked) {
        CHECKF(calls >= 1 && flag == 'h',
               "%zu runs of %zu KiB did not turn huge pages on (%llu calls, flag '%c')", count,
               size / KIB, calls, flag);
        if (formed)
            CHECKF(range > 0,
                   "no huge page under the runs past the first extent (is memory too fragmented "
                   "for 2 MiB pages? see /proc/buddyinfo)");
    } else {
        CHECKF(calls == 0 && flag != 'h' && range == 0,
               "huge pages asked for (%llu calls, flag '%c', %ld KiB) where none may be", calls,
               flag, range);
    }
    size_t bad = 0;
    for (size_t i = 0; i < count; i++) {
        bad += blocks[i][0] != (char)(i + 1) || blocks[i][size - 1] != (char)(i + 1);
        free(blocks[i]);
    }
    CHECKF(bad == 0, "%zu blocks lost their bytes", bad);
    free(small);
}

/* `sparse`: see the top. 64 MiB in use is sixteen times past the threshold, so every doubling's
 * look at the window finds it sparse. RSS may grow by what was written plus two pages a block
 * that the byte allocator writes (a block's header, a free neighbour's links: buddy splits each
 * 64 KiB request's 128 KiB block), plus the segments' headers and a slack; 2 MiB extents
 * resident whole would add about 64 MiB. */
#define SPARSE_BLOCK          ((size_t)64 * KIB)
#define SPARSE_WRITTEN        ((size_t)2 * KIB)
#define SPARSE_BLOCKS         1024
#define SPARSE_BACKEND_WRITES ((size_t)8 * KIB)
#define SPARSE_RSS_EXTRA      ((size_t)4 * MIB)

/* Allocates n blocks of `size` bytes and writes the first SPARSE_WRITTEN of each (block i with
 * byte i); [*lo, *hi) spans the blocks from `first` on. False when one is refused. */
static bool sparse_fill(char **blocks, size_t n, size_t size, size_t first, uintptr_t *lo,
                        uintptr_t *hi)
{
    *lo = UINTPTR_MAX;
    *hi = 0;
    for (size_t i = 0; i < n; i++) {
        blocks[i] = malloc(size);
        CHECK(blocks[i] != NULL);
        if (!blocks[i])
            return false;
        memset(blocks[i], (int)(i & 0xff), SPARSE_WRITTEN);
        if (i >= first && (uintptr_t)blocks[i] < *lo)
            *lo = (uintptr_t)blocks[i];
        if (i >= first && (uintptr_t)blocks[i] + size > *hi)
            *hi = (uintptr_t)blocks[i] + size;
    }
    return true;
}

/* Checks what sparse_fill wrote and frees the n blocks; how many lost their bytes. */
static size_t sparse_check_free(char **blocks, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        bad +=
            blocks[i][0] != (char)(i & 0xff) || blocks[i][SPARSE_WRITTEN - 1] != (char)(i & 0xff);
        free(blocks[i]);
    }
    return bad;
}

/* Whether the blocks stay as sparse as the program wrote them. Secure mode clears a block of 64
 * KiB or more by the OS pages the kernel holds, writing whole only the OS pages it shares with
 * what lies around it: with 4 KiB pages two of a 64 KiB block's sixteen. With larger pages more
 * of each block is written, and under four OS pages a block (a -Dos_page_size_test=65536 build)
 * is cleared by stores. */
#define SPARSE_OS_PAGE_MAX ((size_t)4 * KIB)
static bool kept_sparse(void)
{
    return !test_secure_on() || test_os_page() <= SPARSE_OS_PAGE_MAX;
}

static void sparse(void)
{
    static char *blocks[SPARSE_BLOCKS];
    malloc_free_kept(1);
    size_t rss_start = check_rss_bytes();
    uintptr_t lo, hi;
    if (!sparse_fill(blocks, SPARSE_BLOCKS, SPARSE_BLOCK, 0, &lo, &hi))
        return;
    size_t rss = check_rss_bytes();
    long range = range_huge_kib(lo, hi);
    char flag = huge_flag(blocks[SPARSE_BLOCKS - 1]);
    printf("sparse: %d blocks of %zu KiB, %zu KiB of each written: RSS %zu -> %zu KiB; "
           "AnonHugePages %ld KiB under them; window flag '%c'\n",
           SPARSE_BLOCKS, SPARSE_BLOCK / KIB, SPARSE_WRITTEN / KIB, rss_start / KIB, rss / KIB,
           range, flag);
    CHECKF(range == 0, "%ld KiB of huge pages under blocks written at 1/32", range);
    CHECK(flag != '?');
    if (kept_sparse()) {
        CHECKF(flag != 'h', "huge pages asked for over a sparse window (flag '%c')", flag);
        size_t limit =
            rss_start + SPARSE_BLOCKS * (SPARSE_WRITTEN + SPARSE_BACKEND_WRITES) + SPARSE_RSS_EXTRA;
        CHECKF(rss <= limit, "sparse blocks grew RSS from %zu to %zu KiB (limit %zu KiB)",
               rss_start / KIB, rss / KIB, limit / KIB);
    }
    size_t bad = sparse_check_free(blocks, SPARSE_BLOCKS);
    CHECKF(bad == 0, "%zu sparse blocks lost their bytes", bad);
}

/* `late`: see the top. The table turns huge pages on at once (it is 3 MiB or more in use).
 * LATE_AHEAD is how far ahead of the heap a dense heap's frontier covers (src/process/arena.h,
 * ARC_HUGE_AHEAD_MIN): the blocks from LATE_PAST on lie beyond it whatever else the window holds
 * below them (LATE_PAST blocks are twice that). LATE_EXTENT: the huge page the table's end
 * reaches into, which the first blocks share. */
#define LATE_TABLE  ((size_t)4 * MIB)
#define LATE_AHEAD  ((size_t)64 * MIB)
#define LATE_EXTENT ((size_t)2 * MIB)
#define LATE_BLOCKS 3072
#define LATE_PAST   (2 * LATE_AHEAD / SPARSE_BLOCK)

/* A LATE_TABLE table the program fills (the index a server builds first); NULL when refused. */
static char *filled_table(void)
{
    char *table = malloc(LATE_TABLE);
    CHECK(table != NULL);
    if (table)
        memset(table, 1, LATE_TABLE);
    return table;
}

static void late(bool huge_possible)
{
    static char *blocks[LATE_BLOCKS];
    malloc_free_kept(1);
    size_t rss_start = check_rss_bytes();
    char *table = filled_table();
    if (!table)
        return;
    uintptr_t lo, hi;
    if (!sparse_fill(blocks, LATE_BLOCKS, SPARSE_BLOCK, LATE_PAST, &lo, &hi))
        return;
    size_t rss = check_rss_bytes();
    long range = range_huge_kib(lo, hi);
    char table_flag = huge_flag(table), flag = huge_flag(blocks[LATE_BLOCKS - 1]);
    printf("late: a %zu MiB table, then %d blocks of %zu KiB with %zu KiB of each written: RSS "
           "%zu -> %zu KiB; AnonHugePages %ld KiB under the last %zu blocks; window flag '%c' at "
           "the table, '%c' at the last block\n",
           LATE_TABLE / MIB, LATE_BLOCKS, SPARSE_BLOCK / KIB, SPARSE_WRITTEN / KIB, rss_start / KIB,
           rss / KIB, range, (size_t)LATE_BLOCKS - LATE_PAST, table_flag, flag);
    CHECK(table_flag != '?' && flag != '?');
    /* The case is what it claims: the table did turn huge pages on. */
    if (huge_possible)
        CHECKF(table_flag == 'h', "the table did not turn huge pages on (flag '%c')", table_flag);
    CHECKF(range == 0, "%ld KiB of huge pages under blocks written at 1/32, past the first %zu MiB",
           range, LATE_AHEAD / MIB);
    if (kept_sparse()) { /* as in `sparse` */
        CHECKF(flag != 'h', "huge pages asked for over the sparse blocks past the first %zu MiB",
               LATE_AHEAD / MIB);
        size_t limit = rss_start + LATE_TABLE + LATE_EXTENT +
                       LATE_BLOCKS * (SPARSE_WRITTEN + SPARSE_BACKEND_WRITES) + SPARSE_RSS_EXTRA;
        CHECKF(rss <= limit,
               "a table and sparse blocks grew RSS from %zu to %zu KiB (limit %zu KiB)",
               rss_start / KIB, rss / KIB, limit / KIB);
    }
    size_t bad = sparse_check_free(blocks, LATE_BLOCKS);
    free(table);
    CHECKF(bad == 0, "%zu sparse blocks lost their bytes", bad);
}

/* `sparseruns` and `lateruns`: see the top. 256 KiB is twice the large-run threshold (a page run
 * of its own, src/process/arena.h); 256 of them are 64 MiB, sixteen times the threshold. A run
 * costs its written 2 KiB, its first page and the page the allocator's descriptor may touch.
 * LATERUNS_AHEAD: how far past the table the cover may follow the runs (ARC_HUGE_COVER_MIN, or
 * ARC_HUGE_COVER_GROWTH times the reach, which a 4 MiB table keeps under it), and the slack of
 * the extents the table and the cover's end reach into. LATERUNS_COUNT: 192 MiB of runs, past
 * twice that and inside the smallest address space (-Daddress_space=256m). */
#define RUNS_SPARSE_BLOCK   ((size_t)256 * KIB)
#define RUNS_SPARSE_COUNT   256
#define RUNS_SPARSE_PER_RUN ((size_t)8 * KIB)
#define LATERUNS_COUNT      768
#define LATERUNS_AHEAD      ((size_t)16 * MIB)
#define LATERUNS_SLACK      ((size_t)8 * MIB)
#define LATERUNS_PAST       (2 * LATERUNS_AHEAD / RUNS_SPARSE_BLOCK)

static void sparse_runs(bool late, bool huge_possible)
{
    static char *blocks[LATERUNS_COUNT];
    size_t count = late ? LATERUNS_COUNT : RUNS_SPARSE_COUNT, first = late ? LATERUNS_PAST : 0;
    size_t table_bytes = late ? LATE_TABLE : 0;
    malloc_free_kept(1);
    size_t rss_start = check_rss_bytes();
    char *table = late ? filled_table() : NULL;
    if (late && !table)
        return;
    uintptr_t lo, hi;
    if (!sparse_fill(blocks, count, RUNS_SPARSE_BLOCK, first, &lo, &hi))
        return;
    size_t rss = check_rss_bytes();
    long range = range_huge_kib(lo, hi);
    char flag = huge_flag(blocks[count - 1]), table_flag = table ? huge_flag(table) : '-';
    printf("%s: %zu runs of %zu KiB with %zu KiB of each written%s: RSS %zu -> %zu KiB; "
           "AnonHugePages %ld KiB under the runs from %zu on; window flag '%c' at the last run, "
           "'%c' at the table\n",
           late ? "lateruns" : "sparseruns", count, RUNS_SPARSE_BLOCK / KIB, SPARSE_WRITTEN / KIB,
           late ? " after a filled 4 MiB table" : "", rss_start / KIB, rss / KIB, range, first,
           flag, table_flag);
    CHECK(flag != '?' && table_flag != '?' && range >= 0);
    if (late && huge_possible)
        CHECKF(table_flag == 'h', "the table did not turn huge pages on (flag '%c')", table_flag);
    CHECKF(range == 0, "%ld KiB of huge pages under runs written at 1/128", range);
    if (!late)
        CHECKF(flag != 'h', "huge pages asked for over sparse runs (flag '%c')", flag);
    size_t limit = rss_start + table_bytes + count * (SPARSE_WRITTEN + RUNS_SPARSE_PER_RUN) +
                   SPARSE_RSS_EXTRA + (late ? LATERUNS_AHEAD + LATERUNS_SLACK : 0);
    CHECKF(rss <= limit, "sparse runs grew RSS from %zu to %zu KiB (limit %zu KiB)",
           rss_start / KIB, rss / KIB, limit / KIB);
    size_t bad = sparse_check_free(blocks, count);
    free(table);
    CHECKF(bad == 0, "%zu sparse runs lost their bytes", bad);
}

/* `bigruns`: see the top. Twelve runs of 16 MiB after the table reach 196 MiB, past the cover's
 * first limit (16 MiB, or four times the reach); the last four lie past 128 MiB. */
#define BIGRUNS_BYTES ((size_t)16 * MIB)
#define BIGRUNS_COUNT 12
#define BIGRUNS_LAST  4
/* Page faults filling the runs, at most: one a huge page (96), the heads a look judges on 4 KiB
 * pages (up to 2.5 MiB each, 640 faults), the extents two runs share; a whole 16 MiB run on 4 KiB
 * pages would take 4 096. */
#define BIGRUNS_FAULTS_MAX 2048

/* Minor page faults of the process so far (getrusage). */
static long minor_faults(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : 0;
}

static void big_runs(bool formed, bool guarded)
{
    char *blocks[BIGRUNS_COUNT] = {0};
    char *table = filled_table();
    if (!table)
        return;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    long faults = minor_faults();
    for (size_t i = 0; i < BIGRUNS_COUNT; i++) {
        blocks[i] = malloc(BIGRUNS_BYTES);
        CHECK(blocks[i] != NULL);
        if (!blocks[i])
            return;
        memset(blocks[i], (int)i + 1, BIGRUNS_BYTES);
        if (i >= BIGRUNS_COUNT - BIGRUNS_LAST && (uintptr_t)blocks[i] < lo)
            lo = (uintptr_t)blocks[i];
        if (i >= BIGRUNS_COUNT - BIGRUNS_LAST && (uintptr_t)blocks[i] + BIGRUNS_BYTES > hi)
            hi = (uintptr_t)blocks[i] + BIGRUNS_BYTES;
    }
    faults = minor_faults() - faults;
    long range = range_huge_kib(lo, hi);
    printf("bigruns: a 4 MiB table, then %d runs of %zu MiB filled: %ld page faults; AnonHugePages "
           "%ld KiB under the last %d (of %zu KiB)\n",
           BIGRUNS_COUNT, BIGRUNS_BYTES / MIB, faults, range, BIGRUNS_LAST, (hi - lo) / KIB);
    CHECK(range >= 0);
    if (formed && guarded) {
        /* Secure mode: guards split a run's ends from its neighbours, not the whole huge pages
         * inside a 16 MiB run, which the cover reaches too. */
        CHECKF(range > 0, "no huge page inside the last %d guarded runs of %zu MiB", BIGRUNS_LAST,
               BIGRUNS_BYTES / MIB);
    } else if (formed) {
        CHECKF((size_t)range * KIB >= (hi - lo) / 2,
               "only %ld KiB of huge pages under the last %d dense runs (%zu KiB; is memory too "
               "fragmented for 2 MiB pages? see /proc/buddyinfo)",
               range, BIGRUNS_LAST, (hi - lo) / KIB);
        CHECKF(faults <= BIGRUNS_FAULTS_MAX,
               "%ld page faults filling the runs (at most %d: a run past the cover on 4 KiB pages "
               "whole takes %zu)",
               faults, BIGRUNS_FAULTS_MAX, BIGRUNS_BYTES / (4 * KIB));
    } else
        CHECKF(range == 0, "%ld KiB of huge pages where none may be", range);
    size_t bad = 0;
    for (size_t i = 0; i < BIGRUNS_COUNT; i++) {
        bad += blocks[i][0] != (char)(i + 1) || blocks[i][BIGRUNS_BYTES - 1] != (char)(i + 1);
        free(blocks[i]);
    }
    free(table);
    CHECKF(bad == 0, "%zu big runs lost their bytes", bad);
}

/* `pool`: see the top. 64 threads of 256 blocks of 32..287 bytes: about 40 KiB each, one segment
 * each. Each may grow RSS by POOL_RSS_PER_THREAD (its blocks, its spans' first pages, its
 * segment's header, its stack); a huge page under each pair of segments would add 1 MiB each. */
#define POOL_THREADS        64
#define POOL_BLOCKS         256
#define POOL_RSS_PER_THREAD ((size_t)384 * KIB)

static pthread_barrier_t pool_barrier;
static char *pool_first[POOL_THREADS];

static void *pool_worker(void *arg)
{
    size_t id = (size_t)(uintptr_t)arg;
    char *blocks[POOL_BLOCKS];
    for (size_t i = 0; i < POOL_BLOCKS; i++) {
        blocks[i] = malloc(BLOCK_MIN + i);
        if (blocks[i])
            memset(blocks[i], (int)i, BLOCK_MIN + i);
    }
    pool_first[id] = blocks[0];
    pthread_barrier_wait(&pool_barrier); /* every thread's blocks are live */
    pthread_barrier_wait(&pool_barrier); /* the main thread has looked */
    size_t bad = 0;
    for (size_t i = 0; i < POOL_BLOCKS; i++) {
        bad += blocks[i] == NULL || blocks[i][BLOCK_MIN + i - 1] != (char)i;
        free(blocks[i]);
    }
    return (void *)(uintptr_t)bad;
}

static void pool(void)
{
    pthread_t tid[POOL_THREADS];
    size_t started = 0, bad = 0;
    malloc_free_kept(1);
    size_t rss_start = check_rss_bytes();
    CHECK(pthread_barrier_init(&pool_barrier, NULL, POOL_THREADS + 1) == 0);
    for (; started < POOL_THREADS; started++)
        if (pthread_create(&tid[started], NULL, pool_worker, (void *)(uintptr_t)started) != 0)
            break;
    CHECKF(started == POOL_THREADS, "%zu threads started", started);
    if (started < POOL_THREADS) /* the barrier would wait for ever */
        return;
    pthread_barrier_wait(&pool_barrier);
    size_t rss = check_rss_bytes(), on = 0;
    for (size_t t = 0; t < POOL_THREADS; t++)
        on += pool_first[t] != NULL && huge_flag(pool_first[t]) == 'h';
    pthread_barrier_wait(&pool_barrier);
    for (size_t t = 0; t < POOL_THREADS; t++) {
        void *r;
        pthread_join(tid[t], &r);
        bad += (size_t)(uintptr_t)r;
    }
    printf("pool: %d threads live, RSS %zu -> %zu KiB; huge pages asked for under %zu of their "
           "heaps\n",
           POOL_THREADS, rss_start / KIB, rss / KIB, on);
    CHECKF(bad == 0, "%zu blocks of the pool lost their bytes", bad);
    CHECKF(on == 0, "huge pages asked for under %zu of %d small heaps", on, POOL_THREADS);
    size_t limit = rss_start + POOL_THREADS * POOL_RSS_PER_THREAD;
    CHECKF(rss <= limit,
           "%d threads with %d small blocks each grew RSS from %zu to %zu KiB "
           "(limit %zu KiB)",
           POOL_THREADS, POOL_BLOCKS, rss_start / KIB, rss / KIB, limit / KIB);
}

/* A chain of small blocks: each holds the next pointer, then bytes of its own pattern. */
typedef struct block {
    struct block *next;
    size_t size;
} block_t;

typedef struct chain {
    block_t *head;
    uintptr_t lo, hi; /* the blocks' address range */
    size_t count;
} chain_t;

static chain_t fill(size_t total)
{
    chain_t c = {.head = NULL, .lo = UINTPTR_MAX, .hi = 0, .count = 0};
    check_rng_t rng = {0x9e3779b97f4a7c15ULL};
    for (size_t bytes = 0; bytes < total; c.count++) {
        size_t size = (size_t)check_range(&rng, BLOCK_MIN, BLOCK_MAX);
        block_t *b = malloc(size);
        if (!b) {
            CHECKF(0, "malloc(%zu) failed after %zu blocks", size, c.count);
            break;
        }
        memset(b, (int)(c.count & 0xff), size); /* every byte touched */
        b->next = c.head;
        b->size = size;
        c.head = b;
        bytes += size;
        if ((uintptr_t)b < c.lo)
            c.lo = (uintptr_t)b;
        if ((uintptr_t)b + size > c.hi)
            c.hi = (uintptr_t)b + size;
    }
    return c;
}

/* Checks every block's pattern (huge pages must change nothing the program sees), frees them. */
static void drain(chain_t *c)
{
    size_t i = c->count, bad = 0;
    while (c->head) {
        block_t *b = c->head;
        const unsigned char *bytes = (const unsigned char *)b;
        i--;
        for (size_t k = sizeof *b; k < b->size; k++)
            bad += bytes[k] != (unsigned char)(i & 0xff);
        c->head = b->next;
        free(b);
    }
    CHECKF(bad == 0, "%zu bytes of the blocks changed", bad);
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "big";
    const char *mode_name;
    thp_mode_t mode = thp_mode(&mode_name);
    bool big = strcmp(which, "big") == 0 || strcmp(which, "off") == 0;
    /* Whether huge pages must back the blocks: auto above its threshold and on, where the
     * kernel gives them at all and no guard pages split the extents. */
    const char *secure_env = getenv("ARCALLOC_SECURE");
    bool guarded = ARC_SECURE && !(secure_env && strcmp(secure_env, "0") == 0);
    bool want =
        (strcmp(which, "big") == 0 || strcmp(which, "on") == 0) && mode != THP_NEVER && !guarded;
    if (strcmp(which, "big") && strcmp(which, "small") && strcmp(which, "off") &&
        strcmp(which, "on") && strcmp(which, "reuse") && strcmp(which, "pool") &&
        strcmp(which, "sparse") && strcmp(which, "late") && strcmp(which, "runs") &&
        strcmp(which, "onerun") && strcmp(which, "sparseruns") && strcmp(which, "lateruns") &&
        strcmp(which, "bigruns")) {
        fprintf(stderr, "usage: test_hugepages big|small|off|on|reuse|pool|sparse|late|runs|onerun|"
                        "sparseruns|lateruns|bigruns\n");
        return 2;
    }
    if (strcmp(which, "runs") == 0 || strcmp(which, "onerun") == 0) {
        bool many = strcmp(which, "runs") == 0, asked = mode != THP_NEVER;
        printf("case %s, THP mode %s%s: expecting %s\n", which, mode_name,
               guarded ? ", secure mode's guard pages" : "",
               many && asked ? "huge pages asked for" : "no huge pages asked for");
        malloc_free_kept(1);
        runs(many, asked, asked && !guarded);
        return check_done();
    }
    if (strcmp(which, "sparseruns") == 0 || strcmp(which, "lateruns") == 0) {
        bool late = strcmp(which, "lateruns") == 0;
        printf("case %s, THP mode %s%s: expecting no huge pages under the %sruns\n", which,
               mode_name, guarded ? ", secure mode's guard pages" : "", late ? "later " : "");
        sparse_runs(late, mode != THP_NEVER && !guarded);
        return check_done();
    }
    if (strcmp(which, "bigruns") == 0) {
        printf("case bigruns, THP mode %s%s: expecting huge pages inside the last runs\n",
               mode_name, guarded ? ", secure mode's guard pages" : "");
        malloc_free_kept(1);
        big_runs(mode != THP_NEVER, guarded);
        return check_done();
    }
    if (strcmp(which, "late") == 0) {
        printf("case late, THP mode %s%s: expecting huge pages under the table only\n", mode_name,
               guarded ? ", secure mode's guard pages" : "");
        late(mode != THP_NEVER && !guarded);
        return check_done();
    }
    if (strcmp(which, "sparse") == 0) {
        printf("case sparse, THP mode %s: expecting no huge pages asked for\n", mode_name);
        sparse();
        return check_done();
    }
    if (strcmp(which, "pool") == 0) {
        printf("case pool, THP mode %s: expecting no huge pages asked for under small heaps\n",
               mode_name);
        pool();
        return check_done();
    }
    if (strcmp(which, "reuse") == 0) {
        const char *setting = getenv("ARCALLOC_HUGEPAGES");
        bool asked = mode != THP_NEVER && !(setting && strcmp(setting, "0") == 0);
        printf("case reuse, THP mode %s: expecting huge pages %s\n", mode_name,
               asked ? "asked for through the rounds, not after" : "never asked for");
        reuse(asked, guarded);
        return check_done();
    }
    printf("case %s, THP mode %s%s: expecting %s\n", which, mode_name,
           guarded ? ", secure mode's guard pages" : "",
           want ? "AnonHugePages > 0 under the blocks" : "no huge pages under the blocks");

    malloc_free_kept(1); /* arcalloc started: its fixed costs are in the starting RSS */
    size_t rss_start = check_rss_bytes();
    chain_t c = fill(big ? BIG_BYTES : SMALL_BYTES);
    size_t rss = check_rss_bytes();
    long range = range_huge_kib(c.lo, c.hi), rollup = rollup_huge_kib();
    printf("%zu blocks, %zu MiB: RSS %zu -> %zu KiB; AnonHugePages %ld KiB under the blocks, %ld "
           "KiB in the process\n",
           c.count, (big ? BIG_BYTES : SMALL_BYTES) / MIB, rss_start / KIB, rss / KIB, range,
           rollup);
    CHECK(range >= 0 && rollup >= 0); /* /proc/self/smaps and smaps_rollup were read */
    if (want) {
        CHECKF(range > 0,
               "no huge page under %zu MiB of blocks in THP mode %s (is memory too "
               "fragmented for 2 MiB pages? see /proc/buddyinfo)",
               (big ? BIG_BYTES : SMALL_BYTES) / MIB, mode_name);
        CHECK(rollup >= range);
    } else {
        CHECKF(range == 0, "%ld KiB of huge pages under the blocks (case %s, THP mode %s)", range,
               which, mode_name);
        if (mode == THP_NEVER)
            CHECKF(rollup == 0, "%ld KiB of huge pages in THP mode never", rollup);
    }
    if (strcmp(which, "small") == 0) {
        size_t limit =
            rss_start + SMALL_BYTES + SMALL_BYTES / SMALL_RSS_SLACK_DIV + SMALL_RSS_EXTRA;
        CHECKF(rss <= limit, "a %zu MiB heap grew RSS from %zu to %zu KiB (limit %zu KiB)",
               SMALL_BYTES / MIB, rss_start / KIB, rss / KIB, limit / KIB);
    }
    drain(&c);
    /* The allocator still works after the blocks went back: a round of small and large blocks. */
    for (size_t size = BLOCK_MIN; size <= 8 * MIB; size *= 2) {
        char *p = malloc(size);
        CHECK(p != NULL);
        if (p) {
            memset(p, 0x5a, size);
            CHECK(p[size - 1] == 0x5a);
        }
        free(p);
    }
    return check_done();
}
