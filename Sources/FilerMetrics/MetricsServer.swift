public import Posix

/// Serves `GET /metrics` over HTTP/1.1 from inside the master's event loop, which runs
/// on one thread and must never wait: every socket is non-blocking, and all of them,
/// with a timer for the deadlines, sit in one epoll set whose single descriptor the
/// loop polls for readability. `handleEvents` then does what is ready and returns.
///
/// Each connection gets one request and one response, then `Connection: close`. A client
/// has `Limits.deadline` from its connection to the end of the exchange, whatever it
/// sends; a head over `Limits.requestBytes` is refused; past `Limits.connections` a new
/// connection gets a 503 and is closed at once. So a silent or slow client holds one
/// descriptor and a few KiB for a few seconds at most, and never delays the loop.
///
/// Why not SwiftNIO: it would bring a second event loop and its threads into a process
/// whose loop is the master's, for one path Prometheus reads every 15 s; and a minimal
/// NIOHTTP1 server, measured in this project's static release build, added 4.8 MB
/// (stripped), past the 18 MB budget. Why not swift-prometheus to render: it added
/// 0.38 MB and a quarter more compile time for a registry made to be incremented in
/// place, whose families come out in hash order, different in every process; the
/// master holds its counts already, so `MetricsSnapshot.exposition()` writes them.
/// This whole module added 0.14 MB.
public final class MetricsServer {
    public struct Limits: Sendable {
        /// Connections served at once; more are refused with 503.
        public var connections: Int
        /// The largest request head accepted; a larger one gets 431.
        public var requestBytes: Int
        /// From the connection to the end of the exchange.
        public var deadline: Duration

        public init(connections: Int = 16, requestBytes: Int = 8192, deadline: Duration = .seconds(5)) {
            precondition(connections > 0 && requestBytes > 0 && deadline > .zero, "metrics limits must be positive")
            self.connections = connections
            self.requestBytes = requestBytes
            self.deadline = deadline
        }
    }

    /// Where it listens, with the port the kernel chose when the URL asked for port 0.
    public let url: MetricsURL
    public let limits: Limits
    private let listener: FileDescriptor
    private let poll: EventPoll
    private let timer: DeadlineTimer
    private var connections: [Int32: Connection] = [:]
    /// Set while accepting is paused after the process ran out of descriptors.
    private var acceptingResumesAt: MonotonicInstant?
    private var armedFor: MonotonicInstant?

    /// How long accepting pauses after EMFILE or ENFILE: the connection stays queued, and
    /// the listener would be readable, and the loop busy, for as long as none is free.
    static let acceptPause = Duration.seconds(1)
    /// The most one step sends: a large exposition goes out in parts as the socket takes
    /// them, so that a scrape never holds the master's loop for long.
    static let sendSize = 65536

    /// Listens on `url`'s address and port.
    /// - Throws: `SystemError` naming the call that failed (`bind` with EADDRINUSE when
    ///   the port is taken, EADDRNOTAVAIL when the address is not this machine's).
    public init(url: MetricsURL, limits: Limits = Limits()) throws(SystemError) {
        self.limits = limits
        listener = try Sockets.listen(on: url.address, port: url.port, backlog: Int32(limits.connections))
        self.url = MetricsURL(address: url.address, port: try Sockets.localPort(of: listener), path: url.path)
        poll = try EventPoll()
        timer = try DeadlineTimer()
        try poll.add(listener.rawValue, for: .readable)
        try poll.add(timer.descriptor.rawValue, for: .readable)
    }

    /// The descriptor to poll for readability: readable whenever `handleEvents` has work.
    public var descriptor: Int32 { poll.descriptor.rawValue }

    /// Connections open now.
    public var connectionCount: Int { connections.count }

    /// Accepts, reads, answers and closes whatever is ready, and closes the connections
    /// past their deadline; never waits. `snapshot` is called once for each response
    /// with metrics, on this thread.
    /// - Throws: `SystemError` for what the master should log: the epoll set or timer
    ///   failing, or accepting failing (after EMFILE it pauses for `acceptPause`).
    ///   Clients that reset or vanish are closed quietly; they are no error of ours.
    public func handleEvents(snapshot: () -> MetricsSnapshot) throws(SystemError) {
        var failure: SystemError?
        var closed: Set<Int32> = []
        for ready in try poll.ready() where !closed.contains(ready.descriptor) {
            if ready.descriptor == listener.rawValue {
                do { try acceptWaiting() } catch { failure = error }
            } else if ready.descriptor == timer.descriptor.rawValue {
                try timer.acknowledge()
                armedFor = nil
            } else if let connection = connections[ready.descriptor], !advance(connection, snapshot: snapshot) {
                close(connection)
                closed.insert(ready.descriptor)
            }
        }
        try expire(now: .now())
        try rearm()
        if let failure { throw failure }
    }

