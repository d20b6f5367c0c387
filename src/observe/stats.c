/* stats.c: the statistics report: sums the heaps' counters, adds the arena's, the OS's and the
 * registry's figures, formats them as text or JSON and dumps them at exit or on a signal; the
 * timeline (ARCALLOC_STATS_INTERVAL), a JSON line of figures every interval, from the same
 * thread that serves the signal. It never allocates through the heap it measures: figures are
 * gathered into the caller's struct, formatted into a stack buffer (out.h) and written raw (or
 * to the caller's FILE). */
#include "stats.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heap.h"
#include "options.h"
#include "os.h"
#include "out.h"
#include "prof.h"
#include "report.h"
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
    for (size_t c = 1; c < ARC_CLASSES; c++) {
        size_t b = arc_class_size[c] / ARC_GRANULE; /* the report's bins are 16-byte sizes */
        s->size_classes[b].allocs += f.counters.class_allocs[c];
        s->size_classes[b].frees += f.counters.class_frees[c];
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
    out->hole_wait_bytes = dirty.held_pages * ARC_PAGE_SIZE;
    out->purger_thread = dirty.purger_running;

    arc_os_counts_t os;
    arc_os_counts_get(&os);
    out->returned_bytes = os.decommitted_bytes;
    out->madvise_calls = os.decommit_calls;
    out->mmap_calls = os.reserve_calls + os.map_calls;
    out->munmap_calls = os.unmap_calls;
    out->mremap_calls = os.move_calls;
    out->hugepage_calls = os.hugepage_calls;
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

/* ---- dumps at exit and on the signal, and the timeline ------------------------------------ */

_Static_assert(ARC_STATS_TEXT == ARC_STATS_MODE_TEXT && ARC_STATS_JSON == ARC_STATS_MODE_JSON,
               "the public formats are the ARCALLOC_STATS modes");

/* Longest ARCALLOC_STATS_FILE or ARCALLOC_TIMELINE_FILE after %p expansion. */
#define STATS_PATH_MAX 1024
/* One warning line built here before report.c prefixes it. */
#define STATS_LINE_MAX 256
/* Stack of the dump thread: the report needs ~12 KiB; the heap profile's symbolisation more. */
#define DUMP_THREAD_STACK ((size_t)256 << 10)
/* The interval option is in milliseconds; semaphore deadlines are seconds and nanoseconds. */
#define NS_PER_MS  ((uint64_t)1000 * 1000)
#define NS_PER_SEC ((uint64_t)1000 * 1000 * 1000)
/* The heap profile at the peak (ARCALLOC_PROF with a timeline) is written again when live bytes
 * pass the last one written by this factor (per mille), from this many bytes up: a growing
 * program writes it a few dozen times at most (log base 1.2 of its peak over 1 MiB). */
#define PEAK_GROWTH_PERMILLE 1200
#define PEAK_MIN_BYTES       ((uint64_t)1 << 20)
#define PERMILLE             1000 /* the unit of PEAK_GROWTH_PERMILLE */

static int stats_mode;        /* enum arc_stats_mode: the format of dumps */
static int stats_signal;      /* 0: no signal dumps */
static uint64_t timeline_ns;  /* ARCALLOC_STATS_INTERVAL in nanoseconds; 0: no timeline */
static uint64_t start_ns;     /* arc_os_now_ns at start-up: the timeline's t_ms 0 */
static bool dump_thread_used; /* signal dumps or the timeline: the dump thread runs */
static pthread_mutex_t dump_lock = PTHREAD_MUTEX_INITIALIZER;
static bool dumped_once; /* this process has written its report file once (dump_lock) */
static bool file_warned; /* the report file's warning was printed (dump_lock) */
static pthread_mutex_t timeline_lock = PTHREAD_MUTEX_INITIALIZER;
static bool timeline_opened;   /* this process has written its timeline file once (timeline_lock) */
static bool timeline_failed;   /* the file cannot be written: no more lines (timeline_lock) */
static uint64_t peak_profiled; /* live bytes at the last heap profile of the peak (dump thread) */
static sem_t dump_sem;

/* "<what> <path><rest>" as one warning line. */
static void warn_path(const char *what, const char *path, const char *rest)
{
    char line[STATS_LINE_MAX];
    size_t n = arc_text_append(line, sizeof line, 0, what);
    n = arc_text_append(line, sizeof line, n, path);
    arc_text_append(line, sizeof line, n, rest);
    arc_report_warning(line, NULL);
}

/* Opens the dump's destination: stderr, or ARCALLOC_STATS_FILE. The first dump of a process
 * into a file named by its pid (%p) truncates it; others append (several processes, or several
 * signal dumps, share the file: each dump is whole). A file that cannot be written gets one
 * warning naming it, and the report goes to stderr. Caller holds dump_lock. */
static int dump_open(void)
{
    const char *pattern = arc_option_str(ARC_OPT_STATS_FILE);
    if (!pattern)
        return arc_report_stderr_fd();
    char path[STATS_PATH_MAX];
    bool per_process;
    if (!arc_out_path_expand(pattern, path, sizeof path, &per_process)) {
        if (!file_warned)
            arc_report_warning("ARCALLOC_STATS_FILE: path too long; the report goes to stderr",
                               NULL);
        file_warned = true;
        return arc_report_stderr_fd();
    }
    int fd = arc_os_open_append(path, per_process && !dumped_once);
    if (fd < 0) {
        if (!file_warned)
            warn_path("ARCALLOC_STATS_FILE: cannot write the report to ", path,
                      "; it goes to stderr");
        file_warned = true;
        return arc_report_stderr_fd();
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
    if (!arc_report_is_stderr(o.fd))
        arc_os_close(o.fd);
    dumped_once = true;
    pthread_mutex_unlock(&dump_lock);
}

/* The figures of a timeline line, after its time and pid: X(name). (clang-format keeps no
 * stable layout for a list of bare X(name) lines.) */
/* clang-format off */
#define TIMELINE_FIGURES(X) \
    X(live_bytes) \
    X(peak_live_bytes) \
    X(committed_bytes) \
    X(resident_bytes) \
    X(returned_bytes) \
    X(dirty_bytes) \
    X(large_bytes) \
    X(segment_bytes) \
    X(cached_bytes) \
    X(allocs) \
    X(frees) \
    X(threads_live)
/* clang-format on */

/* One JSON line: {"t_ms":..,"pid":..,<figures>,"classes":[[size,live blocks],...]}; the classes
 * with blocks live now. A few hundred bytes: one write, so lines of processes sharing the file
 * never interleave. */
static void timeline_line(arc_out_t *o, const struct arc_stats *s, uint64_t t_ms)
{
    arc_out_str(o, "{\"t_ms\":");
    arc_out_u64(o, t_ms, 0);
    json_field(o, "pid", (uint64_t)arc_os_getpid());
#define TIMELINE_JSON(name) json_field(o, #name, s->name);
    TIMELINE_FIGURES(TIMELINE_JSON)
#undef TIMELINE_JSON
    arc_out_str(o, ",\"classes\":[");
    bool first = true;
    for (size_t b = 1; b < ARC_SIZE_BINS; b++) {
        const struct arc_stats_class *c = &s->size_classes[b];
        if (!c->live)
            continue;
        arc_out_str(o, first ? "[" : ",[");
        first = false;
        arc_out_u64(o, c->size, 0);
        arc_out_str(o, ",");
        arc_out_u64(o, c->live, 0);
        arc_out_str(o, "]");
    }
    arc_out_str(o, "]}\n");
}

/* Appends one line to ARCALLOC_TIMELINE_FILE (the first line of a process into a file named by
 * its pid truncates it). A file that cannot be written gets one warning and ends the timeline:
 * lines every interval would drown the program's own stderr. */
static void timeline_write(const struct arc_stats *s)
{
    uint64_t t_ms = (arc_os_now_ns() - start_ns) / NS_PER_MS;
    pthread_mutex_lock(&timeline_lock);
    if (!timeline_failed) {
        const char *pattern = arc_option_str(ARC_OPT_TIMELINE_FILE);
        char path[STATS_PATH_MAX];
        bool per_process = false;
        int fd = -1;
        if (pattern && arc_out_path_expand(pattern, path, sizeof path, &per_process))
            fd = arc_os_open_append(path, per_process && !timeline_opened);
        else
            arc_text_append(path, sizeof path, 0, pattern ? pattern : "(no path)");
        if (fd < 0) {
            warn_path("ARCALLOC_TIMELINE_FILE: cannot write the timeline to ", path,
                      "; no timeline");
            timeline_failed = true;
        } else {
            arc_out_t o;
            arc_out_to_fd(&o, fd);
            timeline_line(&o, s, t_ms);
            arc_out_flush(&o);
            arc_os_close(fd);
            timeline_opened = true;
        }
    }
    pthread_mutex_unlock(&timeline_lock);
}

/* One tick of the timeline: its line, and the heap profile when live bytes reach a new peak. */
static void timeline_tick(void)
{
    struct arc_stats s;
    arc_stats_get(&s);
    timeline_write(&s);
#if ARC_PROF
    if (s.live_bytes >= PEAK_MIN_BYTES &&
        s.live_bytes > peak_profiled / PERMILLE * PEAK_GROWTH_PERMILLE) {
        arc_prof_dump_peak();
        peak_profiled = s.live_bytes;
    }
#endif
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

/* The timeline's last line: the figures at exit, after the program's own exit handlers that ran
 * before it. */
static void timeline_at_exit(void)
{
    struct arc_stats s;
    arc_stats_get(&s);
    timeline_write(&s);
}

/* The handler only wakes the dump thread: sem_post is async-signal-safe; errno is kept. */
static void dump_signal_handler(int sig)
{
    (void)sig;
    int saved = errno;
    sem_post(&dump_sem);
    errno = saved;
}

/* Waits up to `ns` for the signal's post: true when it came, false on timeout (or EINTR).
 * sem_timedwait takes a wall-clock deadline: a clock step during one wait stretches or cuts only
 * that wait, since each wait's length comes from the monotonic clock. */
static bool dump_sem_wait_for(uint64_t ns)
{
    struct timespec ts;
    if (timespec_get(&ts, TIME_UTC) != TIME_UTC)
        return sem_wait(&dump_sem) == 0;
    uint64_t nsec = (uint64_t)ts.tv_nsec + ns % NS_PER_SEC;
    ts.tv_sec += (time_t)(ns / NS_PER_SEC + nsec / NS_PER_SEC);
    ts.tv_nsec = (long)(nsec % NS_PER_SEC);
    return sem_timedwait(&dump_sem, &ts) == 0;
}

/* Serves the signal's dumps and, with a timeline, writes its line every interval. */
static void *dump_thread_main(void *arg)
{
    (void)arg;
    uint64_t next = arc_os_now_ns() + timeline_ns;
    for (;;) {
        if (!timeline_ns) {
            if (sem_wait(&dump_sem) == 0)
                dump_all();
            continue; /* EINTR */
        }
        uint64_t now = arc_os_now_ns();
        if (now >= next) {
            timeline_tick();
            next += timeline_ns;
            if (next <= now) /* a stopped or starved process: no burst of lines to catch up */
                next = now + timeline_ns;
            continue;
        }
        if (dump_sem_wait_for(next - now))
            dump_all();
    }
    return NULL;
}

/* A detached thread with every signal blocked (the program's threads keep receiving them). */
static void dump_thread_start(void)
{
    if (!arc_os_thread_start(dump_thread_main, NULL, DUMP_THREAD_STACK, "arcalloc-stats"))
        arc_report_warning("cannot start the statistics thread: no signal dumps, no timeline",
                           NULL);
}

/* Only the forking thread survives fork: the child gets its own locks, semaphore, thread and
 * files (its pid differs). */
static void stats_fork_child(void)
{
    pthread_mutex_init(&dump_lock, NULL);
    pthread_mutex_init(&timeline_lock, NULL);
    dumped_once = false;
    timeline_opened = false;
    peak_profiled = 0;
    start_ns = arc_os_now_ns();
    if (dump_thread_used) {
        sem_destroy(&dump_sem);
        sem_init(&dump_sem, 0, 0);
        dump_thread_start();
    }
}

void arc_stats_start(void)
{
    start_ns = arc_os_now_ns();
    stats_mode = (int)arc_option_int(ARC_OPT_STATS);
    stats_signal = (int)arc_option_int(ARC_OPT_STATS_SIGNAL);
    timeline_ns = (uint64_t)arc_option_int(ARC_OPT_STATS_INTERVAL) * NS_PER_MS;
    if (stats_mode != ARC_STATS_MODE_OFF || stats_signal || timeline_ns)
        arc_report_keep_stderr();
    if (arc_option_source(ARC_OPT_STATS_FILE) >= ARC_SRC_CONF && stats_mode == ARC_STATS_MODE_OFF &&
        !stats_signal)
        arc_report_warning("ARCALLOC_STATS_FILE is set but no report is asked for (set "
                           "ARCALLOC_STATS=1 or json, or ARCALLOC_STATS_SIGNAL)",
                           NULL);
    /* The exit dump writes the heap profile too (prof.c registers its own only without it). */
    if (stats_mode != ARC_STATS_MODE_OFF)
        atexit(stats_at_exit);
    if (timeline_ns)
        atexit(timeline_at_exit);
    if (!stats_signal && !timeline_ns)
        return;
    if (sem_init(&dump_sem, 0, 0) != 0)
        return;
    if (stats_signal && !arc_os_on_signal(stats_signal, dump_signal_handler)) {
        arc_report_warning("ARCALLOC_STATS_SIGNAL: cannot catch ",
                           arc_option_str(ARC_OPT_STATS_SIGNAL));
        stats_signal = 0;
        if (!timeline_ns)
            return;
    }
    dump_thread_used = true;
    pthread_atfork(NULL, NULL, stats_fork_child);
    dump_thread_start();
}
