public import CZeroMQ

/// zmq_poll over sockets and plain file descriptors together.
public struct Poller {
    public enum Source {
        case socket(Socket)
        case descriptor(Int32)
    }

    private var sources: [Source] = []

    public init() {}

    public mutating func add(_ source: Source) { sources.append(source) }

    /// Waits until a source is readable or `timeoutMilliseconds` pass (-1: forever).
    /// - Returns: for each source in the order added, whether it is readable.
    public func waitReadable(timeoutMilliseconds: Int) throws(ZeroMQError) -> [Bool] {
        var items = sources.map { source -> zmq_pollitem_t in
            switch source {
            case .socket(let socket):
                zmq_pollitem_t(socket: socket.handle, fd: -1, events: Int16(ZMQ_POLLIN), revents: 0)
            case .descriptor(let fd):
                zmq_pollitem_t(socket: nil, fd: fd, events: Int16(ZMQ_POLLIN), revents: 0)
            }
        }
        try checked("zmq_poll") { zmq_poll(&items, Int32(items.count), timeoutMilliseconds) }
        // POLLERR/POLLHUP on a descriptor count as readable: reading then tells what happened.
        let readableMask = Int16(ZMQ_POLLIN | ZMQ_POLLERR) | 0x10  // 0x10 = POLLHUP
        return items.map { $0.revents & readableMask != 0 }
    }
}
