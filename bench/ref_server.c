/*
 * ref_server: the reference for filer's design in plain C, for the benchmark.
 *
 *   ref_server FRONTEND BACKEND WORKERS ROOT [MAX_FILE_SIZE [WORKER_PROGRAM]]
 *                                      (WORKERS may be 0: proxy only)
 *   ref_server --worker BACKEND ROOT MAX_FILE_SIZE      (internal)
 *
 * The master binds a ROUTER (FRONTEND, clients connect) and a DEALER
 * (BACKEND, workers connect), runs zmq_proxy on its own thread, and
 * fork+execs WORKERS copies of itself as REP workers (or of WORKER_PROGRAM,
 * run as `WORKER_PROGRAM BACKEND ROOT MAX_FILE_SIZE`: bench/min_worker behind
 * this same master).  A worker reads
 * ROOT/<path> and replies, in one frame,
 *   {"content":"<json-escaped>","timestamp":<ms>,"pid":<pid>}
 * or, for a file that is not valid UTF-8 (or "encoding":"base64"),
 *   {"content":"<base64>","encoding":"base64","timestamp":<ms>,"pid":<pid>}
 * or {"error":{"code":"ENOENT","message":"..."},"timestamp":...,"pid":...}.
 *
 * Deliberately plain: a byte-at-a-time escape loop with a lookup table, a
 * table-driven base64 encoder, one reusable output buffer, zmq_send (one copy
 * into the message).  SIGTERM/SIGINT: the master kills its workers (SIGTERM,
 * then SIGKILL after 2 s) and exits 0.  Workers die with the master
 * (PR_SET_PDEATHSIG plus a getppid() check).
 */
#define _GNU_SOURCE
#include <zmq.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- worker */

static char *out;      /* reply buffer, grown as needed, reused */
static size_t out_cap;
static char *fbuf;     /* file buffer, reused */
static size_t fbuf_cap;

static void ensure(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return;
    size_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    char *p = realloc(*buf, c);
    if (!p) { perror("realloc"); exit(1); }
    *buf = p;
    *cap = c;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 0: copy as is; otherwise the short escape letter, or 'u' for \u00XX */
static char esc[256];

static void init_tables(void)
{
    for (int c = 0; c < 0x20; c++) esc[c] = 'u';
    esc['\b'] = 'b'; esc['\f'] = 'f'; esc['\n'] = 'n'; esc['\r'] = 'r'; esc['\t'] = 't';
    esc['"'] = '"'; esc['\\'] = '\\';
}

__attribute__((noinline)) static char *json_escape(char *o, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        char e = esc[c];
        if (!e) { *o++ = (char)c; continue; }
        *o++ = '\\';
        if (e == 'u') { *o++ = 'u'; *o++ = '0'; *o++ = '0'; *o++ = hex[c >> 4]; *o++ = hex[c & 15]; }
        else *o++ = e;
    }
    return o;
}

__attribute__((noinline)) static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t len; uint32_t cp;
        if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; }
        else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; }
        else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; }
        else return 0;
        if (i + len > n) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

__attribute__((noinline)) static char *base64(char *o, const unsigned char *s, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *o++ = t[v >> 18]; *o++ = t[(v >> 12) & 63]; *o++ = t[(v >> 6) & 63]; *o++ = t[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        *o++ = t[v >> 18]; *o++ = t[(v >> 12) & 63]; *o++ = '='; *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        *o++ = t[v >> 18]; *o++ = t[(v >> 12) & 63]; *o++ = t[(v >> 6) & 63]; *o++ = '=';
    }
    return o;
}

/* Find "key" in a flat JSON object and copy its string value (simple escapes only). */
__attribute__((noinline)) static int json_get_string(const char *req, size_t n, const char *key, char *val, size_t valcap)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i + klen + 2 <= n; i++) {
        if (req[i] != '"' || memcmp(req + i + 1, key, klen) != 0 || req[i + 1 + klen] != '"') continue;
        size_t j = i + klen + 2;
        while (j < n && (req[j] == ' ' || req[j] == '\t' || req[j] == '\n' || req[j] == '\r')) j++;
        if (j >= n || req[j] != ':') continue;
        j++;
        while (j < n && (req[j] == ' ' || req[j] == '\t' || req[j] == '\n' || req[j] == '\r')) j++;
        if (j >= n || req[j] != '"') return -1;
        j++;
        size_t o = 0;
        while (j < n && req[j] != '"') {
            char c = req[j++];
            if (c == '\\') {
                if (j >= n) return -1;
                c = req[j++];
                switch (c) {
                case 'n': c = '\n'; break;
                case 't': c = '\t'; break;
                case 'r': c = '\r'; break;
                case '"': case '\\': case '/': break;
                default: return -1;
                }
            }
            if (o + 1 >= valcap) return -1;
            val[o++] = c;
        }
        if (j >= n) return -1;
        val[o] = 0;
        return 0;
    }
    return -1;
}

