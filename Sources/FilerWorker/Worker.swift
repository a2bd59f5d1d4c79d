import Glibc
public import Logging
import Posix
import ZeroMQ
import FilerProtocol
import FilerSecurity
import CFilerLinux
public import FilerCore

/// A worker process: one ROUTER socket connected to the backend (on a worker host, to
/// every broker's), answering file requests until SIGTERM or the master's death.
///
/// A ROUTER, not a REP: it shows the envelope, so a request that no REQ or DEALER
/// client would send is refused instead of echoed, and with ROUTER_MANDATORY a reply
/// whose way back is full waits instead of being dropped (a REP drops it silently).
public struct Worker: ~Copyable {
    public struct Options: Sendable {
        /// The local broker's ipc backend; or on a worker host, every broker's tcp one.
        public var backends: [String]
        public var root: String
        public var maxFileSize: Int
        public var maxReplySize: Int
        public var masterPID: Int32
        /// How a worker host speaks to its brokers: CURVE keys and heartbeats.
        public var remote: RemoteOptions?

        public init(
            backends: [String], root: String, maxFileSize: Int, maxReplySize: Int, masterPID: Int32, remote: RemoteOptions? = nil
        ) {
            self.backends = backends
            self.root = root
            self.maxFileSize = maxFileSize
            self.maxReplySize = maxReplySize
            self.masterPID = masterPID
            self.remote = remote
        }
    }

    /// A worker host's connections to its brokers.
    public struct RemoteOptions: Sendable {
        /// This host's secret certificate and the brokers' public one, when CURVE is on.
        public var certificate: String?
        public var brokerKey: String?
        public var heartbeatIntervalMilliseconds: Int32
        public var heartbeatTimeoutMilliseconds: Int32

        public init(certificate: String?, brokerKey: String?, heartbeatIntervalMilliseconds: Int32, heartbeatTimeoutMilliseconds: Int32) {
            self.certificate = certificate
            self.brokerKey = brokerKey
            self.heartbeatIntervalMilliseconds = heartbeatIntervalMilliseconds
            self.heartbeatTimeoutMilliseconds = heartbeatTimeoutMilliseconds
        }
    }

    /// How long a new worker may take to connect to its own host's broker before it gives up.
    static let connectTimeoutMilliseconds = 10_000
    /// How long a worker host's new worker waits for a first broker before it reports
    /// online anyway: brokers come and go, ZeroMQ reconnects, and the host stays up.
    static let remoteConnectWaitMilliseconds = 2_000

    private let options: Options
    private let logger: Logger
    private let status = StatusPipe()

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Serves until told to stop. - Returns: the process exit code.
    public func run() -> ExitCode {
        // Die with the master. The signal is tied to the master's spawning thread, its
        // main thread; the getppid check closes the race of a master that died before this line.
        do {
            try Signals.setParentDeathSignal(SIGKILL)
            // A master too busy to read our reports must never stall us.
            try status.descriptor.setNonBlocking()
        } catch {
            return fail("\(error)", code: .workerFailed)
        }
        guard getppid() == options.masterPID else { return .workerOrphaned }
        if TestFaults.failsWorkers { return fail("test fault: failing at start", code: .workerFailed) }
        // Spawned through /proc/self/exe, the process would otherwise be called "exe".
        OSThread.nameCurrent("filer-worker")

        do {
            let signals = try SignalDescriptor([SIGTERM, SIGINT, SIGHUP, SIGUSR1])
            let reader: ConfinedFileReader
            do {
                reader = try ConfinedFileReader(root: options.root, maxFileSize: options.maxFileSize)
            } catch {
                return fail("cannot open the root directory: \(error)", code: .workerCannotOpenRoot)
            }
            let context = try Context()
            let socket = try Socket(context, .router)
            try BackendQueues.configureWorker(socket)
            // Let the last reply reach the master after SIGTERM, but not forever.
            try socket.setLinger(milliseconds: 2_000)
            if let remote = options.remote {
                try Self.configureRemote(socket, remote)
                _ = try Self.connect(socket, to: options.backends, context: context, timeoutMilliseconds: Self.remoteConnectWaitMilliseconds)
            } else {
                guard try Self.connect(socket, to: options.backends, context: context, timeoutMilliseconds: Self.connectTimeoutMilliseconds) else {
                    return fail("cannot connect to the backend \(options.backends.joined(separator: ", "))", code: .workerCannotReachBackend)
                }
            }
            report(.online)
            var loop = WorkerLoop(
                socket: socket, responder: Responder(reader: reader, maxReplySize: options.maxReplySize, logger: logger),
                masterPID: options.masterPID, logger: logger, status: status)
            return try loop.run(signals: signals)
        } catch {
            return fail("\(error)", code: .workerFailed)
        }
    }

