import CZeroMQ
import Glibc

/// ZeroMQ's CURVE mechanism (RFC 26): its keys, and the Z85 text form they travel in.
public enum Curve {
    /// Whether this libzmq was built with CURVE (Debian's is, with libsodium).
    public static var isAvailable: Bool { zmq_has("curve") != 0 }

    /// A CURVE key, public or secret: 32 raw bytes, 40 characters in Z85.
    public struct Key: Hashable, Sendable, CustomStringConvertible {
        public static let byteCount = 32
        public static let z85Count = 40

        public let bytes: [UInt8]

        /// - Returns: nil unless `bytes` is exactly 32 bytes long.
        public init?(bytes: [UInt8]) {
            guard bytes.count == Self.byteCount else { return nil }
            self.bytes = bytes
        }

        /// - Returns: nil unless `z85` is 40 characters of valid Z85.
        public init?(z85: String) {
            guard z85.utf8.count == Self.z85Count, let bytes = Curve.z85Decode(z85) else { return nil }
            self.bytes = bytes
        }

        /// The 40-character Z85 form certificate files and `zmq_setsockopt` accept.
        public var z85: String {
            // 32 bytes is a multiple of 4, the only thing zmq_z85_encode refuses.
            Curve.z85Encode(bytes)!
        }

        /// Says nothing of the key: the same type holds secret keys, and an interpolated
        /// value must not leak one into a log. Ask for `z85` to print a public key.
        public var description: String { "Curve.Key(32 bytes)" }
    }

    /// A public key and the secret key it belongs to.
    public struct KeyPair: Hashable, Sendable, CustomStringConvertible {
        public let publicKey: Key
        public let secretKey: Key

        /// Pairs two keys as given; `Curve.publicKey(fromSecret:)` checks that they belong together.
        public init(publicKey: Key, secretKey: Key) {
            self.publicKey = publicKey
            self.secretKey = secretKey
        }

        /// A new random key pair (zmq_curve_keypair, from libsodium's random source).
        /// - Throws: `ZeroMQError` (ENOTSUP when libzmq lacks CURVE).
        public static func generate() throws(ZeroMQError) -> KeyPair {
            var publicText = [CChar](repeating: 0, count: Key.z85Count + 1)
            var secretText = [CChar](repeating: 0, count: Key.z85Count + 1)
            try checked("zmq_curve_keypair") { zmq_curve_keypair(&publicText, &secretText) }
            guard let publicKey = Key(z85: Curve.string(publicText)),
                let secretKey = Key(z85: Curve.string(secretText))
            else { throw ZeroMQError("zmq_curve_keypair", errno: EPROTO) }
            return KeyPair(publicKey: publicKey, secretKey: secretKey)
        }

        public var description: String { "Curve.KeyPair(public \(publicKey.z85), secret withheld)" }
    }

    /// The public key that belongs to `secret` (zmq_curve_public).
    /// - Throws: `ZeroMQError` (ENOTSUP when libzmq lacks CURVE).
    public static func publicKey(fromSecret secret: Key) throws(ZeroMQError) -> Key {
        var publicText = [CChar](repeating: 0, count: Key.z85Count + 1)
        let secretText = secret.z85
        try checked("zmq_curve_public") { zmq_curve_public(&publicText, secretText) }
        guard let key = Key(z85: Curve.string(publicText)) else {
            throw ZeroMQError("zmq_curve_public", errno: EPROTO)
        }
        return key
    }

    /// Z85 (ZeroMQ RFC 32) text for `bytes`.
    /// - Returns: nil unless the length is a multiple of 4, as Z85 requires.
    public static func z85Encode(_ bytes: [UInt8]) -> String? {
        guard bytes.count % 4 == 0 else { return nil }
        var text = [CChar](repeating: 0, count: bytes.count / 4 * 5 + 1)
        let encoded = bytes.withUnsafeBufferPointer { raw in zmq_z85_encode(&text, raw.baseAddress, raw.count) }
        guard encoded != nil else { return nil }
        return string(text)
    }

    /// The text of a NUL-terminated buffer libzmq filled.
    private static func string(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The bytes a Z85 text stands for.
    /// - Returns: nil unless the text is a non-empty multiple of 5 characters, all in
    ///   Z85's alphabet, with no group above 2³²−1 (libzmq 4.3.4 checks all three).
    public static func z85Decode(_ text: String) -> [UInt8]? {
        let length = text.utf8.count
        // zmq_z85_decode reads up to the first NUL: one inside would hide the rest.
        guard length > 0, length % 5 == 0, !text.utf8.contains(0) else { return nil }
        var bytes = [UInt8](repeating: 0, count: length / 5 * 4)
        let decoded = zmq_z85_decode(&bytes, text)
        return decoded == nil ? nil : bytes
    }
}
