import FoundationEssentials
public import ZeroMQ

/// One request with the Lazy Pirate pattern (ZeroMQ guide, chapter 4): wait for the
/// reply a bounded time; on silence, throw the REQ socket away (it is stuck in its
/// send state), open a new one and send again, a bounded number of times. Given
/// several servers, each attempt goes to the next one in turn (the guide's failover):
/// a broker that does not answer costs one timeout, not the request.
public struct LazyPirateClient {
    public enum Failure: Error, CustomStringConvertible {
        case noReply(attempts: Int, endpoints: [String])
        case transport(ZeroMQError)
        case malformedReply(String)

        public var description: String {
            switch self {
            case .noReply(let attempts, let endpoints): "no reply from \(endpoints.joined(separator: " or ")) after \(attempts) attempts"
            case .transport(let error): "\(error)"
            case .malformedReply(let why): "the reply is not a filer reply: \(why)"
            }
        }
    }

    /// A CURVE client's keys: its own pair, and the server's public key.
    public struct Curve: Sendable {
        public var keyPair: ZeroMQ.Curve.KeyPair
        public var serverKey: ZeroMQ.Curve.Key

        public init(keyPair: ZeroMQ.Curve.KeyPair, serverKey: ZeroMQ.Curve.Key) {
            self.keyPair = keyPair
            self.serverKey = serverKey
        }
    }

    /// The servers, tried in turn.
    public var endpoints: [String]
    public var timeout: Double
    public var retries: Int
    public var curve: Curve?

    public init(endpoints: [String], timeout: Double, retries: Int, curve: Curve? = nil) {
        precondition(!endpoints.isEmpty, "a client needs a server")
        self.endpoints = endpoints
        self.timeout = timeout
        self.retries = retries
        self.curve = curve
    }

    /// Sends `request` and returns the reply frame.
    public func send(_ request: [UInt8]) throws(Failure) -> [UInt8] {
        do {
            let context = try Context()
            for attempt in 0...retries {
                let socket = try Socket(context, .request)
                // A retried socket must not hold the process open with its unsent request.
                try socket.setLinger(milliseconds: 0)
                if let curve { try socket.makeCurveClient(curve.keyPair, serverKey: curve.serverKey) }
                try socket.connect(endpoints[attempt % endpoints.count])
                try socket.send(request)
                var poller = Poller()
                poller.add(.socket(socket))
                if try poller.wait(timeoutMilliseconds: Int(timeout * 1000)) {
                    return try socket.receive().bytes
                }
            }
        } catch {
            throw .transport(error)
        }
        throw .noReply(attempts: retries + 1, endpoints: endpoints)
    }

    /// What a reply says: the file's bytes, or the server's error.
    public static func decodeReply(_ reply: [UInt8]) throws(Failure) -> Result<[UInt8], ServerError> {
        struct Wire: Decodable {
            struct ErrorBody: Decodable {
                var code: String
                var message: String
            }
            var content: String?
            var encoding: String?
            var error: ErrorBody?
        }
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: Data(reply))
        } catch {
            throw .malformedReply("\(error)")
        }
        if let error = wire.error { return .failure(ServerError(code: error.code, message: error.message)) }
        guard let content = wire.content else { throw .malformedReply("neither content nor error") }
        if wire.encoding == "base64" {
            guard let data = Data(base64Encoded: content) else { throw .malformedReply("bad base64 content") }
            return .success(Array(data))
        }
        return .success(Array(content.utf8))
    }
}

/// An error reply as a client reads it: the code stays a string, since a newer server
/// may send codes this client does not know.
public struct ServerError: Error, Equatable, Sendable {
    public var code: String
    public var message: String
}
