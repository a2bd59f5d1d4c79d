/// One request: `{"path": "...", "encoding": "utf8" | "base64"}`.
public struct FileRequest: Equatable, Sendable {
    public enum Encoding: String, Sendable {
        case utf8, base64
    }

    public var path: String
    /// nil when the request did not ask: UTF-8 if the file is valid UTF-8, else base64.
    public var encoding: Encoding?

    public init(path: String, encoding: Encoding? = nil) {
        self.path = path
        self.encoding = encoding
    }
}

/// A reply's error: a code clients can switch on (errno names, plus EBADREQ) and a message.
public struct FileError: Error, Equatable, Sendable {
    public var code: String
    public var message: String

    public init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }

    public static func badRequest(_ message: String) -> FileError { FileError("EBADREQ", message) }
}

public enum RequestDecoder {
    /// Decodes one request frame.
    /// - Throws: `FileError` with code EBADREQ saying what is wrong with it.
    public static func decode(_ frame: UnsafeRawBufferPointer) throws(FileError) -> FileRequest {
        try RequestParser.parse(frame)
    }
}

/// Writes replies into a reusable buffer, in the seed's exact shape:
/// `{"content":"...","timestamp":1700000000000,"pid":1234}`. Each reply is sized
/// exactly before it is written, so the buffer grows at most once per new maximum.
public struct ReplyWriter {
    private let buffer = ByteBuffer()

    public init() {}

    /// The last reply written.
    public var bytes: UnsafeRawBufferPointer { buffer.bytes }

    /// A success reply. `content` goes out as JSON-escaped UTF-8 when it is valid
    /// UTF-8 and base64 was not asked for; otherwise base64 with `"encoding":"base64"`.
    public func writeContent(
        _ content: UnsafeRawBufferPointer, requested: FileRequest.Encoding?, timestamp: Int64, pid: Int32
    ) {
        let asText = requested != .base64 && Self.isValidUTF8(content)
        let head: StaticString = #"{"content":""#
        let middle: StaticString = asText ? #"""# : #"","encoding":"base64""#
        let tail = Self.tail(timestamp: timestamp, pid: pid)
        let body = asText ? JSONString.escapedCount(content) : Base64.encodedCount(content.count)
        buffer.count = 0
        buffer.reserve(head.utf8CodeUnitCount + body + middle.utf8CodeUnitCount + tail.utf8.count)
        buffer.append(head)
        let at = buffer.spare.baseAddress!
        buffer.count += asText ? JSONString.writeEscaped(content, to: at) : Base64.write(content, to: at)
        buffer.append(middle)
        buffer.append(tail)
    }

    /// An error reply: `{"error":{"code":"ENOENT","message":"..."},"timestamp":...,"pid":...}`.
    public func writeError(_ error: FileError, timestamp: Int64, pid: Int32) {
        var code = error.code
        var message = error.message
        let tail = Self.tail(timestamp: timestamp, pid: pid)
        code.withUTF8 { codeBytes in
            message.withUTF8 { messageBytes in
                let codeText = UnsafeRawBufferPointer(codeBytes)
                let messageText = UnsafeRawBufferPointer(messageBytes)
                buffer.count = 0
                buffer.reserve(
                    64 + JSONString.escapedCount(codeText) + JSONString.escapedCount(messageText) + tail.utf8.count)
                buffer.append(#"{"error":{"code":""#)
                buffer.count += JSONString.writeEscaped(codeText, to: buffer.spare.baseAddress!)
                buffer.append(#"","message":""#)
                buffer.count += JSONString.writeEscaped(messageText, to: buffer.spare.baseAddress!)
                buffer.append(#""}"#)
                buffer.append(tail)
            }
        }
    }

    private static func tail(timestamp: Int64, pid: Int32) -> String {
        ",\"timestamp\":\(timestamp),\"pid\":\(pid)}"
    }

    static func isValidUTF8(_ content: UnsafeRawBufferPointer) -> Bool {
        // ASCII is by far the common case; checking 8 bytes at a time skips it quickly.
        var index = 0
        let count = content.count
        while index + 8 <= count, content.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
            index += 8
        }
        let rest = UnsafeRawBufferPointer(rebasing: content[index...])
        return String(validating: rest.bindMemory(to: UInt8.self), as: UTF8.self) != nil
    }
}
