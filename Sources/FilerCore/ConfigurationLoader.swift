import Logging
import Posix
import Systemd
import Yams

/// A configuration that cannot be used: which key, where it came from, and why.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let source: String
    public let key: String?
    public let problem: String

    public init(source: String, key: String?, problem: String) {
        self.source = source
        self.key = key
        self.problem = problem
    }

    public var description: String {
        if let key { return "\(source): \(key): \(problem)" }
        return "\(source): \(problem)"
    }
}

/// Reads the configuration: built-in defaults, then the YAML file, then
/// environment variables (`FILER_` + key), then command-line flags.
///
/// Yams parses the YAML. We do not use swift-configuration here because it cannot
/// tell which keys a file holds, and DESIGN.md requires an unknown key (a typo) to be
/// an error rather than a silently ignored line.
public struct ConfigurationLoader {
    /// A value before validation: a scalar, or a list (`frontend` only).
    public enum RawValue: Equatable, Sendable {
        case scalar(String)
        case list([String])
    }

    /// Every key the file may hold, with its environment variable.
    public static let keys: [String] = [
        "frontend", "backend", "workers", "root",
        "limits.max_file_size", "limits.max_request_size",
        "restart.initial_delay", "restart.max_delay", "restart.stable_after", "restart.max_failed_starts",
        "health.heartbeat_timeout", "health.max_requests", "health.max_requests_jitter",
        "stop_timeout", "control", "log_level",
    ]

    public static func environmentName(of key: String) -> String {
        "FILER_" + key.uppercased().replacingDots()
    }

    public init() {}

    /// - Parameters:
    ///   - path: the YAML file.
    ///   - environment: `KEY=value` strings, as `environ` holds them.
    ///   - flags: values given on the command line, by key.
    ///   - checkRoot: whether `root` must be a directory that exists now.
    /// - Throws: `ConfigurationError` naming the key and its source.
    public func load(
        path: String, environment: [String], flags: [String: RawValue], checkRoot: Bool = true
    ) throws(ConfigurationError) -> Configuration {
        var configuration = Configuration()
        for (key, value, source) in try fileValues(path: path) {
            try apply(value, to: key, in: &configuration, source: source)
        }
        let variables = Dictionary(
            environment.compactMap { entry -> (String, String)? in
                guard let equals = entry.firstIndex(of: "=") else { return nil }
                return (String(entry[..<equals]), String(entry[entry.index(after: equals)...]))
            },
            uniquingKeysWith: { _, last in last })
        for key in Self.keys {
            let name = Self.environmentName(of: key)
            guard let text = variables[name] else { continue }
            let value: RawValue =
                key == "frontend"
                ? .list(text.split(separator: ",").map { String($0).trimmed() }) : .scalar(text)
            try apply(value, to: key, in: &configuration, source: "environment variable \(name)")
        }
        for key in Self.keys {
            guard let value = flags[key] else { continue }
            try apply(value, to: key, in: &configuration, source: "command line")
        }
        try validate(configuration, source: path, checkRoot: checkRoot)
        // Workers resolve requests beneath the root whatever their working directory.
        if let absolute = Files.canonicalPath(configuration.root) { configuration.root = absolute }
        return configuration
    }

    // MARK: The file

    private func fileValues(path: String) throws(ConfigurationError) -> [(String, RawValue, String)] {
        let text: String
        do {
            text = try readTextFile(path)
        } catch {
            throw ConfigurationError(source: path, key: nil, problem: "cannot read the configuration file: \(error)")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ConfigurationError(source: path, key: nil, problem: "not valid YAML: \(error)")
        }
        guard let root else { return [] }  // an empty file: all defaults
        guard let mapping = root.mapping else {
            throw ConfigurationError(source: path, key: nil, problem: "expected a mapping of keys to values")
        }
        var values: [(String, RawValue, String)] = []
        try collect(mapping, prefix: "", path: path, into: &values)
        return values
    }

    private func collect(
        _ mapping: Node.Mapping, prefix: String, path: String, into values: inout [(String, RawValue, String)]
    ) throws(ConfigurationError) {
        for (keyNode, valueNode) in mapping {
            let name = keyNode.string ?? "\(keyNode)"
            let key = prefix + name
            let location = keyNode.mark.map { "\(path):\($0.line)" } ?? path
            let isSection = Self.keys.contains { $0.hasPrefix(key + ".") }
            if isSection {
                guard let section = valueNode.mapping else {
                    throw ConfigurationError(source: location, key: key, problem: "expected a mapping of keys to values")
                }
                try collect(section, prefix: key + ".", path: path, into: &values)
                continue
            }
            guard Self.keys.contains(key) else {
                throw ConfigurationError(
                    source: location, key: key, problem: "unknown key (known keys: \(Self.keys.joined(separator: ", ")))")
            }
            switch valueNode {
            case .scalar(let scalar):
                values.append((key, .scalar(scalar.string), location))
            case .sequence(let sequence) where key == "frontend":
                var items: [String] = []
                for item in sequence {
                    guard let text = item.string else {
                        throw ConfigurationError(source: location, key: key, problem: "expected a list of endpoints")
                    }
                    items.append(text)
                }
                values.append((key, .list(items), location))
            default:
                throw ConfigurationError(source: location, key: key, problem: "expected a single value")
            }
        }
    }

    // MARK: Values

