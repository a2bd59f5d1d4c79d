#define _GNU_SOURCE
#include "CFilerLinux.h"

#include <linux/openat2.h>
#include <fcntl.h>
#include <pthread.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <string.h>
#include <sys/prctl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <linux/filter.h>
#include <stdio.h>
#include <sys/random.h>
#include <malloc.h>
#include <time.h>
#include <sys/syscall.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

int filer_openat_beneath(int dirfd, const char *path, int flags) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)flags;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int filer_set_parent_death_signal(int signal) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0UL, 0UL, 0UL);
}

const char *filer_signal_abbreviation(int signal) {
    return sigabbrev_np(signal);
}

const char *filer_errno_name(int error) {
    return strerrorname_np(error);
}

int filer_set_thread_name(const char *name) {
    return pthread_setname_np(pthread_self(), name);
}

int filer_pipe_cloexec(int ends[2]) {
    return pipe2(ends, O_CLOEXEC);
}

int filer_open_directory_path(const char *path) {
    return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

int filer_affinity_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    return CPU_COUNT(&set);
}

int filer_signalfd(const sigset_t *signals) {
    return signalfd(-1, signals, SFD_CLOEXEC | SFD_NONBLOCK);
}

int filer_signalfd_take(int fd) {
    struct signalfd_siginfo info;
    for (;;) {
        ssize_t got = read(fd, &info, sizeof info);
        if (got == (ssize_t)sizeof info) return (int)info.ssi_signo;
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && errno == EAGAIN) return 0;
        return -1;
    }
}

int filer_unix_socket_listening(const char *path) {
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    size_t length = strlen(path);
    if (length == 0 || length >= sizeof address.sun_path) return -EINVAL;
    memcpy(address.sun_path, path, length);
    if (path[0] == '@') address.sun_path[0] = '\0';
    socklen_t address_length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int result;
    if (connect(fd, (struct sockaddr *)&address, address_length) == 0) result = 1;
    else if (errno == ECONNREFUSED || errno == ENOENT) result = 0;
    else result = -errno;
    close(fd);
    return result;
}

int filer_peer_address(int fd, char *buffer, size_t size) {
    struct sockaddr_storage address;
    socklen_t length = sizeof address;
    if (getpeername(fd, (struct sockaddr *)&address, &length) != 0) return -errno;
    char host[INET6_ADDRSTRLEN];
    if (address.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&address;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(buffer, size, "%s:%u", host, (unsigned)ntohs(in->sin_port));
    } else if (address.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&address;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(buffer, size, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
    } else {
        snprintf(buffer, size, "local");
    }
    return 0;
}

int filer_tcp_counters(int fd, unsigned long long *received, unsigned long long *queued) {
    struct tcp_info info;
    socklen_t length = sizeof info;
    memset(&info, 0, sizeof info);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return -errno;
    *received = info.tcpi_bytes_received;
    *queued = (unsigned long long)info.tcpi_notsent_bytes + info.tcpi_unacked * (unsigned long long)info.tcpi_snd_mss;
    return 0;
}

int filer_drop_connection(int fd, const char *peer) {
    char current[INET6_ADDRSTRLEN + 16];
    int result = filer_peer_address(fd, current, sizeof current);
    if (result != 0) return result == -ENOTCONN || result == -EBADF || result == -ENOTSOCK ? 0 : result;
    if (strcmp(current, peer) != 0) return 0;
    return shutdown(fd, SHUT_RDWR) == 0 ? 1 : -errno;
}

int filer_pause_listener(int fd, int paused) {
    if (!paused) {
        int unused = 0;  /* the kernel wants an int's worth of option, though it reads none */
        if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof unused) == 0 || errno == ENOENT) return 0;
        return -errno;
    }
    struct sock_filter drop_all[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
    struct sock_fprog program = { .len = 1, .filter = drop_all };
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) == 0 ? 0 : -errno;
}

unsigned long long filer_heap_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return (unsigned long long)info.uordblks + info.hblkhd;
}

