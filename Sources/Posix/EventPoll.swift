import Glibc
import CFilerLinux

/// An epoll set: many descriptors, each watched for reading or writing, behind one
/// descriptor that is readable whenever any of them is ready. A component with many
/// sockets of its own hands an event loop that one descriptor, as sd-event nests loops.
public struct EventPoll: ~Copyable {
    public let descriptor: FileDescriptor

    /// What a descriptor is watched for, or was found ready for.
    public struct Events: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        public static let readable = Events(rawValue: UInt32(EPOLLIN.rawValue))
        public static let writable = Events(rawValue: UInt32(EPOLLOUT.rawValue))
    }

    /// A descriptor and what it was found ready for (an error or hang-up, EPOLLERR or
    /// EPOLLHUP, comes whatever was asked: the next read or write tells what happened).
    public struct Ready: Sendable {
        public let descriptor: Int32
        public let events: Events
    }

    public init() throws(SystemError) {
        descriptor = FileDescriptor(owning: try retryingInterrupts("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) })
    }

    /// Starts watching `fd` for `events` (level-triggered).
    public func add(_ fd: Int32, for events: Events) throws(SystemError) {
        try control("epoll_ctl(ADD)", EPOLL_CTL_ADD, fd, events)
    }

    /// Changes what `fd` is watched for.
    public func modify(_ fd: Int32, for events: Events) throws(SystemError) {
        try control("epoll_ctl(MOD)", EPOLL_CTL_MOD, fd, events)
    }

    /// Stops watching `fd`. Closing a descriptor also removes it, so this is for one that
    /// stays open.
    public func remove(_ fd: Int32) throws(SystemError) {
        try control("epoll_ctl(DEL)", EPOLL_CTL_DEL, fd, [])
    }

    /// The descriptors ready now, at most `maximum` (64 at most); never waits.
    public func ready(maximum: Int = 64) throws(SystemError) -> [Ready] {
        let capacity = min(max(1, maximum), 64)
        var fds = [Int32](repeating: -1, count: capacity)
        var events = [UInt32](repeating: 0, count: capacity)
        let count = try retryingInterrupts("epoll_wait") {
            filer_epoll_ready(descriptor.rawValue, &fds, &events, Int32(capacity))
        }
        return (0..<Int(count)).map { Ready(descriptor: fds[$0], events: Events(rawValue: events[$0])) }
    }

    private func control(_ call: String, _ operation: Int32, _ fd: Int32, _ events: Events) throws(SystemError) {
        try retryingInterrupts(call) { filer_epoll_control(descriptor.rawValue, operation, fd, events.rawValue) }
    }
}

/// A one-shot timer on the monotonic clock, as a descriptor that is readable once it
/// fires (timerfd), so that an epoll set wakes for deadlines as it does for sockets.
public struct DeadlineTimer: ~Copyable {
    public let descriptor: FileDescriptor

    public init() throws(SystemError) {
        descriptor = FileDescriptor(owning: try retryingInterrupts("timerfd_create") { filer_timer_create() })
    }

    /// Fires at `instant` (at once if it has passed), or never with nil. Replaces any
    /// earlier arming, and a firing not yet acknowledged.
    public func arm(at instant: MonotonicInstant?) throws(SystemError) {
        let nanoseconds = instant.map { max(1, $0.nanoseconds) } ?? 0
        try retryingInterrupts("timerfd_settime") { filer_timer_arm(descriptor.rawValue, nanoseconds) }
    }

    /// Takes the firing, so that the descriptor is no longer readable.
    public func acknowledge() throws(SystemError) {
        var expirations: UInt64 = 0
        while true {
            let got = read(descriptor.rawValue, &expirations, MemoryLayout<UInt64>.size)
            if got >= 0 { return }
            let error = errno
            if error == EINTR { continue }
            // Not fired yet, or re-armed since it fired: nothing to take.
            if error == EAGAIN { return }
            throw SystemError("read(timerfd)", errno: error)
        }
    }
}
