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

    /// Peers sending a message larger than this are disconnected.
    public func setMaximumMessageSize(_ bytes: Int64) throws(ZeroMQError) {
        try setOption(ZMQ_MAXMSGSIZE, bytes, name: "ZMQ_MAXMSGSIZE")
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

/// One received frame; its bytes stay valid as long as the value lives.
public final class Message {
    var raw = zmq_msg_t()

    init() { zmq_msg_init(&raw) }

    deinit { zmq_msg_close(&raw) }

    public var count: Int { zmq_msg_size(&raw) }

    /// Whether more frames of the same message follow.
    public var hasMore: Bool { zmq_msg_more(&raw) != 0 }

    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(start: zmq_msg_data(&raw), count: zmq_msg_size(&raw)))
    }

    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}
