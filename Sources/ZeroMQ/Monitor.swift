import CZeroMQ

/// Watches a socket's connection events (zmq_socket_monitor) through a PAIR socket.
///
/// libzmq sends each event with a blocking send while it holds the watched socket's
/// lock, so a monitor must be read promptly: an unread one stalls the watched socket.
public final class Monitor {
    /// The socket to poll: readable when an event waits.
    public let events: Socket
    private let watched: Socket

    /// One event: what happened, its value (a descriptor or an errno), and the endpoint.
    public struct Event: Equatable, Sendable {
        public let kind: Kind
        public let value: Int32
        public let endpoint: String
    }

    /// The events filer acts on; libzmq's others come as `.other`.
    public enum Kind: Equatable, Sendable {
        /// An endpoint is bound; the value is the listening descriptor.
        case listening
        /// A peer connected to a bound endpoint; the value is its descriptor.
        case accepted
        /// Accepting failed; the value is the errno (EMFILE at the descriptor limit).
        case acceptFailed
        /// A connection ended; the value is its descriptor.
        case disconnected
        /// A connection's ZMTP handshake completed.
        case handshakeSucceeded
        /// A connection's handshake failed (protocol, authentication, or unknown).
        case handshakeFailed
        case other(Int32)

        init(_ number: Int32) {
            switch number {
            case ZMQ_EVENT_LISTENING: self = .listening
            case ZMQ_EVENT_ACCEPTED: self = .accepted
            case ZMQ_EVENT_ACCEPT_FAILED: self = .acceptFailed
            case ZMQ_EVENT_DISCONNECTED: self = .disconnected
            case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: self = .handshakeSucceeded
            case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
                self = .handshakeFailed
            default: self = .other(number)
            }
        }

        /// The mask bits for these kinds.
        public static func mask(_ kinds: [Kind]) -> Int32 {
            kinds.reduce(0) { mask, kind in
                switch kind {
                case .listening: mask | ZMQ_EVENT_LISTENING
                case .accepted: mask | ZMQ_EVENT_ACCEPTED
                case .acceptFailed: mask | ZMQ_EVENT_ACCEPT_FAILED
                case .disconnected: mask | ZMQ_EVENT_DISCONNECTED
                case .handshakeSucceeded: mask | ZMQ_EVENT_HANDSHAKE_SUCCEEDED
                case .handshakeFailed:
                    mask | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                        | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                case .other(let number): mask | number
                }
            }
        }
    }

    public static let handshakeSucceeded = ZMQ_EVENT_HANDSHAKE_SUCCEEDED

    /// Starts monitoring `socket` for the events in `mask`.
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

    /// Takes one event if one waits.
    public func nextEvent() throws(ZeroMQError) -> Event? {
        guard let first = try events.receiveIfReady() else { return nil }
        var frames = [first]
        while frames[frames.count - 1].hasMore { frames.append(try events.receive()) }
        // Frame 1: a 16-bit event number then a 32-bit value; frame 2: the endpoint.
        let (number, value) = frames[0].withUnsafeBytes { raw -> (Int32, Int32) in
            guard raw.count >= 6 else { return (0, 0) }
            return (Int32(raw.loadUnaligned(as: UInt16.self)), Int32(bitPattern: raw.loadUnaligned(fromByteOffset: 2, as: UInt32.self)))
        }
        let endpoint = frames.count > 1 ? String(decoding: frames[1].bytes, as: UTF8.self) : ""
        return Event(kind: Kind(number), value: value, endpoint: endpoint)
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
            while let event = try nextEvent() {
                if Kind.mask([event.kind]) & mask != 0 { return true }
            }
            remaining -= Int(zmq_stopwatch_stop(started) / 1000)
        }
        return false
    }
}
