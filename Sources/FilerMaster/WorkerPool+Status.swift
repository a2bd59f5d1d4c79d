import Logging
public import Posix
import ZeroMQ
import FilerConfiguration
public import FilerCore

/// `filer status`: the pool's state as a report.
extension WorkerPool {
    /// What the daemon tells about itself; `epochMilliseconds` is the wall clock at `now`.
    public func statusReport(
        now: MonotonicInstant, epochMilliseconds: Int64, startedAt: MonotonicInstant, masterPID: Int32,
        configFile: String, backend: String
    ) -> StatusReport {
        func describe(_ worker: Worker) -> StatusReport.Worker {
            StatusReport.Worker(
                state: worker.state.name, pid: worker.pid, uptimeSeconds: (now - worker.startedAt).seconds,
                requestsServed: worker.served, slotRestarts: worker.slot.map { slots[$0].restarts })
        }
        let inSlots = slots.compactMap { $0.worker.flatMap { workers[$0] } }
        let others = workers.values.filter { $0.slot == nil }.sorted { $0.pid < $1.pid }
        let state: String
        switch phase {
        case .starting: state = "starting"
        case .serving: state = isReloading ? "reloading" : (degradedReason != nil ? "degraded" : "ready")
        case .stopping, .stopped: state = "stopping"
        }
        var report = StatusReport(
            version: filerVersion, masterPID: masterPID, state: state, uptimeSeconds: (now - startedAt).seconds,
            configFile: configFile, frontends: configuration.role == .workers ? [] : configuration.frontends, backend: backend, root: configuration.root,
            workersExpected: slots.count, workersOnline: onlineCount, restarts: restarts,
            requestsServed: requestsServed,
            frontend: .init(
                messagesIn: totals.frontendMessagesIn, bytesIn: totals.frontendBytesIn,
                messagesOut: totals.frontendMessagesOut, bytesOut: totals.frontendBytesOut),
            backendTraffic: .init(
                messagesIn: totals.backendMessagesIn, bytesIn: totals.backendBytesIn,
                messagesOut: totals.backendMessagesOut, bytesOut: totals.backendBytesOut),
            workers: (inSlots + others).map(describe), recentExits: recentExits,
            summary: statusLine(), degraded: degradedReason,
            configuration: .init(
                generation: generation,
                loadedAt: epochMilliseconds - (now - generationAppliedAt).milliseconds,
                lastReloadFailure: lastReloadFailure))
        report.role = configuration.role.rawValue
        return report
    }
}
