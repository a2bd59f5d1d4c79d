import Glibc
import Posix
import ZeroMQ

/// The master's control endpoint, which `filer status` asks. An ipc socket is created
/// under umask 077 (mode 0700), so only the service's user (and root) can connect.
final class ControlServer {
    let endpoint: String
    private let context: Context
    private(set) var socket: Socket

    /// The socket file it made, to remove when it goes (libzmq 4.3.4 leaves it).
    private var socketFile: SocketIdentity?

    init(endpoint: String) throws(ZeroMQError) {
        self.endpoint = endpoint
        context = try Context()
        socket = try Self.bind(endpoint, context: context)
        socketFile = Files.socketIdentity(ofIPCEndpoint: endpoint)
    }

    /// A reload moved the endpoint, or the daemon ends: the file goes too, unless
    /// another process has bound that path since.
    deinit {
        if let socketFile { Files.removeSocketFile(ofIPCEndpoint: endpoint, ifStill: socketFile) }
    }

    private static func bind(_ endpoint: String, context: Context) throws(ZeroMQError) -> Socket {
        let socket = try Socket(context, .reply)
        try socket.setLinger(milliseconds: 0)
        // A `filer status` that asked and left must not hold a reply here for good.
        try socket.setSendTimeout(milliseconds: 100)
        Files.makeParentDirectory(ofIPCEndpoint: endpoint)
        let previous = umask(0o077)
        defer { umask(previous) }
        try socket.bind(endpoint)
        return socket
    }

    /// Answers every waiting request with what `answer` makes of its command.
    /// - Throws: `ZeroMQError` when a reply could not be sent; the socket is then bound
    ///   anew, since a REP socket that failed to reply cannot take the next request.
    func answerWaiting(_ answer: (String) -> [UInt8]) throws(ZeroMQError) {
        while let request = try socket.receiveIfReady() {
            let command = String(decoding: request.bytes, as: UTF8.self)
            do throws(ZeroMQError) {
                try socket.send(answer(command))
            } catch {
                socket = try Self.bind(endpoint, context: context)
                socketFile = Files.socketIdentity(ofIPCEndpoint: endpoint)
                throw error
            }
        }
    }
}
