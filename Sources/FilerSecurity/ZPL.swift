/// The ZeroMQ Property Language (RFC 4/ZPL), the text format of CZMQ's and pyzmq's
/// certificates: one `name = value` per line, nesting by four spaces of indentation,
/// `#` comments, values bare or in single or double quotes (ZPL has no escapes).
public enum ZPL {
    /// One property: its name with its ancestors' (`["curve", "public-key"]`), its value
    /// if it has one, and the line it came from, for error messages.
    public struct Property: Equatable, Sendable {
        public let path: [String]
        public let value: String?
        public let line: Int
    }

    /// A line that is not ZPL.
    public struct SyntaxError: Error, Equatable {
        public let line: Int
        public let message: String
    }

    /// Parses a whole document.
    /// - Throws: `SyntaxError` naming the first line that is not ZPL.
    public static func parse(_ text: String) throws(SyntaxError) -> [Property] {
        var properties: [Property] = []
        var ancestors: [String] = []
        // A byte-order mark, which some editors put first, is no part of the first line.
        let body = text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text
        for (index, line) in lines(of: body).enumerated() {
            let number = index + 1
            var rest = Substring(line)
            let indentation = rest.prefix(while: { $0 == " " }).count
            rest = rest.dropFirst(indentation)
            let content = rest.drop(while: { $0 == " " || $0 == "\t" })
            if content.isEmpty || content.first == "#" { continue }
            if rest.first == "\t" {
                throw SyntaxError(line: number, message: "indented with a tab; ZPL indents with four spaces")
            }
            guard indentation % 4 == 0 else {
                throw SyntaxError(line: number, message: "indented by \(indentation) spaces, not a multiple of four")
            }
            let depth = indentation / 4
            guard depth <= ancestors.count else {
                throw SyntaxError(line: number, message: "indented deeper than the property above allows")
            }
            ancestors.removeLast(ancestors.count - depth)

            let name = rest.prefix(while: isNameCharacter)
            guard !name.isEmpty else {
                throw SyntaxError(line: number, message: "expected a property name, found \"\(rest.prefix(20))\"")
            }
            rest = rest.dropFirst(name.count).drop(while: { $0 == " " || $0 == "\t" })
            var value: String?
            if rest.first == "=" {
                rest = rest.dropFirst().drop(while: { $0 == " " || $0 == "\t" })
                value = try parseValue(&rest, line: number, name: String(name))
            }
            rest = rest.drop(while: { $0 == " " || $0 == "\t" })
            guard rest.isEmpty || rest.first == "#" else {
                throw SyntaxError(line: number, message: "unexpected \"\(rest.prefix(20))\" after \(name)")
            }
            properties.append(Property(path: ancestors + [String(name)], value: value, line: number))
            ancestors.append(String(name))
        }
        return properties
    }

    /// The value after `=`: quoted up to the same quote, or bare up to a space or `#`.
    private static func parseValue(_ rest: inout Substring, line: Int, name: String) throws(SyntaxError) -> String {
        if let quote = rest.first, quote == "\"" || quote == "'" {
            let inside = rest.dropFirst()
            guard let end = inside.firstIndex(of: quote) else {
                throw SyntaxError(line: line, message: "the value of \(name) has no closing \(quote)")
            }
            rest = inside[inside.index(after: end)...]
            return String(inside[..<end])
        }
        let bare = rest.prefix(while: { $0 != " " && $0 != "\t" && $0 != "#" })
        guard !bare.isEmpty else { throw SyntaxError(line: line, message: "\(name) has \"=\" but no value") }
        rest = rest.dropFirst(bare.count)
        return String(bare)
    }

    /// Splits on LF, CRLF or a lone CR, the three line endings RFC 4 allows.
    private static func lines(of text: String) -> [String] {
        // Swift holds "\r\n" as one Character, so a CRLF counts as one line ending.
        text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
            .map(String.init)
    }

    /// RFC 4's name characters: letters, digits and `$-_@.&+/`.
    public static func isNameCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || "$-_@.&+/".contains(character))
    }

    /// `value` quoted for writing: in double quotes, or in single quotes when it holds a
    /// double quote. Nil for what ZPL cannot hold: both quotes, or a line ending.
    public static func quoted(_ value: String) -> String? {
        if value.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) { return nil }
        if !value.contains("\"") { return "\"\(value)\"" }
        if !value.contains("'") { return "'\(value)'" }
        return nil
    }
}
