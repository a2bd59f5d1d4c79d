import Glibc
public import Logging
public import Posix
import Systemd
import ZeroMQ
public import FilerConfiguration

/// The master's event loop, on the main thread: it starts one worker process per
/// slot, learns when each is online, restarts those that exit (with backoff), replaces
/// hung and worn-out workers, reloads on SIGHUP, answers `filer status`, keeps systemd
/// informed, and stops everything on SIGTERM or SIGINT.
///
/// Workers are spawned from this loop only, so from the main thread, which lives as
/// long as the master: a worker's parent-death signal fires when the thread that
/// spawned it ends, and a pool thread could end long before the master does.
///
/// Replacing a worker loses no request. The replacement starts first; once it is
/// online the proxy is stopped (new requests wait in the frontend), the old worker
/// gets SIGTERM and answers everything already queued to it, and when it has exited
/// the proxy resumes and carries its last replies out.
public final class Supervisor {
    final class WorkerProcess {
        let pid: Int32
        let startedAt = MonotonicInstant.now()
        /// The read end of the worker's status pipe.
        let status: FileDescriptor
        /// Whether the status pipe may still carry reports (false after end of file).
        var statusOpen = true
        var parser = WorkerReportParser()
        var online = false
        var served: UInt64 = 0
        var fatalReason: String?
        /// When the worker last reported; it does every second while healthy.
        var lastHeard = MonotonicInstant.now()
        /// Set when the worker was found hung and sent SIGABRT.
        var abortedAt: MonotonicInstant?
        /// Recycle after this many requests (nil: never).
        let requestLimit: UInt64?

        init(pid: Int32, status: consuming FileDescriptor, requestLimit: UInt64?) {
            self.pid = pid
            self.status = status
            self.requestLimit = requestLimit
        }
    }

    struct Slot {
        var process: WorkerProcess?
        var restartAt: MonotonicInstant?
        var backoff: RestartBackoff
        var restarts = 0
    }

    private var configuration: Configuration
    private let configFile: String
    private let reloadConfiguration: () throws -> Configuration
    private let broker: Broker
    private let control: ControlServer?
    private let logger: Logger
    private let notifier = Notifier()
    private let startedAt = MonotonicInstant.now()

    private var slots: [Slot] = []
    /// Replaced workers: still serving until every slot's worker is online.
    private var replaced: [WorkerProcess] = []
    /// Retiring workers: told to finish (SIGTERM) while the proxy is stopped.
    private var draining: [WorkerProcess] = []
    private var crashLoop: CrashLoopDetector
    private var restarts = 0
    private var recentExits: [StatusReport.Exit] = []
    private var readySent = false
    private var reloading = false
    private var stopDeadline: MonotonicInstant?
    private var exitCode = ExitCode.success
    private var lastStatus = ""
    private var nextStatusUpdate = MonotonicInstant.now()
    private var lastWorkersSummary = ""
    private let watchdogInterval: Double?
    private var nextWatchdog = MonotonicInstant.now()
    private var proxyAlive = true

    /// - Parameters:
    ///   - reloadConfiguration: reads the configuration again, as at start (for SIGHUP).
    ///   - control: where `filer status` asks, if it could be bound.
    public init(
        configuration: Configuration, configFile: String, reloadConfiguration: @escaping () throws -> Configuration,
        broker: Broker, control: ControlServer?, logger: Logger
    ) {
        self.configuration = configuration
        self.configFile = configFile
        self.reloadConfiguration = reloadConfiguration
        self.broker = broker
        self.control = control
        self.logger = logger
        crashLoop = CrashLoopDetector(limit: configuration.restart.maxFailedStarts)
        watchdogInterval = notifier.watchdogInterval
        slots = Self.freshSlots(for: configuration)
        if Self.faultsEnabled {
            control?.onFault = { [broker, logger] in
                logger.warning("Test fault: silencing the proxy thread")
                broker.silenceProxyForTesting()
            }
        }
    }

