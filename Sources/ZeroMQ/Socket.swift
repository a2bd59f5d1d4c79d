import CZeroMQ
import Glibc

/// A ZeroMQ socket, closed exactly once when the value goes away.
///
/// ZeroMQ sockets are not thread-safe: a socket is used by one thread at a time.
/// It is `@unchecked Sendable` only so ownership can be handed to another thread
/// (the proxy's); the code that hands it over stops using it.
public final class Socket: @unchecked Sendable {
    public enum Kind: Sendable {
        case request, reply, dealer, router, pair, push, pull

        var rawValue: Int32 {
            switch self {
            case .request: ZMQ_REQ
            case .reply: ZMQ_REP
            case .dealer: ZMQ_DEALER
            case .router: ZMQ_ROUTER
            case .pair: ZMQ_PAIR
            case .push: ZMQ_PUSH
            case .pull: ZMQ_PULL
            }
        }
    }

    let handle: UnsafeMutableRawPointer
    private let context: Context

    public init(_ context: Context, _ kind: Kind) throws(ZeroMQError) {
        guard let handle = zmq_socket(context.handle, kind.rawValue) else {
            throw ZeroMQError("zmq_socket")
        }
        self.handle = handle
        self.context = context
    }

    deinit {
        _ = zmq_close(handle)
    }

    public func bind(_ endpoint: String) throws(ZeroMQError) {
        try checked("zmq_bind(\(endpoint))") { zmq_bind(handle, endpoint) }
    }

    public func connect(_ endpoint: String) throws(ZeroMQError) {
        try checked("zmq_connect(\(endpoint))") { zmq_connect(handle, endpoint) }
    }

    public func unbind(_ endpoint: String) throws(ZeroMQError) {
        try checked("zmq_unbind(\(endpoint))") { zmq_unbind(handle, endpoint) }
    }

