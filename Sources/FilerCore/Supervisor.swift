import Glibc
public import Logging
public import Posix
import Systemd
import ZeroMQ

/// The master's event loop, on the main thread: it starts one worker process per
/// slot, learns when each is online, restarts those that exit (with backoff), keeps
/// systemd informed, and stops everything on SIGTERM or SIGINT.
///
/// Workers are spawned from this loop only, so from the main thread, which lives as
/// long as the master: a worker's parent-death signal fires when the thread that
/// spawned it ends, and a pool thread could end long before the master does.
public final class Supervisor {
    /// Exit codes of `filer serve`.
    public enum ExitCode {
        public static let stopped: Int32 = 0
        public static let workersCannotStart: Int32 = 69
        public static let systemFailure: Int32 = 71
    }

    private final class WorkerProcess {
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

        init(pid: Int32, status: consuming FileDescriptor) {
            self.pid = pid
            self.status = status
        }
    }

    private struct Slot {
        var process: WorkerProcess?
        var restartAt: MonotonicInstant?
        var backoff: RestartBackoff
    }

    private let configuration: Configuration
    private let broker: Broker
    private let logger: Logger
    private let notifier = Notifier()
    private var slots: [Slot]
    private var crashLoop: CrashLoopDetector
    private var restarts = 0
    /// Requests served by workers that have since exited.
    private var servedByExited: UInt64 = 0
    private var readySent = false
    private var stopDeadline: MonotonicInstant?
    private var exitCode = ExitCode.stopped
    private var lastStatus = ""
    private let watchdogInterval: Double?
    private var nextWatchdog = MonotonicInstant.now()
    private var proxyAlive = true

    public init(configuration: Configuration, broker: Broker, logger: Logger) {
        self.configuration = configuration
        self.broker = broker
        self.logger = logger
        let slot = Slot(process: nil, restartAt: .now(), backoff: RestartBackoff(policy: configuration.restart))
        slots = Array(repeating: slot, count: configuration.workerCount)
        crashLoop = CrashLoopDetector(limit: configuration.restart.maxFailedStarts)
        watchdogInterval = notifier.watchdogInterval
    }

    /// Runs until the daemon stops. - Returns: the exit code of `filer serve`.
    public func run(signals: borrowing SignalDescriptor) -> Int32 {
        logger.info(
            "Master \(getpid()) serving \(configuration.root) on \(broker.frontends.joined(separator: ", ")) with \(slots.count) workers",
            metadata: ["backend": "\(broker.backend)"])
        while true {
            startDueWorkers()
            if stopDeadline != nil && liveWorkers == 0 { break }
            updateStatus()
            feedWatchdog()

            var poller = Poller()
            poller.add(.descriptor(signals.descriptor.rawValue))
            poller.add(.descriptor(broker.proxyEnded.rawValue))
            let watched = slots.indices.filter { slots[$0].process?.statusOpen == true }
            for index in watched { poller.add(.descriptor(slots[index].process!.status.rawValue)) }

            let ready: [Bool]
            do {
                ready = try poller.waitReadable(timeoutMilliseconds: pollTimeoutMilliseconds())
            } catch {
                logger.critical("The master's event loop failed: \(error)")
                beginStop(exitCode: ExitCode.systemFailure)
                continue
            }
            if ready[0] { handleSignals(signals) }
            if ready[1] && proxyAlive {
                proxyAlive = false
                logger.critical("The proxy thread stopped; stopping the daemon")
                beginStop(exitCode: ExitCode.systemFailure)
            }
            for (position, index) in watched.enumerated() where ready[position + 2] {
                readReports(slot: index)
            }
            if let deadline = stopDeadline, MonotonicInstant.now() >= deadline {
                killRemainingWorkers(reason: "did not stop within \(configuration.stopTimeout) s")
                stopDeadline = .now().adding(seconds: 3600)
            }
        }
        broker.stop(drainTimeout: 1)
        logger.info("Master \(getpid()) stopped")
        return exitCode
    }

    // MARK: Workers

