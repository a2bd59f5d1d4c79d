import CZeroMQ
import Glibc

/// One received frame; its bytes stay valid as long as the value lives.
public final class Message {
    /// Unchecked: libzmq's calls are the only accesses, each one C call that calls no
    /// Swift back, so no two can overlap (`move` rules out a message moved into itself).
    /// The runtime's check of each access cost about 80 instructions, several times per
    /// frame (callgrind, bench/profile).
    @exclusivity(unchecked) var raw = zmq_msg_t()

    public init() { zmq_msg_init(&raw) }

    /// A message that owns `data` (from `malloc`) without copying it: libzmq frees it,
    /// from whichever thread sends it last, once it is on the wire.
    public init(takingMallocated data: UnsafeMutableRawPointer, count: Int) {
        let rc = zmq_msg_init_data(&raw, data, count, { data, _ in free(data) }, nil)
        // Fails only on ENOMEM for the message's own bookkeeping: libzmq did not take the data.
        if rc != 0 {
            zmq_msg_init_size(&raw, count)
            zmq_msg_data(&raw).copyMemory(from: data, byteCount: count)
            free(data)
        }
    }

    deinit { zmq_msg_close(&raw) }

    public var count: Int { zmq_msg_size(&raw) }

    /// Takes `other`'s content without copying it; `other` is left empty.
    public func move(_ other: Message) {
        precondition(other !== self, "a message moved into itself")
        zmq_msg_move(&raw, &other.raw)
    }

    /// Whether more frames of the same message follow.
    public var hasMore: Bool { zmq_msg_more(&raw) != 0 }

    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(start: zmq_msg_data(&raw), count: zmq_msg_size(&raw)))
    }

    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}
