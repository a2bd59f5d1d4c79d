/*
 * loadgen: closed-loop load generator for filer-style ZeroMQ REQ/REP servers.
 *
 *   loadgen -e tcp://127.0.0.1:60401 -c 32 -d 3 [-w 0.5] [-r '{"path":"f_64k.txt"}']
 *           [-t THREADS] [-T TIMEOUT_MS] [-m MIN_REPLY_BYTES] [-n REQUESTS] [-C]
 *           [-K CLIENT_CERTIFICATE -S SERVER_CERTIFICATE]
 *
 * C clients (REQ sockets, each with one request in flight) are spread over T
 * threads (default: 1 for C <= 4, else 2); each thread drives its sockets with
 * zmq_poll, so 32 clients do not mean 32 runnable threads fighting the server
 * for 2 cores.  After a warm-up (-w seconds, not counted) it measures for -d
 * seconds and stops by itself.  A reply is an error when it does not start
 * with {"content" (or is shorter than -m bytes); a request with no reply after
 * -T ms is a timeout (the socket is closed and replaced, Lazy-Pirate style).
 *
 * -n N: send N requests in all (counting the warm-up), then stop; -d is then
 * only the longest the run may take, and req/s is over the time it took.
 * -C (churn): every request on a new connection, as `filer get` in a shell
 * loop does: zmq_socket, zmq_connect, send, receive, zmq_close (linger 0).
 * Its latency includes the connection and the ZMTP handshake.
 * -K and -S (together): every socket is a CURVE client, the first one, each
 * churn socket and each Lazy-Pirate replacement alike.  -K names this client's
 * keypair, -S the server's public key, both ZPL certificate files as
 * `filer keygen`, pyzmq's zmq.auth and CZMQ's zcert write them (NAME.key_secret
 * with public-key and secret-key, NAME.key with public-key), so no secret key
 * appears on a command line.  Without them the sockets speak plaintext (NULL).
 *
 * Output: one JSON line on stdout, one human line on stderr.
 * Only loopback endpoints (tcp://127.0.0.1, tcp://localhost, tcp://[::1],
 * ipc://, inproc://) are accepted.
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

static const char *endpoint = "tcp://127.0.0.1:60401";
static const char *request = "{\"path\":\"f_64k.txt\"}";
static int clients = 8;
static int nthreads = 0;
static double duration = 3.0;
static double warmup = 0.5;
static int timeout_ms = 5000;
static size_t min_reply = 0;
static long long limit = 0;  /* -n: stop after this many requests in all (0: run for -d seconds) */
static long long issued;     /* requests sent so far, for -n */
static int churn = 0;        /* -C: a new connection for every request */
static int curve = 0;        /* -K and -S: CURVE keys, Z85 text, set on every socket */
static char curve_public[41], curve_secret[41], curve_server[41];
static void *ctx;

typedef struct {
    uint32_t *lat; /* microseconds, one per completed request in the window */
    size_t n, cap;
    uint64_t errors, timeouts, bytes, send_fail, connections;
    char first_error[200];
} result_t;

typedef struct {
    int id;
    int nsock;
    uint64_t t_measure; /* start of the measured window */
    uint64_t t_end;     /* end of the run */
    uint64_t last_done; /* the last reply counted */
    result_t r;
} worker_t;

static void push_lat(result_t *r, uint32_t us)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 65536;
        r->lat = realloc(r->lat, r->cap * sizeof *r->lat);
        if (!r->lat) { perror("realloc"); exit(2); }
    }
    r->lat[r->n++] = us;
}

static void *new_sock(void)
{
    void *s = zmq_socket(ctx, ZMQ_REQ);
    if (!s) { fprintf(stderr, "zmq_socket: %s\n", zmq_strerror(errno)); exit(2); }
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (curve && (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, curve_server, 40) != 0
                  || zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, curve_public, 40) != 0
                  || zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, curve_secret, 40) != 0)) {
        fprintf(stderr, "zmq_setsockopt(ZMQ_CURVE_*): %s\n", zmq_strerror(errno));
        exit(2);
    }
    if (zmq_connect(s, endpoint) != 0) {
        fprintf(stderr, "zmq_connect %s: %s\n", endpoint, zmq_strerror(errno));
        exit(2);
    }
    return s;
}

