public import ZeroMQ

/// A CURVE certificate as CZMQ's `zcert` and pyzmq's `zmq.auth` write it: ZPL with a
/// `curve` section holding `public-key` (and, in a secret certificate, `secret-key`)
/// in Z85, and a `metadata` section of free-form names and values.
public struct Certificate: Equatable, Sendable {
    public var publicKey: Curve.Key
    public var secretKey: Curve.Key?
    public var metadata: [String: String]

    public init(publicKey: Curve.Key, secretKey: Curve.Key? = nil, metadata: [String: String] = [:]) {
        self.publicKey = publicKey
        self.secretKey = secretKey
        self.metadata = metadata
    }

    public init(_ keyPair: Curve.KeyPair, metadata: [String: String] = [:]) {
        self.init(publicKey: keyPair.publicKey, secretKey: keyPair.secretKey, metadata: metadata)
    }

    /// Both keys, when this is a secret certificate.
    public var keyPair: Curve.KeyPair? {
        secretKey.map { Curve.KeyPair(publicKey: publicKey, secretKey: $0) }
    }

    /// What is wrong with a certificate's text, and on which line when one is to blame.
    public struct FormatError: Error, Equatable {
        public let line: Int?
        public let message: String
    }

    /// Reads a certificate, public or secret. Comments, the metadata section and any
    /// other section are allowed, as CZMQ and pyzmq allow them; the keys must be there
    /// once each and valid, and a secret key must be the public key's other half.
    /// - Throws: `FormatError` with the line at fault.
    public init(parsing text: String) throws(FormatError) {
        let properties: [ZPL.Property]
        do {
            properties = try ZPL.parse(text)
        } catch {
            throw FormatError(line: error.line, message: error.message)
        }
        var publicKey: (key: Curve.Key, line: Int)?
        var secretKey: (key: Curve.Key, line: Int)?
        var metadata: [String: String] = [:]
        for property in properties {
            switch property.path {
            case ["curve", "public-key"]:
                if let earlier = publicKey { throw Self.repeated(property, earlier: earlier.line) }
                publicKey = (try Self.key(in: property), property.line)
            case ["curve", "secret-key"]:
                if let earlier = secretKey { throw Self.repeated(property, earlier: earlier.line) }
                secretKey = (try Self.key(in: property), property.line)
            case let path where path.count == 2 && path[0] == "metadata":
                metadata[path[1]] = property.value ?? ""
            default:
                // Sections and names this code does not use: ZPL files may carry more.
                continue
            }
        }
        guard let publicKey else { throw FormatError(line: nil, message: "no public-key in a curve section") }
        if let secretKey {
            let derived: Curve.Key
            do {
                derived = try Curve.publicKey(fromSecret: secretKey.key)
            } catch {
                throw FormatError(line: secretKey.line, message: "cannot check the secret-key: \(error)")
            }
            guard derived == publicKey.key else {
                throw FormatError(
                    line: secretKey.line,
                    message: "the secret-key does not belong to the public-key on line \(publicKey.line)")
            }
        }
        self.init(publicKey: publicKey.key, secretKey: secretKey?.key, metadata: metadata)
    }

    private static func key(in property: ZPL.Property) throws(FormatError) -> Curve.Key {
        let name = property.path[property.path.count - 1]
        guard let value = property.value else { throw FormatError(line: property.line, message: "\(name) has no value") }
        guard let key = Curve.Key(z85: value) else {
            // The value is not printed: it may be a secret key with one character mistyped.
            throw FormatError(
                line: property.line,
                message: "\(name) is not a CURVE key: expected 40 characters of Z85, found \(value.count) characters")
        }
        return key
    }

    private static func repeated(_ property: ZPL.Property, earlier: Int) -> FormatError {
        FormatError(line: property.line, message: "\(property.path.joined(separator: ".")) again (first on line \(earlier))")
    }

    /// The certificate as ZPL, laid out as pyzmq and CZMQ lay theirs out, so that
    /// `zmq.auth.load_certificate` and `zcert_load` read it back.
    /// - Parameter includingSecret: whether to write the secret key (ignored when there is none).
    /// - Throws: `FormatError` when a metadata name or value cannot be written as ZPL.
    public func text(includingSecret: Bool) throws(FormatError) -> String {
        let secret = includingSecret ? secretKey : nil
        var text = secret == nil
            ? "#   ZeroMQ CURVE Public Certificate, written by filer.\n"
                + "#   Give it to the peers that should trust this key, by a channel you trust.\n"
            : "#   ZeroMQ CURVE **Secret** Certificate, written by filer.\n"
                + "#   Keep it private (mode 0600): whoever can read it can pass for its owner.\n"
        text += "\nmetadata\n"
        for (name, value) in metadata.sorted(by: { $0.key < $1.key }) {
            guard !name.isEmpty, name.allSatisfy(ZPL.isNameCharacter) else {
                throw FormatError(line: nil, message: "metadata name \"\(name)\" is not a ZPL name")
            }
            guard let quoted = ZPL.quoted(value) else {
                throw FormatError(line: nil, message: "the metadata value of \(name) holds a line break or both quotes")
            }
            text += "    \(name) = \(quoted)\n"
        }
        text += "curve\n    public-key = \"\(publicKey.z85)\"\n"
        if let secret { text += "    secret-key = \"\(secret.z85)\"\n" }
        return text
    }
}
