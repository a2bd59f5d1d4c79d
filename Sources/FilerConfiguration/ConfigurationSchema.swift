import Logging
import FilerMetrics

/// One configuration key: how to read it, how to print it, what it means. The loader,
/// the printer, the environment names, the command-line flags and the README's table
/// all come from this one list.
public struct Setting: Sendable {
    /// `limits.max_file_size`.
    public let key: String
    /// What it does, one line (the README's table and `--help`).
    public let meaning: String
    /// The long flag of `serve` and `check-config`, if it has one.
    public let flag: String?
    /// Whether the file may give a list (frontend) and the environment a comma-separated one.
    public let isList: Bool
    let read: @Sendable ([String], inout Configuration) throws(Problem) -> Void
    let show: @Sendable (Configuration) -> String

    /// `FILER_` + the key in upper case, dots as underscores.
    public var environmentName: String {
        "FILER_" + String(key.uppercased().map { $0 == "." ? "_" : $0 })
    }

    /// The value as the configuration file would hold it.
    public func value(in configuration: Configuration) -> String { show(configuration) }
}

public enum ConfigurationSchema {
    public static let settings: [Setting] = [
        Setting(
            key: "role", meaning: "`broker` (frontend, proxy, backend) or `workers` (a host of workers for the brokers listed)",
            flag: nil, isList: false,
            read: { values, c throws(Problem) in
                guard let role = Configuration.Role(rawValue: values[0]) else {
                    throw Problem("expected broker or workers, got \(ConfigurationValues.quoted(values[0]))")
                }
                c.role = role
            },
            show: { $0.role.rawValue }),
        Setting(
            key: "brokers", meaning: "on a worker host, the brokers' tcp:// backends; every worker connects to each", flag: nil,
            isList: true,
            read: { values, c throws(Problem) in c.brokers = values == ["none"] ? [] : try endpoints(values) },
            show: { $0.brokers.isEmpty ? "none" : $0.brokers.joined(separator: ", ") }),
        Setting(
            key: "frontend", meaning: "endpoint(s) the clients connect to", flag: "frontend", isList: true,
            read: { values, c throws(Problem) in c.frontends = try endpoints(values) },
            show: { $0.frontends.joined(separator: ", ") }),
        endpointOrAuto("backend", \.backend, flag: "backend", meaning: "endpoint the workers connect to; `auto`: an ipc socket in the runtime directory"),
        Setting(
            key: "workers", meaning: "worker processes; `auto`: the usable CPUs (affinity and cgroup quota)", flag: "workers",
            isList: false,
            read: { values, c throws(Problem) in
                c.workers = values[0] == "auto" ? .auto : .fixed(try ConfigurationValues.count(values[0], in: 0...1024))
            },
            show: { c in if case .fixed(let n) = c.workers { "\(n)" } else { "auto" } }),
        Setting(
            key: "root", meaning: "directory the requested paths are resolved beneath", flag: "root", isList: false,
            read: { values, c throws(Problem) in
                guard !values[0].isEmpty else { throw Problem("expected a directory") }
                c.root = values[0]
            },
            show: { $0.root }),
        size("limits.max_file_size", \.limits.maxFileSize, 1...(4 << 30), flag: "max-file-size", meaning: "larger files get EFBIG"),
        size("limits.max_request_size", \.limits.maxRequestSize, 16...(64 << 20), flag: "max-request-size", meaning: "a larger request frame ends the connection that sent it"),
        size("limits.max_reply_size", \.limits.maxReplySize, (1 << 10)...(16 << 30), meaning: "larger replies get EFBIG, before they are built"),
        size("limits.max_memory", \.limits.maxMemory, (16 << 20)...(1 << 40), meaning: "the master's memory budget; over it, it drops the clients that cost the most"),
        Setting(
            key: "limits.max_connections", meaning: "client connections at once; `auto`: what the open-file limit allows",
            flag: nil, isList: false,
            read: { values, c throws(Problem) in
                c.limits.maxConnections = values[0] == "auto" ? nil : try ConfigurationValues.count(values[0], in: 1...1_000_000)
            },
            show: { $0.limits.maxConnections.map { "\($0)" } ?? "auto" }),
        duration("connections.heartbeat_interval", \.connections.heartbeatInterval, .zero...(.seconds(3600)), meaning: "a ZMTP PING to each client this often; 0: none"),
        duration("connections.heartbeat_timeout", \.connections.heartbeatTimeout, .milliseconds(100)...(.seconds(3600)), meaning: "a client silent this long after a PING is dropped"),
        duration("connections.handshake_timeout", \.connections.handshakeTimeout, .milliseconds(100)...(.seconds(3600)), meaning: "a client that has not finished the ZMTP handshake by then is dropped"),
        duration("restart.initial_delay", \.restart.initialDelay, .zero...(.seconds(3600)), meaning: "first restart delay after a quick failure"),
        duration("restart.max_delay", \.restart.maxDelay, .zero...(.seconds(3600)), meaning: "cap of the doubling restart delay"),
        duration("restart.stable_after", \.restart.stableAfter, .zero...(.seconds(86400)), meaning: "a worker that ran this long resets the delay"),
        count("restart.max_failed_starts", \.restart.maxFailedStarts, 1...1000, meaning: "starts in a row that never come online before the daemon gives up (exit 69)"),
        duration("health.heartbeat_timeout", \.health.heartbeatTimeout, .seconds(2)...(.seconds(3600)), meaning: "a worker silent this long is hung: SIGABRT, SIGKILL 2 s later, replaced"),
        count("health.max_requests", \.health.maxRequests, 0...(1 << 40), meaning: "recycle a worker after this many requests (0: never), losing none"),
        count("health.max_requests_jitter", \.health.maxRequestsJitter, 0...(1 << 40), meaning: "plus a random 0..jitter, so workers do not recycle together"),
        duration("health.drain_timeout", \.health.drainTimeout, .seconds(1)...(.seconds(3600)), meaning: "a replaced worker answers its queue for at most this long; what is left is counted and logged"),
        path("curve.certificate", \.curve.certificate, meaning: "this daemon's CURVE certificate with its secret key (0600); with it, every tcp:// endpoint is a CURVE server"),
        path("curve.authorized_keys", \.curve.authorizedKeys, meaning: "the public certificates let in: a directory of `*.key` files or one file; read again on reload"),
        path("curve.worker_keys", \.curve.workerKeys, meaning: "on a broker, optional: the worker hosts' public certificates, then the only ones let in at the backend (and not at the frontend unless also in authorized_keys); read again on reload"),
        path("curve.broker_key", \.curve.brokerKey, meaning: "on a worker host, the brokers' public certificate"),
        Setting(
            key: "allow_plaintext", meaning: "let a tcp:// endpoint on an address other machines reach go without CURVE", flag: nil,
            isList: false,
            read: { values, c throws(Problem) in
                switch values[0].lowercased() {
                case "true", "yes", "on": c.allowPlaintext = true
                case "false", "no", "off": c.allowPlaintext = false
                default: throw Problem("expected true or false, got \(ConfigurationValues.quoted(values[0]))")
                }
            },
            show: { "\($0.allowPlaintext)" }),
        duration("stop_timeout", \.stopTimeout, .zero...(.seconds(3600)), meaning: "how long a stop waits for workers before SIGKILL"),
        endpointOrAuto("control", \.control, flag: nil, meaning: "where `filer status` asks; `auto`: control.ipc in the runtime directory (mode 0700)"),
        Setting(
            key: "metrics", meaning: "Prometheus: `http://ADDRESS:PORT/PATH` serves the text exposition (numeric address or `localhost`); `none`: off",
            flag: "metrics", isList: false,
            read: { values, c throws(Problem) in
                guard values[0] != "none" else {
                    c.metrics = nil
                    return
                }
                do throws(MetricsURL.Problem) { c.metrics = try MetricsURL(parsing: values[0]) } catch { throw Problem("\(error)") }
            },
            show: { $0.metrics?.description ?? "none" }),
        Setting(
            key: "log_level", meaning: "`trace` … `critical`; per-request lines are `debug`", flag: "log-level", isList: false,
            read: { values, c throws(Problem) in
                guard let level = Logger.Level(rawValue: values[0].lowercased()) else {
                    throw Problem("expected one of trace, debug, info, notice, warning, error, critical; got \(ConfigurationValues.quoted(values[0]))")
                }
                c.logLevel = level
            },
            show: { "\($0.logLevel)" }),
    ]

