public import Logging

public enum LoggingSetup {
    /// Sends log lines to the journal when systemd connected stderr to it, else as
    /// plain lines on stderr. Call once, before the first logger is made.
    public static func bootstrap(identifier: String, level: Logger.Level) {
        let destination: FilerLogHandler.Destination = JournalEntry.stderrIsJournal ? .journal : .stderr
        LoggingSystem.bootstrap { _ in
            var handler = FilerLogHandler(identifier: identifier, destination: destination)
            handler.logLevel = level
            return handler
        }
    }
}
