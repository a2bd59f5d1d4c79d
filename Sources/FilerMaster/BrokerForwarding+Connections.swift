import Logging
import Posix
import ZeroMQ

/// The frontend's connections: the connection limit, the memory budget, and failed
/// handshakes (see `ConnectionGuard`).
extension BrokerForwarding {
    func readConnectionEvents() {
        do throws(ZeroMQError) {
            while let event = try broker.frontendMonitor.nextEvent() {
                switch event.kind {
                case .listening:
                    broker.listenerBound(event.endpoint, descriptor: event.value)
                case .accepted:
                    let peer = Connections.peer(of: event.value) ?? "an unknown peer"
                    performGuard(connectionGuard.accepted(descriptor: event.value, peer: peer))
                case .disconnected:
                    performGuard(connectionGuard.closed(descriptor: event.value))
                case .acceptFailed:
                    performGuard(connectionGuard.acceptFailed(errno: event.value))
                case .handshakeFailed:
                    handshakeFailed()
                default:
                    break
                }
            }
        } catch {
            post(.masterFailed(reason: "cannot read the frontend's connection events: \(error)"))
        }
    }

    /// A ZMTP handshake failed: with CURVE, a plaintext client or one that expects another
    /// server key (their address is not known here; ZAP refusals are logged by address).
    /// Logged at most once a minute, with the count since.
    func handshakeFailed() {
        failedHandshakes += 1
        let now = MonotonicInstant.now()
        guard now >= nextHandshakeLog else { return }
        nextHandshakeLog = now + .seconds(60)
        let count = failedHandshakes - failedHandshakesLogged
        failedHandshakesLogged = failedHandshakes
        let hint = zap != nil ? " (a plaintext client, or one expecting another server key)" : ""
        logger.notice("\(count) client handshake\(count == 1 ? "" : "s") failed\(hint)")
    }

    /// The memory budget: what the master holds, and when it runs high, what each
    /// client costs. - Returns: when to look again: soon past half the budget, but
    /// never so soon that reading every connection's counters (a system call each)
    /// takes more than a twentieth of the time.
    func measure(now: MonotonicInstant) -> MonotonicInstant {
        broker.tendSockets()
        let held = Connections.memoryHeld()
        var counters: [Int32: (received: UInt64, queued: UInt64)] = [:]
        let urgent = held > connectionGuard.memoryBudget / 2
        guard urgent else {
            performGuard(connectionGuard.measured(heapInUse: held, counters: counters))
            return now + Self.measurementInterval
        }
        for descriptor in connectionGuard.connections.keys {
            counters[descriptor] = Connections.counters(of: descriptor)
        }
        let scanned = MonotonicInstant.now()
        performGuard(connectionGuard.measured(heapInUse: held, counters: counters))
        return now + max(Self.urgentMeasurementInterval, (scanned - now) * 20)
    }

    func performGuard(_ actions: [ConnectionGuard.Action]) {
        for action in actions {
            switch action {
            case .setListening(let on):
                if let failure = broker.setListening(on) {
                    logger.error("Cannot \(on ? "resume" : "pause") accepting connections: \(failure)")
                }
            case .drop(let descriptor, let peer): Connections.drop(descriptor, peer: peer)
            case .log(let level, let message): logger.log(level: level, "\(message)")
            }
        }
    }
}
