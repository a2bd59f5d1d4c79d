public import Posix
public import ZeroMQ

/// The ZAP handler of one context: a REP socket bound to `inproc://zeromq.zap.01`,
/// answered from the owner's event loop. libzmq asks it about every CURVE handshake
/// on the context's sockets and holds the handshake until the answer comes.
///
/// Used by one thread, the one whose loop polls `socket`.
public final class ZAPHandler {
    /// Poll this for readability, then call `answerWaiting()`.
    public let socket: Socket

    /// The keys let in. Replacing them (a reload) affects only handshakes from then on:
    /// ZAP is asked once per connection, so connections already made stay.
    public var authorized: AuthorizedKeys
    /// When set, the keys let in on sockets of the `ZAP.workerDomain` (a broker's
    /// backend and drain endpoint) instead of `authorized`.
    public var workers: AuthorizedKeys?

    /// Every refusal, reported or not.
    public private(set) var refusedCount: UInt64 = 0
    public private(set) var acceptedCount: UInt64 = 0

    private var refusalLog: RefusalLog
    private let clock: () -> MonotonicInstant
    private let onRefusal: (ZAP.Refusal) -> Void

    /// Binds the handler on `context`; it must be bound before the context's CURVE
    /// servers accept connections, or libzmq 4.3.4 lets their clients in unchecked.
    /// - Parameters:
    ///   - clock: the time refusals are rate-limited by; tests pass a fake one.
    ///   - onRefusal: called for a refusal unless one from the same address was
    ///     reported within `reportInterval` seconds.
    /// - Throws: `ZeroMQError` (EADDRINUSE when the context already has a handler).
    public init(
        context: Context,
        authorized: AuthorizedKeys,
        workers: AuthorizedKeys? = nil,
        reportInterval: Double = 60,
        clock: @escaping () -> MonotonicInstant = MonotonicInstant.now,
        onRefusal: @escaping (ZAP.Refusal) -> Void
    ) throws(ZeroMQError) {
        socket = try Socket(context, .reply)
        // Unsent answers are for handshakes that end with the context anyway.
        try socket.setLinger(milliseconds: 0)
        try socket.bind(ZAP.endpoint)
        self.authorized = authorized
        self.workers = workers
        self.refusalLog = RefusalLog(interval: reportInterval)
        self.clock = clock
        self.onRefusal = onRefusal
    }

    /// Answers every request already queued, without waiting for more.
    /// - Returns: how many were answered.
    /// - Throws: `ZeroMQError` when the socket fails (ETERM as the context ends).
    @discardableResult
    public func answerWaiting() throws(ZeroMQError) -> Int {
        var answered = 0
        while let first = try socket.receiveIfReady() {
            var frames = [first.bytes]
            var more = first.hasMore
            // A message arrives whole, so the frames after the first never block.
            while more {
                let frame = try socket.receive()
                frames.append(frame.bytes)
                more = frame.hasMore
            }
            // Frame 2 is the domain of the socket the handshake is on.
            let forWorkers = frames.count > 2 && frames[2] == Array(ZAP.workerDomain.utf8)
            let decision = ZAP.decide(frames, authorized: forWorkers ? (workers ?? authorized) : authorized)
            for (index, frame) in decision.reply.enumerated() {
                try socket.send(frame, more: index < decision.reply.count - 1)
            }
            answered += 1
            guard let refusal = decision.refusal else {
                acceptedCount += 1
                continue
            }
            refusedCount += 1
            if refusalLog.shouldReport(address: refusal.address, at: clock()) { onRefusal(refusal) }
        }
        return answered
    }
}
