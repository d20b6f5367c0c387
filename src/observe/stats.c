/* stats.c: the statistics report: sums the heaps' counters, adds the arena's, the OS's and the
 * registry's figures, formats them as text or JSON and dumps them at exit or on a signal. It
 * never allocates through the heap it measures: figures are gathered into the caller's struct,
 * formatted into a stack buffer (out.h) and written raw (or to the caller's FILE). */
#include "stats.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "options.h"
#include "os.h"
#include "out.h"
#include "prof.h"
#include "thread.h"

/* ---- the lists and struct arc_stats agree ------------------------------------------------- */

/* Every figure of the two lists is a uint64_t field of struct arc_stats, in list order, with
 * nothing between them: a field added to the struct and not to a list (or the other way round)
 * stops the build. */
enum stats_figure_index {
#define STATS_INDEX(name, help) STATS_FIG_##name,
    ARC_HEAP_COUNTERS(STATS_INDEX) ARC_PROCESS_FIGURES(STATS_INDEX)
#undef STATS_INDEX
        STATS_FIG_COUNT
};
#define STATS_FIG_AT(name)                                                                         \
    _Static_assert(sizeof(((struct arc_stats *)0)->name) == sizeof(uint64_t) &&                    \
                       offsetof(struct arc_stats, name) ==                                         \
                           offsetof(struct arc_stats, requested_bytes) +                           \
                               STATS_FIG_##name * sizeof(uint64_t),                                \
                   "struct arc_stats: " #name " is not where the lists put it");
#define STATS_CHECK(name, help) STATS_FIG_AT(name)
ARC_HEAP_COUNTERS(STATS_CHECK)
ARC_PROCESS_FIGURES(STATS_CHECK)
#undef STATS_CHECK
_Static_assert(offsetof(struct arc_stats, size_classes) ==
                   offsetof(struct arc_stats, requested_bytes) + STATS_FIG_COUNT * sizeof(uint64_t),
               "struct arc_stats has a figure that neither list declares");

/* ---- gathering ---------------------------------------------------------------------------- */

static void heap_gather(arc_heap_t *h, void *arg)
{
    struct arc_stats *s = arg;
    arc_heap_figures_t f;
    arc_heap_figures(h, &f);
#if ARC_STATS
#define STATS_SUM(name, help) s->name += f.counters.name;
    ARC_HEAP_COUNTERS(STATS_SUM)
#undef STATS_SUM
    for (size_t b = 1; b < ARC_SIZE_BINS; b++) {
        s->size_classes[b].allocs += f.counters.bin_allocs[b];
        s->size_classes[b].frees += f.counters.bin_frees[b];
    }
#endif
    s->byte_total_bytes += f.byte_total;
    s->byte_used_bytes += f.byte_used;
    s->byte_available_bytes += f.byte_available;
    s->cached_bytes += f.cached;
    s->segments += f.segments;
    if (f.shared) {
        s->shared_heaps_live += !f.abandoned;
    } else {
        s->threads_live += !f.abandoned;
        s->threads_started += 1;
#if ARC_STATS
        s->threads_started += f.counters.heap_reuses;
#endif
    }
}

void arc_stats_get(struct arc_stats *out)
{
    memset(out, 0, sizeof *out);
    out->backend = arc_backend_name(); /* starts arcalloc if nothing did yet */
    out->address_space = ARC_ADDRESS_SPACE_NAME;
    out->stats_enabled = ARC_STATS;
    arc_heaps_foreach(heap_gather, out);

    size_t live_heaps = 0, waiting = 0, created = 0, reused = 0;
    arc_heaps_counts(&live_heaps, &waiting, &created, &reused);
    out->heaps_created = created;
    out->heaps_waiting = waiting;

    arc_arena_figures_t arena;
    arc_arena_figures(&arena);
    out->segment_bytes = arena.segment_bytes;
    out->large_bytes = arena.large_bytes;
    out->large_live = arena.large_count;
    out->address_space_bytes = arena.window_bytes;
    out->page_total_pages = arena.page_total;
    out->page_used_pages = arena.page_used;
    out->page_available_pages = arena.page_available;
    out->page_peak_pages = arena.page_peak;
    arc_dirty_figures_t dirty;
    arc_dirty_figures(&dirty);
    out->dirty_bytes = dirty.cached_pages * ARC_PAGE_SIZE;
    out->decayed_bytes = dirty.released_pages * ARC_PAGE_SIZE;
    out->purger_thread = dirty.purger_running;

    arc_os_counts_t os;
    arc_os_counts_get(&os);
    out->returned_bytes = os.decommitted_bytes;
    out->madvise_calls = os.decommit_calls;
    out->mmap_calls = os.reserve_calls + os.map_calls;
    out->munmap_calls = os.unmap_calls;
    out->mremap_calls = os.move_calls;
    out->resident_bytes = arc_os_resident_bytes();
    out->peak_resident_bytes = arc_os_peak_resident_bytes();
    if (out->peak_resident_bytes < out->resident_bytes)
        out->peak_resident_bytes = out->resident_bytes;

    arc_counters_process_t process;
    arc_counters_process(&process);
    out->requested_bytes += process.orphan_requested;
    out->allocated_bytes += process.orphan_allocated;
    out->freed_bytes += process.orphan_freed;
    out->large_allocs += process.orphan_allocs;
    out->large_frees += process.orphan_frees;

    uint64_t small_allocs = 0, small_frees = 0;
    for (size_t b = 1; b < ARC_SIZE_BINS; b++) {
        struct arc_stats_class *c = &out->size_classes[b];
        c->size = b * ARC_GRANULE;
        c->live = c->allocs > c->frees ? c->allocs - c->frees : 0;
        small_allocs += c->allocs;
        small_frees += c->frees;
    }
    out->allocs = small_allocs + out->medium_allocs + out->large_allocs;
    out->frees = small_frees + out->medium_frees + out->large_frees;
#if ARC_STATS
    out->live_bytes =
        out->allocated_bytes > out->freed_bytes ? out->allocated_bytes - out->freed_bytes : 0;
    out->peak_live_bytes = process.peak_live_bytes;
    if (out->peak_live_bytes < out->live_bytes)
        out->peak_live_bytes = out->live_bytes;
#else
    /* No counters: what the byte allocators hold minus the caches, plus the page runs. */
    uint64_t held =
        out->byte_used_bytes > out->cached_bytes ? out->byte_used_bytes - out->cached_bytes : 0;
    out->live_bytes = held + out->large_bytes;
#endif
    out->committed_bytes = out->segment_bytes + out->large_bytes + out->dirty_bytes;
    out->fragmentation_bytes =
        out->committed_bytes > out->live_bytes ? out->committed_bytes - out->live_bytes : 0;
}

/* ---- the two formats, written without allocating (out.h) ---------------------------------- */

/* "12.3 MiB": binary units, one decimal. */
static void out_human(arc_out_t *o, uint64_t v)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    size_t u = 0;
    uint64_t scale = 1;
    while (u + 1 < sizeof units / sizeof units[0] && v / scale >= 1024) {
        scale *= 1024;
        u++;
    }
    arc_out_u64(o, v / scale, 0);
    if (u) {
        arc_out_str(o, ".");
        arc_out_u64(o, (v % scale) * 10 / scale, 0);
    }
    arc_out_str(o, " ");
    arc_out_str(o, units[u]);
}

