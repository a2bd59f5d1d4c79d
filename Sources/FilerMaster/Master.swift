import Glibc
import Logging
import Posix
import Systemd
import ZeroMQ
import FilerConfiguration
import FilerCore
import FilerMetrics

/// The effects layer: it turns what the system says into `PoolEvent`s, and the pool's
/// `PoolAction`s into system calls. Every decision is the pool's.
final class Master {
    private(set) var pool: WorkerPool
    /// How requests reach the workers: a broker's proxy, or a worker host's brokers.
    let forwarding: any Forwarding
    private let processes: WorkerProcesses
    private var control: ControlServer?
    private var controlSource: EventLoop.SourceID?
    private let signals: SignalDescriptor
    private let notifier: Notifier
    let loop = EventLoop()
    var metricsServer: MetricsServer?
    var metricsSource: EventLoop.SourceID?
    let logger: Logger
    private let configFile: String
    private let readConfiguration: () throws -> Configuration
    private let faults: TestFaults?
    private let startedAt = MonotonicInstant.now()

    private var channels: [Int32: (channel: WorkerProcesses.Channel, source: EventLoop.SourceID)] = [:]
    private var pending: [PoolEvent] = []
    private var dispatching = false
    private var exitCode: ExitCode?

    init(
        pool: WorkerPool, forwarding: any Forwarding, control: ControlServer?, signals: consuming SignalDescriptor,
        notifier: Notifier, configFile: String, readConfiguration: @escaping () throws -> Configuration,
        faults: TestFaults?, logger: Logger
    ) {
        self.pool = pool
        self.forwarding = forwarding
        self.processes = WorkerProcesses(backends: forwarding.workerBackends)
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
        listen(on: control)
        do throws(SystemError) {
            try serveMetrics(at: pool.configuration.metrics)
        } catch {
            // Serving matters more than being measured: the log says why there are no metrics.
            logger.error("No metrics on \(pool.configuration.metrics.map { "\($0)" } ?? ""): \(error)")
        }
        forwarding.attach(to: loop) { [unowned self] event in post(event) }
        post(.start)
        while exitCode == nil {
            let now = MonotonicInstant.now()
            var timeout = max(0, (min(pool.nextDeadline(after: now), forwarding.nextDue) - now).milliseconds + 1)
            // A notification the manager could not take yet is retried soon.
            if notifier.hasWaiting { timeout = min(timeout, 100) }
            do {
                try loop.runOnce(timeoutMilliseconds: Int(timeout))
            } catch {
                post(.masterFailed(reason: "the event loop failed: \(error)"))
            }
            forwarding.tick(now: .now())
            post(.tick)
            notifier.flush()
        }
        forwarding.finish()
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
            do {
                try forwarding.start()
            } catch {
                post(.proxyFailed(reason: "cannot start the proxy thread: \(error)"))
            }
        case .stopProxy:
            forwarding.stop()
        case .reconfigureFrontends(let next):
            do {
                // The new control endpoint first: if it cannot be bound, nothing has changed.
                let newControl = next.controlEndpoint == control?.endpoint ? nil : try ControlServer(endpoint: next.controlEndpoint)
                try forwarding.reconfigure(next)
                if let newControl { listen(on: newControl) }
                do throws(SystemError) {
                    try serveMetrics(at: next.metrics)
                } catch {
                    // The endpoints have moved already: the reload stands, without the new metrics.
                    logger.error("No metrics on \(next.metrics.map { "\($0)" } ?? ""): \(error)")
                }
                post(.frontendsReconfigured(.success(())))
            } catch {
                post(.frontendsReconfigured(.failure(ReloadFailure("\(error)"))))
            }
        case .readConfiguration:
            do {
                let next = try readConfiguration()
                try forwarding.reloadKeys(next)
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
        case .confirmPaused(let leases):
            forwarding.confirmPaused(leases)
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

    /// Answers `filer status` on `server` from now on, and no longer on the one before.
    private func listen(on server: ControlServer?) {
        if let controlSource { loop.remove(controlSource) }
        control = server
        controlSource = server.map { server in loop.add(.socket(server.socket)) { [unowned self] in answerControl(server) } }
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
                    configFile: configFile, backend: forwarding.backendDescription)
                forwarding.describe(&report)
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
