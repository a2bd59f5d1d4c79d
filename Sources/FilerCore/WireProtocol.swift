import FoundationEssentials

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
    private struct Wire: Decodable {
        var path: String
        var encoding: String?

        enum CodingKeys: String, CodingKey { case path, encoding }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            path = try container.decode(String.self, forKey: .path)
            // Absent means "choose for me"; an explicit null is not a valid encoding.
            if container.contains(.encoding) {
                encoding = try container.decode(String.self, forKey: .encoding)
            }
        }
    }

    /// Decodes one request frame.
    /// - Throws: `FileError` with code EBADREQ saying what is wrong with it.
    public static func decode(_ frame: UnsafeRawBufferPointer) throws(FileError) -> FileRequest {
        guard let first = frame.first(where: { !Self.isJSONWhitespace($0) }), first == UInt8(ascii: "{") else {
            throw .badRequest("the request must be a JSON object with a string \"path\"")
        }
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: Data(frame))
        } catch DecodingError.keyNotFound {
            throw .badRequest("the request has no \"path\"")
        } catch DecodingError.typeMismatch(_, let context) {
            let field = context.codingPath.first?.stringValue ?? "request"
            throw .badRequest("\"\(field)\" must be a string")
        } catch DecodingError.valueNotFound(_, let context) {
            let field = context.codingPath.first?.stringValue ?? "request"
            throw .badRequest("\"\(field)\" must be a string")
        } catch {
            throw .badRequest("the request is not valid JSON")
        }
        var request = FileRequest(path: wire.path)
        switch wire.encoding {
        case nil: break
        case "utf8", "utf-8": request.encoding = .utf8
        case "base64": request.encoding = .base64
        case let other?: throw .badRequest("unknown encoding \"\(other)\": use \"utf8\" or \"base64\"")
        }
        return request
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}

/// Writes replies into a reusable buffer, in the seed's exact shape:
/// `{"content":"...","timestamp":1700000000000,"pid":1234}`.
public struct ReplyWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// A success reply. `content` goes out as JSON-escaped UTF-8 when it is valid
    /// UTF-8 and base64 was not asked for; otherwise base64 with `"encoding":"base64"`.
    public mutating func writeContent(
        _ content: UnsafeRawBufferPointer, requested: FileRequest.Encoding?, timestamp: Int64, pid: Int32
    ) {
        bytes.removeAll(keepingCapacity: true)
        let asText = requested != .base64 && Self.isValidUTF8(content)
        bytes.reserveCapacity(asText ? content.count + content.count / 8 + 64 : content.count / 3 * 4 + 80)
        append("{\"content\":\"")
        if asText {
            JSONString.appendEscaping(content, to: &bytes)
            append("\"")
        } else {
            Base64.append(content, to: &bytes)
            append("\",\"encoding\":\"base64\"")
        }
        appendTail(timestamp: timestamp, pid: pid)
    }

    /// An error reply: `{"error":{"code":"ENOENT","message":"..."},"timestamp":...,"pid":...}`.
    public mutating func writeError(_ error: FileError, timestamp: Int64, pid: Int32) {
        bytes.removeAll(keepingCapacity: true)
        append("{\"error\":{\"code\":\"")
        appendEscaping(error.code)
        append("\",\"message\":\"")
        appendEscaping(error.message)
        append("\"}")
        appendTail(timestamp: timestamp, pid: pid)
    }

    private mutating func appendTail(timestamp: Int64, pid: Int32) {
        append(",\"timestamp\":\(timestamp),\"pid\":\(pid)}")
    }

    private mutating func append(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    private mutating func appendEscaping(_ text: String) {
        var text = text
        text.withUTF8 { JSONString.appendEscaping(UnsafeRawBufferPointer($0), to: &bytes) }
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
