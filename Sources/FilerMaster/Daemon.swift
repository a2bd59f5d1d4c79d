import Glibc
public import Logging
import Posix
import Systemd
import ZeroMQ
public import FilerConfiguration
public import FilerCore
import FilerSecurity

/// `filer serve`: binds, starts the master's loop, and returns the exit code.
public enum Daemon {
    /// - Parameters:
    ///   - reloadConfiguration: reads the configuration again as it was read at start.
    public static func serve(
        configuration: Configuration, configFile: String,
        reloadConfiguration: @escaping () throws -> Configuration, logger: Logger
    ) -> ExitCode {
        // Before any ZeroMQ socket exists: see `seedCRandom`.
        Resources.seedCRandom()
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
        let curve: CurveSetup?
        do {
            curve = try CurveSetup.load(
                certificate: configuration.curve.certificate, authorizedKeys: configuration.curve.authorizedKeys,
                workerKeys: configuration.curve.workerKeys,
                brokerKey: configuration.curve.brokerKey)
        } catch {
            logger.critical("Cannot use the CURVE keys: \(error)")
            return .configuration
        }
        let backend = configuration.localBackendEndpoint(masterPID: getpid())
        // A worker host binds nothing but its control socket.
        let served = configuration.role == .broker ? configuration.frontends + [backend] : []
        let ipcEndpoints = (served + [configuration.controlEndpoint]).filter { $0.hasPrefix("ipc://") }
        if let taken = endpointInUse(ipcEndpoints, logger: logger) {
            logger.critical("Cannot bind \(taken): it is in use by another process (another filer?)")
            return .systemFailure
        }
        let faults = TestFaults.fromEnvironment()
        let openFiles = Resources.raiseOpenFileLimit()
        let forwarding: any Forwarding
        do {
            switch configuration.role {
            case .broker:
                forwarding = try brokerForwarding(
                    configuration, backend: backend, curve: curve, openFiles: openFiles, faults: faults, logger: logger)
            case .workers:
                forwarding = try WorkerHostForwarding(configuration: configuration, curve: curve, logger: logger)
            }
        } catch {
            logger.critical("Cannot bind: \(error)")
            return .systemFailure
        }
        // Serving matters more than being observable: without it, `filer status` says why.
        var controlServer: ControlServer?
        do {
            controlServer = try ControlServer(endpoint: configuration.controlEndpoint)
        } catch {
            logger.warning("No control endpoint, so no `filer status`: \(error)")
        }
        // The control socket's file is its server's to remove (a reload may move it).
        let bound = ipcEndpoints.filter { $0 != configuration.controlEndpoint }.compactMap { endpoint in
            Files.socketIdentity(ofIPCEndpoint: endpoint).map { (endpoint, $0) }
        }
        let notifier = Notifier()
        let pool = WorkerPool(
            configuration: configuration, watchdogInterval: notifier.watchdogInterval, now: .now(),
            seed: UInt64.random(in: 0...UInt64.max))
        let serving = configuration.role == .workers
            ? "for the brokers \(configuration.brokers.joined(separator: ", "))" : "on \(configuration.frontends.joined(separator: ", "))"
        logger.info(
            "Master \(getpid()) serving \(configuration.root) \(serving) with \(pool.slots.count) workers",
            metadata: ["backend": "\(forwarding.backendDescription)", "open_files": "\(openFiles)", "curve": "\(curve != nil)"])
        let master = Master(
            pool: pool, forwarding: forwarding, control: controlServer.take(), signals: signals, notifier: notifier,
            configFile: configFile, readConfiguration: reloadConfiguration, faults: faults, logger: logger)
        let code = master.run()
        for (endpoint, identity) in bound {
            Files.removeSocketFile(ofIPCEndpoint: endpoint, ifStill: identity)
        }
        return code
    }

    /// A broker: the proxy's sockets bound, CURVE's ZAP handler on their context before
    /// any CURVE endpoint accepts, and with a tcp:// backend, the drain endpoint.
    private static func brokerForwarding(
        _ configuration: Configuration, backend: String, curve: CurveSetup?, openFiles: Int, faults: TestFaults?, logger: Logger
    ) throws -> BrokerForwarding {
        let broker = try Broker(
            frontends: configuration.frontends, backend: backend, remoteBackend: configuration.remoteBackendEndpoint,
            limits: configuration.limits, connections: configuration.connections, curve: curve?.keyPair)
        var zap: ZAPHandler?
        if let curve {
            zap = try ZAPHandler(context: broker.context, authorized: curve.authorized, workers: curve.workers) { refusal in
                logger.notice(
                    "Refused a CURVE client from \(refusal.address): \(refusal.reason)",
                    metadata: ["peer": "\(refusal.address)", "client_key": "\(refusal.key?.z85 ?? "-")"])
            }
        }
        try broker.bind()
        let drainServer = try configuration.remoteBackendEndpoint.flatMap(Configuration.drainEndpoint(ofBackend:)).map {
            endpoint in try DrainServer(context: broker.context, endpoint: endpoint, curve: curve?.keyPair)
        }
        return BrokerForwarding(
            broker: broker, zap: zap, drainServer: drainServer,
            connectionGuard: connectionGuard(configuration, openFiles: openFiles, workers: configuration.workerCount, logger: logger),
            faults: faults, logger: logger)
    }

    /// The first ipc endpoint another process listens on: libzmq 4.3.4 would unlink its
    /// socket file and steal it.
    private static func endpointInUse(_ endpoints: [String], logger: Logger) -> String? {
        for endpoint in endpoints {
            do {
                if try Files.isListening(ipcEndpoint: endpoint) { return endpoint }
            } catch {
                logger.warning("Cannot tell whether \(endpoint) is in use: \(error)")
            }
        }
        return nil
    }

    /// Connections may use what the open-file limit leaves once the master's own
    /// descriptors, and a reserve for workers, control clients, reloads and connections
    /// the kernel completes before we stop accepting, are counted.
    private static func connectionGuard(
        _ configuration: Configuration, openFiles: Int, workers: Int, logger: Logger
    ) -> ConnectionGuard {
        let reserve = 64 + 4 * workers + Int(Broker.backlog)
        let available = openFiles - (Resources.openDescriptorCount() ?? 64) - reserve
        if let limit = configuration.limits.maxConnections, limit > available {
            logger.warning("limits.max_connections is \(limit), but the open-file limit leaves room for \(available): raise LimitNOFILE=")
        }
        return ConnectionGuard(
            maximumConnections: max(1, configuration.limits.maxConnections ?? available),
            memoryBudget: configuration.limits.maxMemory)
    }
}
