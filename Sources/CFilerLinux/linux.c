#define _GNU_SOURCE
#include "CFilerLinux.h"

#include <linux/openat2.h>
#include <fcntl.h>
#include <pthread.h>
#include <errno.h>
#include <sched.h>
#include <sys/signalfd.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
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
