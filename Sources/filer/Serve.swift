import ArgumentParser
import FilerConfiguration
import FilerCore
import FilerMaster
import FilerWorker
import Logging
import Posix
import Systemd

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
        if code != .success { throw stop(with: code) }
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

/// The worker role: the master starts these; not for people.
struct WorkerRole: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Internal: one worker process.", shouldDisplay: false)

    /// Once, or on a worker host once per broker.
    @Option var backend: [String]
    @Option var root: String
    @Option var maxFileSize: Int
    @Option var maxReplySize: Int
    @Option var masterPid: Int32
    @Option var logLevel = "info"
    /// A worker host's: the brokers are remote.
    @Flag var remote = false
    @Option var certificate: String?
    @Option var brokerKey: String?
    @Option var heartbeatInterval: Int32 = 0
    @Option var heartbeatTimeout: Int32 = 0

    func run() throws {
        LoggingSetup.bootstrap(identifier: "filer", level: Logger.Level(rawValue: logLevel) ?? .info)
        let options = Worker.Options(
            backends: backend, root: root, maxFileSize: maxFileSize, maxReplySize: maxReplySize, masterPID: masterPid,
            remote: remote
                ? Worker.RemoteOptions(
                    certificate: certificate, brokerKey: brokerKey, heartbeatIntervalMilliseconds: heartbeatInterval,
                    heartbeatTimeoutMilliseconds: heartbeatTimeout)
                : nil)
        let code = Worker(options: options, logger: Logger(label: "filer.worker")).run()
        if code != .success { throw stop(with: code) }
    }
}
