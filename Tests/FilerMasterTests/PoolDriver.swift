@testable import FilerMaster
import FilerConfiguration
import FilerCore
import FilerProtocol
import Posix

/// Drives a `WorkerPool` as the effects layer would, with a fake clock: spawns get
/// pids at once, the proxy starts and stops when asked, and everything the pool asks
/// for is recorded for the test to check.
struct PoolDriver {
    var pool: WorkerPool
    var now = MonotonicInstant(nanoseconds: 1_000_000_000_000)
    var nextPID: Int32 = 100
    /// Everything the pool asked for, in order.
    var actions: [PoolAction] = []
    var proxyRunning = false
    /// When false, `stopProxy` is not answered until `finishProxyStop()`.
    var proxyStopsAtOnce = true
    var proxyStopRequested = false
    /// What `readConfiguration` answers.
    var nextConfiguration: Result<Configuration, ReloadFailure>?
    /// What `reconfigureFrontends` answers.
    var frontendsResult: Result<Void, ReloadFailure> = .success(())
    /// Slots whose spawns fail.
    var failingSpawns: Set<Int> = []

    init(_ configuration: Configuration, watchdog: Duration? = nil) {
        pool = WorkerPool(configuration: configuration, watchdogInterval: watchdog, now: now, seed: 42)
    }

    static func configuration(workers: Int = 2, _ change: (inout Configuration) -> Void = { _ in }) -> Configuration {
        var configuration = Configuration()
        configuration.workers = .fixed(workers)
        configuration.restart.initialDelay = .milliseconds(100)
        configuration.restart.maxDelay = .seconds(1)
        configuration.restart.maxFailedStarts = 3
        change(&configuration)
        return configuration
    }

    mutating func send(_ event: PoolEvent) {
        var queue = [event]
        while !queue.isEmpty {
            let next = queue.removeFirst()
            for action in pool.handle(next, now: now) {
                actions.append(action)
                queue += respond(to: action)
            }
        }
    }

    private mutating func respond(to action: PoolAction) -> [PoolEvent] {
        switch action {
        case .spawn(let slot, _):
            if failingSpawns.contains(slot) { return [.spawnFailed(slot: slot, reason: "no such program")] }
            nextPID += 1
            return [.spawned(slot: slot, pid: nextPID)]
        case .startProxy:
            proxyRunning = true
            return []
        case .stopProxy:
            proxyStopRequested = true
            guard proxyStopsAtOnce else { return [] }
            proxyRunning = false
            return [.proxyStopped]
        case .readConfiguration:
            return nextConfiguration.map { [.configurationRead($0)] } ?? []
        case .reconfigureFrontends:
            return [.frontendsReconfigured(frontendsResult)]
        default:
            return []
        }
    }

    mutating func finishProxyStop() {
        proxyRunning = false
        send(.proxyStopped)
    }

    mutating func advance(_ duration: Duration) {
        now = now + duration
        send(.tick)
    }

    /// Starts the pool and brings every worker online.
    mutating func startAndComeOnline() {
        send(.start)
        for pid in starting { send(.report(pid: pid, .online)) }
    }

    mutating func online(_ pid: Int32) { send(.report(pid: pid, .online)) }

    mutating func exit(_ pid: Int32, _ termination: Termination = .exited(code: 0)) {
        send(.exited(pid: pid, termination, epochMilliseconds: 0))
    }

    // MARK: What to check

    var starting: [Int32] { pool.workers.values.filter { $0.state == .starting }.map(\.pid).sorted() }
    var online: [Int32] { pool.workers.values.filter { $0.state == .online }.map(\.pid).sorted() }

    func state(_ pid: Int32) -> WorkerState? { pool.workers[pid]?.state }

    /// The signals sent to `pid`, in order.
    func signals(to pid: Int32) -> [WorkerSignal] {
        actions.compactMap { if case .signal(pid, let signal) = $0 { signal } else { nil } }
    }

    var notifications: [SystemdNotification] {
        actions.compactMap { if case .notify(let notification) = $0 { notification } else { nil } }
    }

    var readyCount: Int { notifications.filter { if case .ready = $0 { true } else { false } }.count }

    var exitCode: ExitCode? {
        actions.compactMap { if case .exit(let code) = $0 { code } else { nil } }.last
    }

    var spawns: Int { actions.filter { if case .spawn = $0 { true } else { false } }.count }

    func logged(_ words: String) -> Bool {
        actions.contains { if case .log(_, let message, _) = $0 { message.contains(words) } else { false } }
    }

    /// Forgets what was recorded, to check only what comes next.
    mutating func clear() { actions = [] }
}
