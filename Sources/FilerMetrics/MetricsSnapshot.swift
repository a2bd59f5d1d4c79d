/// Everything `/metrics` shows, as plain values: the master fills one in when a scrape
/// asks for it, and `exposition()` renders it. Counters count since the master started
/// and never go down across reloads; keeping them so is the master's job.
public struct MetricsSnapshot: Equatable, Sendable {
    /// How a worker process ended, as a label: its exit status, or the signal that killed it.
    public enum WorkerExit: Hashable, Sendable {
        case exited(code: Int32)
        /// The signal's name, "SIGKILL".
        case killed(signal: String)
    }

    /// What one side of the proxy passed on. "In" is what the proxy received on that side:
    /// on the frontend the clients' requests, on the backend the workers' replies.
    public struct Traffic: Equatable, Sendable {
        public var messagesIn: UInt64
        public var bytesIn: UInt64
        public var messagesOut: UInt64
        public var bytesOut: UInt64

        public init(messagesIn: UInt64 = 0, bytesIn: UInt64 = 0, messagesOut: UInt64 = 0, bytesOut: UInt64 = 0) {
            self.messagesIn = messagesIn
            self.bytesIn = bytesIn
            self.messagesOut = messagesOut
            self.bytesOut = bytesOut
        }
    }

    /// One worker slot (0 to workers - 1). Labelled by slot, not pid: a pid changes with
    /// every restart, and each would be a new series in Prometheus for ever.
    public struct Slot: Equatable, Sendable {
        public var slot: Int
        /// Whether the slot's worker is online now.
        public var online: Bool
        /// Requests served by the workers that filled this slot, since the master started.
        public var requestsServed: UInt64

        public init(slot: Int, online: Bool, requestsServed: UInt64) {
            self.slot = slot
            self.online = online
            self.requestsServed = requestsServed
        }
    }

    /// `filer_build_info{version=...}`.
    public var version: String
    /// Requests answered with content.
    public var requestsServed: UInt64 = 0
    /// Requests answered with an error, by its code: "ENOENT", "EACCES", "EBUSY"...
    /// (a short, fixed set of names: each is a series).
    public var requestsRefused: [String: UInt64] = [:]
    public var workerStarts: UInt64 = 0
    public var workerExits: [WorkerExit: UInt64] = [:]
    /// Workers started again after one ended unasked or hung.
    public var workerRestarts: UInt64 = 0
    /// Workers killed because they stopped answering.
    public var hungWorkersKilled: UInt64 = 0
    /// Workers replaced on purpose (after serving their share of requests, or at a reload).
    public var workersRecycled: UInt64 = 0
    public var reloadsSucceeded: UInt64 = 0
    public var reloadsFailed: UInt64 = 0
    /// CURVE clients the ZAP handler refused.
    public var curvePeersRefused: UInt64 = 0
    public var frontend = Traffic()
    public var backend = Traffic()
    public var workersOnline: Int = 0
    public var workersExpected: Int = 0
    /// Client connections open on the frontends now.
    public var connections: Int = 0
    public var slots: [Slot] = []

    public init(version: String) {
        self.version = version
    }
}
