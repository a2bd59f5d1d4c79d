/*
 * multiload: the closed-loop load client of bench/multihost, run inside a netlab host.
 *
 *   multiload -e tcp://198.18.0.1:60401 -c 32 -d 10 [-w 1] [-t THREADS] [-T TIMEOUT_MS]
 *             [-r REQUEST_JSON] [-m MIN_REPLY_BYTES] [-o RAW_FILE]
 *
 * C clients (REQ sockets, one request in flight each) spread over T threads
 * (default 2), each thread driving its sockets with zmq_poll. It differs from
 * bench/loadgen in what a benchmark of several hosts needs:
 *
 * - It takes endpoints on the netlab subnet, 198.18.0.0/24 (besides loopback and
 *   ipc); nothing else, so no request can leave the machine.
 * - It never retries. A request with no reply after -T ms is lost: counted, its
 *   socket closed and replaced, and the next request is a new one.
 * - At the end it sends nothing more and waits for every request in flight (up
 *   to -T ms), so that "0 lost" covers every request sent.
 * - With -o, it writes one record per request sent (warm-up included), for the
 *   harness to cut into windows: little-endian uint64 sent_ns, uint64 done_ns
 *   (CLOCK_MONOTONIC, the same clock as Python's time.monotonic_ns()), uint32
 *   status (0 reply, 1 error reply, 2 lost), uint32 zero.
 *
 * Output: one JSON line on stdout (the measured window: requests sent after the
 * warm-up, which began at t_measure_ns; rps counts replies received in it), one
 * human line on stderr.
 */
#define _GNU_SOURCE
#include <zmq.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <unistd.h>
#include <sys/resource.h>
#include "loadclient.h"

enum { STATUS_REPLY = 0, STATUS_ERROR = 1, STATUS_LOST = 2 };

typedef struct {
    uint64_t sent_ns, done_ns;
    uint32_t status, zero;
} record_t;

static const char *endpoint = "tcp://198.18.0.1:60401";
static const char *request = "{\"path\":\"f_1k.txt\"}";
static int clients = 32;
static int nthreads = 2;
static double duration = 10.0;
static double warmup = 1.0;
static int timeout_ms = 5000;
static size_t min_reply = 0;
static void *ctx;

typedef struct {
    int nsock;
    uint64_t t_measure, t_end;
    record_t *rec;
    size_t n, cap;
    char first_error[200];
} thread_t;

static void record(thread_t *w, uint64_t sent, uint64_t done, uint32_t status)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 65536;
        w->rec = realloc(w->rec, w->cap * sizeof *w->rec);
        if (!w->rec) { perror("multiload: realloc"); exit(2); }
    }
    w->rec[w->n++] = (record_t){ sent, done, status, 0 };
}

static void *new_socket(void)
{
    void *s = zmq_socket(ctx, ZMQ_REQ);
    if (!s) { fprintf(stderr, "multiload: zmq_socket: %s\n", zmq_strerror(errno)); exit(2); }
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect(s, endpoint) != 0) {
        fprintf(stderr, "multiload: zmq_connect %s: %s\n", endpoint, zmq_strerror(errno));
        exit(2);
    }
    return s;
}

/* A send that fails on a fresh REQ socket cannot be told apart from a lost request. */
static uint64_t send_request(void *s)
{
    uint64_t t = now_ns();
    if (zmq_send(s, request, strlen(request), 0) < 0) {
        fprintf(stderr, "multiload: zmq_send: %s\n", zmq_strerror(errno));
        exit(2);
    }
    return t;
}

static int good_reply(zmq_msg_t *msg, int more)
{
    const char *d = zmq_msg_data(msg);
    size_t size = zmq_msg_size(msg);
    return !more && size >= 10 && size >= min_reply && memcmp(d, "{\"content\"", 10) == 0;
}

