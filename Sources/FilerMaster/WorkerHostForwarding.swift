import Glibc
import Logging
import Posix
import ZeroMQ
import FilerConfiguration
import FilerCore
import FilerSecurity
import FilerMetrics

/// A worker host's forwarding: the brokers forward, each to every worker connected to
/// it; this host holds them only while one of its workers leaves (a recycle, a reload,
/// a hung worker, a stop).
///
/// A broker's DEALER pushes requests into each worker's queue, and a worker that
/// disconnects loses what is queued. So before a worker leaves, this host asks every
/// broker to pause (see `DrainServer`); each answers once its proxy has stopped, and
/// from then on the leaving worker's queue only shrinks. The pause is a short lease,
/// renewed every second while it holds: a worker host that dies mid-drain costs its
/// brokers a few seconds, not a stall.
final class WorkerHostForwarding: Forwarding {
    /// This host's line to one broker's drain endpoint.
    final class BrokerLink {
        let backend: String
        let socket: Socket
        let monitor: Monitor
        var connected = false

        init(backend: String, drainEndpoint: String, context: Context, configuration: Configuration, curve: CurveSetup?) throws {
            self.backend = backend
            socket = try Socket(context, .dealer)
            try socket.setLinger(milliseconds: 0)
            // A broker that is down gets no pause; it has no queue of ours to lose.
            try socket.setImmediate(true)
            try socket.setReconnectInterval(milliseconds: 100, maximumMilliseconds: 1_000)
            let interval = Int32(clamping: configuration.connections.heartbeatInterval.milliseconds)
            let timeout = Int32(clamping: configuration.connections.heartbeatTimeout.milliseconds)
            try socket.setHeartbeats(intervalMilliseconds: interval, timeoutMilliseconds: timeout, ttlMilliseconds: interval > 0 ? timeout : 0)
            if let curve, let brokerKey = curve.brokerKey {
                try socket.makeCurveClient(curve.keyPair, serverKey: brokerKey)
            }
            monitor = try Monitor(socket, context: context, mask: Monitor.Kind.mask([.handshakeSucceeded, .disconnected]))
            try socket.connect(drainEndpoint)
        }
    }

    /// A pause asks for this much at a time, and is renewed this often while it holds.
    static let leaseSeconds = 5
    static let renewInterval = Duration.seconds(1)
    /// How long to wait for the brokers to confirm a pause before the worker leaves anyway.
    static let confirmationWait = Duration.seconds(2)

    private let context: Context
    let links: [BrokerLink]
    private let logger: Logger
    private var post: (PoolEvent) -> Void = { _ in }
    private let leasePrefix: String
    private var leaseCount = 0
    /// The pause in force: its lease, the brokers yet to confirm it, until when they are
    /// waited for (nil once they have been), and when it is next renewed.
    private var pause: (lease: String, awaiting: Set<Int>, waitUntil: MonotonicInstant?, renewAt: MonotonicInstant)?
    private var nextHeartbeat = MonotonicInstant.now()

    init(configuration: Configuration, curve: CurveSetup?, logger: Logger) throws {
        let context = try Context()
        self.context = context
        links = try configuration.brokers.map { backend in
            // Checked with the configuration: every broker's backend has a drain endpoint.
            try BrokerLink(
                backend: backend, drainEndpoint: Configuration.drainEndpoint(ofBackend: backend) ?? backend, context: context,
                configuration: configuration, curve: curve)
        }
        self.logger = logger
        leasePrefix = "\(Self.hostName())-\(getpid())"
    }

    var workerBackends: [String] { links.map(\.backend) }
    var backendDescription: String { workerBackends.joined(separator: ", ") }

    func attach(to loop: EventLoop, post: @escaping (PoolEvent) -> Void) {
        self.post = post
        for (index, link) in links.enumerated() {
            loop.add(.socket(link.socket)) { [unowned self] in readAnswers(from: index) }
            loop.add(.socket(link.monitor.events)) { [unowned self] in readConnectionEvents(of: index) }
        }
    }

    func start() throws {
        guard let pause else { return }
        self.pause = nil
        for link in links where link.connected { send("resume \(pause.lease)", to: link) }
    }