    /// The fault switch the tests use to prove the watchdog (`fault silence-proxy` on the
    /// control socket). Off unless the daemon is started with FILER_TEST_FAULTS=1, which
    /// no shipped file sets; even then only root and the service's user can reach it.
    static let faultsEnabled = environmentValue("FILER_TEST_FAULTS") == "1"

    private static func freshSlots(for configuration: Configuration) -> [Slot] {
        let slot = Slot(process: nil, restartAt: .now(), backoff: RestartBackoff(policy: configuration.restart))
        return Array(repeating: slot, count: configuration.workerCount)
    }

    /// Runs until the daemon stops. - Returns: the exit code of `filer serve`.
    public func run(signals: borrowing SignalDescriptor) -> ExitCode {
        logger.info(
            "Master \(getpid()) serving \(configuration.root) on \(broker.frontends.joined(separator: ", ")) with \(slots.count) workers",
            metadata: ["backend": "\(broker.backend)"])
        while true {
            startDueWorkers()
            retireReplacedWorkers()
            finishReload()
            if stopDeadline != nil && liveWorkers.isEmpty { break }
            steerProxy()
            checkHealth()
            updateStatus()
            feedWatchdog()
            notifier.flush()

            var poller = Poller()
            poller.add(.descriptor(signals.descriptor.rawValue))
            poller.add(.descriptor(broker.proxyFailed.rawValue))
            if let control { poller.add(.socket(control.socket)) }
            let fixedSources = control == nil ? 2 : 3
            let watched = liveWorkers.filter(\.statusOpen)
            for process in watched { poller.add(.descriptor(process.status.rawValue)) }

            do {
                try poller.wait(timeoutMilliseconds: pollTimeoutMilliseconds())
            } catch {
                logger.critical("The master's event loop failed: \(error)")
                beginStop(exitCode: ExitCode.systemFailure)
                continue
            }
            for (position, process) in watched.enumerated() where poller.isReadable(position + fixedSources) {
                readReports(of: process)
            }
            if poller.isReadable(0) { handleSignals(signals) }
            if poller.isReadable(1) && proxyAlive {
                proxyAlive = false
                logger.critical("The proxy thread failed; stopping the daemon")
                beginStop(exitCode: ExitCode.systemFailure)
            }
            if fixedSources == 3 && poller.isReadable(2) { control?.answer(with: statusReport) }
            if let deadline = stopDeadline, MonotonicInstant.now() >= deadline {
                killRemainingWorkers(reason: "did not stop within \(configuration.stopTimeout)")
                stopDeadline = .now().adding(seconds: 3600)
            }
        }
        notifier.flush()
        let forwarded = broker.forwardWaitingReplies(quietMilliseconds: 100)
        logger.info("Master \(getpid()) stopped", metadata: ["replies_delivered_at_stop": "\(forwarded)"])
        return exitCode
    }

    // MARK: Worker states

    private var liveWorkers: [WorkerProcess] { slots.compactMap(\.process) + replaced + draining }
    private var onlineWorkers: Int { slots.filter { $0.process?.online == true }.count }
    /// Workers the proxy may hand requests to.
    private var servingWorkers: Int { onlineWorkers + replaced.filter(\.online).count }

    // MARK: The proxy

    /// Forwards while a worker can serve, unless workers are draining or the daemon stops.
    private func steerProxy() {
        guard proxyAlive, stopDeadline == nil else { return }
        let shouldForward = servingWorkers > 0 && draining.isEmpty
        if shouldForward && !broker.isForwarding {
            do {
                try broker.startForwarding { [logger] error in logger.critical("The proxy failed: \(error)") }
            } catch {
                logger.critical("Cannot start the proxy thread: \(error)")
                proxyAlive = false
                beginStop(exitCode: ExitCode.systemFailure)
            }
        } else if !shouldForward && broker.isForwarding {
            broker.stopForwarding()
        }
    }

    // MARK: Starting and replacing workers

