import Posix
import YAML

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

/// Reads the configuration: built-in defaults, then the YAML file, then environment
/// variables (`FILER_` + key), then command-line flags, each key as
/// `ConfigurationSchema` says.
///
/// We do not use swift-configuration here because it cannot tell which keys a file
/// holds, and an unknown key (a typo) must be an error rather than a silently ignored line.
public struct ConfigurationLoader {
    public init() {}

    /// A configuration file is a page of text; a larger one is refused unparsed. (Large
    /// enough that an absurd value still reaches its key's check, which names the key.)
    static let maximumFileSize = 16 << 20

    /// - Parameters:
    ///   - path: the YAML file.
    ///   - environment: `KEY=value` strings, as `environ` holds them.
    ///   - flags: values given on the command line, by key.
    ///   - checkRoot: whether `root` must be a directory that exists now.
    /// - Throws: `ConfigurationError` naming the key and its source.
    public func load(
        path: String, environment: [String], flags: [String: [String]], checkRoot: Bool = true
    ) throws(ConfigurationError) -> Configuration {
        var configuration = Configuration()
        for (key, values, source) in try fileValues(path: path) {
            try apply(values, to: key, in: &configuration, source: source)
        }
        let variables = Dictionary(
            environment.compactMap { entry -> (String, String)? in
                guard let equals = entry.firstIndex(of: "=") else { return nil }
                return (String(entry[..<equals]), String(entry[entry.index(after: equals)...]))
            },
            uniquingKeysWith: { _, last in last })
        for setting in ConfigurationSchema.settings {
            guard let text = variables[setting.environmentName] else { continue }
            let values = setting.isList ? text.split(separator: ",").map { $0.trimmed() } : [text.trimmed()]
            try apply(values, to: setting.key, in: &configuration, source: "environment variable \(setting.environmentName)")
        }
        for (key, values) in flags.sorted(by: { $0.key < $1.key }) {
            try apply(values, to: key, in: &configuration, source: "command line")
        }
        try ConfigurationRules.check(configuration, source: path, checkRoot: checkRoot)
        // Workers resolve requests beneath the root whatever their working directory.
        if let absolute = Files.canonicalPath(configuration.root) { configuration.root = absolute }
        return configuration
    }

    private func apply(
        _ values: [String], to key: String, in configuration: inout Configuration, source: String
    ) throws(ConfigurationError) {
        guard let setting = ConfigurationSchema.setting(key) else {
            throw ConfigurationError(source: source, key: key, problem: "unknown key")
        }
        guard !values.isEmpty || setting.isList else {
            throw ConfigurationError(source: source, key: key, problem: "expected a value")
        }
        guard setting.isList || values.count == 1 else {
            throw ConfigurationError(source: source, key: key, problem: "expected a single value")
        }
        for value in values where value.utf8.count > ConfigurationValues.maximumLength {
            throw ConfigurationError(
                source: source, key: key,
                problem: "the value is \(value.utf8.count) bytes long; at most \(ConfigurationValues.maximumLength) are allowed")
        }
        do throws(Problem) {
            try setting.read(values, &configuration)
        } catch {
            throw ConfigurationError(source: source, key: key, problem: error.text)
        }
    }

    // MARK: The file

    private func fileValues(path: String) throws(ConfigurationError) -> [(String, [String], String)] {
        let text: String
        do {
            text = try readTextFile(path, maximumBytes: Self.maximumFileSize)
        } catch {
            throw ConfigurationError(source: path, key: nil, problem: "cannot read the configuration file: \(error)")
        }
        let root: YAMLNode?
        do {
            root = try YAMLParser.parse(text, maximumBytes: Self.maximumFileSize)
        } catch {
            throw ConfigurationError(source: "\(path):\(error.line)", key: nil, problem: "not valid YAML: \(error.problem)")
        }
        guard let root else { return [] }  // an empty file: all defaults
        guard case .mapping(let pairs, _) = root else {
            throw ConfigurationError(source: path, key: nil, problem: "expected a mapping of keys to values")
        }
        var values: [(String, [String], String)] = []
        try collect(pairs, prefix: "", path: path, into: &values)
        return values
    }

    private func collect(
        _ pairs: [(key: YAMLNode, value: YAMLNode)], prefix: String, path: String,
        into values: inout [(String, [String], String)]
    ) throws(ConfigurationError) {
        for (keyNode, valueNode) in pairs {
            // The parser allows only scalar keys.
            guard case .scalar(let name, _, let mark) = keyNode else { continue }
            let key = prefix + name
            let location = "\(path):\(mark.line)"
            if ConfigurationSchema.isSection(key) {
                guard case .mapping(let section, _) = valueNode else {
                    throw ConfigurationError(source: location, key: key, problem: "expected a mapping of keys to values")
                }
                try collect(section, prefix: key + ".", path: path, into: &values)
                continue
            }
            guard let setting = ConfigurationSchema.setting(key) else {
                let known = ConfigurationSchema.settings.map(\.key).joined(separator: ", ")
                throw ConfigurationError(source: location, key: key, problem: "unknown key (known keys: \(known))")
            }
            switch valueNode {
            case .scalar(let text, _, _):
                values.append((key, [text.trimmed()], location))
            case .sequence(let sequence, _) where setting.isList:
                var items: [String] = []
                for item in sequence {
                    guard case .scalar(let text, _, _) = item else {
                        throw ConfigurationError(source: location, key: key, problem: "expected a list of values")
                    }
                    items.append(text.trimmed())
                }
                values.append((key, items, location))
            default:
                throw ConfigurationError(source: location, key: key, problem: "expected a single value")
            }
        }
    }
}
