/* check.h: the test harness every test program shares. CHECK records a failure and goes on
 * (one run shows every broken case); check_done() prints "N passed, M failed" and gives the
 * exit status. Header-only so each test is one self-contained program. */
#ifndef ARC_TESTS_CHECK_H
#define ARC_TESTS_CHECK_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned long check_passed, check_failed;

/* Fills n bytes at p with `byte` by a call the compiler cannot see through. A memset followed by
 * free is a dead store to the compiler (GCC drops it at -O2): a test that dirties a block before
 * freeing it, or reads the old bytes back through a dangling pointer, would then test nothing
 * (test_secure's freed-run check read untouched zero pages and failed when a mark's first byte
 * was 0, one run in 256). */
static inline void fill_kept(void *p, int byte, size_t n)
{
    void *(*volatile set)(void *, int, size_t) = memset;
    set(p, byte, n);
}

/* Allocates n bytes and frees them, which the compiler keeps: it removes free(malloc(n)) whole
 * (GCC and clang at -O2), and a test that does so to start arcalloc or to give a thread a heap
 * did neither. */
static inline void malloc_free_kept(size_t n)
{
    void *volatile p = malloc(n);
    free(p);
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            if (check_failed <= 50)                                                                \
                fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                                          \
    } while (0)

/* CHECK with a printf-style explanation on failure. */
#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            if (check_failed <= 50) {                                                              \
                fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);           \
                fprintf(stderr, __VA_ARGS__);                                                      \
                fputc('\n', stderr);                                                               \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* clang treats malloc as touching no memory the program can see: it may drop a malloc whose
 * result is only compared with NULL, and keep errno in a register across the call. Tests of
 * failing allocations go through these, so the call happens and errno is really read. */
#define CHECK_ERRNO_SET(v) (*(volatile int *)&errno = (v))
#define CHECK_ERRNO()      (*(volatile int *)&errno)
static void *volatile check_sink;
#define CHECK_KEEP(expr) (check_sink = (expr))

/* Runs misuse(arg) in a forked child whose stderr goes to a pipe: the child must die of SIGABRT
 * with `message` in what it wrote (an allocator's report of the misuse). `what` names the case in
 * a failure. */
static inline void check_aborts(void (*misuse)(void *), void *arg, const char *message,
                                const char *what)
{
    int err[2];
    if (pipe(err) != 0)
        exit(2);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(err[1], 2);
        close(err[0]);
        misuse(arg);
        _exit(0);
    }
    close(err[1]);
    char text[512] = "";
    size_t got = 0;
    ssize_t n;
    while (got + 1 < sizeof text && (n = read(err[0], text + got, sizeof text - 1 - got)) > 0)
        got += (size_t)n;
    text[got] = '\0';
    close(err[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "%s: the child was not aborted",
           what);
    CHECKF(strstr(text, message) != NULL, "%s: stderr said: %s", what, text);
}

static inline int check_done(void)
{
    printf("%lu passed, %lu failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

/* A small fixed-seed generator (xorshift64*): tests must replay exactly. */
typedef struct {
    unsigned long long s;
} check_rng_t;

static inline unsigned long long check_rand(check_rng_t *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ULL;
}

/* Uniform in [lo, hi]. */
static inline unsigned long long check_range(check_rng_t *r, unsigned long long lo,
                                             unsigned long long hi)
{
    return lo + check_rand(r) % (hi - lo + 1);
}

/* The process's resident set size in bytes, from /proc/self/statm (0 if it cannot be read). */
static inline size_t check_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

#endif