long long filer_resident_bytes(void) {
    /* Kept open: the master asks every few milliseconds, one pread each time. */
    static int statm = -1;
    if (statm < 0) statm = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (statm < 0) return -errno;
    char text[128];
    ssize_t got = pread(statm, text, sizeof text - 1, 0);
    if (got <= 0) return got < 0 ? -errno : -EIO;
    text[got] = 0;
    unsigned long size = 0, resident = 0;
    if (sscanf(text, "%lu %lu", &size, &resident) != 2) return -EIO;
    return (long long)resident * sysconf(_SC_PAGESIZE);
}

int filer_release_free_memory(void) {
    return malloc_trim(0);
}

unsigned int filer_random_seed(void) {
    unsigned int seed;
    if (getrandom(&seed, sizeof seed, 0) == (ssize_t)sizeof seed) return seed;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (unsigned int)(now.tv_nsec ^ now.tv_sec ^ (long)getpid() << 16);
}

int filer_notify(const char *state, size_t length) {
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == '\0') return 0;
    size_t path_length = strlen(path);
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if ((path[0] != '/' && path[0] != '@') || path_length >= sizeof address.sun_path) return -EINVAL;
    memcpy(address.sun_path, path, path_length);
    if (path[0] == '@') address.sun_path[0] = '\0';  /* the abstract namespace */
    socklen_t address_length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_length);

    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -errno;
    ssize_t sent;
    do {
        sent = sendto(fd, state, length, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&address, address_length);
    } while (sent < 0 && errno == EINTR);
    int result = sent < 0 ? -errno : 1;
    close(fd);
    return result;
}

int filer_bind_inet(int fd, const unsigned char *address, size_t length, int port) {
    if (port < 0 || port > 65535) { errno = EINVAL; return -1; }
    if (length == 4) {
        struct sockaddr_in in;
        memset(&in, 0, sizeof in);
        in.sin_family = AF_INET;
        in.sin_port = htons((uint16_t)port);
        memcpy(&in.sin_addr, address, 4);
        return bind(fd, (struct sockaddr *)&in, sizeof in);
    }
    if (length == 16) {
        struct sockaddr_in6 in6;
        memset(&in6, 0, sizeof in6);
        in6.sin6_family = AF_INET6;
        in6.sin6_port = htons((uint16_t)port);
        memcpy(&in6.sin6_addr, address, 16);
        return bind(fd, (struct sockaddr *)&in6, sizeof in6);
    }
    errno = EAFNOSUPPORT;
    return -1;
}

int filer_local_port(int fd) {
    struct sockaddr_storage address;
    socklen_t length = sizeof address;
    if (getsockname(fd, (struct sockaddr *)&address, &length) != 0) return -1;
    if (address.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&address)->sin_port);
    if (address.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&address)->sin6_port);
    errno = EAFNOSUPPORT;
    return -1;
}

int filer_accept(int fd) {
    return accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int filer_epoll_control(int epoll_fd, int operation, int fd, unsigned events) {
    struct epoll_event event;
    memset(&event, 0, sizeof event);
    event.events = events;
    event.data.fd = fd;
    return epoll_ctl(epoll_fd, operation, fd, &event);
}

int filer_epoll_ready(int epoll_fd, int *fds, unsigned *events, int maximum) {
    struct epoll_event ready[64];
    if (maximum > 64) maximum = 64;
    int count = epoll_wait(epoll_fd, ready, maximum, 0);
    for (int i = 0; i < count; i++) {
        fds[i] = ready[i].data.fd;
        events[i] = ready[i].events;
    }
    return count;
}

int filer_timer_create(void) {
    return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
}

int filer_timer_arm(int fd, unsigned long long nanoseconds) {
    struct itimerspec when;
    memset(&when, 0, sizeof when);
    when.it_value.tv_sec = (time_t)(nanoseconds / 1000000000ULL);
    when.it_value.tv_nsec = (long)(nanoseconds % 1000000000ULL);
    return timerfd_settime(fd, TFD_TIMER_ABSTIME, &when, NULL);
}
