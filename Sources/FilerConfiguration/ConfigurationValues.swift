import Posix

/// Parsers for the kinds of values the configuration holds. Each throws a short
/// problem text; the loader adds the key and where the value came from.
enum ConfigurationValues {
    /// Longer values are refused unread: no key needs more, and an error message must
    /// not echo megabytes back.
    static let maximumLength = 4096

    /// Quotes `text` for a message, cut short if long.
    static func quoted(_ text: String) -> String {
        let shown = text.utf8.count > 60 ? String(text.prefix(60)) + "…" : text
        return "'\(shown)'"
    }

    /// "64MiB", "512KiB", "1GiB", "100B" or a plain number of bytes, within `range`.
    static func size(_ text: String, in range: ClosedRange<Int>) throws(Problem) -> Int {
        let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1), ("", 1)]
        for (suffix, multiplier) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count).trimmed()
            guard let value = Int(number), value >= 0 else { break }
            let (bytes, overflow) = value.multipliedReportingOverflow(by: multiplier)
            if !overflow && range.contains(bytes) { return bytes }
            throw Problem("\(quoted(text)) is out of range: expected \(sizeText(range.lowerBound)) to \(sizeText(range.upperBound))")
        }
        throw Problem("expected a size such as 64MiB, 512KiB or a number of bytes, got \(quoted(text))")
    }

    /// "100ms", "30s", "2min" or a plain number of seconds, within `range`.
    static func duration(_ text: String, in range: ClosedRange<Duration>) throws(Problem) -> Duration {
        let units: [(String, Double)] = [("ms", 0.001), ("min", 60), ("s", 1), ("", 1)]
        for (suffix, multiplier) in units where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count).trimmed()) else { continue }
            let seconds = value * multiplier
            // Compared as seconds first: a huge or infinite value must not reach Duration's arithmetic.
            guard seconds.isFinite, seconds >= range.lowerBound.seconds, seconds <= range.upperBound.seconds else {
                throw Problem(
                    "\(quoted(text)) is out of range: expected \(durationText(range.lowerBound)) to \(durationText(range.upperBound))")
            }
            return .nanoseconds(Int64((seconds * 1e9).rounded()))
        }
        throw Problem("expected a duration such as 100ms, 30s, 2min or a number of seconds, got \(quoted(text))")
    }

    /// A whole number within `range`.
    static func count(_ text: String, in range: ClosedRange<Int>) throws(Problem) -> Int {
        guard let value = Int(text), range.contains(value) else {
            throw Problem("expected a whole number from \(range.lowerBound) to \(range.upperBound), got \(quoted(text))")
        }
        return value
    }

    /// How a size is printed: the largest unit that divides it exactly.
    static func sizeText(_ bytes: Int) -> String {
        for (suffix, multiplier) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        where bytes >= multiplier && bytes % multiplier == 0 {
            return "\(bytes / multiplier)\(suffix)"
        }
        return "\(bytes)B"
    }

    /// How a duration is printed: whole minutes, seconds or milliseconds where exact.
    static func durationText(_ duration: Duration) -> String {
        let milliseconds = duration.milliseconds
        if milliseconds >= 60_000 && milliseconds % 60_000 == 0 { return "\(milliseconds / 60_000)min" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        return "\(milliseconds)ms"
    }
}

/// A value's problem, before the loader says which key and where.
public struct Problem: Error, CustomStringConvertible {
    public let text: String
    public var description: String { text }
    init(_ text: String) { self.text = text }
}

extension String {
    /// Without leading and trailing blanks; found by bytes, so a huge value costs one copy.
    func trimmed() -> String {
        let isBlank = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        guard let first = utf8.firstIndex(where: { !isBlank($0) }), let last = utf8.lastIndex(where: { !isBlank($0) })
        else { return "" }
        return String(self[first...last])
    }
}

extension Substring {
    func trimmed() -> String { String(self).trimmed() }
}
