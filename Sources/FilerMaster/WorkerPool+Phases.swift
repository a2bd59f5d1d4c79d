import Logging
import Posix
import ZeroMQ
import FilerConfiguration
import FilerCore

/// The daemon's phases: ready, reloading, stopping; and the proxy that serves them.
extension WorkerPool {
    /// After every event: time-driven work, then whatever the new state calls for.
    mutating func reconcile(now: MonotonicInstant, _ actions: inout [PoolAction]) {
        if case .stopped = phase { return }
        checkHealth(now: now, &actions)
        startDueWorkers(now: now, &actions)
        retireReplacedWorkers(now: now, &actions)
        steerProxy(now: now, &actions)
        continueStop(now: now, &actions)
        finishReload(now: now, &actions)
        announceReady(&actions)
        updateStatus(now: now, &actions)
        feedWatchdog(now: now, &actions)
    }

    /// Whether every slot has a worker online (or cannot have one for want of its root).
    var everySlotServes: Bool {
        slots.allSatisfy { slot in slot.rootProblem != nil || slot.worker.flatMap { workers[$0] }?.state == .online }
    }

    private var hasRetiringWorkers: Bool {
        workers.values.contains { worker in
            switch worker.state {
            case .draining, .abandoning: true
            default: false
            }
        }
    }

    private var hasReplacedWorkers: Bool { workers.values.contains { $0.state == .replaced } }

    // MARK: The proxy

    /// Forwards while a worker can serve; stops while replaced workers drain, while
    /// the frontends are reconfigured, and to stop.
    private mutating func steerProxy(now: MonotonicInstant, _ actions: inout [PoolAction]) {
        for (lease, end) in leases where end <= now {
            leases[lease] = nil
            leasesToConfirm.remove(lease)
            actions.append(.log(.warning, "A worker host's pause (lease \(lease)) ran out before it said it was done; resuming", worker: nil))
        }
        let retire = hasRetiringWorkers || (hasReplacedWorkers && everySlotServes)
        // On a worker host the "proxy" is the brokers' forwarding, which this host only
        // pauses, and only while one of its workers leaves.
        let workersToServe = configuration.role == .workers || servingCount > 0
        let forward = !isStopping && workersToServe && !retire && frontendsPending == nil && leases.isEmpty
        switch (proxy, forward) {
        case (.stopped, true):
            proxy = .running
            proxyAnsweredAt = now
            proxySilentLogged = false
            actions.append(.startProxy)
        case (.running, false):
            proxy = .stopping
            proxyStopRequestedAt = now
            actions.append(.stopProxy)
        case (.stopped, false):
            if !leasesToConfirm.isEmpty {
                actions.append(.confirmPaused(leasesToConfirm.sorted()))
                leasesToConfirm = []
            }
            if let next = frontendsPending, !frontendsRequested, !isStopping {
                frontendsRequested = true
                actions.append(.reconfigureFrontends(next))
            }
        default:
            break
        }
    }

    mutating func proxyStopped(now: MonotonicInstant, _ actions: inout [PoolAction]) {
        proxy = .stopped
    }

    mutating func proxyFailed(_ reason: String, now: MonotonicInstant, _ actions: inout [PoolAction]) {
        proxy = .stopped
        guard !isStopping else { return }
        actions.append(.log(.critical, "The proxy thread failed (\(reason)); stopping the daemon", worker: nil))
        beginStop(code: .systemFailure, now: now, &actions)
    }

    mutating func proxyAnswered(_ totals: Proxy.Statistics, now: MonotonicInstant) {
        self.totals = totals
        proxyAnsweredAt = now
    }

    /// Once every slot is online again, the replaced workers answer their queues and
    /// exit; the proxy is stopped first, so their queues only shrink.
    private mutating func retireReplacedWorkers(now: MonotonicInstant, _ actions: inout [PoolAction]) {
        guard proxy == .stopped, hasReplacedWorkers, everySlotServes, !isStopping else { return }
        let deadline = now + configuration.health.drainTimeout
        for pid in workers.keys.sorted() where workers[pid]?.state == .replaced {
            workers[pid]?.state = .draining(deadline: deadline)
            actions.append(.signal(pid: pid, .drain))
        }
    }

    // MARK: Ready, stop

    private mutating func announceReady(_ actions: inout [PoolAction]) {
        guard phase == .starting, everySlotServes, proxy == .running || servingCount == 0 else { return }
        phase = .serving
        let line = statusLine()
        statusSent = line
        actions.append(.notify(.ready(status: line)))
        actions.append(.log(.info, "Ready: \(line)", worker: nil))
    }

