import CZeroMQ

/// zmq_poll over sockets and plain file descriptors together. The poll items are
/// built once, when sources are added, so a loop that waits on the same sources
/// allocates nothing per wait.
public struct Poller {
    public enum Source {
        case socket(Socket)
        case descriptor(Int32)
    }

    /// The sockets, kept alive as long as their handles are in `items`.
    private var sockets: [Socket] = []
    private var items: [zmq_pollitem_t] = []

    public init() {}

    public mutating func add(_ source: Source) {
        switch source {
        case .socket(let socket):
            sockets.append(socket)
            items.append(zmq_pollitem_t(socket: socket.handle, fd: -1, events: Int16(ZMQ_POLLIN), revents: 0))
        case .descriptor(let fd):
            items.append(zmq_pollitem_t(socket: nil, fd: fd, events: Int16(ZMQ_POLLIN), revents: 0))
        }
    }

    /// Waits until a source is readable or `timeoutMilliseconds` pass (-1: forever).
    /// - Returns: whether any source is readable; `isReadable(_:)` tells which.
    @discardableResult
    public mutating func wait(timeoutMilliseconds: Int) throws(ZeroMQError) -> Bool {
        let count = Int32(items.count)
        let ready = try checked("zmq_poll") { zmq_poll(&items, count, timeoutMilliseconds) }
        return ready > 0
    }

    /// Whether the source added `index`-th was readable at the last wait. POLLERR and
    /// POLLHUP on a descriptor count as readable: reading then tells what happened.
    public func isReadable(_ index: Int) -> Bool {
        items[index].revents & (Int16(ZMQ_POLLIN | ZMQ_POLLERR) | 0x10) != 0  // 0x10 = POLLHUP
    }
}
