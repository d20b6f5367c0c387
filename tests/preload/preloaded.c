/* preloaded.c: a program built without arcalloc, run with LD_PRELOAD=libarcalloc.so (meson sets
 * it; a cross build runs it under its emulator, whose dynamic loader preloads the library the
 * same way). It finds arcalloc's arc_owns at run time and checks that the blocks of the
 * standard names, of the C library's own allocations and of other threads are arcalloc's. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* One size per path: a small block, a medium block, a page run. */
#define SMALL_BYTES  40
#define MEDIUM_BYTES 5000
#define LARGE_BYTES  (1u << 20)
#define ALIGN_BYTES  256
#define THREADS      4
#define PER_THREAD   2000

typedef int (*owns_fn)(const void *);
static owns_fn owns;

static void *thread_blocks(void *arg)
{
    (void)arg;
    size_t owned = 0;
    for (int i = 0; i < PER_THREAD; i++) {
        void *p = malloc((size_t)(i % MEDIUM_BYTES) + 1);
        owned += p && owns(p);
        free(p);
    }
    return (void *)owned;
}

int main(void)
{
    owns = (owns_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "arc_owns");
    CHECKF(owns != NULL, "arc_owns not found: is libarcalloc.so preloaded?");
    if (!owns)
        return check_done();
    void *blocks[] = {malloc(SMALL_BYTES),         malloc(MEDIUM_BYTES),
                      malloc(LARGE_BYTES),         calloc(SMALL_BYTES, 3),
                      realloc(NULL, MEDIUM_BYTES), aligned_alloc(ALIGN_BYTES, ALIGN_BYTES),
                      strdup("preloaded")};
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        CHECKF(blocks[i] != NULL && owns(blocks[i]), "block %zu (%p) is not arcalloc's", i,
               blocks[i]);
        free(blocks[i]);
    }
    void *aligned = NULL;
    CHECK(posix_memalign(&aligned, ALIGN_BYTES, LARGE_BYTES) == 0 && owns(aligned));
    free(aligned);
    char *text = NULL;
    CHECK(asprintf(&text, "%s %d", "arcalloc", 17) > 0 && owns(text));
    free(text);
    pthread_t tid[THREADS];
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_create(&tid[t], NULL, thread_blocks, NULL) == 0);
    for (int t = 0; t < THREADS; t++) {
        void *owned = NULL;
        CHECK(pthread_join(tid[t], &owned) == 0);
        CHECKF((size_t)owned == PER_THREAD, "thread %d: %zu of %d blocks arcalloc's", t,
               (size_t)owned, PER_THREAD);
    }
    return check_done();
}
