import ArgumentParser
import FilerConfiguration
import FilerCore
import Posix

/// The configuration flags `serve` and `check-config` share; each overrides the file
/// and the environment. Their names and help come from `ConfigurationSchema`.
struct ConfigurationOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The configuration file.", valueName: "path"))
    var config = "/etc/filer/filer.yaml"

    @Option(name: flag("frontend"), help: help("frontend", valueName: "endpoint", note: " (repeat for several)"))
    var frontend: [String] = []

    @Option(name: flag("backend"), help: help("backend", valueName: "endpoint"))
    var backend: String?

    @Option(name: flag("workers"), help: help("workers", valueName: "n"))
    var workers: String?

    @Option(name: flag("root"), help: help("root", valueName: "dir"))
    var root: String?

    @Option(name: flag("limits.max_file_size"), help: help("limits.max_file_size", valueName: "size"))
    var maxFileSize: String?

    @Option(name: flag("limits.max_request_size"), help: help("limits.max_request_size", valueName: "size"))
    var maxRequestSize: String?

    @Option(name: flag("log_level"), help: help("log_level", valueName: "level"))
    var logLevel: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Any configuration key, such as limits.max_reply_size=32MiB (repeatable).", valueName: "key=value"))
    var settings: [String] = []

    /// The values given, by configuration key.
    var flags: [String: [String]] {
        get throws {
            var flags: [String: [String]] = [:]
            for setting in settings {
                guard let equals = setting.firstIndex(of: "="), equals != setting.startIndex else {
                    throw ValidationError("--set takes KEY=VALUE, got '\(setting)'")
                }
                let key = String(setting[..<equals])
                flags[key, default: []].append(String(setting[setting.index(after: equals)...]))
            }
            if !frontend.isEmpty { flags["frontend"] = frontend }
            let named: [(String, String?)] = [
                ("backend", backend), ("workers", workers), ("root", root),
                ("limits.max_file_size", maxFileSize), ("limits.max_request_size", maxRequestSize),
                ("log_level", logLevel),
            ]
            for case let (key, value?) in named { flags[key] = [value] }
            return flags
        }
    }

    /// Loads the configuration, or prints why not and exits with EX_CONFIG (78).
    func load() throws -> Configuration {
        do {
            return try reload()
        } catch let error as ConfigurationError {
            printError("filer: configuration error: \(error)")
            throw stop(with: .configuration)
        }
    }

    /// Reads the configuration from the same file, environment and flags.
    func reload() throws -> Configuration {
        try ConfigurationLoader().load(path: config, environment: currentEnvironment(), flags: try flags)
    }
}

/// The long flag the schema gives `key`.
private func flag(_ key: String) -> NameSpecification {
    guard let name = ConfigurationSchema.setting(key)?.flag else { fatalError("the schema gives \(key) no flag") }
    return .customLong(name)
}

private func help(_ key: String, valueName: String, note: String = "") -> ArgumentHelp {
    let meaning = ConfigurationSchema.setting(key)?.meaning ?? ""
    return ArgumentHelp(meaning.prefix(1).uppercased() + meaning.dropFirst() + note + ".", valueName: valueName)
}
