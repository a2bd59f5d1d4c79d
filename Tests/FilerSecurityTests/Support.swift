import Glibc
import Testing

/// A fresh flat directory under /tmp, removed with its files when the value goes.
final class ScratchDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/filer-security-XXXXXX".utf8CString)
        let made = try #require(mkdtemp(&template), "mkdtemp failed: errno \(errno)")
        path = String(decoding: UnsafeRawBufferPointer(start: made, count: strlen(made)), as: UTF8.self)
    }

    deinit {
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(directory)
        }
        rmdir(path)
    }

    /// Writes `text` to `name` with `mode` (set exactly, whatever the umask).
    @discardableResult
    func write(_ name: String, _ text: String, mode: mode_t = 0o644) -> String {
        let full = path + "/" + name
        let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        precondition(fd >= 0, "open(\(full)) failed: errno \(errno)")
        let bytes = Array(text.utf8)
        precondition(bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count)
        fchmod(fd, mode)
        close(fd)
        return full
    }

    func mode(of name: String) -> mode_t {
        var info = stat()
        precondition(stat(path + "/" + name, &info) == 0)
        return info.st_mode & 0o777
    }
}

/// Runs Debian's Python (which has pyzmq) on `script`.
/// - Returns: what it printed, lines trimmed; the test fails when Python does.
func python(_ script: String) throws -> [String] {
    let scriptFile = try ScratchDirectory()
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