    private func startDueWorkers() {
        guard stopDeadline == nil else { return }
        let now = MonotonicInstant.now()
        for index in slots.indices {
            guard slots[index].process == nil, let due = slots[index].restartAt, due <= now else { continue }
            slots[index].restartAt = nil
            do {
                slots[index].process = try spawnWorker()
            } catch {
                logger.error("Cannot start a worker: \(error)")
                if crashLoop.workerEnded(wasOnline: false) {
                    giveUp(reason: "\(error)")
                    return
                }
                slots[index].restartAt = now + slots[index].backoff.delayAfterExit(ranFor: .zero)
            }
        }
    }

    private func spawnWorker() throws(SystemError) -> WorkerProcess {
        let pipe = try makePipe()
        let environment = currentEnvironment().filter { entry in
            let name = entry.split(separator: "=", maxSplits: 1).first.map(String.init) ?? entry
            return !Notifier.privateEnvironment.contains(name)
        }
        let arguments = [
            "filer", "worker",
            "--backend", broker.backend,
            "--root", configuration.root,
            "--max-file-size", "\(configuration.limits.maxFileSize)",
            "--max-reply-size", "\(configuration.limits.maxReplySize)",
            "--master-pid", "\(getpid())",
            "--log-level", "\(configuration.logLevel)",
        ]
        // /proc/self/exe: the very binary we run, even if a package upgrade replaced the file.
        let pid = try Spawn.process(
            executable: "/proc/self/exe", arguments: arguments, environment: environment,
            descriptors: [(child: WorkerReport.descriptor, parent: pipe.write.rawValue)],
            resetSignals: [SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGPIPE])
        try pipe.read.setNonBlocking()
        logger.debug("Worker \(pid) started", metadata: ["worker_pid": "\(pid)"])
        return WorkerProcess(pid: pid, status: pipe.read, requestLimit: requestLimit())
    }

    private func requestLimit() -> UInt64? {
        let health = configuration.health
        guard health.maxRequests > 0 else { return nil }
        let jitter = health.maxRequestsJitter > 0 ? Int.random(in: 0...health.maxRequestsJitter) : 0
        return UInt64(health.maxRequests + jitter)
    }

    /// Moves a slot's worker aside and starts its successor at once.
    private func replace(slot index: Int, reason: String) {
        guard let process = slots[index].process else { return }
        logger.info(
            "Replacing worker \(process.pid): \(reason)", metadata: ["worker_pid": "\(process.pid)"])
        replaced.append(process)
        slots[index].process = nil
        slots[index].restartAt = .now()
    }

    /// Once every slot's worker is online, retires the replaced ones without losing a
    /// request: the proxy stops, they answer what is queued to them, and exit.
    private func retireReplacedWorkers() {
        guard !replaced.isEmpty, onlineWorkers == slots.count else { return }
        broker.stopForwarding()
        for process in replaced {
            Spawn.send(SIGTERM, to: process.pid)
            draining.append(process)
        }
        replaced.removeAll()
    }

    // MARK: Status reports from workers

    private func readReports(of process: WorkerProcess) {
        let bytes: [UInt8]
        do {
            bytes = try process.status.read(upTo: 4096)
        } catch {
            if error.errno == EAGAIN { return }
            bytes = []
        }
        if bytes.isEmpty {
            process.statusOpen = false  // the worker closed it: it is exiting; SIGCHLD follows
            return
        }
        process.lastHeard = .now()
        for report in process.parser.feed(bytes) {
            switch report {
            case .online:
                process.online = true
                crashLoop.workerCameOnline()
                logger.info("Worker \(process.pid) is online.", metadata: ["worker_pid": "\(process.pid)"])
                steerProxy()
                if !readySent && broker.isForwarding && onlineWorkers == slots.count && stopDeadline == nil {
                    readySent = true
                    lastStatus = statusLine()
                    notifier.ready(status: lastStatus)
                    logger.info("Ready: \(lastStatus)")
                }
            case .served(let count):
                process.served = count
            case .fatal(let reason):
                process.fatalReason = reason
            case .abandoned(let count):
                logger.warning("Worker \(process.pid) stopped with \(count) requests unanswered")
            }
        }
    }

