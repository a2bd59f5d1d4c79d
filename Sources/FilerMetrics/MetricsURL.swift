public import Posix

/// Where `/metrics` is served: the configuration's `metrics: http://HOST:PORT/PATH`.
/// HOST is a numeric address ("127.0.0.1", "[::1]", "0.0.0.0") or "localhost", which
/// means 127.0.0.1: other names are refused, since resolving one may block.
public struct MetricsURL: Equatable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    /// 0 only when made in code: the kernel then picks a free port (for tests).
    public let port: Int
    /// Starts with "/"; the only path answered with 200.
    public let path: String

    /// Why a text is not such a URL.
    public struct Problem: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    public init(address: IPAddress, port: Int, path: String) {
        precondition((0...65535).contains(port) && path.hasPrefix("/"), "a metrics URL needs a port and an absolute path")
        self.address = address
        self.port = port
        self.path = path
    }

    /// Parses `http://HOST:PORT/PATH`, and refuses anything else: another scheme (there
    /// is no TLS here), a user, a missing port or path, a query or a fragment.
    public init(parsing text: String) throws(Problem) {
        let scheme = "http://"
        guard text.hasPrefix(scheme) else {
            throw Problem(description: "\"\(text)\" is not http://HOST:PORT/PATH (only plain http is served)")
        }
        let rest = text.dropFirst(scheme.count)
        guard let slash = rest.firstIndex(of: "/") else {
            throw Problem(description: "\"\(text)\" has no path: expected http://HOST:PORT/PATH, as http://127.0.0.1:9464/metrics")
        }
        let authority = rest[..<slash]
        let path = String(rest[slash...])
        guard !authority.contains("@") else { throw Problem(description: "\"\(text)\": a metrics URL takes no user") }
        guard let colon = authority.lastIndex(of: ":"), !authority[colon...].contains("]") else {
            throw Problem(description: "\"\(text)\" has no port: expected http://HOST:PORT/PATH")
        }
        guard let port = Int(authority[authority.index(after: colon)...]), (1...65535).contains(port) else {
            throw Problem(description: "\"\(text)\": the port must be a number from 1 to 65535")
        }
        let address = try Self.address(String(authority[..<colon]), in: text)
        guard path.unicodeScalars.allSatisfy(Self.isPathCharacter) else {
            throw Problem(description: "\"\(text)\": the path may hold letters, digits and -._~!$&'()*+,;=:@%/ only (no query or fragment)")
        }
        self.init(address: address, port: port, path: path)
    }

    /// Whether only this machine can reach the listener.
    public var isLoopback: Bool { address.isLoopback }

    public var description: String {
        "http://\(address.isIPv6 ? "[\(address)]" : "\(address)"):\(port)\(path)"
    }

    private static func address(_ host: String, in text: String) throws(Problem) -> IPAddress {
        if host == "localhost", let loopback = IPAddress(parsing: "127.0.0.1") { return loopback }
        if host.hasPrefix("[") && host.hasSuffix("]"), let address = IPAddress(parsing: String(host.dropFirst().dropLast())),
            address.isIPv6
        {
            return address
        }
        if !host.contains(":"), let address = IPAddress(parsing: host), !address.isIPv6 { return address }
        throw Problem(
            description: "\"\(text)\": \"\(host)\" is not an IPv4 address, an [IPv6] address or localhost "
                + "(names are not resolved)")
    }

    /// RFC 3986's path characters, less nothing: unreserved, percent, sub-delims, ":", "@", "/".
    private static func isPathCharacter(_ scalar: Unicode.Scalar) -> Bool {
        guard scalar.isASCII else { return false }
        let byte = UInt8(scalar.value)
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "-._~%!$&'()*+,;=:@/".utf8.contains(byte)
        }
    }
}
