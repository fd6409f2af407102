/* simavr_uart_bridge: the virtual Arduino Uno of tinyml.
 *
 * Loads an AVR ELF into a simavr core (default atmega328p at 16 MHz) and connects UART0 both
 * ways to a TCP server socket on 127.0.0.1, so pyserial's socket://127.0.0.1:PORT reaches the
 * sketch exactly as it reaches a QEMU board. Built by the tinyml-simavr PlatformIO platform with
 * the host gcc: gcc -O2 -I/usr/include/simavr simavr_uart_bridge.c -lsimavr -lelf
 *
 * Usage: simavr_uart_bridge FIRMWARE.elf [--port N] [--mcu NAME] [--freq HZ] [--realtime]
 *                           [--start-delay-ms MS] [--no-credit]
 * It prints "listening on 127.0.0.1:PORT" (PORT 0 picks a free one) and, like QEMU's
 * server=on,wait=on, starts the CPU only when the first client connects (after a short delay,
 * because pyserial discards what arrives while it opens the port). Later clients may reconnect;
 * while none is connected the sketch's output is dropped, as on an unplugged UART.
 *
 * Flow control, so that no byte is lost:
 *  - simavr's own UART FIFO: bytes go in only while it signals XON (its FIFO is not full).
 *  - the sketch's receive buffer (64 bytes in the Arduino core, filled by the RX interrupt
 *    whether or not the sketch reads): if the ELF has the symbol `tinyml_sim_rx_taken` (a
 *    uint16 the tinyml Arduino port increments for every byte it reads), at most 63 bytes are
 *    ever in flight between the socket and the sketch. Without it the bridge behaves like a
 *    real UART, and a sketch that does not keep up loses bytes exactly as on a real Uno
 *    (--no-credit ignores the symbol: to see what a real Uno would lose).
 *  - towards the host, a blocking send: a host that does not read stalls the simulation.
 *
 * Time: simavr runs a busy 16 MHz AVR several times faster than real time; device timings
 * (micros()) are simulated time, i.e. what a real Uno measures. While the sketch sleeps
 * (SLEEP_MODE_IDLE) the bridge waits in poll() for the simulated time, so an idle board costs
 * no CPU. --realtime keeps the simulation from ever running ahead of the wall clock.
 *
 * RAM: at load the bridge paints the SRAM between the end of the static data (__heap_start) and
 * RAMEND; on exit (and on SIGUSR1) it logs the static size and the stack's high-water mark, i.e.
 * the RAM the whole firmware really used ("ram: static N B, stack peak M B, ...").
 *
 * Exit: 0 on SIGTERM/SIGINT or when the sketch ends (cli; sleep), 2 when the core crashes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_irq.h"

#define RX_WINDOW 63u          /* the Arduino core's 64-byte ring buffer holds 63 bytes */
#define BATCH 4096             /* instructions between two looks at the socket */
#define SRAM_BASE 0x800000u    /* avr-gcc puts the data space at this ELF address */
#define CREDIT_SYMBOL "tinyml_sim_rx_taken"

static volatile sig_atomic_t stop_requested, report_requested;
static int listen_fd = -1, client_fd = -1;
static int realtime;
static int io_ready;           /* the socket woke a sleep: leave the run batch early */
static uint64_t sleep_owed_us; /* simulated sleep not yet waited for in wall time */

static uint8_t in_buf[4096]; /* received from the host, not yet given to the UART */
static size_t in_head, in_len;
static uint8_t out_buf[4096]; /* sent by the sketch, not yet written to the host */
static size_t out_len;

static int uart_xoff;          /* simavr's UART FIFO is full */
static int32_t credit_addr = -1; /* SRAM address of tinyml_sim_rx_taken, -1 if absent */
static uint16_t bytes_fed;     /* bytes given to the UART (modulo 2^16, like the counter) */
static uint64_t total_in, total_out;

static void on_signal(int sig) {
    if (sig == SIGUSR1)
        report_requested = 1;
    else
        stop_requested = 1;
}