    /// Hung workers (silent past the heartbeat timeout) get SIGABRT, then SIGKILL;
    /// worn-out workers (past their request limit) are replaced.
    private func checkHealth() {
        let now = MonotonicInstant.now()
        let timeout = configuration.health.heartbeatTimeout.seconds
        for process in liveWorkers {
            if let aborted = process.abortedAt {
                if now.seconds(since: aborted) >= 2 {
                    Spawn.send(SIGKILL, to: process.pid)
                }
                continue
            }
            let silence = now.seconds(since: process.lastHeard)
            guard silence >= timeout else { continue }
            let state = process.online ? "stopped reporting" : "did not come online"
            logger.error(
                "Worker \(process.pid) is hung: it \(state) for \(Int(silence)) s; sending SIGABRT",
                metadata: ["worker_pid": "\(process.pid)", "reason": "hung"])
            process.fatalReason = "hung: no heartbeat for \(Int(silence)) s"
            process.abortedAt = now
            Spawn.send(SIGABRT, to: process.pid)
        }
        guard stopDeadline == nil else { return }
        for index in slots.indices {
            guard let process = slots[index].process, process.online, let limit = process.requestLimit,
                process.served >= limit
            else { continue }
            replace(slot: index, reason: "served \(process.served) requests (max_requests)")
        }
    }

    // MARK: Exits

    private func reapWorkers() {
        while let (pid, termination) = try? Spawn.reapOne() {
            if let index = slots.firstIndex(where: { $0.process?.pid == pid }) {
                let process = slots[index].process!
                slots[index].process = nil
                record(process, termination)
                guard stopDeadline == nil else { continue }
                if crashLoop.workerEnded(wasOnline: process.online) {
                    giveUp(reason: process.fatalReason ?? "the last one \(termination)")
                    return
                }
                let ranFor = MonotonicInstant.now() - process.startedAt
                let delay = slots[index].backoff.delayAfterExit(ranFor: ranFor)
                slots[index].restartAt = MonotonicInstant.now() + delay
                slots[index].restarts += 1
                restarts += 1
                logger.debug("Restarting worker slot \(index) in \(delay) s")
            } else if let index = replaced.firstIndex(where: { $0.pid == pid }) {
                record(replaced.remove(at: index), termination)
            } else if let index = draining.firstIndex(where: { $0.pid == pid }) {
                record(draining.remove(at: index), termination, expected: true)
            }
        }
    }

    /// Logs a worker's exit (the seed's "Worker PID exited with code N") and keeps it for `filer status`.
    private func record(_ process: WorkerProcess, _ termination: Termination, expected: Bool = false) {
        if process.statusOpen, let rest = try? process.status.read(upTo: 4096) {
            for report in process.parser.feed(rest) {
                if case .served(let count) = report { process.served = count }
                if case .fatal(let reason) = report { process.fatalReason = reason }
            }
        }
        let (exitKind, exitStatus): (String, String)
        switch termination {
        case .exited(let code): (exitKind, exitStatus) = ("exited", "\(code)")
        case .killed(let signal): (exitKind, exitStatus) = ("killed", Signals.name(signal))
        }
        var metadata: Logger.Metadata = [
            "worker_pid": "\(process.pid)", "exit_code": "\(exitKind)", "exit_status": "\(exitStatus)",
        ]
        if let reason = process.fatalReason { metadata["reason"] = "\(reason)" }
        let message: Logger.Message = "Worker \(process.pid) \(termination)"
        if expected || stopDeadline != nil {
            logger.info(message, metadata: metadata)
        } else {
            logger.warning(message, metadata: metadata)
        }
        recentExits.append(
            StatusReport.Exit(pid: process.pid, time: epochMilliseconds(), how: "\(termination)", reason: process.fatalReason))
        if recentExits.count > 10 { recentExits.removeFirst() }
    }

