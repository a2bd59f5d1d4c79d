/// Why a certificate or a set of authorized keys could not be used: the file, the
/// line when one is to blame, and what is wrong, so an operator can fix it at once.
public struct SecurityError: Error, CustomStringConvertible, Equatable {
    public let file: String
    /// The 1-based line at fault, or nil when the file as a whole is (unreadable, incomplete).
    public let line: Int?
    public let message: String

    public init(file: String, line: Int? = nil, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}
