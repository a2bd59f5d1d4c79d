import Glibc
import Testing
import TestSupport

/// Runs Debian's Python (which has pyzmq) on `script`.
/// - Returns: what it printed, lines trimmed; the test fails when Python does.
func python(_ script: String) throws -> [String] {
    let scriptFile = TemporaryDirectory()
    let path = scriptFile.write("script.py", script)
    let pipe = try #require(popen("/usr/bin/python3 \(path) 2>&1", "r"))
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let got = fread(&buffer, 1, buffer.count, pipe)
        if got == 0 { break }
        output += buffer[..<got]
    }
    let status = pclose(pipe)
    let text = String(decoding: output, as: UTF8.self)
    try #require(status == 0, "python3 failed (status \(status)): \(text)")
    return text.split(separator: "\n").map(String.init)
}
