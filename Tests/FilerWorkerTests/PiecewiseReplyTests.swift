@testable import FilerWorker
import FilerProtocol
import Glibc
import Testing
import TestSupport

/// A reply written piece by piece must be, byte for byte, the one written from the whole
/// file, with pieces small enough that characters, escapes and base64 groups fall
/// across their edges.
@Suite struct PiecewiseReplyTests {
    let root = TemporaryDirectory()

    /// The reply (or the error's message) both ways.
    func both(
        _ content: [UInt8], pieceSize: Int, requested: FileRequest.Encoding? = nil, maximumSize: Int = .max
    ) throws -> (piecewise: String, whole: String) {
        root.write("f", content)
        let reader = try ConfinedFileReader(root: root.path, maxFileSize: 1 << 20)
        let piecewise = ReplyWriter()
        let file = try reader.open("f")
        let got: String
        do throws(PiecewiseReply.Failure) {
            try PiecewiseReply(pieceSize: pieceSize).write(
                file, requested: requested, into: piecewise, maximumSize: maximumSize, timestamp: 1, pid: 2)
            got = String(decoding: piecewise.bytes, as: UTF8.self)
        } catch {
            guard case .reply(let failure) = error else { throw error }
            got = "error: " + failure.message
        }
        let whole = ReplyWriter()
        var failure: FileError?
        content.withUnsafeBytes { bytes in
            do throws(FileError) {
                try whole.writeContent(bytes, requested: requested, timestamp: 1, pid: 2, maximumSize: maximumSize)
            } catch {
                failure = error
            }
        }
        return (got, failure.map { "error: " + $0.message } ?? String(decoding: whole.bytes, as: UTF8.self))
    }

    static let samples: [[UInt8]] = {
        var generator = SystemRandomNumberGenerator()
        let characters = ["a", "\"", "\\", "\n", "\u{01}", "é", "€", "𝄞", " ", "z"].map { Array($0.utf8) }
        var samples: [[UInt8]] = [[], Array("é".utf8), Array("𝄞𝄞".utf8)]
        for length in 1...40 {
            samples.append((0..<length).flatMap { _ in characters.randomElement(using: &generator)! })
        }
        // Not UTF-8: a stray continuation byte, a character cut at the very end, bytes
        // that no UTF-8 has, each at several places.
        for bad: [UInt8] in [[0x80], [0xE2, 0x82], [0xFF], [0xC0, 0xAF]] {
            for at in [0, 1, 2, 5, 7, 13] {
                var text = Array("héllo wörld, plain text".utf8)
                text.insert(contentsOf: bad, at: min(at, text.count))
                samples.append(text)
            }
            samples.append(Array("ends cut: ".utf8) + bad)
        }
        samples.append((0..<100).map { _ in UInt8.random(in: 0...255, using: &generator) })
        return samples
    }()

    @Test(arguments: [3, 6, 9, 27])
    func writesWhatTheWholeFileWouldGive(pieceSize: Int) throws {
        for sample in Self.samples {
            for requested in [nil, FileRequest.Encoding.base64] {
                let (piecewise, whole) = try both(sample, pieceSize: pieceSize, requested: requested)
                #expect(piecewise == whole, "\(sample) in pieces of \(pieceSize), \(String(describing: requested))")
            }
        }
    }

    @Test func refusesAReplyOverTheLimitWithTheSameMessage() throws {
        let text = Array(String(repeating: "\u{01}ab\"", count: 30).utf8)
        for maximumSize in [100, 150, 200, 250, 300, 400] {
            for requested in [nil, FileRequest.Encoding.base64] {
                let (piecewise, whole) = try both(text, pieceSize: 6, requested: requested, maximumSize: maximumSize)
                #expect(piecewise == whole, "limit \(maximumSize), \(String(describing: requested))")
            }
        }
        let (piecewise, _) = try both(text, pieceSize: 6, maximumSize: 300)
        #expect(piecewise.hasPrefix("error: the reply would be") && piecewise.contains("as base64 it would fit"))
    }

    @Test func aFileThatGrowsPastTheLimitWhileReadIsRefused() throws {
        root.write("growing", Array(repeating: UInt8(ascii: "a"), count: 20))
        let reader = try ConfinedFileReader(root: root.path, maxFileSize: 24)
        let file = try reader.open("growing")
        root.write("growing", Array(repeating: UInt8(ascii: "a"), count: 40))
        do throws(PiecewiseReply.Failure) {
            try PiecewiseReply(pieceSize: 6).write(file, requested: nil, into: ReplyWriter(), maximumSize: .max, timestamp: 1, pid: 2)
            Issue.record("a file grown past the limit was served")
        } catch {
            guard case .read(let failure) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(failure.errno == EFBIG)
        }
    }
}
