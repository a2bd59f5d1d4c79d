public import FilerConfiguration

/// When to restart one worker slot: the delay doubles with each quick failure,
/// from `initialDelay` up to `maxDelay`, and resets once a worker has run for
/// `stableAfter`.
public struct RestartBackoff: Equatable, Sendable {
    public let policy: RestartPolicy
    public private(set) var quickFailures = 0

    public init(policy: RestartPolicy) {
        self.policy = policy
    }

    /// Records that the slot's worker ended after running for `ranFor`.
    /// - Returns: how long to wait before starting its replacement.
    public mutating func delayAfterExit(ranFor: Duration) -> Duration {
        if ranFor >= policy.stableAfter { quickFailures = 0 }
        let doublings = min(quickFailures, 30)
        quickFailures += 1
        // Compare before multiplying: the configuration bounds both delays, not their product.
        if policy.initialDelay > policy.maxDelay / (1 << doublings) { return policy.maxDelay }
        return min(policy.initialDelay * (1 << doublings), policy.maxDelay)
    }
}

/// Tells a crash loop from ordinary restarts: starts in a row, over all slots,
/// that ended without the worker ever coming online.
public struct CrashLoopDetector: Equatable, Sendable {
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