    private var liveWorkers: Int { slots.filter { $0.process != nil }.count }
    private var onlineWorkers: Int { slots.filter { $0.process?.online == true }.count }

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
                slots[index].restartAt = now.adding(seconds: slots[index].backoff.delayAfterExit(ranFor: 0))
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
            "--max-file-size", "\(configuration.maxFileSize)",
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
        return WorkerProcess(pid: pid, status: pipe.read)
    }

    private func readReports(slot index: Int) {
        guard let process = slots[index].process, process.statusOpen else { return }
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
        for report in process.parser.feed(bytes) {
            switch report {
            case .online:
                process.online = true
                crashLoop.workerCameOnline()
                logger.info("Worker \(process.pid) is online.", metadata: ["worker_pid": "\(process.pid)"])
                if !readySent && proxyAlive && onlineWorkers == slots.count && stopDeadline == nil {
                    readySent = true
                    lastStatus = statusLine()
                    notifier.ready(status: lastStatus)
                    logger.info("Ready: \(lastStatus)")
                }
            case .served(let count):
                process.served = count
            case .fatal(let reason):
                process.fatalReason = reason
            }
        }
    }

    private func reapWorkers() {
        while let (pid, termination) = try? Spawn.reapOne() {
            guard let index = slots.firstIndex(where: { $0.process?.pid == pid }) else { continue }
            let process = slots[index].process!
            if process.statusOpen, let rest = try? process.status.read(upTo: 4096) {
                _ = process.parser.feed(rest).map { report in
                    if case .served(let count) = report { process.served = count }
                    if case .fatal(let reason) = report { process.fatalReason = reason }
                }
            }
            slots[index].process = nil
            servedByExited += process.served
            let exitStatus: String
            let exitKind: String
            switch termination {
            case .exited(let code): (exitKind, exitStatus) = ("exited", "\(code)")
            case .killed(let signal): (exitKind, exitStatus) = ("killed", Signals.name(signal))
            }
            let metadata: Logger.Metadata = [
                "worker_pid": "\(pid)", "exit_code": "\(exitKind)", "exit_status": "\(exitStatus)",
            ]
            let message: Logger.Message = "Worker \(pid) \(termination)"
            if stopDeadline != nil {
                logger.info(message, metadata: metadata)
                continue
            }
            logger.warning(message, metadata: metadata)
            if crashLoop.workerEnded(wasOnline: process.online) {
                giveUp(reason: process.fatalReason ?? "the last one \(termination)")
                return
            }
            let ranFor = MonotonicInstant.now().seconds(since: process.startedAt)
            let delay = slots[index].backoff.delayAfterExit(ranFor: ranFor)
            slots[index].restartAt = MonotonicInstant.now().adding(seconds: delay)
            restarts += 1
            logger.debug("Restarting worker slot \(index) in \(delay) s")
        }
    }

    private func giveUp(reason: String) {
        logger.critical(
            "Workers cannot start: \(crashLoop.failedStartsInARow) starts in a row failed before coming online; \(reason)")
        beginStop(exitCode: ExitCode.workersCannotStart)
    }

    // MARK: Signals and stopping

    private func handleSignals(_ signals: borrowing SignalDescriptor) {
        let taken = (try? signals.take()) ?? []
        for signal in taken {
            switch signal {
            case SIGCHLD:
                reapWorkers()
            case SIGTERM, SIGINT:
                if stopDeadline == nil {
                    logger.info("Stopping on \(Signals.name(signal))")
                    beginStop(exitCode: ExitCode.stopped)
                } else {
                    killRemainingWorkers(reason: "a second \(Signals.name(signal)) arrived")
                }
            case SIGHUP:
                logger.notice("SIGHUP: reloading is not supported yet; the configuration is unchanged")
            default:
                break
            }
        }
    }

    private func beginStop(exitCode: Int32) {
        guard stopDeadline == nil else { return }
        self.exitCode = exitCode
        stopDeadline = MonotonicInstant.now().adding(seconds: configuration.stopTimeout)
        notifier.stopping(status: "Stopping: \(liveWorkers) workers finishing")
        for slot in slots {
            if let process = slot.process { Spawn.send(SIGTERM, to: process.pid) }
        }
    }

    private func killRemainingWorkers(reason: String) {
        for slot in slots {
            guard let process = slot.process else { continue }
            logger.warning("Killing worker \(process.pid): \(reason)", metadata: ["worker_pid": "\(process.pid)"])
            Spawn.send(SIGKILL, to: process.pid)
        }
    }

    // MARK: systemd

    private func statusLine() -> String {
        let served = servedByExited + slots.reduce(0) { $0 + ($1.process?.served ?? 0) }
        return "\(onlineWorkers)/\(slots.count) workers online, \(restarts) restarts, \(served) requests served"
    }

    private func updateStatus() {
        guard stopDeadline == nil else { return }
        let line = statusLine()
        if line != lastStatus {
            lastStatus = line
            notifier.status(line)
        }
    }

    /// Pings the watchdog at half its interval, and only while the daemon can serve.
    private func feedWatchdog() {
        guard let interval = watchdogInterval, proxyAlive, onlineWorkers > 0 else { return }
        let now = MonotonicInstant.now()
        guard now >= nextWatchdog else { return }
        notifier.watchdog()
        nextWatchdog = now.adding(seconds: interval / 2)
    }

    private func pollTimeoutMilliseconds() -> Int {
        var wake: [MonotonicInstant] = slots.compactMap(\.restartAt)
        if let deadline = stopDeadline { wake.append(deadline) }
        if watchdogInterval != nil { wake.append(nextWatchdog) }
        // Served counts arrive at most once a second; the STATUS line follows them.
        var timeout = 1_000
        if let earliest = wake.min() {
            let seconds = earliest.seconds(since: .now())
            timeout = min(timeout, max(0, Int((seconds * 1000).rounded(.up))))
        }
        return timeout
    }
}
