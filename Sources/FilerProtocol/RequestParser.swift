/// Parses one request frame: a JSON object (RFC 8259, strictly) with a string
/// `path` and an optional string `encoding`; any other member is checked and skipped.
///
/// Written for this one shape rather than using Foundation's JSONDecoder, which cost 17,000
/// of the 61,000 instructions a 1 KiB request took (callgrind, bench/profile): this reads the
/// frame in place and allocates only the path. Unit tests hold it to JSONSerialization's verdicts on generated input.
struct RequestParser {
    /// Deeper nesting (the request object being level 1) is refused: a request has no
    /// use for it, and a worker's stack is finite.
    static let maximumDepth = 64

    private let bytes: UnsafeRawBufferPointer
    private var index = 0

    private init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    static func parse(_ frame: UnsafeRawBufferPointer) throws(FileError) -> FileRequest {
        var parser = RequestParser(frame)
        return try parser.request()
    }

    // MARK: The request object

    private mutating func request() throws(FileError) -> FileRequest {
        skipWhitespace()
        guard peek() == UInt8(ascii: "{") else {
            throw .badRequest("the request must be a JSON object with a string \"path\"")
        }
        index += 1
        // One state per member: a later duplicate replaces all of an earlier one, as in
        // JSON.parse, whether either is a string or not.
        var path = Member.absent
        var encoding = Member.absent
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipWhitespace()
                let key = try string { bytes throws(FileError) in try Key(validating: bytes) }
                skipWhitespace()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                if key != .other {
                    let member: Member
                    if peek() == UInt8(ascii: "\"") {
                        member = .string(try string { bytes throws(FileError) in try Self.text(bytes) })
                    } else {
                        try skipValue(depth: 2)
                        member = .notString
                    }
                    if key == .path { path = member } else { encoding = member }
                } else {
                    try skipValue(depth: 2)
                }
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(UInt8(ascii: "}"))
                break
            }
        }
        skipWhitespace()
        guard index == bytes.count else { throw notJSON }
        var request: FileRequest
        switch path {
        case .absent: throw .badRequest("the request has no \"path\"")
        case .notString: throw .badRequest("\"path\" must be a string")
        case let .string(path): request = FileRequest(path: path)
        }
        switch encoding {
        case .absent: break
        case .notString: throw .badRequest("\"encoding\" must be a string")
        case .string("utf8"), .string("utf-8"): request.encoding = .utf8
        case .string("base64"): request.encoding = .base64
        case let .string(other): throw .badRequest("unknown encoding \"\(other)\": use \"utf8\" or \"base64\"")
        }
        return request
    }

    /// What the request says for `path` or `encoding`.
    private enum Member {
        case absent
        case string(String)
        case notString
    }

    /// A member's name, told by its bytes: comparing bytes is what comparing these
    /// ASCII names as Strings would do, without making a String of every key.
    private enum Key {
        case path, encoding, other

        init(validating bytes: UnsafeBufferPointer<UInt8>) throws(FileError) {
            if Self.is(bytes, "path") {
                self = .path
            } else if Self.is(bytes, "encoding") {
                self = .encoding
            } else {
                try RequestParser.validate(bytes)
                self = .other
            }
        }

        private static func `is`(_ bytes: UnsafeBufferPointer<UInt8>, _ name: StaticString) -> Bool {
            guard bytes.count == name.utf8CodeUnitCount else { return false }
            for offset in 0..<bytes.count where bytes[offset] != name.utf8Start[offset] { return false }
            return true
        }
    }

    // MARK: JSON values

    private static var notJSON: FileError { .badRequest("the request is not valid JSON") }
    private var notJSON: FileError { Self.notJSON }

    private func peek() -> UInt8? {
        index < bytes.count ? bytes[index] : nil
    }

    private mutating func expect(_ byte: UInt8) throws(FileError) {
        guard peek() == byte else { throw notJSON }
        index += 1
    }

    private mutating func skipWhitespace() {
        while let byte = peek(), byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
            index += 1
        }
    }

    private mutating func skipValue(depth: Int) throws(FileError) {
        guard depth <= Self.maximumDepth else { throw .badRequest("the request is nested too deeply") }
        switch peek() {
        case UInt8(ascii: "\""):
            try string { bytes throws(FileError) in try Self.validate(bytes) }
        case UInt8(ascii: "{"): try skipMembers(until: UInt8(ascii: "}"), named: true, depth: depth)
        case UInt8(ascii: "["): try skipMembers(until: UInt8(ascii: "]"), named: false, depth: depth)
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: try number()
        }
    }

    /// An object's members (`named`) or an array's elements, from its opening bracket.
    private mutating func skipMembers(until closing: UInt8, named: Bool, depth: Int) throws(FileError) {
        index += 1
        skipWhitespace()
        if peek() == closing {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            if named {
                try string { bytes throws(FileError) in try Self.validate(bytes) }
                skipWhitespace()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
            }
            try skipValue(depth: depth + 1)
            skipWhitespace()
            guard peek() == UInt8(ascii: ",") else { return try expect(closing) }
            index += 1
        }
    }

    private mutating func literal(_ word: StaticString) throws(FileError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw notJSON }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
            throw notJSON
        }
        index += count
    }

    /// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    private mutating func number() throws(FileError) {
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), isDigit(first) else { throw notJSON }
        index += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard let digit = peek(), isDigit(digit) else { throw notJSON }
            skipDigits()
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard let digit = peek(), isDigit(digit) else { throw notJSON }
            skipDigits()
        }
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    private mutating func skipDigits() {
        while let byte = peek(), isDigit(byte) { index += 1 }
    }

    /// A JSON string, unescaped, handed to `body`, which checks that it is UTF-8 (a lone
    /// surrogate cannot get through: `unescape` refuses it). The bytes are those between
    /// the quotes when there is no escape, the common case, so nothing is copied then.
    private mutating func string<Result>(
        _ body: (UnsafeBufferPointer<UInt8>) throws(FileError) -> Result
    ) throws(FileError) -> Result {
        try expect(UInt8(ascii: "\""))
        let start = index
        while let byte = peek(), byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
            guard byte >= 0x20 else { throw notJSON }
            index += 1
        }
        guard let stop = peek() else { throw notJSON }
        if stop == UInt8(ascii: "\"") {
            index += 1
            return try body(UnsafeRawBufferPointer(rebasing: bytes[start..<index - 1]).bindMemory(to: UInt8.self))
        }
        var unescaped = Array(bytes[start..<index])
        while true {
            guard let byte = peek() else { throw notJSON }
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return try unescaped.withUnsafeBufferPointer { bytes throws(FileError) in try body(bytes) }
            case UInt8(ascii: "\\"):
                try unescape(into: &unescaped)
            case ..<0x20:
                throw notJSON
            default:
                unescaped.append(byte)
            }
        }
    }

    private mutating func unescape(into output: inout [UInt8]) throws(FileError) {
        guard let escape = peek() else { throw notJSON }
        index += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): output.append(escape)
        case UInt8(ascii: "b"): output.append(0x08)
        case UInt8(ascii: "f"): output.append(0x0C)
        case UInt8(ascii: "n"): output.append(0x0A)
        case UInt8(ascii: "r"): output.append(0x0D)
        case UInt8(ascii: "t"): output.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try hex4()
            if (0xD800..<0xDC00).contains(scalar) {
                // A high surrogate must be followed by an escaped low one.
                guard peek() == UInt8(ascii: "\\") else { throw notJSON }
                index += 1
                try expect(UInt8(ascii: "u"))
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw notJSON }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(scalar) {
                throw notJSON
            }
            output.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
        default:
            throw notJSON
        }
    }

    private mutating func hex4() throws(FileError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw notJSON }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            index += 1
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw notJSON
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// Checks that `utf8` is UTF-8 (once: a String made by `text` is not checked again).
    private static func validate(_ utf8: UnsafeBufferPointer<UInt8>) throws(FileError) {
        // Where the bytes go wrong does not matter: any invalid string is "not valid JSON".
        guard (try? UTF8Span(validating: Span(_unsafeElements: utf8))) != nil else { throw notJSON }
    }

    /// `utf8` as a String, checked to be UTF-8 once: 170 instructions for an 8-byte path where
    /// `String(validating:as:)`, its generic check not specialised, took 900 (bench/profile).
    private static func text(_ utf8: UnsafeBufferPointer<UInt8>) throws(FileError) -> String {
        // As in `validate`: the reason the bytes are not UTF-8 is not the client's business.
        guard let valid = try? UTF8Span(validating: Span(_unsafeElements: utf8)) else { throw notJSON }
        return String(copying: valid)
    }
}
