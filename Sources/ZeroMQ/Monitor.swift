import CZeroMQ

/// Watches a socket's connection events (zmq_socket_monitor) through a PAIR socket.
public final class Monitor {
    private let events: Socket
    private let watched: Socket

    public static let handshakeSucceeded = ZMQ_EVENT_HANDSHAKE_SUCCEEDED

    /// Starts monitoring `socket` for `mask` events.
    public init(_ socket: Socket, context: Context, mask: Int32) throws(ZeroMQError) {
        let endpoint = "inproc://monitor-\(UInt(bitPattern: socket.handle))"
        try checked("zmq_socket_monitor") { zmq_socket_monitor(socket.handle, endpoint, mask) }
        watched = socket
        events = try Socket(context, .pair)
        try events.connect(endpoint)
    }

    /// Stops the monitoring: once the awaited event came, later ones would only queue up.
    deinit {
        _ = zmq_socket_monitor(watched.handle, nil, 0)
    }

    /// Waits up to `timeoutMilliseconds` for an event in `mask`.
    /// - Returns: whether one arrived in time.
    public func wait(for mask: Int32, timeoutMilliseconds: Int) throws(ZeroMQError) -> Bool {
        var poller = Poller()
        poller.add(.socket(events))
        var remaining = timeoutMilliseconds
        while remaining > 0 {
            let started = zmq_stopwatch_start()
            guard try poller.wait(timeoutMilliseconds: remaining) else { return false }
            let frames = try events.receiveMultipart()
            // Frame 1: a 16-bit event number then a 32-bit value; frame 2: the endpoint.
            let event = frames[0].withUnsafeBytes { raw in raw.count >= 2 ? Int32(raw.loadUnaligned(as: UInt16.self)) : 0 }
            if event & mask != 0 { return true }
            remaining -= Int(zmq_stopwatch_stop(started) / 1000)
        }
        return false
    }
}