static bool name_is_bytes(const char *name)
{
    size_t n = strlen(name);
    return n > 6 && strcmp(name + n - 6, "_bytes") == 0;
}

/* JSON string: the names arcalloc prints are plain, but quote and escape them anyway. */
static void out_json_str(arc_out_t *o, const char *s)
{
    arc_out_str(o, "\"");
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\') {
            arc_out_put(o, "\\", 1);
            arc_out_put(o, s, 1);
        } else if ((unsigned char)*s >= 0x20) {
            arc_out_put(o, s, 1);
        }
    }
    arc_out_str(o, "\"");
}

/* Column of the name, and of the value, in the text report. */
#define TEXT_NAME_WIDTH  24
#define TEXT_VALUE_WIDTH 16
/* Width of the "(12.3 MiB)" column. */
#define TEXT_HUMAN_WIDTH 15

static void text_field(arc_out_t *o, const char *name, uint64_t v, const char *help)
{
    arc_out_str(o, "  ");
    arc_out_str(o, name);
    arc_out_pad(o, strlen(name) < TEXT_NAME_WIDTH ? TEXT_NAME_WIDTH - strlen(name) : 1);
    arc_out_u64(o, v, TEXT_VALUE_WIDTH);
    size_t start = arc_out_count(o); /* the human column, measured across flushes */
    arc_out_str(o, "  ");
    if (name_is_bytes(name) && v >= 1024) {
        arc_out_str(o, "(");
        out_human(o, v);
        arc_out_str(o, ")");
    }
    size_t used = arc_out_count(o) - start;
    arc_out_pad(o, used < TEXT_HUMAN_WIDTH ? TEXT_HUMAN_WIDTH - used : 1);
    arc_out_str(o, help);
    arc_out_str(o, "\n");
}