    /// The setting for `key`, if there is one.
    public static func setting(_ key: String) -> Setting? { settings.first { $0.key == key } }

    /// Whether `name` is a section that holds keys (`limits`).
    static func isSection(_ name: String) -> Bool { settings.contains { $0.key.hasPrefix(name + ".") } }

    // MARK: Kinds of settings

    private static func size(
        _ key: String, _ path: any WritableKeyPath<Configuration, Int> & Sendable, _ range: ClosedRange<Int>,
        flag: String? = nil, meaning: String
    ) -> Setting {
        Setting(
            key: key, meaning: meaning, flag: flag, isList: false,
            read: { values, c throws(Problem) in c[keyPath: path] = try ConfigurationValues.size(values[0], in: range) },
            show: { ConfigurationValues.sizeText($0[keyPath: path]) })
    }

    private static func duration(
        _ key: String, _ path: any WritableKeyPath<Configuration, Duration> & Sendable, _ range: ClosedRange<Duration>,
        meaning: String
    ) -> Setting {
        Setting(
            key: key, meaning: meaning, flag: nil, isList: false,
            read: { values, c throws(Problem) in c[keyPath: path] = try ConfigurationValues.duration(values[0], in: range) },
            show: { ConfigurationValues.durationText($0[keyPath: path]) })
    }

