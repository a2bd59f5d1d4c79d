/// What a worker tells the master over its status pipe, one line each.
public enum WorkerReport: Equatable, Sendable {
    /// The worker's REP socket is connected to the backend: it can serve.
    case online
    /// Requests served since the worker started.
    case served(UInt64)
    /// The worker cannot run, and why; it exits next.
    case fatal(String)
    /// Told to stop at once, the worker left this many queued requests unanswered.
    case abandoned(UInt64)
    /// Of those served since the worker started, the ones answered with an error, by
    /// code (`ENOENT`, `EBUSY`, ...).
    case refused([String: UInt64])

    /// The descriptor number the worker finds its status pipe on.
    public static let descriptor: Int32 = 3

    public var line: String {
        switch self {
        case .online: "online\n"
        case .served(let count): "served \(count)\n"
        case .fatal(let reason): "fatal \(reason.replacing("\n", with: " "))\n"
        case .abandoned(let count): "abandoned \(count)\n"
        case .refused(let counts): "refused" + counts.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined() + "\n"
        }
    }

    public init?(line: Substring) {
        if line == "online" {
            self = .online
        } else if line.hasPrefix("served "), let count = UInt64(line.dropFirst(7)) {
            self = .served(count)
        } else if line.hasPrefix("abandoned "), let count = UInt64(line.dropFirst(10)) {
            self = .abandoned(count)
        } else if line == "refused" || line.hasPrefix("refused ") {
            var counts: [String: UInt64] = [:]
            for pair in line.dropFirst(7).split(separator: " ") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, let count = UInt64(parts[1]) else { return nil }
                counts[String(parts[0])] = count
            }
            self = .refused(counts)
        } else if line.hasPrefix("fatal ") {
            self = .fatal(String(line.dropFirst(6)))
        } else {
            return nil
        }
    }
}

/// Splits the bytes read from a status pipe into reports, keeping a partial last line.
public struct WorkerReportParser: Sendable {
    private var pending: [UInt8] = []

    public init() {}

    public mutating func feed(_ bytes: [UInt8]) -> [WorkerReport] {
        pending += bytes
        var reports: [WorkerReport] = []
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: pending[..<newline], as: UTF8.self)
            pending.removeSubrange(...newline)
            if let report = WorkerReport(line: Substring(line)) { reports.append(report) }
        }
        return reports
    }
}
