import Glibc
import FilerMetrics
import Posix

/// A plain TCP client for the tests, on a non-blocking socket, so that one thread can
/// play both the client and the event loop that drives the server.
final class TestClient {
    private(set) var fd: Int32
    private(set) var received: [UInt8] = []
    private(set) var closedByServer = false

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// - Parameter receiveBuffer: SO_RCVBUF, set before connecting so that the TCP window
    ///   is small: the server then has to write a large response in parts.
    init(port: Int, receiveBuffer: Int32? = nil) throws {
        // Close-on-exec: a process another test starts meanwhile must not keep it open.
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        if var size = receiveBuffer {
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        // A loopback connect completes in the kernel's backlog, before any accept.
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(fd)
            throw Failure(description: "connect: errno \(errno)")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    deinit { disconnect() }

    func disconnect() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent > 0 { offset += sent } else { break }
        }
    }

    func send(_ text: String) { send(Array(text.utf8)) }

    /// Reads what has come; notes when the server closed (or reset) the connection.
    func poll() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !closedByServer {
            let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if got > 0 {
                received += buffer.prefix(got)
            } else if got == 0 || errno != EAGAIN {
                closedByServer = true
            } else {
                return
            }
        }
    }

    var text: String { String(decoding: received, as: UTF8.self) }
}

/// Runs the server's side of the loop as the master would: poll its one descriptor,
/// handle what is ready, until `done` or `seconds` pass. - Returns: whether `done` came.
@discardableResult
func drive(
    _ server: MetricsServer, snapshot: @autoclosure () -> MetricsSnapshot = MetricsSnapshot(version: "test"),
    seconds: Double = 5, until done: () throws -> Bool
) throws -> Bool {
    let end = MonotonicInstant.now().adding(seconds: seconds)
    while MonotonicInstant.now() < end {
        if try done() { return true }
        var item = pollfd(fd: server.descriptor, events: Int16(POLLIN), revents: 0)
        if Glibc.poll(&item, 1, 5) > 0 { try server.handleEvents(snapshot: snapshot) }
    }
    return try done()
}

/// Sends `request` on a new connection and returns all the server answered before it
/// closed its side; then the client closes too.
func exchange(
    _ server: MetricsServer, _ request: String, snapshot: MetricsSnapshot = MetricsSnapshot(version: "test"),
    receiveBuffer: Int32? = nil
) throws -> String {
    let client = try TestClient(port: server.url.port, receiveBuffer: receiveBuffer)
    client.send(request)
    try drive(server, snapshot: snapshot) {
        client.poll()
        return client.closedByServer
    }
    client.disconnect()
    return client.text
}

/// A response split into its status line, headers (names lowercased) and body.
struct Response {
    let status: String
    let headers: [String: String]
    let body: String

    init(_ text: String) {
        let parts = text.split(separator: "\r\n\r\n", maxSplits: 1, omittingEmptySubsequences: false)
        let lines = parts[0].split(separator: "\r\n")
        status = lines.first.map(String.init) ?? ""
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingPrefix(" ").description
        }
        self.headers = headers
        body = parts.count > 1 ? String(parts[1]) : ""
    }
}
