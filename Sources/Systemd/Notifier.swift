import CSystemd
import Posix

/// The systemd notification protocol (sd_notify). Without NOTIFY_SOCKET, i.e. not
/// run by systemd as Type=notify, every call does nothing.
public struct Notifier: Sendable {
    public init() {}

    /// Whether a service manager listens.
    public var isActive: Bool { environmentValue("NOTIFY_SOCKET") != nil }

    /// Sends newline-separated `KEY=value` assignments in one datagram.
    public func notify(_ assignments: [String]) {
        guard isActive, !assignments.isEmpty else { return }
        _ = sd_notify(0, assignments.joined(separator: "\n"))
    }

    public func ready(status: String) { notify(["READY=1", "STATUS=\(status)"]) }

    public func status(_ status: String) { notify(["STATUS=\(status)"]) }

    public func stopping(status: String) { notify(["STOPPING=1", "STATUS=\(status)"]) }

    /// `RELOADING=1` needs `MONOTONIC_USEC` (systemd 253+ reload-notify), harmless before.
    public func reloading(status: String) {
        let microseconds = MonotonicInstant.now().nanoseconds / 1000
        notify(["RELOADING=1", "MONOTONIC_USEC=\(microseconds)", "STATUS=\(status)"])
    }

    public func watchdog() { notify(["WATCHDOG=1"]) }

    /// The watchdog interval systemd expects pings within, if it set one for this process.
    public var watchdogInterval: Double? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return Double(microseconds) / 1e6
    }

    /// Variables meant for this process only: a child that inherited them could
    /// notify or feed the watchdog in our name.
    public static let privateEnvironment: Set<String> = [
        "NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
    ]
}
