/// JSON string escaping, by runs: bytes that need no escape are copied in one
/// append, so plain text costs a scan and a copy, not per-character work.
enum JSONString {
    /// Appends `text` (valid UTF-8) escaped for the inside of a JSON string, as
    /// JSON.stringify does: `"`, `\` and the control characters below 0x20.
    static func appendEscaping(_ text: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        let bytes = text.bindMemory(to: UInt8.self)
        var runStart = 0
        var index = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            if byte >= 0x20 && byte != 0x22 && byte != 0x5C {
                index += 1
                continue
            }
            if runStart < index { output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index])) }
            appendEscape(for: byte, to: &output)
            index += 1
            runStart = index
        }
        if runStart < count { output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<count])) }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func appendEscape(for byte: UInt8, to output: inout [UInt8]) {
        output.append(0x5C)  // backslash
        switch byte {
        case 0x22: output.append(0x22)
        case 0x5C: output.append(0x5C)
        case 0x08: output.append(UInt8(ascii: "b"))
        case 0x0C: output.append(UInt8(ascii: "f"))
        case 0x0A: output.append(UInt8(ascii: "n"))
        case 0x0D: output.append(UInt8(ascii: "r"))
        case 0x09: output.append(UInt8(ascii: "t"))
        default:
            output.append(contentsOf: [UInt8(ascii: "u"), 0x30, 0x30, hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]])
        }
    }
}

/// Standard base64 (RFC 4648, with padding), written straight into the reply buffer.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func append(_ data: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        let input = data.bindMemory(to: UInt8.self)
        let whole = input.count / 3
        let start = output.count
        let encodedCount = (input.count + 2) / 3 * 4
        output.append(contentsOf: repeatElement(0, count: encodedCount))
        output.withUnsafeMutableBufferPointer { out in
            alphabet.withUnsafeBufferPointer { table in
                var o = start
                var i = 0
                for _ in 0..<whole {
                    let chunk = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
                    out[o] = table[Int(chunk >> 18)]
                    out[o + 1] = table[Int(chunk >> 12 & 0x3F)]
                    out[o + 2] = table[Int(chunk >> 6 & 0x3F)]
                    out[o + 3] = table[Int(chunk & 0x3F)]
                    i += 3
                    o += 4
                }
                let remaining = input.count - i
                if remaining > 0 {
                    let second = remaining == 2 ? UInt32(input[i + 1]) : 0
                    let chunk = UInt32(input[i]) << 16 | second << 8
                    out[o] = table[Int(chunk >> 18)]
                    out[o + 1] = table[Int(chunk >> 12 & 0x3F)]
                    out[o + 2] = remaining == 2 ? table[Int(chunk >> 6 & 0x3F)] : UInt8(ascii: "=")
                    out[o + 3] = UInt8(ascii: "=")
                }
            }
        }
    }
}