static void reply_error(void *sock, const char *code, const char *msg)
{
    char buf[512];
    int len = snprintf(buf, sizeof buf, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"},\"timestamp\":%lld,\"pid\":%d}",
                       code, msg, now_ms(), (int)getpid());
    zmq_send(sock, buf, (size_t)len, 0);
}

static int worker_main(const char *backend, const char *root, size_t max_size)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return 1; /* set again in case of a direct start */
    init_tables();
    int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) { perror(root); return 1; }
    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_REP);
    if (zmq_connect(sock, backend) != 0) {
        fprintf(stderr, "worker: zmq_connect %s: %s\n", backend, zmq_strerror(errno));
        return 1;
    }
    char req[4096 + 1], path[4096], enc[32];
    for (;;) {
        int n = zmq_recv(sock, req, sizeof req - 1, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if ((size_t)n >= sizeof req) { reply_error(sock, "EBADREQ", "request too large"); continue; }
        req[n] = 0;
        if (json_get_string(req, (size_t)n, "path", path, sizeof path) != 0) {
            reply_error(sock, "EBADREQ", "expected a JSON object with a string path");
            continue;
        }
        int want_b64 = 0;
        if (json_get_string(req, (size_t)n, "encoding", enc, sizeof enc) == 0) {
            if (strcmp(enc, "base64") == 0) want_b64 = 1;
            else if (strcmp(enc, "utf8") != 0) { reply_error(sock, "EBADREQ", "bad encoding"); continue; }
        }
        const char *rel = path;
        while (*rel == '/') rel++;
        /* minimal confinement: no ".." component */
        int bad = 0;
        for (const char *p = rel; *p; ) {
            const char *e = strchr(p, '/');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (len == 2 && p[0] == '.' && p[1] == '.') bad = 1;
            p += len;
            if (*p == '/') p++;
        }
        if (bad) { reply_error(sock, "EACCES", "outside the root"); continue; }
        int fd = openat(rootfd, *rel ? rel : ".", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
            reply_error(sock, errno == ENOENT ? "ENOENT" : errno == EISDIR ? "EISDIR" : "EACCES", strerror(errno));
            continue;
        }
        struct stat st;
        if (fstat(fd, &st) != 0) { close(fd); reply_error(sock, "EIO", strerror(errno)); continue; }
        if (S_ISDIR(st.st_mode)) { close(fd); reply_error(sock, "EISDIR", "is a directory"); continue; }
        if (!S_ISREG(st.st_mode)) { close(fd); reply_error(sock, "EACCES", "not a regular file"); continue; }
        if ((size_t)st.st_size > max_size) { close(fd); reply_error(sock, "EFBIG", "file too large"); continue; }
        ensure(&fbuf, &fbuf_cap, (size_t)st.st_size + 1);
        size_t got = 0;
        int rerr = 0;
        for (;;) {
            ssize_t r = read(fd, fbuf + got, fbuf_cap - got);
            if (r < 0) { if (errno == EINTR) continue; rerr = 1; break; }
            if (r == 0) break;
            got += (size_t)r;
            if (got == fbuf_cap) ensure(&fbuf, &fbuf_cap, fbuf_cap + 1);
            if (got > max_size) break;
        }
        close(fd);
        if (rerr) { reply_error(sock, "EIO", strerror(errno)); continue; }
        if (got > max_size) { reply_error(sock, "EFBIG", "file too large"); continue; }

        const unsigned char *data = (const unsigned char *)fbuf;
        if (!want_b64 && !utf8_valid(data, got)) want_b64 = 1;
        size_t need = 64 + (want_b64 ? (got + 2) / 3 * 4 : got * 6);
        ensure(&out, &out_cap, need);
        char *o = out;
        memcpy(o, "{\"content\":\"", 12); o += 12;
        o = want_b64 ? base64(o, data, got) : json_escape(o, data, got);
        if (want_b64) { memcpy(o, "\",\"encoding\":\"base64", 20); o += 20; }
        o += sprintf(o, "\",\"timestamp\":%lld,\"pid\":%d}", now_ms(), (int)getpid());
        zmq_send(sock, out, (size_t)(o - out), 0);
    }
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return 0;
}

