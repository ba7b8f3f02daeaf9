/* The limit for the round-trip row: the system calls a sockrepl round-trip
 * script makes, and nothing else. One process opens a loopback TCP listener,
 * connects to it and accepts, then does N times: send 1 byte a->b, recv it on
 * b, send 1 byte b->a, recv it on a. Blocking sockets, no output.
 * Usage: roundtrip N */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static void die(const char *what) { perror(what); exit(1); }

/* Bounded: no call may block for longer than this. */
static void set_timeouts(int fd) {
    struct timeval tv = {30, 0};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) die("SO_RCVTIMEO");
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) die("SO_SNDTIMEO");
}

static void one_byte(int from, int to) {
    char byte = 'x';
    if (send(from, &byte, 1, 0) != 1) die("send");
    if (recv(to, &byte, 1, 0) != 1 || byte != 'x') die("recv");
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 20000;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int srv = socket(AF_INET, SOCK_STREAM, 0);
    if (srv < 0) die("socket");
    if (bind(srv, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (listen(srv, 128) < 0) die("listen");
    if (getsockname(srv, (struct sockaddr *)&addr, &len) < 0) die("getsockname");
    int a = socket(AF_INET, SOCK_STREAM, 0);
    if (a < 0) die("socket");
    if (connect(a, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
    int b = accept(srv, NULL, NULL);
    if (b < 0) die("accept");
    set_timeouts(a);
    set_timeouts(b);
    for (long i = 0; i < n; i++) {
        one_byte(a, b);
        one_byte(b, a);
    }
    close(a);
    close(b);
    close(srv);
    return 0;
}
