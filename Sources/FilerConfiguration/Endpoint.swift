/// A ZeroMQ endpoint the configuration names, checked before libzmq sees it: libzmq's
/// own errors for a bad address ("No such device" for tcp://999.1.1.1:1) point the
/// wrong way.
public struct Endpoint: Equatable, Sendable, CustomStringConvertible {
    public enum Transport: Equatable, Sendable {
        /// `tcp://HOST:PORT`: HOST an IPv4 address, `[IPv6]`, `*`, a host or interface name.
        case tcp(host: String, port: Int)
        /// `ipc://PATH` (`@name` for Linux's abstract namespace).
        case ipc(path: String)
    }

    public let transport: Transport
    public let description: String

    /// The longest ipc path: sockaddr_un holds 108 bytes, the last one a NUL.
    public static let maximumIPCPathLength = 107

    public init(parsing text: String) throws(Problem) {
        description = text
        if text.hasPrefix("ipc://") {
            let path = String(text.dropFirst("ipc://".count))
            guard !path.isEmpty else { throw Problem("\(ConfigurationValues.quoted(text)) names no path") }
            guard path.utf8.count <= Self.maximumIPCPathLength else {
                throw Problem(
                    "the ipc path is \(path.utf8.count) bytes long; the kernel takes at most \(Self.maximumIPCPathLength)")
            }
            transport = .ipc(path: path)
        } else if text.hasPrefix("tcp://") {
            transport = try Self.tcp(String(text.dropFirst("tcp://".count)), whole: text)
        } else {
            throw Problem("\(ConfigurationValues.quoted(text)) is not a tcp:// or ipc:// endpoint")
        }
    }

    private static func tcp(_ address: String, whole: String) throws(Problem) -> Transport {
        guard let colon = address.lastIndex(of: ":") else {
            throw Problem("\(ConfigurationValues.quoted(whole)) has no port: expected tcp://ADDRESS:PORT")
        }
        let host = String(address[..<colon])
        let portText = address[address.index(after: colon)...]
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw Problem("\(ConfigurationValues.quoted(whole)): the port must be a number from 1 to 65535")
        }
        guard isHost(host) else {
            throw Problem("\(ConfigurationValues.quoted(whole)): \(ConfigurationValues.quoted(host)) is not an address, a host name or an interface")
        }
        return .tcp(host: host, port: port)
    }

    private static func isHost(_ host: String) -> Bool {
        if host == "*" { return true }
        if host.hasPrefix("[") && host.hasSuffix("]") {
            let inner = host.dropFirst().dropLast()
            return !inner.isEmpty && inner.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
        }
        if !host.isEmpty && host.allSatisfy({ $0.isNumber || $0 == "." }) {
            // Digits and dots: it must be a dotted quad.
            let octets = host.split(separator: ".", omittingEmptySubsequences: false)
            return octets.count == 4 && octets.allSatisfy { Int($0).map { (0...255).contains($0) } ?? false }
        }
        return !host.isEmpty && host.utf8.count <= 253
            && host.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_") }
    }

    /// Whether only this machine can reach it: an ipc path, or TCP on a loopback address.
    public var isLocal: Bool {
        switch transport {
        case .ipc: true
        case .tcp(let host, _): host.hasPrefix("127.") || host == "localhost" || host == "[::1]" || host == "lo"
        }
    }
}
