public import Logging
import Glibc

/// Plain readable lines on stderr, for a terminal or a supervisor other than systemd:
/// `2026-11-29T03:00:00.123Z info filer[1234]: Worker 1235 is online. worker_pid=1235`
public struct StderrLogHandler: LogHandler {
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
        let line = Self.line(
            time: Self.timestamp(), level: event.level, identifier: identifier, pid: getpid(),
            message: "\(event.message)", metadata: merged)
        // One write(2) per line, so lines of several processes sharing stderr do not interleave.
        let bytes = Array(line.utf8)
        _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    public static func line(
        time: String, level: Logger.Level, identifier: String, pid: Int32, message: String,
        metadata: Logger.Metadata
    ) -> String {
        var line = "\(time) \(level) \(identifier)[\(pid)]: \(message)"
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            line += " \(key)=\(value)"
        }
        return line + "\n"
    }

    private static func timestamp() -> String {
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

extension Logger.Level {
    /// Parses the names swift-log uses ("info", "warning", ...).
    public init?(name: String) {
        self.init(rawValue: name.lowercased())
    }
}
