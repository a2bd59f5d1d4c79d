/// Writes replies into a reusable buffer, in the seed's exact shape:
/// `{"content":"...","timestamp":1700000000000,"pid":1234}`, into one buffer the
/// worker reuses, so that it stops growing once it has held the largest reply.
public struct ReplyWriter {
    private let buffer = ByteBuffer()

    public init() {}

    /// The last reply written.
    public var bytes: UnsafeRawBufferPointer { buffer.bytes }

    /// How much memory the writer holds.
    public var capacity: Int { buffer.capacity }

    /// A success reply. `content` goes out as JSON-escaped UTF-8 when it is valid
    /// UTF-8 and base64 was not asked for; otherwise base64 with `"encoding":"base64"`.
    /// - Throws: `FileError` (`.tooBig`) when the reply would be larger than
    ///   `maximumSize`; nothing is written then, so a limit costs no memory.
    public func writeContent(
        _ content: UnsafeRawBufferPointer, requested: FileRequest.Encoding?, timestamp: Int64, pid: Int32,
        maximumSize: Int = .max
    ) throws(FileError) {
        let asText = requested != .base64 && Self.isValidUTF8(content)
        try checkSize(of: content, asText: asText, maximumSize: maximumSize)
        // Escaping and base64 make their own room as they write.
        beginContent(expectedCount: 0)
        if asText { appendText(content) } else { appendBase64(content) }
        finishContent(base64: !asText, timestamp: timestamp, pid: pid)
    }

    /// The fixed part of a success reply, numbers and all, is under this many bytes.
    static let envelopeSize = 96

    private func checkSize(of content: UnsafeRawBufferPointer, asText: Bool, maximumSize: Int) throws(FileError) {
        let base64Size = Base64.encodedCount(content.count) + Self.envelopeSize
        // An escape is at most six bytes, so most replies need no counting at all.
        if asText && content.count * 6 + Self.envelopeSize <= maximumSize { return }
        let size = asText ? JSONString.escapedCount(content) + Self.envelopeSize : base64Size
        guard size > maximumSize else { return }
        throw Self.tooBig(size: size, maximumSize: maximumSize, base64Size: asText ? base64Size : nil)
    }

    /// The error for a reply of `size` bytes over `maximumSize`; `base64Size`, for a text
    /// reply, says whether asking for base64 would fit.
    public static func tooBig(size: Int, maximumSize: Int, base64Size: Int?) -> FileError {
        let fits = base64Size.map { $0 <= maximumSize } ?? false
        let hint = fits ? "; as base64 it would fit: ask with \"encoding\":\"base64\"" : ""
        return FileError(.tooBig, "the reply would be \(size) bytes, over the limit of \(maximumSize)\(hint)")
    }

    /// The size of a reply whose content is `count` bytes long once escaped or encoded
    /// (an upper bound: the numbers are counted at their longest).
    public static func replySize(contentCount count: Int) -> Int { count + envelopeSize }

    /// What `piece` takes once JSON-escaped.
    public static func escapedCount(_ piece: UnsafeRawBufferPointer) -> Int { JSONString.escapedCount(piece) }

    /// What `count` bytes take as base64.
    public static func base64Count(_ count: Int) -> Int { Base64.encodedCount(count) }

    // MARK: A reply written piece by piece

    /// Starts a success reply whose content comes in pieces (`appendText` or
    /// `appendBase64`, then `finishContent`), with room for about `expectedCount` bytes of it.
    public func beginContent(expectedCount: Int) {
        buffer.count = 0
        buffer.reserve(expectedCount + Self.envelopeSize)
        buffer.append(Self.contentOpening)
    }

    private static let contentOpening: StaticString = #"{"content":""#

    /// The content written so far, in bytes.
    public var contentCount: Int { buffer.count - Self.contentOpening.utf8CodeUnitCount }

    /// Appends `piece`, UTF-8 the caller has checked, JSON-escaped.
    public func appendText(_ piece: UnsafeRawBufferPointer) {
        JSONString.appendEscaped(piece, to: buffer)
    }

    /// Appends `piece` as base64: every piece but the last must be a multiple of 3 bytes
    /// long, so that the pieces' encodings join up.
    public func appendBase64(_ piece: UnsafeRawBufferPointer) {
        buffer.reserve(buffer.count + Base64.encodedCount(piece.count))
        buffer.count += Base64.write(piece, to: buffer.spare.baseAddress!)
    }

    public func finishContent(base64: Bool, timestamp: Int64, pid: Int32) {
        buffer.append(base64 ? #"","encoding":"base64""# : #"""#)
        appendTail(timestamp: timestamp, pid: pid)
    }

    /// Hands over the last reply's memory (see `ByteBuffer.detach`): the next reply is
    /// written into a fresh buffer of `capacity`.
    public func detach(keeping capacity: Int) -> (data: UnsafeMutableRawPointer, count: Int) {
        buffer.detach(keeping: capacity)
    }

    /// Frees the memory a large reply left behind (see `ByteBuffer.shrink`).
    public func shrink(to capacity: Int) {
        buffer.shrink(to: capacity)
    }

    /// An error reply: `{"error":{"code":"ENOENT","message":"..."},"timestamp":...,"pid":...}`.
    public func writeError(_ error: FileError, timestamp: Int64, pid: Int32) {
        var code = error.code.rawValue
        var message = error.message
        buffer.count = 0
        buffer.append(#"{"error":{"code":""#)
        code.withUTF8 { JSONString.appendEscaped(UnsafeRawBufferPointer($0), to: buffer) }
        buffer.append(#"","message":""#)
        message.withUTF8 { JSONString.appendEscaped(UnsafeRawBufferPointer($0), to: buffer) }
        buffer.append(#""}"#)
        appendTail(timestamp: timestamp, pid: pid)
    }

    /// `,"timestamp":<ms>,"pid":<pid>}`, the numbers written digit by digit.
    private func appendTail(timestamp: Int64, pid: Int32) {
        buffer.append(#","timestamp":"#)
        buffer.appendDecimal(timestamp)
        buffer.append(#","pid":"#)
        buffer.appendDecimal(Int64(pid))
        buffer.append("}")
    }

    public static func isValidUTF8(_ content: UnsafeRawBufferPointer) -> Bool {
        // ASCII is by far the common case; checking 8 bytes at a time skips it quickly.
        var index = 0
        let count = content.count
        while index + 8 <= count, content.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
            index += 8
        }
        while index < count, content[index] < 0x80 { index += 1 }
        guard index < count else { return true }
        // The rest is validated in place (UTF8Span), without copying it into a String.
        let rest = UnsafeRawBufferPointer(rebasing: content[index...]).bindMemory(to: UInt8.self)
        // Invalid UTF-8 is the answer sought here, not an error to report.
        return (try? UTF8Span(validating: Span(_unsafeElements: rest))) != nil
    }
}
