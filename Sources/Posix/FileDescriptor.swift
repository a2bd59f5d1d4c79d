import Glibc
import CFilerLinux

/// An open file descriptor that this value owns: it is closed exactly once,
/// when the value is consumed by `close()` or goes out of scope.
public struct FileDescriptor: ~Copyable {
    public let rawValue: Int32

    public init(owning rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// Gives up ownership without closing (for a descriptor handed to a child).
    public consuming func release() -> Int32 {
        let value = rawValue
        discard self
        return value
    }

    deinit {
        // close(2) must not be retried on EINTR on Linux: the descriptor is gone either way.
        _ = Glibc.close(rawValue)
    }

    /// Reads at most `count` bytes; returns an empty array at end of file.
    public func read(upTo count: Int) throws(SystemError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        let got = try retryingInterrupts("read") {
            buffer.withUnsafeMutableBytes { raw in Glibc.read(rawValue, raw.baseAddress, count) }
        }
        buffer.removeSubrange(got...)
        return buffer
    }

    /// Reads to end of file. - Throws: `SystemError` (EFBIG past `maximumBytes`), naming `path`.
    public func readToEnd(path: String, maximumBytes: Int) throws(SystemError) -> [UInt8] {
        var bytes: [UInt8] = []
        while true {
            let chunk = try read(upTo: 65536)
            if chunk.isEmpty { return bytes }
            bytes += chunk
            if bytes.count > maximumBytes { throw SystemError("read(\(path)): over \(maximumBytes) bytes", errno: EFBIG) }
        }
    }

    /// Writes all of `bytes`, looping over short writes.
    public func writeAll(_ bytes: some Collection<UInt8>) throws(SystemError) {
        let array = Array(bytes)
        var offset = 0
        while offset < array.count {
            let wrote = try retryingInterrupts("write") {
                array.withUnsafeBytes { raw in Glibc.write(rawValue, raw.baseAddress! + offset, array.count - offset) }
            }
            offset += wrote
        }
    }

    /// Marks the descriptor non-blocking.
    public func setNonBlocking() throws(SystemError) {
        let flags = try retryingInterrupts("fcntl(F_GETFL)") { fcntl(rawValue, F_GETFL) }
        try retryingInterrupts("fcntl(F_SETFL)") { fcntl(rawValue, F_SETFL, flags | O_NONBLOCK) }
    }
}

/// The two ends of a pipe.
@frozen
public struct Pipe: ~Copyable {
    public let read: FileDescriptor
    public let write: FileDescriptor
}

/// A pipe; both ends close-on-exec, so only a deliberate dup2 hands one to a child.
public func makePipe() throws(SystemError) -> Pipe {
    var ends: [Int32] = [-1, -1]
    try retryingInterrupts("pipe2") { filer_pipe_cloexec(&ends) }
    return Pipe(read: FileDescriptor(owning: ends[0]), write: FileDescriptor(owning: ends[1]))
}
