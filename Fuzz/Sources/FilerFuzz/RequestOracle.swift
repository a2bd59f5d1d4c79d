import FilerProtocol
import Foundation

/// `FileRequest.decode` against Foundation's JSONSerialization, with the rules of
/// RequestParserTests' oracle, plus the RFC 8259 rules JSONSerialization does not keep
/// (each one refuses: the oracle never takes what the parser is documented to refuse).
enum RequestOracle {
    enum Verdict: Equatable, CustomStringConvertible {
        /// The path as bytes: String's == would call canonically equivalent paths equal.
        case request(path: [UInt8], encoding: FileRequest.Encoding?)
        case refused

        var description: String {
            switch self {
            case .refused: "refused"
            case let .request(path, encoding):
                "path \(String(decoding: path, as: UTF8.self).debugDescription), encoding \(encoding.map(\.rawValue) ?? "none")"
            }
        }
    }

    /// RequestParser.maximumDepth (internal to FilerProtocol); the README documents it.
    static let maximumDepth = 64

    static func check(_ input: UnsafeRawBufferPointer) {
        let decoded = decoder(input)
        let expected = oracle(Array(input))
        guard decoded == expected else {
            disagreement("FileRequest.decode: \(decoded)\nJSONSerialization: \(expected)", input: input)
        }
    }

    static func decoder(_ input: UnsafeRawBufferPointer) -> Verdict {
        guard let request = try? FileRequest.decode(input) else { return .refused }
        return .request(path: Array(request.path.utf8), encoding: request.encoding)
    }

    static func oracle(_ bytes: [UInt8]) -> Verdict {
        // RFC 8259 §8.1: UTF-8 only. JSONSerialization also skips a byte order mark and
        // reads UTF-16 and UTF-32, which it guesses from zero bytes; a raw zero byte is never
        // JSON (control characters in strings must be escaped), so none is let through.
        guard String(validating: bytes, as: UTF8.self) != nil, !bytes.starts(with: [0xEF, 0xBB, 0xBF]),
            !bytes.contains(0), let document = strictDocument(escapingByteOrderMarks(bytes)),
            let object = try? JSONSerialization.jsonObject(with: Data(document)),
            let members = object as? [String: Any], let path = members["path"] as? String,
            !(members["path"] is NSNumber)
        else { return .refused }
        switch members["encoding"] {
        case nil: return .request(path: Array(path.utf8), encoding: nil)
        case let text as String where text == "utf8" || text == "utf-8": return .request(path: Array(path.utf8), encoding: .utf8)
        case let text as String where text == "base64": return .request(path: Array(path.utf8), encoding: .base64)
        default: return .refused
        }
    }

    /// The document as JSONSerialization should see it, or nil where the parser's rules
    /// refuse what JSONSerialization takes: a comma before `}` or `]`, and values nested
    /// deeper than `maximumDepth` (the request object is level 1, a member's value level 2).
    /// Each number that keeps RFC 8259's grammar becomes `0`: JSONSerialization refuses
    /// numbers beyond Double's range (`1e999`), which the grammar allows and the parser skips.
    /// Only bytes outside strings are looked at; the rest of JSON is left to JSONSerialization.
    static func strictDocument(_ bytes: [UInt8]) -> [UInt8]? {
        var document: [UInt8] = []
        document.reserveCapacity(bytes.count)
        var open = 0  // containers around this byte
        var previous: UInt8 = 0  // the last byte outside strings that is not whitespace
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            var end = index + 1
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0D:
                document.append(byte)
                index = end
                continue
            case UInt8(ascii: ","), UInt8(ascii: ":"):
                break
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if previous == UInt8(ascii: ",") { return nil }
                open = max(open - 1, 0)
            default:
                // A value (or a key, which has a value beside it at the same level).
                guard open + 1 <= maximumDepth else { return nil }
                if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") { open += 1 }
                if byte == UInt8(ascii: "\"") {
                    while end < bytes.count, bytes[end] != UInt8(ascii: "\"") {
                        end += bytes[end] == UInt8(ascii: "\\") ? 2 : 1
                    }
                    end = min(end + 1, bytes.count)
                } else if isNumberByte(byte) {
                    while end < bytes.count, isNumberByte(bytes[end]) { end += 1 }
                    if isNumber(bytes[index..<end]) {
                        document.append(UInt8(ascii: "0"))
                        previous = UInt8(ascii: "0")
                        index = end
                        continue
                    }
                }
            }
            document.append(contentsOf: bytes[index..<end])
            previous = byte
            index = end
        }
        return document
    }

    private static func isNumberByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")
            || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
    }

    /// RFC 8259 §6, as a regular expression rather than the parser's hand-written scanner;
    /// built once, as building it took more time than the rest of the oracle.
    nonisolated(unsafe) private static let number = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/

    private static func isNumber(_ token: ArraySlice<UInt8>) -> Bool {
        String(decoding: token, as: UTF8.self).wholeMatch(of: number) != nil
    }
}
