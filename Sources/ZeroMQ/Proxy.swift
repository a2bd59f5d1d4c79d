import CZeroMQ

/// The built-in ZeroMQ proxy, steerable through a control socket.
public enum Proxy {
    /// Forwards between `frontend` and `backend` until a `TERMINATE` command arrives on
    /// `control` or the context is shut down. Blocks the calling thread.
    /// - Throws: `ZeroMQError`, ETERM included when the context was shut down.
    public static func run(frontend: Socket, backend: Socket, control: Socket) throws(ZeroMQError) {
        let result = zmq_proxy_steerable(frontend.handle, backend.handle, nil, control.handle)
        if result != 0 {
            let error = zmq_errno()
            // zmq_proxy_steerable returns 0 on TERMINATE; anything else is an error.
            throw ZeroMQError("zmq_proxy_steerable", errno: error)
        }
    }

    /// The proxy's commands. libzmq 4.3.4 aborts the process on any other command,
    /// so only these can be sent.
    public enum Command: String {
        case terminate = "TERMINATE"
        case statistics = "STATISTICS"
    }

    /// What `STATISTICS` answers: messages and bytes in and out of each side.
    public struct Statistics: Equatable, Sendable {
        public var frontendMessagesIn: UInt64 = 0
        public var frontendBytesIn: UInt64 = 0
        public var frontendMessagesOut: UInt64 = 0
        public var frontendBytesOut: UInt64 = 0
        public var backendMessagesIn: UInt64 = 0
        public var backendBytesIn: UInt64 = 0
        public var backendMessagesOut: UInt64 = 0
        public var backendBytesOut: UInt64 = 0

        public init() {}
    }

    /// Sends a command over the peer of the proxy's control socket.
    public static func send(_ command: Command, over control: Socket) throws(ZeroMQError) {
        try control.send(command.rawValue)
    }

    /// Takes one answer to STATISTICS waiting on the control socket, without blocking:
    /// eight frames of UInt64, in libzmq's order.
    /// - Returns: nil when none waits.
    /// - Throws: `ZeroMQError`, EPROTO for an answer of another shape.
    public static func receiveStatistics(over control: Socket) throws(ZeroMQError) -> Statistics? {
        guard let first = try control.receiveIfReady() else { return nil }
        var frames = [first]
        while frames[frames.count - 1].hasMore { frames.append(try control.receive()) }
        let values = frames.map { frame in
            frame.withUnsafeBytes { raw in raw.count == 8 ? raw.loadUnaligned(as: UInt64.self) : 0 }
        }
        guard values.count == 8 else { throw ZeroMQError("zmq_proxy_steerable(STATISTICS)", errno: EPROTO) }
        var statistics = Statistics()
        statistics.frontendMessagesIn = values[0]
        statistics.frontendBytesIn = values[1]
        statistics.frontendMessagesOut = values[2]
        statistics.frontendBytesOut = values[3]
        statistics.backendMessagesIn = values[4]
        statistics.backendBytesIn = values[5]
        statistics.backendMessagesOut = values[6]
        statistics.backendBytesOut = values[7]
        return statistics
    }
}
