import CYAML

/// One libyaml event, copied out of libyaml's memory so that nothing above this
/// file holds a C pointer.
enum Event {
    case streamStart, streamEnd
    case documentStart, documentEnd
    case alias(anchor: String)
    case scalar(String, YAMLNode.ScalarStyle, Properties)
    case sequenceStart(Properties), sequenceEnd
    case mappingStart(Properties), mappingEnd

    /// What the document may attach to a node besides its content.
    struct Properties {
        var anchor: String?
        var tag: String?
    }
}

/// libyaml's event parser over a private copy of the input: the one place the C
/// library is called. The copy lets the parser keep its pointer for as long as it
/// lives, whatever happens to the caller's array; the parser is freed exactly once.
struct EventReader: ~Copyable {
    private let parser: UnsafeMutablePointer<yaml_parser_t>
    private let input: UnsafeMutableBufferPointer<UInt8>
    private let count: Int

    init(_ bytes: some Collection<UInt8>) throws(YAMLError) {
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        guard yaml_parser_initialize(parser) != 0 else {
            parser.deallocate()
            throw YAMLError(line: 1, column: 1, problem: "yaml_parser_initialize: out of memory")
        }
        // libyaml would count a UTF-8 byte-order mark as a column of the first line.
        let text = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? bytes.dropFirst(3) : bytes[...]
        // One byte more than needed: libyaml wants a non-null pointer even for no input.
        let input = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: text.count + 1)
        _ = input.initialize(from: text)
        // Never guess UTF-16 from a byte-order mark: the caller promises UTF-8.
        yaml_parser_set_encoding(parser, YAML_UTF8_ENCODING)
        yaml_parser_set_input_string(parser, input.baseAddress, text.count)
        self.parser = parser
        self.input = input
        self.count = text.count
    }

    deinit {
        yaml_parser_delete(parser)
        parser.deallocate()
        input.deallocate()
    }

    /// The next event and where its node starts.
    /// - Throws: `YAMLError` with libyaml's own description of a syntax or encoding error.
    func next() throws(YAMLError) -> (Event, YAMLNode.Mark) {
        var event = yaml_event_t()
        guard yaml_parser_parse(parser, &event) != 0 else { throw error() }
        defer { yaml_event_delete(&event) }
        let mark = place(event.start_mark)
        switch event.type {
        case YAML_STREAM_START_EVENT: return (.streamStart, mark)
        case YAML_STREAM_END_EVENT: return (.streamEnd, mark)
        case YAML_DOCUMENT_START_EVENT: return (.documentStart, mark)
        case YAML_DOCUMENT_END_EVENT: return (.documentEnd, mark)
        case YAML_ALIAS_EVENT:
            return (.alias(anchor: string(event.data.alias.anchor) ?? ""), mark)
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let value = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
            let properties = Event.Properties(anchor: string(scalar.anchor), tag: string(scalar.tag))
            return (.scalar(value, style(scalar.style), properties), mark)
        case YAML_SEQUENCE_START_EVENT:
            let start = event.data.sequence_start
            return (.sequenceStart(Event.Properties(anchor: string(start.anchor), tag: string(start.tag))), mark)
        case YAML_SEQUENCE_END_EVENT: return (.sequenceEnd, mark)
        case YAML_MAPPING_START_EVENT:
            let start = event.data.mapping_start
            return (.mappingStart(Event.Properties(anchor: string(start.anchor), tag: string(start.tag))), mark)
        case YAML_MAPPING_END_EVENT: return (.mappingEnd, mark)
        default: fatalError("yaml_parser_parse succeeded with no event (type \(event.type.rawValue))")
        }
    }

    /// libyaml counts from 0; editors, and this module's marks, from 1.
    private func place(_ mark: yaml_mark_t) -> YAMLNode.Mark {
        YAMLNode.Mark(line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }

    private func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: $0) }
    }

    private func style(_ style: yaml_scalar_style_t) -> YAMLNode.ScalarStyle {
        switch style {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: .singleQuoted
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: .doubleQuoted
        case YAML_LITERAL_SCALAR_STYLE: .literal
        case YAML_FOLDED_SCALAR_STYLE: .folded
        default: .plain
        }
    }

    /// libyaml's error, placed: a reader error (bad encoding) has only a byte offset,
    /// a scanner or parser error has a mark, and its context says what it was reading.
    private func error() -> YAMLError {
        let state = parser.pointee
        var problem = state.problem.map { String(cString: $0) } ?? "libyaml failed (error \(state.error.rawValue))"
        if state.error == YAML_READER_ERROR {
            if state.problem_value != -1 {
                problem += " (0x" + String(state.problem_value, radix: 16, uppercase: true) + ")"
            }
            let mark = YAMLNode.Mark(offset: Int(state.problem_offset), in: input.prefix(count))
            return YAMLError(at: mark, problem)
        }
        if state.error == YAML_MEMORY_ERROR {
            return YAMLError(at: place(state.mark), "libyaml ran out of memory")
        }
        if let context = state.context.map({ String(cString: $0) }) {
            let contextLine = place(state.context_mark).line
            let sameLine = contextLine == place(state.problem_mark).line
            problem = context + (sameLine ? "" : " (from line \(contextLine))") + ": " + problem
        }
        let mark = place(state.problem_mark)
        if state.error == YAML_SCANNER_ERROR && !problem.contains("tab") && isIndentedWithTab(line: mark.line) {
            problem += " (a tab in the indentation: YAML indents with spaces)"
        }
        return YAMLError(at: mark, problem)
    }

    /// Whether a tab comes before the first other character of `line`: libyaml
    /// says only "cannot start any token", and a tab is the usual reason.
    private func isIndentedWithTab(line: Int) -> Bool {
        var current = 1
        var previous: UInt8 = 0
        for byte in input.prefix(count) {
            defer { previous = byte }
            if byte == UInt8(ascii: "\n") && previous == UInt8(ascii: "\r") { continue }
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                if current == line { return false }
                current += 1
            } else if current == line && byte != UInt8(ascii: " ") {
                return byte == UInt8(ascii: "\t")
            }
        }
        return false
    }
}
