/* Peak RSS of one command, measured precisely.
 *
 * A child's ru_maxrss also counts the memory of the process it was forked
 * from, as it stood at exec time; for children of the Python harness that
 * floor is Python's own ~20 MiB. This tiny program forks and execs the
 * command instead, waits for it, and writes its ru_maxrss (KiB) to REPORT.
 * Usage: maxrss REPORT COMMAND [ARG...]; exits with the command's status. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: maxrss REPORT COMMAND [ARG...]\n"); return 2; }
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 2; }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    int status;
    struct rusage usage;
    if (wait4(pid, &status, 0, &usage) < 0) { perror("wait4"); return 2; }
    FILE *report = fopen(argv[1], "w");
    if (!report) { perror(argv[1]); return 2; }
    fprintf(report, "%ld\n", usage.ru_maxrss);
    fclose(report);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
