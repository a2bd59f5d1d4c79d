import FilerProtocol

/// libFuzzer calls this once per input: the input is both a request frame and the
/// content of a file, so one corpus exercises the decoder and the writer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    RequestOracle.check(input)
    ReplyOracle.check(input)
    return 0
}

/// Stops the run with what disagreed and the input in hex; libFuzzer then saves the input
/// as a crash file and says where.
func disagreement(_ what: String, input: UnsafeRawBufferPointer) -> Never {
    let hex = input.map { byte in
        let digits = String(byte, radix: 16)
        return byte < 0x10 ? "0" + digits : digits
    }.joined()
    fatalError("\(what)\ninput (\(input.count) bytes): \(hex)")
}