/* -n: whether one more request may be sent (the total is shared by all threads) */
static int may_send(void)
{
    return !limit || __atomic_fetch_add(&issued, 1, __ATOMIC_RELAXED) < limit;
}

static void *run(void *arg)
{
    worker_t *w = arg;
    int n = w->nsock;
    void **socks = calloc(n, sizeof *socks);
    uint64_t *sent_at = calloc(n, sizeof *sent_at);
    char *busy = calloc(n, 1);            /* a request is in flight on this socket */
    int *which = calloc(n, sizeof *which); /* poll item -> socket */
    zmq_pollitem_t *items = calloc(n, sizeof *items);
    size_t reqlen = strlen(request);
    int active = 0;
    zmq_msg_t msg;
    zmq_msg_init(&msg);

    /* Sends on socket i, connecting a new socket first when there is none (churn). */
#define SEND(i) do { \
        sent_at[i] = now_ns(); \
        if (!socks[i]) { socks[i] = new_sock(); w->r.connections++; } \
        if (zmq_send(socks[i], request, reqlen, 0) < 0) w->r.send_fail++; \
    } while (0)

    for (int i = 0; i < n; i++) {
        if (!churn) { socks[i] = new_sock(); w->r.connections++; }
        if (may_send()) { SEND(i); busy[i] = 1; active++; }
    }
    for (;;) {
        uint64_t t = now_ns();
        if (t >= w->t_end || active == 0) break;
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (!busy[i]) continue;
            items[m].socket = socks[i];
            items[m].fd = 0;
            items[m].events = ZMQ_POLLIN;
            items[m].revents = 0;
            which[m++] = i;
        }
        long wait_ms = (long)((w->t_end - t) / 1000000) + 1;
        if (wait_ms > 100) wait_ms = 100;
        int rc = zmq_poll(items, m, wait_ms);
        if (rc < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "zmq_poll: %s\n", zmq_strerror(errno));
            break;
        }
        t = now_ns();
        for (int k = 0; k < m; k++) {
            int i = which[k];
            int replied = 0;
            if (items[k].revents & ZMQ_POLLIN) {
                int len = zmq_msg_recv(&msg, socks[i], ZMQ_DONTWAIT);
                if (len < 0) continue;
                replied = 1;
                int more = zmq_msg_more(&msg);
                while (more) { /* multipart reply: not the protocol, count the error */
                    zmq_msg_t part; zmq_msg_init(&part);
                    zmq_msg_recv(&part, socks[i], 0);
                    more = zmq_msg_more(&part);
                    zmq_msg_close(&part);
                    len = -1;
                }
                uint64_t done = now_ns();
                if (sent_at[i] >= w->t_measure && done <= w->t_end) {
                    const char *d = zmq_msg_data(&msg);
                    size_t sz = zmq_msg_size(&msg);
                    if (len < 0 || sz < 10 || memcmp(d, "{\"content\"", 10) != 0 || sz < min_reply) {
                        if (!w->r.errors) {
                            size_t k2 = sz < sizeof w->r.first_error - 1 ? sz : sizeof w->r.first_error - 1;
                            memcpy(w->r.first_error, d, k2);
                            w->r.first_error[k2] = 0;
                            for (size_t j = 0; j < k2; j++)
                                if ((unsigned char)w->r.first_error[j] < 0x20 || w->r.first_error[j] == '"' || w->r.first_error[j] == '\\')
                                    w->r.first_error[j] = '?';
                        }
                        w->r.errors++;
                    } else {
                        uint64_t us = (done - sent_at[i]) / 1000;
                        push_lat(&w->r, us > UINT32_MAX ? UINT32_MAX : (uint32_t)us);
                        w->r.bytes += sz;
                    }
                    if (done > w->last_done) w->last_done = done;
                }
            } else if (t - sent_at[i] > (uint64_t)timeout_ms * 1000000ull) {
                if (sent_at[i] >= w->t_measure) w->r.timeouts++;
            } else {
                continue;
            }
            /* a reply, or a timeout (Lazy Pirate: the socket is closed and replaced) */
            if (churn || !replied) {
                zmq_close(socks[i]);
                socks[i] = churn ? NULL : new_sock();
                if (!churn) w->r.connections++;
            }
            if (now_ns() < w->t_end && may_send()) {
                SEND(i);
            } else {
                busy[i] = 0;
                active--;
            }
        }
    }
