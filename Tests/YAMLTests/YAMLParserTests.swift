import Testing
import YAML

typealias Mark = YAMLNode.Mark

/// The tree without marks, in flow form: plain scalars bare, the others with a sign
/// of their style ('single', "double", |literal, >folded), so a test states both.
func render(_ node: YAMLNode?) -> String {
    guard let node else { return "nil" }
    switch node {
    case .scalar(let text, let style, _):
        switch style {
        case .plain: return text
        case .singleQuoted: return "'\(text)'"
        case .doubleQuoted: return "\"\(text)\""
        case .literal: return "|\(text)"
        case .folded: return ">\(text)"
        }
    case .sequence(let items, _):
        return "[" + items.map(render).joined(separator: ", ") + "]"
    case .mapping(let pairs, _):
        return "{" + pairs.map { render($0.key) + ": " + render($0.value) }.joined(separator: ", ") + "}"
    }
}

func plain(_ text: String, _ line: Int, _ column: Int) -> YAMLNode {
    .scalar(text, .plain, Mark(line: line, column: column))
}

@Suite struct DocumentTests {
    @Test func aScalarAloneIsTheRoot() throws {
        #expect(try YAMLParser.parse("hello") == plain("hello", 1, 1))
        #expect(try YAMLParser.parse(bytes: Array("  8080\n".utf8)) == plain("8080", 1, 3))
    }

    @Test func nestedMappingsKeepTheirOrderAndMarks() throws {
        let text = """
            # filer configuration
            zeta: 1
            alpha:
              beta:
                gamma: deep   # a comment after a value

              delta: [x, y]
            """
        let expected: YAMLNode = .mapping(
            [
                (plain("zeta", 2, 1), plain("1", 2, 7)),
                (
                    plain("alpha", 3, 1),
                    .mapping(
                        [
                            (
                                plain("beta", 4, 3),
                                .mapping([(plain("gamma", 5, 5), plain("deep", 5, 12))], Mark(line: 5, column: 5))
                            ),
                            (
                                plain("delta", 7, 3),
                                .sequence([plain("x", 7, 11), plain("y", 7, 14)], Mark(line: 7, column: 10))
                            ),
                        ], Mark(line: 4, column: 3))
                ),
            ], Mark(line: 2, column: 1))
        let root = try YAMLParser.parse(text)
        #expect(root == expected)
        #expect(root?.mark == Mark(line: 2, column: 1))
    }

    @Test func blockAndFlowCollections() throws {
        let text = """
            block:
              - one
              - "two"
              -
                - nested
            flow: [three, 'four', {five: 5, six: [6]}]
            empty: []
            none: {}
            """
        #expect(render(try YAMLParser.parse(text))
            == #"{block: [one, "two", [nested]], flow: [three, 'four', {five: 5, six: [6]}], empty: [], none: {}}"#)
        #expect(render(try YAMLParser.parse("- a\n- b: c\n  d: e\n")) == "[a, {b: c, d: e}]")
    }

    @Test func quotedStringsAndTheirEscapes() throws {
        let text = #"""
            single: 'it''s \n not an escape'
            double: "tab\there \u00e9 \x41 \\ \" \/"
            unicode: "\U0001F600 and é"
            """#
        #expect(render(try YAMLParser.parse(text))
            == "{single: 'it's \\n not an escape', double: \"tab\there é A \\ \" /\", unicode: \"😀 and é\"}")
    }

    @Test func multiLineStrings() throws {
        let text = """
            plain: first
              second
            quoted: "one
              two"
            literal: |
              a
               b
            stripped: |-
              c
            folded: >
              d
              e

              f
            """
        // The text ends without a line break, so the last scalar has none to keep.
        let expected = "{plain: first second, quoted: \"one two\", literal: |a\n b\n, stripped: |c, folded: >d e\nf}"
        #expect(render(try YAMLParser.parse(text)) == expected)
    }

    @Test func theStyleTellsNullFromTheStringNull() throws {
        let root = try YAMLParser.parse("a:\nb: ~\nc: null\nd: \"null\"\ne: 'null'\n")
        #expect(render(root) == "{a: , b: ~, c: null, d: \"null\", e: 'null'}")
        guard case .mapping(let pairs, _)? = root else { Issue.record("not a mapping"); return }
        #expect(pairs[2].value == .scalar("null", .plain, Mark(line: 3, column: 4)))
        #expect(pairs[3].value == .scalar("null", .doubleQuoted, Mark(line: 4, column: 4)))
    }

    @Test(arguments: ["", "\n\n  \n", "# only\n# comments\n", "---\n", "--- # nothing\n...\n"])
    func noDocumentIsNil(text: String) throws {
        #expect(try YAMLParser.parse(text) == nil)
    }

    @Test func marksCountLinesEndedByCRLFAndIgnoreAByteOrderMark() throws {
        #expect(try YAMLParser.parse("a: 1\r\nb: 2\r\n") == .mapping(
            [(plain("a", 1, 1), plain("1", 1, 4)), (plain("b", 2, 1), plain("2", 2, 4))], Mark(line: 1, column: 1)))
        #expect(try YAMLParser.parse("\u{FEFF}é: x") == .mapping(
            [(plain("é", 1, 1), plain("x", 1, 4))], Mark(line: 1, column: 1)))
    }

    @Test func directivesStandardTagsAndAnEndMarkerAreAccepted() throws {
        #expect(render(try YAMLParser.parse("%YAML 1.1\n---\na: 1\n...\n")) == "{a: 1}")
        // The standard tag is dropped: callers type scalars by key, not by tag.
        #expect(try YAMLParser.parse("port: !!str 8080") == .mapping(
            [(plain("port", 1, 1), plain("8080", 1, 7))], Mark(line: 1, column: 1)))
    }

    @Test func bytesAndTextGiveTheSameTree() throws {
        let text = "list: [1, two, 'three']\nmap: {k: v}\n"
        #expect(try YAMLParser.parse(bytes: Array(text.utf8)) == YAMLParser.parse(text))
    }
}
