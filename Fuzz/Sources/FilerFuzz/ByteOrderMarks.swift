/// JSON text with each raw U+FEFF inside a string written as the escape `\ufeff`, the
/// same string to RFC 8259. Swift 6.3.1's JSONSerialization drops a raw U+FEFF that
/// starts a string or follows an escape in one (it decodes each run of plain bytes as if
/// it were a file with a byte order mark), so the oracles hand it the escaped form.
/// After a backslash the byte is left as it is: a backslash before U+FEFF is no escape,
/// and the text must stay invalid.
func escapingByteOrderMarks(_ json: [UInt8]) -> [UInt8] {
    var output: [UInt8] = []
    output.reserveCapacity(json.count)
    var inString = false
    var index = 0
    while index < json.count {
        let byte = json[index]
        if inString, byte == 0xEF, index + 2 < json.count, json[index + 1] == 0xBB, json[index + 2] == 0xBF {
            output += Array(#"\ufeff"#.utf8)
            index += 3
            continue
        }
        output.append(byte)
        index += 1
        if byte == UInt8(ascii: "\"") {
            inString.toggle()
        } else if inString, byte == UInt8(ascii: "\\"), index < json.count {
            output.append(json[index])
            index += 1
        }
    }
    return output
}
