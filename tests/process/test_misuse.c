/* test_misuse.c: every misuse arcalloc promises to catch, each run in a child process whose
 * stderr and death are checked: exactly the line "arcalloc: <error> at 0x<address>", where the
 * address is the pointer the child misused (it names it on a pipe first), then SIGABRT. With
 * libunwind built in (ARC_PROF) a backtrace follows the line, one "    #N 0x..." line a frame.
 * Run once per backend (meson sets ARCALLOC_BACKEND). It owns only the children's misuse: the
 * parent itself must never misuse the heap. */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arcalloc.h"
#include "check.h"

void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t align, size_t size);

/* A large block (above the 128 KiB threshold: a page run of its own). */
#define LARGE_BLOCK ((size_t)256 << 10)
/* More 64-byte blocks than a few spans hold (a span holds 512 of them). */
#define MISUSE_KEEP_BLOCKS 4096
/* A child's exit status when it cannot start a thread, or name its address (the parent then
 * reports the child as not aborted). */
#define CHILD_NO_THREAD 3
#define CHILD_NO_PIPE   4
/* Seconds a child may run before SIGALRM ends it (a misuse that hangs). */
#define CHILD_SECONDS 10

static int global_object;
static void *volatile sink; /* keeps the compiler from reasoning about the misuse */
static int addr_fd = -1;    /* in a child: the pipe it names the misused address on */

typedef struct {
    const char *name;
    /* the error text: the whole line between "arcalloc: " and " at "; NULL for a misuse the
     * hardware stops (SIGSEGV, nothing written) */
    const char *expect;
    void (*run)(void);
} misuse_case_t;

/* operator delete(void *, size_t), the sized C++ delete, by its Itanium-ABI name: arcalloc's
 * (preload/cxx.c) is the one this program links. */
void _ZdlPvm(void *ptr, size_t size);

/* Called by each case just before its misuse: the parent learns which address the report must
 * name. */
static void misused(const void *p)
{
    uintptr_t v = (uintptr_t)p;
    if (write(addr_fd, &v, sizeof v) != (ssize_t)sizeof v)
        _exit(CHILD_NO_PIPE);
}

static void double_free_small(void)
{
    void *keep = malloc(64); /* a live neighbour */
    sink = malloc(64);
    misused(sink);
    free(sink);
    free(sink);
    free(keep);
}

/* Blocks of the 896-byte class, which nothing else in this program uses: the first malloc of it
 * takes a fresh span, and the blocks after its first are free, cut from the span's tail (the
 * next few) or not cut yet (further on). 880 bytes take that class in both modes (secure mode
 * adds its 8-byte canary). */
#define MISUSE_CLASS_REQUEST 880
#define MISUSE_CLASS_BLOCK   896
#define MISUSE_UNCUT_BLOCKS  16
/* A heap's first span of a class is one page (heap.h, ARC_SPAN_FIRST_SIZE: four blocks of this
 * class); this many blocks fill it, so the next one comes from a full 32 KiB span. */
#define MISUSE_FIRST_SPAN_BLOCKS 8

static void free_never_handed_out(void)
{
    char *p = malloc(MISUSE_CLASS_REQUEST);
    sink = p + MISUSE_CLASS_BLOCK;
    misused(sink);
    free(sink);
}

/* In a full span (the class's first span, one page, filled first), a block start well past
 * the part of its tail that malloc has cut so far. */
static void free_past_cut_tail(void)
{
    for (int i = 0; i < MISUSE_FIRST_SPAN_BLOCKS; i++)
        sink = malloc(MISUSE_CLASS_REQUEST);
    char *p = malloc(MISUSE_CLASS_REQUEST);
    sink = p + MISUSE_CLASS_BLOCK * MISUSE_UNCUT_BLOCKS;
    misused(sink);
    free(sink);
}

/* A block of a class whose blocks have the alignment (aligned requests share malloc's spans). */
static void double_free_aligned(void)
{
    sink = aligned_alloc(64, 192);
    misused(sink);
    free(sink);
    free(sink);
}

static void double_free_medium(void)
{
    sink = malloc(10000);
    misused(sink);
    free(sink);
    free(sink);
}

static void *free_twice(void *p)
{
    sink = p; /* through the volatile: gcc would refuse the second free at compile time */
    free(sink);
    free(sink);
    return NULL;
}

/* The same from a thread that has a heap of its own (it allocated first): both frees go into
 * one batch of its outbox, and the owner's drain meets the block twice. */
static void *free_twice_with_heap(void *p)
{
    sink = malloc(16); /* through the volatile: a malloc+free pair may be compiled away */
    free(sink);
    return free_twice(p);
}

/* Another thread frees the main thread's small block twice: the owner catches the second free
 * when it takes both back. */
