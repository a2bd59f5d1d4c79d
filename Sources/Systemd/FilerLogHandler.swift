public import Logging
import CSystemd
import Glibc
import Posix

/// The one log handler: native journal entries when systemd connected stderr to the
/// journal, plain readable lines on stderr otherwise.
public struct FilerLogHandler: LogHandler {
    public enum Destination: Sendable {
        /// sd_journal_sendv: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, and each metadata key
        /// upper-cased as a field (`worker_pid` becomes `WORKER_PID`).
        case journal
        /// `2026-11-29T03:00:00.123Z info filer[1234]: Worker 1235 is online. worker_pid=1235`
        case stderr
    }

    /// The process's level (`LoggingSetup.setLevel`), unless this logger set its own.
    public var logLevel: Logger.Level {
        get { ownLevel ?? LoggingSetup.level }
        set { ownLevel = newValue }
    }
    private var ownLevel: Logger.Level?
    public var metadata: Logger.Metadata = [:]
    private let identifier: String
    private let destination: Destination

    public init(identifier: String, destination: Destination) {
        self.identifier = identifier
        self.destination = destination
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        switch destination {
        case .journal:
            var fields = JournalEntry.fields(
                identifier: identifier, level: event.level, message: "\(event.message)", metadata: merged)
            fields.append("CODE_FILE=\(event.file)")
            fields.append("CODE_LINE=\(event.line)")
            fields.append("CODE_FUNC=\(event.function)")
            JournalEntry.send(fields)
        case .stderr:
            let line = StderrLine.format(
                time: StderrLine.timestamp(), level: event.level, identifier: identifier, pid: getpid(),
                message: "\(event.message)", metadata: merged)
            // One write(2) per line, so lines of several processes sharing stderr do not interleave.
            let bytes = Array(line.utf8)
            _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        }
    }
}

/// A native journal entry.
public enum JournalEntry {
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

    static func send(_ fields: [String]) {
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

/// A plain log line.
public enum StderrLine {
    public static func format(
        time: String, level: Logger.Level, identifier: String, pid: Int32, message: String,
        metadata: Logger.Metadata
    ) -> String {
        var line = "\(time) \(level) \(identifier)[\(pid)]: \(escaped(message))"
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            line += " \(escaped(key))=\(escaped("\(value)"))"
        }
        return line + "\n"
    }

    /// Control characters as escapes, so that a value from a client (a requested path,
    /// say) can never end the line and forge the next one.
    static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where isControl(scalar):
                let hex = String(scalar.value, radix: 16)
                out += "\\x" + (hex.count < 2 ? "0" : "") + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value)
    }

    static func timestamp() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var parts = tm()
        var seconds = spec.tv_sec
        gmtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S", &parts)
        let milliseconds = Int(spec.tv_nsec / 1_000_000)
        let base = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let fraction = String(milliseconds + 1000).dropFirst()
        return "\(base).\(fraction)Z"
    }
}

