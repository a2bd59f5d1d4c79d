/// The error codes a reply may carry: errno names clients already know, plus EBADREQ.
/// They become strings only here, in the codec.
public enum ErrorCode: String, Sendable, CaseIterable {
    /// The request is not a JSON object with a string `path` (or has a bad `encoding`).
    case badRequest = "EBADREQ"
    case noSuchFile = "ENOENT"
    /// Outside the root, permission denied, or not a regular file.
    case accessDenied = "EACCES"
    case isDirectory = "EISDIR"
    /// Over `limits.max_file_size`, or a reply over `limits.max_reply_size`.
    case tooBig = "EFBIG"
    case nameTooLong = "ENAMETOOLONG"
    /// Too many levels of symbolic links.
    case symlinkLoop = "ELOOP"
    case ioError = "EIO"
    /// The client has too many requests waiting at one worker: it should read its replies.
    case busy = "EBUSY"
}

/// A reply's error: a code clients can switch on, and a message for people.
public struct FileError: Error, Equatable, Sendable {
    public var code: ErrorCode
    public var message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public static func badRequest(_ message: String) -> FileError { FileError(.badRequest, message) }
}
