import CZeroMQ

/// Socket options for CURVE (RFC 26) and ZAP (RFC 27). Each must be set before the
/// socket binds or connects: libzmq reads them when a connection's handshake starts.
extension Socket {
    /// Sets an option whose value is a byte string (a key, a domain).
    public func setOption(_ option: Int32, bytes: [UInt8], name: String) throws(ZeroMQError) {
        try checked("zmq_setsockopt(\(name))") {
            bytes.withUnsafeBytes { raw in zmq_setsockopt(handle, option, raw.baseAddress, raw.count) }
        }
    }

    /// Makes this socket a CURVE server: every peer must complete a CURVE handshake
    /// against `keyPair`, and, when a ZAP handler is bound on this socket's context,
    /// have its public key accepted by it.
    ///
    /// libzmq's server needs only the secret key; the public key is set too, as CZMQ's
    /// `zcert_apply` and pyzmq's Ironhouse example do, so the socket carries the pair.
    /// - warning: with no ZAP handler bound on the context, libzmq 4.3.4 lets every
    ///   client with a valid handshake in: bind the handler before this socket binds.
    public func makeCurveServer(_ keyPair: Curve.KeyPair) throws(ZeroMQError) {
        try setOption(ZMQ_CURVE_SERVER, Int32(1), name: "ZMQ_CURVE_SERVER")
        try setOption(ZMQ_CURVE_PUBLICKEY, bytes: keyPair.publicKey.bytes, name: "ZMQ_CURVE_PUBLICKEY")
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: keyPair.secretKey.bytes, name: "ZMQ_CURVE_SECRETKEY")
    }

    /// Makes the endpoints bound from now on plain (the NULL mechanism), as a socket is
    /// before any CURVE option is set.
    public func makePlain() throws(ZeroMQError) {
        try setOption(ZMQ_CURVE_SERVER, Int32(0), name: "ZMQ_CURVE_SERVER")
    }

    /// Makes this socket a CURVE client that proves itself with `keyPair` and talks only
    /// to a server holding the secret half of `serverKey`.
    public func makeCurveClient(_ keyPair: Curve.KeyPair, serverKey: Curve.Key) throws(ZeroMQError) {
        // Setting the server key is what turns a socket into a CURVE client in libzmq.
        try setOption(ZMQ_CURVE_SERVERKEY, bytes: serverKey.bytes, name: "ZMQ_CURVE_SERVERKEY")
        try setOption(ZMQ_CURVE_PUBLICKEY, bytes: keyPair.publicKey.bytes, name: "ZMQ_CURVE_PUBLICKEY")
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: keyPair.secretKey.bytes, name: "ZMQ_CURVE_SECRETKEY")
    }

    /// The ZAP domain sent with this socket's authentication requests. CURVE servers
    /// consult ZAP whatever the domain; a NULL-mechanism socket does only when one is set.
    public func setZAPDomain(_ domain: String) throws(ZeroMQError) {
        try setOption(ZMQ_ZAP_DOMAIN, bytes: Array(domain.utf8), name: "ZMQ_ZAP_DOMAIN")
    }
}
