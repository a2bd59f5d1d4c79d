/// Every exit code of every role of the binary, in one table. The values follow
/// sysexits(3) where one fits, so that systemd and shell scripts can tell them apart.
public struct ExitCode: Equatable, Sendable, CustomStringConvertible {
    public let rawValue: Int32

    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    public var description: String { "\(rawValue)" }

    // MARK: Any role

    public static let success = ExitCode(0)
    /// Bad command line (EX_USAGE).
    public static let usage = ExitCode(64)
    /// Bad configuration (EX_CONFIG): systemd's RestartPreventExitStatus= names it.
    public static let configuration = ExitCode(78)

    // MARK: filer serve

    /// Workers cannot start at all (EX_UNAVAILABLE): every start failed before coming online.
    public static let workersCannotStart = ExitCode(69)
    /// A system call failed: an endpoint in use, the proxy thread failed (EX_OSERR).
    public static let systemFailure = ExitCode(71)

    // MARK: filer get and filer status

    /// `get`: the server answered with an error.
    public static let serverError = ExitCode(1)
    /// `status`: no daemon answered.
    public static let notRunning = ExitCode(3)
    /// `get`: no reply after every retry (EX_UNAVAILABLE).
    public static let noReply = ExitCode(69)
    /// `get`: the content could not be written out (EX_IOERR).
    public static let outputFailed = ExitCode(74)

    // MARK: The worker role, which the master reads

    public static let workerCannotOpenRoot = ExitCode(2)
    public static let workerCannotReachBackend = ExitCode(3)
    public static let workerOrphaned = ExitCode(4)
    public static let workerFailed = ExitCode(5)
}