    /// The endpoint actually bound last (resolves `tcp://127.0.0.1:*`).
    public var lastEndpoint: String {
        var buffer = [CChar](repeating: 0, count: 1024)
        var size = buffer.count
        guard zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else { return "" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Options

    public func setOption(_ option: Int32, _ value: Int32, name: String) throws(ZeroMQError) {
        var value = value
        try checked("zmq_setsockopt(\(name))") {
            zmq_setsockopt(handle, option, &value, MemoryLayout<Int32>.size)
        }
    }

    public func setOption(_ option: Int32, _ value: Int64, name: String) throws(ZeroMQError) {
        var value = value
        try checked("zmq_setsockopt(\(name))") {
            zmq_setsockopt(handle, option, &value, MemoryLayout<Int64>.size)
        }
    }

    /// Milliseconds to keep unsent messages after close; -1 forever, 0 drop them.
    public func setLinger(milliseconds: Int32) throws(ZeroMQError) {
        try setOption(ZMQ_LINGER, milliseconds, name: "ZMQ_LINGER")
    }

    /// How long a blocking send waits before it fails with EAGAIN (-1: forever).
    public func setSendTimeout(milliseconds: Int32) throws(ZeroMQError) {
        try setOption(ZMQ_SNDTIMEO, milliseconds, name: "ZMQ_SNDTIMEO")
    }

    /// Peers sending a frame larger than this are disconnected. libzmq applies it to
    /// each frame, not to a whole multipart message.
    public func setMaximumMessageSize(_ bytes: Int64) throws(ZeroMQError) {
        try setOption(ZMQ_MAXMSGSIZE, bytes, name: "ZMQ_MAXMSGSIZE")
    }

    /// How many messages may queue per peer in each direction (0: no limit). Applies to
    /// connections made after the call.
    public func setHighWaterMarks(send: Int32, receive: Int32) throws(ZeroMQError) {
        try setOption(ZMQ_SNDHWM, send, name: "ZMQ_SNDHWM")
        try setOption(ZMQ_RCVHWM, receive, name: "ZMQ_RCVHWM")
    }

    /// A ROUTER that fails a send it cannot deliver (EAGAIN for a full queue,
    /// EHOSTUNREACH for an unknown peer) instead of dropping the message silently.
    public func setRouterMandatory(_ on: Bool) throws(ZeroMQError) {
        try setOption(ZMQ_ROUTER_MANDATORY, Int32(on ? 1 : 0), name: "ZMQ_ROUTER_MANDATORY")
    }

    /// ZMTP heartbeats: a PING every `interval`; a peer silent for `timeout` after one is
    /// disconnected; `ttl` asks the peer to drop us after that long without our traffic.
    public func setHeartbeats(intervalMilliseconds: Int32, timeoutMilliseconds: Int32, ttlMilliseconds: Int32)
        throws(ZeroMQError)
    {
        try setOption(ZMQ_HEARTBEAT_IVL, intervalMilliseconds, name: "ZMQ_HEARTBEAT_IVL")
        try setOption(ZMQ_HEARTBEAT_TIMEOUT, timeoutMilliseconds, name: "ZMQ_HEARTBEAT_TIMEOUT")
        try setOption(ZMQ_HEARTBEAT_TTL, ttlMilliseconds, name: "ZMQ_HEARTBEAT_TTL")
    }

    /// How soon a connecting socket dials a peer again: `milliseconds` at first, doubling
    /// up to `maximumMilliseconds` while the peer stays away.
    public func setReconnectInterval(milliseconds: Int32, maximumMilliseconds: Int32) throws(ZeroMQError) {
        try setOption(ZMQ_RECONNECT_IVL, milliseconds, name: "ZMQ_RECONNECT_IVL")
        try setOption(ZMQ_RECONNECT_IVL_MAX, maximumMilliseconds, name: "ZMQ_RECONNECT_IVL_MAX")
    }

    /// Queue messages only to peers whose connection is complete: a DEALER that
    /// connects to several peers then never strands a message on one that is down.
    public func setImmediate(_ on: Bool) throws(ZeroMQError) {
        try setOption(ZMQ_IMMEDIATE, Int32(on ? 1 : 0), name: "ZMQ_IMMEDIATE")
    }

    /// A peer that has not finished the ZMTP handshake this long after connecting is dropped.
    public func setHandshakeTimeout(milliseconds: Int32) throws(ZeroMQError) {
        try setOption(ZMQ_HANDSHAKE_IVL, milliseconds, name: "ZMQ_HANDSHAKE_IVL")
    }

    /// TCP keepalive probes after `idleSeconds` of silence, every `intervalSeconds`,
    /// `count` of them before the kernel drops a dead peer.
    public func setTCPKeepalive(idleSeconds: Int32, intervalSeconds: Int32, count: Int32) throws(ZeroMQError) {
        try setOption(ZMQ_TCP_KEEPALIVE, Int32(1), name: "ZMQ_TCP_KEEPALIVE")
        try setOption(ZMQ_TCP_KEEPALIVE_IDLE, idleSeconds, name: "ZMQ_TCP_KEEPALIVE_IDLE")
        try setOption(ZMQ_TCP_KEEPALIVE_INTVL, intervalSeconds, name: "ZMQ_TCP_KEEPALIVE_INTVL")
        try setOption(ZMQ_TCP_KEEPALIVE_CNT, count, name: "ZMQ_TCP_KEEPALIVE_CNT")
    }

    /// The routing id this socket announces to the peers it connects to.
    public func setRoutingID(_ id: [UInt8]) throws(ZeroMQError) {
        try checked("zmq_setsockopt(ZMQ_ROUTING_ID)") {
            id.withUnsafeBytes { zmq_setsockopt(handle, ZMQ_ROUTING_ID, $0.baseAddress, $0.count) }
        }
    }

    /// Whether a message could be sent now without blocking (ZMQ_EVENTS has POLLOUT).
    public var canSend: Bool {
        var events: Int32 = 0
        var size = MemoryLayout<Int32>.size
        guard zmq_getsockopt(handle, ZMQ_EVENTS, &events, &size) == 0 else { return false }
        return events & Int32(ZMQ_POLLOUT) != 0
    }

    // MARK: Messages

    /// Sends one frame, copying `bytes`.
    public func send(_ bytes: UnsafeRawBufferPointer, more: Bool = false) throws(ZeroMQError) {
        let flags = more ? ZMQ_SNDMORE : 0
        try checked("zmq_send") { zmq_send(handle, bytes.baseAddress, bytes.count, flags) }
    }

    public func send(_ bytes: [UInt8], more: Bool = false) throws(ZeroMQError) {
        let flags = more ? ZMQ_SNDMORE : 0
        try checked("zmq_send") { bytes.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) } }
    }