    private func giveUp(reason: String) {
        logger.critical(
            "Workers cannot start: \(crashLoop.failedStartsInARow) starts in a row failed before coming online; \(reason)")
        beginStop(exitCode: ExitCode.workersCannotStart)
    }

    // MARK: Signals: stop and reload

    private func handleSignals(_ signals: borrowing SignalDescriptor) {
        let taken = (try? signals.take()) ?? []
        for signal in taken {
            switch signal {
            case SIGCHLD:
                reapWorkers()
            case SIGTERM, SIGINT:
                if stopDeadline == nil {
                    logger.info("Stopping on \(Signals.name(signal))")
                    beginStop(exitCode: ExitCode.success)
                } else {
                    killRemainingWorkers(reason: "a second \(Signals.name(signal)) arrived")
                }
            case SIGHUP:
                reload()
            default:
                break
            }
        }
    }

    /// Stops taking requests (the proxy ends; new ones wait in the frontend and go
    /// with it), lets each worker answer what is already queued to it, and ends them.
    private func beginStop(exitCode: ExitCode) {
        guard stopDeadline == nil else { return }
        self.exitCode = exitCode
        stopDeadline = MonotonicInstant.now() + configuration.stopTimeout
        notifier.stopping(status: "Stopping: \(liveWorkers.count) workers finishing")
        broker.stopForwarding()
        for process in liveWorkers { Spawn.send(SIGTERM, to: process.pid) }
    }

    private func killRemainingWorkers(reason: String) {
        for process in liveWorkers {
            logger.warning("Killing worker \(process.pid): \(reason)", metadata: ["worker_pid": "\(process.pid)"])
            Spawn.send(SIGKILL, to: process.pid)
        }
    }

    /// SIGHUP: reads the configuration again. A bad one changes nothing (and says why);
    /// a good one is applied, and every worker is replaced without losing a request.
    private func reload() {
        guard stopDeadline == nil else { return }
        notifier.reloading(status: "Reloading the configuration")
        logger.notice("Reloading the configuration from \(configFile)")
        var next: Configuration
        do {
            next = try reloadConfiguration()
        } catch {
            logger.error("Reload failed; still running the previous configuration: \(error)")
            notifier.ready(status: statusLine())
            return
        }
        if next.backend != configuration.backend {
            logger.warning("The backend endpoint changes only on restart; keeping \(broker.backend)")
            next.backend = configuration.backend
        }
        if next.control != configuration.control {
            logger.warning("The control endpoint changes only on restart")
            next.control = configuration.control
        }
        if next.frontends != configuration.frontends || next.limits != configuration.limits || next.connections != configuration.connections {
            broker.stopForwarding()
            do {
                try broker.reconfigureFrontends(next.frontends, limits: next.limits, connections: next.connections)
            } catch {
                logger.error("Reload failed; still running the previous configuration: \(error)")
                notifier.ready(status: statusLine())
                return
            }
        }
        configuration = next
        LoggingSetup.setLevel(next.logLevel)
        crashLoop = CrashLoopDetector(limit: next.restart.maxFailedStarts)
        for slot in slots { if let process = slot.process { replaced.append(process) } }
        slots = Self.freshSlots(for: next)
        reloading = true
        logger.notice("Starting \(slots.count) workers with the new configuration; the \(replaced.count) running ones serve until they are online")
    }

    private func finishReload() {
        guard reloading, replaced.isEmpty, draining.isEmpty, onlineWorkers == slots.count else { return }
        reloading = false
        steerProxy()
        lastStatus = statusLine()
        notifier.ready(status: lastStatus)
        logger.notice("Reloaded: \(lastStatus)")
    }

    // MARK: systemd and `filer status`

    /// Requests answered: the replies the proxy passed to clients. Exact, unlike the
    /// workers' own counts, which a killed worker takes with it since its last report.
    private func requestsServed() -> UInt64 {
        broker.statistics().frontendMessagesOut
    }

