public import Logging
public import Posix
public import FilerConfiguration
public import FilerCore
public import ZeroMQ
import FilerProtocol

/// What happens to the worker pool: the effects layer turns system events (a signal,
/// a status pipe's line, a reaped child, the proxy thread's end, a timer) into these.
public enum PoolEvent: Sendable {
    /// The daemon starts: spawn the workers.
    case start
    /// Time has passed; timers may be due.
    case tick
    /// A `spawn` action succeeded or failed.
    case spawned(slot: Int, pid: Int32)
    case spawnFailed(slot: Int, reason: String)
    /// A worker's line on its status pipe.
    case report(pid: Int32, WorkerReport)
    /// A worker process ended (`epochMilliseconds`: when, for `filer status`).
    case exited(pid: Int32, Termination, epochMilliseconds: Int64)
    /// SIGHUP.
    case reloadRequested
    /// The answer to a `readConfiguration` action.
    case configurationRead(Result<Configuration, ReloadFailure>)
    /// SIGTERM or SIGINT (named for the log).
    case stopRequested(signal: String)
    /// The proxy thread ended after a `stopProxy`; or on its own, with why.
    case proxyStopped
    case proxyFailed(reason: String)
    /// The proxy answered a statistics request: it is alive, and these are its totals.
    case proxyAnswered(Proxy.Statistics)
    /// The answer to a `reconfigureFrontends` action.
    case frontendsReconfigured(Result<Void, ReloadFailure>)
    /// The master's own machinery failed (its event loop, its signal descriptor).
    case masterFailed(reason: String)
    /// A worker host asks this broker to pause for up to `for` while one of its workers
    /// leaves, or says it is done.
    case pauseRequested(lease: String, for: Duration)
    case resumeRequested(lease: String)
    /// Worker hosts' connections to this broker's backend.
    case remoteWorkers(Int)
    /// On a worker host: a broker connected or lost.
    case brokerConnection(backend: String, connected: Bool)
}

/// Why a reload could not be applied.
public struct ReloadFailure: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// What the pool asks the effects layer to do.
public enum PoolAction: Equatable, Sendable {
    /// Start a worker for `slot` with `configuration`; answer with `spawned` or `spawnFailed`.
    case spawn(slot: Int, configuration: Configuration)
    case signal(pid: Int32, WorkerSignal)
    case startProxy
    /// Ask the proxy thread to end; `proxyStopped` follows.
    case stopProxy
    /// With the proxy stopped: bind the new configuration's frontends and limits.
    case reconfigureFrontends(Configuration)
    /// Read the configuration file again; answer with `configurationRead`.
    case readConfiguration
    case setLogLevel(Logger.Level)
    case notify(SystemdNotification)
    case log(Logger.Level, String, worker: Int32?)
    /// The proxy has stopped for these worker hosts' pauses: tell them.
    case confirmPaused([String])
    /// Every worker is gone: the daemon ends with this code.
    case exit(ExitCode)
}

/// The signals the pool sends, by what they mean to a worker.
public enum WorkerSignal: Equatable, Sendable {
    /// SIGTERM: answer what is queued, then exit.
    case drain
    /// SIGUSR1: exit at once, counting what is left unanswered.
    case abandon
    /// SIGABRT: the worker is hung; dump core.
    case abort
    /// SIGKILL.
    case kill
}

/// The service manager's protocol, as the pool uses it.
public enum SystemdNotification: Equatable, Sendable {
    case ready(status: String)
    case status(String)
    case reloading(status: String)
    case stopping(status: String)
    case watchdog
}

/// The daemon's phase: one value, not a handful of flags.
public enum PoolPhase: Equatable, Sendable {
    /// Workers are coming up; READY=1 not sent yet.
    case starting
    /// READY=1 sent.
    case serving
    /// Stopping with `code`: the proxy stops, then workers drain; SIGKILL at the deadline.
    case stopping(code: ExitCode, deadline: MonotonicInstant, killed: Bool)
    /// Every worker is gone.
    case stopped(ExitCode)
}

/// One worker's lifecycle.
public enum WorkerState: Equatable, Sendable {
    /// Spawned; its socket is not connected yet.
    case starting
    /// Serving.
    case online
    /// Its successor is starting; it serves until every slot is online again.
    case replaced
    /// Told to answer its queue and exit (the proxy is stopped); abandoned at `deadline`.
    case draining(deadline: MonotonicInstant)
    /// Told to stop at once (SIGUSR1); killed at `deadline`.
    case abandoning(deadline: MonotonicInstant)
    /// Hung: sent SIGABRT; killed at `killAt`.
    case hung(killAt: MonotonicInstant)
    /// The daemon stops: told to drain (SIGTERM).
    case stopping

    /// The word `filer status` shows.
    public var name: String {
        switch self {
        case .starting: "starting"
        case .online: "online"
        case .replaced: "replaced"
        case .draining: "draining"
        case .abandoning: "abandoning"
        case .hung: "hung"
        case .stopping: "stopping"
        }
    }

    /// Whether the proxy may hand it requests.
    var serves: Bool { self == .online || self == .replaced }
}
