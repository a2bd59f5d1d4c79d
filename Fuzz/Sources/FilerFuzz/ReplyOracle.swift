import FilerProtocol
import Foundation

/// `ReplyWriter` against the same reply written a byte at a time, members in the seed's
/// order, and that reply read back by JSONSerialization: the content must come back as
/// exactly the input's bytes.
enum ReplyOracle {
    /// One writer for the whole run, as a worker keeps one: a reply must not depend on the
    /// replies before it. libFuzzer calls the target from one thread only.
    nonisolated(unsafe) static let writer = ReplyWriter()

    static func check(_ input: UnsafeRawBufferPointer) {
        let content = Array(input)
        let text = String(validating: content, as: UTF8.self)
        // The numbers come from the input too, so that every digit and sign gets written.
        let timestamp = content.prefix(8).reduce(Int64(0)) { $0 << 8 | Int64($1) }
        let pid = content.dropFirst(8).prefix(4).reduce(Int32(0)) { $0 << 8 | Int32($1) }
        let tail = Array(#","timestamp":\#(timestamp),"pid":\#(pid)}"#.utf8)

        for requested in [nil, FileRequest.Encoding.base64] {
            // No limit is given, so a throw is itself a disagreement.
            do { try writer.writeContent(input, requested: requested, timestamp: timestamp, pid: pid) } catch {
                disagreement("writeContent threw \(error) with no limit", input: input)
            }
            let asText = requested == nil && text != nil
            let expected = Array(#"{"content":""#.utf8)
                + (asText ? escaped(content) : Array(Data(content).base64EncodedString().utf8))
                + Array((asText ? #"""# : #"","encoding":"base64""#).utf8) + tail
            let reply = Array(writer.bytes)
            guard reply == expected else {
                disagreement("writeContent(requested: \(requested.map(\.rawValue) ?? "nil")) wrote\n\(show(reply))\nexpected\n\(show(expected))", input: input)
            }
            let members = readBack(reply, input: input)
            let keys: Set = asText ? ["content", "timestamp", "pid"] : ["content", "encoding", "timestamp", "pid"]
            let decoded: [UInt8]? = switch members["content"] {
            case let string as String where asText: Array(string.utf8)
            case let string as String: Data(base64Encoded: string).map(Array.init)
            default: nil
            }
            guard Set(members.keys) == keys, decoded == content, (members["timestamp"] as? NSNumber)?.int64Value == timestamp,
                (members["pid"] as? NSNumber)?.int32Value == pid, asText || members["encoding"] as? String == "base64"
            else { disagreement("the reply reads back as \(members)", input: input) }
        }

        guard let text else { return }
        let code = ErrorCode.allCases[(content.first.map(Int.init) ?? 0) % ErrorCode.allCases.count]
        writer.writeError(FileError(code, text), timestamp: timestamp, pid: pid)
        let expected = Array(#"{"error":{"code":"\#(code.rawValue)","message":""#.utf8) + escaped(content)
            + Array(#""}"#.utf8) + tail
        let reply = Array(writer.bytes)
        guard reply == expected else {
            disagreement("writeError wrote\n\(show(reply))\nexpected\n\(show(expected))", input: input)
        }
        let error = readBack(reply, input: input)["error"] as? [String: Any]
        guard let error, error["code"] as? String == code.rawValue,
            (error["message"] as? String).map({ Array($0.utf8) }) == content
        else { disagreement("the error reply reads back as \(String(describing: error))", input: input) }
    }

    /// JSON.stringify's escaping, one byte at a time: `"`, `\` and the control characters,
    /// the short forms where JSON has them; everything else, UTF-8 included, as it is.
    static func escaped(_ text: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        for byte in text {
            switch byte {
            case 0x22, 0x5C: output += [0x5C, byte]
            case 0x08: output += Array(#"\b"#.utf8)
            case 0x0C: output += Array(#"\f"#.utf8)
            case 0x0A: output += Array(#"\n"#.utf8)
            case 0x0D: output += Array(#"\r"#.utf8)
            case 0x09: output += Array(#"\t"#.utf8)
            case ..<0x20:
                let hex = String(byte, radix: 16)
                output += Array(#"\u00"#.utf8) + Array((byte < 0x10 ? "0" + hex : hex).utf8)
            default: output.append(byte)
            }
        }
        return output
    }

    private static func readBack(_ reply: [UInt8], input: UnsafeRawBufferPointer) -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(escapingByteOrderMarks(reply))), let members = object as? [String: Any] else {
            disagreement("JSONSerialization cannot read the reply\n\(show(reply))", input: input)
        }
        return members
    }

    private static func show(_ reply: [UInt8]) -> String { String(decoding: reply, as: UTF8.self).debugDescription }
}
