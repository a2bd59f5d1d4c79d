import CFilerLinux
import CSystemd
import Glibc
import Posix

/// The systemd notification protocol. Without NOTIFY_SOCKET (not run by systemd as
/// Type=notify) every call does nothing.
///
/// Sending never blocks (see `filer_notify`): a message the manager cannot take yet
/// waits here and goes with the next call or `flush()`, so READY=1 or STOPPING=1 is
/// late rather than lost, and a newer STATUS= replaces a waiting one.
public final class Notifier {
    private var waiting: [[String]] = []
    /// Beyond this many waiting messages the manager is not reading; the oldest STATUS= go.
    private static let maximumWaiting = 32

    public init() {}

    /// Whether a service manager listens.
    public var isActive: Bool { environmentValue("NOTIFY_SOCKET") != nil }

    /// Sends newline-separated `KEY=value` assignments in one datagram.
    public func notify(_ assignments: [String]) {
        guard isActive, !assignments.isEmpty else { return }
        if let last = waiting.last, Self.isStatusOnly(last), Self.isStatusOnly(assignments) {
            waiting[waiting.count - 1] = assignments
        } else {
            waiting.append(assignments)
        }
        if waiting.count > Self.maximumWaiting, let stale = waiting.firstIndex(where: Self.isStatusOnly) {
            waiting.remove(at: stale)
        }
        flush()
    }

    /// Sends what waits, in order, until the manager cannot take more.
    public func flush() {
        while let next = waiting.first {
            var text = next.joined(separator: "\n")
            let result = text.withUTF8 { utf8 in
                utf8.withMemoryRebound(to: CChar.self) { filer_notify($0.baseAddress, $0.count) }
            }
            if result == -EAGAIN { return }
            // Sent, or failed for good (no manager at that address): either way, done with it.
            waiting.removeFirst()
        }
    }

    /// Whether messages wait for the manager.
    public var hasWaiting: Bool { !waiting.isEmpty }

    private static func isStatusOnly(_ assignments: [String]) -> Bool {
        assignments.allSatisfy { $0.hasPrefix("STATUS=") }
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
    public var watchdogInterval: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(clamping: microseconds))
    }

    /// Variables meant for this process only: a child that inherited them could
    /// notify or feed the watchdog in our name.
    public static let privateEnvironment: Set<String> = [
        "NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
    ]
}
