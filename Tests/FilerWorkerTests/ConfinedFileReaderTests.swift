@testable import FilerWorker
import FilerProtocol
import Glibc
import Testing
import TestSupport

@Suite struct ConfinedFileReaderTests {
    let outside = TemporaryDirectory()
    let root = TemporaryDirectory()

    init() {
        outside.write("secret.txt", "secret")
        root.write("hello.txt", "hello")
        root.write("dir/nested.txt", "nested")
        symlink(outside.path + "/secret.txt", root.path + "/absolute-link-out")
        symlink("../" + outside.path.split(separator: "/").last! + "/secret.txt", root.path + "/relative-link-out")
        symlink("hello.txt", root.path + "/link-in")
        mkfifo(root.path + "/fifo", 0o600)
        root.write("big.bin", [UInt8](repeating: 0x61, count: 1025))
    }

    func read(_ path: String, limit: Int = 1024) -> Result<String, FileError> {
        let reader = try! ConfinedFileReader(root: root.path, maxFileSize: limit)
        let buffer = ByteBuffer(capacity: 1)
        do {
            try reader.read(path, into: buffer)
            return .success(String(decoding: buffer.bytes, as: UTF8.self))
        } catch {
            return .failure(FileError(reading: path, error))
        }
    }

    func code(_ path: String) -> String? {
        if case .failure(let error) = read(path) { return error.code.rawValue }
        return nil
    }

    @Test func readsFilesBeneathTheRoot() throws {
        #expect(try read("hello.txt").get() == "hello")
        #expect(try read("/hello.txt").get() == "hello")
        #expect(try read("//dir/nested.txt").get() == "nested")
        #expect(try read("dir/../hello.txt").get() == "hello")
        #expect(try read("link-in").get() == "hello")
    }

    @Test func neverLeavesTheRoot() {
        #expect(code("../" + outside.path.split(separator: "/").last! + "/secret.txt") == "EACCES")
        #expect(code("dir/../../x") == "EACCES")
        #expect(code("absolute-link-out") == "EACCES")
        #expect(code("relative-link-out") == "EACCES")
        #expect(code(outside.path + "/secret.txt") == "ENOENT")  // means <root>/tmp/..., which is absent
        #expect(code("/proc/self/root/etc/passwd") == "ENOENT")
    }

    @Test func refusesWhatIsNotARegularFile() {
        #expect(code("") == "EISDIR")
        #expect(code("/") == "EISDIR")
        #expect(code("dir") == "EISDIR")
        #expect(code("fifo") == "EACCES")
        #expect(code("missing.txt") == "ENOENT")
        #expect(code("hello.txt/x") == "ENOENT")
        #expect(code("hello\0.txt") == "EBADREQ")
    }

    /// A loop of symlinks inside the root is a loop, not an escape.
    @Test func tellsASymlinkLoopFromAnEscape() {
        symlink("loop-b", root.path + "/loop-a")
        symlink("loop-a", root.path + "/loop-b")
        #expect(code("loop-a") == "ELOOP")
    }

    @Test func enforcesTheSizeLimit() throws {
        #expect(code("big.bin") == "EFBIG")
        #expect(try read("big.bin", limit: 1025).get().count == 1025)
    }

    @Test func reusesItsBufferAcrossSizes() throws {
        let reader = try ConfinedFileReader(root: root.path, maxFileSize: 4096)
        let buffer = ByteBuffer(capacity: 1)
        try reader.read("big.bin", into: buffer)
        #expect(buffer.count == 1025)
        try reader.read("hello.txt", into: buffer)
        #expect(String(decoding: buffer.bytes, as: UTF8.self) == "hello")
    }
}
