import Glibc
import CFilerLinux

/// Monotonic time, for timeouts and intervals that must not jump with the wall clock.
/// Arithmetic saturates: a deadline too far away to represent is simply "never".
public struct MonotonicInstant: Comparable, Hashable, Sendable {
    public let nanoseconds: UInt64

    public static func now() -> MonotonicInstant {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return MonotonicInstant(nanoseconds: UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec))
    }

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static func + (instant: MonotonicInstant, duration: Duration) -> MonotonicInstant {
        let delta = duration.nanoseconds
        if delta >= 0 {
            let (sum, overflow) = instant.nanoseconds.addingReportingOverflow(UInt64(delta))
            return MonotonicInstant(nanoseconds: overflow ? .max : sum)
        }
        let magnitude = UInt64(delta.magnitude)
        return MonotonicInstant(nanoseconds: instant.nanoseconds > magnitude ? instant.nanoseconds - magnitude : 0)
    }

    /// The time from `earlier` to `later` (negative if `earlier` is later).
    public static func - (later: MonotonicInstant, earlier: MonotonicInstant) -> Duration {
        if later.nanoseconds >= earlier.nanoseconds {
            return .nanoseconds(Int64(clamping: later.nanoseconds - earlier.nanoseconds))
        }
        return .nanoseconds(-Int64(clamping: earlier.nanoseconds - later.nanoseconds))
    }

    public func adding(milliseconds: Int) -> MonotonicInstant { self + .milliseconds(milliseconds) }

    public func adding(seconds: Double) -> MonotonicInstant {
        seconds >= 9e9 ? MonotonicInstant(nanoseconds: .max) : self + .nanoseconds(Int64(max(0, seconds) * 1e9))
    }

    public func seconds(since earlier: MonotonicInstant) -> Double { (self - earlier).seconds }

    public func milliseconds(since earlier: MonotonicInstant) -> Int64 { (self - earlier).milliseconds }

    public static func < (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }
}

extension Duration {
    /// Whole nanoseconds, saturating.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return scaled.addingReportingOverflow(attoseconds / 1_000_000_000).overflow
            ? (seconds < 0 ? .min : .max) : scaled + attoseconds / 1_000_000_000
    }

    /// Whole milliseconds, rounded down, saturating.
    public var milliseconds: Int64 { nanoseconds / 1_000_000 }

    /// Seconds as a floating-point number, for people and for JSON.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// Milliseconds since the Unix epoch, as JavaScript's `Date.now()`.
public func epochMilliseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
}
