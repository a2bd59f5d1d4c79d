import FilerSecurity
import Posix
import Testing
import ZeroMQ

/// Refusals the handler reported, kept for the test to read.
final class RefusalRecorder {
    var refusals: [ZAP.Refusal] = []
}

/// A ROUTER on loopback in a context with a ZAP handler, polled by the test the way the
/// daemon's event loop is to poll them.
final class Server {
    let context: Context
    let keyPair: Curve.KeyPair
    let handler: ZAPHandler
    let router: Socket
    let recorder = RefusalRecorder()

    /// - Parameter zapDomain: set on a plain (NULL) router to have libzmq consult ZAP for it.
    init(authorized: AuthorizedKeys, workers: AuthorizedKeys? = nil, curve: Bool = true, zapDomain: String? = nil) throws {
        context = try Context()
        keyPair = try Curve.KeyPair.generate()
        handler = try ZAPHandler(context: context, authorized: authorized, workers: workers) { [recorder] in
            recorder.refusals.append($0)
        }
        router = try Socket(context, .router)
        try router.setLinger(milliseconds: 0)
        if curve { try router.makeCurveServer(keyPair) }
        if let zapDomain { try router.setZAPDomain(zapDomain) }
        try router.bind("tcp://127.0.0.1:*")
    }

    /// Polls the handler and the router for at most `milliseconds`, answering ZAP.
    /// - Parameter untilRefused: stop at the next refusal too. A refused connection is
    ///   closed, so a message that has not come by then never will.
    /// - Returns: the first message the router receives (routing id first), or nil.
    func nextMessage(within milliseconds: Int, untilRefused: Bool = false) throws -> [[UInt8]]? {
        let refusedBefore = handler.refusedCount
        let deadline = MonotonicInstant.now().adding(seconds: Double(milliseconds) / 1000)
        var poller = Poller()
        poller.add(.socket(handler.socket))
        poller.add(.socket(router))
        while true {
            let remaining = Int(deadline.seconds(since: .now()) * 1000)
            if remaining <= 0 { return nil }
            try poller.wait(timeoutMilliseconds: remaining)
            if poller.isReadable(1) { return try router.receiveMultipart().map(\.bytes) }
            if poller.isReadable(0) { try handler.answerWaiting() }
            if untilRefused && handler.refusedCount > refusedBefore { return nil }
        }
    }

    /// The body of the next message the router receives, or nil.
    func nextBody(within milliseconds: Int, untilRefused: Bool = false) throws -> String? {
        try nextMessage(within: milliseconds, untilRefused: untilRefused).map { String(decoding: $0[$0.count - 1], as: UTF8.self) }
    }

    /// A DEALER in a context of its own, as in another process, connected to the router.
    func client(_ keyPair: Curve.KeyPair?, serverKey: Curve.Key? = nil) throws -> Socket {
        let dealer = try Socket(try Context(), .dealer)
        // A refused client's message stays queued: it must not hold the context open.
        try dealer.setLinger(milliseconds: 0)
        if let keyPair { try dealer.makeCurveClient(keyPair, serverKey: serverKey ?? self.keyPair.publicKey) }
        try dealer.connect(router.lastEndpoint)
        return dealer
    }
}

private func reply(to client: Socket, within milliseconds: Int) throws -> String? {
    var poller = Poller()
    poller.add(.socket(client))
    guard try poller.wait(timeoutMilliseconds: milliseconds) else { return nil }
    return String(decoding: try client.receive().bytes, as: UTF8.self)
}

@Suite struct EndToEndTests {
    @Test func anAuthorizedClientGetsThroughAndHearsBack() throws {
        let clientKeys = try Curve.KeyPair.generate()
        let server = try Server(authorized: AuthorizedKeys([clientKeys.publicKey]))
        let client = try server.client(clientKeys)
        try client.send("ping")
        let message = try #require(try server.nextMessage(within: 5000))
        #expect(message.last == Array("ping".utf8))
        try server.router.send(message[0], more: true)
        try server.router.send("pong")
        #expect(try reply(to: client, within: 5000) == "pong")
        #expect(server.handler.acceptedCount == 1)
        #expect(server.handler.refusedCount == 0)
    }

