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

    /// The request taken straight off the socket, its frames reused from one to the next.
    private let current = PendingRequest()
    /// Where the frames beyond those a reply needs land, to be dropped.
    private let surplus = Message()
    /// Requests taken while the way back was full (see `FairQueue`).
    private var queue = FairQueue()
    /// A reply that waits for room on the way back (ROUTER_MANDATORY said EAGAIN).
    private var waiting: (request: PendingRequest, reply: [UInt8])?

    private var served: UInt64 = 0
    private var reported: UInt64 = 0
    private var refusalsReported: [String: UInt64] = [:]
    private var draining = false
    private var lastActivity = MonotonicInstant.now()
    private var nextTick = MonotonicInstant.now()
    private var idleSinceTick = true

    init(socket: Socket, responder: Responder, masterPID: Int32, logger: Logger, status: StatusPipe) {
        self.socket = socket
        self.responder = responder
        self.masterPID = masterPID
        self.logger = logger
        self.status = status
    }

    private func report(_ report: WorkerReport) { status.send(report) }

    mutating func run(signals: borrowing SignalDescriptor) throws -> ExitCode {
        var idle = try IdleWait(socket: socket, signals: signals.descriptor.rawValue)
        // While a reply waits for room: zmq_poll, which can wait for that (POLLOUT).
        var poller = Poller()
        poller.add(.socket(socket), interest: [.readable, .writable])
        let signalIndex = poller.add(.descriptor(signals.descriptor.rawValue))
        nextTick = MonotonicInstant.now().adding(milliseconds: Self.tickMilliseconds)
        while true {
            let timeout = draining ? Self.quietMilliseconds : Self.tickMilliseconds
            switch try step() {
            case .progressed:
                if MonotonicInstant.now() < nextTick { continue }
            case .idle:
                if try idle.wait(timeoutMilliseconds: timeout), let code = try handleSignals(signals) { return code }
            case .blocked:
                try poller.wait(timeoutMilliseconds: timeout)
                if poller.isReadable(signalIndex), let code = try handleSignals(signals) { return code }
            }
            let now = MonotonicInstant.now()
            // Empty means a whole quiet period with nothing taken and nothing queued now.
            if draining && waiting == nil && queue.isEmpty
                && now.milliseconds(since: lastActivity) >= Self.quietMilliseconds && !socket.canReceive
            {
                reportCounts()
                return .success
            }
            if now >= nextTick {
                // Every second, changed or not: the report is also the heartbeat.
                report(.served(served))
                reported = served
                reportRefusals()
                nextTick = now.adding(milliseconds: Self.tickMilliseconds)
                if idleSinceTick { responder.releaseMemory() }
                idleSinceTick = true
                guard getppid() == masterPID else { return .workerOrphaned }
                // A busy worker waits rarely: look for a signal here too.
                if let code = try handleSignals(signals) { return code }
            }
        }
    }

    /// What `step` could do.
    private enum Progress {
        /// It took or answered a request: step again.
        case progressed
        /// Nothing is queued, and the socket's last call was a receive that found nothing:
        /// wait on its descriptor (see `Socket.fileDescriptor`).
        case idle
        /// A reply waits for room on the way back, and no request came.
        case blocked
    }

    /// Makes what progress it can without waiting.
    private mutating func step() throws(ZeroMQError) -> Progress {
        if let (request, reply) = waiting {
            // While the way back is full, keep taking requests, so the proxy is never
            // stuck giving us one; then try the reply again.
            let took = try takeIntoQueue()
            guard try send(reply, for: request) else { return took ? .progressed : .blocked }
            waiting = nil
            if request !== current { queue.recycle(request) }
            return .progressed
        }
        if queue.isEmpty {
            // The common case: one request straight off the socket, into reused frames,
            // answered at once. With nothing queued it is the oldest request there is.
            guard try take(into: current) else { return .idle }
            try answer(current)
            // Then take what came meanwhile, so that clients are served in turn; finding
            // nothing, this receive is also the look the wait needs (no ZMQ_EVENTS query).
            guard waiting == nil else { return .progressed }
            return try takeIntoQueue() ? .progressed : .idle
        }
        // Several wait: take them all, and serve their clients in turn.
        _ = try takeIntoQueue()
        if let request = queue.next() {
            try answer(request)
            if waiting?.request !== request { queue.recycle(request) }
        }
        return .progressed
    }

    // MARK: Requests

    /// Receives one whole message into `request` if one is queued: the frames a reply
    /// needs, the rest dropped. - Returns: whether one was taken.
    private mutating func take(into request: PendingRequest) throws(ZeroMQError) -> Bool {
        guard try socket.receive(into: request.frames[0], blocking: false) else { return false }
        var count = 1
        var last = request.frames[0]
        while last.hasMore {
            last = count < request.frames.count ? request.frames[count] : surplus
            _ = try socket.receive(into: last, blocking: true)
            count += 1
        }
        request.shape = RequestEnvelope.classify(frameCount: count, clientIDLength: request.frames[1].count) {
            request.frames[$0].count == 0
        }
        lastActivity = .now()
        idleSinceTick = false
        return true
    }

    /// Takes every request the socket holds into the fair queue, up to its capacity.
    /// - Returns: whether it took any.
    private mutating func takeIntoQueue() throws(ZeroMQError) -> Bool {
        var took = false
        while !queue.isFull {
            let request = queue.makeRequest()
            guard try take(into: request) else {
                queue.recycle(request)
                break
            }
            took = true
            // Nothing to answer: let it go now rather than hold its frames.
            if request.shape == .unanswerable {
                queue.recycle(request)
                continue
            }
            queue.append(request)
        }
        return took
    }

    private mutating func answer(_ request: PendingRequest) throws(ZeroMQError) {
        let reply: UnsafeRawBufferPointer
        switch request.shape {
        case _ where request.refusedAsBusy:
            let why = draining
                ? "this worker is being replaced and answers only its clients' oldest \(FairQueue.perClientWhileDraining) requests; send the rest again"
                : "over \(FairQueue.perClient) of this client's requests wait at this worker; read the replies before sending more"
            reply = responder.refuse(FileError(.busy, why))
        case .request:
            reply = request.frames[3].withUnsafeBytes { responder.answer($0) }
        case .malformed(let reason, _):
            reply = responder.refuse(.badRequest(reason))
        case .unanswerable:
            return
        }
        served += 1
        if try !send(reply, for: request, fromResponder: true) {
            // The way back is full: keep the reply (and the frames that route it) until there is room.
            let owner = request === current ? detachCurrent() : request
            waiting = (owner, Array(reply))
        }
    }

    /// The current request's frames, moved into a request of their own, so that the
    /// reused one can take the next.
    private mutating func detachCurrent() -> PendingRequest {
        let copy = queue.makeRequest()
        for (from, to) in zip(current.frames, copy.frames) { to.move(from) }
        copy.shape = current.shape
        return copy
    }

    private func send(_ reply: [UInt8], for request: PendingRequest) throws(ZeroMQError) -> Bool {
        var sent = false
        var failure: ZeroMQError?
        reply.withUnsafeBytes { bytes in
            do throws(ZeroMQError) { sent = try send(bytes, for: request, fromResponder: false) } catch { failure = error }
        }
        if let failure { throw failure }
        return sent
    }

    /// Sends `[broker, client, "", reply]` (no delimiter if the request had none). A
    /// large reply still in the responder's buffer is handed to libzmq, not copied.
    /// - Returns: false when the broker's queue is full and nothing was sent.
    private func send(
        _ reply: UnsafeRawBufferPointer, for request: PendingRequest, fromResponder: Bool
    ) throws(ZeroMQError) -> Bool {
        do {
            // With ROUTER_MANDATORY only the first frame can fail, and then nothing went.
            guard try socket.trySend(request.frames[0], more: true) else { return false }
        } catch where error.errno == EHOSTUNREACH {
            logger.debug("The broker that sent a request has gone; its reply is dropped")
            return true
        }
        try socket.send(request.frames[1], more: true)
        if request.shape.isDelimited { try socket.send(UnsafeRawBufferPointer(start: nil, count: 0), more: true) }
        if fromResponder, let large = responder.takeLargeReply() {
            try socket.send(large)
        } else {
            try socket.send(reply)
        }
        return true
    }

    // MARK: Stopping

    /// SIGTERM, SIGINT, SIGHUP: drain. SIGUSR1: stop now. - Returns: the exit code, to stop now.
    private mutating func handleSignals(_ signals: borrowing SignalDescriptor) throws -> ExitCode? {
        for signal in try signals.take() {
            if signal == SIGUSR1 { return try abandon() }
            if !draining {
                draining = true
                queue.shed()
                lastActivity = .now()
                logger.debug("Worker stopping", metadata: ["worker_pid": "\(getpid())"])
            }
        }
        return nil
    }

    /// The counts not reported yet, before the worker exits.
    private mutating func reportCounts() {
        if served != reported { report(.served(served)) }
        reportRefusals()
    }

    private mutating func reportRefusals() {
        guard responder.refusals != refusalsReported else { return }
        refusalsReported = responder.refusals
        report(.refused(refusalsReported))
    }

    /// SIGUSR1: stop now. Reads and counts what is queued, without answering it.
    private mutating func abandon() throws(ZeroMQError) -> ExitCode {
        var abandoned = UInt64(queue.count) + (waiting == nil ? 0 : 1)
        var poller = Poller()
        poller.add(.socket(socket))
        while try poller.wait(timeoutMilliseconds: Self.quietMilliseconds) {
            while try take(into: current) { abandoned += 1 }
        }
        reportCounts()
        report(.abandoned(abandoned))
        return .success
    }
}
