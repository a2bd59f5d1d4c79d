import Glibc
import Posix
import ZeroMQ
import FilerSecurity

/// A broker's drain endpoint: worker hosts ask it to pause the proxy while one of their
/// workers leaves, and to resume after. A pause is a lease: it ends by itself after the
/// time asked for, so a worker host that dies mid-drain cannot stall the broker.
///
/// "pause LEASE SECONDS" is answered "paused LEASE" once the proxy has stopped (so
/// that the leaving worker's queue can only shrink); "resume LEASE" is answered at once.
final class DrainServer {
    enum Command: Equatable {
        case pause(lease: String, seconds: Int)
        case resume(lease: String)
    }

    static let maximumCommandSize = 256
    /// What the socket takes in one frame: a CURVE handshake's INITIATE command, with the
    /// peer's metadata, passes 256 bytes, and libzmq holds handshake commands to the same
    /// ZMQ_MAXMSGSIZE as messages (a limit of 256 refused every worker host with keys).
    static let maximumFrameSize = 4096
    /// Commands read per turn of the master's loop, so that a flood cannot hold it.
    static let commandsPerTurn = 64

    /// The longest pause a worker host may ask for.
    static let maximumSeconds = 60

    let socket: Socket
    /// Who asked for each pause not yet confirmed: the routing id to answer.
    private var askers: [String: [UInt8]] = [:]

    /// Binds `endpoint` (a CURVE server when the broker has keys: worker hosts' keys
    /// must be authorized, as for the backend).
    init(context: Context, endpoint: String, curve: Curve.KeyPair?) throws(ZeroMQError) {
        socket = try Socket(context, .router)
        try socket.setLinger(milliseconds: 0)
        // A command is a few words: a peer that sends a great deal more is cut off, and
        // one that floods has at most this many waiting.
        try socket.setMaximumMessageSize(Int64(Self.maximumFrameSize))
        try socket.setHighWaterMarks(send: 64, receive: 64)
        if let curve {
            try socket.setZAPDomain(ZAP.workerDomain)
            try socket.makeCurveServer(curve)
        }
        try socket.bind(endpoint)
    }

    /// Reads every command waiting. Resumes are answered at once; malformed ones too.
    func read() throws(ZeroMQError) -> [Command] {
        var commands: [Command] = []
        var read = 0
        while read < Self.commandsPerTurn, let identity = try socket.receiveIfReady() {
            read += 1
            guard identity.hasMore else { continue }
            var frames = [try socket.receive()]
            while frames[frames.count - 1].hasMore { frames.append(try socket.receive()) }
            let command = frames.last!.bytes
            let words = command.count > Self.maximumCommandSize
                ? [] : String(decoding: command, as: UTF8.self).split(separator: " ").map(String.init)
            switch (words.first, words.count) {
            case ("pause", 3) where (Int(words[2]) ?? 0) > 0:
                askers[words[1]] = identity.bytes
                commands.append(.pause(lease: words[1], seconds: min(Int(words[2])!, Self.maximumSeconds)))
            case ("resume", 2):
                commands.append(.resume(lease: words[1]))
                try answer(identity.bytes, "resumed \(words[1])")
            default:
                try answer(identity.bytes, "error: expected 'pause LEASE SECONDS' or 'resume LEASE'")
            }
        }
        return commands
    }

    /// The proxy has stopped: tells the askers of these pauses.
    func confirm(_ leases: [String]) throws(ZeroMQError) {
        for lease in leases {
            guard let identity = askers.removeValue(forKey: lease) else { continue }
            try answer(identity, "paused \(lease)")
        }
    }

    private func answer(_ identity: [UInt8], _ text: String) throws(ZeroMQError) {
        // A worker host that has gone is no error: its lease ends by itself.
        do {
            try socket.send(identity, more: true)
            try socket.send(text)
        } catch where error.errno == EHOSTUNREACH {}
    }
}
