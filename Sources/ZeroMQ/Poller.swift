import CZeroMQ

/// zmq_poll over sockets and plain file descriptors together. The poll items are
/// built once, when sources are added, so a loop that waits on the same sources
/// allocates nothing per wait.
public struct Poller {
    public enum Source {
        case socket(Socket)
        case descriptor(Int32)
    }

    /// What to wait for on a source.
    public struct Interest: OptionSet, Sendable {
        public let rawValue: Int16
        public init(rawValue: Int16) { self.rawValue = rawValue }

        public static let readable = Interest(rawValue: Int16(ZMQ_POLLIN))
        public static let writable = Interest(rawValue: Int16(ZMQ_POLLOUT))
    }

    /// The sockets, kept alive as long as their handles are in `items`.
    private var sockets: [Socket] = []
    private var items: [zmq_pollitem_t] = []

    public init() {}

    public var count: Int { items.count }

    /// Adds a source. - Returns: its index, for `isReadable(_:)` and `isWritable(_:)`.
    @discardableResult
    public mutating func add(_ source: Source, interest: Interest = .readable) -> Int {
        switch source {
        case .socket(let socket):
            sockets.append(socket)
            items.append(zmq_pollitem_t(socket: socket.handle, fd: -1, events: interest.rawValue, revents: 0))
        case .descriptor(let fd):
            items.append(zmq_pollitem_t(socket: nil, fd: fd, events: interest.rawValue, revents: 0))
        }
        return items.count - 1
    }

    /// Changes what the wait looks for on the source at `index`.
    public mutating func setInterest(_ interest: Interest, at index: Int) {
        items[index].events = interest.rawValue
    }

    /// Waits until a source is ready or `timeoutMilliseconds` pass (-1: forever).
    /// - Returns: whether any source is ready; `isReadable(_:)` tells which.
    @discardableResult
    public mutating func wait(timeoutMilliseconds: Int) throws(ZeroMQError) -> Bool {
        let count = Int32(items.count)
        let ready = try checked("zmq_poll") { zmq_poll(&items, count, timeoutMilliseconds) }
        return ready > 0
    }

    /// Whether the source at `index` was readable at the last wait. POLLERR and
    /// POLLHUP on a descriptor count as readable: reading then tells what happened.
    public func isReadable(_ index: Int) -> Bool {
        items[index].revents & (Int16(ZMQ_POLLIN | ZMQ_POLLERR) | 0x10) != 0  // 0x10 = POLLHUP
    }

    /// Whether the source at `index` was writable at the last wait.
    public func isWritable(_ index: Int) -> Bool {
        items[index].revents & Int16(ZMQ_POLLOUT) != 0
    }
}
