/* spawn.c: the runner's launcher. Runs one program and writes its wall time, exit status, peak
 * RSS (wait4's ru_maxrss) and page faults (ru_minflt, ru_majflt) to a report file. A launcher this
 * small matters: Linux carries a process's RSS at exec into the child's ru_maxrss, so programs
 * started straight from the Python runner would all report at least the runner's own ~20 MiB. Never
 * touches the program's output, and adds to its environment only the NAME=VALUE pairs it is given.
 *
 * usage: spawn [--warm-mb=N] REPORT TIMEOUT_S STDIN|- [NAME=VALUE...] PROGRAM [ARGS...]
 * NAME=VALUE pairs are set in the program's environment only (as env(1) does), so LD_PRELOAD
 * reaches the program and not the launcher. --warm-mb=N: before the clock starts, the launcher
 * maps N MiB (asking for huge pages), writes every page and unmaps it, so the program starts
 * on memory the machine has just used; on a virtual machine that hands free memory back to its
 * host (free page reporting: free 2 MiB blocks go back about 2 s after they are freed), memory
 * idle for longer costs a host fault per 4 KiB at its next use, up to 40 times a warm page's
 * cost, and which program pays it depends on timing, not on its allocator. The mapping is gone
 * before the fork, so the program's peak RSS and faults do not include it. REPORT gets one
 * line:
 * "wall_s=W maxrss_kb=K minflt=F majflt=J status=S" (F, J: the program's minor and major page
 * faults, which include the few the forked launcher takes before exec; S: the raw wait
 * status). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Exit status of the launcher itself when it cannot run the program at all (as env(1)). */
#define SPAWN_CANNOT_RUN 126

/* Bytes in a MiB, and the page stride of the warm-up writes (the smallest page Linux uses). */
#define SPAWN_MIB       ((size_t)1 << 20)
#define SPAWN_WARM_STEP 4096u
#define SPAWN_WARM_FLAG "--warm-mb="

static volatile pid_t child_pid;

/* Writes every page of a fresh `mib` MiB mapping, then unmaps it (see --warm-mb above). */
static void warm_memory(size_t mib)
{
    size_t bytes = mib * SPAWN_MIB;
    char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return; /* nothing warmed: the run is measured as it would be without the flag */
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
    for (size_t off = 0; off < bytes; off += SPAWN_WARM_STEP)
        ((volatile char *)p)[off] = 1;
    munmap(p, bytes);
}

static void timeout_kill(int sig)
{
    (void)sig;
    if (child_pid > 0)
        kill(child_pid, SIGKILL);
}

int main(int argc, char **argv)
{
    size_t warm_mib = 0;
    if (argc > 1 && strncmp(argv[1], SPAWN_WARM_FLAG, strlen(SPAWN_WARM_FLAG)) == 0) {
        warm_mib = strtoul(argv[1] + strlen(SPAWN_WARM_FLAG), NULL, 10);
        argv++;
        argc--;
    }
    if (argc < 5) {
        fprintf(stderr, "usage: spawn [--warm-mb=N] REPORT TIMEOUT_S STDIN|- [NAME=VALUE...] "
                        "PROGRAM [ARGS...]\n");
        return SPAWN_CANNOT_RUN;
    }
    if (warm_mib)
        warm_memory(warm_mib);
    const char *report = argv[1], *input = argv[3];
    int prog = 4;
    while (prog < argc - 1 && strchr(argv[prog], '='))
        prog++;
    double timeout = strtod(argv[2], NULL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("spawn: fork");
        return SPAWN_CANNOT_RUN;
    }
    if (pid == 0) {
        if (input[0] != '-' || input[1] != '\0') {
            int fd = open(input, O_RDONLY);
            if (fd < 0 || dup2(fd, STDIN_FILENO) < 0) {
                perror("spawn: stdin");
                _exit(SPAWN_CANNOT_RUN);
            }
            close(fd);
        }
        for (int i = 4; i < prog; i++)
            putenv(argv[i]);
        execvp(argv[prog], argv + prog);
        fprintf(stderr, "spawn: cannot run %s: %s\n", argv[prog], strerror(errno));
        _exit(SPAWN_CANNOT_RUN);
    }
    child_pid = pid;
    struct sigaction sa = {0};
    sa.sa_handler = timeout_kill;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0},
                           {(time_t)timeout, (suseconds_t)((timeout - (time_t)timeout) * 1e6)}};
    if (timeout > 0)
        setitimer(ITIMER_REAL, &it, NULL);
    /* Wait without reaping, so the timer can never signal a recycled pid; then reap. */
    siginfo_t si;
    while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
        ;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    child_pid = 0;
    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0)
        if (errno != EINTR) {
            perror("spawn: wait4");
            return SPAWN_CANNOT_RUN;
        }
    FILE *f = fopen(report, "w");
    if (!f) {
        perror("spawn: report");
        return SPAWN_CANNOT_RUN;
    }
    fprintf(f, "wall_s=%.6f maxrss_kb=%ld minflt=%ld majflt=%ld status=%d\n",
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, ru.ru_maxrss,
            ru.ru_minflt, ru.ru_majflt, status);
    fclose(f);
    return 0;
}