#undef SEND
    zmq_msg_close(&msg);
    for (int i = 0; i < n; i++) if (socks[i]) zmq_close(socks[i]);
    free(socks); free(sent_at); free(busy); free(which); free(items);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint32_t pct(const uint32_t *v, size_t n, double p)
{
    return n ? v[quantile_index(n, p)] : 0;
}

/* Reads `name = "Z85"` (quotes optional) from a ZPL certificate into out[41]: 1 if
 * found and a valid 32-byte key, else 0.  The file's first such line counts. */
static int zpl_key(const char *path, const char *name, char out[41])
{
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno)); exit(64); }
    char line[512];
    size_t nlen = strlen(name);
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        char *p = line + strspn(line, " \t");
        if (strncmp(p, name, nlen) != 0) continue;
        p += nlen;
        p += strspn(p, " \t");
        if (*p++ != '=') continue;
        p += strspn(p, " \t");
        if (*p == '"') p++;
        size_t n = strspn(p, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#");
        uint8_t key[32];
        if (n == 40) {
            memcpy(out, p, 40);
            out[40] = 0;
            found = zmq_z85_decode(key, out) != NULL;
        }
        if (!found) break;
    }
    fclose(f);
    return found;
}

static int loopback_only(const char *ep)
{
    static const char *const ok[] = { "tcp://127.", "tcp://localhost:", "tcp://[::1]:", "ipc://", "inproc://" };
    return endpoint_allowed(ep, ok, sizeof ok / sizeof *ok);
}

static void usage(void)
{
    fprintf(stderr,
        "usage: loadgen [-e ENDPOINT] [-c CLIENTS] [-d SECONDS] [-w WARMUP_S] [-r REQUEST_JSON]\n"
        "               [-t THREADS] [-T TIMEOUT_MS] [-m MIN_REPLY_BYTES] [-n REQUESTS] [-C] [-l LABEL]\n"
        "               [-K CLIENT_CERTIFICATE -S SERVER_CERTIFICATE]   (CURVE; ZPL files: NAME.key_secret, NAME.key)\n");
    exit(64);
}

