public import FilerMetrics
public import Logging
import Posix

/// The daemon's effective configuration, after file, environment and flags.
/// `ConfigurationSchema` lists every key with its default, its range and its meaning.
public struct Configuration: Equatable, Sendable {
    public enum WorkerCount: Equatable, Sendable {
        case auto
        case fixed(Int)
    }

    /// What this daemon is: a broker (frontend, proxy, backend, and workers of its own,
    /// or none), or a host of workers for remote brokers.
    public enum Role: String, Equatable, Sendable {
        case broker, workers
    }

    public var role: Role = .broker
    /// On a worker host: the brokers' backends, each of which every worker connects to.
    public var brokers: [String] = []
    public var frontends: [String] = ["tcp://127.0.0.1:60401"]
    /// An endpoint, or nil for `auto` (an ipc socket in the runtime directory).
    public var backend: String? = nil
    public var workers: WorkerCount = .auto
    public var root: String = "/srv/filer"
    public var limits = Limits()
    public var connections = ConnectionPolicy()
    public var restart = RestartPolicy()
    public var health = HealthPolicy()
    public var curve = CurveFiles()
    /// Whether a tcp:// endpoint on an address other machines reach may go without CURVE.
    public var allowPlaintext = false
    /// How long a stop waits for workers to answer what is queued to them.
    public var stopTimeout: Duration = .seconds(10)
    /// The endpoint `filer status` asks, or nil for `auto` (control.ipc in the runtime directory).
    public var control: String? = nil
    /// Where Prometheus scrapes, or nil: off.
    public var metrics: MetricsURL? = nil
    public var logLevel: Logger.Level = .info

    public init() {}

    /// The number of worker processes to run.
    public var workerCount: Int {
        switch workers {
        case .auto: CPUs.usable()
        case .fixed(let count): count
        }
    }

    /// The control endpoint, resolving `auto`.
    public var controlEndpoint: String {
        control ?? "ipc://\(RuntimeDirectory.path())/control.ipc"
    }

    /// The ipc endpoint the broker's own workers connect to: the backend itself when it
    /// is ipc (or `auto`); beside a tcp:// backend, which is for worker hosts, one of its own.
    public func localBackendEndpoint(masterPID: Int32) -> String {
        if let backend, backend.hasPrefix("ipc://") { return backend }
        return "ipc://\(RuntimeDirectory.path())/backend.\(masterPID).ipc"
    }

    /// The tcp:// endpoint worker hosts connect to, if the backend is one.
    public var remoteBackendEndpoint: String? {
        guard let backend, backend.hasPrefix("tcp://") else { return nil }
        return backend
    }

    /// Where worker hosts ask a broker to pause while one of their workers leaves: the
    /// port after the backend's, on the same address. On a worker host, the same for
    /// each broker listed.
    public static func drainEndpoint(ofBackend backend: String) -> String? {
        guard backend.hasPrefix("tcp://"), let colon = backend.lastIndex(of: ":"),
            let port = Int(backend[backend.index(after: colon)...]), port < 65535
        else { return nil }
        return String(backend[..<colon]) + ":\(port + 1)"
    }
}

/// What one request, one reply and one client may cost.
public struct Limits: Equatable, Sendable {
    /// Larger files are refused (EFBIG).
    public var maxFileSize = 64 << 20
    /// Larger request frames end the connection that sent them (ZMQ_MAXMSGSIZE).
    public var maxRequestSize = 64 << 10
    /// Larger replies are refused (EFBIG) before they are built.
    public var maxReplySize = 128 << 20
    /// The master's memory budget: over it, it drops the clients that cost the most
    /// (those that do not read their replies, or that send the most).
    public var maxMemory = 1 << 30
    /// Client connections at once; nil: as many as the open-file limit allows.
    public var maxConnections: Int? = nil

    public init() {}
}

/// How the frontend treats the connections of clients that are gone or never talk.
public struct ConnectionPolicy: Equatable, Sendable {
    /// ZMTP heartbeats: a PING this often (zero: none) ...
    public var heartbeatInterval: Duration = .seconds(10)
    /// ... and a peer silent this long after one is dropped.
    public var heartbeatTimeout: Duration = .seconds(30)
    /// A peer that has not finished the ZMTP handshake this long after connecting is dropped.
    public var handshakeTimeout: Duration = .seconds(10)

    public init() {}
}

/// CURVE, the Ironhouse way: where this daemon's keypair and its peers' public keys are.
/// Unset (nil) paths mean no CURVE.
public struct CurveFiles: Equatable, Sendable {
    /// This daemon's own certificate, with its secret key (`NAME.key_secret`, mode 0600).
    public var certificate: String?
    /// The public certificates let in (clients, worker hosts): a directory of `*.key`
    /// files, or one file. Read again on reload.
    public var authorizedKeys: String?
    /// On a broker, optional: the worker hosts' public certificates. When set, only these
    /// may connect to the backend and its drain endpoint, and `authorizedKeys` holds the
    /// clients only; unset, `authorizedKeys` is let in everywhere. Read again on reload.
    public var workerKeys: String?
    /// On a worker host: the brokers' public certificate.
    public var brokerKey: String?

    public init() {}

    public var isOn: Bool { certificate != nil }
}

/// Restart-on-exit: capped exponential backoff, reset after a stable run,
/// and a limit on starts in a row that never come online.
public struct RestartPolicy: Equatable, Sendable {
    public var initialDelay: Duration = .milliseconds(100)
    public var maxDelay: Duration = .seconds(30)
    public var stableAfter: Duration = .seconds(10)
    public var maxFailedStarts: Int = 5

    public init() {}
}

/// Worker health: hung workers are replaced, and workers may be recycled.
public struct HealthPolicy: Equatable, Sendable {
    /// A worker silent this long (it reports every second) is hung: SIGABRT, then SIGKILL.
    public var heartbeatTimeout: Duration = .seconds(10)
    /// Recycle a worker after this many requests; 0 never.
    public var maxRequests: Int = 0
    /// Plus a random 0...jitter requests, so that workers do not all recycle at once.
    public var maxRequestsJitter: Int = 0
    /// A worker being replaced answers what is queued to it for at most this long.
    public var drainTimeout: Duration = .seconds(60)

    public init() {}
}

/// Where the default ipc endpoints live: the service's runtime directory.
public enum RuntimeDirectory {
    public static func path() -> String {
        let names = ["RUNTIME_DIRECTORY", "XDG_RUNTIME_DIR"]
        let environment = Dictionary(uniqueKeysWithValues: names.compactMap { name in
            environmentValue(name).map { (name, $0) }
        })
        return path(environment: environment, isRoot: geteuidIsRoot(), uid: currentUID())
    }

    /// systemd's RuntimeDirectory= for the service; then /run/filer for root, so that an
    /// operator's `filer status` finds the service's socket even from a login session
    /// (which sets XDG_RUNTIME_DIR=/run/user/0); then the user's own runtime directory.
    static func path(environment: [String: String], isRoot: Bool, uid: UInt32) -> String {
        if let directory = environment["RUNTIME_DIRECTORY"], !directory.isEmpty {
            // systemd may list several, separated by colons; ours is the first.
            return String(directory.split(separator: ":")[0])
        }
        if isRoot { return "/run/filer" }
        if let user = environment["XDG_RUNTIME_DIR"], !user.isEmpty { return user + "/filer" }
        return "/tmp/filer-\(uid)"
    }
}
