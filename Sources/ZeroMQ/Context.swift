import CZeroMQ

/// A ZeroMQ context. Sockets keep their context alive; the context is
/// terminated when the last reference goes, after every socket has closed.
public final class Context: @unchecked Sendable {
    // zmq contexts are thread-safe by libzmq's contract.
    let handle: UnsafeMutableRawPointer

    public init(ioThreads: Int32 = 1) throws(ZeroMQError) {
        guard let handle = zmq_ctx_new() else { throw ZeroMQError("zmq_ctx_new") }
        self.handle = handle
        if ioThreads != 1 {
            try checked("zmq_ctx_set(ZMQ_IO_THREADS)") { zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads) }
        }
    }

    /// Makes every blocking call on this context's sockets return ETERM (used to stop
    /// a thread that is blocked in the proxy). Safe to call from any thread.
    public func shutdown() {
        _ = zmq_ctx_shutdown(handle)
    }

    deinit {
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }
}
