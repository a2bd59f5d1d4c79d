import Glibc
public import Logging
import Posix
import Systemd
import ZeroMQ

/// `filer serve`: binds, starts the proxy and the supervisor, and returns the exit code.
public enum Daemon {
    public static func serve(configuration: Configuration, logger: Logger) -> Int32 {
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
        let backend = configuration.backendEndpoint(masterPID: getpid())
        let broker: Broker
        do {
            broker = try Broker(
                frontends: configuration.frontends, backend: backend, maxRequestSize: configuration.maxRequestSize)
            try broker.start { error in
                logger.critical("The proxy failed: \(error)")
            }
        } catch {
            logger.critical("Cannot start the broker: \(error)")
            return Supervisor.ExitCode.systemFailure
        }
        let supervisor = Supervisor(configuration: configuration, broker: broker, logger: logger)
        return supervisor.run(signals: signals)
    }
}
