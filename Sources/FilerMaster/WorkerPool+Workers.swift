import Logging
import Posix
import ZeroMQ
import FilerConfiguration
import FilerCore
import FilerProtocol

/// Workers: started, online, reporting, hung, worn out, exited.
extension WorkerPool {
    /// A hung worker gets SIGABRT, then SIGKILL this much later.
    static let abortGrace = Duration.seconds(2)
    /// An abandoning worker (SIGUSR1) gets SIGKILL this much later.
    static let abandonGrace = Duration.seconds(2)
    /// `filer status` keeps this many exits.
    static let exitsKept = 10

    mutating func spawned(slot index: Int, pid: Int32, now: MonotonicInstant, _ actions: inout [PoolAction]) {
        let health = configuration.health
        var limit: UInt64?
        if health.maxRequests > 0 {
            let jitter = health.maxRequestsJitter > 0 ? Int.random(in: 0...health.maxRequestsJitter, using: &random) : 0
            limit = UInt64(health.maxRequests + jitter)
        }
        workers[pid] = Worker(
            pid: pid, slot: index, startedInSlot: index, state: .starting, startedAt: now, lastHeard: now, requestLimit: limit)
        counters.workerStarts += 1
        slots[index].worker = pid
        actions.append(.log(.debug, "Worker \(pid) started", worker: pid))
    }

    mutating func received(_ report: WorkerReport, from pid: Int32, now: MonotonicInstant, _ actions: inout [PoolAction]) {
        guard var worker = workers[pid] else { return }
        worker.lastHeard = now
        switch report {
        case .online:
            guard worker.state == .starting else { break }
            worker.state = .online
            crashLoop.workerCameOnline()
            if let slot = worker.slot, let problem = slots[slot].rootProblem {
                slots[slot].rootProblem = nil
                if degradedReason == nil {
                    actions.append(.log(.notice, "The root directory can be opened again (it failed with: \(problem))", worker: nil))
                }
            }
            actions.append(.log(.info, "Worker \(pid) is online.", worker: pid))
        case .served(let count):
            worker.served = count
        case .fatal(let reason):
            worker.fatalReason = reason
        case .refused(let counts):
            worker.refused = counts
        case .abandoned(let count):
            actions.append(.log(.warning, "Worker \(pid) stopped with \(count) queued requests unanswered", worker: pid))
        }
        workers[pid] = worker
    }

    /// A start that never came online: a spawn that failed, or a worker that exited
    /// before it was online. Counts towards a crash loop unless the root is the
    /// problem, which is a degraded state: keep what serves, and retry.
    mutating func startFailed(
        slot index: Int, reason: String, rootProblem: String?, now: MonotonicInstant, _ actions: inout [PoolAction]
    ) {
        slots[index].worker = nil
        guard !isStopping else { return }
        if let rootProblem {
            if degradedReason == nil {
                actions.append(.log(.error, "Degraded: workers cannot open the root directory (\(rootProblem)); \(onlineCount) of \(slots.count) serve, and new ones are retried", worker: nil))
            }
            slots[index].rootProblem = rootProblem
        } else if crashLoop.workerEnded(wasOnline: false) {
            let message = "Workers cannot start: \(crashLoop.failedStartsInARow) starts in a row failed before coming online; \(reason)"
            if reload != nil {
                rollBackReload(because: message, now: now, &actions)
            } else {
                actions.append(.log(.critical, message, worker: nil))
                beginStop(code: .workersCannotStart, now: now, &actions)
            }
            return
        }
        scheduleRestart(slot: index, ranFor: .zero, now: now)
    }

    mutating func scheduleRestart(slot index: Int, ranFor: Duration, now: MonotonicInstant) {
        let delay = slots[index].backoff.delayAfterExit(ranFor: ranFor)
        slots[index].restartAt = now + delay
    }

