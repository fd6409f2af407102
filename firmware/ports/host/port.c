/* Host (Linux/macOS) port of the tinyml port API, for tests and development without a board.
 *
 * With TINYML_HOST_TCP=<port> (0 = any free port) it is a TCP server on 127.0.0.1 that behaves
 * like a UART: one client at a time, bytes written with no client attached are lost (as on a
 * wire), a client that disconnects can reconnect (a re-plug). It prints "tinyml-host: listening
 * on PORT" on stderr once it listens. Without the variable it uses stdin/stdout. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tinyml/port.h"

static int listen_fd = -1;
static int in_fd = -1;
static int out_fd = -1;
static struct timespec t_start;

static void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK); }

/* A UART has a FIFO of a few bytes, not megabytes of socket buffer: keep the send buffer small
 * so a device streaming back to back cannot queue minutes of results ahead of a reply. */
static void like_a_uart(int fd) {
    int one = 1, small = 4096;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
}

static void try_accept(void) {
    int fd;
    if (listen_fd < 0 || in_fd >= 0) return;
    fd = accept(listen_fd, NULL, NULL);
    if (fd < 0) return;
    like_a_uart(fd);
    set_nonblocking(fd);
    in_fd = out_fd = fd;
}

static void drop_client(void) {
    if (listen_fd >= 0 && in_fd >= 0) {
        close(in_fd);
        in_fd = out_fd = -1;
    }
}

void tinyml_port_init(uint32_t baud) {
    const char *tcp = getenv("TINYML_HOST_TCP");
    (void)baud;
    clock_gettime(CLOCK_MONOTONIC, &t_start);
    if (tcp) {
        struct sockaddr_in addr;
        socklen_t len = sizeof addr;
        int one = 1;
        listen_fd = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        memset(&addr, 0, sizeof addr);
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons((uint16_t)atoi(tcp));
        if (bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listen_fd, 1) != 0) {
            fprintf(stderr, "tinyml-host: cannot listen on port %s: %s\n", tcp, strerror(errno));
            exit(2);
        }
        getsockname(listen_fd, (struct sockaddr *)&addr, &len);
        fprintf(stderr, "tinyml-host: listening on %u\n", (unsigned)ntohs(addr.sin_port));
        fflush(stderr);
        /* Like a board that boots before anyone opens the port: wait for the first client so
         * tests see the boot banner (a UART would have lost it). */
        if (getenv("TINYML_HOST_WAIT")) {
            int fd = accept(listen_fd, NULL, NULL);
            if (fd >= 0) {
                like_a_uart(fd);
                set_nonblocking(fd);
                in_fd = out_fd = fd;
            }
        }
        set_nonblocking(listen_fd);
    } else {
        in_fd = 0;
        out_fd = 1;
        set_nonblocking(0);
    }
}

void tinyml_port_write(const uint8_t *buf, size_t n) {
    try_accept();
    while (n && out_fd >= 0) {
        ssize_t w = write(out_fd, buf, n);
        if (w > 0) {
            buf += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd p = {out_fd, POLLOUT, 0};
            poll(&p, 1, 100);
        } else {
            drop_client();
        }
    }
}

int tinyml_port_read(void) {
    uint8_t c;
    ssize_t r;
    try_accept();
    if (in_fd < 0) return -1;
    r = read(in_fd, &c, 1);
    if (r == 1) return c;
    if (r == 0) {
        if (listen_fd < 0) exit(0); /* stdin closed */
        drop_client();
    } else if (errno != EAGAIN && errno != EINTR) {
        drop_client();
    }
    return -1;
}

void tinyml_port_idle(void) {
    /* The "interrupt" is data on the line or a new client; wake at least every ms like a tick. */
    struct pollfd p = {in_fd >= 0 ? in_fd : listen_fd, POLLIN, 0};
    poll(&p, 1, 1);
}

uint32_t tinyml_port_micros(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint32_t)((t.tv_sec - t_start.tv_sec) * 1000000LL + (t.tv_nsec - t_start.tv_nsec) / 1000);
}

uint32_t tinyml_port_cycles(void) { return 0; }
