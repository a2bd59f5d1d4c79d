/// When to restart one worker slot: the delay doubles with each quick failure,
/// from `initialDelay` up to `maxDelay`, and resets once a worker has run for
/// `stableAfter` seconds.
public struct RestartBackoff: Sendable {
    public let policy: RestartPolicy
    public private(set) var quickFailures = 0

    public init(policy: RestartPolicy) {
        self.policy = policy
    }

    /// Records that the slot's worker ended after `ranFor` seconds.
    /// - Returns: the seconds to wait before starting its replacement.
    public mutating func delayAfterExit(ranFor: Double) -> Double {
        if ranFor >= policy.stableAfter { quickFailures = 0 }
        let delay = policy.initialDelay * Double(1 << min(quickFailures, 30))
        quickFailures += 1
        return min(delay, policy.maxDelay)
    }
}

/// Tells a crash loop from ordinary restarts: starts in a row, over all slots,
/// that ended without the worker ever coming online.
public struct CrashLoopDetector: Sendable {
    public let limit: Int
    public private(set) var failedStartsInARow = 0

    public init(limit: Int) {
        self.limit = limit
    }

    /// A worker came online: workers can start, whatever happened before.
    public mutating func workerCameOnline() { failedStartsInARow = 0 }

    /// A worker ended; `wasOnline` tells whether it had come online.
    /// - Returns: whether workers cannot start at all and restarting is pointless.
    public mutating func workerEnded(wasOnline: Bool) -> Bool {
        if wasOnline { return false }
        failedStartsInARow += 1
        return failedStartsInARow >= limit
    }
}