    public func send(_ text: String, more: Bool = false) throws(ZeroMQError) {
        try send(Array(text.utf8), more: more)
    }

    /// Sends `message` as one frame without copying it; on success the message is left
    /// empty, on failure it keeps its bytes.
    /// - Returns: false when the send would block (or, for a ROUTER with
    ///   `setRouterMandatory`, when the peer's queue is full).
    public func trySend(_ message: Message, more: Bool = false) throws(ZeroMQError) -> Bool {
        let flags = ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0)
        while zmq_msg_send(&message.raw, handle, flags) < 0 {
            let error = zmq_errno()
            if error == EAGAIN { return false }
            if error != EINTR { throw ZeroMQError("zmq_msg_send", errno: error) }
        }
        return true
    }

    /// Sends `message` as one frame without copying it, blocking while it cannot go.
    public func send(_ message: Message, more: Bool = false) throws(ZeroMQError) {
        try checked("zmq_msg_send") { zmq_msg_send(&message.raw, handle, more ? ZMQ_SNDMORE : 0) }
    }

    /// The descriptor that libzmq makes readable when this socket's thread has commands
    /// waiting (ZMQ_FD): a message arrived, there is room to send again, a peer went.
    /// It says "call libzmq", not "a message is here": once a receive with `blocking:
    /// false` has found nothing, and until the next call on the socket, a message can
    /// only arrive with a command, so `poll(2)` on it waits for one; any call on the
    /// socket may take the command and empty it (and a message may then be queued),
    /// so try a receive again before waiting on it.
    public var fileDescriptor: Int32 {
        get throws(ZeroMQError) {
            var descriptor: Int32 = -1
            var size = MemoryLayout<Int32>.size
            try checked("zmq_getsockopt(ZMQ_FD)") { zmq_getsockopt(handle, ZMQ_FD, &descriptor, &size) }
            return descriptor
        }
    }

    /// Whether a message is queued to be received (ZMQ_EVENTS has POLLIN).
    public var canReceive: Bool {
        var events: Int32 = 0
        var size = MemoryLayout<Int32>.size
        guard zmq_getsockopt(handle, ZMQ_EVENTS, &events, &size) == 0 else { return false }
        return events & Int32(ZMQ_POLLIN) != 0
    }

    /// Sends `bytes` as one frame, copying them, without blocking.
    /// - Returns: false when the send would block.
    public func trySend(_ bytes: UnsafeRawBufferPointer, more: Bool = false) throws(ZeroMQError) -> Bool {
        let flags = ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0)
        while zmq_send(handle, bytes.baseAddress, bytes.count, flags) < 0 {
            let error = zmq_errno()
            if error == EAGAIN { return false }
            if error != EINTR { throw ZeroMQError("zmq_send", errno: error) }
        }
        return true
    }

    /// Receives one frame into `message` (replacing what it held) if one is queued.
    /// - Returns: false when none is.
    public func receive(into message: Message, blocking: Bool) throws(ZeroMQError) -> Bool {
        let flags = blocking ? 0 : ZMQ_DONTWAIT
        while zmq_msg_recv(&message.raw, handle, flags) < 0 {
            let error = zmq_errno()
            if error == EAGAIN { return false }
            if error != EINTR { throw ZeroMQError("zmq_msg_recv", errno: error) }
        }
        return true
    }

    /// Receives one frame, blocking until one arrives (or the context ends: ETERM).
    public func receive() throws(ZeroMQError) -> Message {
        let message = Message()
        try checked("zmq_msg_recv") { zmq_msg_recv(&message.raw, handle, 0) }
        return message
    }

    /// Receives one frame if one is queued, else nil.
    public func receiveIfReady() throws(ZeroMQError) -> Message? {
        let message = Message()
        while zmq_msg_recv(&message.raw, handle, ZMQ_DONTWAIT) < 0 {
            let error = zmq_errno()
            if error == EAGAIN { return nil }
            if error != EINTR { throw ZeroMQError("zmq_msg_recv", errno: error) }
        }
        return message
    }

    /// Receives every frame of one message.
    public func receiveMultipart() throws(ZeroMQError) -> [Message] {
        var frames = [try receive()]
        while frames[frames.count - 1].hasMore { frames.append(try receive()) }
        return frames
    }
}
