/// Why a YAML text was refused, and where: the line and column (from 1) of the problem.
public struct YAMLError: Error, CustomStringConvertible, Equatable {
    public let line: Int
    public let column: Int
    /// A short sentence; any text echoed from the input is cut to `excerptLength` characters.
    public let problem: String

    public init(line: Int, column: Int, problem: String) {
        self.line = line
        self.column = column
        self.problem = problem
    }

    init(at mark: YAMLNode.Mark, _ problem: String) {
        self.init(line: mark.line, column: mark.column, problem: problem)
    }

    public var description: String { "line \(line), column \(column): \(problem)" }

    /// Enough to recognise a key or an anchor; a hostile input cannot make a message huge.
    static let excerptLength = 80

    static func excerpt(_ text: String) -> String {
        guard text.count > excerptLength else { return text }
        return String(text.prefix(excerptLength - 3)) + "..."
    }
}

extension YAMLNode.Mark {
    /// The position of byte `offset` in `bytes`, for the errors libyaml reports only
    /// as an offset (invalid UTF-8) and for the size limit, found before libyaml runs.
    /// Breaks are counted as libyaml counts them: LF, CR LF, or a lone CR.
    init(offset: Int, in bytes: some Collection<UInt8>) {
        var line = 1
        var column = 1
        var previous: UInt8 = 0
        for byte in bytes.prefix(offset) {
            if byte == UInt8(ascii: "\n") {
                if previous != UInt8(ascii: "\r") { line += 1 }
                column = 1
            } else if byte == UInt8(ascii: "\r") {
                line += 1
                column = 1
            } else if byte & 0b1100_0000 != 0b1000_0000 {
                column += 1  // a UTF-8 continuation byte continues the same character
            }
            previous = byte
        }
        self.init(line: line, column: column)
    }
}
