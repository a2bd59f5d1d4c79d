public import Logging

public enum LoggingSetup {
    /// Sends log lines to the journal when systemd connected stderr to it, else as
    /// plain lines on stderr. Call once, before the first logger is made.
    public static func bootstrap(identifier: String, level: Logger.Level) {
        let toJournal = JournalLogHandler.stderrIsJournal
        LoggingSystem.bootstrap { _ in
            if toJournal {
                var handler = JournalLogHandler(identifier: identifier)
                handler.logLevel = level
                return handler
            }
            var handler = StderrLogHandler(identifier: identifier)
            handler.logLevel = level
            return handler
        }
    }
}
