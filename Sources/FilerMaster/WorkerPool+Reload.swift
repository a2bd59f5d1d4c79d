import Logging
import Posix
import ZeroMQ
import FilerConfiguration
import FilerCore

/// SIGHUP: read the configuration again; replace every worker without losing a
/// request; and if the new workers cannot start, go back to the old ones.
extension WorkerPool {
    mutating func reloadRequested(_ actions: inout [PoolAction]) {
        guard !isStopping else { return }
        if isReloading {
            // Many SIGHUPs in a row make one more reload, not one each.
            if !reloadPending { actions.append(.log(.info, "A reload is under way; another will follow it", worker: nil)) }
            reloadPending = true
            return
        }
        readingConfiguration = true
        actions.append(.notify(.reloading(status: "Reloading the configuration")))
        actions.append(.log(.notice, "Reloading the configuration", worker: nil))
        actions.append(.readConfiguration)
    }

    mutating func configurationRead(
        _ result: Result<Configuration, ReloadFailure>, now: MonotonicInstant, _ actions: inout [PoolAction]
    ) {
        readingConfiguration = false
        guard !isStopping else { return }
        switch result {
        case .failure(let failure):
            failReload(failure.description, &actions)
        case .success(var next):
            // What the workers, here and on worker hosts, are connected to changes only on
            // restart: the broker cannot move worker hosts, and libzmq 4.3.4's zmq_unbind
            // closes the connections an endpoint accepted, with the requests queued on them.
            if next.backend != configuration.backend {
                actions.append(.log(.warning, "The backend endpoint changes only on restart; keeping the running one", worker: nil))
                next.backend = configuration.backend
            }
            if next.role != configuration.role || next.brokers != configuration.brokers {
                actions.append(.log(.warning, "role and brokers change only on restart; keeping the running ones", worker: nil))
                next.role = configuration.role
                next.brokers = configuration.brokers
            }
            if next.curve.certificate != configuration.curve.certificate {
                actions.append(.log(.warning, "curve.certificate changes only on restart; keeping the running keypair", worker: nil))
                next.curve.certificate = configuration.curve.certificate
            }
            reload = Reload(previous: configuration, previousSlots: slots, frontendsApplied: false)
            if next.frontends != configuration.frontends || next.limits != configuration.limits
                || next.connections != configuration.connections || next.control != configuration.control
                || next.metrics != configuration.metrics
            {
                frontendsPending = next
            } else {
                apply(next, now: now, &actions)
            }
        }
    }

    mutating func frontendsReconfigured(
        _ result: Result<Void, ReloadFailure>, now: MonotonicInstant, _ actions: inout [PoolAction]
    ) {
        guard let next = frontendsPending, frontendsRequested else { return }
        frontendsPending = nil
        frontendsRequested = false
        // With no reload under way, a rollback is putting the previous frontends back.
        let restoring = reload == nil
        switch result {
        case .failure(let failure) where restoring:
            actions.append(.log(.critical, "Cannot bind the previous frontends again: \(failure)", worker: nil))
            beginStop(code: .systemFailure, now: now, &actions)
        case .failure(let failure):
            reload = nil
            failReload(failure.description, &actions)
        case .success where restoring:
            break
        case .success:
            reload?.frontendsApplied = true
            apply(next, now: now, &actions)
        }
    }

    private mutating func failReload(_ reason: String, _ actions: inout [PoolAction]) {
        lastReloadFailure = reason
        counters.reloadsFailed += 1
        actions.append(.log(.error, "Reload failed; still running the previous configuration: \(reason)", worker: nil))
        actions.append(.notify(.ready(status: statusLine())))
        followPendingReload(&actions)
    }

    /// Every running worker is replaced by one of the new configuration.
    private mutating func apply(_ next: Configuration, now: MonotonicInstant, _ actions: inout [PoolAction]) {
        let running = slots.compactMap(\.worker).count
        for index in slots.indices where slots[index].worker != nil {
            let pid = slots[index].worker!
            workers[pid]?.slot = nil
            if workers[pid]?.state == .online { workers[pid]?.state = .replaced }
        }
        configuration = next
        generation += 1
        generationAppliedAt = now
        slots = Self.freshSlots(next, now: now)
        crashLoop = CrashLoopDetector(limit: next.restart.maxFailedStarts)
        lastReloadFailure = nil
        actions.append(.setLogLevel(next.logLevel))
        actions.append(.log(.notice, "Starting \(slots.count) workers with the new configuration; the \(running) running ones serve until they are online", worker: nil))
    }

    /// Once the new workers are online and the old ones gone, the reload is done.
    mutating func finishReload(now: MonotonicInstant, _ actions: inout [PoolAction]) {
        guard reload != nil, frontendsPending == nil, everySlotServes, proxy == .running || servingCount == 0 else { return }
        let stillRetiring = workers.values.contains { worker in
            switch worker.state {
            case .replaced, .draining, .abandoning: true
            default: false
            }
        }
        guard !stillRetiring else { return }
        reload = nil
        counters.reloadsSucceeded += 1
        let line = statusLine()
        statusSent = line
        actions.append(.notify(.ready(status: line)))
        actions.append(.log(.notice, "Reloaded: \(line)", worker: nil))
        followPendingReload(&actions)
    }

    private mutating func followPendingReload(_ actions: inout [PoolAction]) {
        guard reloadPending else { return }
        reloadPending = false
        reloadRequested(&actions)
    }

    /// The new workers cannot start: the old ones, still serving, take their slots
    /// back, and the old configuration stays, as nginx does.
    mutating func rollBackReload(because reason: String, now: MonotonicInstant, _ actions: inout [PoolAction]) {
        guard let reload else { return }
        actions.append(.log(.error, "Reload failed: \(reason); returning to the previous configuration", worker: nil))
        for index in slots.indices {
            guard let pid = slots[index].worker else { continue }
            workers[pid]?.slot = nil
            workers[pid]?.state = .abandoning(deadline: now)
            actions.append(.signal(pid: pid, .kill))
        }
        configuration = reload.previous
        slots = reload.previousSlots
        for index in slots.indices {
            guard let pid = slots[index].worker else { continue }
            if var worker = workers[pid], worker.state == .replaced {
                worker.slot = index
                worker.state = .online
                workers[pid] = worker
            } else {
                slots[index].worker = nil
                slots[index].restartAt = now
            }
        }
        if reload.frontendsApplied { frontendsPending = reload.previous }
        self.reload = nil
        crashLoop = CrashLoopDetector(limit: configuration.restart.maxFailedStarts)
        lastReloadFailure = reason
        counters.reloadsFailed += 1
        actions.append(.setLogLevel(configuration.logLevel))
        actions.append(.notify(.ready(status: statusLine())))
        followPendingReload(&actions)
    }
}