    /// Connects to the backends and waits for a first ZeroMQ handshake to complete: only
    /// then can a broker's DEALER hand the worker requests, so only then is it online.
    /// The monitor is attached before connecting, so the event cannot come too early.
    /// - Returns: whether a handshake completed in time.
    private static func connect(
        _ socket: Socket, to backends: [String], context: Context, timeoutMilliseconds: Int
    ) throws(ZeroMQError) -> Bool {
        let monitor = try Monitor(socket, context: context, mask: Monitor.handshakeSucceeded)
        for backend in backends { try socket.connect(backend) }
        return try monitor.wait(for: Monitor.handshakeSucceeded, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// A worker host's socket: a CURVE client of its brokers when keys are set; ZMTP
    /// heartbeats, so that a broker cut off is noticed and dialled again; and a redial
    /// that slows to once a second while a broker is down.
    private static func configureRemote(_ socket: Socket, _ remote: RemoteOptions) throws {
        if let certificate = remote.certificate, let brokerKey = remote.brokerKey {
            let keyPair = try CertificateFile.loadSecret(certificate)
            let server = try CertificateFile.loadPublic(brokerKey).publicKey
            try socket.makeCurveClient(keyPair, serverKey: server)
        }
        let interval = remote.heartbeatIntervalMilliseconds
        try socket.setHeartbeats(
            intervalMilliseconds: interval, timeoutMilliseconds: remote.heartbeatTimeoutMilliseconds,
            ttlMilliseconds: interval > 0 ? remote.heartbeatTimeoutMilliseconds : 0)
        try socket.setReconnectInterval(milliseconds: 100, maximumMilliseconds: 1_000)
    }

    private func report(_ report: WorkerReport) { status.send(report) }

    private func fail(_ reason: String, code: ExitCode) -> ExitCode {
        logger.error("Worker cannot run: \(reason)", metadata: ["worker_pid": "\(getpid())"])
        report(.fatal(reason))
        return code
    }
}

/// The worker's end of its status pipe to the master.
final class StatusPipe {
    let descriptor = FileDescriptor(owning: WorkerReport.descriptor)

    func send(_ report: WorkerReport) {
        // Non-blocking: when the pipe is full the master is behind, and a lost count is
        // sent again with the next heartbeat; a master that is gone ends us through
        // PR_SET_PDEATHSIG and the getppid check.
        try? descriptor.writeAll(report.line.utf8)
    }
}

extension BackendQueues {
    /// The worker's side: a full way back makes a send fail with EAGAIN, and the worker
    /// waits for room, instead of the silent drop a REP socket would make.
    static func configureWorker(_ socket: Socket) throws(ZeroMQError) {
        try socket.setRouterMandatory(true)
        try socket.setHighWaterMarks(send: repliesFromWorker, receive: requestsAtWorker)
    }
}

/// The switch the tests use to make every worker fail at start, as a worker with a fatal
/// bug would (a crash loop, a reload whose workers cannot start): it needs
/// FILER_TEST_FAULTS=1, which no shipped file sets, and the file
/// `$RUNTIME_DIRECTORY/test-fault-fail-workers`.
enum TestFaults {
    static var failsWorkers: Bool {
        guard environmentValue("FILER_TEST_FAULTS") == "1", let directory = environmentValue("RUNTIME_DIRECTORY") else {
            return false
        }
        return access(directory + "/test-fault-fail-workers", F_OK) == 0
    }
}
