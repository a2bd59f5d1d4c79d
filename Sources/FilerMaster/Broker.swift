import CZeroMQ
import Glibc
import Posix
import ZeroMQ
import FilerConfiguration
import FilerCore
import FilerSecurity

/// The master's sockets: the frontend ROUTER the clients connect to, the backend
/// DEALER the workers connect to, and zmq_proxy_steerable forwarding between them on a
/// thread of its own, steered over an inproc PAIR.
///
/// The event loop never waits for the proxy thread: a stop is asked for and its end
/// arrives as an event (`ended` becomes readable); statistics are asked for and their
/// answer arrives on `control`. While the thread is stopped the event loop itself
/// passes replies from the backend to the frontend, so that draining workers can
/// always send theirs, but never requests the other way.
final class Broker {
    var frontends: [String]
    /// Where this host's own workers connect (ipc).
    let backend: String
    /// Where worker hosts connect (tcp), if anywhere.
    let remoteBackend: String?
    /// The remote backend's connections: worker hosts as they come and go.
    let backendMonitor: Monitor
    let context: Context
    let frontend: Socket
    /// The frontend's connections as they come and go (see `ConnectionGuard`).
    let frontendMonitor: Monitor
    let backendSocket: Socket
    /// Our end of the proxy's control channel; readable when an answer waits.
    let control: Socket
    private let proxyControl: Socket
    var thread: OSThread?
    /// The listening descriptor of each bound frontend, from the monitor.
    var listeners: [String: Int32] = [:]
    /// Readable when the proxy thread has ended; holds the errno it ended with (0: TERMINATE).
    let ended: FileDescriptor
    private let endedWriter: Int32
    private var statisticsAsked = false
    /// Traffic of finished runs, of the current run, and of replies passed on while stopped.
    private var earlierRuns = Proxy.Statistics()
    private var currentRun = Proxy.Statistics()

    private static let controlEndpoint = "inproc://filer-proxy-control"

    /// Connections the kernel completes before libzmq accepts them: the most that can
    /// arrive after the frontends stop accepting, so the descriptor reserve covers them.
    static let backlog: Int32 = 128

    /// This daemon's keypair when its tcp:// endpoints are CURVE servers.
    let curve: Curve.KeyPair?

    /// Makes the sockets; `bind()` binds them, and nothing is forwarded until
    /// `startForwarding()`. Between the two, a ZAP handler can be bound on `context`:
    /// it must be, before a CURVE endpoint accepts anyone.
    init(
        frontends: [String], backend: String, remoteBackend: String?, limits: Limits, connections: ConnectionPolicy,
        curve: Curve.KeyPair?
    ) throws {
        self.frontends = frontends
        self.backend = backend
        self.remoteBackend = remoteBackend
        self.curve = curve
        context = try Context()
        frontend = try Socket(context, .router)
        try Self.configureFrontend(frontend, limits: limits, connections: connections)
        // Before binding, so that the listening descriptors are seen.
        frontendMonitor = try Monitor(
            frontend, context: context, mask: Monitor.Kind.mask([.listening, .accepted, .acceptFailed, .disconnected, .handshakeFailed]))
        // At stop, give the last replies a moment to leave.
        try frontend.setLinger(milliseconds: 1_000)
        try frontend.setOption(ZMQ_BACKLOG, Self.backlog, name: "ZMQ_BACKLOG")
        backendSocket = try Socket(context, .dealer)
        try backendSocket.setHighWaterMarks(send: BackendQueues.requestsToWorker, receive: 0)
        // A reply frame past the limit (and a little for the envelope) can only come
        // from a peer that is not one of our workers: it ends that connection.
        try Self.limitReplies(backendSocket, limits)
        try backendSocket.setLinger(milliseconds: 0)
        // Worker hosts cut off are noticed, and their connections closed, within the timeout.
        let interval = Int32(clamping: connections.heartbeatInterval.milliseconds)
        let timeout = Int32(clamping: connections.heartbeatTimeout.milliseconds)
        try backendSocket.setHeartbeats(intervalMilliseconds: interval, timeoutMilliseconds: timeout, ttlMilliseconds: interval > 0 ? timeout : 0)
        backendMonitor = try Monitor(backendSocket, context: context, mask: Monitor.Kind.mask([.accepted, .disconnected]))
        proxyControl = try Socket(context, .pair)
        try proxyControl.bind(Self.controlEndpoint)
        control = try Socket(context, .pair)
        try control.connect(Self.controlEndpoint)
        let pipe = try makePipe()
        try pipe.read.setNonBlocking()
        ended = pipe.read
        endedWriter = pipe.write.release()
    }

    deinit {
        close(endedWriter)
    }

    /// Binds every endpoint: tcp:// ones as CURVE servers when the daemon has a keypair,
    /// ipc:// ones plain (file permissions guard them).
    /// - Throws: `ZeroMQError` naming the endpoint that cannot be bound.
    func bind() throws(ZeroMQError) {
        for endpoint in frontends { try bind(frontend, endpoint) }
        Files.makeParentDirectory(ofIPCEndpoint: backend)
        try bind(backendSocket, backend)
        if let remoteBackend {
            // Worker hosts' handshakes are checked against their own keys, when they are
            // apart. Last, and never undone (libzmq refuses an empty domain): the ipc
            // endpoint bound before keeps none, since with one libzmq would ask ZAP about
            // its plain handshakes too.
            if curve != nil { try backendSocket.setZAPDomain(ZAP.workerDomain) }
            try bind(backendSocket, remoteBackend)
        }
    }

