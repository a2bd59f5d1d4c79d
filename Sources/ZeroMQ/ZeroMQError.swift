public import CZeroMQ
import Glibc

/// A failed libzmq call: which call, and the errno it left (`zmq_errno()`).
public struct ZeroMQError: Error, CustomStringConvertible, Equatable {
    public let call: String
    public let errno: Int32

    public init(_ call: String, errno: Int32 = zmq_errno()) {
        self.call = call
        self.errno = errno
    }

    /// The context was terminated: the normal end of a blocking call at shutdown.
    public var isTerminated: Bool { errno == ETERM }

    public var description: String {
        "\(call): \(String(cString: zmq_strerror(errno)))"
    }
}

/// Runs a libzmq call, retrying while it fails with EINTR; throws on any other failure.
@discardableResult
func checked(_ call: @autoclosure () -> String, _ body: () -> Int32) throws(ZeroMQError) -> Int32 {
    while true {
        let result = body()
        if result >= 0 { return result }
        let error = zmq_errno()
        if error != EINTR { throw ZeroMQError(call(), errno: error) }
    }
}