    @Test func anUnknownKeyNeverGetsThroughAndIsCountedWithItsAddress() throws {
        let server = try Server(authorized: AuthorizedKeys([try Curve.KeyPair.generate().publicKey]))
        let strangerKeys = try Curve.KeyPair.generate()
        let stranger = try server.client(strangerKeys)
        try stranger.send("let me in")
        #expect(try server.nextBody(within: 5000, untilRefused: true) == nil)
        // Counted, and reported with the peer's address as libzmq gives it: the IP, no port.
        #expect(server.handler.refusedCount == 1)
        #expect(server.handler.acceptedCount == 0)
        #expect(server.recorder.refusals == [
            ZAP.Refusal(address: "127.0.0.1", mechanism: "CURVE", key: strangerKeys.publicKey, reason: "Unknown CURVE key"),
        ])

        // Again from the same address within the minute: counted, not reported.
        let again = try server.client(strangerKeys)
        try again.send("let me in")
        #expect(try server.nextBody(within: 5000, untilRefused: true) == nil)
        #expect(server.handler.refusedCount == 2)
        #expect(server.recorder.refusals.count == 1)
    }

    /// A broker's backend takes only worker hosts' keys, when they are kept apart: a
    /// client's key, good at the frontend, is refused there.
    @Test func theWorkersDomainTakesOnlyWorkerKeys() throws {
        let clientKeys = try Curve.KeyPair.generate()
        let workerKeys = try Curve.KeyPair.generate()
        let backend = try Server(
            authorized: AuthorizedKeys([clientKeys.publicKey]), workers: AuthorizedKeys([workerKeys.publicKey]),
            zapDomain: ZAP.workerDomain)
        // Each client is kept until its message is in: one closed at once drops it (linger 0).
        let posing = try backend.client(clientKeys)
        try posing.send("a client posing as a worker")
        #expect(try backend.nextBody(within: 5000, untilRefused: true) == nil)
        #expect(backend.handler.refusedCount == 1)
        let worker = try backend.client(workerKeys)
        try worker.send("a worker host")
        #expect(try backend.nextBody(within: 5000) == "a worker host")

        let frontend = try Server(authorized: AuthorizedKeys([clientKeys.publicKey]), workers: AuthorizedKeys([workerKeys.publicKey]))
        let posingAsClient = try frontend.client(workerKeys)
        try posingAsClient.send("a worker host posing as a client")
        #expect(try frontend.nextBody(within: 5000, untilRefused: true) == nil)
        let client = try frontend.client(clientKeys)
        try client.send("a client")
        #expect(try frontend.nextBody(within: 5000) == "a client")
    }

    @Test func aPlaintextClientGetsNothingAndZAPIsNotEvenAsked() throws {
        let server = try Server(authorized: AuthorizedKeys([try Curve.KeyPair.generate().publicKey]))
        let plain = try server.client(nil)
        try plain.send("hello")
        #expect(try server.nextBody(within: 750) == nil)
        #expect(server.handler.refusedCount == 0)
    }

    @Test func aClientExpectingAnotherServerKeyGetsNothing() throws {
        let clientKeys = try Curve.KeyPair.generate()
        let server = try Server(authorized: AuthorizedKeys([clientKeys.publicKey]))
        let impostorKey = try Curve.KeyPair.generate().publicKey
        let client = try server.client(clientKeys, serverKey: impostorKey)
        try client.send("hello")
        #expect(try server.nextBody(within: 750) == nil)
        #expect(server.handler.acceptedCount == 0)
    }

    @Test func aPlainSocketIsLeftAloneUnlessItNamesAZAPDomain() throws {
        // The daemon's ipc:// sockets stay plain on the context the handler serves.
        let plain = try Server(authorized: AuthorizedKeys(), curve: false)
        let client = try plain.client(nil)
        try client.send("plain")
        #expect(try plain.nextBody(within: 5000) == "plain")
        #expect(plain.handler.refusedCount == 0)

        let guarded = try Server(authorized: AuthorizedKeys(), curve: false, zapDomain: "filer")
        let refused = try guarded.client(nil)
        try refused.send("plain")
        #expect(try guarded.nextBody(within: 5000, untilRefused: true) == nil)
        #expect(guarded.recorder.refusals.first?.mechanism == "NULL")
    }

    @Test func replacingTheKeysKeepsConnectionsAndDecidesNewOnes() throws {
        let (first, second) = try (Curve.KeyPair.generate(), Curve.KeyPair.generate())
        let server = try Server(authorized: AuthorizedKeys([first.publicKey]))
        let connected = try server.client(first)
        try connected.send("one")
        #expect(try server.nextBody(within: 5000) == "one")

        server.handler.authorized = AuthorizedKeys([second.publicKey])
        try connected.send("two")
        #expect(try server.nextBody(within: 5000) == "two")
        let newcomer = try server.client(second)
        try newcomer.send("three")
        #expect(try server.nextBody(within: 5000) == "three")
        let returning = try server.client(first)
        try returning.send("four")
        #expect(try server.nextBody(within: 5000, untilRefused: true) == nil)
        #expect(server.recorder.refusals.map(\.key) == [first.publicKey])
    }
}
