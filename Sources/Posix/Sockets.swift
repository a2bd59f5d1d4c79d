import Glibc
import CFilerLinux

/// A numeric IPv4 or IPv6 address. Names are not resolved here: a resolver may block,
/// and the master that listens must not.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// The address in network order: 4 bytes for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    /// Parses "127.0.0.1" or "::1" (no brackets); nil for anything else.
    public init?(parsing text: String) {
        var buffer = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET, text, &buffer) == 1 {
            bytes = Array(buffer.prefix(4))
        } else if inet_pton(AF_INET6, text, &buffer) == 1 {
            bytes = buffer
        } else {
            return nil
        }
    }

    public var isIPv6: Bool { bytes.count == 16 }

    /// Whether only this machine can reach it: 127.0.0.0/8, ::1, or ::ffff:127.x.x.x.
    public var isLoopback: Bool {
        if !isIPv6 { return bytes[0] == 127 }
        if bytes == [UInt8](repeating: 0, count: 15) + [1] { return true }
        return bytes.prefix(12) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] && bytes[12] == 127
    }

    /// The canonical text form ("::1", not "0:0:0:0:0:0:0:1").
    public var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(isIPv6 ? AF_INET6 : AF_INET, bytes, &text, socklen_t(text.count)) != nil else {
            preconditionFailure("inet_ntop failed on an address inet_pton made")
        }
        return String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// What a non-blocking receive found.
public enum Received: Equatable {
    case bytes([UInt8])
    /// The peer shut down its sending side.
    case end
    /// Nothing is there now.
    case wouldBlock
}

/// TCP sockets that never block, for a small listener inside an event loop.
public enum Sockets {
    /// A non-blocking, close-on-exec TCP socket listening on `address`:`port` (0: the
    /// kernel picks a port; `localPort(of:)` tells which).
    /// - Throws: `SystemError` naming `socket`, `setsockopt(SO_REUSEADDR)`, `bind` or `listen`.
    public static func listen(on address: IPAddress, port: Int, backlog: Int32) throws(SystemError) -> FileDescriptor {
        let socket = FileDescriptor(owning: try retryingInterrupts("socket") {
            Glibc.socket(address.isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        })
        // A restarted daemon must bind at once, even while the last one's connections
        // sit in TIME_WAIT.
        var on: Int32 = 1
        try retryingInterrupts("setsockopt(SO_REUSEADDR)") {
            setsockopt(socket.rawValue, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        }
        try retryingInterrupts("bind(\(address.isIPv6 ? "[\(address)]" : "\(address)"):\(port))") {
            filer_bind_inet(socket.rawValue, address.bytes, address.bytes.count, Int32(port))
        }
        try retryingInterrupts("listen") { Glibc.listen(socket.rawValue, backlog) }
        return socket
    }

    /// The port a bound socket listens on.
    public static func localPort(of socket: borrowing FileDescriptor) throws(SystemError) -> Int {
        Int(try retryingInterrupts("getsockname") { filer_local_port(socket.rawValue) })
    }

    /// Takes one connection from a listening socket; it comes non-blocking and close-on-exec.
    /// - Returns: nil when none is waiting, or when the one waiting went away before it
    ///   was taken (ECONNABORTED): the caller simply tries again at the next readiness.
    /// - Throws: `SystemError` naming `accept4`; EMFILE and ENFILE (out of descriptors)
    ///   leave the connection waiting, so a caller must stop polling the listener awhile.
    public static func accept(_ listener: borrowing FileDescriptor) throws(SystemError) -> FileDescriptor? {
        while true {
            let raw = filer_accept(listener.rawValue)
            if raw >= 0 { return FileDescriptor(owning: raw) }
            let error = errno
            switch error {
            case EINTR: continue
            case EAGAIN, ECONNABORTED: return nil
            default: throw SystemError("accept4", errno: error)
            }
        }
    }
}

extension FileDescriptor {
    /// Receives at most `count` bytes from a non-blocking socket.
    /// - Throws: `SystemError` naming `recv` (ECONNRESET: the peer reset the connection).
    public func receive(upTo count: Int) throws(SystemError) -> Received {
        var buffer = [UInt8](repeating: 0, count: count)
        while true {
            let got = buffer.withUnsafeMutableBytes { raw in recv(rawValue, raw.baseAddress, count, 0) }
            if got > 0 { return .bytes(Array(buffer.prefix(got))) }
            if got == 0 { return .end }
            let error = errno
            if error == EINTR { continue }
            if error == EAGAIN { return .wouldBlock }
            throw SystemError("recv", errno: error)
        }
    }

    /// Sends what a non-blocking socket takes now of `bytes`; MSG_NOSIGNAL, so a peer that
    /// left is an EPIPE error, not a SIGPIPE.
    /// - Returns: how many bytes it took, 0 when it would block.
    /// - Throws: `SystemError` naming `send` (EPIPE, ECONNRESET: the peer is gone).
    public func send(_ bytes: ArraySlice<UInt8>) throws(SystemError) -> Int {
        while true {
            let sent = bytes.withUnsafeBytes { raw in Glibc.send(rawValue, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL)) }
            if sent >= 0 { return sent }
            let error = errno
            if error == EINTR { continue }
            if error == EAGAIN { return 0 }
            throw SystemError("send", errno: error)
        }
    }

    /// Ends the sending side of a connected socket (a FIN after what is queued), so the peer
    /// sees the end of the response while what it still sends can be read and dropped.
    /// - Throws: `SystemError` naming `shutdown` (ENOTCONN: the peer is gone already).
    public func shutdownSending() throws(SystemError) {
        try retryingInterrupts("shutdown") { shutdown(rawValue, Int32(SHUT_WR)) }
    }
}

extension SystemError {
    /// The process or the system ran out of descriptors or memory (EMFILE, ENFILE,
    /// ENOBUFS, ENOMEM): retrying at once would fail the same way.
    public var isOutOfResources: Bool { [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(errno) }
}
