/*
 * crowd: a crowd of idle ZeroMQ peers, for the benchmark's "crowd that stays".
 *
 *   crowd -e tcp://127.0.0.1:PORT -n PEERS [-p PARALLEL] [-H HANDSHAKE_S] [-L LIFETIME_S]
 *
 * Opens PEERS TCP connections to the endpoint and completes the ZMTP 3.1
 * handshake on each (NULL mechanism, socket type DEALER), at most PARALLEL
 * (default 64, under the server's listen backlog) in progress at a time.
 * Then each stays connected and idle: it sends nothing, and answers the
 * server's heartbeat PINGs with PONGs, as a real idle ZeroMQ client would.
 * Plain sockets and one epoll, so a peer costs this process one descriptor
 * and a few hundred bytes (a libzmq socket would cost two descriptors, a
 * mailbox and pipes).
 *
 * stdout: `ready handshaken=N failed=F ms=T` once every peer is handshaken
 * (or has failed, or -H seconds passed); at the end one JSON line with the
 * counts, including `lost` (peers the server disconnected after their
 * handshake).  It ends on SIGTERM, SIGINT, end of stdin, or after -L
 * seconds (default 3600).  Loopback endpoints only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { FREE, CONNECTING, GREETING, HANDSHAKE, IDLE, DONE };

typedef struct {
    int fd;
    uint8_t state;
    uint8_t tries;
    uint16_t len;
    uint64_t started;
    unsigned char buf[256];
} peer_t;

static peer_t *peers;
static int npeers, parallel = 64, epfd;
static struct sockaddr_in addr;
static long handshaken, failed, lost, pings, in_progress, next_peer, connect_errors;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int send_all(int fd, const void *p, size_t n)
{
    /* small writes to an idle socket: they fit its send buffer */
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    return w == (ssize_t)n ? 0 : -1;
}

static void start(int i)
{
    peer_t *p = &peers[i];
    p->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0) { perror("socket"); exit(2); }
    int one = 1;
    setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    p->len = 0;
    p->started = now_ms();
    p->tries++;
    in_progress++;
    int rc = connect(p->fd, (struct sockaddr *)&addr, sizeof addr);
    p->state = rc == 0 || errno == EINPROGRESS ? CONNECTING : DONE;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i };
    if (p->state == DONE || epoll_ctl(epfd, EPOLL_CTL_ADD, p->fd, &ev) != 0) {
        connect_errors++;
        close(p->fd);
        p->fd = -1;
        p->state = DONE;
        in_progress--;
        failed++;
    }
}

/* A peer that failed during its handshake gets up to three tries. */
static void drop(int i)
{
    peer_t *p = &peers[i];
    int was = p->state;
    epoll_ctl(epfd, EPOLL_CTL_DEL, p->fd, NULL);
    close(p->fd);
    p->fd = -1;
    if (was == IDLE) { lost++; p->state = DONE; return; }
    in_progress--;
    if (p->tries < 3) { p->state = FREE; start(i); }
    else { p->state = DONE; failed++; }
}

static const unsigned char greeting[64] = {
    0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, /* signature */
    3, 1,                               /* ZMTP 3.1 */
    'N', 'U', 'L', 'L',                 /* mechanism, zero-padded to 20 */
};

/* READY with Socket-Type=DEALER: a short command frame */
static const unsigned char ready_cmd[] = {
    0x04, 28, 5, 'R', 'E', 'A', 'D', 'Y',
    11, 'S', 'o', 'c', 'k', 'e', 't', '-', 'T', 'y', 'p', 'e', 0, 0, 0, 6, 'D', 'E', 'A', 'L', 'E', 'R',
};

/* Consumes what it can of the peer's buffer. Returns -1 to drop the peer. */
static int process(int i)
{
    peer_t *p = &peers[i];
    size_t off = 0;
    for (;;) {
        size_t avail = p->len - off;
        unsigned char *b = p->buf + off;
        if (p->state == GREETING) {
            if (avail < 64) break;
            if (b[0] != 0xff || b[9] != 0x7f || b[10] < 3 || memcmp(b + 12, "NULL", 5) != 0) return -1;
            if (send_all(p->fd, ready_cmd, sizeof ready_cmd) != 0) return -1;
            p->state = HANDSHAKE;
            off += 64;
            continue;
        }
        if (avail < 2) break;
        size_t hdr = (b[0] & 0x02) ? 9 : 2, size;
        if (avail < hdr) break;
        if (b[0] & 0x02) {
            uint64_t s = 0;
            for (int k = 1; k < 9; k++) s = s << 8 | b[k];
            if (s > sizeof p->buf - 9) return -1; /* nothing this large is expected by an idle peer */
            size = (size_t)s;
        } else {
            size = b[1];
        }
        if (avail < hdr + size) {
            if (hdr + size > sizeof p->buf) return -1;
            break;
        }
        unsigned char *body = b + hdr;
        int command = b[0] & 0x04;
        if (p->state == HANDSHAKE) {
            if (!command || size < 6 || body[0] != 5 || memcmp(body + 1, "READY", 5) != 0) return -1;
            p->state = IDLE;
            in_progress--;
            handshaken++;
        } else if (command && size >= 5 && body[0] == 4 && memcmp(body + 1, "PING", 4) == 0) {
            /* PING: name, TTL (2 bytes), context (0..16 bytes); PONG echoes the context */
            size_t ctx = size > 7 ? size - 7 : 0;
            if (ctx > 16) ctx = 16;
            unsigned char pong[2 + 5 + 16] = { 0x04, (unsigned char)(5 + ctx), 4, 'P', 'O', 'N', 'G' };
            memcpy(pong + 7, body + 7, ctx);
            if (send_all(p->fd, pong, 7 + ctx) != 0) return -1;
            pings++;
        }
        off += hdr + size;
    }
    memmove(p->buf, p->buf + off, p->len - off);
    p->len = (uint16_t)(p->len - off);
    return 0;
}

