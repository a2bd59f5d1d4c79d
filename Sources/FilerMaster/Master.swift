import Glibc
import Logging
import Posix
import Systemd
import ZeroMQ
import FilerConfiguration
import FilerCore
import FilerSecurity

/// The effects layer: it turns what the system says into `PoolEvent`s, and the pool's
/// `PoolAction`s into system calls. Every decision is the pool's.
final class Master {
    private var pool: WorkerPool
    let broker: Broker
    /// Answers CURVE handshakes, when the daemon has keys.
    let zap: ZAPHandler?
    private let processes: WorkerProcesses
    private let control: ControlServer?
    private let signals: SignalDescriptor
    private let notifier: Notifier
    private let loop = EventLoop()
    let logger: Logger
    private let configFile: String
    private let readConfiguration: () throws -> Configuration
    private let faults: TestFaults?
    private let startedAt = MonotonicInstant.now()

    private var channels: [Int32: (channel: WorkerProcesses.Channel, source: EventLoop.SourceID)] = [:]
    /// Registered while the proxy is stopped: the loop passes replies on itself.
    private var replySource: EventLoop.SourceID?
    private var pending: [PoolEvent] = []
    private var dispatching = false
    private var exitCode: ExitCode?
    private var nextStatistics = MonotonicInstant.now()
    var connectionGuard: ConnectionGuard
    /// Handshakes that failed before a key was seen, and when they were last logged.
    var failedHandshakes: UInt64 = 0
    var failedHandshakesLogged: UInt64 = 0
    var nextHandshakeLog = MonotonicInstant.now()
    private var nextMeasurement = MonotonicInstant.now()
    /// How often the memory budget is checked: a client can send 1 GB/s over loopback,
    /// so every 20 ms (mallinfo2 costs microseconds), and every 5 ms past half of it.
    static let measurementInterval = Duration.milliseconds(20)
    static let urgentMeasurementInterval = Duration.milliseconds(5)

    init(
        pool: WorkerPool, broker: Broker, zap: ZAPHandler?, control: ControlServer?, signals: consuming SignalDescriptor,
        notifier: Notifier, configFile: String, readConfiguration: @escaping () throws -> Configuration,
        faults: TestFaults?, connectionGuard: ConnectionGuard, logger: Logger
    ) {
        self.pool = pool
        self.connectionGuard = connectionGuard
        self.broker = broker
        self.zap = zap
        self.processes = WorkerProcesses(backend: broker.backend)
        self.control = control
        self.signals = signals
        self.notifier = notifier
        self.configFile = configFile
        self.readConfiguration = readConfiguration
        self.faults = faults
        self.logger = logger
    }

    /// Runs until every worker is gone. - Returns: the exit code of `filer serve`.
    func run() -> ExitCode {
        loop.add(.descriptor(signals.descriptor.rawValue)) { [unowned self] in takeSignals() }
        loop.add(.descriptor(broker.ended.rawValue)) { [unowned self] in proxyEnded() }
        loop.add(.socket(broker.control)) { [unowned self] in
            guard broker.readAnswers(), faults?.proxySilenced != true else { return }
            post(.proxyAnswered(broker.totals))
        }
        if let control {
            loop.add(.socket(control.socket)) { [unowned self] in answerControl(control) }
        }
        loop.add(.socket(broker.frontendMonitor.events)) { [unowned self] in readConnectionEvents() }
        if let zap {
            loop.add(.socket(zap.socket)) { [unowned self] in
                do throws(ZeroMQError) { try zap.answerWaiting() } catch {
                    post(.masterFailed(reason: "cannot answer CURVE handshakes: \(error)"))
                }
            }
        }
        replySource = loop.add(.socket(broker.backendSocket)) { [unowned self] in broker.forwardReplies() }
        post(.start)
        while exitCode == nil {
            let now = MonotonicInstant.now()
            var timeout = max(0, (min(pool.nextDeadline(after: now), nextMeasurement) - now).milliseconds + 1)
            // A notification the manager could not take yet is retried soon.
            if notifier.hasWaiting { timeout = min(timeout, 100) }
            do {
                try loop.runOnce(timeoutMilliseconds: Int(timeout))
            } catch {
                post(.masterFailed(reason: "the event loop failed: \(error)"))
            }
            if MonotonicInstant.now() >= nextStatistics {
                broker.askStatistics()
                nextStatistics = MonotonicInstant.now() + .seconds(1)
            }
            if MonotonicInstant.now() >= nextMeasurement {
                let urgent = measure()
                nextMeasurement = MonotonicInstant.now() + (urgent ? Self.urgentMeasurementInterval : Self.measurementInterval)
            }
            post(.tick)
            notifier.flush()
        }
        // Every worker is gone: pass on the replies still on their way, until none has
        // come for 100 ms. (A proxy thread that never ended owns the sockets: leave them.)
        if !broker.isForwarding {
            var poller = Poller()
            poller.add(.socket(broker.backendSocket))
            while (try? poller.wait(timeoutMilliseconds: 100)) == true {  // a failed poll: nothing more to pass on
                broker.forwardReplies()
            }
        }
        notifier.flush()
        logger.info("Master \(getpid()) stopped")
        return exitCode ?? .systemFailure
    }