    private var workersSummary: String {
        "\(onlineWorkers)/\(slots.count) workers online, \(restarts) restarts"
    }

    private func statusLine() -> String {
        "\(workersSummary), \(requestsServed()) requests served"
    }

    /// Sends STATUS= when workers come or go, and at most once a second for the
    /// request count (which asks the proxy thread).
    private func updateStatus() {
        guard stopDeadline == nil, !reloading else { return }
        let now = MonotonicInstant.now()
        guard workersSummary != lastWorkersSummary || now >= nextStatusUpdate else { return }
        lastWorkersSummary = workersSummary
        nextStatusUpdate = now.adding(seconds: 1)
        let line = statusLine()
        if line != lastStatus {
            lastStatus = line
            notifier.status(line)
        }
    }

    /// Pings the watchdog at half its interval, and only while the daemon can serve:
    /// the proxy thread answers, and a worker is online.
    private func feedWatchdog() {
        guard let interval = watchdogInterval, proxyAlive, servingWorkers > 0 else { return }
        let now = MonotonicInstant.now()
        guard now >= nextWatchdog else { return }
        if broker.isForwarding && !broker.proxyAnswers(timeoutMilliseconds: 1_000) {
            logger.error("The proxy thread does not answer; the watchdog is no longer fed")
            return
        }
        notifier.watchdog()
        nextWatchdog = now.adding(seconds: interval / 2)
    }

    func statusReport() -> StatusReport {
        let statistics = broker.statistics()
        let now = MonotonicInstant.now()
        func describe(_ process: WorkerProcess, _ state: String, restarts: Int?) -> StatusReport.Worker {
            StatusReport.Worker(
                state: state, pid: process.pid, uptimeSeconds: now.seconds(since: process.startedAt),
                requestsServed: process.served, slotRestarts: restarts)
        }
        var workers = slots.compactMap { slot in
            slot.process.map { describe($0, $0.online ? "online" : "starting", restarts: slot.restarts) }
        }
        workers += replaced.map { describe($0, "replaced", restarts: nil) }
        workers += draining.map { describe($0, "draining", restarts: nil) }
        let state =
            stopDeadline != nil ? "stopping" : reloading ? "reloading" : readySent ? "ready" : "starting"
        return StatusReport(
            version: filerVersion, masterPID: getpid(), state: state, uptimeSeconds: now.seconds(since: startedAt),
            configFile: configFile, frontends: configuration.frontends, backend: broker.backend,
            root: configuration.root, workersExpected: slots.count, workersOnline: onlineWorkers, restarts: restarts,
            requestsServed: statistics.frontendMessagesOut,
            frontend: .init(
                messagesIn: statistics.frontendMessagesIn, bytesIn: statistics.frontendBytesIn,
                messagesOut: statistics.frontendMessagesOut, bytesOut: statistics.frontendBytesOut),
            backendTraffic: .init(
                messagesIn: statistics.backendMessagesIn, bytesIn: statistics.backendBytesIn,
                messagesOut: statistics.backendMessagesOut, bytesOut: statistics.backendBytesOut),
            workers: workers, recentExits: recentExits)
    }

    private func pollTimeoutMilliseconds() -> Int {
        var wake: [MonotonicInstant] = slots.compactMap(\.restartAt)
        if let deadline = stopDeadline { wake.append(deadline) }
        if watchdogInterval != nil { wake.append(nextWatchdog) }
        // Workers report once a second; the STATUS line and health checks follow them.
        var timeout = 1_000
        if let earliest = wake.min() {
            let seconds = earliest.seconds(since: .now())
            timeout = min(timeout, max(0, Int((seconds * 1000).rounded(.up))))
        }
        // While workers drain, look often: the proxy resumes as soon as they are gone.
        if !draining.isEmpty { timeout = min(timeout, 10) }
        // A notification the manager could not take yet is retried soon.
        if notifier.hasWaiting { timeout = min(timeout, 100) }
        return timeout
    }
}
