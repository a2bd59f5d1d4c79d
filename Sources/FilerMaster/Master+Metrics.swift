import Logging
import ZeroMQ
import Posix
import FilerConfiguration
import FilerCore
import FilerMetrics

/// `/metrics`: the pool's counts and the forwarding's traffic, read when a scrape asks.
extension Master {
    /// Serves `metrics` from now on (nil: none), replacing the server before.
    /// - Throws: `SystemError` when it cannot listen; the one before then stays.
    func serveMetrics(at url: MetricsURL?) throws(SystemError) {
        guard url != metricsServer?.url || (url == nil) != (metricsServer == nil) else { return }
        // The same port on another address would clash with the listener still open.
        if let old = metricsServer, let url, old.url.port == url.port, old.url.address != url.address {
            listen(metrics: nil)
        }
        listen(metrics: try url.map { url throws(SystemError) in try MetricsServer(url: url) })
    }

    private func listen(metrics server: MetricsServer?) {
        if let metricsSource { loop.remove(metricsSource) }
        metricsServer = server
        metricsSource = server.map { server in
            loop.add(.descriptor(server.descriptor)) { [unowned self] in
                do throws(SystemError) {
                    try server.handleEvents { metricsSnapshot() }
                } catch {
                    logger.warning("Metrics: \(error)")
                }
            }
        }
    }

    func metricsSnapshot() -> MetricsSnapshot {
        var snapshot = MetricsSnapshot(version: filerVersion)
        let refused = pool.refusedByCode
        snapshot.requestsRefused = refused
        // The workers' own counts, the same on a broker and on a worker host.
        snapshot.requestsServed = pool.repliesByWorkers &- refused.values.reduce(0, +)
        let counters = pool.counters
        snapshot.workerStarts = counters.workerStarts
        snapshot.workerRestarts = UInt64(pool.restarts)
        snapshot.hungWorkersKilled = counters.hungWorkersKilled
        snapshot.workersRecycled = counters.workersRecycled
        snapshot.reloadsSucceeded = counters.reloadsSucceeded
        snapshot.reloadsFailed = counters.reloadsFailed
        for (termination, count) in counters.workerExits {
            switch termination {
            case .exited(let code): snapshot.workerExits[.exited(code: code), default: 0] += count
            case .killed(let signal): snapshot.workerExits[.killed(signal: Signals.name(signal)), default: 0] += count
            }
        }
        snapshot.workersOnline = pool.onlineCount
        snapshot.workersExpected = pool.slots.count
        snapshot.slots = pool.slots.indices.map { index in
            let current = pool.workers.values.filter { $0.startedInSlot == index }
            let gone = index < counters.servedBySlotGone.count ? counters.servedBySlotGone[index] : 0
            let online = pool.slots[index].worker.flatMap { pool.workers[$0] }?.state == .online
            return MetricsSnapshot.Slot(slot: index, online: online, requestsServed: current.reduce(gone) { $0 + $1.served })
        }
        forwarding.describe(&snapshot)
        return snapshot
    }
}
