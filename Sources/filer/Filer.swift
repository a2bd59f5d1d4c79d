import ArgumentParser
import FilerCore
import FoundationEssentials
import Glibc
import Logging
import Posix
import Systemd

@main
struct Filer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filer",
        abstract: "A clustered ZeroMQ file server.",
        discussion: """
            Clients send {"path": "FILE"} to the frontend and get the file back as JSON. \
            The master forwards requests to one worker process per CPU.
            """,
        version: filerVersion,
        subcommands: [Serve.self, Get.self, Status.self, CheckConfig.self, Keygen.self, WorkerRole.self]
    )
}

/// The configuration flags `serve` and `check-config` share; each overrides the file
/// and the environment.
struct ConfigurationOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The configuration file.", valueName: "path"))
    var config = "/etc/filer/filer.yaml"

    @Option(name: .long, help: ArgumentHelp("A client endpoint (repeat for several).", valueName: "endpoint"))
    var frontend: [String] = []

    @Option(name: .long, help: ArgumentHelp("The worker endpoint, or 'auto'.", valueName: "endpoint"))
    var backend: String?

    @Option(name: .long, help: ArgumentHelp("Worker processes, or 'auto' for one per usable CPU.", valueName: "n"))
    var workers: String?

    @Option(name: .long, help: ArgumentHelp("The directory files are served from.", valueName: "dir"))
    var root: String?

    @Option(name: .long, help: ArgumentHelp("Larger files are refused (EFBIG).", valueName: "size"))
    var maxFileSize: String?

    @Option(name: .long, help: ArgumentHelp("Larger requests are dropped.", valueName: "size"))
    var maxRequestSize: String?

    @Option(name: .long, help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel: String?

    var flags: [String: ConfigurationLoader.RawValue] {
        var flags: [String: ConfigurationLoader.RawValue] = [:]
        if !frontend.isEmpty { flags["frontend"] = .list(frontend) }
        let scalars: [(String, String?)] = [
            ("backend", backend), ("workers", workers), ("root", root),
            ("limits.max_file_size", maxFileSize), ("limits.max_request_size", maxRequestSize),
            ("log_level", logLevel),
        ]
        for case let (key, value?) in scalars { flags[key] = .scalar(value) }
        return flags
    }

    /// Loads the configuration, or prints why not and exits with EX_CONFIG (78).
    func load() throws -> Configuration {
        do {
            return try reload()
        } catch {
            printError("filer: configuration error: \(error)")
            throw ExitCode(78)
        }
    }

    /// Reads the configuration from the same file, environment and flags.
    func reload() throws -> Configuration {
        try ConfigurationLoader().load(path: config, environment: currentEnvironment(), flags: flags)
    }
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon in the foreground (systemd's ExecStart).",
        discussion: "Stops cleanly on SIGTERM or SIGINT. Exit codes: 0 stopped, 69 workers cannot start, 71 system failure, 78 bad configuration."
    )

    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        let configuration = try options.load()
        LoggingSetup.bootstrap(identifier: "filer", level: configuration.logLevel)
        let code = Daemon.serve(
            configuration: configuration, configFile: Files.canonicalPath(options.config) ?? options.config,
            reloadConfiguration: options.reload,
            logger: Logger(label: "filer"))
        if code != 0 { throw ExitCode(code) }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show how the running daemon is doing.",
        discussion: "Asks the daemon over its control endpoint (see `control` in the configuration). Exit codes: 0 shown, 3 not running or not answering."
    )

    @Option(help: ArgumentHelp("The configuration file, which names the control endpoint.", valueName: "path"))
    var config = "/etc/filer/filer.yaml"

    @Option(help: ArgumentHelp("The control endpoint, overriding the configuration's.", valueName: "endpoint"))
    var control: String?

    @Option(help: "Seconds to wait for the answer.")
    var timeout: Double = 2

    @Flag(help: "Print JSON, for scripts.")
    var json = false

    func run() throws {
        let endpoint: String
        if let control {
            endpoint = control
        } else {
            let loaded = try? ConfigurationLoader().load(
                path: config, environment: currentEnvironment(), flags: [:], checkRoot: false)
            endpoint = (loaded ?? FilerCore.Configuration()).controlEndpoint
        }
        let report: StatusReport?
        do {
            report = try ControlClient.status(endpoint: endpoint, timeout: timeout)
        } catch {
            printError("filer: cannot ask \(endpoint): \(error)")
            throw ExitCode(3)
        }
        guard let report else {
            printError("filer: no answer from \(endpoint): is the daemon running?")
            throw ExitCode(3)
        }
        print(json ? String(decoding: report.json(), as: UTF8.self) : report.text())
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate the configuration and print the effective values."
    )

    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        let configuration = try options.load()
        print("# \(options.config) is valid; effective configuration:")
        print(ConfigurationPrinter.yaml(configuration))
    }
}

struct Get: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch one file and print its content.",
        discussion: "Retries Lazy-Pirate style. Exit codes: 0 printed, 1 the server answered with an error, 69 no reply."
    )

    @Argument(help: "The file, relative to the server's root.")
    var path: String

    @Option(help: "The server's frontend.")
    var endpoint = "tcp://127.0.0.1:60401"

    @Option(help: "Seconds to wait for each reply.")
    var timeout: Double = 2.5

    @Option(help: "How many times to resend when no reply comes.")
    var retries = 3

    @Option(help: "'utf8' or 'base64': how the server should send the content.")
    var encoding: String?

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        guard retries >= 0 else { throw ValidationError("--retries must not be negative") }
    }

    func run() throws {
        var request: [String: String] = ["path": path]
        if let encoding { request["encoding"] = encoding }
        let body = try JSONEncoder().encode(request)
        let client = LazyPirateClient(endpoint: endpoint, timeout: timeout, retries: retries)
        let outcome: Result<[UInt8], ServerError>
        do {
            outcome = try LazyPirateClient.decodeReply(try client.send(Array(body)))
        } catch {
            printError("filer: \(error)")
            throw ExitCode(69)
        }
        switch outcome {
        case .success(let content):
            var written = 0
            while written < content.count {
                let result = content.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress! + written, $0.count - written) }
                if result <= 0 { throw ExitCode(74) }
                written += result
            }
        case .failure(let error):
            printError("\(error.code): \(error.message)")
            throw ExitCode(1)
        }
    }
}

/// The worker role: the master starts these; not for people.
struct WorkerRole: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Internal: one worker process.", shouldDisplay: false)

    @Option var backend: String
    @Option var root: String
    @Option var maxFileSize: Int
    @Option var masterPid: Int32
    @Option var logLevel = "info"

    func run() throws {
        LoggingSetup.bootstrap(identifier: "filer", level: Logger.Level(name: logLevel) ?? .info)
        let options = Worker.Options(backend: backend, root: root, maxFileSize: maxFileSize, masterPID: masterPid)
        let code = Worker(options: options, logger: Logger(label: "filer.worker")).run()
        if code != 0 { throw ExitCode(code) }
    }
}

func printError(_ message: String) {
    let line = Array((message + "\n").utf8)
    _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
