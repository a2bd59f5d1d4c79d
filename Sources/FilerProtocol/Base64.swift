/// Standard base64 (RFC 4648, with padding), written in place.
enum Base64 {
    static func encodedCount(_ count: Int) -> Int { (count + 2) / 3 * 4 }

    private static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    /// Every 12 bits of input as its two characters, first one in the low byte (8 KiB).
    private static let pairs: [UInt16] = (0..<4096).map { twelve in
        UInt16(alphabet.utf8Start[twelve >> 6]) | UInt16(alphabet.utf8Start[twelve & 0x3F]) << 8
    }

    /// Writes `data` as base64 at `output`, which has room for `encodedCount(data.count)` bytes.
    static func write(_ data: UnsafeRawBufferPointer, to output: UnsafeMutableRawPointer) -> Int {
        let table = alphabet.utf8Start
        let out = output.assumingMemoryBound(to: UInt8.self)
        let count = data.count
        var i = 0
        var o = 0
        // Six input bytes at a time: one 8-byte load (big-endian, so the six are the top
        // 48 bits), four lookups of two characters each, one 8-byte store.
        pairs.withUnsafeBufferPointer { pairs in
            while i + 8 <= count {
                let bits = UInt64(bigEndian: data.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                let first = UInt64(pairs[Int(truncatingIfNeeded: bits >> 52) & 0xFFF])
                let second = UInt64(pairs[Int(truncatingIfNeeded: bits >> 40) & 0xFFF])
                let third = UInt64(pairs[Int(truncatingIfNeeded: bits >> 28) & 0xFFF])
                let fourth = UInt64(pairs[Int(truncatingIfNeeded: bits >> 16) & 0xFFF])
                let word = first | second << 16 | third << 32 | fourth << 48
                (output + o).storeBytes(of: word.littleEndian, as: UInt64.self)
                i += 6
                o += 8
            }
        }
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
