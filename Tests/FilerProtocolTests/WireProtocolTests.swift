@testable import FilerProtocol
import Foundation
import Testing

@Suite struct RequestDecoderTests {
    func decode(_ text: String) throws(FileError) -> FileRequest {
        let bytes = Array(text.utf8)
        let result = bytes.withUnsafeBytes { raw in Result { () throws(FileError) in try FileRequest.decode(raw) } }
        return try result.get()
    }

    @Test func theSeedsRequest() throws {
        #expect(try decode(#"{"path":"hello.txt"}"#) == FileRequest(path: "hello.txt"))
    }

    @Test func encodingsAndUnknownFields() throws {
        #expect(try decode(#" {"path": "a", "encoding": "base64"}"#) == FileRequest(path: "a", encoding: .base64))
        #expect(try decode(#"{"path": "a", "encoding": "utf8"}"#) == FileRequest(path: "a", encoding: .utf8))
        #expect(try decode(#"{"path": "a", "extra": [1, {"x": null}]}"#) == FileRequest(path: "a"))
        #expect(try decode(#"{"path": "caf\u00e9 \ud83d\ude00.txt"}"#).path == "café 😀.txt")
    }

    @Test(arguments: [
        "", "hello", "[1]", "\"x\"", "null", "{}", #"{"path": 5}"#, #"{"path": null}"#,
        #"{"path": "a", "encoding": "latin1"}"#, #"{"path": "a", "encoding": null}"#, #"{"path": "a""#, #"{"path": ["a"]}"#,
    ])
    func badRequests(_ text: String) {
        #expect(throws: FileError.self) { try decode(text) }
        do { _ = try decode(text) } catch { #expect(error.code == .badRequest) }
    }
}

@Suite struct ReplyWriterTests {
    func content(_ bytes: [UInt8], _ requested: FileRequest.Encoding? = nil) -> String {
        let writer = ReplyWriter()
        bytes.withUnsafeBytes { try! writer.writeContent($0, requested: requested, timestamp: 1_700_000_000_123, pid: 42) }
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    @Test func theSeedsReplyShape() {
        #expect(content(Array("Hello\n".utf8)) == #"{"content":"Hello\n","timestamp":1700000000123,"pid":42}"#)
    }

    @Test func escapingMatchesAJSONParser() throws {
        var text = "quote \" backslash \\ slash / tab \t cr \r nl \n bell \u{07} nul \u{00} del \u{7f} é 😀 \u{2028}"
        text += String(repeating: "plain ASCII run ", count: 40)
        let reply = content(Array(text.utf8))
        let parsed = try JSONSerialization.jsonObject(with: Data(reply.utf8)) as! [String: Any]
        #expect(parsed["content"] as? String == text)
        #expect(parsed["encoding"] == nil)
        #expect(reply.contains(#"\u0007"#) && reply.contains(#"\u0000"#))
    }

    @Test(arguments: Array(0...20) + [64, 65_537])
    func binaryGoesOutAsBase64(length: Int) throws {
        var bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
        if !bytes.isEmpty { bytes[0] = 0xFF }  // never valid UTF-8
        let reply = content(bytes)
        let parsed = try JSONSerialization.jsonObject(with: Data(reply.utf8)) as! [String: Any]
        if length == 0 {
            #expect(parsed["content"] as? String == "")
        } else {
            #expect(parsed["encoding"] as? String == "base64")
            #expect(parsed["content"] as? String == Data(bytes).base64EncodedString())
            #expect(reply.hasPrefix(#"{"content":""#))
            #expect(reply.hasSuffix(#","encoding":"base64","timestamp":1700000000123,"pid":42}"#))
        }
    }

    @Test func base64WhenAskedEvenForText() throws {
        let reply = content(Array("hi".utf8), .base64)
        #expect(reply == #"{"content":"aGk=","encoding":"base64","timestamp":1700000000123,"pid":42}"#)
    }

    @Test func invalidUTF8AfterAnASCIIPrefixIsDetected() {
        let bytes = Array(String(repeating: "a", count: 17).utf8) + [0xC3, 0x28]
        #expect(!ReplyWriter.isValidUTF8(bytes.withUnsafeBytes { UnsafeRawBufferPointer($0) }))
        #expect(content(bytes).contains(#""encoding":"base64""#))
        let valid = Array("abcdefghé".utf8)
        #expect(valid.withUnsafeBytes { ReplyWriter.isValidUTF8($0) })
    }

    @Test func everyASCIIByteEscapesAsAJSONParserReadsIt() throws {
        let text = String(decoding: (0..<128).map { UInt8($0) }, as: UTF8.self)
        let parsed = try JSONSerialization.jsonObject(with: Data(content(Array(text.utf8)).utf8)) as! [String: Any]
        #expect(parsed["content"] as? String == text)
        // Every byte at every offset of a word: the mask must find each one, never skip one.
        for offset in 0..<16 {
            let bytes = Array(String(repeating: "a", count: offset).utf8) + Array(text.utf8) + Array("tail".utf8)
            let reply = content(bytes)
            let parsed = try JSONSerialization.jsonObject(with: Data(reply.utf8)) as! [String: Any]
            #expect(parsed["content"] as? String == String(decoding: bytes, as: UTF8.self))
        }
    }

    @Test func randomTextRoundTripsThroughAJSONParser() throws {
        var generator = SystemRandomNumberGenerator()
        let pieces = ["a", "bc", "\"", "\\", "\n", "\t", "\u{01}", "\u{1f}", "é", "😀", "plain text run ", "/"]
        for _ in 0..<300 {
            let length = Int.random(in: 0..<60, using: &generator)
            let text = (0..<length).map { _ in pieces.randomElement(using: &generator)! }.joined()
            let parsed = try JSONSerialization.jsonObject(with: Data(content(Array(text.utf8)).utf8)) as! [String: Any]
            #expect(parsed["content"] as? String == text)
        }
    }

    @Test func theEightByteTestAgreesWithTheByteTest() {
        // Every byte value in every position of a word of otherwise plain bytes.
        for value in 0...255 {
            for position in 0..<8 {
                var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 8)
                bytes[position] = UInt8(value)
                let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                let expected = value < 0x20 || value == 0x22 || value == 0x5C
                let mask = JSONString.specialMask(word)
                #expect((mask != 0) == expected, "byte \(value) at \(position)")
                // The escaping jumps to the lowest flag: it must be the real byte.
                if expected { #expect(mask.trailingZeroBitCount >> 3 == position, "byte \(value) at \(position)") }
            }
        }
    }

    @Test func oneWriterServesLargeThenSmallReplies() {
        let writer = ReplyWriter()
        let large = [UInt8](repeating: UInt8(ascii: "\""), count: 100_000)
        large.withUnsafeBytes { try! writer.writeContent($0, requested: nil, timestamp: 1, pid: 2) }
        #expect(writer.bytes.count == 100_000 * 2 + #"{"content":"","timestamp":1,"pid":2}"#.utf8.count)
        Array("x".utf8).withUnsafeBytes { try! writer.writeContent($0, requested: nil, timestamp: 1, pid: 2) }
        #expect(String(decoding: writer.bytes, as: UTF8.self) == #"{"content":"x","timestamp":1,"pid":2}"#)
    }

    @Test(arguments: [Int64(0), 7, 10, 1_700_000_000_123, -1, Int64.max, Int64.min])
    func numbersAreWrittenAsJSONWritesThem(_ value: Int64) {
        let buffer = ByteBuffer(capacity: 1)
        buffer.appendDecimal(value)
        #expect(String(decoding: buffer.bytes, as: UTF8.self) == "\(value)")
    }

    @Test func errorReply() throws {
        let writer = ReplyWriter()
        writer.writeError(FileError(.noSuchFile, "no such file: \"x\""), timestamp: 5, pid: 7)
        let reply = String(decoding: writer.bytes, as: UTF8.self)
        #expect(reply == #"{"error":{"code":"ENOENT","message":"no such file: \"x\""},"timestamp":5,"pid":7}"#)
    }

    /// The counted size is the written size, for every kind of byte.
    @Test func escapedCountMatchesWhatIsWritten() {
        let text = (0..<2000).map { UInt8(truncatingIfNeeded: $0 * 7) & 0x7F }
        let buffer = ByteBuffer(capacity: 1)
        text.withUnsafeBytes { JSONString.appendEscaped($0, to: buffer) }
        #expect(text.withUnsafeBytes { JSONString.escapedCount($0) } == buffer.count)
    }

    /// Escaping agrees with a byte-at-a-time escaper on any bytes, whatever the buffer
    /// held and had room for before: the word stores never leave a stray byte, and the
    /// buffer grows as escapes use up its room.
    @Test func escapingAgreesWithAByteAtATimeEscaper() {
        func reference(_ bytes: [UInt8]) -> [UInt8] {
            bytes.flatMap { byte -> [UInt8] in
                switch byte {
                case 0x22: Array(#"\""#.utf8)
                case 0x5C: Array(#"\\"#.utf8)
                case 0x08: Array(#"\b"#.utf8)
                case 0x0C: Array(#"\f"#.utf8)
                case 0x0A: Array(#"\n"#.utf8)
                case 0x0D: Array(#"\r"#.utf8)
                case 0x09: Array(#"\t"#.utf8)
                case ..<0x20: Array(String(format: "\\u%04x", Int(byte)).utf8)
                default: [byte]
                }
            }
        }
        var generator = SystemRandomNumberGenerator()
        for round in 0..<2_000 {
            // From all plain to all escapes, as runs: bytes drawn from a few classes.
            let plainShare = Int.random(in: 0...100, using: &generator)
            let text = (0..<Int.random(in: 0..<200, using: &generator)).map { _ -> UInt8 in
                Int.random(in: 0..<100, using: &generator) < plainShare
                    ? UInt8.random(in: 0x20...0xFF, using: &generator) : [0x22, 0x5C, 0x0A, 0x00, 0x1F, 0x09].randomElement(using: &generator)!
            }
            let before = Array(repeating: UInt8(ascii: "<"), count: round % 11)
            let buffer = ByteBuffer(capacity: Int.random(in: 1...64, using: &generator))
            before.withUnsafeBytes { buffer.reserve($0.count); buffer.spare.copyMemory(from: $0); buffer.count = $0.count }
            text.withUnsafeBytes { JSONString.appendEscaped($0, to: buffer) }
            #expect(Array(buffer.bytes) == before + reference(text), "text \(text)")
        }
    }

    /// A reply over the limit is refused before it is built, with its size, and the
    /// hint to ask for base64 when that would fit.
    @Test func aReplyOverTheLimitIsRefusedUnwritten() throws {
        let writer = ReplyWriter()
        let controls = [UInt8](repeating: 0x01, count: 10_000)  // 60,000 bytes escaped
        let error = try #require(throws: FileError.self) {
            try controls.withUnsafeBytes { try writer.writeContent($0, requested: nil, timestamp: 1, pid: 2, maximumSize: 20_000) }
        }
        #expect(error.code == .tooBig)
        #expect(error.message.contains("60096 bytes, over the limit of 20000"))
        #expect(error.message.contains("base64"))
        #expect(writer.bytes.count == 0)
        try controls.withUnsafeBytes { try writer.writeContent($0, requested: .base64, timestamp: 1, pid: 2, maximumSize: 20_000) }
        #expect(writer.bytes.count < 20_000)
        try controls.withUnsafeBytes { try writer.writeContent($0, requested: nil, timestamp: 1, pid: 2, maximumSize: 60_096) }
        #expect(writer.bytes.count <= 60_096)
    }

    @Test func shrinkingGivesBackALargeBuffer() throws {
        let writer = ReplyWriter()
        let large = [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20)
        try large.withUnsafeBytes { try writer.writeContent($0, requested: nil, timestamp: 1, pid: 2) }
        writer.shrink(to: 4096)
        try Array("x".utf8).withUnsafeBytes { try writer.writeContent($0, requested: nil, timestamp: 1, pid: 2) }
        #expect(String(decoding: writer.bytes, as: UTF8.self) == #"{"content":"x","timestamp":1,"pid":2}"#)
    }
}

@Suite struct RequestEnvelopeTests {
    func shape(_ sizes: [Int]) -> RequestEnvelope {
        RequestEnvelope.classify(frameCount: sizes.count, clientIDLength: sizes.count > 1 ? sizes[1] : 0) {
            sizes[$0] == 0
        }
    }

    @Test func whatAREQClientSendsIsARequest() {
        #expect(shape([5, 5, 0, 20]) == .request)
    }

    @Test func moreThanOneBodyFrameIsRefusedDelimited() {
        #expect(shape([5, 5, 0, 20, 1]) == .malformed(reason: "a request is one frame; this one had 2", delimited: true))
        #expect(shape([5, 5, 0]) == .malformed(reason: "the request has no body frame", delimited: true))
    }

    @Test func labelsAndBareBodiesAreRefusedUndelimited() {
        guard case .malformed(_, false) = shape([5, 5, 60_000, 60_000, 0, 20]) else { Issue.record("labels"); return }
        guard case .malformed(_, false) = shape([5, 5, 20]) else { Issue.record("bare body"); return }
    }

    /// A routing id beyond ZMTP's 255 bytes would be copied into every reply: dropped.
    @Test func overlongClientIDsAndStubsAreDropped() {
        #expect(shape([5, 256, 0, 20]) == .unanswerable)
        #expect(shape([5, 255, 0, 20]) == .request)
        #expect(shape([5, 5]) == .unanswerable)
    }
}
