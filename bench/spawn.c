/* spawn.c: the runner's launcher. Runs one program and writes its wall time, exit status, peak
 * RSS (wait4's ru_maxrss) and page faults (ru_minflt, ru_majflt) to a report file. A launcher this
 * small matters: Linux carries a process's RSS at exec into the child's ru_maxrss, so programs
 * started straight from the Python runner would all report at least the runner's own ~20 MiB. Never
 * touches the program's output, and adds to its environment only the NAME=VALUE pairs it is given.
 *
 * usage: spawn REPORT TIMEOUT_S STDIN|- [NAME=VALUE...] PROGRAM [ARGS...]
 * NAME=VALUE pairs are set in the program's environment only (as env(1) does), so LD_PRELOAD
 * reaches the program and not the launcher. REPORT gets one line:
 * "wall_s=W maxrss_kb=K minflt=F majflt=J status=S" (F, J: the program's minor and major page
 * faults, which include the few the forked launcher takes before exec; S: the raw wait
 * status). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Exit status of the launcher itself when it cannot run the program at all (as env(1)). */
#define SPAWN_CANNOT_RUN 126

static volatile pid_t child_pid;

static void timeout_kill(int sig)
{
    (void)sig;
    if (child_pid > 0)
        kill(child_pid, SIGKILL);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr,
                "usage: spawn REPORT TIMEOUT_S STDIN|- [NAME=VALUE...] PROGRAM [ARGS...]\n");
        return SPAWN_CANNOT_RUN;
    }
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
