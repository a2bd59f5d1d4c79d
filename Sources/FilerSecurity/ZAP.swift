public import ZeroMQ

/// The ZeroMQ Authentication Protocol (RFC 27) as a CURVE-only handler answers it:
/// pure logic, frames in and frames out, so every answer can be tested without sockets.
public enum ZAP {
    /// Where libzmq sends a context's authentication requests.
    public static let endpoint = "inproc://zeromq.zap.01"
    public static let version = "1.0"

    /// A peer that was refused: where it came from and what it offered.
    public struct Refusal: Equatable, Sendable {
        /// The peer's address as libzmq gives it: the IP address for tcp, without the port.
        public let address: String
        public let mechanism: String
        /// The client's public key, for a well-formed CURVE request.
        public let key: Curve.Key?
        /// The status text sent back.
        public let reason: String

        public init(address: String, mechanism: String, key: Curve.Key?, reason: String) {
            self.address = address
            self.mechanism = mechanism
            self.key = key
            self.reason = reason
        }
    }

    /// A reply, and the refusal it carries, if it is one.
    public struct Decision: Equatable, Sendable {
        public let reply: [[UInt8]]
        public let refusal: Refusal?
    }

    /// The reply frames to one request's frames (after the REP envelope).
    ///
    /// A request is `version, request id, domain, address, routing id, mechanism,
    /// credentials…`. CURVE with a 32-byte key in `authorized` gets 200 and the key in
    /// Z85 as the user id; anything else gets 400: an unknown key, another mechanism
    /// (NULL and PLAIN prove nothing about the peer), a malformed request.
    public static func answer(_ request: [[UInt8]], authorized: AuthorizedKeys) -> [[UInt8]] {
        decide(request, authorized: authorized).reply
    }

    /// `answer`, with what the caller needs to count and report a refusal.
    /// The ZAP domain of a broker's backend and drain endpoint: worker hosts come in there.
    public static let workerDomain = "workers"

    public static func decide(_ request: [[UInt8]], authorized: AuthorizedKeys) -> Decision {
        // libzmq matches a reply to its request by the id, so it is echoed even when the
        // rest is wrong; without one, an empty id still lets the REP socket move on.
        let requestID = request.count > 1 ? request[1] : []
        let address = request.count > 3 ? String(decoding: request[3], as: UTF8.self) : ""
        let mechanism = request.count > 5 ? String(decoding: request[5], as: UTF8.self) : ""
        func refuse(_ reason: String, key: Curve.Key? = nil) -> Decision {
            Decision(
                reply: reply(to: requestID, status: "400", text: reason, userID: ""),
                refusal: Refusal(address: address, mechanism: mechanism, key: key, reason: reason))
        }
        guard request.count >= 6 else { return refuse("Malformed ZAP request: \(request.count) frames") }
        guard request[0] == Array(version.utf8) else { return refuse("ZAP version not supported") }
        guard mechanism == "CURVE" else { return refuse("Mechanism \(mechanism) refused: CURVE only") }
        guard request.count == 7, let key = Curve.Key(bytes: request[6]) else {
            return refuse("Malformed CURVE credentials")
        }
        guard authorized.contains(key) else { return refuse("Unknown CURVE key", key: key) }
        return Decision(reply: reply(to: requestID, status: "200", text: "OK", userID: key.z85), refusal: nil)
    }

    /// `version, request id, status code, status text, user id, metadata` (empty).
    private static func reply(to requestID: [UInt8], status: String, text: String, userID: String) -> [[UInt8]] {
        [Array(version.utf8), requestID, Array(status.utf8), Array(text.utf8), Array(userID.utf8), []]
    }
}