static void *run(void *arg)
{
    thread_t *w = arg;
    int n = w->nsock;
    void **socks = calloc(n, sizeof *socks);
    uint64_t *sent_at = calloc(n, sizeof *sent_at);  /* 0: idle (the run has ended) */
    zmq_pollitem_t *items = calloc(n, sizeof *items);
    const uint64_t timeout_ns = (uint64_t)timeout_ms * 1000000ull;
    zmq_msg_t msg;
    zmq_msg_init(&msg);

    for (int i = 0; i < n; i++) {
        socks[i] = new_socket();
        sent_at[i] = send_request(socks[i]);
    }
    for (;;) {
        int busy = 0;
        for (int i = 0; i < n; i++) {
            items[i] = (zmq_pollitem_t){ .socket = socks[i], .events = ZMQ_POLLIN };
            busy += sent_at[i] != 0;
        }
        if (!busy) break;
        int rc = zmq_poll(items, n, 20);
        if (rc < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "multiload: zmq_poll: %s\n", zmq_strerror(errno));
            exit(2);
        }
        for (int i = 0; i < n; i++) {
            if (!sent_at[i]) continue;
            uint64_t t;
            if (items[i].revents & ZMQ_POLLIN) {
                if (zmq_msg_recv(&msg, socks[i], ZMQ_DONTWAIT) < 0) continue;
                t = now_ns();
                int more = zmq_msg_more(&msg), ok = good_reply(&msg, more);
                if (!ok && !w->first_error[0]) {
                    size_t k = zmq_msg_size(&msg);
                    if (k > sizeof w->first_error - 1) k = sizeof w->first_error - 1;
                    memcpy(w->first_error, zmq_msg_data(&msg), k);
                    for (size_t j = 0; j < k; j++) {
                        char c = w->first_error[j];
                        if ((unsigned char)c < 0x20 || c == '"' || c == '\\') w->first_error[j] = '?';
                    }
                }
                while (more) {  /* a reply of several frames is not the protocol: read it away */
                    zmq_msg_recv(&msg, socks[i], 0);
                    more = zmq_msg_more(&msg);
                }
                record(w, sent_at[i], t, ok ? STATUS_REPLY : STATUS_ERROR);
            } else if ((t = now_ns()) - sent_at[i] > timeout_ns) {
                record(w, sent_at[i], 0, STATUS_LOST);
                zmq_close(socks[i]);
                socks[i] = new_socket();
            } else {
                continue;
            }
            sent_at[i] = t < w->t_end ? send_request(socks[i]) : 0;
        }
    }
    zmq_msg_close(&msg);
    for (int i = 0; i < n; i++) zmq_close(socks[i]);
    free(socks); free(sent_at); free(items);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *v, size_t n, double p)
{
    return n ? v[quantile_index(n, p)] : 0;
}

static int on_this_machine(const char *ep)
{
    static const char *const ok[] = { "tcp://198.18.0.", "tcp://127.", "tcp://localhost:", "tcp://[::1]:", "ipc://" };
    return endpoint_allowed(ep, ok, sizeof ok / sizeof *ok);
}

static void usage(void)
{
    fprintf(stderr,
        "usage: multiload [-e ENDPOINT] [-c CLIENTS] [-d SECONDS] [-w WARMUP_S] [-t THREADS]\n"
        "                 [-T TIMEOUT_MS] [-r REQUEST_JSON] [-m MIN_REPLY_BYTES] [-o RAW_FILE]\n");
    exit(64);
}

