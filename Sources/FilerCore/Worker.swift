import Glibc
public import Logging
import Posix
import ZeroMQ
import FilerProtocol

/// A worker process: one REP socket connected to the backend, answering file
/// requests until SIGTERM or the master's death.
public struct Worker: ~Copyable {
    public struct Options: Sendable {
        public var backend: String
        public var root: String
        public var maxFileSize: Int
        public var masterPID: Int32

        public init(backend: String, root: String, maxFileSize: Int, masterPID: Int32) {
            self.backend = backend
            self.root = root
            self.maxFileSize = maxFileSize
            self.masterPID = masterPID
        }
    }

    /// Exit codes a worker ends with, which the master reports.
    public enum ExitCode {
        public static let stopped: Int32 = 0
        public static let cannotOpenRoot: Int32 = 2
        public static let cannotReachBackend: Int32 = 3
        public static let orphaned: Int32 = 4
        public static let failed: Int32 = 5
    }

    /// How long a new worker may take to connect before it gives up.
    static let connectTimeoutMilliseconds = 10_000
    /// How often a worker reports (its heartbeat) and checks that its master is alive.
    static let idleTickMilliseconds = 1_000
    /// When stopping: the queue counts as empty after this long without a request ...
    static let drainQuietMilliseconds = 100
    /// ... and the worker stops after this long even if requests keep coming.
    static let drainLimitSeconds = 5.0

    private let options: Options
    private let logger: Logger
    private let status: FileDescriptor

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
        status = FileDescriptor(owning: WorkerReport.descriptor)
        try? status.setNonBlocking()
    }

    /// Serves until told to stop. - Returns: the process exit code.
    public func run() -> Int32 {
        // Die with the master. The signal is tied to the master's spawning thread, its
        // main thread; the getppid check closes the race of a master that died before this line.
        do {
            try Signals.setParentDeathSignal(SIGKILL)
        } catch {
            return fail("\(error)", code: ExitCode.failed)
        }
        guard getppid() == options.masterPID else { return ExitCode.orphaned }
        // Spawned through /proc/self/exe, the process would otherwise be called "exe".
        OSThread.nameCurrent("filer-worker")

        do {
            let signals = try SignalDescriptor([SIGTERM, SIGINT, SIGHUP])
            let reader: ConfinedFileReader
            do {
                reader = try ConfinedFileReader(root: options.root, maxFileSize: options.maxFileSize)
            } catch {
                return fail("cannot open the root directory: \(error)", code: ExitCode.cannotOpenRoot)
            }
            let context = try Context()
            let socket = try Socket(context, .reply)
            // Let the last reply reach the master after SIGTERM, but not forever.
            try socket.setLinger(milliseconds: 2_000)
            guard try Self.connect(socket, to: options.backend, context: context) else {
                return fail("cannot connect to the backend \(options.backend)", code: ExitCode.cannotReachBackend)
            }
            report(.online)
            return try serve(socket: socket, signals: signals, reader: reader)
        } catch {
            return fail("\(error)", code: ExitCode.failed)
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

    private func serve(
        socket: Socket, signals: borrowing SignalDescriptor, reader: borrowing ConfinedFileReader
    ) throws -> Int32 {
        var poller = Poller()
        poller.add(.socket(socket))
        poller.add(.descriptor(signals.descriptor.rawValue))
        let buffer = ByteBuffer()
        let reply = ReplyWriter()
        let pid = getpid()
        var served: UInt64 = 0
        var reported: UInt64 = 0
        var lastReport = MonotonicInstant.now()
        // Set on SIGTERM: answer what is already queued to this worker, then exit.
        // The master stops the proxy first, so the queue only shrinks.
        var drainUntil: MonotonicInstant?

        while true {
            let timeout = drainUntil == nil ? Self.idleTickMilliseconds : Self.drainQuietMilliseconds
            try poller.wait(timeoutMilliseconds: timeout)
            let requestWaiting = poller.isReadable(0)
            if poller.isReadable(1), !(try signals.take()).isEmpty {
                if drainUntil == nil {
                    logger.debug("Worker stopping", metadata: ["worker_pid": "\(pid)"])
                    drainUntil = MonotonicInstant.now().adding(seconds: Self.drainLimitSeconds)
                }
                // A request may be on its way from the backend right now: the queue counts
                // as empty only after a whole quiet period, which the next poll waits for.
                if !requestWaiting { continue }
            }
            if let deadline = drainUntil, !requestWaiting || MonotonicInstant.now() >= deadline {
                if served != reported { report(.served(served)) }
                return ExitCode.stopped
            }
            if requestWaiting, let request = try socket.receiveIfReady() {
                request.withUnsafeBytes { frame in
                    answer(frame, reader: reader, buffer: buffer, reply: reply, pid: pid)
                }
                try socket.send(reply.bytes)
                served += 1
            }
            let now = MonotonicInstant.now()
            if now.seconds(since: lastReport) >= 1 {
                // Every second, changed or not: the report is also the heartbeat.
                report(.served(served))
                reported = served
                lastReport = now
                guard getppid() == options.masterPID else { return ExitCode.orphaned }
            }
        }
    }

    /// Writes the reply to one request frame; never fails: every problem is an error reply.
    private func answer(
        _ frame: UnsafeRawBufferPointer, reader: borrowing ConfinedFileReader, buffer: ByteBuffer,
        reply: ReplyWriter, pid: Int32
    ) {
        let request: FileRequest
        do throws(FileError) {
            request = try FileRequest.decode(frame)
        } catch {
            return refuse(error, reply: reply, pid: pid)
        }
        do throws(ReadError) {
            try reader.read(request.path, into: buffer)
        } catch {
            return refuse(FileError(reading: request.path, error), reply: reply, pid: pid)
        }
        reply.writeContent(buffer.bytes, requested: request.encoding, timestamp: epochMilliseconds(), pid: pid)
        logger.debug("Served", metadata: ["path": "\(request.path)", "bytes": "\(buffer.count)"])
    }

    private func refuse(_ error: FileError, reply: ReplyWriter, pid: Int32) {
        reply.writeError(error, timestamp: epochMilliseconds(), pid: pid)
        logger.debug("Refused", metadata: ["code": "\(error.code.rawValue)", "reason": "\(error.message)"])
    }

    private func report(_ report: WorkerReport) {
        // The pipe is non-blocking: a master too busy to read loses a count, never stalls us.
        try? status.writeAll(report.line.utf8)
    }

    private func fail(_ reason: String, code: Int32) -> Int32 {
        logger.error("Worker cannot run: \(reason)", metadata: ["worker_pid": "\(getpid())"])
        report(.fatal(reason))
        return code
    }
}
