import Glibc
import CFilerLinux

/// Monotonic time, for timeouts and intervals that must not jump with the wall clock.
public struct MonotonicInstant: Comparable, Sendable {
    public let nanoseconds: UInt64

    public static func now() -> MonotonicInstant {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return MonotonicInstant(nanoseconds: UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec))
    }

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public func adding(seconds: Double) -> MonotonicInstant {
        MonotonicInstant(nanoseconds: nanoseconds &+ UInt64(max(0, seconds) * 1e9))
    }

    /// Seconds from `earlier` to this instant (negative if `earlier` is later).
    public func seconds(since earlier: MonotonicInstant) -> Double {
        (Double(nanoseconds) - Double(earlier.nanoseconds)) / 1e9
    }

    public static func < (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }
}

/// Milliseconds since the Unix epoch, as JavaScript's `Date.now()`.
public func epochMilliseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
}
