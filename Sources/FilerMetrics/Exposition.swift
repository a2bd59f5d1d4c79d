/// The Prometheus text exposition format, version 0.0.4, written by hand: see
/// `MetricsServer` for why no library renders it.
extension MetricsSnapshot {
    /// The Content-Type of `exposition()`'s text, as Prometheus expects it.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The snapshot in the text exposition format: every family with its HELP and TYPE,
    /// in a fixed order, and its samples sorted, so that two equal snapshots render the
    /// same text. Counters at zero are shown too: a series that appears only at its first
    /// event hides that event from `rate()`.
    public func exposition() -> String {
        var writer = ExpositionWriter()
        writer.family("filer_build_info", .gauge, "The running filer's version; always 1.", [
            Sample(["version": version], 1)
        ])
        writer.family(
            "filer_requests_total", .counter,
            "Requests answered: served with content, or refused with an error code.",
            [Sample(["result": "served"], requestsServed)]
                + requestsRefused.sorted { $0.key < $1.key }.map { Sample(["result": "refused", "code": $0.key], $0.value) })
        writer.family("filer_worker_starts_total", .counter, "Worker processes started.", [Sample([:], workerStarts)])
        writer.family(
            "filer_worker_exits_total", .counter,
            "Worker processes that ended: how=\"exited\" with an exit status, or how=\"killed\" by a signal.",
            workerExits.sorted { Self.order($0.key, $1.key) }.map { exit, count in
                switch exit {
                case .exited(let code): Sample(["how": "exited", "status": "\(code)"], count)
                case .killed(let signal): Sample(["how": "killed", "status": signal], count)
                }
            })
        writer.family(
            "filer_worker_restarts_total", .counter, "Workers started again after one ended unasked or hung.",
            [Sample([:], workerRestarts)])
        writer.family(
            "filer_worker_hung_kills_total", .counter, "Workers killed because they stopped answering.",
            [Sample([:], hungWorkersKilled)])
        writer.family(
            "filer_worker_recycles_total", .counter, "Workers replaced on purpose: after their share of requests, or at a reload.",
            [Sample([:], workersRecycled)])
        writer.family("filer_reloads_total", .counter, "Configuration reloads, by result.", [
            Sample(["result": "ok"], reloadsSucceeded), Sample(["result": "failed"], reloadsFailed),
        ])
        writer.family(
            "filer_curve_peers_refused_total", .counter, "CURVE clients refused by the authentication handler.",
            [Sample([:], curvePeersRefused)])
        writer.family(
            "filer_proxy_messages_total", .counter,
            "Messages the proxy received (in) and sent (out), on the clients' side (frontend) and the workers' (backend).",
            Self.traffic(frontend, backend, \.messagesIn, \.messagesOut))
        writer.family(
            "filer_proxy_bytes_total", .counter, "Bytes of those messages.",
            Self.traffic(frontend, backend, \.bytesIn, \.bytesOut))
        writer.family("filer_workers_online", .gauge, "Workers serving now.", [Sample([:], workersOnline)])
        writer.family("filer_workers_expected", .gauge, "Workers the configuration asks for.", [Sample([:], workersExpected)])
        writer.family("filer_client_connections", .gauge, "Client connections open on the frontends.", [Sample([:], connections)])
        let bySlot = slots.sorted { $0.slot < $1.slot }
        writer.family(
            "filer_worker_requests_total", .counter, "Requests served by the workers of each slot.",
            bySlot.map { Sample(["slot": "\($0.slot)"], $0.requestsServed) })
        writer.family(
            "filer_worker_up", .gauge, "Whether each slot's worker is online (1) or not (0).",
            bySlot.map { Sample(["slot": "\($0.slot)"], $0.online ? 1 : 0) })
        return writer.text
    }

    /// Exits in a stable order: exit codes by number, then signals by name.
    private static func order(_ left: WorkerExit, _ right: WorkerExit) -> Bool {
        switch (left, right) {
        case (.exited(let a), .exited(let b)): a < b
        case (.killed(let a), .killed(let b)): a < b
        case (.exited, .killed): true
        case (.killed, .exited): false
        }
    }

    private static func traffic(
        _ frontend: Traffic, _ backend: Traffic, _ inbound: KeyPath<Traffic, UInt64>, _ outbound: KeyPath<Traffic, UInt64>
    ) -> [Sample] {
        [
            Sample(["side": "frontend", "direction": "in"], frontend[keyPath: inbound]),
            Sample(["side": "frontend", "direction": "out"], frontend[keyPath: outbound]),
            Sample(["side": "backend", "direction": "in"], backend[keyPath: inbound]),
            Sample(["side": "backend", "direction": "out"], backend[keyPath: outbound]),
        ]
    }
}

/// One sample line: labels in the order written, and an integer value (every filer
/// metric counts or measures whole things, so no float formatting is needed).
struct Sample {
    let labels: KeyValuePairs<String, String>
    let value: String

    init(_ labels: KeyValuePairs<String, String>, _ value: some BinaryInteger) {
        self.labels = labels
        self.value = "\(value)"
    }
}

/// Writes families of the text format, escaping as it specifies.
struct ExpositionWriter {
    enum Kind: String {
        case counter, gauge
    }

    private(set) var text = ""

    mutating func family(_ name: String, _ kind: Kind, _ help: String, _ samples: [Sample]) {
        text += "# HELP \(name) \(Self.escaped(help, quotes: false))\n# TYPE \(name) \(kind.rawValue)\n"
        for sample in samples {
            text += name
            if !sample.labels.isEmpty {
                let pairs = sample.labels.map { "\($0.key)=\"\(Self.escaped($0.value, quotes: true))\"" }
                text += "{" + pairs.joined(separator: ",") + "}"
            }
            text += " \(sample.value)\n"
        }
    }

    /// The format's escapes: a backslash and a line feed everywhere, and a double quote
    /// in label values, where it would end the value.
    static func escaped(_ value: String, quotes: Bool) -> String {
        var result = ""
        result.unicodeScalars.reserveCapacity(value.unicodeScalars.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\"" where quotes: result += "\\\""
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