    private static func count(
        _ key: String, _ path: any WritableKeyPath<Configuration, Int> & Sendable, _ range: ClosedRange<Int>, meaning: String
    ) -> Setting {
        Setting(
            key: key, meaning: meaning, flag: nil, isList: false,
            read: { values, c throws(Problem) in c[keyPath: path] = try ConfigurationValues.count(values[0], in: range) },
            show: { "\($0[keyPath: path])" })
    }

    private static func endpointOrAuto(
        _ key: String, _ path: any WritableKeyPath<Configuration, String?> & Sendable, flag: String?, meaning: String
    ) -> Setting {
        Setting(
            key: key, meaning: meaning, flag: flag, isList: false,
            read: { values, c throws(Problem) in
                c[keyPath: path] = values[0] == "auto" ? nil : try Endpoint(parsing: values[0]).description
            },
            show: { $0[keyPath: path] ?? "auto" })
    }

    /// A file or directory; `none` (the default) leaves it unset.
    private static func path(
        _ key: String, _ keyPath: any WritableKeyPath<Configuration, String?> & Sendable, meaning: String
    ) -> Setting {
        Setting(
            key: key, meaning: meaning, flag: nil, isList: false,
            read: { values, c throws(Problem) in
                guard !values[0].isEmpty else { throw Problem("expected a path, or none") }
                c[keyPath: keyPath] = values[0] == "none" ? nil : values[0]
            },
            show: { $0[keyPath: keyPath] ?? "none" })
    }

    private static func endpoints(_ values: [String]) throws(Problem) -> [String] {
        guard !values.isEmpty else { throw Problem("at least one endpoint is needed") }
        var seen: [String] = []
        for value in values {
            let endpoint = try Endpoint(parsing: value).description
            guard !seen.contains(endpoint) else { throw Problem("\(ConfigurationValues.quoted(endpoint)) is listed twice") }
            seen.append(endpoint)
        }
        return seen
    }
}
