public import Glibc
import CFilerLinux

/// A failed system call: which call, and the errno it left.
public struct SystemError: Error, CustomStringConvertible, Equatable {
    public let call: String
    public let errno: Int32

    public init(_ call: String, errno: Int32 = Glibc.errno) {
        self.call = call
        self.errno = errno
    }

    /// The symbolic name of the error ("ENOENT").
    public var code: String { Errno.name(errno) }

    public var description: String {
        "\(call): \(String(cString: strerror(errno))) (\(code))"
    }
}

public enum Errno {
    /// The symbolic name of an errno value, as C code and Node.js spell it.
    public static func name(_ value: Int32) -> String {
        if let name = filer_errno_name(value) { return String(cString: name) }
        return "E\(value)"
    }
}

/// Runs a system call, retrying it while it fails with EINTR.
/// - Returns: the call's non-negative result.
/// - Throws: `SystemError` naming `call` when it returns -1.
@discardableResult
public func retryingInterrupts<Result: BinaryInteger>(
    _ call: String, _ body: () -> Result
) throws(SystemError) -> Result {
    while true {
        let result = body()
        if result != -1 { return result }
        if errno != EINTR { throw SystemError(call) }
    }
}