int main(int argc, char **argv)
{
    const char *raw_path = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "e:c:d:w:t:T:r:m:o:h")) != -1) {
        switch (opt) {
        case 'e': endpoint = optarg; break;
        case 'c': clients = atoi(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case 't': nthreads = atoi(optarg); break;
        case 'T': timeout_ms = atoi(optarg); break;
        case 'r': request = optarg; break;
        case 'm': min_reply = (size_t)atol(optarg); break;
        case 'o': raw_path = optarg; break;
        default: usage();
        }
    }
    if (optind != argc || clients < 1 || clients > 4096 || duration <= 0 || duration > 3600 || warmup < 0
        || warmup > 600 || timeout_ms < 1 || timeout_ms > 600000 || nthreads < 1)
        usage();
    if (!on_this_machine(endpoint)) {
        fprintf(stderr, "multiload: refusing %s: only 198.18.0.0/24, loopback and ipc endpoints\n", endpoint);
        return 64;
    }
    if (nthreads > clients) nthreads = clients;

    ctx = zmq_ctx_new();
    zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, clients * 2 + 64);
    uint64_t t0 = now_ns();
    uint64_t t_measure = t0 + (uint64_t)(warmup * 1e9), t_end = t_measure + (uint64_t)(duration * 1e9);
    thread_t *ws = calloc(nthreads, sizeof *ws);
    pthread_t *th = calloc(nthreads, sizeof *th);
    for (int i = 0; i < nthreads; i++) {
        ws[i].nsock = clients / nthreads + (i < clients % nthreads);
        ws[i].t_measure = t_measure;
        ws[i].t_end = t_end;
        if (pthread_create(&th[i], NULL, run, &ws[i]) != 0) { perror("multiload: pthread_create"); return 2; }
    }

    size_t total = 0, measured = 0, in_window = 0, errors = 0, lost = 0, sent = 0;
    uint64_t *lat = NULL;
    const char *first_error = "";
    FILE *raw = raw_path ? fopen(raw_path, "wb") : NULL;
    if (raw_path && !raw) { perror(raw_path); return 2; }
    for (int i = 0; i < nthreads; i++) {
        pthread_join(th[i], NULL);
        total += ws[i].n;
    }
    lat = malloc((total ? total : 1) * sizeof *lat);
    for (int i = 0; i < nthreads; i++) {
        thread_t *w = &ws[i];
        if (raw && fwrite(w->rec, sizeof *w->rec, w->n, raw) != w->n) { perror(raw_path); return 2; }
        if (!*first_error && w->first_error[0]) first_error = w->first_error;
        for (size_t k = 0; k < w->n; k++) {
            record_t *r = &w->rec[k];
            if (r->status == STATUS_REPLY && r->done_ns >= t_measure && r->done_ns < t_end) in_window++;
            if (r->sent_ns < t_measure) continue;
            sent++;
            if (r->status == STATUS_ERROR) errors++;
            else if (r->status == STATUS_LOST) lost++;
            else lat[measured++] = r->done_ns - r->sent_ns;
        }
    }
    if (raw && fclose(raw) != 0) { perror(raw_path); return 2; }
    zmq_ctx_term(ctx);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    double wall_s = (double)(now_ns() - t0) / 1e9;

    qsort(lat, measured, sizeof *lat, cmp_u64);
    double rps = (double)in_window / duration, mean = 0;
    for (size_t k = 0; k < measured; k++) mean += (double)lat[k];
    if (measured) mean /= (double)measured;
    uint64_t p50 = pct(lat, measured, 0.50) / 1000, p99 = pct(lat, measured, 0.99) / 1000;
    uint64_t p999 = pct(lat, measured, 0.999) / 1000, pmax = measured ? lat[measured - 1] / 1000 : 0;
    printf("{\"endpoint\":\"%s\",\"clients\":%d,\"threads\":%d,\"seconds\":%.3f,\"sent\":%zu,\"replies\":%zu,"
           "\"rps\":%.1f,\"mean_us\":%.1f,\"p50_us\":%llu,\"p99_us\":%llu,\"p999_us\":%llu,\"max_us\":%llu,"
           "\"errors\":%zu,\"lost\":%zu,\"cpu\":%.3f,\"t_measure_ns\":%llu,\"first_error\":\"%s\"}\n",
           endpoint, clients, nthreads, duration, sent, measured, rps, mean / 1000,
           (unsigned long long)p50, (unsigned long long)p99, (unsigned long long)p999, (unsigned long long)pmax,
           errors, lost, cpu_s / wall_s, (unsigned long long)t_measure, first_error);
    fprintf(stderr, "multiload: %d clients, %.1fs: %.0f replies/s, p50 %llu us, p99 %llu us, max %llu us, "
            "errors %zu, lost %zu, %.0f%% of a CPU\n", clients, duration, rps, (unsigned long long)p50,
            (unsigned long long)p99, (unsigned long long)pmax, errors, lost, 100 * cpu_s / wall_s);
    for (int i = 0; i < nthreads; i++) free(ws[i].rec);
    free(ws); free(th); free(lat);
    return 0;
}
