import CZeroMQ
import Glibc
public import Posix
public import ZeroMQ
public import FilerConfiguration

/// The master's sockets: the frontend ROUTER the clients connect to, the backend
/// DEALER the workers connect to, and zmq_proxy_steerable forwarding between them
/// on a thread of its own, steered over an inproc PAIR.
///
/// The proxy runs only while at least one worker is online. libzmq 4.3.4's proxy
/// busy-loops when a request waits and the backend has no peer (PAUSE does too), so
/// with no worker the proxy is terminated and requests wait, untouched, in the ROUTER.
public final class Broker {
    public private(set) var frontends: [String]
    public let backend: String
    private let context: Context
    private let control: Socket
    private var thread: OSThread?
    /// Becomes readable if the proxy fails (it never returns on its own otherwise).
    public let proxyFailed: FileDescriptor
    private let proxyFailedWriter: Int32
    private let proxySockets: ProxySockets
    /// Counts of the proxy runs that have ended; libzmq's counters restart with each run.
    private var earlierRuns = Proxy.Statistics()

    /// The three sockets the proxy thread owns while it runs.
    private struct ProxySockets: Sendable {
        let frontend: Socket
        let backend: Socket
        let control: Socket
    }

    private static let controlEndpoint = "inproc://filer-proxy-control"

    /// Binds every endpoint; nothing is forwarded until `startForwarding()`.
    /// - Throws: `ZeroMQError` naming the endpoint that cannot be bound.
    public init(frontends: [String], backend: String, limits: Limits, connections: ConnectionPolicy) throws {
        self.frontends = frontends
        self.backend = backend
        context = try Context()
        let frontend = try Socket(context, .router)
        try Self.configureFrontend(frontend, limits: limits, connections: connections)
        // At stop, give the last replies a moment to leave.
        try frontend.setLinger(milliseconds: 1_000)
        for endpoint in frontends { try frontend.bind(endpoint) }
        let backendSocket = try Socket(context, .dealer)
        try BackendQueues.configureBroker(backendSocket)
        try backendSocket.setLinger(milliseconds: 0)
        Files.makeParentDirectory(ofIPCEndpoint: backend)
        try backendSocket.bind(backend)
        let proxyControl = try Socket(context, .pair)
        try proxyControl.bind(Self.controlEndpoint)
        control = try Socket(context, .pair)
        try control.connect(Self.controlEndpoint)
        proxySockets = ProxySockets(frontend: frontend, backend: backendSocket, control: proxyControl)
        let pipe = try makePipe()
        proxyFailed = pipe.read
        proxyFailedWriter = pipe.write.release()
    }

    deinit {
        close(proxyFailedWriter)
    }

    public var isForwarding: Bool { thread != nil || proxySilenced }

    /// Set by the test-only fault that ends the proxy behind the supervisor's back.
    private var proxySilenced = false
    /// How long the master waits for the proxy thread to answer on its control socket.
    private static let answerTimeoutMilliseconds = 1_000

    /// Starts the proxy thread, unless it runs already.
    public func startForwarding(onFailure: @escaping @Sendable (ZeroMQError) -> Void) throws(SystemError) {
        guard thread == nil else { return }
        let sockets = proxySockets
        let writer = proxyFailedWriter
        thread = try OSThread(name: "filer-proxy") {
            do throws(ZeroMQError) {
                try Proxy.run(frontend: sockets.frontend, backend: sockets.backend, control: sockets.control)
            } catch {
                guard !error.isTerminated else { return }
                onFailure(error)
                var byte: UInt8 = 1
                _ = write(writer, &byte, 1)
            }
        }
    }

    /// Ends the proxy thread, if it runs. Nothing is lost: requests not yet forwarded
    /// wait in the frontend, replies not yet forwarded wait in the backend.
    public func stopForwarding() {
        guard let thread = thread.take() else { return }
        if let last = try? Proxy.statistics(over: control, timeoutMilliseconds: Self.answerTimeoutMilliseconds) {
            earlierRuns.add(last)
        }
        do {
            try Proxy.send(.terminate, over: control)
        } catch {
            context.shutdown()
        }
        thread.join()
    }

