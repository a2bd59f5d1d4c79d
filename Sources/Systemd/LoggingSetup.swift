public import Logging
import Synchronization

public enum LoggingSetup {
    /// Sends log lines to the journal when systemd connected stderr to it, else as
    /// plain lines on stderr. Call once, before the first logger is made.
    public static func bootstrap(identifier: String, level: Logger.Level) {
        setLevel(level)
        let destination: FilerLogHandler.Destination = JournalEntry.stderrIsJournal ? .journal : .stderr
        LoggingSystem.bootstrap { _ in FilerLogHandler(identifier: identifier, destination: destination) }
    }

    /// Changes the level of every logger of this process that has not set its own
    /// (a reload's new `log_level`).
    public static func setLevel(_ level: Logger.Level) {
        processLevel.store(Logger.Level.allCases.firstIndex(of: level)!, ordering: .relaxed)
    }

    static var level: Logger.Level {
        Logger.Level.allCases[processLevel.load(ordering: .relaxed)]
    }

    /// An atomic, because every log call reads it, per-request `debug` lines included.
    private static let processLevel = Atomic<Int>(2)  // .info
}
