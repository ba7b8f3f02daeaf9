/* The limit for the bulk-send row: connect to 127.0.0.1:PORT and sendfile(2)
 * the whole FILE, then close. Usage: sendfile PORT FILE */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static void die(const char *what) { perror(what); exit(1); }

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: sendfile PORT FILE\n"); return 2; }
    int file = open(argv[2], O_RDONLY);
    if (file < 0) die(argv[2]);
    struct stat st;
    if (fstat(file, &st) < 0) die("fstat");
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) die("socket");
    struct timeval tv = {30, 0}; /* bounded: a stuck peer ends the run */
    if (setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) die("SO_SNDTIMEO");
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
    off_t left = st.st_size;
    while (left > 0) {
        ssize_t sent = sendfile(s, file, NULL, left > (1 << 30) ? (1 << 30) : left);
        if (sent <= 0) die("sendfile");
        left -= sent;
    }
    close(s);
    return 0;
}
