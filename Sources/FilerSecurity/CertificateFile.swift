import Posix
public import ZeroMQ

/// Certificate files on disk: `NAME.key` (public, 0644) and `NAME.key_secret` (both
/// keys, 0600), the pair `zmq.auth.create_certificates` and `zcert_save` make.
public enum CertificateFile {
    /// Certificates are a few hundred bytes; a larger file is a mistake, not a certificate.
    public static let maximumBytes = 64 * 1024

    /// The public certificate's suffix; pyzmq's `load_certificates` and CZMQ's
    /// `zcertstore` read only such files as authorized keys.
    public static let publicSuffix = ".key"
    public static let secretSuffix = ".key_secret"

    /// Reads a certificate for its public key; a secret certificate serves as well.
    /// - Throws: `SecurityError` naming the file (and the line, when one is malformed).
    public static func loadPublic(_ path: String) throws(SecurityError) -> Certificate {
        try parse(try read(path).bytes, path: path)
    }

    /// Reads this process's own secret certificate. Refuses one that group or others
    /// may read: a secret key others have seen no longer proves who we are.
    /// - Throws: `SecurityError` naming the file: unreadable, readable by others,
    ///   malformed, or holding no secret key.
    public static func loadSecret(_ path: String) throws(SecurityError) -> Curve.KeyPair {
        let contents = try read(path)
        guard contents.permissions & 0o077 == 0 else {
            let mode = String(contents.permissions, radix: 8)
            throw SecurityError(
                file: path, message: "the secret key is readable by others (mode 0\(mode)): chmod 600 \(path)")
        }
        guard let keyPair = try parse(contents.bytes, path: path).keyPair else {
            throw SecurityError(file: path, message: "no secret-key: this is a public certificate, not a key_secret file")
        }
        return keyPair
    }

    /// Writes `certificate` to a new file: 0600 with the secret key, else 0644. Never
    /// replaces a file, and flushes it to the disk before returning.
    /// - Throws: `SecurityError` naming the file (its message says so when it exists).
    public static func save(_ certificate: Certificate, to path: String, includingSecret: Bool) throws(SecurityError) {
        let secret = includingSecret && certificate.secretKey != nil
        let text: String
        do {
            text = try certificate.text(includingSecret: secret)
        } catch {
            throw SecurityError(file: path, message: error.message)
        }
        let file: FileDescriptor
        do {
            file = try Files.createExclusive(path, permissions: secret ? 0o600 : 0o644)
        } catch {
            if error.isFileExists { throw SecurityError(file: path, message: "already exists; it is left as it is") }
            throw SecurityError(file: path, message: "cannot create: \(error)")
        }
        do {
            try file.writeAll(text.utf8)
            try file.synchronize()
        } catch let writeError {
            // A truncated certificate must not stay behind to be read later.
            do {
                try Files.remove(path)
            } catch {
                throw SecurityError(file: path, message: "cannot write: \(writeError); left truncated, remove it: \(error)")
            }
            throw SecurityError(file: path, message: "cannot write: \(writeError)")
        }
    }

    /// Writes `directory/NAME.key` and `directory/NAME.key_secret` for `keyPair`.
    /// Refuses before writing anything when either file exists, and removes the secret
    /// file again if the public one cannot be written, so no half pair is left behind.
    /// - Returns: the two paths, public first.
    public static func savePair(
        _ keyPair: Curve.KeyPair, directory: String, name: String, metadata: [String: String] = [:]
    ) throws(SecurityError) -> (publicPath: String, secretPath: String) {
        let base = directory.hasSuffix("/") ? directory + name : directory + "/" + name
        let paths = (publicPath: base + publicSuffix, secretPath: base + secretSuffix)
        for path in [paths.publicPath, paths.secretPath] where Files.exists(path) {
            throw SecurityError(file: path, message: "already exists; it is left as it is")
        }
        let certificate = Certificate(keyPair, metadata: metadata)
        try save(certificate, to: paths.secretPath, includingSecret: true)
        do {
            try save(certificate, to: paths.publicPath, includingSecret: false)
        } catch {
            do {
                try Files.remove(paths.secretPath)
            } catch {
                throw SecurityError(file: paths.secretPath, message: "left behind after a failure, remove it: \(error)")
            }
            throw error
        }
        return paths
    }

    private static func read(_ path: String) throws(SecurityError) -> Files.Contents {
        do {
            return try Files.readRegularFile(path, maximumBytes: maximumBytes)
        } catch {
            throw SecurityError(file: path, message: "cannot read: \(error)")
        }
    }

    private static func parse(_ bytes: [UInt8], path: String) throws(SecurityError) -> Certificate {
        do {
            return try Certificate(parsing: String(decoding: bytes, as: UTF8.self))
        } catch {
            throw SecurityError(file: path, line: error.line, message: error.message)
        }
    }
}
