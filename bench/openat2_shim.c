/*
 * openat2_shim.so: for bench/profile only.  valgrind 3.19 does not know
 * openat2(2) (syscall 437) and fails it with ENOSYS, so filer could not read a
 * file under callgrind.  Preloaded into the profiled worker, this turns
 * syscall(SYS_openat2, dirfd, path, how, size) into openat(dirfd, path,
 * how->flags, how->mode): the same user-space work, without RESOLVE_BENEATH
 * (the benchmark's files are plain files beneath the root).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

struct how { uint64_t flags, mode, resolve; };

long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_openat2) {
        const struct how *h = (const struct how *)a[2];
        return openat((int)a[0], (const char *)a[1], (int)h->flags, (mode_t)h->mode);
    }
    static long (*real)(long, ...);
    if (!real) real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