static void double_free_other_thread(void *(*thread_main)(void *))
{
    sink = malloc(64);
    misused(sink);
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, sink) != 0)
        _exit(CHILD_NO_THREAD);
    pthread_join(t, NULL);
    /* Blocks kept live: the owner's spans run out, and its slow paths drain its remote list. */
    static void *keep[MISUSE_KEEP_BLOCKS];
    for (size_t i = 0; i < MISUSE_KEEP_BLOCKS; i++)
        keep[i] = malloc(64);
    for (size_t i = 0; i < MISUSE_KEEP_BLOCKS; i++)
        free(keep[i]);
}

static void double_free_remote(void)
{
    double_free_other_thread(free_twice);
}

static void double_free_outbox(void)
{
    double_free_other_thread(free_twice_with_heap);
}

static void double_free_large(void)
{
    sink = malloc(1 << 20);
    misused(sink);
    free(sink);
    free(sink);
}

static void free_stack(void)
{
    int local = 0;
    sink = &local;
    misused(sink);
    free(sink);
}

static void free_global(void)
{
    sink = &global_object;
    misused(sink);
    free(sink);
}

static void free_interior_small(void)
{
    char *p = malloc(200);
    sink = p + 48;
    misused(sink);
    free(sink);
}

static void free_interior_unaligned(void)
{
    char *p = malloc(200);
    sink = p + 5;
    misused(sink);
    free(sink);
}

static void free_interior_large(void)
{
    char *p = malloc(4 << 20);
    sink = p + (1 << 20);
    misused(sink);
    free(sink);
}

static void realloc_freed(void)
{
    void *keep = malloc(300);
    sink = malloc(300);
    misused(sink);
    free(sink);
    sink = realloc(sink, 600);
    free(keep);
}

static void realloc_interior(void)
{
    char *p = malloc(500);
    sink = p + 64;
    misused(sink);
    sink = realloc(sink, 1000);
}

static void free_sized_wrong(void)
{
    sink = malloc(100);
    misused(sink);
    free_sized(sink, 100000);
}

/* A small block's sized free is checked on free's fast path. */
static void free_sized_wrong_small(void)
{
    sink = malloc(48);
    misused(sink);
    free_sized(sink, 200);
}

/* new char[n] given back to the sized delete with four times n (another class, then pages). */
static void cxx_delete_wrong_size(void)
{
    static const size_t sizes[] = {24, 3000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *ok = malloc(sizes[i]);
        _ZdlPvm(ok, sizes[i]); /* the right size passes */
    }
    sink = malloc(300);
    misused(sink);
    _ZdlPvm(sink, 1200);
}

/* A freed large block waits in its heap's cache of freed runs; a write into its first bytes is
 * seen when the run is handed out again (here: the next block of its size, placed on it). */
static void large_write_after_free(void)
{
    char *p = malloc(LARGE_BLOCK);
    fill_kept(p, 1, LARGE_BLOCK);
    sink = p;
    free(p);
    misused(sink);
    memset(sink, 0x3c, 64);
    sink = malloc(LARGE_BLOCK);
}

/* Zero-size blocks are addresses no one may touch, before or after their free. */
static void zero_size_double_free(void)
{
    sink = malloc(0);
    misused(sink);
    free(sink);
    free(sink);
}

static void zero_size_between_slots(void)
{
    char *p = malloc(0);
    sink = p + 8;
    misused(sink);
    free(sink);
}

static void zero_size_write(void)
{
    sink = malloc(0);
    misused(sink);
    *(volatile char *)sink = 1;
}

static void zero_size_read_after_free(void)
{
    char *p = malloc(0);
    sink = p;
    free(p);
    misused(sink);
    (void)*(volatile char *)sink;
}

static void realloc_stack(void)
{
    int local = 0;
    sink = &local;
    misused(sink);
    sink = realloc(sink, 100);
}

/* An alignment the block lacks: twice its address's lowest set bit. */
static void free_aligned_sized_wrong(void)
{
    sink = malloc(100);
    uintptr_t a = (uintptr_t)sink;
    misused(sink);
    free_aligned_sized(sink, (size_t)(a & (~a + 1)) * 2, 100);
}

#define DOUBLE_FREE "double free"
#define NEVER       "free of a pointer arcalloc never returned"
#define INTERIOR    "free of a pointer into the middle of a block"

