import Logging
import Posix
import ZeroMQ
import FilerConfiguration
import FilerCore
import FilerSecurity
import FilerMetrics

/// A broker's forwarding: the proxy thread (`Broker`), the ZAP handler that lets CURVE
/// peers in, the frontend's guard (connection limit, memory budget), and what worker
/// hosts need: their connections to the backend, and their pauses (`DrainServer`).
final class BrokerForwarding: Forwarding {
    let broker: Broker
    let zap: ZAPHandler?
    let drainServer: DrainServer?
    let logger: Logger
    private let faults: TestFaults?
    var post: (PoolEvent) -> Void = { _ in }
    private var loop: EventLoop?
    /// Registered while the proxy is stopped: the loop passes replies on itself.
    private var replySource: EventLoop.SourceID?

    var connectionGuard: ConnectionGuard
    /// Handshakes that failed before a key was seen, and when they were last logged.
    var failedHandshakes: UInt64 = 0
    var failedHandshakesLogged: UInt64 = 0
    var nextHandshakeLog = MonotonicInstant.now()
    /// Worker hosts' connections to the backend: address by descriptor.
    var workerHostConnections: [Int32: String] = [:]
    private var nextStatistics = MonotonicInstant.now()
    private var nextMeasurement = MonotonicInstant.now()
    /// How often the memory budget is checked: a client can send 1 GB/s over loopback,
    /// so every 20 ms (mallinfo2 costs microseconds), and every 5 ms past half of it.
    static let measurementInterval = Duration.milliseconds(20)
    static let urgentMeasurementInterval = Duration.milliseconds(5)

    init(
        broker: Broker, zap: ZAPHandler?, drainServer: DrainServer?, connectionGuard: ConnectionGuard, faults: TestFaults?,
        logger: Logger
    ) {
        self.broker = broker
        self.zap = zap
        self.drainServer = drainServer
        self.connectionGuard = connectionGuard
        self.faults = faults
        self.logger = logger
    }

    var workerBackends: [String] { [broker.backend] }

    var backendDescription: String {
        [broker.backend, broker.remoteBackend].compactMap { $0 }.joined(separator: ", ")
    }

    func attach(to loop: EventLoop, post: @escaping (PoolEvent) -> Void) {
        self.loop = loop
        self.post = post
        loop.add(.descriptor(broker.ended.rawValue)) { [unowned self] in proxyEnded() }
        loop.add(.socket(broker.control)) { [unowned self] in
            guard broker.readAnswers(), faults?.proxySilenced != true else { return }
            post(.proxyAnswered(broker.totals))
        }
        loop.add(.socket(broker.frontendMonitor.events)) { [unowned self] in readConnectionEvents() }
        loop.add(.socket(broker.backendMonitor.events)) { [unowned self] in readWorkerHostEvents() }
        if let zap {
            loop.add(.socket(zap.socket)) {
                do throws(ZeroMQError) { try zap.answerWaiting() } catch {
                    post(.masterFailed(reason: "cannot answer CURVE handshakes: \(error)"))
                }
            }
        }
        if let drainServer {
            loop.add(.socket(drainServer.socket)) { [unowned self] in readPauses(drainServer) }
        }
        replySource = loop.add(.socket(broker.backendSocket)) { [unowned self] in broker.forwardReplies() }
    }

    func start() throws {
        if let source = replySource { loop?.remove(source) }
        replySource = nil
        try broker.startForwarding()
    }

    func stop() {
        broker.stopForwarding()
    }

    private func proxyEnded() {
        let failure = broker.proxyEnded()
        replySource = loop?.add(.socket(broker.backendSocket)) { [unowned self] in broker.forwardReplies() }
        if let failure { post(.proxyFailed(reason: failure)) } else { post(.proxyStopped) }
    }

    func reconfigure(_ next: Configuration) throws {
        try broker.reconfigureFrontends(next.frontends, limits: next.limits, connections: next.connections)
    }

