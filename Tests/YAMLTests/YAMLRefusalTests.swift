import Testing
import YAML

/// What the reader must refuse, each with the exact line, column and problem.
@Suite struct RefusalTests {
    @Test func aDuplicateKeyNamesBothLines() {
        #expect(throws: YAMLError(line: 5, column: 1, problem: #"duplicate key "port" (first at line 1)"#)) {
            try YAMLParser.parse("port: 1\nhost: x\n\n# again\nport: 2\n")
        }
        // Quoting does not make a different key.
        #expect(throws: YAMLError(line: 1, column: 8, problem: #"duplicate key "a" (first at line 1)"#)) {
            try YAMLParser.parse(#"{a: 1, "a": 2}"#)
        }
    }

    @Test func theSameKeyInTwoMappingsIsNoDuplicate() throws {
        #expect(render(try YAMLParser.parse("one:\n  k: 1\ntwo:\n  k: 2\n")) == "{one: {k: 1}, two: {k: 2}}")
    }

    @Test func echoedTextIsCutShort() {
        let key = String(repeating: "k", count: 200)
        let expected = "duplicate key \"" + String(repeating: "k", count: 77) + "...\" (first at line 1)"
        #expect(throws: YAMLError(line: 2, column: 1, problem: expected)) {
            try YAMLParser.parse("\(key): 1\n\(key): 2\n")
        }
    }

    /// "Billion laughs": nine levels of nine aliases would expand to 9^9 strings.
    @Test func anAliasBombFailsFast() {
        var text = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for level in 1...9 {
            let aliases = Array(repeating: "*l\(level - 1)", count: 9).joined(separator: ", ")
            text += "l\(level): &l\(level) [\(aliases)]\n"
        }
        var thrown: YAMLError?
        let elapsed = ContinuousClock().measure {
            do throws(YAMLError) { _ = try YAMLParser.parse(text) } catch { thrown = error }
        }
        #expect(thrown == YAMLError(line: 1, column: 5, problem: "anchors and aliases are not supported (anchor &l0)"))
        #expect(elapsed < .seconds(1))
    }

    @Test func anAliasIsRefused() {
        #expect(throws: YAMLError(line: 2, column: 4, problem: "anchors and aliases are not supported (alias *x)")) {
            try YAMLParser.parse("a: 1\nb: *x\n")
        }
    }

    @Test func anAnchorAloneIsRefused() {
        #expect(throws: YAMLError(line: 1, column: 4, problem: "anchors and aliases are not supported (anchor &x)")) {
            try YAMLParser.parse("a: &x 1")
        }
        #expect(throws: YAMLError(line: 1, column: 7, problem: "anchors and aliases are not supported (anchor &b)")) {
            try YAMLParser.parse("base: &b\n  x: 1\n")
        }
    }

    @Test func aSecondDocumentIsRefused() {
        let problem = "more than one document: a configuration is one"
        #expect(throws: YAMLError(line: 2, column: 1, problem: problem)) { try YAMLParser.parse("a: 1\n---\nb: 2\n") }
        #expect(throws: YAMLError(line: 3, column: 1, problem: problem)) { try YAMLParser.parse("a: 1\n...\n--- 2\n") }
    }

    @Test func nestingIsLimitedTo64Levels() throws {
        let deepest = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        var node = try #require(try YAMLParser.parse(deepest))
        var depth = 1
        while case .sequence(let items, _) = node, let first = items.first {
            node = first
            depth += 1
        }
        #expect(depth == 64)
        #expect(throws: YAMLError(line: 1, column: 65, problem: "nesting deeper than 64 levels")) {
            try YAMLParser.parse("[" + deepest + "]")
        }
        // Far deeper: refused where the limit is crossed (the mapping is level 1, so the
        // 64th bracket, at column 67, opens level 65), without reading the rest.
        #expect(throws: YAMLError(line: 3, column: 67, problem: "nesting deeper than 64 levels")) {
            try YAMLParser.parse("a: 1\nb: 2\nc: " + String(repeating: "[", count: 2000))
        }
        let block = (0..<65).map { String(repeating: " ", count: 2 * $0) + "k:\n" }.joined()
        #expect(throws: YAMLError(line: 65, column: 129, problem: "nesting deeper than 64 levels")) {
            try YAMLParser.parse(block)
        }
    }

    @Test func oversizeInputIsRefusedBeforeParsing() throws {
        #expect(render(try YAMLParser.parse("a: 1\nb: 2\n", maximumBytes: 10)) == "{a: 1, b: 2}")
        // The mark is where the limit is crossed; the syntax error beyond it is never reached.
        #expect(throws: YAMLError(line: 2, column: 3, problem: "the input is larger than 7 bytes")) {
            try YAMLParser.parse("a: 1\nb: [2\n", maximumBytes: 7)
        }
        let mebibyte = String(repeating: "#", count: 1 << 20)
        #expect(try YAMLParser.parse(mebibyte) == nil)
        #expect(throws: YAMLError(line: 1, column: 1_048_577, problem: "the input is larger than 1048576 bytes")) {
            try YAMLParser.parse(bytes: Array((mebibyte + "\n").utf8))
        }
    }

    @Test func invalidUTF8IsAnErrorWithALine() {
        #expect(throws: YAMLError(line: 2, column: 4, problem: "invalid leading UTF-8 octet (0xFF)")) {
            try YAMLParser.parse(bytes: Array("a: 1\nb: ".utf8) + [0xFF, 0x0A])
        }
        // libyaml places this at the bad byte, the second of "\xC3A".
        #expect(throws: YAMLError(line: 1, column: 6, problem: "invalid trailing UTF-8 octet (0x41)")) {
            try YAMLParser.parse(bytes: Array("a: é".utf8) + [0xC3, 0x41])
        }
        // A UTF-16 byte-order mark is not taken as a reason to read UTF-16.
        #expect(throws: YAMLError(line: 1, column: 1, problem: "invalid leading UTF-8 octet (0xFF)")) {
            try YAMLParser.parse(bytes: [0xFF, 0xFE, 0x61, 0x00])
        }
    }

    @Test func controlCharactersSuchAsNULAreRefused() {
        #expect(throws: YAMLError(line: 2, column: 4, problem: "control characters are not allowed (0x0)")) {
            try YAMLParser.parse("a: ok\nb: \u{0}x\n")
        }
    }

    @Test func aTabInTheIndentationIsASyntaxErrorOnItsLine() {
        let problem = "while scanning for the next token: found character that cannot start any token"
            + " (a tab in the indentation: YAML indents with spaces)"
        #expect(throws: YAMLError(line: 2, column: 1, problem: problem)) { try YAMLParser.parse("root:\n\ta: 1\n") }
        // Here libyaml names the tab itself, so no hint is added.
        let named = "while scanning a plain scalar (from line 2): found a tab character that violates indentation"
        #expect(throws: YAMLError(line: 3, column: 1, problem: named)) {
            try YAMLParser.parse("root:\n  a: 1\n\tb: 2\n")
        }
    }

    @Test func syntaxErrorsSayWhatLibyamlWasReading() {
        let problem = "while parsing a flow sequence (from line 2): did not find expected ',' or ']'"
        #expect(throws: YAMLError(line: 3, column: 1, problem: problem)) { try YAMLParser.parse("a: 1\nb: [1, 2\n") }
        #expect(throws: YAMLError(line: 1, column: 5, problem: "mapping values are not allowed in this context")) {
            try YAMLParser.parse("a: b: c")
        }
    }

    @Test func aKeyMustBeAScalar() {
        let problem = "a mapping key must be a scalar, not a collection"
        #expect(throws: YAMLError(line: 1, column: 3, problem: problem)) { try YAMLParser.parse("? [a]\n: 1\n") }
        #expect(throws: YAMLError(line: 1, column: 2, problem: problem)) { try YAMLParser.parse("{{a: 1}: 2}") }
    }

    @Test func onlyStandardTagsAndOnlyOnScalars() {
        let local = "tag !foo is not supported: only standard tags such as !!str"
        #expect(throws: YAMLError(line: 1, column: 4, problem: local)) { try YAMLParser.parse("a: !foo x") }
        let onCollection = "tag !!map is not supported: tags only on scalars"
        #expect(throws: YAMLError(line: 1, column: 4, problem: onCollection)) {
            try YAMLParser.parse("a: !!map {b: 1}")
        }
    }

    @Test func theDescriptionLeadsWithThePlace() {
        let error = YAMLError(line: 2, column: 3, problem: "what went wrong")
        #expect(error.description == "line 2, column 3: what went wrong")
    }
}