static void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_msg(const char *fmt, ...) {
    va_list ap;
    fputs("simavr-uart-bridge: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ------------------------------------------------------------------ ELF symbols */

/* SRAM address of a data symbol (`size` bytes, or any size if 0); -1 if the ELF lacks it. */
static int32_t find_symbol(const char *path, const char *wanted, size_t size) {
    size_t wlen = strlen(wanted);
    int32_t found = -1;
    Elf *e;
    Elf_Scn *scn = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    if (elf_version(EV_CURRENT) == EV_NONE || !(e = elf_begin(fd, ELF_C_READ, NULL))) {
        close(fd);
        return -1;
    }
    while (found < 0 && (scn = elf_nextscn(e, scn)) != NULL) {
        GElf_Shdr sh;
        Elf_Data *data;
        size_t i, n;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB) continue;
        data = elf_getdata(scn, NULL);
        n = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
        for (i = 0; data && i < n; i++) {
            GElf_Sym sym;
            const char *name;
            if (!gelf_getsym(data, (int)i, &sym)) continue;
            name = elf_strptr(e, sh.sh_link, sym.st_name);
            /* LTO may turn it into a local symbol, possibly with a suffix */
            if (name && strncmp(name, wanted, wlen) == 0 && (name[wlen] == 0 || name[wlen] == '.') &&
                sym.st_value >= SRAM_BASE && (size == 0 || sym.st_size == size)) {
                found = (int32_t)(sym.st_value - SRAM_BASE);
                break;
            }
        }
    }
    elf_end(e);
    close(fd);
    return found;
}

/* ------------------------------------------------------------------ sockets */

static int open_listener(int port) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)port);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 1) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void close_client(const char *why) {
    if (client_fd < 0) return;
    close(client_fd);
    client_fd = -1;
    in_head = in_len = 0; /* what the host sent and the UART has not taken yet goes with it */
    out_len = 0;
    log_msg("client disconnected (%s)", why);
}

static void accept_client(void) {
    int one = 1;
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) return;
    /* without TCP_NODELAY each small reply may wait ~40 ms for the host's delayed ACK */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    client_fd = fd;
    log_msg("client connected");
}

static void flush_output(void) {
    size_t done = 0;
    if (client_fd < 0) {
        out_len = 0;
        return;
    }
    while (done < out_len) {
        ssize_t n = send(client_fd, out_buf + done, out_len - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR && !stop_requested) continue;
        if (n <= 0) {
            close_client("send failed");
            return;
        }
        done += (size_t)n;
    }
    total_out += out_len;
    out_len = 0;
}

/* Waits up to `usec` for the socket (new client, or data when there is room for it); >0 if it
 * became ready. */
static int wait_io(uint64_t usec) {
    struct pollfd p[1];
    struct timespec ts;
    int nfds = 0;
    if (client_fd >= 0) {
        if (in_len < sizeof in_buf) {
            p[0].fd = client_fd;
            p[0].events = POLLIN;
            nfds = 1;
        }
    } else {
        p[0].fd = listen_fd;
        p[0].events = POLLIN;
        nfds = 1;
    }
    ts.tv_sec = (time_t)(usec / 1000000u);
    ts.tv_nsec = (long)(usec % 1000000u) * 1000L;
    return ppoll(p, (nfds_t)nfds, &ts, NULL);
}

/* Non-blocking: accept a client, or read what it sent into in_buf. */
static void service_socket(void) {
    struct pollfd p;
    if (client_fd < 0) {
        p.fd = listen_fd;
        p.events = POLLIN;
        if (poll(&p, 1, 0) > 0) accept_client();
        return;
    }
    if (in_len == 0) in_head = 0;
    if (in_head + in_len < sizeof in_buf) {
        ssize_t n = recv(client_fd, in_buf + in_head + in_len, sizeof in_buf - in_head - in_len, MSG_DONTWAIT);
        if (n == 0) {
            close_client("closed by the host");
        } else if (n > 0) {
            in_len += (size_t)n;
            total_in += (uint64_t)n;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            close_client(strerror(errno));
        }
    }
}

