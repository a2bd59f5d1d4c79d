import Glibc

/// A fresh directory under /tmp, removed with everything in it when the value goes.
final class TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/filer-test-XXXXXX".utf8CString)
        path = String(cString: mkdtemp(&template)!)
    }

    deinit {
        _ = system("rm -rf '\(path)'")
    }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let full = path + "/" + name
        if let slash = name.lastIndex(of: "/") {
            _ = system("mkdir -p '\(path)/\(name[..<slash])'")
        }
        let file = fopen(full, "wb")!
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
        return full
    }

    func write(_ name: String, _ text: String) { write(name, Array(text.utf8)) }
}
