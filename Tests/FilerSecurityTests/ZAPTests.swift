import FilerSecurity
import Posix
import Testing
import ZeroMQ

/// A request as libzmq 4.3.4 sends it, after the REP envelope.
private func request(mechanism: String, credentials: [[UInt8]], id: String = "1") -> [[UInt8]] {
    [Array("1.0".utf8), Array(id.utf8), Array("filer".utf8), Array("198.18.0.7".utf8), Array("client-1".utf8),
     Array(mechanism.utf8)] + credentials
}

private func text(_ frame: [UInt8]) -> String { String(decoding: frame, as: UTF8.self) }

@Suite struct ZAPAnswerTests {
    @Test func anAuthorizedKeyIsLetInUnderItsZ85Name() throws {
        let key = try Curve.KeyPair.generate().publicKey
        let authorized = AuthorizedKeys([key])
        let reply = ZAP.answer(request(mechanism: "CURVE", credentials: [key.bytes], id: "42"), authorized: authorized)
        #expect(reply.map(text) == ["1.0", "42", "200", "OK", key.z85, ""])
        #expect(ZAP.decide(request(mechanism: "CURVE", credentials: [key.bytes]), authorized: authorized).refusal == nil)
    }

    @Test func anUnknownKeyIsRefusedAndTheRefusalSaysWhoAndWhere() throws {
        let known = try Curve.KeyPair.generate().publicKey
        let stranger = try Curve.KeyPair.generate().publicKey
        let strangerRequest = request(mechanism: "CURVE", credentials: [stranger.bytes])
        let decision = ZAP.decide(strangerRequest, authorized: AuthorizedKeys([known]))
        #expect(decision.reply.map(text) == ["1.0", "1", "400", "Unknown CURVE key", "", ""])
        let refusal = ZAP.Refusal(address: "198.18.0.7", mechanism: "CURVE", key: stranger, reason: "Unknown CURVE key")
        #expect(decision.refusal == refusal)
    }

    @Test(arguments: [
        ("NULL", [[UInt8]]()),
        ("PLAIN", [Array("admin".utf8), Array("secret".utf8)]),
        ("GSSAPI", [[UInt8]()]),
    ])
    func otherMechanismsAreRefused(mechanism: String, credentials: [[UInt8]]) throws {
        let key = try Curve.KeyPair.generate().publicKey
        let decision = ZAP.decide(request(mechanism: mechanism, credentials: credentials), authorized: AuthorizedKeys([key]))
        #expect(text(decision.reply[2]) == "400")
        #expect(text(decision.reply[3]).contains("CURVE only"))
        #expect(decision.refusal?.mechanism == mechanism)
        #expect(decision.refusal?.key == nil)
    }

    @Test func malformedRequestsAreRefusedWithTheirIdEchoed() throws {
        let key = try Curve.KeyPair.generate().publicKey
        let authorized = AuthorizedKeys([key])
        let short = ZAP.answer([Array("1.0".utf8), Array("7".utf8)], authorized: authorized)
        #expect(short.map(text)[0...2] == ["1.0", "7", "400"])
        let empty = ZAP.answer([], authorized: authorized).map(text)
        #expect(empty == ["1.0", "", "400", "Malformed ZAP request: 0 frames", "", ""])

        var wrongVersion = request(mechanism: "CURVE", credentials: [key.bytes])
        wrongVersion[0] = Array("2.0".utf8)
        #expect(text(ZAP.answer(wrongVersion, authorized: authorized)[2]) == "400")

        let shortKeyRequest = request(mechanism: "CURVE", credentials: [Array(key.bytes.prefix(31))])
        let shortKey = ZAP.answer(shortKeyRequest, authorized: authorized)
        #expect(shortKey.map(text)[2...3] == ["400", "Malformed CURVE credentials"])
    }
}

@Suite struct RefusalLogTests {
    /// A clock that moves only when told to.
    struct FakeClock {
        var now = MonotonicInstant(nanoseconds: 1_000_000_000)
        mutating func advance(_ seconds: Double) { now = now.adding(seconds: seconds) }
    }

    @Test func reportsOncePerAddressPerMinute() {
        var clock = FakeClock()
        var log = RefusalLog()
        func report(_ address: String) -> Bool { log.shouldReport(address: address, at: clock.now) }
        #expect(report("198.18.0.7"))
        clock.advance(1)
        #expect(!report("198.18.0.7"))
        #expect(report("198.18.0.8"))
        clock.advance(58)
        #expect(!report("198.18.0.7"))
        clock.advance(1)
        #expect(report("198.18.0.7"))
        #expect(!report("198.18.0.7"))
        #expect(!report("198.18.0.8"))
        clock.advance(1)
        #expect(report("198.18.0.8"))
    }

    @Test func forgetsQuietAddressesSoAScanCannotGrowItForever() {
        var clock = FakeClock()
        var log = RefusalLog(interval: 60)
        func report(_ address: String) -> Bool { log.shouldReport(address: address, at: clock.now) }
        for host in 0..<1000 { _ = report("198.18.1.\(host)") }
        #expect(log.rememberedAddresses == 1000)
        clock.advance(61)
        #expect(report("198.18.0.1"))
        #expect(log.rememberedAddresses == 1)
    }
}
