/// One YAML document as a tree: what a configuration loader needs, and no more.
///
/// Scalars stay text: deciding whether `8080` is a number or `yes` a boolean is the
/// caller's business, because YAML 1.1 and 1.2 disagree and a loader knows which
/// keys want which type. The style is kept so a caller can tell `null` from `"null"`.
public indirect enum YAMLNode: Equatable, Sendable {
    case scalar(String, ScalarStyle, Mark)
    case sequence([YAMLNode], Mark)
    /// Keys in the order the document gives them; they are scalars, never repeated.
    case mapping([(key: YAMLNode, value: YAMLNode)], Mark)

    /// Where a node starts, counted from 1 as editors count.
    public struct Mark: Equatable, Hashable, Sendable, CustomStringConvertible {
        public let line: Int
        /// In characters (Unicode scalars), not bytes, as libyaml counts.
        public let column: Int

        public init(line: Int, column: Int) {
            self.line = line
            self.column = column
        }

        public var description: String { "line \(line), column \(column)" }
    }

    /// How a scalar was written. Only a plain scalar is open to reading as
    /// null, a boolean or a number; any quoted or block scalar is a string.
    public enum ScalarStyle: Equatable, Sendable {
        case plain, singleQuoted, doubleQuoted, literal, folded
    }

    public var mark: Mark {
        switch self {
        case .scalar(_, _, let mark), .sequence(_, let mark), .mapping(_, let mark): mark
        }
    }

    /// Labelled tuples are not `Equatable`, so mappings are compared pair by pair.
    public static func == (lhs: YAMLNode, rhs: YAMLNode) -> Bool {
        switch (lhs, rhs) {
        case let (.scalar(left, leftStyle, leftMark), .scalar(right, rightStyle, rightMark)):
            left == right && leftStyle == rightStyle && leftMark == rightMark
        case let (.sequence(left, leftMark), .sequence(right, rightMark)):
            left == right && leftMark == rightMark
        case let (.mapping(left, leftMark), .mapping(right, rightMark)):
            leftMark == rightMark
                && left.elementsEqual(right) { $0.key == $1.key && $0.value == $1.value }
        default:
            false
        }
    }
}