/* ---------------------------------------------------------------- master */

static void *proxy_ctx;
static void *frontend_sock, *backend_sock;

static void *proxy_thread(void *arg)
{
    (void)arg;
    zmq_proxy(frontend_sock, backend_sock, NULL); /* returns on zmq_ctx_shutdown (ETERM) */
    return NULL;
}

static pid_t spawn_worker(const char *program, const char *backend, const char *root, const char *maxs,
                          const sigset_t *oldmask)
{
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return -1; }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != master) _exit(1); /* the master died before prctl */
        sigprocmask(SIG_SETMASK, oldmask, NULL);
        if (program) execl(program, program, backend, root, maxs, (char *)NULL);
        else execl("/proc/self/exe", "ref_server", "--worker", backend, root, maxs, (char *)NULL);
        _exit(127);
    }
    return pid;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--worker") == 0)
        return worker_main(argv[2], argv[3], (size_t)strtoull(argv[4], NULL, 10));
    if (argc < 5 || argc > 7) {
        fprintf(stderr, "usage: ref_server FRONTEND BACKEND WORKERS ROOT [MAX_FILE_SIZE [WORKER_PROGRAM]]\n");
        return 64;
    }
    const char *frontend = argv[1], *backend = argv[2], *root = argv[4];
    int nworkers = atoi(argv[3]);
    const char *maxs = argc >= 6 ? argv[5] : "67108864";
    const char *program = argc == 7 ? argv[6] : NULL;
    /* WORKERS = 0: the master alone (bench/profile attaches a worker under valgrind) */
    if (nworkers < 0 || nworkers > 1024) { fprintf(stderr, "bad WORKERS\n"); return 64; }

    /* Signals are taken synchronously by the main thread; block them before any thread exists. */
    sigset_t set, oldmask;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM); sigaddset(&set, SIGINT); sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, &oldmask);

    proxy_ctx = zmq_ctx_new();
    frontend_sock = zmq_socket(proxy_ctx, ZMQ_ROUTER);
    backend_sock = zmq_socket(proxy_ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(frontend_sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(backend_sock, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(frontend_sock, frontend) != 0) { fprintf(stderr, "bind %s: %s\n", frontend, zmq_strerror(errno)); return 71; }
    if (zmq_bind(backend_sock, backend) != 0) { fprintf(stderr, "bind %s: %s\n", backend, zmq_strerror(errno)); return 71; }
    pthread_t th;
    pthread_create(&th, NULL, proxy_thread, NULL);

    pid_t *pids = calloc((size_t)nworkers, sizeof *pids);
    for (int i = 0; i < nworkers; i++) pids[i] = spawn_worker(program, backend, root, maxs, &oldmask);
    fprintf(stderr, "ref_server %d: %d workers, %s -> %s\n", (int)getpid(), nworkers, frontend, backend);

    int alive = nworkers;
    for (;;) {
        int sig;
        sigwait(&set, &sig);
        if (sig == SIGCHLD) {
            int st; pid_t p;
            while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
                for (int i = 0; i < nworkers; i++) if (pids[i] == p) { pids[i] = 0; alive--; }
                fprintf(stderr, "ref_server: worker %d exited (status %d)\n", (int)p, st);
            }
            continue;
        }
        break; /* SIGTERM / SIGINT */
    }
    for (int i = 0; i < nworkers; i++) if (pids[i] > 0) kill(pids[i], SIGTERM);
    for (int waited = 0; alive > 0 && waited < 200; waited++) {
        pid_t p;
        int st;
        while ((p = waitpid(-1, &st, WNOHANG)) > 0)
            for (int i = 0; i < nworkers; i++) if (pids[i] == p) { pids[i] = 0; alive--; }
        if (alive > 0) usleep(10000);
    }
    for (int i = 0; i < nworkers; i++) if (pids[i] > 0) { kill(pids[i], SIGKILL); waitpid(pids[i], NULL, 0); }
    zmq_ctx_shutdown(proxy_ctx);
    pthread_join(th, NULL);
    zmq_close(frontend_sock);
    zmq_close(backend_sock);
    zmq_ctx_term(proxy_ctx);
    if (strncmp(backend, "ipc://", 6) == 0) unlink(backend + 6);
    return 0;
}
