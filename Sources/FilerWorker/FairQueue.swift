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

/// A client's routing id, made without allocating for an id of up to 16 bytes
/// (libzmq's own are 5): comparing two is comparing three words.
struct ClientID: Hashable {
    private let head: UInt64
    private let next: UInt64
    private let count: Int
    /// The bytes past the first 16, for a longer id (nil for most).
    private let rest: [UInt8]?

    init(_ bytes: UnsafeRawBufferPointer) {
        var words: (UInt64, UInt64) = (0, 0)
        let inline = min(bytes.count, 16)
        withUnsafeMutableBytes(of: &words) { words in
            if inline > 0 { words.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: inline) }
        }
        head = words.0
        next = words.1
        count = bytes.count
        rest = bytes.count > 16 ? Array(bytes[16...]) : nil
    }
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
///
/// A request finds its client's line by looking along the clients waiting, while they
/// are few (`indexedFrom`), and in a dictionary beyond: with a few clients that is
/// cheaper than hashing, which cost ~1,500 instructions a queued request (three
/// dictionary operations on a `[UInt8]` key, and its allocation: callgrind).
struct FairQueue {
    static let capacity = 4_096
    static let perClient = 256
    static let perClientWhileDraining = 4

    /// One client's requests, oldest first.
    private final class Line {
        var client = ClientID(UnsafeRawBufferPointer(start: nil, count: 0))
        var requests = Ring<PendingRequest>()
    }

    /// The limit in force.
    private(set) var limit = Self.perClient

    /// Clients with requests waiting, in the order they are served.
    private var turn = Ring<Line>()
    /// The lines in `turn` by client, kept while more than `indexedFrom` clients wait.
    private var index: [ClientID: Line]?
    static let indexedFrom = 16
    /// Refusals, answered before anything else: they cost no work.
    private var refused = Ring<PendingRequest>()
    private(set) var count = 0
    /// Spare requests and lines, so that a busy worker allocates none per request.
    private var spare: [PendingRequest] = []
    private var spareLines: [Line] = []

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
        let client = request.frames[1].withUnsafeBytes { ClientID($0) }
        count += 1
        if let line = index.map({ $0[client] }) ?? turn.first(where: { $0.client == client }) {
            guard line.requests.count < limit else { return refuse(request) }
            line.requests.append(request)
            return
        }
        let line = spareLines.popLast() ?? Line()
        line.client = client
        line.requests.append(request)
        turn.append(line)
        if index != nil {
            index![client] = line
        } else if turn.count > Self.indexedFrom {
            index = Dictionary(uniqueKeysWithValues: turn.elements.map { ($0.client, $0) })
        }
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
        for line in turn.elements {
            var shed: [PendingRequest] = []
            while line.requests.count > limit { shed.append(line.requests.removeLast()) }
            for request in shed.reversed() { refuse(request) }
        }
    }

    /// A refusal if one waits; else the next client's oldest request.
    mutating func next() -> PendingRequest? {
        if let request = refused.popFirst() {
            count -= 1
            return request
        }
        guard let line = turn.popFirst() else { return nil }
        let request = line.requests.popFirst()!
        if line.requests.isEmpty {
            if turn.isEmpty {
                index = nil
            } else {
                index?[line.client] = nil
            }
            if spareLines.count < 64 { spareLines.append(line) }
        } else {
            turn.append(line)
        }
        count -= 1
        return request
    }
}

/// A first-in first-out queue over an array: taking the first element moves a start
/// index rather than every element after it (`Array.removeFirst` is O(n)).
struct Ring<Element> {
    private var storage: [Element?] = []
    private var start = 0

    var count: Int { storage.count - start }
    var isEmpty: Bool { start == storage.count }

    mutating func append(_ element: Element) { storage.append(element) }

    mutating func popFirst() -> Element? {
        guard start < storage.count else { return nil }
        let first = storage[start].take()
        start += 1
        if start == storage.count {
            storage.removeAll(keepingCapacity: true)
            start = 0
        } else if start >= 64 && start * 2 >= storage.count {
            // Most of the array is taken: move the rest to the front, once in a while.
            storage.removeSubrange(0..<start)
            start = 0
        }
        return first
    }

    mutating func removeLast() -> Element {
        precondition(!isEmpty, "removeLast on an empty ring")
        return storage.removeLast()!
    }

    /// The elements, first to last.
    var elements: [Element] { storage[start...].map { $0! } }

    /// The first element, from the first, that satisfies `predicate`.
    func first(where predicate: (Element) -> Bool) -> Element? {
        for index in start..<storage.count where predicate(storage[index]!) { return storage[index] }
        return nil
    }
}