    /// Hands `event` to the pool and performs what it asks, including the events those
    /// actions cause, in order.
    func post(_ event: PoolEvent) {
        pending.append(event)
        guard !dispatching else { return }
        dispatching = true
        while !pending.isEmpty {
            let next = pending.removeFirst()
            for action in pool.handle(next, now: .now()) { perform(action) }
        }
        dispatching = false
    }

    private func perform(_ action: PoolAction) {
        switch action {
        case .spawn(let slot, let configuration):
            do {
                let channel = try processes.spawn(configuration)
                let source = loop.add(.descriptor(channel.pipe.rawValue)) { [unowned self] in readReports(channel.pid) }
                channels[channel.pid] = (channel, source)
                post(.spawned(slot: slot, pid: channel.pid))
            } catch {
                logger.error("Cannot start a worker: \(error)")
                post(.spawnFailed(slot: slot, reason: "\(error)"))
            }
        case .signal(let pid, let signal):
            WorkerProcesses.send(signal, to: pid)
        case .startProxy:
            if let source = replySource { loop.remove(source) }
            replySource = nil
            do {
                try broker.startForwarding()
            } catch {
                post(.proxyFailed(reason: "cannot start the proxy thread: \(error)"))
            }
        case .stopProxy:
            broker.stopForwarding()
        case .reconfigureFrontends(let next):
            do throws(ZeroMQError) {
                try broker.reconfigureFrontends(next.frontends, limits: next.limits, connections: next.connections)
                post(.frontendsReconfigured(.success(())))
            } catch {
                post(.frontendsReconfigured(.failure(ReloadFailure("\(error)"))))
            }
        case .readConfiguration:
            do {
                let next = try readConfiguration()
                // The clients let in are read again now; a file that cannot be read
                // fails the whole reload, so the running set stays.
                if let zap, let path = next.curve.authorizedKeys {
                    zap.authorized = try AuthorizedKeys.load(from: path)
                }
                post(.configurationRead(.success(next)))
            } catch {
                post(.configurationRead(.failure(ReloadFailure("\(error)"))))
            }
        case .setLogLevel(let level):
            LoggingSetup.setLevel(level)
        case .notify(let notification):
            notify(notification)
        case .log(let level, let message, let worker):
            logger.log(level: level, "\(message)", metadata: worker.map { ["worker_pid": "\($0)"] })
        case .exit(let code):
            exitCode = code
        }
    }

    private func notify(_ notification: SystemdNotification) {
        switch notification {
        case .ready(let status): notifier.ready(status: status)
        case .status(let status): notifier.status(status)
        case .reloading(let status): notifier.reloading(status: status)
        case .stopping(let status): notifier.stopping(status: status)
        case .watchdog: notifier.watchdog()
        }
    }

    // MARK: Sources

    private func takeSignals() {
        let taken: [Int32]
        do {
            taken = try signals.take()
        } catch {
            post(.masterFailed(reason: "cannot read signals: \(error)"))
            return
        }
        for signal in taken {
            switch signal {
            case SIGCHLD: reapWorkers()
            case SIGTERM, SIGINT: post(.stopRequested(signal: Signals.name(signal)))
            case SIGHUP: post(.reloadRequested)
            default: break
            }
        }
    }

    private func reapWorkers() {
        while true {
            let reaped: (pid: Int32, termination: Termination)?
            do {
                reaped = try Spawn.reapOne()
            } catch {
                post(.masterFailed(reason: "cannot reap workers: \(error)"))
                return
            }
            guard let (pid, termination) = reaped else { return }
            // What the worker wrote last (its final count, why it failed) comes first.
            readReports(pid)
            if let (_, source) = channels.removeValue(forKey: pid) { loop.remove(source) }
            post(.exited(pid: pid, termination, epochMilliseconds: epochMilliseconds()))
        }
    }

    private func readReports(_ pid: Int32) {
        guard let (channel, source) = channels[pid] else { return }
        let (reports, open) = channel.read()
        for report in reports { post(.report(pid: pid, report)) }
        if !open {
            // The worker closed it: it is exiting, and SIGCHLD follows.
            loop.remove(source)
        }
    }

    private func proxyEnded() {
        let failure = broker.proxyEnded()
        replySource = loop.add(.socket(broker.backendSocket)) { [unowned self] in broker.forwardReplies() }
        if let failure { post(.proxyFailed(reason: failure)) } else { post(.proxyStopped) }
    }

    private func answerControl(_ control: ControlServer) {
        do throws(ZeroMQError) {
            try control.answerWaiting(answer)
        } catch {
            logger.warning("Could not answer on the control socket, bound it anew: \(error)")
        }
    }

    private func answer(_ command: String) -> [UInt8] {
        switch command {
            case "status":
                let now = MonotonicInstant.now()
                var report = pool.statusReport(
                    now: now, epochMilliseconds: epochMilliseconds(), startedAt: startedAt, masterPID: getpid(),
                    configFile: configFile, backend: broker.backend)
                if let zap {
                    report.curve = .init(accepted: zap.acceptedCount, refused: zap.refusedCount, failedHandshakes: failedHandshakes)
                }
                return report.json()
            case "fault silence-proxy" where faults != nil:
                logger.warning("Test fault: the proxy's answers are ignored from now on, as if it hung")
                faults?.proxySilenced = true
                return Array(#"{"fault":"silence-proxy"}"#.utf8)
            default:
                return Array(#"{"error":"unknown command"}"#.utf8)
            }
    }
}
