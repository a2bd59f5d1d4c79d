import Glibc
import Logging
import Posix
import FilerCore
import ZeroMQ
import FilerProtocol

/// A worker's event loop: take a request, answer it, repeat; report once a second
/// (the heartbeat); on SIGTERM, SIGINT or SIGHUP answer what is queued and exit; on
/// SIGUSR1 exit at once, counting what is left unanswered.
struct WorkerLoop: ~Copyable {
    /// A draining worker counts its queue as empty after this long without a request.
    /// The master stops the proxy before it asks a worker to stop, so the queue only
    /// shrinks; a whole quiet period covers a request that was on its way.
    static let quietMilliseconds = 100
    /// How often a worker reports (its heartbeat) and checks that its master is alive.
    static let tickMilliseconds = 1_000

    private let socket: Socket
    private let responder: Responder
    private let masterPID: Int32
    private let logger: Logger
    private let status: StatusPipe

    /// The frames of the message being answered: broker, client, delimiter, body.
    private let frames = (0..<RequestEnvelope.framesKept).map { _ in Message() }
    /// Where the frames beyond those land, to be counted and dropped.
    private let surplus = Message()
    /// Whether a reply waits for room on the way back (ROUTER_MANDATORY said EAGAIN).
    private var replyWaiting = false
    private var waitingShape = RequestEnvelope.request
    private var waitingReply: [UInt8] = []

    private var served: UInt64 = 0
    private var reported: UInt64 = 0
    private var draining = false
    private var lastActivity = MonotonicInstant.now()
    private var nextTick = MonotonicInstant.now()
    private var idleSinceTick = true

    init(
        socket: Socket, responder: Responder, masterPID: Int32, logger: Logger, status: StatusPipe
    ) {
        self.socket = socket
        self.responder = responder
        self.masterPID = masterPID
        self.logger = logger
        self.status = status
    }

    private func report(_ report: WorkerReport) { status.send(report) }

    mutating func run(signals: borrowing SignalDescriptor) throws -> ExitCode {
        var poller = Poller()
        let socketIndex = poller.add(.socket(socket))
        let signalIndex = poller.add(.descriptor(signals.descriptor.rawValue))
        nextTick = MonotonicInstant.now().adding(milliseconds: Self.tickMilliseconds)
        while true {
            // Take what is queued without a poll first: under load that saves a system
            // call per request; poll only when the queue is empty or the way back full.
            if !replyWaiting, try takeRequest() {
                try answerTakenRequest()
                if MonotonicInstant.now() < nextTick { continue }
            } else {
                poller.setInterest(replyWaiting ? .writable : .readable, at: socketIndex)
                let timeout = draining ? Self.quietMilliseconds : Self.tickMilliseconds
                try poller.wait(timeoutMilliseconds: timeout)
                if poller.isReadable(signalIndex), let code = try handleSignals(signals) { return code }
                if replyWaiting && poller.isWritable(socketIndex) { try sendWaitingReply() }
            }
            let now = MonotonicInstant.now()
            // Empty means a whole quiet period with nothing taken and nothing queued now.
            if draining && !replyWaiting && now.milliseconds(since: lastActivity) >= Self.quietMilliseconds
                && !socket.canReceive
            {
                if served != reported { report(.served(served)) }
                return .success
            }
            if now >= nextTick {
                // Every second, changed or not: the report is also the heartbeat.
                report(.served(served))
                reported = served
                nextTick = now.adding(milliseconds: Self.tickMilliseconds)
                if idleSinceTick { responder.releaseMemory() }
                idleSinceTick = true
                guard getppid() == masterPID else { return .workerOrphaned }
                // A busy worker polls rarely: look for a signal here too.
                if let code = try handleSignals(signals) { return code }
            }
        }
    }

    /// SIGTERM, SIGINT, SIGHUP: drain. SIGUSR1: stop now. - Returns: the exit code, to stop now.
    private mutating func handleSignals(_ signals: borrowing SignalDescriptor) throws -> ExitCode? {
        for signal in try signals.take() {
            if signal == SIGUSR1 { return try abandon() }
            if !draining {
                draining = true
                lastActivity = .now()
                logger.debug("Worker stopping", metadata: ["worker_pid": "\(getpid())"])
            }
        }
        return nil
    }

    // MARK: Requests

    /// Receives one whole message if one is queued: its first frames into `frames`,
    /// the rest counted into `surplus`. - Returns: whether one was taken.
    private mutating func takeRequest() throws(ZeroMQError) -> Bool {
        guard try socket.receive(into: frames[0], blocking: false) else { return false }
        var count = 1
        var last = frames[0]
        while last.hasMore {
            last = count < frames.count ? frames[count] : surplus
            _ = try socket.receive(into: last, blocking: true)
            count += 1
        }
        waitingShape = RequestEnvelope.classify(frameCount: count) { frames[$0].count == 0 }
        lastActivity = .now()
        idleSinceTick = false
        return true
    }

    private mutating func answerTakenRequest() throws(ZeroMQError) {
        let reply: UnsafeRawBufferPointer
        switch waitingShape {
        case .request:
            reply = frames[3].withUnsafeBytes { responder.answer($0) }
        case .malformed(let reason, _):
            reply = responder.refuse(.badRequest(reason))
        case .unanswerable:
            return
        }
        served += 1
        if try !send(reply) {
            // The way back is full: keep the reply until there is room.
            waitingReply = Array(reply)
            replyWaiting = true
        }
    }

    private mutating func sendWaitingReply() throws(ZeroMQError) {
        var sent = false
        var failure: ZeroMQError?
        waitingReply.withUnsafeBytes { bytes in
            do throws(ZeroMQError) { sent = try send(bytes) } catch { failure = error }
        }
        if let failure { throw failure }
        if sent {
            replyWaiting = false
            waitingReply = []
        }
    }

    /// Sends `[broker, client, "", reply]` (no delimiter if the request had none).
    /// - Returns: false when the broker's queue is full and nothing was sent.
    private func send(_ reply: UnsafeRawBufferPointer) throws(ZeroMQError) -> Bool {
        do {
            // With ROUTER_MANDATORY only the first frame can fail, and then nothing went.
            guard try socket.trySend(frames[0], more: true) else { return false }
        } catch where error.errno == EHOSTUNREACH {
            logger.debug("The broker that sent a request has gone; its reply is dropped")
            return true
        }
        try socket.send(frames[1], more: true)
        if waitingShape.isDelimited { try socket.send(Message(), more: true) }
        try socket.send(reply)
        return true
    }

    // MARK: Stopping

    /// SIGUSR1: stop now. Reads and counts what is queued, without answering it.
    private mutating func abandon() throws(ZeroMQError) -> ExitCode {
        var abandoned: UInt64 = replyWaiting ? 1 : 0
        var poller = Poller()
        poller.add(.socket(socket))
        while try poller.wait(timeoutMilliseconds: Self.quietMilliseconds) {
            while try takeRequest() { abandoned += 1 }
        }
        report(.served(served))
        report(.abandoned(abandoned))
        return .success
    }
}

extension RequestEnvelope {
    var isDelimited: Bool {
        switch self {
        case .request: true
        case .malformed(_, let delimited): delimited
        case .unanswerable: false
        }
    }
}
