@testable import FilerProtocol
import Foundation
import Testing

/// The request parser against Foundation's JSONSerialization as the oracle.
@Suite struct RequestParserTests {
    enum Verdict: Equatable {
        case request(path: String, encoding: FileRequest.Encoding?)
        case refused
    }

    func parser(_ bytes: [UInt8]) -> Verdict {
        bytes.withUnsafeBytes { raw in
            guard let request = try? RequestParser.parse(raw) else { return .refused }
            return .request(path: request.path, encoding: request.encoding)
        }
    }

    func oracle(_ bytes: [UInt8]) -> Verdict {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)),
            let members = object as? [String: Any], let path = members["path"] as? String,
            !(members["path"] is NSNumber)
        else { return .refused }
        switch members["encoding"] {
        case nil: return .request(path: path, encoding: nil)
        case let text as String where text == "utf8" || text == "utf-8": return .request(path: path, encoding: .utf8)
        case let text as String where text == "base64": return .request(path: path, encoding: .base64)
        default: return .refused
        }
    }

    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state ^ (state >> 29)
        }
    }

    static let strings = [
        #""hello.txt""#, #""a\/b.txt""#, #""caf\u00e9""#, #""\ud83d\ude00""#, #""tab\there""#, #""q\"uote""#,
        #""back\\slash""#, #""""#, #""utf8""#, #""base64""#, #""utf-8""#, #""é😀""#, #""\u0041""#,
    ]
    static let scalars = ["0", "-1", "3.25", "1e5", "-0.5E-3", "true", "false", "null"]

    func value(_ g: inout Generator, depth: Int) -> String {
        switch Int.random(in: 0..<(depth > 3 ? 2 : 4), using: &g) {
        case 0: return Self.strings.randomElement(using: &g)!
        case 1: return Self.scalars.randomElement(using: &g)!
        case 2: return "[" + (0..<Int.random(in: 0..<3, using: &g)).map { _ in value(&g, depth: depth + 1) }.joined(separator: ",") + "]"
        default: return object(&g, depth: depth + 1)
        }
    }

    func object(_ g: inout Generator, depth: Int) -> String {
        var keys = ["path", "encoding", "x", "y\\n", "path2"].shuffled(using: &g)
        keys = Array(keys.prefix(Int.random(in: 0...3, using: &g)))
        if depth == 0 && Bool.random(using: &g) && !keys.contains("path") { keys.append("path") }
        let space = [" ", "", "\n\t", ""].randomElement(using: &g)!
        let members = keys.map { key -> String in
            let member = key == "path" && depth == 0 && Int.random(in: 0..<4, using: &g) > 0
                ? Self.strings.randomElement(using: &g)! : value(&g, depth: depth)
            return "\(space)\"\(key)\"\(space):\(space)\(member)"
        }
        return "{" + members.joined(separator: ",") + space + "}"
    }

    func mutate(_ text: String, _ g: inout Generator) -> [UInt8] {
        var bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return bytes }
        let position = Int.random(in: 0..<bytes.count, using: &g)
        switch Int.random(in: 0..<4, using: &g) {
        case 0: bytes.remove(at: position)
        case 1: bytes.insert(Array("{}[]\",:0-e.\\ xtu".utf8).randomElement(using: &g)!, at: position)
        case 2: bytes = Array(bytes[..<position])
        default: bytes[position] = Array("{}[]\",:0-9aE+".utf8).randomElement(using: &g)!
        }
        return bytes
    }

    @Test func agreesWithJSONSerializationOnGeneratedRequests() {
        var g = Generator(state: 20_261_129)
        var accepted = 0
        var refused = 0
        for round in 0..<4_000 {
            let text = object(&g, depth: 0)
            let bytes = round % 2 == 0 ? Array(text.utf8) : mutate(text, &g)
            let expected = oracle(bytes)
            #expect(parser(bytes) == expected, "\(String(decoding: bytes, as: UTF8.self))")
            if expected == .refused { refused += 1 } else { accepted += 1 }
        }
        // The generator must exercise both outcomes, or the agreement proves little.
        #expect(accepted > 800 && refused > 800, "accepted \(accepted), refused \(refused)")
    }

    @Test(arguments: [
        #"{"path":"a\ud800"}"#, #"{"path":"a\udc00x"}"#, #"{"path":"\ud800\u0041"}"#,
    ])
    func loneSurrogatesAreRefused(_ text: String) {
        #expect(parser(Array(text.utf8)) == .refused)
    }

    @Test func invalidUTF8IsRefused() {
        #expect(parser(Array(#"{"path":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)) == .refused)
        #expect(parser(Array(#"{"x":""#.utf8) + [0xFF] + Array(#"","path":"a"}"#.utf8)) == .refused)
    }

    @Test func nestingIsBounded() {
        let ok = #"{"path":"a","x":"# + String(repeating: "[", count: 63) + String(repeating: "]", count: 63) + "}"
        #expect(parser(Array(ok.utf8)) == .request(path: "a", encoding: nil))
        let deep = #"{"path":"a","x":"# + String(repeating: "[", count: 64) + String(repeating: "]", count: 64) + "}"
        #expect(parser(Array(deep.utf8)) == .refused)
        #expect(parser(Array((String(repeating: "[", count: 100_000)).utf8)) == .refused)
    }

    @Test func aLaterDuplicateWinsAsInJavaScript() {
        #expect(parser(Array(#"{"path":5,"path":"b"}"#.utf8)) == .request(path: "b", encoding: nil))
        #expect(parser(Array(#"{"path":"a","path":5}"#.utf8)) == .refused)
    }

    /// Found while writing the fuzzer's oracle (Fuzz/): the parser kept one "not a string"
    /// mark for both members, so a bad path overwrote the mark of a bad encoding, a later
    /// string path cleared it, and the bad encoding passed as absent.
    @Test(arguments: [
        #"{"encoding":5,"path":5,"path":"a"}"#, #"{"path":5,"encoding":[],"encoding":"utf8"}"#,
        #"{"encoding":null,"path":{},"path":"a"}"#,
    ])
    func aNonStringMemberIsRefusedWhateverFollowsTheOtherMember(_ text: String) {
        #expect(parser(Array(text.utf8)) == .refused)
        #expect(oracle(Array(text.utf8)) == .refused)
    }
}