/* ------------------------------------------------------------------ UART */

static avr_t *avr;
static avr_irq_t *uart_input;

static void on_uart_output(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq;
    (void)param;
    if (out_len == sizeof out_buf) flush_output();
    out_buf[out_len++] = (uint8_t)value;
}

static void on_uart_xon(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq;
    (void)value;
    (void)param;
    uart_xoff = 0;
}

static void on_uart_xoff(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq;
    (void)value;
    (void)param;
    uart_xoff = 1;
}

#define PAINT 0xA5
static int32_t heap_start = -1; /* first SRAM byte after .data/.bss/.noinit, -1 if unknown */

static void paint_stack(void) {
    uint32_t a;
    if (heap_start < 0) return;
    for (a = (uint32_t)heap_start; a <= avr->ramend; a++) avr->data[a] = PAINT;
}

static void report_ram(void) {
    uint32_t a, ram_start = 0x100; /* ATmega328P: registers and I/O below 0x100 */
    if (heap_start < 0) {
        log_msg("ram: unknown (no __heap_start in the ELF)");
        return;
    }
    for (a = (uint32_t)heap_start; a <= avr->ramend && avr->data[a] == PAINT; a++) {
    }
    log_msg("ram: static %u B (data+bss), stack peak %u B, never touched %u B, of %u B SRAM",
            (unsigned)((uint32_t)heap_start - ram_start), (unsigned)(avr->ramend + 1u - a),
            (unsigned)(a - (uint32_t)heap_start), (unsigned)(avr->ramend + 1u - ram_start));
}

static uint16_t bytes_taken(void) {
    return (uint16_t)(avr->data[credit_addr] | (avr->data[credit_addr + 1] << 8));
}

/* Gives the UART what the host sent, as far as both flow controls allow. */
static void feed_uart(void) {
    while (in_len && !uart_xoff) {
        if (credit_addr >= 0 && (uint16_t)(bytes_fed - bytes_taken()) >= RX_WINDOW) return;
        avr_raise_irq(uart_input, in_buf[in_head]);
        in_head++;
        in_len--;
        bytes_fed++;
    }
}

/* simavr calls this while the sketch sleeps, with the cycles until its next timer event. The
 * Uno's timers wake simavr every few dozen cycles, so the simulated sleep is summed and waited
 * for in wall time once it reaches a millisecond (one poll() per ms instead of thousands). */
static void on_sleep(avr_t *a, avr_cycle_count_t how_long) {
    if (realtime) return; /* the main loop keeps pace with the clock */
    sleep_owed_us += how_long * 1000000u / a->frequency;
    if (sleep_owed_us < 1000u) return;
    flush_output();
    if (wait_io(sleep_owed_us) > 0) io_ready = 1;
    sleep_owed_us = 0;
}

/* ------------------------------------------------------------------ main */

static void usage(void) {
    fprintf(stderr, "usage: simavr_uart_bridge FIRMWARE.elf [--port N] [--mcu NAME] [--freq HZ] "
                    "[--realtime] [--start-delay-ms MS] [--no-credit]\n");
}

