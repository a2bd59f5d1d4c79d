public import Glibc
import CFilerLinux

public enum Files {
    /// Opens a directory to resolve paths beneath it (O_PATH: no read permission needed on it).
    public static func openDirectory(_ path: String) throws(SystemError) -> FileDescriptor {
        let raw = try retryingInterrupts("open(\(path))") {
            filer_open_directory_path(path)
        }
        return FileDescriptor(owning: raw)
    }

    /// Opens `path` read-only beneath `directory`; the kernel refuses (EXDEV) any
    /// resolution that would leave it, whether by "..", an absolute path or a symlink.
    public static func openBeneath(
        _ directory: borrowing FileDescriptor, path: String, flags: Int32
    ) throws(SystemError) -> FileDescriptor {
        // withCString: passing the String itself would copy it into a new array first.
        let raw = try retryingInterrupts("openat2") {
            path.withCString { filer_openat_beneath(directory.rawValue, $0, flags | O_CLOEXEC) }
        }
        return FileDescriptor(owning: raw)
    }

    public static func status(of file: borrowing FileDescriptor) throws(SystemError) -> stat {
        var info = stat()
        try retryingInterrupts("fstat") { fstat(file.rawValue, &info) }
        return info
    }

    /// The absolute path with symlinks resolved (realpath), or nil if it does not exist.
    public static func canonicalPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Creates the directories an `ipc://` endpoint's socket file needs (like `mkdir -p`);
    /// does nothing for other transports. Failures show when the bind fails.
    public static func makeParentDirectory(ofIPCEndpoint endpoint: String) {
        guard endpoint.hasPrefix("ipc://") else { return }
        let path = endpoint.dropFirst("ipc://".count)
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        var prefix = ""
        for component in path[..<slash].split(separator: "/") {
            prefix += "/" + component
            _ = mkdir(prefix, 0o755)
        }
    }

    /// Whether another process listens on an `ipc://` endpoint now. libzmq 4.3.4 unlinks
    /// an existing socket file before it binds, so binding would steal a live endpoint.
    public static func isListening(ipcEndpoint endpoint: String) throws(SystemError) -> Bool {
        guard endpoint.hasPrefix("ipc://") else { return false }
        let result = filer_unix_socket_listening(String(endpoint.dropFirst("ipc://".count)))
        if result < 0 { throw SystemError("connect(\(endpoint))", errno: -result) }
        return result == 1
    }

    /// The socket file an `ipc://` endpoint is bound to, by device and inode: nil for other
    /// transports, the abstract namespace, or no such socket.
    public static func socketIdentity(ofIPCEndpoint endpoint: String) -> SocketIdentity? {
        guard endpoint.hasPrefix("ipc://"), !endpoint.hasPrefix("ipc://@") else { return nil }
        var info = stat()
        guard lstat(String(endpoint.dropFirst("ipc://".count)), &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK else {
            return nil
        }
        return SocketIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// Removes the socket file an `ipc://` endpoint was bound to, if it is still the one
    /// we bound (`identity`): libzmq 4.3.4 leaves its own behind, and another process may
    /// have bound the same path since.
    public static func removeSocketFile(ofIPCEndpoint endpoint: String, ifStill identity: SocketIdentity) {
        guard socketIdentity(ofIPCEndpoint: endpoint) == identity else { return }
        unlink(String(endpoint.dropFirst("ipc://".count)))
    }

    /// Whether `path` names a directory this process can search.
    public static func isSearchableDirectory(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { return false }
        return access(path, X_OK) == 0
    }
}

/// A socket file, told apart from one bound at the same path later.
public struct SocketIdentity: Equatable, Sendable {
    public let device: UInt64
    public let inode: UInt64
}

/// Reads a whole (small) text file, whatever kind of file it is (`/dev/null` included).
/// - Throws: `SystemError` (EFBIG when the file holds more than `maximumBytes`).
public func readTextFile(_ path: String, maximumBytes: Int = 1 << 20) throws(SystemError) -> String {
    let file = FileDescriptor(owning: try retryingInterrupts("open(\(path))") { open(path, O_RDONLY | O_CLOEXEC) })
    return String(decoding: try file.readToEnd(path: path, maximumBytes: maximumBytes), as: UTF8.self)
}

public func geteuidIsRoot() -> Bool { geteuid() == 0 }

public func currentUID() -> UInt32 { getuid() }
