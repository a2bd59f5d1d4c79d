#ifndef CFILERLINUX_H
#define CFILERLINUX_H

// The C side of the Posix layer: calls Swift cannot make itself (variadic
// prctl and syscall, glibc extensions behind _GNU_SOURCE, macros, structs
// with unions such as tcp_info and sock_fprog), and the few that are plainer
// in C (a socket address to text). Each returns what the underlying call
// returns, or -errno where it says so, and leaves errno as the call set it.

#include <signal.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/types.h>

/// openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS: opens `path`
/// relative to `dirfd` and fails with EXDEV if resolution would leave it.
int filer_openat_beneath(int dirfd, const char *path, int flags);

/// prctl(PR_SET_PDEATHSIG, signal): the kernel sends `signal` to this
/// process when the thread that spawned it exits.
int filer_set_parent_death_signal(int signal);

/// The abbreviated name of a signal ("KILL" for SIGKILL), or NULL.
const char *filer_signal_abbreviation(int signal);

/// The symbolic name of an errno value ("ENOENT"), or NULL.
const char *filer_errno_name(int error);

/// Names the calling thread, as `top -H` and `ps -L` show it (15 bytes at most).
int filer_set_thread_name(const char *name);

/// pipe2(2) with O_CLOEXEC on both ends.
int filer_pipe_cloexec(int ends[2]);

/// open(2) of a directory with O_PATH: a handle to resolve paths beneath,
/// needing no read permission on the directory itself.
int filer_open_directory_path(const char *path);

/// How many CPUs this process's affinity mask allows, or -1.
int filer_affinity_cpu_count(void);

/// signalfd(2) for `signals`, close-on-exec and non-blocking.
int filer_signalfd(const sigset_t *signals);

/// Reads one signal from a signalfd: its number, 0 when none is pending, -1 on error.
int filer_signalfd_take(int fd);

/// Sends one datagram of the service manager's notification protocol to
/// $NOTIFY_SOCKET, like sd_notify(3) but never blocking: sd_notify waits when the
/// manager is slow to read, and a supervisor must not.
/// Returns 1 when sent, 0 without NOTIFY_SOCKET, -errno on failure (-EAGAIN: try later).
int filer_notify(const char *state, size_t length);

/// Whether a process listens on the AF_UNIX stream socket at `path` ("@name" for the
/// abstract namespace): 1 if a connect succeeds, 0 if nothing listens, -errno otherwise.
int filer_unix_socket_listening(const char *path);

/// The peer of a connected socket as "ADDRESS:PORT" ("[ADDRESS]:PORT" for IPv6, "local"
/// for AF_UNIX), NUL-terminated in `buffer`. Returns 0, or -errno.
int filer_peer_address(int fd, char *buffer, size_t size);

/// A TCP connection's counters: bytes received from the peer, and bytes queued for it
/// that it has not taken yet. Returns 0, or -errno (-ENOPROTOOPT for other sockets).
int filer_tcp_counters(int fd, unsigned long long *received, unsigned long long *queued);

/// shutdown(2) of a connection that libzmq owns, if `fd` is still the socket connected to
/// `peer` (as filer_peer_address spells it): libzmq sees the peer leave and closes the
/// descriptor itself. Returns 1 if shut down, 0 if `fd` is another socket now, -errno.
int filer_drop_connection(int fd, const char *peer);

/// Pauses or resumes a listening TCP socket that libzmq owns, without closing it (which
/// would also end every connection it accepted): a socket filter that drops every
/// packet makes the kernel ignore new connections' SYNs, so nothing new is accepted
/// while the connections already made go on. Returns 0, or -errno.
int filer_pause_listener(int fd, int paused);

/// Bytes the C heap has handed out and not had back (mallinfo2: arenas and mmapped blocks).
unsigned long long filer_heap_in_use(void);
/* This process's resident memory in bytes (/proc/self/statm), or -errno. */
long long filer_resident_bytes(void);

/// malloc_trim(3): hands the heap's free pages back to the kernel.
int filer_release_free_memory(void);

/// getrandom(2) for a seed; falls back to the clock and pid if it fails.
unsigned int filer_random_seed(void);

// The metrics listener's sockets, epoll set and timer. These return what the call
// returns (-1 with errno set), like the calls at the top of this file.

/// bind(2) of a socket to an IPv4 (4 bytes) or IPv6 (16 bytes) address in network order.
int filer_bind_inet(int fd, const unsigned char *address, size_t length, int port);

/// The local port a bound socket has (getsockname(2)), or -1.
int filer_local_port(int fd);

/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC; the peer's address is not wanted.
int filer_accept(int fd);

/// epoll_ctl(2) with `fd` itself as the event's data: struct epoll_event is packed on
/// x86-64, which Swift cannot build reliably.
int filer_epoll_control(int epoll_fd, int operation, int fd, unsigned events);

/// epoll_wait(2) that never waits: up to `maximum` ready descriptors and their events.
int filer_epoll_ready(int epoll_fd, int *fds, unsigned *events, int maximum);

/// timerfd_create(2) on CLOCK_MONOTONIC, non-blocking and close-on-exec.
int filer_timer_create(void);

/// timerfd_settime(2) to fire once at `nanoseconds` of CLOCK_MONOTONIC (0 disarms).
int filer_timer_arm(int fd, unsigned long long nanoseconds);

#endif