    private func acceptWaiting() throws(SystemError) {
        // A bounded batch: the rest stay queued, and the loop comes back for them.
        for _ in 0..<limits.connections {
            let accepted: FileDescriptor?
            do {
                accepted = try Sockets.accept(listener)
            } catch {
                if error.isOutOfResources {
                    try poll.remove(listener.rawValue)
                    acceptingResumesAt = .now() + Self.acceptPause
                }
                throw error
            }
            guard let socket = accepted else { return }
            if connections.count >= limits.connections {
                refuseOverCapacity(socket)
                continue
            }
            let connection = Connection(
                socket: socket, deadline: .now() + limits.deadline,
                reader: HTTP.HeadReader(path: url.path, maximumBytes: limits.requestBytes))
            // Should this fail, the connection is closed as its value goes.
            try poll.add(connection.socket.rawValue, for: .readable)
            connections[connection.socket.rawValue] = connection
        }
    }

    /// One step of a connection. - Returns: false when it is over and must be closed.
    private func advance(_ connection: Connection, snapshot: () -> MetricsSnapshot) -> Bool {
        do {
            switch connection.state {
            case .reading(var reader):
                switch try connection.socket.receive(upTo: 4096) {
                case .wouldBlock: return true
                case .end: return false  // it left before its request was complete
                case .bytes(let more):
                    switch reader.feed(more) {
                    case .incomplete:
                        connection.state = .reading(reader)
                        return true
                    case .metrics(let isHead):
                        let body = Array(snapshot().exposition().utf8)
                        let response = HTTP.response(.ok, contentType: MetricsSnapshot.contentType, body: body, isHead: isHead)
                        return try respond(connection, with: response)
                    case .refuse(let status, let isHead):
                        return try respond(connection, with: HTTP.refusal(status, isHead: isHead))
                    }
                }
            case .writing(let output, let sent):
                return try write(connection, output, from: sent)
            case .draining:
                // Whatever the client still sends is read and dropped until it closes:
                // closing with unread bytes would reset the connection, and the reset
                // could destroy the end of the response before the client read it.
                switch try connection.socket.receive(upTo: 4096) {
                case .wouldBlock, .bytes: return true
                case .end: return false
                }
            }
        } catch {
            // The client reset the connection or vanished: nothing more to do for it.
            return false
        }
    }

    private func respond(_ connection: Connection, with response: [UInt8]) throws(SystemError) -> Bool {
        try poll.modify(connection.socket.rawValue, for: .writable)
        return try write(connection, response, from: 0)
    }

    private func write(_ connection: Connection, _ output: [UInt8], from start: Int) throws(SystemError) -> Bool {
        let end = min(output.count, start + Self.sendSize)
        let sent = start + (try connection.socket.send(output[start..<end]))
        if sent < output.count {
            connection.state = .writing(output, sent: sent)
            return true
        }
        try connection.socket.shutdownSending()
        try poll.modify(connection.socket.rawValue, for: .readable)
        connection.state = .draining
        return true
    }

    /// A connection past the cap: a 503 (a fresh socket takes a hundred bytes at once),
    /// then closed. What the client sent already is read first, so that the close is an
    /// orderly one and not a reset that could overtake the 503.
    private func refuseOverCapacity(_ socket: consuming FileDescriptor) {
        // Best effort: a client that is gone needs no refusal, and is closed all the same.
        _ = try? socket.receive(upTo: limits.requestBytes)  // nothing sent yet is fine too
        _ = try? socket.send(HTTP.refusal(.serviceUnavailable, isHead: false)[...])  // a reset peer takes nothing
    }

    private func close(_ connection: Connection) {
        // Closing the descriptor takes it out of the epoll set too.
        connections[connection.socket.rawValue] = nil
    }

    private func expire(now: MonotonicInstant) throws(SystemError) {
        for connection in connections.values where connection.deadline <= now { close(connection) }
        if let resume = acceptingResumesAt, resume <= now {
            try poll.add(listener.rawValue, for: .readable)
            acceptingResumesAt = nil
        }
    }

    /// Arms the timer for the next deadline, when that changed.
    private func rearm() throws(SystemError) {
        let next = ([acceptingResumesAt] + connections.values.map { $0.deadline }).compactMap { $0 }.min()
        guard next != armedFor else { return }
        armedFor = nil
        try timer.arm(at: next)
        armedFor = next
    }
}

/// One client connection, owned here: dropping it closes its socket.
private final class Connection {
    enum State {
        case reading(HTTP.HeadReader)
        case writing([UInt8], sent: Int)
        /// The response is out and the sending side shut down: waiting for the client to close.
        case draining
    }

    let socket: FileDescriptor
    let deadline: MonotonicInstant
    var state: State

    init(socket: consuming FileDescriptor, deadline: MonotonicInstant, reader: HTTP.HeadReader) {
        self.socket = socket
        self.deadline = deadline
        state = .reading(reader)
    }
}
