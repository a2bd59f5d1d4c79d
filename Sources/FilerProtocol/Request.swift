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

    /// Decodes one request frame.
    /// - Throws: `FileError` with code `.badRequest`, saying what is wrong with it.
    public static func decode(_ frame: UnsafeRawBufferPointer) throws(FileError) -> FileRequest {
        try RequestParser.parse(frame)
    }
}
