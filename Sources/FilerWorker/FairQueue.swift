import ZeroMQ
import FilerProtocol

/// One request as it arrived: the frames a reply needs, the body, and its shape.
final class PendingRequest {
    /// broker, client, delimiter, body (`RequestEnvelope.framesKept` frames).
    let frames = (0..<RequestEnvelope.framesKept).map { _ in Message() }
    var shape = RequestEnvelope.request
    /// Set when the client had too many requests queued: the answer is EBUSY.
    var refusedAsBusy = false

    var client: [UInt8] { frames[1].bytes }
}

/// The requests a worker has taken off its socket and not answered yet, served in
/// turn by client, so that one client's pile of requests does not stand in front of
/// another client's one.
///
/// A client may have `perClient` requests queued at one worker; the next ones are
/// answered at once with EBUSY (their bodies are let go), so that a client pipelining
/// without end costs a worker little and slows only itself. A worker that is being
/// replaced keeps `perClientWhileDraining`: the proxy is stopped while it drains, so
/// every client waits for its queue, and a pipelining client's pile must not make that
/// wait long.
struct FairQueue {
    static let capacity = 4_096
    static let perClient = 256
    static let perClientWhileDraining = 4

    /// The limit in force.
    private(set) var limit = Self.perClient

    private var queues: [[UInt8]: [PendingRequest]] = [:]
    /// Clients with requests waiting, in the order they are served.
    private var turn: [[UInt8]] = []
    /// Refusals, answered before anything else: they cost no work.
    private var refused: [PendingRequest] = []
    private(set) var count = 0
    /// Spare requests, so that a busy worker allocates none per request.
    private var spare: [PendingRequest] = []

    var isEmpty: Bool { count == 0 }
    var isFull: Bool { count >= Self.capacity }

    /// A request to receive into: a spare one if there is one.
    mutating func makeRequest() -> PendingRequest { spare.popLast() ?? PendingRequest() }

    /// Gives an answered request back for reuse.
    mutating func recycle(_ request: PendingRequest) {
        request.refusedAsBusy = false
        if spare.count < 64 { spare.append(request) }
    }

    mutating func append(_ request: PendingRequest) {
        let client = request.client
        let queued = queues[client]?.count ?? 0
        count += 1
        if queued >= limit {
            refuse(request)
            return
        }
        if queued == 0 { turn.append(client) }
        queues[client, default: []].append(request)
    }

    private mutating func refuse(_ request: PendingRequest) {
        request.refusedAsBusy = true
        request.frames[3].move(Message())  // its body is not needed to refuse it
        refused.append(request)
    }

    /// The worker is being replaced: each client keeps its oldest few requests, and the
    /// rest are refused with EBUSY, so that the drain (and the proxy's pause) is short.
    mutating func shed() {
        limit = Self.perClientWhileDraining
        for client in turn {
            guard var pending = queues[client], pending.count > limit else { continue }
            for request in pending[limit...] { refuse(request) }
            pending.removeSubrange(limit...)
            queues[client] = pending
        }
    }

    /// A refusal if one waits; else the next client's oldest request.
    mutating func next() -> PendingRequest? {
        if !refused.isEmpty {
            count -= 1
            return refused.removeFirst()
        }
        guard !turn.isEmpty else { return nil }
        let client = turn.removeFirst()
        let request = queues[client]!.removeFirst()
        if queues[client]!.isEmpty { queues[client] = nil } else { turn.append(client) }
        count -= 1
        return request
    }
}