static void text_report(arc_out_t *o, const struct arc_stats *s)
{
    arc_out_str(o, "arcalloc statistics: pid ");
    arc_out_u64(o, (uint64_t)arc_os_getpid(), 0);
    arc_out_str(o, ", backend ");
    arc_out_str(o, s->backend);
    arc_out_str(o, ", address_space ");
    arc_out_str(o, s->address_space);
    arc_out_str(o,
                s->stats_enabled ? ", counters on\n" : ", counters compiled out (-Dstats=false)\n");
    arc_out_str(o, "counters (summed over heaps):\n");
#define STATS_TEXT(name, help) text_field(o, #name, s->name, help);
    ARC_HEAP_COUNTERS(STATS_TEXT)
    arc_out_str(o, "process:\n");
    ARC_PROCESS_FIGURES(STATS_TEXT)
#undef STATS_TEXT
    arc_out_str(o, "size classes (small sizes; blocks):\n      size          allocs           frees"
                   "            live\n");
    for (size_t b = 1; b < ARC_SIZE_BINS; b++) {
        const struct arc_stats_class *c = &s->size_classes[b];
        if (!c->allocs && !c->frees)
            continue;
        arc_out_u64(o, c->size, 10);
        arc_out_u64(o, c->allocs, 16);
        arc_out_u64(o, c->frees, 16);
        arc_out_u64(o, c->live, 16);
        arc_out_str(o, "\n");
    }
}

static void json_field(arc_out_t *o, const char *name, uint64_t v)
{
    arc_out_str(o, ",\"");
    arc_out_str(o, name);
    arc_out_str(o, "\":");
    arc_out_u64(o, v, 0);
}

static void json_report(arc_out_t *o, const struct arc_stats *s)
{
    arc_out_str(o, "{\"pid\":");
    arc_out_u64(o, (uint64_t)arc_os_getpid(), 0);
    arc_out_str(o, ",\"backend\":");
    out_json_str(o, s->backend);
    arc_out_str(o, ",\"address_space\":");
    out_json_str(o, s->address_space);
#define STATS_JSON(name, help) json_field(o, #name, s->name);
    ARC_HEAP_COUNTERS(STATS_JSON)
    ARC_PROCESS_FIGURES(STATS_JSON)
#undef STATS_JSON
    arc_out_str(o, ",\"size_classes\":[");
    bool first = true;
    for (size_t b = 1; b < ARC_SIZE_BINS; b++) {
        const struct arc_stats_class *c = &s->size_classes[b];
        if (!c->allocs && !c->frees)
            continue;
        arc_out_str(o, first ? "{\"size\":" : ",{\"size\":");
        first = false;
        arc_out_u64(o, c->size, 0);
        json_field(o, "allocs", c->allocs);
        json_field(o, "frees", c->frees);
        json_field(o, "live", c->live);
        arc_out_str(o, "}");
    }
    arc_out_str(o, "]}\n");
}

static void report_write(arc_out_t *o, const struct arc_stats *s, int format)
{
    if (format == ARC_STATS_JSON)
        json_report(o, s);
    else
        text_report(o, s);
    arc_out_flush(o);
}

int arc_stats_print(FILE *fp, int format)
{
    if (!fp || (format != ARC_STATS_TEXT && format != ARC_STATS_JSON)) {
        errno = EINVAL;
        return -1;
    }
    struct arc_stats s;
    arc_stats_get(&s); /* every figure is taken before the stream can allocate */
    arc_out_t o;
    arc_out_to_file(&o, fp);
    report_write(&o, &s, format);
    if (fflush(fp) != 0)
        o.failed = true;
    return o.failed ? -1 : 0;
}

/* ---- dumps at exit and on the signal ------------------------------------------------------ */

_Static_assert(ARC_STATS_TEXT == ARC_STATS_MODE_TEXT && ARC_STATS_JSON == ARC_STATS_MODE_JSON,
               "the public formats are the ARCALLOC_STATS modes");

/* Longest ARCALLOC_STATS_FILE after %p expansion. */
#define STATS_PATH_MAX 1024
/* Stack of the dump thread: the report needs ~12 KiB; the heap profile's symbolisation more. */
#define DUMP_THREAD_STACK ((size_t)256 << 10)

static int stats_mode;   /* enum arc_stats_mode: the format of dumps */
static int stats_signal; /* 0: no signal dumps */
static pthread_mutex_t dump_lock = PTHREAD_MUTEX_INITIALIZER;
static bool dumped_once; /* this process has written its file once (dump_lock) */
static sem_t dump_sem;
/* A copy of stderr taken at start-up, and what it was: programs that close stderr in their own
 * atexit handlers (GNU coreutils' close_stdout) still get their report. */
static int stderr_copy = -1;
static arc_os_file_id_t stderr_id;