static void on_event(int i, uint32_t events)
{
    peer_t *p = &peers[i];
    if (p->state == CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err || (events & (EPOLLERR | EPOLLHUP))) { connect_errors++; drop(i); return; }
        if (send_all(p->fd, greeting, sizeof greeting) != 0) { drop(i); return; }
        p->state = GREETING;
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(epfd, EPOLL_CTL_MOD, p->fd, &ev);
        return;
    }
    for (int rounds = 0; rounds < 64; rounds++) {
        ssize_t r = recv(p->fd, p->buf + p->len, sizeof p->buf - p->len, 0);
        if (r == 0) { drop(i); return; }
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            drop(i);
            return;
        }
        p->len = (uint16_t)(p->len + r);
        if (process(i) != 0) { drop(i); return; }
        if (p->len == sizeof p->buf) { drop(i); return; }
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: crowd -e tcp://127.0.0.1:PORT -n PEERS [-p PARALLEL] [-H HANDSHAKE_S] [-L LIFETIME_S]\n");
    exit(64);
}

int main(int argc, char **argv)
{
    const char *endpoint = NULL;
    double handshake_s = 120, lifetime_s = 3600;
    int opt;
    while ((opt = getopt(argc, argv, "e:n:p:H:L:h")) != -1) {
        switch (opt) {
        case 'e': endpoint = optarg; break;
        case 'n': npeers = atoi(optarg); break;
        case 'p': parallel = atoi(optarg); break;
        case 'H': handshake_s = atof(optarg); break;
        case 'L': lifetime_s = atof(optarg); break;
        default: usage();
        }
    }
    if (!endpoint || npeers < 1 || npeers > 1000000 || parallel < 1 || handshake_s <= 0 || lifetime_s <= 0) usage();
    const char *hostport = NULL;
    if (strncmp(endpoint, "tcp://127.", 10) == 0) hostport = endpoint + 6;
    else if (strncmp(endpoint, "tcp://localhost:", 16) == 0) hostport = "127.0.0.1";
    if (!hostport) { fprintf(stderr, "crowd: loopback tcp:// endpoints only (IPv4), not %s\n", endpoint); return 64; }
    const char *colon = strrchr(endpoint, ':');
    char host[64];
    if (hostport == endpoint + 6) {
        size_t hl = (size_t)(colon - hostport);
        if (hl >= sizeof host) usage();
        memcpy(host, hostport, hl);
        host[hl] = 0;
    } else {
        strcpy(host, "127.0.0.1");
    }
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) usage();

    /* one descriptor per peer, and a few of our own */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)npeers + 32) {
        fprintf(stderr, "crowd: the open-file limit (%llu) is too low for %d peers\n",
                (unsigned long long)rl.rlim_cur, npeers);
        return 2;
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = UINT32_MAX };
    epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);
    ev.data.u32 = UINT32_MAX - 1;
    int watch_stdin = epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev) == 0;

    peers = calloc((size_t)npeers, sizeof *peers);
    if (!peers) { perror("calloc"); return 2; }
    uint64_t t0 = now_ms(), handshake_end = t0 + (uint64_t)(handshake_s * 1000),
             end = t0 + (uint64_t)(lifetime_s * 1000);
    int reported = 0, quit = 0;
    struct epoll_event evs[256];
    while (!quit) {
        uint64_t t = now_ms();
        if (t >= end) break;
        while (next_peer < npeers && in_progress < parallel && t < handshake_end) start((int)next_peer++);
        if (!reported && ((next_peer == npeers && in_progress == 0) || t >= handshake_end)) {
            printf("ready handshaken=%ld failed=%ld ms=%llu\n", handshaken, failed + in_progress,
                   (unsigned long long)(t - t0));
            fflush(stdout);
            reported = 1;
        }
        if (!reported) /* a connection or handshake that hangs counts as failed after 10 s */
            for (int i = 0; i < next_peer; i++)
                if ((peers[i].state == CONNECTING || peers[i].state == GREETING || peers[i].state == HANDSHAKE)
                    && peers[i].started + 10000 < t) {
                    peers[i].tries = 3;
                    drop(i);
                }
        int n = epoll_wait(epfd, evs, 256, reported ? 1000 : 100);
        for (int k = 0; k < n; k++) {
            uint32_t id = evs[k].data.u32;
            if (id == UINT32_MAX) { quit = 1; continue; }
            if (id == UINT32_MAX - 1) {
                char c[64];
                if (read(0, c, sizeof c) <= 0) { epoll_ctl(epfd, EPOLL_CTL_DEL, 0, NULL); quit = watch_stdin; }
                continue;
            }
            if ((int)id < npeers && peers[id].fd >= 0 && peers[id].state != DONE) on_event((int)id, evs[k].events);
        }
    }
    printf("{\"peers\":%d,\"handshaken\":%ld,\"failed\":%ld,\"lost\":%ld,\"pings\":%ld,\"connect_errors\":%ld}\n",
           npeers, handshaken, failed, lost, pings, connect_errors);
    fflush(stdout);
    return 0;
}
