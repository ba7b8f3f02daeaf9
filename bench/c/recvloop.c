/* The limit for the bulk-receive row: connect to 127.0.0.1:PORT and copy
 * everything until end of stream into OUT, either with recv(2) into a 1 MiB
 * buffer plus write(2), or with splice(2) socket -> pipe -> file.
 * Usage: recvloop recv|splice PORT OUT */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define CHUNK (1 << 20)

static void die(const char *what) { perror(what); exit(1); }

static void write_all(int fd, const char *buf, ssize_t n) {
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w <= 0) die("write");
        buf += w;
        n -= w;
    }
}

static long long by_recv(int s, int out) {
    static char buf[CHUNK];
    long long total = 0;
    for (;;) {
        ssize_t n = recv(s, buf, sizeof buf, 0);
        if (n < 0) die("recv");
        if (n == 0) return total;
        write_all(out, buf, n);
        total += n;
    }
}

static long long by_splice(int s, int out) {
    int pipefd[2];
    if (pipe(pipefd) < 0) die("pipe");
    fcntl(pipefd[1], F_SETPIPE_SZ, CHUNK); /* best effort: a bigger pipe, fewer calls */
    long long total = 0;
    for (;;) {
        ssize_t n = splice(s, NULL, pipefd[1], NULL, CHUNK, SPLICE_F_MOVE);
        if (n < 0) die("splice from socket");
        if (n == 0) return total;
        while (n > 0) {
            ssize_t m = splice(pipefd[0], NULL, out, NULL, n, SPLICE_F_MOVE);
            if (m <= 0) die("splice to file");
            n -= m;
            total += m;
        }
    }
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: recvloop recv|splice PORT OUT\n"); return 2; }
    int out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0) die(argv[3]);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) die("socket");
    struct timeval tv = {30, 0}; /* bounded: a stuck peer ends the run */
    if (setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) die("SO_RCVTIMEO");
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
    long long total = strcmp(argv[1], "splice") == 0 ? by_splice(s, out) : by_recv(s, out);
    if (close(out) < 0) die("close");
    close(s);
    printf("%lld\n", total);
    return 0;
}
