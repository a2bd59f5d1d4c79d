/// Reads one YAML document into a `YAMLNode` tree, over Debian's libyaml.
///
/// Written instead of using Yams because Yams imports Foundation, which puts ICU's
/// data (about 38 MB) into filer's static binary; libyaml is what Yams wraps anyway.
/// The reader is for configuration files, so it refuses what a configuration has no
/// use for and what would let a hostile file cost time or memory: anchors and aliases
/// (no "billion laughs"), more than one document, deep nesting, repeated keys.
public enum YAMLParser {
    /// Deeper nesting (the outermost collection being level 1) is refused:
    /// a configuration has no use for it, and the tree is built by recursion.
    public static let maximumDepth = 64

    /// Tags under this prefix (`!!str`, `!!int`, ...) are the standard ones.
    static let standardTagPrefix = "tag:yaml.org,2002:"

    /// - Parameters:
    ///   - text: the YAML text.
    ///   - maximumBytes: larger input is refused before libyaml sees it.
    /// - Returns: the document's root, or `nil` when the text holds no document
    ///   (empty, only comments, or a bare `---`), so the caller can use its defaults.
    /// - Throws: `YAMLError` naming the line and column of the first problem.
    public static func parse(_ text: String, maximumBytes: Int = 1 << 20) throws(YAMLError) -> YAMLNode? {
        try checkSize(text.utf8, maximumBytes: maximumBytes)
        return try parse(checked: text.utf8)
    }

    /// As `parse(_:maximumBytes:)`, for bytes not yet known to be UTF-8:
    /// invalid UTF-8, and control characters such as NUL, are errors with a line.
    public static func parse(bytes: [UInt8], maximumBytes: Int = 1 << 20) throws(YAMLError) -> YAMLNode? {
        try checkSize(bytes, maximumBytes: maximumBytes)
        return try parse(checked: bytes)
    }

    private static func checkSize(_ bytes: some Collection<UInt8>, maximumBytes: Int) throws(YAMLError) {
        precondition(maximumBytes >= 0, "a negative size limit (\(maximumBytes)) is a mistake in the caller")
        guard bytes.count > maximumBytes else { return }
        let mark = YAMLNode.Mark(offset: maximumBytes, in: bytes)
        throw YAMLError(at: mark, "the input is larger than \(maximumBytes) bytes")
    }

    private static func parse(checked bytes: some Collection<UInt8>) throws(YAMLError) -> YAMLNode? {
        try TreeBuilder(reader: EventReader(bytes)).document()
    }
}

/// Builds the tree from the events, one node per call; the checks that libyaml
/// does not make (anchors, tags, keys, depth) are made here.
private struct TreeBuilder: ~Copyable {
    let reader: EventReader

    func document() throws(YAMLError) -> YAMLNode? {
        guard case (.streamStart, _) = try reader.next() else {
            fatalError("libyaml's first event is not the start of the stream")
        }
        switch try reader.next() {
        case (.streamEnd, _): return nil
        case (.documentStart, _): break
        case let (event, _): fatalError("libyaml sent \(event) where a document or the end was due")
        }
        let root = try node(try reader.next(), depth: 0)
        guard case (.documentEnd, _) = try reader.next() else {
            fatalError("libyaml sent a second root node in one document")
        }
        switch try reader.next() {
        case (.streamEnd, _): break
        case let (_, mark): throw YAMLError(at: mark, "more than one document: a configuration is one")
        }
        // libyaml stands an empty plain scalar in for a document with no content.
        if case .scalar("", .plain, _) = root { return nil }
        return root
    }

    func node(_ next: (Event, YAMLNode.Mark), depth: Int) throws(YAMLError) -> YAMLNode {
        let (event, mark) = next
        switch event {
        case .scalar(let text, let style, let properties):
            try check(properties, at: mark, isScalar: true)
            return .scalar(text, style, mark)
        case .sequenceStart(let properties):
            try check(properties, at: mark, isScalar: false)
            try checkDepth(depth + 1, at: mark)
            return .sequence(try sequence(depth: depth + 1), mark)
        case .mappingStart(let properties):
            try check(properties, at: mark, isScalar: false)
            try checkDepth(depth + 1, at: mark)
            return .mapping(try mapping(depth: depth + 1), mark)
        case .alias(let anchor):
            throw YAMLError(at: mark, "anchors and aliases are not supported (alias *\(YAMLError.excerpt(anchor)))")
        default:
            fatalError("libyaml sent \(event) where a node was due")
        }
    }

    private func sequence(depth: Int) throws(YAMLError) -> [YAMLNode] {
        var items: [YAMLNode] = []
        while true {
            let next = try reader.next()
            if case .sequenceEnd = next.0 { return items }
            items.append(try node(next, depth: depth))
        }
    }

    private func mapping(depth: Int) throws(YAMLError) -> [(key: YAMLNode, value: YAMLNode)] {
        var pairs: [(key: YAMLNode, value: YAMLNode)] = []
        var seen: [String: YAMLNode.Mark] = [:]
        while true {
            let next = try reader.next()
            switch next.0 {
            case .mappingEnd: return pairs
            case .sequenceStart, .mappingStart:
                throw YAMLError(at: next.1, "a mapping key must be a scalar, not a collection")
            default: break
            }
            let key = try node(next, depth: depth)
            guard case .scalar(let name, _, let mark) = key else {
                fatalError("a scalar event built \(key)")
            }
            if let first = seen[name] {
                throw YAMLError(at: mark, "duplicate key \"\(YAMLError.excerpt(name))\" (first at line \(first.line))")
            }
            seen[name] = mark
            pairs.append((key, try node(try reader.next(), depth: depth)))
        }
    }

    private func checkDepth(_ depth: Int, at mark: YAMLNode.Mark) throws(YAMLError) {
        guard depth > YAMLParser.maximumDepth else { return }
        throw YAMLError(at: mark, "nesting deeper than \(YAMLParser.maximumDepth) levels")
    }

    /// Anchors are refused with aliases, since an anchor is only there to be aliased.
    /// A standard tag on a scalar is accepted and dropped: the caller types scalars by
    /// key, and configuration files do not tag (so `!!str null` reads as a plain `null`).
    private func check(_ properties: Event.Properties, at mark: YAMLNode.Mark, isScalar: Bool) throws(YAMLError) {
        if let anchor = properties.anchor {
            throw YAMLError(at: mark, "anchors and aliases are not supported (anchor &\(YAMLError.excerpt(anchor)))")
        }
        guard let tag = properties.tag else { return }
        guard tag.hasPrefix(YAMLParser.standardTagPrefix) else {
            let problem = "tag \(YAMLError.excerpt(tag)) is not supported: only standard tags such as !!str"
            throw YAMLError(at: mark, problem)
        }
        guard isScalar else {
            let name = "!!" + tag.dropFirst(YAMLParser.standardTagPrefix.count)
            throw YAMLError(at: mark, "tag \(YAMLError.excerpt(name)) is not supported: tags only on scalars")
        }
    }
}
