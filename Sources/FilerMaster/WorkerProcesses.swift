import Glibc
import Posix
import Systemd
import FilerConfiguration
import FilerCore

/// Starting worker processes and reading what they report.
///
/// Workers are spawned from the main thread only, which lives as long as the master:
/// a worker's parent-death signal fires when the thread that spawned it ends.
final class WorkerProcesses {
    /// A running worker's status pipe and what has arrived on it.
    final class Channel {
        let pid: Int32
        let pipe: FileDescriptor
        var parser = WorkerReportParser()

        init(pid: Int32, pipe: consuming FileDescriptor) {
            self.pid = pid
            self.pipe = pipe
        }

        /// Reads what the worker wrote. - Returns: its reports, and whether the pipe is
        /// still open (it closes when the worker exits).
        func read() -> (reports: [WorkerReport], open: Bool) {
            var reports: [WorkerReport] = []
            while true {
                let bytes: [UInt8]
                do {
                    bytes = try pipe.read(upTo: 4096)
                } catch where error.errno == EAGAIN {
                    return (reports, true)
                } catch {
                    return (reports, false)
                }
                if bytes.isEmpty { return (reports, false) }
                reports += parser.feed(bytes)
            }
        }
    }

    /// Where the workers connect: this host's broker, or a worker host's brokers.
    private let backends: [String]

    init(backends: [String]) {
        self.backends = backends
    }

    /// Starts a worker with `configuration`. - Returns: its status channel.
    func spawn(_ configuration: Configuration) throws(SystemError) -> Channel {
        let pipe = try makePipe()
        let environment = currentEnvironment().filter { entry in
            let name = entry.split(separator: "=", maxSplits: 1).first.map(String.init) ?? entry
            return !Notifier.privateEnvironment.contains(name)
        }
        var arguments = ["filer", "worker"] + backends.flatMap { ["--backend", $0] } + [
            "--root", configuration.root,
            "--max-file-size", "\(configuration.limits.maxFileSize)",
            "--max-reply-size", "\(configuration.limits.maxReplySize)",
            "--master-pid", "\(getpid())",
            "--log-level", "\(configuration.logLevel)",
        ]
        if configuration.role == .workers {
            let connections = configuration.connections
            arguments += [
                "--remote",
                "--heartbeat-interval", "\(connections.heartbeatInterval.milliseconds)",
                "--heartbeat-timeout", "\(connections.heartbeatTimeout.milliseconds)",
            ]
            if let certificate = configuration.curve.certificate, let brokerKey = configuration.curve.brokerKey {
                arguments += ["--certificate", certificate, "--broker-key", brokerKey]
            }
        }
        // /proc/self/exe: the very binary we run, even if a package upgrade replaced the file.
        let pid = try Spawn.process(
            executable: "/proc/self/exe", arguments: arguments, environment: environment,
            descriptors: [(child: WorkerReport.descriptor, parent: pipe.write.rawValue)],
            resetSignals: [SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGPIPE, SIGUSR1])
        try pipe.read.setNonBlocking()
        return Channel(pid: pid, pipe: pipe.read)
    }

    static func send(_ signal: WorkerSignal, to pid: Int32) {
        let number: Int32
        switch signal {
        case .drain: number = SIGTERM
        case .abandon: number = SIGUSR1
        case .abort: number = SIGABRT
        case .kill: number = SIGKILL
        }
        Spawn.send(number, to: pid)
    }
}