static void stderr_keep(void)
{
    if (!arc_os_file_id(2, &stderr_id))
        return;
    stderr_copy = arc_os_dup(2);
}

/* The copy while it still is what stderr was (a program may have closed it and reused the
 * number), else fd 2 itself. */
static int stderr_fd(void)
{
    arc_os_file_id_t id;
    if (stderr_copy >= 0 && arc_os_file_id(stderr_copy, &id) && id.dev == stderr_id.dev &&
        id.ino == stderr_id.ino)
        return stderr_copy;
    return 2;
}

/* Opens the dump's destination: stderr, or ARCALLOC_STATS_FILE. The first dump of a process
 * into a file named by its pid (%p) truncates it; others append (several processes, or several
 * signal dumps, share the file: each dump is whole). Caller holds dump_lock. */
static int dump_open(void)
{
    const char *pattern = arc_option_str(ARC_OPT_STATS_FILE);
    if (!pattern)
        return stderr_fd();
    char path[STATS_PATH_MAX];
    bool per_process;
    if (!arc_out_path_expand(pattern, path, sizeof path, &per_process)) {
        arc_report_warning("ARCALLOC_STATS_FILE: path too long; writing to stderr", NULL);
        return stderr_fd();
    }
    int fd = arc_os_open_append(path, per_process && !dumped_once);
    if (fd < 0) {
        arc_report_warning("ARCALLOC_STATS_FILE: cannot open; writing to stderr: ", path);
        return stderr_fd();
    }
    return fd;
}

static void stats_dump(int format)
{
    struct arc_stats s;
    arc_stats_get(&s);
    arc_out_t o;
    pthread_mutex_lock(&dump_lock);
    arc_out_to_fd(&o, dump_open());
    report_write(&o, &s, format);
    if (o.fd != 2 && o.fd != stderr_copy)
        arc_os_close(o.fd);
    dumped_once = true;
    pthread_mutex_unlock(&dump_lock);
}

static void dump_all(void)
{
    /* The signal dumps text when ARCALLOC_STATS itself is off. */
    stats_dump(stats_mode == ARC_STATS_MODE_JSON ? ARC_STATS_JSON : ARC_STATS_TEXT);
#if ARC_PROF
    arc_prof_dump();
#endif
}

static void stats_at_exit(void)
{
    stats_dump(stats_mode);
#if ARC_PROF
    arc_prof_dump();
#endif
}

/* The handler only wakes the dump thread: sem_post is async-signal-safe; errno is kept. */
static void dump_signal_handler(int sig)
{
    (void)sig;
    int saved = errno;
    sem_post(&dump_sem);
    errno = saved;
}

static void *dump_thread_main(void *arg)
{
    (void)arg;
    for (;;) {
        if (sem_wait(&dump_sem) != 0)
            continue; /* EINTR */
        dump_all();
    }
    return NULL;
}

/* A detached thread with every signal blocked (the program's threads keep receiving them). */
static void dump_thread_start(void)
{
    if (!arc_os_thread_start(dump_thread_main, NULL, DUMP_THREAD_STACK, "arcalloc-stats"))
        arc_report_warning("ARCALLOC_STATS_SIGNAL: cannot start the dump thread", NULL);
}

/* Only the forking thread survives fork: the child gets its own lock, semaphore, thread and
 * file (its pid differs). */
static void stats_fork_child(void)
{
    pthread_mutex_init(&dump_lock, NULL);
    dumped_once = false;
    if (stats_signal) {
        sem_destroy(&dump_sem);
        sem_init(&dump_sem, 0, 0);
        dump_thread_start();
    }
}

void arc_stats_start(void)
{
    stats_mode = (int)arc_option_int(ARC_OPT_STATS);
    stats_signal = (int)arc_option_int(ARC_OPT_STATS_SIGNAL);
    if ((stats_mode != ARC_STATS_MODE_OFF || stats_signal) && !arc_option_str(ARC_OPT_STATS_FILE))
        stderr_keep();
    /* The exit dump writes the heap profile too (prof.c registers its own only without it). */
    if (stats_mode != ARC_STATS_MODE_OFF)
        atexit(stats_at_exit);
    if (!stats_signal)
        return;
    if (sem_init(&dump_sem, 0, 0) != 0)
        return;
    if (!arc_os_on_signal(stats_signal, dump_signal_handler)) {
        arc_report_warning("ARCALLOC_STATS_SIGNAL: cannot catch ",
                           arc_option_str(ARC_OPT_STATS_SIGNAL));
        return;
    }
    pthread_atfork(NULL, NULL, stats_fork_child);
    dump_thread_start();
}