int main(int argc, char **argv) {
    const char *elf = NULL, *mcu = "atmega328p";
    unsigned long freq = 16000000ul, start_delay_ms = 100;
    int port = 0, i, state, rc = 0, no_credit = 0;
    struct sockaddr_in addr;
    socklen_t alen = sizeof addr;
    elf_firmware_t fw;
    uint32_t flags = 0;
    uint64_t t0;
    struct sigaction sa;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--mcu") == 0 && i + 1 < argc)
            mcu = argv[++i];
        else if (strcmp(argv[i], "--freq") == 0 && i + 1 < argc)
            freq = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--start-delay-ms") == 0 && i + 1 < argc)
            start_delay_ms = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--realtime") == 0)
            realtime = 1;
        else if (strcmp(argv[i], "--no-credit") == 0)
            no_credit = 1;
        else if (argv[i][0] != '-' && !elf)
            elf = argv[i];
        else {
            usage();
            return 64;
        }
    }
    if (!elf || port < 0 || port > 65535 || freq == 0) {
        usage();
        return 64;
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    memset(&fw, 0, sizeof fw);
    if (elf_read_firmware(elf, &fw) != 0) {
        log_msg("cannot read firmware %s", elf);
        return 1;
    }
    snprintf(fw.mmcu, sizeof fw.mmcu, "%s", mcu);
    fw.frequency = (uint32_t)freq;
    avr = avr_make_mcu_by_name(mcu);
    if (!avr) {
        log_msg("simavr does not know the MCU '%s'", mcu);
        return 1;
    }
    avr_init(avr);
    avr_load_firmware(avr, &fw);
    avr->frequency = (uint32_t)freq;
    avr->sleep = on_sleep;
    /* no console echo of the UART, no usleep() when the firmware polls an empty receiver */
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(uint32_t)(AVR_UART_FLAG_STDIO | AVR_UART_FLAG_POLL_SLEEP);
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    uart_input = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), on_uart_output, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), on_uart_xon, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), on_uart_xoff, NULL);
    credit_addr = no_credit ? -1 : find_symbol(elf, CREDIT_SYMBOL, 2);
    /* the linker script PROVIDEs __heap_start only when malloc is linked; _end is always there */
    heap_start = find_symbol(elf, "__heap_start", 0);
    if (heap_start < 0) heap_start = find_symbol(elf, "_end", 0);
    if (heap_start >= 0 && (uint32_t)heap_start > avr->ramend) heap_start = -1;
    paint_stack();
    if (credit_addr >= 0 && (uint32_t)credit_addr + 1 > avr->ramend) credit_addr = -1;
    log_msg("%s at %lu Hz, %s; receive flow control: %s", mcu, freq, elf,
            credit_addr >= 0 ? "sketch credit (" CREDIT_SYMBOL ")" : "UART FIFO only");

    listen_fd = open_listener(port);
    if (listen_fd < 0 || getsockname(listen_fd, (struct sockaddr *)&addr, &alen) < 0) {
        log_msg("cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
        return 1;
    }
    printf("listening on 127.0.0.1:%u\n", (unsigned)ntohs(addr.sin_port));
    fflush(stdout);

    /* like QEMU's wait=on: the CPU starts with the first client, so its banner is not lost */
    while (client_fd < 0 && !stop_requested) {
        wait_io(200000u);
        service_socket();
    }
    if (start_delay_ms) usleep((useconds_t)(start_delay_ms * 1000u));

    t0 = now_us();
    while (!stop_requested) {
        for (i = 0; i < BATCH && !io_ready; i++) {
            state = avr_run(avr);
            if (state == cpu_Done || state == cpu_Crashed) goto ended;
        }
        io_ready = 0;
        flush_output();
        service_socket();
        feed_uart();
        if (report_requested) {
            report_requested = 0;
            report_ram();
        }
        if (realtime) {
            uint64_t sim = avr->cycle * 1000000u / freq;
            uint64_t wall = now_us() - t0;
            if (sim > wall + 1000u) {
                flush_output();
                wait_io(sim - wall);
            }
        }
    }
    log_msg("stopped by a signal after %llu simulated cycles; %llu bytes in, %llu out",
            (unsigned long long)avr->cycle, (unsigned long long)total_in, (unsigned long long)total_out);
    goto out;
ended:
    flush_output();
    if (avr->state == cpu_Crashed) {
        log_msg("the AVR core crashed at PC 0x%04x after %llu cycles", (unsigned)avr->pc,
                (unsigned long long)avr->cycle);
        rc = 2;
    } else {
        log_msg("the sketch ended (sleep with interrupts off) after %llu cycles", (unsigned long long)avr->cycle);
    }
out:
    report_ram();
    close_client("bridge exiting");
    close(listen_fd);
    avr_terminate(avr);
    return rc;
}
