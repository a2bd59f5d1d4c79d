import FoundationEssentials

/// What `filer status` shows: the running daemon's own account of itself.
public struct StatusReport: Codable, Equatable, Sendable {
    public struct Worker: Codable, Equatable, Sendable {
        /// "starting", "online", "replaced" (serving until its successor is online),
        /// "draining", "abandoning", "hung" or "stopping".
        public var state: String
        public var pid: Int32
        public var uptimeSeconds: Double
        public var requestsServed: UInt64
        /// Restarts of the slot this worker fills (nil for a worker being retired).
        public var slotRestarts: Int?

        public init(state: String, pid: Int32, uptimeSeconds: Double, requestsServed: UInt64, slotRestarts: Int?) {
            self.state = state
            self.pid = pid
            self.uptimeSeconds = uptimeSeconds
            self.requestsServed = requestsServed
            self.slotRestarts = slotRestarts
        }
    }

    public struct Exit: Codable, Equatable, Sendable {
        public var pid: Int32
        /// Milliseconds since the epoch.
        public var time: Int64
        public var how: String
        public var reason: String?

        public init(pid: Int32, time: Int64, how: String, reason: String?) {
            self.pid = pid
            self.time = time
            self.how = how
            self.reason = reason
        }
    }

    public struct Traffic: Codable, Equatable, Sendable {
        public var messagesIn: UInt64
        public var bytesIn: UInt64
        public var messagesOut: UInt64
        public var bytesOut: UInt64

        public init(messagesIn: UInt64, bytesIn: UInt64, messagesOut: UInt64, bytesOut: UInt64) {
            self.messagesIn = messagesIn
            self.bytesIn = bytesIn
            self.messagesOut = messagesOut
            self.bytesOut = bytesOut
        }
    }

    /// The running configuration: how many have been applied, when this one was, and
    /// why the last reload failed, if it did.
    public struct ConfigurationState: Codable, Equatable, Sendable {
        public var generation: Int
        /// Milliseconds since the epoch.
        public var loadedAt: Int64
        public var lastReloadFailure: String?

        public init(generation: Int, loadedAt: Int64, lastReloadFailure: String?) {
            self.generation = generation
            self.loadedAt = loadedAt
            self.lastReloadFailure = lastReloadFailure
        }
    }

    public var version: String
    public var masterPID: Int32
    /// "starting", "ready", "degraded", "reloading" or "stopping".
    public var state: String
    public var uptimeSeconds: Double
    public var configFile: String
    public var frontends: [String]
    public var backend: String
    public var root: String
    public var workersExpected: Int
    public var workersOnline: Int
    public var restarts: Int
    public var requestsServed: UInt64
    public var frontend: Traffic
    public var backendTraffic: Traffic
    public var workers: [Worker]
    public var recentExits: [Exit]
    /// The one-line form systemd shows as STATUS=.
    public var summary: String
    /// Why some workers cannot start, when the root directory cannot be opened.
    public var degraded: String?
    public var configuration: ConfigurationState
    /// CURVE, when it is on: handshakes let in, refused by key (ZAP), and failed before
    /// a key was seen (a plaintext client, or one expecting another server key).
    public var curve: CurveCounts?

    /// "broker" or "workers" (a worker host); nil from a daemon older than roles.
    public var role: String?
    /// On a worker host: each broker, and whether it is connected.
    public var brokers: [BrokerLink]?
    /// On a broker with a tcp:// backend: the worker hosts connected, by address.
    public var workerHosts: [WorkerHost]?

    public struct BrokerLink: Codable, Equatable, Sendable {
        public var backend: String
        public var connected: Bool

        public init(backend: String, connected: Bool) {
            self.backend = backend
            self.connected = connected
        }
    }

    public struct WorkerHost: Codable, Equatable, Sendable {
        public var address: String
        /// Its connections to the backend: one per worker.
        public var workers: Int

        public init(address: String, workers: Int) {
            self.address = address
            self.workers = workers
        }
    }

    public struct CurveCounts: Codable, Equatable, Sendable {
        public var accepted: UInt64
        public var refused: UInt64
        public var failedHandshakes: UInt64

        public init(accepted: UInt64, refused: UInt64, failedHandshakes: UInt64) {
            self.accepted = accepted
            self.refused = refused
            self.failedHandshakes = failedHandshakes
        }
    }

    public init(
        version: String, masterPID: Int32, state: String, uptimeSeconds: Double, configFile: String,
        frontends: [String], backend: String, root: String, workersExpected: Int, workersOnline: Int, restarts: Int,
        requestsServed: UInt64, frontend: Traffic, backendTraffic: Traffic, workers: [Worker], recentExits: [Exit],
        summary: String, degraded: String?, configuration: ConfigurationState
    ) {
        self.version = version
        self.masterPID = masterPID
        self.state = state
        self.uptimeSeconds = uptimeSeconds
        self.configFile = configFile
        self.frontends = frontends
        self.backend = backend
        self.root = root
        self.workersExpected = workersExpected
        self.workersOnline = workersOnline
        self.restarts = restarts
        self.requestsServed = requestsServed
        self.frontend = frontend
        self.backendTraffic = backendTraffic
        self.workers = workers
        self.recentExits = recentExits
        self.summary = summary
        self.degraded = degraded
        self.configuration = configuration
    }

    public func json() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Strings and numbers only: encoding cannot fail.
        return Array((try? encoder.encode(self)) ?? Data())
    }

    public static func decode(_ bytes: [UInt8]) throws -> StatusReport {
        try JSONDecoder().decode(StatusReport.self, from: Data(bytes))
    }
}
