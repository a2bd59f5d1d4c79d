import Testing
import ZeroMQ

@Suite struct CurveTests {
    @Test func libzmqHasCurve() {
        #expect(Curve.isAvailable)
    }

    @Test func aGeneratedPairHoldsTogether() throws {
        let pair = try Curve.KeyPair.generate()
        #expect(pair.publicKey.bytes.count == 32 && pair.publicKey.z85.count == 40)
        #expect(try Curve.publicKey(fromSecret: pair.secretKey) == pair.publicKey)
        #expect(try Curve.KeyPair.generate() != pair)
        #expect(!"\(pair)".contains(pair.secretKey.z85))
        #expect(!"\(pair.secretKey)".contains(pair.secretKey.z85))
    }

    @Test func z85MatchesRFC32sExample() {
        // RFC 32's test vector: these eight bytes are "HelloWorld".
        let bytes: [UInt8] = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]
        #expect(Curve.z85Encode(bytes) == "HelloWorld")
        #expect(Curve.z85Decode("HelloWorld") == bytes)
    }

    @Test(arguments: ["", "Hell", "Hello World", "Hell\"", "Hell~", "Hello\u{0}orld", "%%%%%"])
    func z85RefusesWhatIsNotZ85(text: String) {
        #expect(Curve.z85Decode(text) == nil)
    }

    @Test func keysComeOnlyInTheirOneSize() throws {
        #expect(Curve.z85Encode([1, 2, 3]) == nil)
        #expect(Curve.Key(bytes: [UInt8](repeating: 0, count: 31)) == nil)
        #expect(Curve.Key(z85: "HelloWorld") == nil)
        let key = try #require(Curve.Key(bytes: [UInt8](repeating: 7, count: 32)))
        #expect(Curve.Key(z85: key.z85) == key)
    }

    @Test func curveOptionsAreAcceptedAndBadOnesNamed() throws {
        let context = try Context()
        let pair = try Curve.KeyPair.generate()
        try Socket(context, .router).makeCurveServer(pair)
        try Socket(context, .dealer).makeCurveClient(pair, serverKey: pair.publicKey)
        let socket = try Socket(context, .router)
        try socket.setZAPDomain("filer")
        // 48 is ZMQ_CURVE_PUBLICKEY, which takes 32 bytes or 40 characters, nothing else.
        let error = try #require(throws: ZeroMQError.self) {
            try socket.setOption(48, bytes: [1, 2, 3], name: "ZMQ_CURVE_PUBLICKEY")
        }
        #expect(error.call == "zmq_setsockopt(ZMQ_CURVE_PUBLICKEY)")
    }
}
