import Posix
import FilerConfiguration
import FilerCore
import FilerMetrics

/// What the master steers besides its workers: how requests reach them.
///
/// On a broker (`BrokerForwarding`) that is the proxy thread between frontend and
/// backend. On a worker host (`WorkerHostForwarding`) the brokers forward, and this
/// host can only ask them to pause while one of its workers leaves. The pool's
/// `startProxy` and `stopProxy` mean "forward" and "hold" to either.
protocol Forwarding: AnyObject {
    /// Where this host's workers connect.
    var workerBackends: [String] { get }
    /// The backend as `filer status` shows it.
    var backendDescription: String { get }

    /// Registers its sockets on `loop`; `post` hands the pool what they say.
    func attach(to loop: EventLoop, post: @escaping (PoolEvent) -> Void)
    /// Forwards from now on. - Throws: what keeps it from doing so.
    func start() throws
    /// Holds from now on; `proxyStopped` is posted once nothing more reaches a worker.
    func stop()
    /// With forwarding held: applies a reload's endpoints and limits.
    func reconfigure(_ next: Configuration) throws
    /// A reload's keys, read before anything else applies. - Throws: when they cannot be read.
    func reloadKeys(_ next: Configuration) throws
    /// Tells worker hosts whose pause has taken effect (a broker's part).
    func confirmPaused(_ leases: [String])
    /// Time-driven work; called after every turn of the loop.
    func tick(now: MonotonicInstant)
    /// When `tick` next has work to do.
    var nextDue: MonotonicInstant { get }
    /// Adds what only this kind of host knows to the status report.
    func describe(_ report: inout StatusReport)
    /// Adds what only this kind of host counts to the metrics.
    func describe(_ snapshot: inout MetricsSnapshot)
    /// The daemon ends: the last replies are passed on, the brokers are let go.
    func finish()
}
