import Glibc
public import Logging
import Posix
import ZeroMQ
import FilerProtocol
import CFilerLinux
public import FilerCore

/// A worker process: one ROUTER socket connected to the backend, answering file
/// requests until SIGTERM or the master's death.
///
/// A ROUTER, not a REP: it shows the envelope, so a request that no REQ or DEALER
/// client would send is refused instead of echoed, and with ROUTER_MANDATORY a reply
/// whose way back is full waits instead of being dropped (a REP drops it silently).
public struct Worker: ~Copyable {
    public struct Options: Sendable {
        public var backend: String
        public var root: String
        public var maxFileSize: Int
        public var maxReplySize: Int
        public var masterPID: Int32

        public init(backend: String, root: String, maxFileSize: Int, maxReplySize: Int, masterPID: Int32) {
            self.backend = backend
            self.root = root
            self.maxFileSize = maxFileSize
            self.maxReplySize = maxReplySize
            self.masterPID = masterPID
        }
    }

    /// How long a new worker may take to connect before it gives up.
    static let connectTimeoutMilliseconds = 10_000

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
            guard try Self.connect(socket, to: options.backend, context: context) else {
                return fail("cannot connect to the backend \(options.backend)", code: .workerCannotReachBackend)
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

    /// Connects to the backend and waits for the ZeroMQ handshake to complete: only then
    /// can the master's DEALER hand the worker requests, so only then is it online.
    /// The monitor is attached before connecting, so the event cannot come too early.
    /// - Returns: whether the handshake completed in time.
    private static func connect(_ socket: Socket, to backend: String, context: Context) throws(ZeroMQError) -> Bool {
        let monitor = try Monitor(socket, context: context, mask: Monitor.handshakeSucceeded)
        try socket.connect(backend)
        return try monitor.wait(for: Monitor.handshakeSucceeded, timeoutMilliseconds: connectTimeoutMilliseconds)
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
