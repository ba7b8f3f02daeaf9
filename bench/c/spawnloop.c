/* The floor of the spawn row: start /bin/true with posix_spawn (vfork and
 * exec in glibc) and wait for it, N times, nothing else. Usage: spawnloop N */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    char *args[] = {"/bin/true", NULL};
    for (int i = 0; i < n; i++) {
        pid_t pid;
        int status;
        if (posix_spawn(&pid, "/bin/true", NULL, NULL, args, environ) != 0) {
            perror("posix_spawn");
            return 1;
        }
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "/bin/true did not exit 0\n");
            return 1;
        }
    }
    return 0;
}
