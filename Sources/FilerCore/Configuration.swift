public import Logging
import Posix

/// The daemon's effective configuration, after file, environment and flags.
public struct Configuration: Equatable, Sendable {
    public enum WorkerCount: Equatable, Sendable {
        case auto
        case fixed(Int)
    }

    public var frontends: [String] = ["tcp://127.0.0.1:60401"]
    /// An endpoint, or nil for `auto` (an ipc socket in the runtime directory).
    public var backend: String? = nil
    public var workers: WorkerCount = .auto
    public var root: String = "/srv/filer"
    public var maxFileSize: Int = 64 << 20
    public var maxRequestSize: Int = 64 << 10
    public var restart = RestartPolicy()
    public var health = HealthPolicy()
    /// The endpoint `filer status` asks, or nil for `auto` (control.ipc in the runtime directory).
    public var control: String? = nil
    public var stopTimeout: Double = 10
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

    /// The backend endpoint, resolving `auto` for the master process `pid`.
    public func backendEndpoint(masterPID: Int32) -> String {
        backend ?? "ipc://\(RuntimeDirectory.path())/backend.\(masterPID).ipc"
    }
}

/// Restart-on-exit: capped exponential backoff, reset after a stable run,
/// and a limit on starts in a row that never come online.
public struct RestartPolicy: Equatable, Sendable {
    public var initialDelay: Double = 0.1
    public var maxDelay: Double = 30
    public var stableAfter: Double = 10
    public var maxFailedStarts: Int = 5

    public init() {}
}

/// Worker health: hung workers are replaced, and workers may be recycled.
public struct HealthPolicy: Equatable, Sendable {
    /// A worker silent this long (it reports every second) is hung: SIGABRT, then SIGKILL.
    public var heartbeatTimeout: Double = 10
    /// Recycle a worker after this many requests; 0 never.
    public var maxRequests: Int = 0
    /// Plus a random 0...jitter requests, so that workers do not all recycle at once.
    public var maxRequestsJitter: Int = 0

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
