public import Logging
import CSystemd
import Glibc
import Posix

/// Writes native structured journal entries with sd_journal_sendv: MESSAGE,
/// PRIORITY, SYSLOG_IDENTIFIER, and each metadata key upper-cased as a field
/// (`worker_pid` becomes `WORKER_PID`), so `journalctl WORKER_PID=123` works.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let identifier: String

    public init(identifier: String) {
        self.identifier = identifier
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        var fields = Self.fields(
            identifier: identifier, level: event.level, message: "\(event.message)", metadata: merged)
        fields.append("CODE_FILE=\(event.file)")
        fields.append("CODE_LINE=\(event.line)")
        fields.append("CODE_FUNC=\(event.function)")
        Self.send(fields)
    }

    /// The journal fields of one entry, in the order they are sent.
    public static func fields(
        identifier: String, level: Logger.Level, message: String, metadata: Logger.Metadata
    ) -> [String] {
        var fields = [
            "MESSAGE=\(message)",
            "PRIORITY=\(priority(of: level))",
            "SYSLOG_IDENTIFIER=\(identifier)",
        ]
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            fields.append("\(fieldName(key))=\(value)")
        }
        return fields
    }

    /// syslog(3) priorities, which the journal uses.
    public static func priority(of level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// A journal field name: upper case letters, digits and underscores, not starting with one.
    static func fieldName(_ key: String) -> String {
        var name = String(key.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
        while name.hasPrefix("_") { name.removeFirst() }
        return name.isEmpty ? "FIELD" : name
    }

    private static func send(_ fields: [String]) {
        let buffers = fields.map { Array($0.utf8) }
        var vectors: [iovec] = []
        vectors.reserveCapacity(buffers.count)
        withBuffers(buffers, index: 0, vectors: &vectors)
    }

    // Keeps every field's bytes alive while sd_journal_sendv reads them.
    private static func withBuffers(_ buffers: [[UInt8]], index: Int, vectors: inout [iovec]) {
        if index == buffers.count {
            _ = sd_journal_sendv(vectors, Int32(vectors.count))
            return
        }
        buffers[index].withUnsafeBytes { raw in
            vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress), iov_len: raw.count))
            withBuffers(buffers, index: index + 1, vectors: &vectors)
        }
    }

    /// Whether stderr is connected to the journal: systemd says so in JOURNAL_STREAM
    /// ("device:inode" of the stream it gave us), which must match stderr itself.
    public static var stderrIsJournal: Bool {
        guard let stream = environmentValue("JOURNAL_STREAM") else { return false }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return false }
        return stream == "\(info.st_dev):\(info.st_ino)"
    }
}
