/* test_misuse.c: every misuse arcalloc promises to catch, each run in a child process whose
 * stderr and death are checked: one line "arcalloc: <error> at 0x<address>", then SIGABRT.
 * With libunwind built in (ARC_PROF) a backtrace follows the line, one "    #N 0x..." line a
 * frame. Run once per backend (meson sets ARCALLOC_BACKEND). */
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

/* More 64-byte blocks than a few spans hold (a span holds 512 of them). */
#define MISUSE_KEEP_BLOCKS 4096

static int global_object;
static void *volatile sink; /* keeps the compiler from reasoning about the misuse */

typedef struct {
    const char *name;
    const char *expect; /* the error text the line must contain */
    void (*run)(uintptr_t *addr);
} misuse_case_t;

static void double_free_small(uintptr_t *addr)
{
    void *keep = malloc(64); /* a live neighbour */
    sink = malloc(64);
    *addr = (uintptr_t)sink;
    free(sink);
    free(sink);
    free(keep);
}

static void double_free_medium(uintptr_t *addr)
{
    sink = malloc(10000);
    *addr = (uintptr_t)sink;
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

/* The same from a thread that has a heap of its own (it allocated first): its frees of other
 * threads' blocks wait in its outbox, where the second one is caught. */
static void *free_twice_with_heap(void *p)
{
    sink = malloc(16); /* through the volatile: a malloc+free pair may be compiled away */
    free(sink);
    return free_twice(p);
}

/* Another thread frees the main thread's small block twice: the second free is caught by the
 * freeing thread (the first still waits in its outbox) or by the owner when it takes both back. */
static void double_free_other_thread(uintptr_t *addr, void *(*thread_main)(void *))
{
    sink = malloc(64);
    *addr = (uintptr_t)sink;
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, sink) != 0)
        _exit(3);
    pthread_join(t, NULL);
    /* Blocks kept live: the owner's spans run out, and its slow paths drain its remote list. */
    static void *keep[MISUSE_KEEP_BLOCKS];
    for (size_t i = 0; i < MISUSE_KEEP_BLOCKS; i++)
        keep[i] = malloc(64);
    for (size_t i = 0; i < MISUSE_KEEP_BLOCKS; i++)
        free(keep[i]);
}

static void double_free_remote(uintptr_t *addr)
{
    double_free_other_thread(addr, free_twice);
}

static void double_free_outbox(uintptr_t *addr)
{
    double_free_other_thread(addr, free_twice_with_heap);
}

static void double_free_large(uintptr_t *addr)
{
    sink = malloc(1 << 20);
    *addr = (uintptr_t)sink;
    free(sink);
    free(sink);
}

static void free_stack(uintptr_t *addr)
{
    int local = 0;
    sink = &local;
    *addr = (uintptr_t)sink;
    free(sink);
}

static void free_global(uintptr_t *addr)
{
    sink = &global_object;
    *addr = (uintptr_t)sink;
    free(sink);
}

static void free_interior_small(uintptr_t *addr)
{
    char *p = malloc(200);
    sink = p + 48;
    *addr = (uintptr_t)sink;
    free(sink);
}

static void free_interior_unaligned(uintptr_t *addr)
{
    char *p = malloc(200);
    sink = p + 5;
    *addr = (uintptr_t)sink;
    free(sink);
}

static void free_interior_large(uintptr_t *addr)
{
    char *p = malloc(4 << 20);
    sink = p + (1 << 20);
    *addr = (uintptr_t)sink;
    free(sink);
}

static void realloc_freed(uintptr_t *addr)
{
    void *keep = malloc(300);
    sink = malloc(300);
    *addr = (uintptr_t)sink;
    free(sink);
    sink = realloc(sink, 600);
    free(keep);
}

static void realloc_interior(uintptr_t *addr)
{
    char *p = malloc(500);
    sink = p + 64;
    *addr = (uintptr_t)sink;
    sink = realloc(sink, 1000);
}

static void free_sized_wrong(uintptr_t *addr)
{
    sink = malloc(100);
    *addr = (uintptr_t)sink;
    free_sized(sink, 100000);
}

static const misuse_case_t cases[] = {
    {"double free, small block", "double free", double_free_small},
    {"double free, medium block", "double free", double_free_medium},
    {"double free, large block", "double free", double_free_large},
    {"double free by a thread without a heap", "double free", double_free_remote},
    {"double free by another thread with a heap", "double free", double_free_outbox},
    {"free of a stack address", "never returned", free_stack},
    {"free of a global", "never returned", free_global},
    {"free of an interior pointer", "middle of a block", free_interior_small},
    {"free of an unaligned interior pointer", "middle of a block", free_interior_unaligned},
    {"free inside a large block", "middle of a block", free_interior_large},
    {"realloc of a freed block", "realloc of a freed block", realloc_freed},
    {"realloc of an interior pointer", "middle of a block", realloc_interior},
    {"free_sized with a wrong size", "free_sized", free_sized_wrong},
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
        alarm(10);
        uintptr_t addr = 0;
        /* The address goes out before the misuse: run() reports it through the pipe first. */
        c->run(&addr);
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
    close(addr_pipe[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    int aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    size_t first = first_line_checked(c->name, out);
    int one_line = first > 0;
    if (one_line)
        out[first - 1] = '\0'; /* the checks below look at the first line only */
    CHECKF(aborted, "%s: child did not abort (status 0x%x)", c->name, status);
    CHECKF(one_line && strncmp(out, "arcalloc: ", 10) == 0 && strstr(out, c->expect) &&
               strstr(out, " at 0x"),
           "%s: stderr was \"%s\"", c->name, out);
}

/* The address in the line must be the one misused: checked in-process for a few cases by
 * re-running the same steps up to the misuse in a child that prints the address first. */
static void check_address_named(void)
{
    int err_pipe[2];
    if (pipe(err_pipe)) {
        CHECK(!"pipe");
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(err_pipe[1], 2);
        sink = malloc(64);
        fprintf(stderr, "%p\n", sink);
        free(sink);
        free(sink);
        _exit(0);
    }
    close(err_pipe[1]);
    static char out[STDERR_MAX];
    size_t len = 0;
    ssize_t n;
    while ((n = read(err_pipe[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(err_pipe[0]);
    waitpid(pid, NULL, 0);
    char *nl = strchr(out, '\n');
    CHECK(nl != NULL);
    if (!nl)
        return;
    *nl = '\0';
    size_t first = first_line_checked("double free, address named", nl + 1);
    CHECK(first > 0);
    if (!first)
        return;
    nl[1 + first] = '\0'; /* the report's first line, with its '\n' */
    static char want[STDERR_MAX + 64];
    snprintf(want, sizeof want, "arcalloc: double free at %s\n", out);
    CHECKF(strcmp(nl + 1, want) == 0, "got \"%s\", want \"%s\"", nl + 1, want);
}

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
    check_address_named();
    printf("backend %s: %zu misuse cases\n", arc_backend_name(), sizeof cases / sizeof cases[0]);
    return check_done();
}