int main(int argc, char **argv)
{
    const char *label = "";
    const char *client_cert = NULL, *server_cert = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "e:c:d:w:r:t:T:m:n:Cl:K:S:h")) != -1) {
        switch (opt) {
        case 'e': endpoint = optarg; break;
        case 'c': clients = atoi(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case 'r': request = optarg; break;
        case 't': nthreads = atoi(optarg); break;
        case 'T': timeout_ms = atoi(optarg); break;
        case 'm': min_reply = (size_t)atol(optarg); break;
        case 'n': limit = atoll(optarg); break;
        case 'C': churn = 1; break;
        case 'l': label = optarg; break;
        case 'K': client_cert = optarg; break;
        case 'S': server_cert = optarg; break;
        default: usage();
        }
    }
    if (clients < 1 || clients > 4096 || duration <= 0 || duration > 3600 || warmup < 0 || warmup > 600 || timeout_ms < 1 || limit < 0)
        usage();
    if (!loopback_only(endpoint)) {
        fprintf(stderr, "loadgen: refusing non-loopback endpoint %s\n", endpoint);
        return 64;
    }
    if (!client_cert != !server_cert) {
        fprintf(stderr, "loadgen: -K and -S go together\n");
        return 64;
    }
    if (client_cert) {
        if (!zmq_has("curve")) {
            fprintf(stderr, "loadgen: this libzmq has no CURVE\n");
            return 64;
        }
        if (!zpl_key(client_cert, "public-key", curve_public) || !zpl_key(client_cert, "secret-key", curve_secret)) {
            fprintf(stderr, "loadgen: %s: want public-key and secret-key, 40 characters of Z85 each\n", client_cert);
            return 64;
        }
        if (!zpl_key(server_cert, "public-key", curve_server)) {
            fprintf(stderr, "loadgen: %s: want public-key, 40 characters of Z85\n", server_cert);
            return 64;
        }
        curve = 1;
    }
    if (nthreads <= 0) nthreads = clients <= 4 ? 1 : 2;
    if (nthreads > clients) nthreads = clients;

    ctx = zmq_ctx_new();
    /* churn: closed sockets are reaped in the background, so allow some to wait for it */
    zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, churn ? clients * 4 + 1024 : clients * 2 + 64);

    uint64_t t0 = now_ns();
    uint64_t t_measure = t0 + (uint64_t)(warmup * 1e9);
    uint64_t t_end = t_measure + (uint64_t)(duration * 1e9);
    worker_t *ws = calloc(nthreads, sizeof *ws);
    pthread_t *th = calloc(nthreads, sizeof *th);
    for (int i = 0; i < nthreads; i++) {
        ws[i].id = i;
        ws[i].nsock = clients / nthreads + (i < clients % nthreads);
        ws[i].t_measure = t_measure;
        ws[i].t_end = t_end;
        pthread_create(&th[i], NULL, run, &ws[i]);
    }
    result_t all = {0};
    uint64_t last_done = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(th[i], NULL);
        result_t *r = &ws[i].r;
        for (size_t k = 0; k < r->n; k++) push_lat(&all, r->lat[k]);
        all.errors += r->errors;
        all.timeouts += r->timeouts;
        all.bytes += r->bytes;
        all.send_fail += r->send_fail;
        all.connections += r->connections;
        if (ws[i].last_done > last_done) last_done = ws[i].last_done;
        if (!all.first_error[0] && r->first_error[0]) memcpy(all.first_error, r->first_error, sizeof all.first_error);
        free(r->lat);
    }
    zmq_ctx_term(ctx);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;

    qsort(all.lat, all.n, sizeof *all.lat, cmp_u32);
    double secs = duration;
    if (limit && last_done > t_measure) secs = (double)(last_done - t_measure) / 1e9;
    double rps = (double)all.n / secs;
    uint32_t p50 = pct(all.lat, all.n, 0.50), p99 = pct(all.lat, all.n, 0.99), p999 = pct(all.lat, all.n, 0.999);
    uint32_t pmax = all.n ? all.lat[all.n - 1] : 0;
    double mean = 0;
    for (size_t k = 0; k < all.n; k++) mean += all.lat[k];
    if (all.n) mean /= (double)all.n;

    printf("{\"label\":\"%s\",\"endpoint\":\"%s\",\"clients\":%d,\"threads\":%d,\"seconds\":%.3f,"
           "\"requests\":%zu,\"rps\":%.1f,\"mb_per_s\":%.2f,\"mean_us\":%.1f,\"p50_us\":%u,\"p99_us\":%u,"
           "\"p999_us\":%u,\"max_us\":%u,\"errors\":%llu,\"timeouts\":%llu,\"send_failures\":%llu,"
           "\"connections\":%llu,\"churn\":%s,\"curve\":%s,\"loadgen_cpu\":%.3f,\"first_error\":\"%s\"}\n",
           label, endpoint, clients, nthreads, secs, all.n, rps, (double)all.bytes / secs / 1e6, mean,
           p50, p99, p999, pmax, (unsigned long long)all.errors, (unsigned long long)all.timeouts,
           (unsigned long long)all.send_fail, (unsigned long long)all.connections, churn ? "true" : "false", curve ? "true" : "false",
           cpu_s / (warmup + secs), all.first_error);
    fprintf(stderr, "%s%s%d clients, %.1fs: %.0f req/s, %.1f MB/s, p50 %u us, p99 %u us, p99.9 %u us, "
            "max %u us, errors %llu, timeouts %llu, loadgen %.0f%% of a CPU\n",
            label, *label ? ": " : "", clients, secs, rps, (double)all.bytes / secs / 1e6, p50, p99, p999,
            pmax, (unsigned long long)all.errors, (unsigned long long)all.timeouts, 100 * cpu_s / (warmup + secs));
    free(all.lat);
    return 0;
}
