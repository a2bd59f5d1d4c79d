import FoundationEssentials

/// `filer status` for people: the report as lines of text.
extension StatusReport {
    /// The report for people.
    public func text() -> String {
        let isWorkerHost = role == "workers"
        var lines = ["filer \(version), master \(masterPID): \(state)\(isWorkerHost ? " (worker host)" : ""), up \(Self.duration(uptimeSeconds))"]
        lines.append("  config     \(configFile)")
        // A worker host has no frontend and no proxy: the brokers count the traffic.
        if !isWorkerHost { lines.append("  frontend   \(frontends.joined(separator: ", "))") }
        lines += [
            "  backend    \(backend)",
            "  root       \(root)",
            "  workers    \(workersOnline)/\(workersExpected) online, \(restarts) restarts, \(requestsServed) requests served",
            "  reloads    configuration \(configuration.generation), applied \(Self.clock(configuration.loadedAt))"
                + (configuration.lastReloadFailure.map { "; the last reload failed: \($0)" } ?? ""),
        ]
        if !isWorkerHost {
            lines += [
                "  traffic    clients: \(frontend.messagesIn) requests in (\(Self.bytes(frontend.bytesIn))), "
                    + "\(frontend.messagesOut) replies out (\(Self.bytes(frontend.bytesOut)))",
                "             workers: \(backendTraffic.messagesOut) requests out (\(Self.bytes(backendTraffic.bytesOut))), "
                    + "\(backendTraffic.messagesIn) replies in (\(Self.bytes(backendTraffic.bytesIn)))",
            ]
        }
        lines += ["", "  PID       STATE      UPTIME     SERVED  RESTARTS"]
        if let degraded { lines.insert("  degraded   workers cannot open the root directory: \(degraded)", at: 1) }
        if let curve {
            lines.insert(
                "  curve      \(curve.accepted) clients let in, \(curve.refused) refused by key, \(curve.failedHandshakes) failed handshakes",
                at: lines.count - 2)
        }
        var extra: [String] = []
        if let brokers {
            extra += brokers.enumerated().map { index, broker in
                (index == 0 ? "  brokers    " : "             ") + "\(broker.backend) \(broker.connected ? "connected" : "not connected")"
            }
        }
        if let workerHosts {
            let total = workerHosts.reduce(0) { $0 + $1.workers }
            let hosts = workerHosts.map { "\($0.address) (\($0.workers))" }.joined(separator: ", ")
            let from = workerHosts.count == 1 ? "1 worker host" : "\(workerHosts.count) worker hosts"
            extra.append("  remote     \(total) workers from \(from)" + (hosts.isEmpty ? "" : ": \(hosts)"))
        }
        lines.insert(contentsOf: extra, at: lines.count - 2)
        for worker in workers {
            lines.append(
                "  " + Self.pad("\(worker.pid)", 9) + " " + Self.pad(worker.state, 10) + " "
                    + Self.pad(Self.duration(worker.uptimeSeconds), 9) + " " + Self.padLeft("\(worker.requestsServed)", 7)
                    + "  " + (worker.slotRestarts.map { "\($0)" } ?? "-"))
        }
        if !recentExits.isEmpty {
            lines.append("")
            lines.append("  Recent exits:")
            for exit in recentExits {
                let reason = exit.reason.map { " (\($0))" } ?? ""
                lines.append("    \(Self.clock(exit.time))  worker \(exit.pid) \(exit.how)\(reason)")
            }
        }
        return lines.joined(separator: "\n")
    }

    static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds)
        if whole < 60 { return oneDecimal(seconds) + "s" }
        if whole < 3600 { return "\(whole / 60)m\(whole % 60)s" }
        if whole < 86400 { return "\(whole / 3600)h\(whole % 3600 / 60)m" }
        return "\(whole / 86400)d\(whole % 86400 / 3600)h"
    }

    static func bytes(_ count: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : "\(oneDecimal(value)) \(units[unit])"
    }

    static func clock(_ milliseconds: Int64) -> String {
        let seconds = milliseconds / 1000
        let day = seconds % 86400
        return "\(twoDigits(day / 3600)):\(twoDigits(day % 3600 / 60)):\(twoDigits(day % 60)) UTC"
    }

    private static func oneDecimal(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }

    private static func twoDigits(_ value: Int64) -> String {
        value < 10 ? "0\(value)" : "\(value)"
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    private static func padLeft(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }
}
