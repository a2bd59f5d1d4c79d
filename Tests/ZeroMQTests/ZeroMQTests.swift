import Glibc
import Testing
import ZeroMQ

@Suite struct SocketTests {
    @Test func requestReplyRoundTrip() throws {
        let context = try Context()
        let server = try Socket(context, .reply)
        try server.bind("inproc://round-trip")
        let client = try Socket(context, .request)
        try client.connect("inproc://round-trip")
        try client.send("ping")
        #expect(try server.receive().bytes == Array("ping".utf8))
        try server.send("pong")
        #expect(try client.receive().bytes == Array("pong".utf8))
    }

    @Test func multipartMessagesKeepTheirFrames() throws {
        let context = try Context()
        let a = try Socket(context, .pair)
        try a.bind("inproc://frames")
        let b = try Socket(context, .pair)
        try b.connect("inproc://frames")
        try a.send("one", more: true)
        try a.send("two")
        let frames = try b.receiveMultipart()
        #expect(frames.map(\.bytes) == [Array("one".utf8), Array("two".utf8)])
        #expect(try b.receiveIfReady() == nil)
    }

    @Test func errorsNameTheCallAndTheEndpoint() throws {
        let context = try Context()
        let socket = try Socket(context, .router)
        let error = try #require(throws: ZeroMQError.self) { try socket.bind("nonsense://x") }
        #expect(error.call == "zmq_bind(nonsense://x)")
        #expect(error.errno == EPROTONOSUPPORT)
    }

    @Test func bindingATakenPortFails() throws {
        let context = try Context()
        let first = try Socket(context, .router)
        try first.bind("tcp://127.0.0.1:*")
        let second = try Socket(context, .router)
        let error = try #require(throws: ZeroMQError.self) { try second.bind(first.lastEndpoint) }
        #expect(error.errno == EADDRINUSE)
    }

    @Test func pollingTimesOutWhenNothingArrives() throws {
        let context = try Context()
        let socket = try Socket(context, .pull)
        try socket.bind("inproc://quiet")
        var poller = Poller()
        poller.add(.socket(socket))
        #expect(try poller.wait(timeoutMilliseconds: 20) == false)
        #expect(!poller.isReadable(0))
    }

    @Test func pollingSeesPlainDescriptors() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        var poller = Poller()
        poller.add(.descriptor(ends[0]))
        #expect(try poller.wait(timeoutMilliseconds: 0) == false)
        var byte: UInt8 = 1
        #expect(write(ends[1], &byte, 1) == 1)
        #expect(try poller.wait(timeoutMilliseconds: 0))
        #expect(poller.isReadable(0))
    }
}

@Suite struct ProxyTests {
    @Test func forwardsCountsAndTerminates() throws {
        let context = try Context()
        let frontend = try Socket(context, .router)
        try frontend.bind("inproc://proxy-front")
        let backend = try Socket(context, .dealer)
        try backend.bind("inproc://proxy-back")
        let proxyControl = try Socket(context, .pair)
        try proxyControl.bind("inproc://proxy-control")
        let control = try Socket(context, .pair)
        try control.connect("inproc://proxy-control")

        let finished = Finished()
        let thread = Thread(body: {
            finished.error = Result { try Proxy.run(frontend: frontend, backend: backend, control: proxyControl) }
        })
        thread.start()

        let worker = try Socket(context, .reply)
        try worker.connect("inproc://proxy-back")
        let client = try Socket(context, .request)
        try client.connect("inproc://proxy-front")
        try client.send("request")
        #expect(try worker.receive().bytes == Array("request".utf8))
        try worker.send("reply")
        #expect(try client.receive().bytes == Array("reply".utf8))

        try Proxy.send(.statistics, over: control)
        var poller = Poller()
        poller.add(.socket(control))
        #expect(try poller.wait(timeoutMilliseconds: 5_000))
        let statistics = try #require(try Proxy.receiveStatistics(over: control))
        // libzmq counts whole messages: the request [identity, empty, body] is one.
        #expect(statistics.frontendMessagesIn == 1)
        #expect(statistics.backendMessagesOut == 1)
        #expect(statistics.backendMessagesIn == 1)
        #expect(statistics.frontendMessagesOut == 1)
        #expect(statistics.frontendBytesIn >= 7)

        try Proxy.send(.terminate, over: control)
        thread.join()
        #expect(finished.succeeded)
    }
}

/// Runs a closure on a pthread (the proxy blocks its thread), joinable.
final class Thread: @unchecked Sendable {
    private var handle = pthread_t()
    private let body: () -> Void

    init(body: @escaping () -> Void) { self.body = body }

    func start() {
        let context = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&handle, nil, { raw in
            let thread = Unmanaged<Thread>.fromOpaque(raw!).takeRetainedValue()
            thread.body()
            return nil
        }, context)
    }

    func join() { pthread_join(handle, nil) }
}

final class Finished: @unchecked Sendable {
    var error: Result<Void, any Error>?
    var succeeded: Bool {
        if case .success = error { return true }
        return false
    }
}
