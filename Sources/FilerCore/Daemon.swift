import Glibc
public import Logging
import Posix
import Systemd
import ZeroMQ

/// `filer serve`: binds, starts the supervisor, and returns the exit code.
public enum Daemon {
    /// - Parameters:
    ///   - reloadConfiguration: reads the configuration again as it was read at start.
    public static func serve(
        configuration: Configuration, configFile: String,
        reloadConfiguration: @escaping () throws -> Configuration, logger: Logger
    ) -> Int32 {
        Signals.ignoreBrokenPipe()
        let signals: SignalDescriptor
        do {
            // Before any thread exists, so that every thread inherits the blocked mask
            // and these signals reach the event loop only, through the descriptor.
            signals = try SignalDescriptor([SIGTERM, SIGINT, SIGHUP, SIGCHLD])
        } catch {
            logger.critical("Cannot set up signal handling: \(error)")
            return Supervisor.ExitCode.systemFailure
        }
        let broker: Broker
        do {
            broker = try Broker(
                frontends: configuration.frontends, backend: configuration.backendEndpoint(masterPID: getpid()),
                maxRequestSize: configuration.maxRequestSize)
        } catch {
            logger.critical("Cannot bind: \(error)")
            return Supervisor.ExitCode.systemFailure
        }
        // Serving matters more than being observable: without it, `filer status` says why.
        var control: ControlServer?
        do {
            control = try ControlServer(endpoint: configuration.controlEndpoint)
        } catch {
            logger.warning("No control endpoint, so no `filer status`: \(error)")
        }
        let supervisor = Supervisor(
            configuration: configuration, configFile: configFile, reloadConfiguration: reloadConfiguration,
            broker: broker, control: control, logger: logger)
        let code = supervisor.run(signals: signals)
        for endpoint in broker.frontends + [broker.backend] + [control?.endpoint].compactMap({ $0 }) {
            Files.removeSocketFile(ofIPCEndpoint: endpoint)
        }
        return code
    }
}
