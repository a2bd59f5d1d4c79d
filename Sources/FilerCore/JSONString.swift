/// JSON string escaping in two passes: the first counts what needs escaping, so the
/// output is sized exactly once; the second copies runs of plain bytes with memcpy
/// and writes escapes in place. No per-byte appends, no reallocation.
enum JSONString {
    /// The size of `text` once escaped as JSON.stringify does: `"`, `\` and the
    /// control characters below 0x20 are escaped; everything else, UTF-8 included, is kept.
    static func escapedCount(_ text: UnsafeRawBufferPointer) -> Int {
        var extra = 0
        var index = 0
        let count = text.count
        while index < count {
            if index + 8 <= count && !needsEscape(text.loadUnaligned(fromByteOffset: index, as: UInt64.self)) {
                index += 8
                continue
            }
            extra += escapeLength(text[index]) - 1
            index += 1
        }
        return count + extra
    }

    /// Writes `text` escaped at `output`, which has room for `escapedCount(text)` bytes.
    /// - Returns: the number of bytes written.
    static func writeEscaped(_ text: UnsafeRawBufferPointer, to output: UnsafeMutableRawPointer) -> Int {
        guard let input = text.baseAddress else { return 0 }
        let count = text.count
        var written = 0
        var runStart = 0
        var index = 0
        while index < count {
            if index + 8 <= count && !needsEscape(text.loadUnaligned(fromByteOffset: index, as: UInt64.self)) {
                index += 8
                continue
            }
            let byte = text[index]
            guard escapeLength(byte) > 1 else {
                index += 1
                continue
            }
            let run = index - runStart
            if run > 0 { (output + written).copyMemory(from: input + runStart, byteCount: run) }
            written += run
            written += writeEscape(for: byte, to: output + written)
            index += 1
            runStart = index
        }
        let run = count - runStart
        if run > 0 { (output + written).copyMemory(from: input + runStart, byteCount: run) }
        return written + run
    }

    /// Whether any of eight bytes is below 0x20, a quote or a backslash (the classic
    /// SWAR tests "has a byte less than n" and "has a zero byte"), so plain text is
    /// skipped eight bytes at a time.
    @inline(__always)
    static func needsEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let control = (word &- ones &* 0x20) & ~word & highs
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        let zeroQuote = (quote &- ones) & ~quote & highs
        let zeroBackslash = (backslash &- ones) & ~backslash & highs
        return (control | zeroQuote | zeroBackslash) != 0
    }

    /// 1 for a byte kept as it is, 2 for a short escape (`\n`), 6 for `\u00XX`.
    @inline(__always)
    private static func escapeLength(_ byte: UInt8) -> Int {
        if byte >= 0x20 { return byte == 0x22 || byte == 0x5C ? 2 : 1 }
        switch byte {
        case 0x08, 0x0C, 0x0A, 0x0D, 0x09: return 2
        default: return 6
        }
    }

    private static let hexDigits: StaticString = "0123456789abcdef"

    private static func writeEscape(for byte: UInt8, to output: UnsafeMutableRawPointer) -> Int {
        let short: UInt8
        switch byte {
        case 0x22: short = 0x22
        case 0x5C: short = 0x5C
        case 0x08: short = UInt8(ascii: "b")
        case 0x0C: short = UInt8(ascii: "f")
        case 0x0A: short = UInt8(ascii: "n")
        case 0x0D: short = UInt8(ascii: "r")
        case 0x09: short = UInt8(ascii: "t")
        default:
            let digits = hexDigits.utf8Start
            output.storeBytes(of: 0x5C, toByteOffset: 0, as: UInt8.self)
            output.storeBytes(of: UInt8(ascii: "u"), toByteOffset: 1, as: UInt8.self)
            output.storeBytes(of: 0x30, toByteOffset: 2, as: UInt8.self)
            output.storeBytes(of: 0x30, toByteOffset: 3, as: UInt8.self)
            output.storeBytes(of: digits[Int(byte >> 4)], toByteOffset: 4, as: UInt8.self)
            output.storeBytes(of: digits[Int(byte & 0xF)], toByteOffset: 5, as: UInt8.self)
            return 6
        }
        output.storeBytes(of: 0x5C, toByteOffset: 0, as: UInt8.self)
        output.storeBytes(of: short, toByteOffset: 1, as: UInt8.self)
        return 2
    }
}

/// Standard base64 (RFC 4648, with padding), written in place.
enum Base64 {
    static func encodedCount(_ count: Int) -> Int { (count + 2) / 3 * 4 }

    private static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    /// Writes `data` as base64 at `output`, which has room for `encodedCount(data.count)` bytes.
    static func write(_ data: UnsafeRawBufferPointer, to output: UnsafeMutableRawPointer) -> Int {
        let table = alphabet.utf8Start
        let out = output.assumingMemoryBound(to: UInt8.self)
        let count = data.count
        var i = 0
        var o = 0
        while i + 3 <= count {
            let chunk = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2])
            out[o] = table[Int(chunk >> 18)]
            out[o + 1] = table[Int(chunk >> 12 & 0x3F)]
            out[o + 2] = table[Int(chunk >> 6 & 0x3F)]
            out[o + 3] = table[Int(chunk & 0x3F)]
            i += 3
            o += 4
        }
        let remaining = count - i
        if remaining > 0 {
            let second = remaining == 2 ? UInt32(data[i + 1]) : 0
            let chunk = UInt32(data[i]) << 16 | second << 8
            out[o] = table[Int(chunk >> 18)]
            out[o + 1] = table[Int(chunk >> 12 & 0x3F)]
            out[o + 2] = remaining == 2 ? table[Int(chunk >> 6 & 0x3F)] : UInt8(ascii: "=")
            out[o + 3] = UInt8(ascii: "=")
            o += 4
        }
        return o
    }
}
