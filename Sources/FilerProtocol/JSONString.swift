/// JSON string escaping in one pass: the text is read and written eight bytes at a
/// time, the next byte to escape found from the word's mask, and the escape written in
/// place.
enum JSONString {
    /// Appends `text` escaped as JSON.stringify does: `"`, `\` and the control characters
    /// below 0x20 are escaped; everything else, UTF-8 included, is kept.
    ///
    /// Each word is stored whole, even one with a byte to escape: the bytes before it
    /// are the run, and those after it are written over. (Copying each run with memcpy
    /// cost about 50 instructions a run, with runs of 21 bytes on average text: 5
    /// instructions a byte in all, now about 2.5: callgrind.) So the buffer always has
    /// room for the rest of the text unescaped and a word more: `spareNeeded`.
    static func appendEscaped(_ text: UnsafeRawBufferPointer, to buffer: ByteBuffer) {
        guard let input = text.baseAddress else { return }
        let count = text.count
        // One escape in 16 bytes fits from the start; more grow the buffer as they come.
        buffer.reserve(buffer.count + spareNeeded(count) + count / 16)
        var output = buffer.spare.baseAddress!
        var end = output + buffer.spare.count
        var index = 0
        while index < count {
            if index + 8 <= count {
                let word = text.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                output.storeBytes(of: word, as: UInt64.self)
                let mask = specialMask(word)
                if mask == 0 {
                    output += 8
                    index += 8
                    continue
                }
                let run = mask.trailingZeroBitCount >> 3
                output += run
                index += run
            } else {
                let byte = input.load(fromByteOffset: index, as: UInt8.self)
                if byte >= 0x20 && byte != 0x22 && byte != 0x5C {
                    output.storeBytes(of: byte, as: UInt8.self)
                    output += 1
                    index += 1
                    continue
                }
            }
            // An escape takes up to 5 bytes more than its byte: keep room for the rest.
            if end - output < 5 + spareNeeded(count - index) {
                buffer.count = buffer.capacity - (end - output)
                buffer.reserve(max(buffer.count + 5 + spareNeeded(count - index) + count / 16, buffer.capacity * 2))
                output = buffer.spare.baseAddress!
                end = output + buffer.spare.count
            }
            output += writeEscape(for: input.load(fromByteOffset: index, as: UInt8.self), to: output)
            index += 1
        }
        buffer.count = buffer.capacity - (end - output)
    }

    /// The room escaping needs for `remaining` bytes of text not yet written: all of
    /// them unescaped, and a whole word stored past the last.
    private static func spareNeeded(_ remaining: Int) -> Int { remaining + 8 }

    /// The length of `text` once escaped by `appendEscaped`, without writing it: plain
    /// runs are skipped eight bytes at a time, special bytes looked up in `extraBytes`.
    static func escapedCount(_ text: UnsafeRawBufferPointer) -> Int {
        var total = text.count
        var index = nextSpecial(text, from: 0)
        extraBytes.withUnsafeBufferPointer { extra in
            while index < text.count {
                let byte = text[index]
                total += Int(extra[Int(byte)])
                index = extra[Int(byte)] == 0 ? nextSpecial(text, from: index + 1) : index + 1
            }
        }
        return total
    }

    /// What escaping adds to each byte: `\u00XX` (5 more) for control characters
    /// without a short form, `\n` and the like (1 more), nothing for the rest.
    private static let extraBytes: [UInt8] = (0..<256).map { byte in
        switch byte {
        case 0x22, 0x5C, 0x08, 0x0C, 0x0A, 0x0D, 0x09: 1
        case 0..<0x20: 5
        default: 0
        }
    }

    /// The offset of the first byte at or after `start` that needs escaping, or `text.count`.
    @inline(__always)
    private static func nextSpecial(_ text: UnsafeRawBufferPointer, from start: Int) -> Int {
        var index = start
        let count = text.count
        while index + 8 <= count {
            let mask = specialMask(text.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            // The lowest flagged byte is always a real one (borrows only run upwards).
            if mask != 0 { return index + mask.trailingZeroBitCount >> 3 }
            index += 8
        }
        while index < count {
            let byte = text[index]
            if byte < 0x20 || byte == 0x22 || byte == 0x5C { return index }
            index += 1
        }
        return count
    }

    /// The high bit of each of eight bytes that is below 0x20, a quote or a backslash
    /// (the classic SWAR tests "has a byte less than n" and "has a zero byte"), so plain
    /// text is skipped eight bytes at a time. Bytes above a flagged one may be flagged
    /// falsely; the lowest flag is exact.
    @inline(__always)
    static func specialMask(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let control = (word &- ones &* 0x20) & ~word & highs
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        let zeroQuote = (quote &- ones) & ~quote & highs
        let zeroBackslash = (backslash &- ones) & ~backslash & highs
        return control | zeroQuote | zeroBackslash
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
