public import Posix

/// Decides which refusals to report: the first from an address, then none from it
/// until `interval` has passed. A client that retries with a new socket each time
/// (Lazy Pirate does) or a script hammering the port would otherwise write a journal
/// line per attempt; libzmq itself does not reconnect after a refusal.
///
/// Pure: the caller passes the time, so a test drives it with a fake clock.
public struct RefusalLog: Sendable {
    public let interval: Double
    private var lastReported: [String: MonotonicInstant] = [:]
    private var lastPruned: MonotonicInstant?

    /// - Parameter interval: seconds between two reports about one address.
    public init(interval: Double = 60) {
        self.interval = interval
    }

    /// Records a refusal of a peer at `address`.
    /// - Returns: whether to report it.
    public mutating func shouldReport(address: String, at now: MonotonicInstant) -> Bool {
        pruneIfDue(now)
        if let last = lastReported[address], now.seconds(since: last) < interval { return false }
        lastReported[address] = now
        return true
    }

    /// How many addresses are remembered: those reported within the last interval or two.
    public var rememberedAddresses: Int { lastReported.count }

    /// Forgets addresses whose quiet time is over, at most once an interval, so that a
    /// scan from many addresses does not grow the table without end and the work stays
    /// constant per refusal on average. Forgetting them changes no decision: each would
    /// be reported on its next refusal anyway.
    private mutating func pruneIfDue(_ now: MonotonicInstant) {
        if let lastPruned, now.seconds(since: lastPruned) < interval { return }
        lastPruned = now
        lastReported = lastReported.filter { now.seconds(since: $0.value) < interval }
    }
}
