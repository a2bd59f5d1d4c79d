import Glibc
import Posix
import ZeroMQ

/// The wait of an idle worker: poll(2) on the socket's descriptor and the signals'.
/// zmq_poll makes three system calls more a wait before it waits: a poll(2) with no
/// timeout, and a ZMQ_EVENTS query (getpid, poll) on the socket (strace).
struct IdleWait {
    private var descriptors: [pollfd]

    init(socket: Socket, signals: Int32) throws(ZeroMQError) {
        descriptors = [
            pollfd(fd: try socket.fileDescriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: signals, events: Int16(POLLIN), revents: 0),
        ]
    }

    /// Waits until the socket needs a call or a signal comes, or `timeoutMilliseconds` pass.
    /// - Returns: whether a signal may be pending.
    mutating func wait(timeoutMilliseconds: Int) throws(SystemError) -> Bool {
        let count = nfds_t(descriptors.count)
        let ready = descriptors.withUnsafeMutableBufferPointer { poll($0.baseAddress, count, Int32(timeoutMilliseconds)) }
        if ready < 0 {
            guard errno == EINTR else { throw SystemError("poll", errno: errno) }
            return true
        }
        return descriptors[1].revents != 0
    }
}