    mutating func stopRequested(_ signal: String, now: MonotonicInstant, _ actions: inout [PoolAction]) {
        if isStopping {
            for pid in workers.keys.sorted() {
                actions.append(.log(.warning, "Killing worker \(pid): a second \(signal) arrived", worker: pid))
                actions.append(.signal(pid: pid, .kill))
            }
            return
        }
        actions.append(.log(.info, "Stopping on \(signal)", worker: nil))
        beginStop(code: .success, now: now, &actions)
    }

    /// Stops taking requests (the proxy ends; new ones wait in the frontend and go with
    /// it); each worker then answers what is already queued to it, and exits.
    mutating func beginStop(code: ExitCode, now: MonotonicInstant, _ actions: inout [PoolAction]) {
        guard !isStopping else { return }
        phase = .stopping(code: code, deadline: now + configuration.stopTimeout, killed: false)
        actions.append(.notify(.stopping(status: "Stopping: \(workers.count) workers finishing")))
    }

    private mutating func continueStop(now: MonotonicInstant, _ actions: inout [PoolAction]) {
        guard case .stopping(let code, let deadline, var killed) = phase else { return }
        if proxy == .stopped {
            for pid in workers.keys.sorted() {
                switch workers[pid]?.state {
                case .starting, .online, .replaced:
                    workers[pid]?.state = .stopping
                    actions.append(.signal(pid: pid, .drain))
                default:
                    break
                }
            }
        }
        if now >= deadline && !killed {
            for pid in workers.keys.sorted() {
                actions.append(.log(.warning, "Killing worker \(pid): it did not stop within stop_timeout", worker: pid))
                actions.append(.signal(pid: pid, .kill))
            }
            killed = true
            phase = .stopping(code: code, deadline: deadline, killed: true)
        }
        // A proxy thread that has not ended by the deadline is not waited for; nor one
        // that has not ended in 3 s once this host has no worker left: it can only be
        // stuck handing a request to a backend with no worker connected at all.
        let proxyStuck = proxy == .stopping && now - proxyStopRequestedAt >= Self.proxyAnswerLimit
        if workers.isEmpty && (proxy == .stopped || killed || proxyStuck) {
            phase = .stopped(code)
            actions.append(.exit(code))
        }
    }

    // MARK: systemd

    /// The one line systemd shows as STATUS= (and `filer status` as its summary).
    public func statusLine() -> String {
        var line = "\(onlineCount)/\(slots.count) workers online, \(restarts) restarts, \(requestsServed) requests served"
        if let reason = degradedReason { line = "degraded: workers cannot open the root directory (\(reason)); " + line }
        if configuration.role == .workers {
            let brokers = configuration.brokers.map { "\($0) \(brokersConnected[$0] == true ? "up" : "down")" }
            line += "; brokers: " + brokers.joined(separator: ", ")
        }
        if let failure = lastReloadFailure { line += "; the last reload failed: \(failure)" }
        return line
    }

    /// Sends STATUS= when workers come or go, and at most once a second for the count.
    private mutating func updateStatus(now: MonotonicInstant, _ actions: inout [PoolAction]) {
        guard phase == .serving, !isReloading else { return }
        let line = statusLine()
        guard line != statusSent else { return }
        let workersChanged = line.prefix(while: { $0 != "," }) != statusSent.prefix(while: { $0 != "," })
        guard workersChanged || now >= nextStatusUpdate else { return }
        statusSent = line
        nextStatusUpdate = now + .seconds(1)
        actions.append(.notify(.status(line)))
    }

    /// Pings the watchdog at half its interval, only while the proxy thread answers (or
    /// was stopped on purpose and has ended): a hung proxy stops the pings, and systemd
    /// restarts the daemon.
    private mutating func feedWatchdog(now: MonotonicInstant, _ actions: inout [PoolAction]) {
        guard let interval = watchdogInterval, now >= nextWatchdog else { return }
        let healthy: Bool
        switch proxy {
        case .running: healthy = now - proxyAnsweredAt < Self.proxyAnswerLimit
        case .stopping: healthy = now - proxyStopRequestedAt < Self.proxyAnswerLimit
        case .stopped: healthy = true
        }
        guard healthy else {
            if !proxySilentLogged {
                proxySilentLogged = true
                actions.append(.log(.error, "The proxy thread does not answer; the watchdog is no longer fed", worker: nil))
            }
            return
        }
        nextWatchdog = now + interval / 2
        actions.append(.notify(.watchdog))
    }

    /// A proxy thread that has not answered for this long is taken for hung.
    static let proxyAnswerLimit = Duration.seconds(3)
}
