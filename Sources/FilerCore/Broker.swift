import CZeroMQ
import Glibc
public import Posix
public import ZeroMQ

/// The master's sockets: the frontend ROUTER the clients connect to, the backend
/// DEALER the workers connect to, and zmq_proxy_steerable forwarding between them
/// on a thread of its own, steered over an inproc PAIR.
public final class Broker {
    public let frontends: [String]
    public let backend: String
    private let context: Context
    private let control: Socket
    private var thread: OSThread?
    /// Becomes readable when the proxy thread has returned, for whatever reason.
    public let proxyEnded: FileDescriptor
    private let proxyEndedWriter: Int32
    private let proxySockets: ProxySockets

    /// The three sockets the proxy thread owns once started.
    private struct ProxySockets: Sendable {
        let frontend: Socket
        let backend: Socket
        let control: Socket
    }

    private static let controlEndpoint = "inproc://filer-proxy-control"

    /// Binds every endpoint; nothing is forwarded until `start()`.
    /// - Throws: `ZeroMQError` naming the endpoint that cannot be bound.
    public init(frontends: [String], backend: String, maxRequestSize: Int) throws {
        self.frontends = frontends
        self.backend = backend
        context = try Context()
        let frontend = try Socket(context, .router)
        // An oversized request is dropped with its connection, before any worker sees it.
        try frontend.setMaximumMessageSize(Int64(maxRequestSize))
        // At stop, give the last replies a moment to leave.
        try frontend.setLinger(milliseconds: 1_000)
        for endpoint in frontends { try frontend.bind(endpoint) }
        let backendSocket = try Socket(context, .dealer)
        try backendSocket.setLinger(milliseconds: 0)
        if backend.hasPrefix("ipc://") {
            Self.makeParentDirectory(of: String(backend.dropFirst("ipc://".count)))
        }
        try backendSocket.bind(backend)
        let proxyControl = try Socket(context, .pair)
        try proxyControl.bind(Self.controlEndpoint)
        control = try Socket(context, .pair)
        try control.connect(Self.controlEndpoint)
        proxySockets = ProxySockets(frontend: frontend, backend: backendSocket, control: proxyControl)
        let pipe = try makePipe()
        proxyEnded = pipe.read
        proxyEndedWriter = pipe.write.release()
    }

    deinit {
        close(proxyEndedWriter)
    }

    /// Starts forwarding on the proxy thread.
    public func start(onFailure: @escaping @Sendable (ZeroMQError) -> Void) throws(SystemError) {
        let sockets = proxySockets
        let writer = proxyEndedWriter
        thread = try OSThread(name: "filer-proxy") {
            do throws(ZeroMQError) {
                try Proxy.run(frontend: sockets.frontend, backend: sockets.backend, control: sockets.control)
            } catch {
                if !error.isTerminated { onFailure(error) }
            }
            var byte: UInt8 = 1
            _ = write(writer, &byte, 1)
        }
    }

    /// The proxy's counters of messages and bytes on each side.
    public func statistics() throws(ZeroMQError) -> Proxy.Statistics {
        try Proxy.statistics(over: control)
    }

    /// Stops the proxy once every reply the workers sent has been passed to the
    /// clients (or `drainTimeout` seconds pass), then joins its thread.
    public func stop(drainTimeout: Double) {
        guard let thread = thread.take() else { return }
        let deadline = MonotonicInstant.now().adding(seconds: drainTimeout)
        while MonotonicInstant.now() < deadline, let counts = try? statistics(),
            counts.backendMessagesIn > counts.frontendMessagesOut
        {
            usleep(5_000)
        }
        do {
            try Proxy.send(.terminate, over: control)
        } catch {
            context.shutdown()
        }
        thread.join()
    }

    private static func makeParentDirectory(of path: String) {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        var prefix = ""
        for component in path[..<slash].split(separator: "/") {
            prefix += "/" + component
            _ = mkdir(prefix, 0o755)
        }
    }
}
