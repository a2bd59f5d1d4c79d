public import ZeroMQ

/// The keys a daemon runs with, read from the files the configuration names.
public struct CurveSetup: Sendable {
    /// This daemon's own keypair.
    public let keyPair: Curve.KeyPair
    /// The public keys let in (on a broker).
    public let authorized: AuthorizedKeys
    /// The worker hosts' keys, when they are kept apart from the clients' (on a broker).
    public let workers: AuthorizedKeys?
    /// The brokers' public key (on a worker host).
    public let brokerKey: Curve.Key?

    /// Reads every file named; nil when CURVE is off (no certificate).
    /// - Throws: `SecurityError` naming the file that cannot be used, or saying that
    ///   this libzmq has no CURVE.
    public static func load(
        certificate: String?, authorizedKeys: String?, workerKeys: String? = nil, brokerKey: String?
    ) throws(SecurityError) -> CurveSetup? {
        guard let certificate else { return nil }
        guard Curve.isAvailable else {
            throw SecurityError(file: certificate, message: "this libzmq was built without CURVE (zmq_has(\"curve\") is false)")
        }
        return CurveSetup(
            keyPair: try CertificateFile.loadSecret(certificate),
            authorized: try authorizedKeys.map { path throws(SecurityError) in try AuthorizedKeys.load(from: path) } ?? AuthorizedKeys(),
            workers: try workerKeys.map { path throws(SecurityError) in try AuthorizedKeys.load(from: path) },
            brokerKey: try brokerKey.map { path throws(SecurityError) in try CertificateFile.loadPublic(path).publicKey })
    }
}
