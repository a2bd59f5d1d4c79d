import Glibc
public import Posix

/// Reads regular files beneath one directory and nowhere else.
///
/// Confinement is the kernel's: every open is an openat2(2) with RESOLVE_BENEATH
/// relative to the root directory, so "..", absolute symlinks and symlinks that
/// climb out all fail inside the kernel, with no check-then-open race.
public struct ConfinedFileReader: ~Copyable {
    private let root: FileDescriptor
    public let maxFileSize: Int

    /// - Throws: `SystemError` when the root directory cannot be opened, or when
    ///   openat2 does not work here (a kernel before 5.6, or a seccomp filter such as
    ///   systemd's RestrictSUIDSGID=): better a worker that cannot start, and says why,
    ///   than one that answers every request with EIO.
    public init(root path: String, maxFileSize: Int) throws(SystemError) {
        let directory = try Files.openDirectory(path)
        _ = try Files.openBeneath(directory, path: ".", flags: O_RDONLY | O_DIRECTORY)
        root = directory
        self.maxFileSize = maxFileSize
    }

    /// Reads the file `path` names beneath the root into `buffer` (replacing its contents).
    /// `a.txt` and `/a.txt` both name `<root>/a.txt`.
    /// - Throws: `FileError` with the code the reply carries.
    public func read(_ path: String, into buffer: ByteBuffer) throws(FileError) {
        guard !path.utf8.contains(0) else { throw .badRequest("the path contains a NUL byte") }
        var relative = Substring(path)
        while relative.hasPrefix("/") { relative = relative.dropFirst() }
        let name = relative.isEmpty ? "." : String(relative)

        let file: FileDescriptor
        do throws(SystemError) {
            // O_NONBLOCK: opening a FIFO must not wait for a writer.
            file = try Files.openBeneath(root, path: name, flags: O_RDONLY | O_NONBLOCK | O_NOCTTY)
        } catch {
            throw Self.openFailure(error, path: path)
        }
        let info: stat
        do throws(SystemError) {
            info = try Files.status(of: file)
        } catch {
            throw FileError("EIO", "\(path): \(error)")
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw FileError("EISDIR", "\(path) is a directory")
        default: throw FileError("EACCES", "\(path) is not a regular file")
        }
        if Int(info.st_size) > maxFileSize {
            throw FileError("EFBIG", "\(path) is \(info.st_size) bytes, over the limit of \(maxFileSize)")
        }
        try readAll(file, path: path, expected: Int(info.st_size), into: buffer)
    }

    /// Reads to end of file: the file may have grown or shrunk since fstat.
    private func readAll(
        _ file: borrowing FileDescriptor, path: String, expected: Int, into buffer: ByteBuffer
    ) throws(FileError) {
        buffer.count = 0
        // One byte beyond the expected size tells growth from end of file.
        buffer.reserve(min(expected, maxFileSize) + 1)
        while true {
            if buffer.count == buffer.capacity {
                guard buffer.count <= maxFileSize else {
                    throw FileError("EFBIG", "\(path) grew over the limit of \(maxFileSize) bytes")
                }
                buffer.reserve(min(buffer.capacity * 2, maxFileSize + 1))
            }
            let spare = buffer.spare
            let got = pread(file.rawValue, spare.baseAddress, spare.count, off_t(buffer.count))
            if got == 0 { break }
            if got < 0 {
                if errno == EINTR { continue }
                throw FileError("EIO", "\(path): \(SystemError("read"))")
            }
            buffer.count += got
        }
        if buffer.count > maxFileSize {
            throw FileError("EFBIG", "\(path) grew over the limit of \(maxFileSize) bytes")
        }
    }

    static func openFailure(_ error: SystemError, path: String) -> FileError {
        switch error.errno {
        case ENOENT, ENOTDIR: FileError("ENOENT", "no such file: \(path)")
        case EXDEV, ELOOP: FileError("EACCES", "\(path) leads outside the served directory")
        case EACCES, EPERM, ENXIO: FileError("EACCES", "permission denied: \(path)")
        case ENAMETOOLONG: FileError("ENAMETOOLONG", "the path is too long")
        default: FileError("EIO", "\(path): \(error)")
        }
    }
}
