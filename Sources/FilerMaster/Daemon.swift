import Glibc
public import Logging
import Posix
import Systemd
import ZeroMQ
public import FilerConfiguration
public import FilerCore

/// `filer serve`: binds, starts the supervisor, and returns the exit code.
public enum Daemon {
    /// - Parameters:
    ///   - reloadConfiguration: reads the configuration again as it was read at start.
    public static func serve(
        configuration: Configuration, configFile: String,
        reloadConfiguration: @escaping () throws -> Configuration, logger: Logger
    ) -> ExitCode {
        // Before any ZeroMQ socket exists: see `seedCRandom`.
        Resources.seedCRandom()
        let openFiles = Resources.raiseOpenFileLimit()
        Signals.ignoreBrokenPipe()
        let signals: SignalDescriptor
        do {
            // Before any thread exists, so that every thread inherits the blocked mask
            // and these signals reach the event loop only, through the descriptor.
            signals = try SignalDescriptor([SIGTERM, SIGINT, SIGHUP, SIGCHLD])
        } catch {
            logger.critical("Cannot set up signal handling: \(error)")
            return .systemFailure
        }
        let backend = configuration.backendEndpoint(masterPID: getpid())
        let control = configuration.controlEndpoint
        let ipcEndpoints = (configuration.frontends + [backend, control]).filter { $0.hasPrefix("ipc://") }
        for endpoint in ipcEndpoints {
            do {
                guard try !Files.isListening(ipcEndpoint: endpoint) else {
                    logger.critical("Cannot bind \(endpoint): it is in use by another process (another filer?)")
                    return .systemFailure
                }
            } catch {
                logger.warning("Cannot tell whether \(endpoint) is in use: \(error)")
            }
        }
        let broker: Broker
        do {
            broker = try Broker(
                frontends: configuration.frontends, backend: backend,
                limits: configuration.limits, connections: configuration.connections)
        } catch {
            logger.critical("Cannot bind: \(error)")
            return .systemFailure
        }
        // Serving matters more than being observable: without it, `filer status` says why.
        var controlServer: ControlServer?
        do {
            controlServer = try ControlServer(endpoint: control)
        } catch {
            logger.warning("No control endpoint, so no `filer status`: \(error)")
        }
        let bound = ipcEndpoints.compactMap { endpoint in
            Files.socketIdentity(ofIPCEndpoint: endpoint).map { (endpoint, $0) }
        }
        let notifier = Notifier()
        let now = MonotonicInstant.now()
        let pool = WorkerPool(
            configuration: configuration, watchdogInterval: notifier.watchdogInterval, now: now,
            seed: UInt64.random(in: 0...UInt64.max))
        // Connections may use what the open-file limit leaves once the master's own
        // descriptors, and a reserve for workers, control clients and reloads, are counted.
        let reserve = 64 + 4 * pool.slots.count + Int(Broker.backlog)
        let available = openFiles - (Resources.openDescriptorCount() ?? 64) - reserve
        let connectionGuard = ConnectionGuard(
            maximumConnections: max(1, configuration.limits.maxConnections ?? available),
            memoryBudget: configuration.limits.maxMemory)
        logger.info(
            "Master \(getpid()) serving \(configuration.root) on \(configuration.frontends.joined(separator: ", ")) with \(pool.slots.count) workers",
            metadata: ["backend": "\(backend)", "open_files": "\(openFiles)"])
        if let limit = configuration.limits.maxConnections, limit > available {
            logger.warning("limits.max_connections is \(limit), but the open-file limit leaves room for \(available): raise LimitNOFILE=")
        }
        let master = Master(
            pool: pool, broker: broker, control: controlServer, signals: signals, notifier: notifier,
            configFile: configFile, readConfiguration: reloadConfiguration, faults: TestFaults.fromEnvironment(),
            connectionGuard: connectionGuard, logger: logger)
        let code = master.run()
        for (endpoint, identity) in bound {
            Files.removeSocketFile(ofIPCEndpoint: endpoint, ifStill: identity)
        }
        return code
    }
}
