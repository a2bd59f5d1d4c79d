import Logging
public import Posix
public import ZeroMQ
public import FilerConfiguration
public import FilerCore
import FilerProtocol

/// What the pool counts since the daemon started, for the metrics: counters only grow.
public struct PoolCounters: Equatable, Sendable {
    public var workerStarts: UInt64 = 0
    public var workerExits: [Termination: UInt64] = [:]
    public var hungWorkersKilled: UInt64 = 0
    public var workersRecycled: UInt64 = 0
    public var reloadsSucceeded: UInt64 = 0
    public var reloadsFailed: UInt64 = 0
    /// Requests answered by the workers gone from each slot number (kept across reloads).
    public var servedBySlotGone: [UInt64] = []
}

/// The master's decisions, with no system call inside: events in, actions out.
///
/// It runs one worker per slot, restarts those that exit (with backoff), replaces hung
/// and worn-out workers, reloads, stops, and tells systemd. Replacing a worker loses no
/// request: the successor starts first; once every slot is online the proxy stops
/// (requests wait in the frontend), the replaced workers answer their queues and exit,
/// and the proxy resumes. The effects layer (`Master`) performs the actions and feeds
/// back what happened; tests drive it with a fake clock.
public struct WorkerPool {
    /// One worker process, whatever its state.
    public struct Worker: Equatable, Sendable {
        public let pid: Int32
        /// The slot it fills; nil once replaced.
        public var slot: Int?
        /// The slot it was started for, which its requests count towards for good.
        public var startedInSlot: Int
        public var state: WorkerState
        public let startedAt: MonotonicInstant
        public var lastHeard: MonotonicInstant
        public var served: UInt64 = 0
        /// Of those, the error replies by code.
        public var refused: [String: UInt64] = [:]
        /// Recycle after this many requests (nil: never).
        public let requestLimit: UInt64?
        public var fatalReason: String?
        /// Whether the worker exited because it could not open the root.
        var rootUnavailable = false
    }

    /// One place a worker runs in.
    public struct Slot: Equatable, Sendable {
        public var worker: Int32?
        public var restartAt: MonotonicInstant?
        var backoff: RestartBackoff
        public var restarts = 0
        /// Why this slot's last start failed, when it was the root that could not be opened.
        var rootProblem: String?
    }

    /// A reload under way: what to return to if the new workers cannot start.
    struct Reload: Equatable {
        let previous: Configuration
        let previousSlots: [Slot]
        var frontendsApplied: Bool
    }

    public internal(set) var phase: PoolPhase = .starting
    public internal(set) var configuration: Configuration
    public internal(set) var slots: [Slot] = []
    public internal(set) var workers: [Int32: Worker] = [:]
    public internal(set) var restarts = 0
    public internal(set) var totals = Proxy.Statistics()
    /// Requests answered by workers that have exited since the daemon started.
    var servedByWorkersGone: UInt64 = 0
    /// What has happened since the daemon started, for the metrics.
    public internal(set) var counters = PoolCounters()
    var refusedByWorkersGone: [String: UInt64] = [:]

    /// Error replies by code since the daemon started, as the workers count them.
    public var refusedByCode: [String: UInt64] {
        workers.values.reduce(refusedByWorkersGone) { $0.merging($1.refused, uniquingKeysWith: +) }
    }
    public internal(set) var recentExits: [StatusReport.Exit] = []
    /// The last reload's result, for STATUS= and `filer status`.
    public internal(set) var lastReloadFailure: String?
    /// How many configurations have been applied (1: the one read at start), and when
    /// the running one was.
    public internal(set) var generation = 1
    public internal(set) var generationAppliedAt: MonotonicInstant
    var reload: Reload?
    var reloadPending = false
    var readingConfiguration = false
    var crashLoop: CrashLoopDetector
    var random: SplitMix64

    // The proxy, as far as the pool knows.
    enum ProxyState: Equatable { case stopped, running, stopping }
    var proxy = ProxyState.stopped
    var proxyAnsweredAt: MonotonicInstant
    var proxyStopRequestedAt: MonotonicInstant
    /// Worker hosts' pauses, by lease, with when each ends by itself; and those whose
    /// askers have not been told yet that the proxy has stopped.
    var leases: [String: MonotonicInstant] = [:]
    var leasesToConfirm: Set<String> = []
    /// Worker hosts' workers connected to this broker's backend.
    var remoteWorkers = 0
    /// On a worker host: whether each broker is connected.
    var brokersConnected: [String: Bool] = [:]

    /// Frontends to bind once the proxy has stopped (a reload's, or a rollback's), and
    /// whether the effects layer has been asked to.
    var frontendsPending: Configuration?
    var frontendsRequested = false

    // systemd.
    let watchdogInterval: Duration?
    var nextWatchdog: MonotonicInstant
    var statusSent = ""
    var nextStatusUpdate: MonotonicInstant
    var proxySilentLogged = false

