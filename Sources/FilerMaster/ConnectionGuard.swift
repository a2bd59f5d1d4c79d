import Glibc
import Logging
import Posix

/// Decides, with no system call, how the frontend treats its connections as a whole:
/// at the connection limit it stops listening (so that libzmq never meets EMFILE, where
/// it spins, or asserts for an ipc endpoint) and listens again once clients leave; over
/// the memory budget it ends the connection that costs the most.
///
/// libzmq gives no per-connection memory figure and no per-message limit, so the cost
/// is read from the kernel: a client that does not read its replies has bytes queued
/// for it (its replies pile up behind them in libzmq); one that streams a message
/// that never ends has sent the most bytes lately.
struct ConnectionGuard {
    struct Connection: Equatable {
        let peer: String
        var received: UInt64 = 0
        /// Bytes received at the previous measurement, to see who sends the most now.
        var receivedBefore: UInt64 = 0
        var queued: UInt64 = 0
    }

    enum Action: Equatable {
        case setListening(Bool)
        /// End the connection on this descriptor, if it is still the one to `peer`.
        case drop(descriptor: Int32, peer: String)
        case log(Logger.Level, String)
    }

    /// Connections at once; at this many, new ones are refused until some leave.
    let maximumConnections: Int
    /// The master's heap budget in bytes.
    let memoryBudget: Int
    private(set) var connections: [Int32: Connection] = [:]
    private(set) var listening = true
    /// Whether the heap was over budget at the last look (to log once per episode).
    private(set) var overBudget = false
    /// Listening resumes this far below the limit, so it does not flap.
    var resumeMargin: Int { max(1, maximumConnections / 20) }

    init(maximumConnections: Int, memoryBudget: Int) {
        self.maximumConnections = maximumConnections
        self.memoryBudget = memoryBudget
    }

    mutating func accepted(descriptor: Int32, peer: String) -> [Action] {
        connections[descriptor] = Connection(peer: peer)
        guard listening, connections.count >= maximumConnections else { return [] }
        listening = false
        return [
            .setListening(false),
            .log(.warning, "\(connections.count) client connections, the limit: not accepting new connections until some close"),
        ]
    }

    mutating func closed(descriptor: Int32) -> [Action] {
        connections.removeValue(forKey: descriptor)
        guard !listening, connections.count <= maximumConnections - resumeMargin else { return [] }
        listening = true
        return [.setListening(true), .log(.notice, "\(connections.count) client connections: accepting connections again")]
    }

    /// libzmq could not accept: the process is out of descriptors, whatever the count says.
    mutating func acceptFailed(errno: Int32) -> [Action] {
        guard listening, errno == EMFILE || errno == ENFILE else { return [] }
        listening = false
        return [
            .setListening(false),
            .log(.warning, "Out of file descriptors with \(connections.count) client connections: not accepting new connections until some close"),
        ]
    }

    /// The periodic look at memory. `counters` has each connection's kernel counters.
    /// Over budget, the costliest client is dropped, one a look; requests are never held
    /// back for all, since a budget too small for the load would then stall everyone.
    mutating func measured(heapInUse: Int, counters: [Int32: (received: UInt64, queued: UInt64)]) -> [Action] {
        for (descriptor, counter) in counters {
            guard var connection = connections[descriptor] else { continue }
            connection.receivedBefore = connection.received
            connection.received = counter.received
            connection.queued = counter.queued
            connections[descriptor] = connection
        }
        guard heapInUse > memoryBudget else {
            overBudget = false
            return []
        }
        var actions: [Action] = []
        if !overBudget {
            overBudget = true
            actions.append(.log(.warning, "The master holds \(heapInUse >> 20) MiB, over limits.max_memory (\(memoryBudget >> 20) MiB): dropping the clients that cost the most"))
        }
        if let (descriptor, connection, why) = costliest() {
            connections.removeValue(forKey: descriptor)
            actions.append(.drop(descriptor: descriptor, peer: connection.peer))
            actions.append(.log(.warning, "Dropped client \(connection.peer): \(why)"))
        }
        return actions
    }

    /// Below these, a client costs too little to blame: a reply on its way, a request.
    static let unreadWorthDropping: UInt64 = 256 << 10
    static let sentWorthDropping: UInt64 = 1 << 20

    /// The client that leaves the most replies unread, or else the one sending the most;
    /// nil when none costs much (the memory is then on its way through, not held).
    private func costliest() -> (Int32, Connection, String)? {
        let unread = connections.filter { $0.value.queued >= Self.unreadWorthDropping }
        if let (descriptor, connection) = unread.max(by: { $0.value.queued < $1.value.queued }) {
            return (descriptor, connection, "it left \(connection.queued) bytes of replies unread")
        }
        let sending = connections.map { ($0.key, $0.value, $0.value.received &- $0.value.receivedBefore) }
        guard let (descriptor, connection, recent) = sending.max(by: { $0.2 < $1.2 }), recent >= Self.sentWorthDropping
        else { return nil }
        return (descriptor, connection, "it sent \(recent) bytes since the last look")
    }
}