    private func apply(
        _ value: RawValue, to key: String, in configuration: inout Configuration, source: String
    ) throws(ConfigurationError) {
        func fail(_ problem: String) -> ConfigurationError {
            ConfigurationError(source: source, key: key, problem: problem)
        }
        func scalar() throws(ConfigurationError) -> String {
            switch value {
            case .scalar(let text): return text.trimmed()
            case .list(let items) where items.count == 1: return items[0]
            case .list: throw fail("expected a single value")
            }
        }
        switch key {
        case "frontend":
            let endpoints: [String]
            switch value {
            case .scalar(let text): endpoints = [text.trimmed()]
            case .list(let items): endpoints = items
            }
            guard !endpoints.isEmpty else { throw fail("at least one endpoint is needed") }
            for endpoint in endpoints where !Self.isEndpoint(endpoint) {
                throw fail("'\(endpoint)' is not a tcp:// or ipc:// endpoint")
            }
            configuration.frontends = endpoints
        case "backend":
            configuration.backend = try Self.endpointOrAuto(try scalar(), fail: fail)
        case "workers":
            let text = try scalar()
            if text == "auto" {
                configuration.workers = .auto
            } else {
                guard let count = Int(text), (1...1024).contains(count) else {
                    throw fail("expected 'auto' or a number of workers from 1 to 1024, got '\(text)'")
                }
                configuration.workers = .fixed(count)
            }
        case "root":
            let text = try scalar()
            guard !text.isEmpty else { throw fail("expected a directory") }
            configuration.root = text
        case "limits.max_file_size":
            configuration.maxFileSize = try Self.size(try scalar(), fail: fail)
        case "limits.max_request_size":
            configuration.maxRequestSize = try Self.size(try scalar(), fail: fail)
        case "restart.initial_delay":
            configuration.restart.initialDelay = try Self.duration(try scalar(), fail: fail)
        case "restart.max_delay":
            configuration.restart.maxDelay = try Self.duration(try scalar(), fail: fail)
        case "restart.stable_after":
            configuration.restart.stableAfter = try Self.duration(try scalar(), fail: fail)
        case "restart.max_failed_starts":
            let text = try scalar()
            guard let count = Int(text), count >= 1 else { throw fail("expected a whole number of at least 1, got '\(text)'") }
            configuration.restart.maxFailedStarts = count
        case "health.heartbeat_timeout":
            let seconds = try Self.duration(try scalar(), fail: fail)
            guard seconds >= 2 else { throw fail("must be at least 2s: workers report once a second") }
            configuration.health.heartbeatTimeout = seconds
        case "health.max_requests":
            configuration.health.maxRequests = try Self.count(try scalar(), fail: fail)
        case "health.max_requests_jitter":
            configuration.health.maxRequestsJitter = try Self.count(try scalar(), fail: fail)
        case "control":
            configuration.control = try Self.endpointOrAuto(try scalar(), fail: fail)
        case "stop_timeout":
            configuration.stopTimeout = try Self.duration(try scalar(), fail: fail)
        case "log_level":
            let text = try scalar()
            guard let level = Logger.Level(name: text) else {
                throw fail("expected one of trace, debug, info, notice, warning, error, critical; got '\(text)'")
            }
            configuration.logLevel = level
        default:
            throw fail("unknown key")
        }
    }

    private func validate(_ configuration: Configuration, source: String, checkRoot: Bool) throws(ConfigurationError) {
        if configuration.restart.maxDelay < configuration.restart.initialDelay {
            throw ConfigurationError(
                source: source, key: "restart.max_delay", problem: "must not be less than restart.initial_delay")
        }
        if checkRoot && !Files.isSearchableDirectory(configuration.root) {
            throw ConfigurationError(
                source: source, key: "root", problem: "'\(configuration.root)' is not a directory this process can read")
        }
    }

    /// A whole number, zero or more.
    static func count(_ text: String, fail: (String) -> ConfigurationError) throws(ConfigurationError) -> Int {
        guard let value = Int(text), value >= 0 else { throw fail("expected a whole number, 0 or more, got '\(text)'") }
        return value
    }

    /// An endpoint, or nil for `auto`.
    static func endpointOrAuto(_ text: String, fail: (String) -> ConfigurationError) throws(ConfigurationError) -> String? {
        if text == "auto" { return nil }
        guard isEndpoint(text) else { throw fail("'\(text)' is not 'auto' or a tcp:// or ipc:// endpoint") }
        return text
    }

    static func isEndpoint(_ text: String) -> Bool {
        for scheme in ["tcp://", "ipc://"] where text.hasPrefix(scheme) && text.count > scheme.count {
            return true
        }
        return false
    }

    /// "64MiB", "512KiB", "1GiB", "100B" or a plain number of bytes.
    static func size(_ text: String, fail: (String) -> ConfigurationError) throws(ConfigurationError) -> Int {
        let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1), ("", 1)]
        for (suffix, multiplier) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count).trimmed()
            if let value = Int(number), value > 0, value <= (1 << 32) / multiplier {
                return value * multiplier
            }
            break
        }
        throw fail("expected a size from 1B to 4GiB such as 64MiB, 512KiB or a number of bytes, got '\(text)'")
    }

    /// "100ms", "30s", "2min" or a plain number of seconds.
    static func duration(_ text: String, fail: (String) -> ConfigurationError) throws(ConfigurationError) -> Double {
        let units: [(String, Double)] = [("ms", 0.001), ("min", 60), ("s", 1), ("", 1)]
        for (suffix, multiplier) in units where text.hasSuffix(suffix) {
            if let value = Double(text.dropLast(suffix.count).trimmed()), value >= 0, value.isFinite {
                return value * multiplier
            }
        }
        throw fail("expected a duration such as 100ms, 30s, 2min or a number of seconds, got '\(text)'")
    }
}

extension StringProtocol {
    func trimmed() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }

    func replacingDots() -> String {
        String(map { $0 == "." ? "_" : $0 })
    }
}
