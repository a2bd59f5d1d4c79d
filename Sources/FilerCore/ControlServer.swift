import Glibc
import Posix
import ZeroMQ

/// The master's control endpoint, which `filer status` asks. An ipc socket is created
/// under umask 077 (mode 0700), so only the service's user (and root) can connect.
public final class ControlServer {
    public let endpoint: String
    let socket: Socket
    private let context: Context
    /// Called for the test-only fault command; nil (the command is unknown) unless
    /// the daemon was started with FILER_TEST_FAULTS=1.
    var onFault: (() -> Void)?

    public init(endpoint: String) throws {
        self.endpoint = endpoint
        context = try Context()
        socket = try Socket(context, .reply)
        try socket.setLinger(milliseconds: 0)
        Files.makeParentDirectory(ofIPCEndpoint: endpoint)
        let previous = umask(0o077)
        defer { umask(previous) }
        try socket.bind(endpoint)
    }

    /// Answers one waiting request, if any: `status` gets the report as JSON.
    func answer(with report: () -> StatusReport) {
        guard let request = try? socket.receiveIfReady() else { return }
        let command = String(decoding: request.bytes, as: UTF8.self)
        var reply: [UInt8]
        switch command {
        case "status":
            reply = report().json()
        case "fault silence-proxy" where onFault != nil:
            onFault?()
            reply = Array(#"{"fault":"silence-proxy"}"#.utf8)
        default:
            reply = Array(#"{"error":"unknown command"}"#.utf8)
        }
        try? socket.send(reply)
    }
}

/// The `filer status` side: one request to the control endpoint, no retries.
public enum ControlClient {
    /// - Returns: the report, or nil when no answer came within `timeout` seconds.
    public static func status(endpoint: String, timeout: Double) throws -> StatusReport? {
        let client = LazyPirateClient(endpoint: endpoint, timeout: timeout, retries: 0)
        do {
            return try StatusReport.decode(try client.send(Array("status".utf8)))
        } catch LazyPirateClient.Failure.noReply {
            return nil
        }
    }
}
