import Posix
public import ZeroMQ

/// The public keys allowed in: the CURVE counterpart of ssh's `authorized_keys`.
public struct AuthorizedKeys: Equatable, Sendable {
    public private(set) var keys: Set<Curve.Key>

    public init(_ keys: some Sequence<Curve.Key> = []) {
        self.keys = Set(keys)
    }

    public func contains(_ key: Curve.Key) -> Bool { keys.contains(key) }

    public var count: Int { keys.count }

    /// Loads the keys of a directory of certificates or of one certificate file.
    ///
    /// In a directory, every `*.key` file counts, as with pyzmq's `load_certificates` and
    /// CZMQ's `zcertstore`: a `.key` file that also holds a secret key counts by its
    /// public key; `NAME.key_secret` files, hidden files and other names are ignored.
    /// A single file is read whatever its name. An empty directory gives an empty set,
    /// which refuses everyone: a fresh install may have no peers yet.
    /// - Throws: `SecurityError` naming the path that cannot be read, or the `.key`
    ///   file (and line) that is malformed: one bad file fails the whole load, so a
    ///   typo never silently locks a peer out.
    public static func load(from path: String) throws(SecurityError) -> AuthorizedKeys {
        let names: [String]
        do {
            names = try Files.names(inDirectory: path)
        } catch {
            if error.isNotDirectory { return AuthorizedKeys([try CertificateFile.loadPublic(path).publicKey]) }
            throw SecurityError(file: path, message: "cannot read the directory: \(error)")
        }
        var keys = Set<Curve.Key>()
        let directory = path.hasSuffix("/") ? path : path + "/"
        for name in names where name.hasSuffix(CertificateFile.publicSuffix) && !name.hasPrefix(".") {
            keys.insert(try CertificateFile.loadPublic(directory + name).publicKey)
        }
        return AuthorizedKeys(keys)
    }
}