    /// libzmq takes a socket's security options when it binds, so one socket can serve
    /// a CURVE tcp:// endpoint and a plain ipc:// one.
    func bind(_ socket: Socket, _ endpoint: String) throws(ZeroMQError) {
        if let curve, endpoint.hasPrefix("tcp://") {
            try socket.makeCurveServer(curve)
        } else {
            try socket.makePlain()
        }
        try socket.bind(endpoint)
    }

    var isForwarding: Bool { thread != nil }

    /// Totals since the daemon started.
    var totals: Proxy.Statistics { earlierRuns + currentRun }

    // MARK: The proxy thread

    /// Starts the proxy thread.
    func startForwarding() throws(SystemError) {
        precondition(thread == nil, "the proxy runs already")
        let sockets = ProxySockets(frontend: frontend, backend: backendSocket, control: proxyControl)
        let writer = endedWriter
        statisticsAsked = false
        thread = try OSThread(name: "filer-proxy") {
            var code: Int32 = 0
            do throws(ZeroMQError) {
                try Proxy.run(frontend: sockets.frontend, backend: sockets.backend, control: sockets.control)
            } catch {
                code = error.isTerminated ? 0 : error.errno
            }
            _ = withUnsafeBytes(of: &code) { write(writer, $0.baseAddress, $0.count) }
        }
    }

    /// Asks the proxy thread to end, counting its run first; `ended` says when it has.
    func stopForwarding() {
        guard thread != nil else { return }
        do throws(ZeroMQError) {
            try Proxy.send(.statistics, over: control)
            try Proxy.send(.terminate, over: control)
        } catch {
            // The control channel is broken: end the thread the blunt way.
            context.shutdown()
        }
    }

    /// Called when `ended` is readable: joins the thread.
    /// - Returns: nil if it ended on TERMINATE, else what made it fail.
    func proxyEnded() -> String? {
        var code: Int32 = 0
        let got = withUnsafeMutableBytes(of: &code) { Glibc.read(ended.rawValue, $0.baseAddress, $0.count) }
        thread.take()?.join()
        _ = readAnswers()
        earlierRuns = earlierRuns + currentRun
        currentRun = Proxy.Statistics()
        statisticsAsked = false
        if got != MemoryLayout<Int32>.size { return "the proxy thread ended without a word" }
        return code == 0 ? nil : "\(ZeroMQError("zmq_proxy_steerable", errno: code))"
    }

    /// Asks a running proxy for its counts, unless a question is already out.
    func askStatistics() {
        guard thread != nil, !statisticsAsked else { return }
        do throws(ZeroMQError) {
            try Proxy.send(.statistics, over: control)
            statisticsAsked = true
        } catch {
            // Not asked: the next tick asks again, and a proxy that never answers stops the watchdog.
        }
    }

    /// Reads the answers waiting on `control`. - Returns: whether one came.
    func readAnswers() -> Bool {
        var answered = false
        do throws(ZeroMQError) {
            while let statistics = try Proxy.receiveStatistics(over: control) {
                currentRun = statistics
                statisticsAsked = false
                answered = true
            }
        } catch {
            // An inproc PAIR fails only once the context is shut down, or with a
            // malformed answer: either way the count stays as it was, and asking again
            // is the remedy.
            statisticsAsked = false
        }
        return answered
    }

    // MARK: While the proxy is stopped

    /// With the proxy stopped, lets the sockets do their own bookkeeping: libzmq frees a
    /// closed connection's queues only when the socket's owner next calls into it, and
    /// while the proxy thread is stopped that owner is the event loop.
    func tendSockets() {
        guard thread == nil else { return }
        _ = frontend.canReceive
        _ = backendSocket.canReceive
    }

    /// Passes replies waiting in the backend to their clients, without blocking, at most
    /// `limit` of them: workers keep answering, and the event loop has other sources.
    /// - Returns: how many were passed on.
    @discardableResult
    func forwardReplies(limit: Int = 64) -> Int {
        precondition(thread == nil, "the proxy thread owns the sockets while it runs")
        var forwarded = 0
        let frame = Message()
        do throws(ZeroMQError) {
            while forwarded < limit, try backendSocket.receive(into: frame, blocking: false) {
                var bytes = UInt64(frame.count)
                var more = frame.hasMore
                // A ROUTER never blocks on send: a reply for a client gone or full is dropped.
                _ = try frontend.trySend(frame, more: more)
                while more {
                    _ = try backendSocket.receive(into: frame, blocking: true)
                    bytes += UInt64(frame.count)
                    more = frame.hasMore
                    _ = try frontend.trySend(frame, more: more)
                }
                earlierRuns.backendMessagesIn += 1
                earlierRuns.backendBytesIn += bytes
                earlierRuns.frontendMessagesOut += 1
                earlierRuns.frontendBytesOut += bytes
                forwarded += 1
            }
        } catch {
            // Nothing more can be passed on now; what is left waits for the proxy.
        }
        return forwarded
    }

    /// The three sockets the proxy thread owns while it runs.
    private struct ProxySockets: Sendable {
        let frontend: Socket
        let backend: Socket
        let control: Socket
    }
}