    mutating func exited(
        _ pid: Int32, _ termination: Termination, at time: Int64, now: MonotonicInstant, _ actions: inout [PoolAction]
    ) {
        guard let worker = workers.removeValue(forKey: pid) else { return }
        servedByWorkersGone += worker.served
        refusedByWorkersGone.merge(worker.refused, uniquingKeysWith: +)
        counters.workerExits[termination, default: 0] += 1
        while counters.servedBySlotGone.count <= worker.startedInSlot { counters.servedBySlotGone.append(0) }
        counters.servedBySlotGone[worker.startedInSlot] += worker.served
        let expected: Bool
        switch worker.state {
        case .draining, .abandoning, .stopping: expected = true
        default: expected = isStopping
        }
        var how = "\(termination)"
        if let reason = worker.fatalReason { how += " (\(reason))" }
        actions.append(.log(expected ? .info : .warning, "Worker \(pid) \(termination)", worker: pid))
        recentExits.append(StatusReport.Exit(pid: pid, time: time, how: "\(termination)", reason: worker.fatalReason))
        if recentExits.count > Self.exitsKept { recentExits.removeFirst() }
        guard let index = worker.slot, slots[index].worker == pid else { return }
        if worker.state == .starting {
            let rootProblem = termination == .exited(code: ExitCode.workerCannotOpenRoot.rawValue)
                ? worker.fatalReason ?? "cannot open the root directory" : nil
            startFailed(slot: index, reason: worker.fatalReason ?? "the last one \(how)", rootProblem: rootProblem, now: now, &actions)
            return
        }
        slots[index].worker = nil
        guard !isStopping else { return }
        slots[index].restarts += 1
        restarts += 1
        scheduleRestart(slot: index, ranFor: now - worker.startedAt, now: now)
    }

    /// Moves a slot's worker aside, still serving, and lets its successor start at once.
    mutating func replace(slot index: Int, reason: String, now: MonotonicInstant, _ actions: inout [PoolAction]) {
        guard let pid = slots[index].worker, var worker = workers[pid] else { return }
        actions.append(.log(.info, "Replacing worker \(pid): \(reason)", worker: pid))
        worker.slot = nil
        if worker.state == .online { worker.state = .replaced }
        workers[pid] = worker
        slots[index].worker = nil
        slots[index].restartAt = now
    }

    /// Hung workers (silent past the heartbeat timeout) get SIGABRT, then SIGKILL;
    /// worn-out ones (past their request limit) are replaced.
    mutating func checkHealth(now: MonotonicInstant, _ actions: inout [PoolAction]) {
        let timeout = configuration.health.heartbeatTimeout
        for pid in workers.keys.sorted() {
            guard var worker = workers[pid] else { continue }
            switch worker.state {
            case .hung(let killAt) where now >= killAt, .abandoning(let killAt) where now >= killAt:
                actions.append(.signal(pid: pid, .kill))
                worker.state = .hung(killAt: .init(nanoseconds: .max))
            case .draining(let deadline) where now >= deadline:
                actions.append(.log(.warning, "Worker \(pid) did not finish its queue within health.drain_timeout; abandoning what is left", worker: pid))
                actions.append(.signal(pid: pid, .abandon))
                worker.state = .abandoning(deadline: now + Self.abandonGrace)
            case .starting where now - worker.lastHeard >= timeout, .online where now - worker.lastHeard >= timeout,
                .replaced where now - worker.lastHeard >= timeout:
                let what = worker.state == .starting ? "did not come online" : "stopped reporting"
                let seconds = (now - worker.lastHeard).milliseconds / 1000
                actions.append(.log(.error, "Worker \(pid) is hung: it \(what) for \(seconds) s; sending SIGABRT", worker: pid))
                worker.fatalReason = "hung: no heartbeat for \(seconds) s"
                worker.state = .hung(killAt: now + Self.abortGrace)
                counters.hungWorkersKilled += 1
                actions.append(.signal(pid: pid, .abort))
            default:
                break
            }
            workers[pid] = worker
        }
        guard !isStopping else { return }
        for index in slots.indices {
            guard let pid = slots[index].worker, let worker = workers[pid], worker.state == .online,
                let limit = worker.requestLimit, worker.served >= limit
            else { continue }
            replace(slot: index, reason: "served \(worker.served) requests (max_requests)", now: now, &actions)
            counters.workersRecycled += 1
        }
    }

    /// Starts the workers whose slot is empty and due.
    mutating func startDueWorkers(now: MonotonicInstant, _ actions: inout [PoolAction]) {
        guard !isStopping else { return }
        for index in slots.indices {
            guard slots[index].worker == nil, let due = slots[index].restartAt, due <= now else { continue }
            slots[index].restartAt = nil
            actions.append(.spawn(slot: index, configuration: configuration))
        }
    }
}
