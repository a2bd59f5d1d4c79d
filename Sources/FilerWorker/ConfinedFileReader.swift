import Glibc
public import Posix
public import FilerProtocol

/// Why a file could not be read: an errno value (`EXDEV` for a path that leads outside
/// the root, `EFBIG` for one over the size limit, `EISDIR`, ...) and what it concerns.
/// The protocol layer turns it into a reply's code and message.
public struct ReadError: Error, Equatable {
    public let errno: Int32
    /// What failed, for the message: a call ("openat2") or a detail ("is 2048 bytes").
    public let detail: String

    public init(errno: Int32, detail: String) {
        self.errno = errno
        self.detail = detail
    }
}

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
    public func read(_ path: String, into buffer: ByteBuffer) throws(ReadError) {
        let file = try open(path)
        try readAll(file, into: buffer)
    }

    /// Opens the regular file `path` names beneath the root, to be read with `readAll`
    /// or a piece at a time (`OpenFile.read`).
    public func open(_ path: String) throws(ReadError) -> OpenFile {
        let utf8 = path.utf8
        // memchr over the String's own bytes: iterating the UTF-8 view took 300 instructions.
        let hasNUL = utf8.withContiguousStorageIfAvailable { bytes in
            bytes.baseAddress.map { memchr($0, 0, bytes.count) != nil } ?? false
        } ?? utf8.contains(0)
        guard !hasNUL else { throw ReadError(errno: EINVAL, detail: "the path contains a NUL byte") }
        // Leading slashes dropped; a path that has none, the usual case, is used as it is.
        let start = utf8.firstIndex { $0 != UInt8(ascii: "/") } ?? utf8.endIndex
        let name = start == utf8.endIndex ? "." : start == utf8.startIndex ? path : String(path[start...])

        let file: FileDescriptor
        do throws(SystemError) {
            // O_NONBLOCK: opening a FIFO must not wait for a writer.
            file = try Files.openBeneath(root, path: name, flags: O_RDONLY | O_NONBLOCK | O_NOCTTY)
        } catch {
            throw ReadError(errno: error.errno, detail: error.call)
        }
        let info: stat
        do throws(SystemError) {
            info = try Files.status(of: file)
        } catch {
            throw ReadError(errno: error.errno, detail: error.call)
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw ReadError(errno: EISDIR, detail: "a directory")
        default: throw ReadError(errno: EACCES, detail: "not a regular file")
        }
        if Int(info.st_size) > maxFileSize {
            throw ReadError(errno: EFBIG, detail: "\(info.st_size) bytes, over the limit of \(maxFileSize)")
        }
        return OpenFile(descriptor: file, size: Int(info.st_size), maxFileSize: maxFileSize)
    }

    /// Reads to end of file: the file may have grown or shrunk since fstat.
    public func readAll(_ file: borrowing OpenFile, into buffer: ByteBuffer) throws(ReadError) {
        buffer.removeAll()
        // One byte beyond the expected size tells growth from end of file.
        buffer.reserve(min(file.size, maxFileSize) + 1)
        while true {
            if buffer.count == buffer.capacity {
                guard buffer.count <= maxFileSize else { throw file.grewTooBig }
                buffer.reserve(min(buffer.capacity * 2, maxFileSize + 1))
            }
            let spare = buffer.spare
            let got = try file.read(into: spare, at: buffer.count)
            buffer.didWrite(got)
            // A regular file reads short only at its end: trusting that, as a web server
            // trusts st_size, saves the second pread that would return 0. Growth still
            // shows, as a read that fills the byte beyond the size fstat gave.
            if got < spare.count { break }
        }
        if buffer.count > maxFileSize { throw file.grewTooBig }
    }
}

/// A regular file opened beneath the root, and its size when it was opened.
public struct OpenFile: ~Copyable {
    let descriptor: FileDescriptor
    /// `st_size` at the open: the file may grow or shrink while it is read.
    public let size: Int
    let maxFileSize: Int

    /// Reads at most `buffer.count` bytes at `offset`. - Returns: how many were read; a
    /// regular file reads short only at its end.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(ReadError) -> Int {
        while true {
            let got = pread(descriptor.rawValue, buffer.baseAddress, buffer.count, off_t(offset))
            if got >= 0 { return got }
            if errno != EINTR { throw ReadError(errno: errno, detail: "read") }
        }
    }

    /// The error for a file that grew past the limit while it was read. Made only when
    /// thrown: building its message on every read cost 1,300 instructions a request.
    public var grewTooBig: ReadError {
        ReadError(errno: EFBIG, detail: "grew over the limit of \(maxFileSize) bytes")
    }
}

extension FileError {
    /// The reply for a file that could not be read: the errno becomes the code.
    public init(reading path: String, _ failure: ReadError) {
        switch failure.errno {
        case ENOENT, ENOTDIR: self.init(.noSuchFile, "no such file: \(path)")
        case EXDEV: self.init(.accessDenied, "\(path) leads outside the served directory")
        case ELOOP: self.init(.symlinkLoop, "\(path): too many levels of symbolic links")
        case EACCES where failure.detail == "not a regular file": self.init(.accessDenied, "\(path) is not a regular file")
        case EACCES, EPERM, ENXIO: self.init(.accessDenied, "permission denied: \(path)")
        case EISDIR: self.init(.isDirectory, "\(path) is a directory")
        case EFBIG: self.init(.tooBig, "\(path) is \(failure.detail)")
        case ENAMETOOLONG: self.init(.nameTooLong, "the path is too long")
        case EINVAL: self.init(.badRequest, failure.detail)
        default: self.init(.ioError, "\(path): \(SystemError(failure.detail, errno: failure.errno))")
        }
    }
}