    /// With the proxy stopped, passes every reply waiting in the backend to its client,
    /// until none has arrived for `quietMilliseconds`.
    /// - Returns: how many replies were passed on.
    @discardableResult
    public func forwardWaitingReplies(quietMilliseconds: Int) -> Int {
        precondition(thread == nil, "the proxy thread owns the sockets while it runs")
        var forwarded = 0
        var poller = Poller()
        poller.add(.socket(proxySockets.backend))
        do {
            while try poller.wait(timeoutMilliseconds: quietMilliseconds) {
                let frames = try proxySockets.backend.receiveMultipart()
                for (index, frame) in frames.enumerated() {
                    try frame.withUnsafeBytes { bytes in
                        try proxySockets.frontend.send(bytes, more: index < frames.count - 1)
                    }
                }
                forwarded += 1
            }
        } catch {
            // Nothing more can be passed on; the frontend's linger delivers what was.
        }
        return forwarded
    }

    /// Totals over the life of the broker.
    public func statistics() -> Proxy.Statistics {
        var totals = earlierRuns
        if thread != nil,
            let current = try? Proxy.statistics(over: control, timeoutMilliseconds: Self.answerTimeoutMilliseconds)
        {
            totals.add(current)
        }
        return totals
    }

    /// Whether the proxy thread answers on its control socket (the watchdog's test).
    public func proxyAnswers(timeoutMilliseconds: Int) -> Bool {
        guard thread != nil else { return false }
        return (try? Proxy.statistics(over: control, timeoutMilliseconds: timeoutMilliseconds)) != nil
    }

    /// What the frontend allows each client: its request frames' size, and how long it
    /// may be silent. Its queues keep libzmq's 1,000 messages: they count messages, not
    /// bytes, and a queue small enough to bound bytes drops the replies of clients that
    /// merely pipeline (a queue of 8 lost 3 % of a 100-deep pipeline's replies; 32 lost
    /// none until 500 deep). The master's memory budget bounds bytes instead.
    static func configureFrontend(_ frontend: Socket, limits: Limits, connections: ConnectionPolicy) throws(ZeroMQError) {
        // An oversized frame ends its connection, before any worker sees it.
        try frontend.setMaximumMessageSize(Int64(limits.maxRequestSize))
        let interval = Int32(clamping: connections.heartbeatInterval.milliseconds)
        let timeout = Int32(clamping: connections.heartbeatTimeout.milliseconds)
        try frontend.setHeartbeats(intervalMilliseconds: interval, timeoutMilliseconds: timeout, ttlMilliseconds: interval > 0 ? timeout : 0)
        try frontend.setHandshakeTimeout(milliseconds: Int32(clamping: connections.handshakeTimeout.milliseconds))
        // For peers whose host is gone without a word: the kernel probes after a minute.
        try frontend.setTCPKeepalive(idleSeconds: 60, intervalSeconds: 10, count: 6)
    }

    /// With the proxy stopped: binds the endpoints that are new, unbinds those no longer
    /// wanted, and applies the limits to connections made from now on.
    /// Binding comes first, so a failure leaves the running endpoints as they were.
    public func reconfigureFrontends(_ endpoints: [String], limits: Limits, connections: ConnectionPolicy) throws {
        precondition(thread == nil, "the proxy thread owns the sockets while it runs")
        let frontend = proxySockets.frontend
        var bound: [String] = []
        do {
            for endpoint in endpoints where !frontends.contains(endpoint) {
                try frontend.bind(endpoint)
                bound.append(endpoint)
            }
        } catch {
            for endpoint in bound { try? frontend.unbind(endpoint) }
            throw error
        }
        for endpoint in frontends where !endpoints.contains(endpoint) {
            try? frontend.unbind(endpoint)
        }
        try Self.configureFrontend(frontend, limits: limits, connections: connections)
        frontends = endpoints
    }

    /// Test-only fault (see `Supervisor.faultsEnabled`): ends the proxy thread while the
    /// supervisor believes it runs, as a proxy thread that died silently would.
    func silenceProxyForTesting() {
        guard let thread = thread.take() else { return }
        try? Proxy.send(.terminate, over: control)
        thread.join()
        proxySilenced = true
    }

}

extension Proxy.Statistics {
    mutating func add(_ other: Proxy.Statistics) {
        frontendMessagesIn += other.frontendMessagesIn
        frontendBytesIn += other.frontendBytesIn
        frontendMessagesOut += other.frontendMessagesOut
        frontendBytesOut += other.frontendBytesOut
        backendMessagesIn += other.backendMessagesIn
        backendBytesIn += other.backendBytesIn
        backendMessagesOut += other.backendMessagesOut
        backendBytesOut += other.backendBytesOut
    }
}
