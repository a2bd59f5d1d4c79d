/*
 * min_worker: the leanest correct worker, the second reference of the benchmark.
 *
 *   min_worker BACKEND ROOT MAX_FILE_SIZE
 *
 * One REP socket connected to BACKEND (the DEALER of a master such as
 * ref_server's, which starts these with its WORKER_PROGRAM argument).  For
 * each request: a blocking zmq_recv, openat2 beneath ROOT, one read, close,
 * JSON escaping (or base64 for a file that is not UTF-8), zmq_send.  Nothing
 * else: no poll, no fstat, no signal handling (SIGTERM ends it), no reports,
 * no growth check.  The read buffer is allocated once at MAX_FILE_SIZE + 1
 * bytes, so one read both reads the file and tells a file that is too large;
 * the reply buffer is allocated once at the largest reply (pages that are
 * never written stay out of memory).  The reply has the same shape as filer's:
 *   {"content":"<json-escaped>","timestamp":<ms>,"pid":<pid>}
 *   {"content":"<base64>","encoding":"base64","timestamp":<ms>,"pid":<pid>}
 *   {"error":{"code":"ENOENT","message":"..."},"timestamp":<ms>,"pid":<pid>}
 * It dies with its master (PR_SET_PDEATHSIG), checked once at start.
 */
#define _GNU_SOURCE
#include <zmq.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

static int pid;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* vDSO: no system call */
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 0: as is; else the letter after the backslash, 'u' for \u00XX */
static unsigned char esc[256];

static char *escape(char *o, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && !esc[s[j]]) j++;
        memcpy(o, s + i, j - i);
        o += j - i;
        if (j == n) break;
        unsigned char c = s[j], e = esc[c];
        *o++ = '\\';
        if (e == 'u') { *o++ = 'u'; *o++ = '0'; *o++ = '0'; *o++ = hex[c >> 4]; *o++ = hex[c & 15]; }
        else *o++ = (char)e;
        i = j + 1;
    }
    return o;
}

/* RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF. ASCII 8 bytes at a time. */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ull)) { i += 8; continue; }
        }
        unsigned char c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t len;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; }
        else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; }
        else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; }
        else return 0;
        if (n - i < len) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        i += len;
    }
    return 1;
}

static char *base64(char *o, const unsigned char *s, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        o[0] = t[v >> 18]; o[1] = t[v >> 12 & 63]; o[2] = t[v >> 6 & 63]; o[3] = t[v & 63];
        o += 4;
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        o[0] = t[v >> 18]; o[1] = t[v >> 12 & 63];
        o[2] = i + 1 < n ? t[v >> 6 & 63] : '=';
        o[3] = '=';
        o += 4;
    }
    return o;
}

/* The string value of "key" in a flat JSON object, with simple escapes; -1 if absent or not a plain string. */
static int get_string(const char *req, size_t n, const char *key, char *val, size_t cap)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i + klen + 2 < n; i++) {
        if (req[i] != '"' || memcmp(req + i + 1, key, klen) != 0 || req[i + 1 + klen] != '"') continue;
        size_t j = i + klen + 2;
        while (j < n && (req[j] == ' ' || req[j] == '\t' || req[j] == '\n' || req[j] == '\r')) j++;
        if (j >= n || req[j++] != ':') continue;
        while (j < n && (req[j] == ' ' || req[j] == '\t' || req[j] == '\n' || req[j] == '\r')) j++;
        if (j >= n || req[j++] != '"') return -1;
        size_t o = 0;
        while (j < n && req[j] != '"') {
            char c = req[j++];
            if ((unsigned char)c < 0x20) return -1;
            if (c == '\\') {
                if (j >= n) return -1;
                switch (c = req[j++]) {
                case 'n': c = '\n'; break;
                case 't': c = '\t'; break;
                case 'r': c = '\r'; break;
                case 'b': c = '\b'; break;
                case 'f': c = '\f'; break;
                case '"': case '\\': case '/': break;
                default: return -1; /* \u is not needed by the benchmark */
                }
            }
            if (o + 1 >= cap) return -1;
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
                       code, msg, now_ms(), pid);
    zmq_send(sock, buf, (size_t)len, 0);
}

static const char *open_code(int e)
{
    switch (e) {
    case ENOENT: case ENOTDIR: return "ENOENT";
    case EISDIR: return "EISDIR";
    default: return "EACCES";
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: min_worker BACKEND ROOT MAX_FILE_SIZE\n");
        return 64;
    }
    pid_t parent = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) return 1;
    pid = getpid();
    const char *backend = argv[1], *root = argv[2];
    size_t max_size = (size_t)strtoull(argv[3], NULL, 10);
    for (int c = 0; c < 0x20; c++) esc[c] = 'u';
    esc['\b'] = 'b'; esc['\f'] = 'f'; esc['\n'] = 'n'; esc['\r'] = 'r'; esc['\t'] = 't';
    esc['"'] = '"'; esc['\\'] = '\\';

    int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) { perror(root); return 1; }
    size_t fcap = max_size + 1, ocap = 6 * fcap + 128;
    unsigned char *fbuf = malloc(fcap);
    char *out = malloc(ocap);
    if (!fbuf || !out) { perror("malloc"); return 1; }
    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_REP);
    if (zmq_connect(sock, backend) != 0) {
        fprintf(stderr, "min_worker: zmq_connect %s: %s\n", backend, zmq_strerror(errno));
        return 1;
    }
    struct open_how how = { .flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                            .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };
    char req[4097], path[4096], enc[16];
    for (;;) {
        int n = zmq_recv(sock, req, sizeof req, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if ((size_t)n > sizeof req - 1) { reply_error(sock, "EBADREQ", "request too large"); continue; }
        if (get_string(req, (size_t)n, "path", path, sizeof path) != 0) {
            reply_error(sock, "EBADREQ", "expected a JSON object with a string path");
            continue;
        }
        int b64 = 0;
        if (get_string(req, (size_t)n, "encoding", enc, sizeof enc) == 0) {
            if (strcmp(enc, "base64") == 0) b64 = 1;
            else if (strcmp(enc, "utf8") != 0) { reply_error(sock, "EBADREQ", "bad encoding"); continue; }
        }
        const char *rel = path;
        while (*rel == '/') rel++;
        int fd = (int)syscall(SYS_openat2, rootfd, *rel ? rel : ".", &how, sizeof how);
        if (fd < 0) { reply_error(sock, open_code(errno), strerror(errno)); continue; }
        ssize_t got = read(fd, fbuf, fcap);
        int rerr = errno;
        close(fd);
        if (got < 0) { reply_error(sock, rerr == EISDIR ? "EISDIR" : "EIO", strerror(rerr)); continue; }
        if ((size_t)got > max_size) { reply_error(sock, "EFBIG", "file too large"); continue; }
        size_t len = (size_t)got;
        if (!b64 && !utf8_valid(fbuf, len)) b64 = 1;
        char *o = out;
        memcpy(o, "{\"content\":\"", 12);
        o += 12;
        o = b64 ? base64(o, fbuf, len) : escape(o, fbuf, len);
        if (b64) { memcpy(o, "\",\"encoding\":\"base64", 20); o += 20; }
        o += sprintf(o, "\",\"timestamp\":%lld,\"pid\":%d}", now_ms(), pid);
        zmq_send(sock, out, (size_t)(o - out), 0);
    }
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return 0;
}
