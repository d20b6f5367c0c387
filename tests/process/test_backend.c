/* test_backend.c: ARCALLOC_BACKEND picks the thread heaps' byte allocator at start-up; an
 * unknown value gets one warning line and the build default. Each case re-executes this
 * program with its own environment and reads what the child says. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arcalloc.h"
#include "check.h"

/* Runs this program as "--child" with ARCALLOC_BACKEND=value (NULL: unset); captures output. */
static void run_child(const char *value, char *out, size_t cap, char *err, size_t errcap)
{
    int o[2], e[2];
    if (pipe(o) || pipe(e))
        return;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(o[1], 1);
        dup2(e[1], 2);
        char var[64];
        snprintf(var, sizeof var, "ARCALLOC_BACKEND=%s", value ? value : "");
        char *envp[] = {value ? var : NULL, NULL};
        execle("/proc/self/exe", "test_backend", "--child", (char *)NULL, envp);
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    ssize_t n = read(o[0], out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
    n = read(e[0], err, errcap - 1);
    err[n > 0 ? n : 0] = '\0';
    close(o[0]);
    close(e[0]);
    waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--child") == 0) {
        void *p = malloc(100); /* the first allocation starts arcalloc */
        printf("%s\n", arc_backend_name());
        free(p);
        return 0;
    }
    static const char *const names[] = {"tlsf", "buddy", "slab"};
    char out[256], err[512];
    for (int i = 0; i < 3; i++) {
        run_child(names[i], out, sizeof out, err, sizeof err);
        out[strcspn(out, "\n")] = '\0';
        CHECKF(strcmp(out, names[i]) == 0, "ARCALLOC_BACKEND=%s gave \"%s\"", names[i], out);
        CHECKF(err[0] == '\0', "unexpected stderr \"%s\"", err);
    }
    run_child(NULL, out, sizeof out, err, sizeof err);
    out[strcspn(out, "\n")] = '\0';
    CHECK(strcmp(out, ARC_DEFAULT_BACKEND) == 0);
    run_child("bogus", out, sizeof out, err, sizeof err);
    out[strcspn(out, "\n")] = '\0';
    CHECK(strcmp(out, ARC_DEFAULT_BACKEND) == 0);
    CHECKF(strncmp(err, "arcalloc: warning: ", 19) == 0 && strstr(err, "ARCALLOC_BACKEND") &&
               strstr(err, "tlsf, buddy, slab") && strchr(err, '\n') == err + strlen(err) - 1,
           "warning was \"%s\"", err);
    return check_done();
}