static const misuse_case_t cases[] = {
    {"double free, small block", DOUBLE_FREE, double_free_small},
    {"double free, medium block", DOUBLE_FREE, double_free_medium},
    {"double free, aligned small block", DOUBLE_FREE, double_free_aligned},
    {"free of a free block never handed out", DOUBLE_FREE, free_never_handed_out},
    {"free of a block its span has not cut", NEVER, free_past_cut_tail},
    {"double free, large block", DOUBLE_FREE, double_free_large},
    {"double free by a thread without a heap", DOUBLE_FREE, double_free_remote},
    {"double free by another thread with a heap", DOUBLE_FREE, double_free_outbox},
    {"free of a stack address", NEVER, free_stack},
    {"free of a global", NEVER, free_global},
    {"free of an interior pointer", INTERIOR, free_interior_small},
    {"free of an unaligned interior pointer", INTERIOR, free_interior_unaligned},
    {"free inside a large block", INTERIOR, free_interior_large},
    {"realloc of a freed block", "realloc of a freed block", realloc_freed},
    {"realloc of an interior pointer", "realloc of a pointer into the middle of a block",
     realloc_interior},
    {"realloc of a stack address", "realloc of a pointer arcalloc never returned", realloc_stack},
    {"free_sized with a wrong size", "sized free with a size larger than the block",
     free_sized_wrong},
    {"free_sized with a wrong size, small block", "sized free with a size larger than the block",
     free_sized_wrong_small},
    {"sized C++ delete with a wrong size", "sized free with a size larger than the block",
     cxx_delete_wrong_size},
    {"write after free of a large block", "write after free detected", large_write_after_free},
    {"double free of a zero-size block", DOUBLE_FREE, zero_size_double_free},
    {"free between zero-size blocks", NEVER, zero_size_between_slots},
    {"write through a zero-size block", NULL, zero_size_write},
    {"read through a freed zero-size block", NULL, zero_size_read_after_free},
    {"free_aligned_sized with a wrong alignment",
     "free_aligned_sized with an alignment the block does not have", free_aligned_sized_wrong},
};

/* Room for the first line and a 64-frame backtrace. */
#define STDERR_MAX 16384

/* Length of the report's first line (with its '\n'), 0 when there is none; the lines after it
 * must be backtrace frames "    #N 0x<addr> <name>", at least one when ARC_PROF is on. */
static size_t first_line_checked(const char *name, const char *out)
{
    const char *nl = strchr(out, '\n');
    if (!nl)
        return 0;
    unsigned frames = 0;
    int frames_ok = 1;
    for (const char *line = nl + 1; *line; frames++) {
        const char *end = strchr(line, '\n');
        char want[32];
        snprintf(want, sizeof want, "    #%u 0x", frames);
        if (!end || strncmp(line, want, strlen(want)) != 0)
            frames_ok = 0;
        line = end ? end + 1 : line + strlen(line);
    }
    CHECKF(frames_ok && (ARC_PROF ? frames > 0 : frames == 0),
           "%s: %u backtrace lines, or a malformed one, after the first: \"%s\"", name, frames,
           out);
    return (size_t)(nl - out) + 1;
}

static void run_case(const misuse_case_t *c)
{
    int err_pipe[2], addr_pipe[2];
    if (pipe(err_pipe) || pipe(addr_pipe)) {
        CHECK(!"pipe");
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(err_pipe[1], 2);
        close(err_pipe[0]);
        close(addr_pipe[0]);
        addr_fd = addr_pipe[1];
        alarm(CHILD_SECONDS);
        c->run();
        _exit(0); /* reached only when the misuse went unnoticed */
    }
    close(err_pipe[1]);
    close(addr_pipe[1]);
    static char out[STDERR_MAX];
    size_t len = 0;
    ssize_t n;
    while ((n = read(err_pipe[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(err_pipe[0]);
    uintptr_t addr = 0;
    int named = read(addr_pipe[0], &addr, sizeof addr) == (ssize_t)sizeof addr;
    close(addr_pipe[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!c->expect) {
        CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV && len == 0,
               "%s: child did not fault in silence (status 0x%x, stderr \"%s\")", c->name, status,
               out);
        CHECKF(named, "%s: the child named no address", c->name);
        return;
    }
    int aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    size_t first = first_line_checked(c->name, out);
    if (first > 0)
        out[first - 1] = '\0'; /* the checks below look at the first line only */
    CHECKF(aborted, "%s: child did not abort (status 0x%x)", c->name, status);
    CHECKF(named, "%s: the child named no address", c->name);
    /* src/base/report.c writes the address as arc_format_hex does: "0x", lower case, no leading
     * zeros, which is what PRIxPTR after "0x" gives. */
    static char want[STDERR_MAX];
    snprintf(want, sizeof want, "arcalloc: %s at 0x%" PRIxPTR, c->expect, addr);
    CHECKF(first > 0 && strcmp(out, want) == 0, "%s: stderr was \"%s\", want \"%s\"", c->name, out,
           want);
}

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
    printf("backend %s: %zu misuse cases\n", arc_backend_name(), sizeof cases / sizeof cases[0]);
    return check_done();
}
