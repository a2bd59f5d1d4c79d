import Glibc

/// What small configuration-like files (certificates) need: read one whole with its
/// permissions, list a directory, create one that must not exist yet.
extension Files {
    /// A regular file's bytes and the permission bits it had when read.
    public struct Contents: Sendable {
        public let bytes: [UInt8]
        /// The mode's permission bits (`0o600`), from the same descriptor the bytes came from.
        public let permissions: UInt32
    }

    /// Reads a whole regular file of at most `maximumBytes`.
    ///
    /// The permissions come from `fstat` on the descriptor that is read, so a file swapped
    /// between a check and the read cannot pass one's check with the other's content.
    /// O_NONBLOCK keeps a FIFO given by mistake from hanging the caller; it changes
    /// nothing for a regular file.
    /// - Throws: `SystemError` naming the call and `path`: EISDIR for a directory,
    ///   EINVAL for another kind of file, EFBIG past `maximumBytes`.
    public static func readRegularFile(_ path: String, maximumBytes: Int) throws(SystemError) -> Contents {
        let file = FileDescriptor(owning: try retryingInterrupts("open(\(path))") {
            open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        })
        var info = stat()
        try retryingInterrupts("fstat(\(path))") { fstat(file.rawValue, &info) }
        let kind = info.st_mode & S_IFMT
        if kind == S_IFDIR { throw SystemError("read(\(path))", errno: EISDIR) }
        if kind != S_IFREG { throw SystemError("read(\(path)): not a regular file", errno: EINVAL) }
        let bytes = try file.readToEnd(path: path, maximumBytes: maximumBytes)
        return Contents(bytes: bytes, permissions: UInt32(info.st_mode) & 0o7777)
    }

    /// The names in a directory, "." and ".." left out, sorted so that whatever is
    /// reported about them comes in the same order every time.
    /// - Throws: `SystemError` naming `opendir` or `readdir` (ENOTDIR: `path` is a file).
    public static func names(inDirectory path: String) throws(SystemError) -> [String] {
        guard let directory = opendir(path) else { throw SystemError("opendir(\(path))") }
        defer { closedir(directory) }
        var names: [String] = []
        while true {
            // readdir returns NULL both at the end and on error; only errno tells them apart.
            errno = 0
            guard let entry = readdir(directory) else {
                if errno != 0 { throw SystemError("readdir(\(path))") }
                break
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Creates `path`, which must not exist yet (O_EXCL: not even as a dangling symlink),
    /// with exactly `permissions`: the umask is undone with `fchmod`, so a public file
    /// meant to be 0644 is 0644 whatever the umask.
    /// - Throws: `SystemError` naming `open` (EEXIST when the file is there) or `fchmod`.
    public static func createExclusive(_ path: String, permissions: UInt32) throws(SystemError) -> FileDescriptor {
        let file = FileDescriptor(owning: try retryingInterrupts("open(\(path))") {
            open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(permissions))
        })
        try retryingInterrupts("fchmod(\(path))") { fchmod(file.rawValue, mode_t(permissions)) }
        return file
    }

    /// Whether anything, a dangling symlink included, is at `path`.
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Removes a file (not a directory).
    public static func remove(_ path: String) throws(SystemError) {
        try retryingInterrupts("unlink(\(path))") { unlink(path) }
    }
}

extension FileDescriptor {
    /// Flushes the file to the disk (fsync), so that what was written survives a crash.
    public func synchronize() throws(SystemError) {
        try retryingInterrupts("fsync") { fsync(rawValue) }
    }
}

extension SystemError {
    /// The call failed because something already is at the path (EEXIST).
    public var isFileExists: Bool { errno == EEXIST }

    /// The path names a file where a directory was expected (ENOTDIR).
    public var isNotDirectory: Bool { errno == ENOTDIR }
}