    /// - Parameters:
    ///   - watchdogInterval: systemd's WatchdogSec, if set; pings go at half of it.
    ///   - seed: for the jitter of `max_requests`.
    public init(configuration: Configuration, watchdogInterval: Duration?, now: MonotonicInstant, seed: UInt64) {
        self.configuration = configuration
        self.watchdogInterval = watchdogInterval
        crashLoop = CrashLoopDetector(limit: configuration.restart.maxFailedStarts)
        random = SplitMix64(seed: seed)
        proxyAnsweredAt = now
        proxyStopRequestedAt = now
        generationAppliedAt = now
        nextWatchdog = now
        nextStatusUpdate = now
        slots = Self.freshSlots(configuration, now: now)
    }

    static func freshSlots(_ configuration: Configuration, now: MonotonicInstant) -> [Slot] {
        Array(repeating: Slot(restartAt: now, backoff: RestartBackoff(policy: configuration.restart)), count: configuration.workerCount)
    }

    /// Handles one event at `now`. - Returns: what to do, in order.
    public mutating func handle(_ event: PoolEvent, now: MonotonicInstant) -> [PoolAction] {
        var actions: [PoolAction] = []
        switch event {
        case .start, .tick: break
        case .spawned(let slot, let pid): spawned(slot: slot, pid: pid, now: now, &actions)
        case .spawnFailed(let slot, let reason): startFailed(slot: slot, reason: reason, rootProblem: nil, now: now, &actions)
        case .report(let pid, let report): received(report, from: pid, now: now, &actions)
        case .exited(let pid, let termination, let time): exited(pid, termination, at: time, now: now, &actions)
        case .reloadRequested: reloadRequested(&actions)
        case .configurationRead(let result): configurationRead(result, now: now, &actions)
        case .stopRequested(let signal): stopRequested(signal, now: now, &actions)
        case .proxyStopped: proxyStopped(now: now, &actions)
        case .proxyFailed(let reason): proxyFailed(reason, now: now, &actions)
        case .proxyAnswered(let totals): proxyAnswered(totals, now: now)
        case .frontendsReconfigured(let result): frontendsReconfigured(result, now: now, &actions)
        case .pauseRequested(let lease, let duration):
            if leases[lease] == nil { actions.append(.log(.info, "A worker host asks to pause for up to \(duration) (lease \(lease))", worker: nil)) }
            leases[lease] = now + duration
            leasesToConfirm.insert(lease)
        case .resumeRequested(let lease):
            leases[lease] = nil
            leasesToConfirm.remove(lease)
        case .remoteWorkers(let count):
            remoteWorkers = count
        case .brokerConnection(let backend, let connected):
            brokersConnected[backend] = connected
        case .masterFailed(let reason):
            actions.append(.log(.critical, "The master cannot go on: \(reason)", worker: nil))
            beginStop(code: .systemFailure, now: now, &actions)
        }
        reconcile(now: now, &actions)
        return actions
    }

    /// When the next timer is due; the effects layer wakes by then even with nothing to read.
    public func nextDeadline(after now: MonotonicInstant) -> MonotonicInstant {
        var wake = now + .seconds(1)
        for slot in slots { if let due = slot.restartAt { wake = min(wake, due) } }
        for worker in workers.values {
            switch worker.state {
            case .draining(let deadline), .abandoning(let deadline): wake = min(wake, deadline)
            case .hung(let killAt): wake = min(wake, killAt)
            default: break
            }
        }
        if case .stopping(_, let deadline, false) = phase { wake = min(wake, deadline) }
        if isStopping && proxy == .stopping { wake = min(wake, proxyStopRequestedAt + Self.proxyAnswerLimit) }
        if watchdogInterval != nil { wake = min(wake, nextWatchdog) }
        for end in leases.values { wake = min(wake, end) }
        return max(wake, now)
    }

    // MARK: Views

    /// Workers online in a slot (not the ones being replaced).
    public var onlineCount: Int { slots.filter { $0.worker.flatMap { workers[$0] }?.state == .online }.count }

    /// Requests answered: as the proxy counts them on a broker (worker hosts' answers
    /// too), as this host's workers count theirs on a worker host.
    public var requestsServed: UInt64 {
        configuration.role == .workers ? repliesByWorkers : totals.frontendMessagesOut
    }

    /// Replies this host's workers have made since the daemon started, errors included,
    /// as they count them (once a second, and as they exit).
    public var repliesByWorkers: UInt64 {
        workers.values.reduce(servedByWorkersGone) { $0 + $1.served }
    }

    /// Workers the proxy may hand requests to, this host's and worker hosts'.
    var servingCount: Int { workers.values.filter { $0.state.serves }.count + remoteWorkers }

    /// Whether some slot cannot start its worker because the root cannot be opened.
    public var degradedReason: String? { slots.lazy.compactMap(\.rootProblem).first }

    public var isReloading: Bool { reload != nil || readingConfiguration }

    var isStopping: Bool {
        switch phase {
        case .stopping, .stopped: true
        case .starting, .serving: false
        }
    }
}

/// A small, seedable generator (SplitMix64): the pool stays deterministic under test.
public struct SplitMix64: RandomNumberGenerator, Equatable, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