    func stop() {
        leaseCount += 1
        let lease = "\(leasePrefix)-\(leaseCount)"
        let now = MonotonicInstant.now()
        var awaiting = Set<Int>()
        for (index, link) in links.enumerated() where link.connected {
            if send("pause \(lease) \(Self.leaseSeconds)", to: link) { awaiting.insert(index) }
        }
        pause = (lease, awaiting, now + Self.confirmationWait, now + Self.renewInterval)
        if awaiting.isEmpty { paused() }
    }

    /// Every broker has confirmed the pause, or has had its time to.
    private func paused() {
        pause?.waitUntil = nil
        post(.proxyStopped)
    }

    func reconfigure(_ next: Configuration) throws {}
    func reloadKeys(_ next: Configuration) throws {}
    func confirmPaused(_ leases: [String]) {}

    var nextDue: MonotonicInstant {
        min(nextHeartbeat, pause.map { min($0.waitUntil ?? $0.renewAt, $0.renewAt) } ?? nextHeartbeat)
    }

    func tick(now: MonotonicInstant) {
        if now >= nextHeartbeat {
            // No proxy thread here to fall silent: the loop that runs this is what the
            // watchdog vouches for.
            post(.proxyAnswered(Proxy.Statistics()))
            nextHeartbeat = now + .seconds(1)
        }
        guard let pause else { return }
        if let waitUntil = pause.waitUntil, now >= waitUntil {
            let silent = pause.awaiting.sorted().map { links[$0].backend }.joined(separator: ", ")
            logger.warning("No confirmation of the pause from \(silent) within \(Self.confirmationWait); the worker leaves anyway")
            paused()
        }
        if now >= pause.renewAt {
            // Connected ones only: a broker that came back mid-pause is paused too.
            for link in links where link.connected { send("pause \(pause.lease) \(Self.leaseSeconds)", to: link) }
            self.pause?.renewAt = now + Self.renewInterval
        }
    }

    func describe(_ report: inout StatusReport) {
        report.brokers = links.map { StatusReport.BrokerLink(backend: $0.backend, connected: $0.connected) }
    }

    func describe(_ snapshot: inout MetricsSnapshot) {}

    func finish() {
        try? start()  // resuming cannot fail: a send that fails leaves a lease that ends by itself
    }

    // MARK: The brokers' side

    private func readAnswers(from index: Int) {
        let link = links[index]
        do throws(ZeroMQError) {
            while let message = try link.socket.receiveIfReady() {
                let words = String(decoding: message.bytes, as: UTF8.self).split(separator: " ").map(String.init)
                guard words.count == 2, words[0] == "paused" else {
                    if words.first != "resumed" { logger.warning("\(link.backend) answered a pause with: \(words.joined(separator: " "))") }
                    continue
                }
                guard var pause, pause.lease == words[1], pause.awaiting.remove(index) != nil else { continue }
                self.pause = pause
                if pause.awaiting.isEmpty && pause.waitUntil != nil { paused() }
            }
        } catch {
            logger.warning("Cannot read \(link.backend)'s answers: \(error)")
        }
    }

    private func readConnectionEvents(of index: Int) {
        let link = links[index]
        do throws(ZeroMQError) {
            while let event = try link.monitor.nextEvent() {
                switch event.kind {
                case .handshakeSucceeded where !link.connected:
                    link.connected = true
                    logger.info("Connected to the broker \(link.backend)")
                    post(.brokerConnection(backend: link.backend, connected: true))
                    // It may have come back while a pause holds.
                    if let pause { send("pause \(pause.lease) \(Self.leaseSeconds)", to: link) }
                case .disconnected where link.connected:
                    link.connected = false
                    logger.warning("Lost the broker \(link.backend); ZeroMQ dials it again")
                    post(.brokerConnection(backend: link.backend, connected: false))
                    // Nothing of ours can be queued there now: do not wait for it.
                    if var pause, pause.awaiting.remove(index) != nil {
                        self.pause = pause
                        if pause.awaiting.isEmpty && pause.waitUntil != nil { paused() }
                    }
                default:
                    break
                }
            }
        } catch {
            post(.masterFailed(reason: "cannot read the brokers' connection events: \(error)"))
        }
    }

    /// - Returns: whether it was sent (not if the line is down or full).
    @discardableResult
    private func send(_ text: String, to link: BrokerLink) -> Bool {
        var sent = false
        Array(text.utf8).withUnsafeBytes { bytes in
            // A failed send is one not sent: the lease covers it.
            sent = (try? link.socket.trySend(bytes)) ?? false
        }
        return sent
    }

    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "host" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
