/// The shape of a message as a worker's ROUTER socket receives it from a broker:
/// `[broker, client, "", body]` — the broker's connection (added by the worker's
/// ROUTER), the client's routing id (added by the broker's frontend ROUTER), the empty
/// delimiter a REQ client (or a polite DEALER) puts before its one-frame body.
///
/// Anything else is refused: more than one body frame, or labels between the client's
/// id and the delimiter, which no REQ or DEALER client makes and which a REP socket
/// would echo back in full.
public enum RequestEnvelope: Equatable, Sendable {
    /// `[broker, client, "", body]`: answer `[broker, client, "", reply]`.
    case request
    /// Answer `[broker, client, "", error]` (or `[broker, client, error]` when the client
    /// sent no delimiter, as it would expect).
    case malformed(reason: String, delimited: Bool)
    /// Too short to answer at all: drop it.
    case unanswerable

    /// Frames a worker keeps while reading one message: broker, client, and the two after.
    public static let framesKept = 4

    /// ZMTP allows a routing id of 255 bytes; libzmq takes longer ones from old peers.
    /// Answering one would copy it into every reply: such a message is dropped.
    public static let maximumClientIDLength = 255

    /// - Parameters:
    ///   - frameCount: how many frames the message had.
    ///   - clientIDLength: the size of frame 1, the client's routing id.
    ///   - isEmpty: whether frame `index` (below `framesKept`) was empty.
    public static func classify(frameCount: Int, clientIDLength: Int, isEmpty: (Int) -> Bool) -> RequestEnvelope {
        guard frameCount >= 3, clientIDLength <= maximumClientIDLength else { return .unanswerable }
        let delimited = isEmpty(2)
        if delimited && frameCount == 4 { return .request }
        if !delimited {
            // Labels after the client's id, or a DEALER that sent a bare body.
            return .malformed(
                reason: frameCount == 3
                    ? "a request needs an empty delimiter frame before its body, as a REQ socket sends"
                    : "the envelope is longer than a REQ or DEALER client makes", delimited: false)
        }
        return .malformed(
            reason: frameCount == 3
                ? "the request has no body frame" : "a request is one frame; this one had \(frameCount - 3)",
            delimited: true)
    }
}

extension RequestEnvelope {
    /// Whether the reply goes back with an empty delimiter frame before it.
    public var isDelimited: Bool {
        switch self {
        case .request: true
        case .malformed(_, let delimited): delimited
        case .unanswerable: false
        }
    }
}
