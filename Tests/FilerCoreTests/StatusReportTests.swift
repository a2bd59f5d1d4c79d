@testable import FilerCore
import Testing

@Suite struct StatusReportTests {
    let report = StatusReport(
        version: "0.1.0", masterPID: 100, state: "ready", uptimeSeconds: 3725, configFile: "/etc/filer/filer.yaml",
        frontends: ["tcp://127.0.0.1:60401"], backend: "ipc:///run/filer/backend.100.ipc", root: "/srv/filer",
        workersExpected: 2, workersOnline: 2, restarts: 1, requestsServed: 42,
        frontend: .init(messagesIn: 43, bytesIn: 900, messagesOut: 42, bytesOut: 5 << 20),
        backendTraffic: .init(messagesIn: 42, bytesIn: 5 << 20, messagesOut: 43, bytesOut: 950),
        workers: [
            .init(state: "online", pid: 101, uptimeSeconds: 12.34, requestsServed: 40, slotRestarts: 1),
            .init(state: "draining", pid: 99, uptimeSeconds: 90, requestsServed: 2, slotRestarts: nil),
        ],
        recentExits: [.init(pid: 98, time: 3_600_000 * 25 + 61_000, how: "killed by signal SIGKILL", reason: nil)],
        summary: "2/2 workers online, 1 restarts, 42 requests served", degraded: nil,
        configuration: .init(generation: 2, loadedAt: 3_600_000 * 25 + 62_000, lastReloadFailure: "root: not a directory"))

    @Test func roundTripsThroughJSON() throws {
        #expect(try StatusReport.decode(report.json()) == report)
    }


    @Test func theTextNamesEverythingAnOperatorAsksAbout() {
        let text = report.text()
        #expect(text.contains("master 100: ready, up 1h2m"))
        #expect(text.contains("/etc/filer/filer.yaml"))
        #expect(text.contains("tcp://127.0.0.1:60401"))
        #expect(text.contains("43 requests in (900 B), 42 replies out (5.0 MiB)"))
        #expect(text.contains("101       online     12.3s          40  1"))
        #expect(text.contains("99        draining   1m30s           2  -"))
        #expect(text.contains("01:01:01 UTC  worker 98 killed by signal SIGKILL"))
        #expect(text.contains("configuration 2, applied 01:01:02 UTC; the last reload failed: root: not a directory"))
    }
}
