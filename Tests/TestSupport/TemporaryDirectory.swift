public import Glibc

/// A fresh directory under /tmp, removed with everything in it when the value goes.
public final class TemporaryDirectory {
    public let path: String

    public init() {
        var template = Array("/tmp/filer-test-XXXXXX".utf8CString)
        path = String(cString: mkdtemp(&template)!)
    }

    deinit {
        _ = system("rm -rf '\(path)'")
    }

    @discardableResult
    public func write(_ name: String, _ bytes: [UInt8]) -> String {
        let full = path + "/" + name
        if let slash = name.lastIndex(of: "/") {
            _ = system("mkdir -p '\(path)/\(name[..<slash])'")
        }
        let file = fopen(full, "wb")!
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
        return full
    }

    /// Writes `text` to `name` with `mode`, set exactly whatever the umask.
    @discardableResult
    public func write(_ name: String, _ text: String, mode: mode_t = 0o644) -> String {
        let full = write(name, Array(text.utf8))
        chmod(full, mode)
        return full
    }

    public func mode(of name: String) -> mode_t {
        var info = stat()
        precondition(stat(path + "/" + name, &info) == 0)
        return info.st_mode & 0o777
    }
}

/// Reads a whole file as text (tests only).
public func readFile(_ path: String) throws -> String {
    struct Unreadable: Error { let path: String }
    guard let file = fopen(path, "rb") else { throw Unreadable(path: path) }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let got = fread(&chunk, 1, chunk.count, file)
        if got == 0 { break }
        bytes += chunk[..<got]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// A file of this repository, found from this source file's place in it.
public func repositoryPath(_ relative: String, file: StaticString = #filePath) -> String {
    "/" + "\(file)".split(separator: "/").dropLast(3).joined(separator: "/") + "/" + relative
}