    func reloadKeys(_ next: Configuration) throws {
        // The clients let in are read again now; a file that cannot be read fails the
        // whole reload, so the running set stays.
        guard let zap else { return }
        let authorized = try next.curve.authorizedKeys.map(AuthorizedKeys.load(from:)) ?? zap.authorized
        let workers = try next.curve.workerKeys.map(AuthorizedKeys.load(from:))
        zap.authorized = authorized
        zap.workers = workers
    }

    func confirmPaused(_ leases: [String]) {
        do throws(ZeroMQError) { try drainServer?.confirm(leases) } catch {
            // Unconfirmed, the worker host stops waiting after a while and goes on.
            logger.warning("Cannot confirm a worker host's pause: \(error)")
        }
    }

    var nextDue: MonotonicInstant { min(nextStatistics, nextMeasurement) }

    func tick(now: MonotonicInstant) {
        if now >= nextStatistics {
            broker.askStatistics()
            nextStatistics = now + .seconds(1)
        }
        if now >= nextMeasurement {
            nextMeasurement = measure(now: now)
        }
    }

    func describe(_ report: inout StatusReport) {
        if let zap {
            report.curve = .init(accepted: zap.acceptedCount, refused: zap.refusedCount, failedHandshakes: failedHandshakes)
        }
        if broker.remoteBackend != nil {
            report.workerHosts = workerHosts()
        }
    }

    func describe(_ snapshot: inout MetricsSnapshot) {
        let totals = broker.totals
        snapshot.frontend = .init(
            messagesIn: totals.frontendMessagesIn, bytesIn: totals.frontendBytesIn,
            messagesOut: totals.frontendMessagesOut, bytesOut: totals.frontendBytesOut)
        snapshot.backend = .init(
            messagesIn: totals.backendMessagesIn, bytesIn: totals.backendBytesIn,
            messagesOut: totals.backendMessagesOut, bytesOut: totals.backendBytesOut)
        snapshot.curvePeersRefused = zap?.refusedCount ?? 0
        snapshot.connections = connectionGuard.connections.count
    }

    func finish() {
        // Every worker is gone: pass on the replies still on their way, until none has
        // come for 100 ms. (A proxy thread that never ended owns the sockets: leave them.)
        guard !broker.isForwarding else { return }
        var poller = Poller()
        poller.add(.socket(broker.backendSocket))
        while (try? poller.wait(timeoutMilliseconds: 100)) == true {  // a failed poll: nothing more to pass on
            broker.forwardReplies()
        }
    }

    // MARK: Worker hosts

    /// A worker host's worker connected to the backend, or left.
    private func readWorkerHostEvents() {
        do throws(ZeroMQError) {
            var changed = false
            while let event = try broker.backendMonitor.nextEvent() {
                switch event.kind {
                case .accepted where event.endpoint.hasPrefix("tcp://"):  // not this host's own workers
                    workerHostConnections[event.value] = Connections.peer(of: event.value) ?? "an unknown peer"
                    changed = true
                case .disconnected:
                    changed = workerHostConnections.removeValue(forKey: event.value) != nil || changed
                default:
                    break
                }
            }
            if changed { post(.remoteWorkers(workerHostConnections.count)) }
        } catch {
            post(.masterFailed(reason: "cannot read the backend's connection events: \(error)"))
        }
    }

    /// Connections by host (the address without its port), for `filer status`.
    private func workerHosts() -> [StatusReport.WorkerHost] {
        var byHost: [String: Int] = [:]
        for address in workerHostConnections.values {
            let host = address.lastIndex(of: ":").map { String(address[..<$0]) } ?? address
            byHost[host, default: 0] += 1
        }
        return byHost.sorted { $0.key < $1.key }.map { StatusReport.WorkerHost(address: $0.key, workers: $0.value) }
    }

    private func readPauses(_ drainServer: DrainServer) {
        do throws(ZeroMQError) {
            for command in try drainServer.read() {
                switch command {
                case .pause(let lease, let seconds): post(.pauseRequested(lease: lease, for: .seconds(seconds)))
                case .resume(let lease): post(.resumeRequested(lease: lease))
                }
            }
        } catch {
            logger.warning("Cannot read worker hosts' pauses: \(error)")
        }
    }
}
