import Glibc
import Testing
import FilerMetrics
import Posix

@Suite struct MetricsServerTests {
    static func server(_ limits: MetricsServer.Limits = .init()) throws -> MetricsServer {
        let loopback = try #require(IPAddress(parsing: "127.0.0.1"))
        return try MetricsServer(url: MetricsURL(address: loopback, port: 0, path: "/metrics"), limits: limits)
    }

    @Test func servesTheExpositionWithItsHeaders() throws {
        let server = try Self.server()
        #expect(server.url.port > 0)
        let snapshot = ExpositionTests.small()
        let response = Response(try exchange(server, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", snapshot: snapshot))
        #expect(response.status == "HTTP/1.1 200 OK")
        #expect(response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        #expect(response.headers["connection"] == "close")
        #expect(response.headers["content-length"] == "\(snapshot.exposition().utf8.count)")
        #expect(response.body == snapshot.exposition())
        // The server waits for the client to close after the response, then lets go.
        #expect(try drive(server) { server.connectionCount == 0 })
    }

    @Test func headGivesTheHeadersOnly() throws {
        let server = try Self.server()
        let snapshot = ExpositionTests.small()
        let response = Response(try exchange(server, "HEAD /metrics HTTP/1.1\r\n\r\n", snapshot: snapshot))
        #expect(response.status == "HTTP/1.1 200 OK")
        #expect(response.headers["content-length"] == "\(snapshot.exposition().utf8.count)")
        #expect(response.body.isEmpty)
    }

    @Test(arguments: [
        ("GET /other HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found"),
        ("POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", "HTTP/1.1 405 Method Not Allowed"),
        ("garbage\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        ("\u{16}\u{3}\u{1}\u{2}\u{0}", "HTTP/1.1 400 Bad Request"),
        ("GET /metrics HTTP/1.1\r\n" + String(repeating: "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", count: 300),
            "HTTP/1.1 431 Request Header Fields Too Large"),
    ])
    func refusesWhatItDoesNotServe(request: String, status: String) throws {
        let server = try Self.server()
        let response = Response(try exchange(server, request))
        #expect(response.status == status)
        #expect(response.headers["connection"] == "close")
        #expect(try drive(server) { server.connectionCount == 0 })
    }

    @Test func aRequestInPiecesIsServed() throws {
        let server = try Self.server()
        let client = try TestClient(port: server.url.port)
        for piece in ["GE", "T /met", "rics HTTP/1.1\r\nHo", "st: x\r\n", "\r\n"] {
            client.send(piece)
            try drive(server, seconds: 0.05) { false }
        }
        try drive(server) {
            client.poll()
            return client.closedByServer
        }
        #expect(Response(client.text).status == "HTTP/1.1 200 OK")
    }

    @Test func aSilentClientIsClosedAtItsDeadline() throws {
        let server = try Self.server(.init(deadline: .milliseconds(300)))
        let started = MonotonicInstant.now()
        let client = try TestClient(port: server.url.port)
        let closed = try drive(server) {
            client.poll()
            return client.closedByServer
        }
        let elapsed = MonotonicInstant.now().seconds(since: started)
        #expect(closed)
        #expect(elapsed >= 0.3 && elapsed < 2, "closed after \(elapsed) s")
        #expect(client.received.isEmpty)
        #expect(server.connectionCount == 0)
    }

    @Test func aClientThatStopsHalfwayIsClosedAtItsDeadline() throws {
        let server = try Self.server(.init(deadline: .milliseconds(300)))
        let client = try TestClient(port: server.url.port)
        client.send("GET /metrics HTTP/1.1\r\nHost: ")
        #expect(try drive(server) {
            client.poll()
            return client.closedByServer
        })
        #expect(client.received.isEmpty)
    }

    @Test func aClientThatNeverClosesIsClosedAtItsDeadline() throws {
        let server = try Self.server(.init(deadline: .milliseconds(300)))
        let client = try TestClient(port: server.url.port)
        client.send("GET /metrics HTTP/1.1\r\n\r\n")
        #expect(try drive(server) {
            client.poll()
            return client.closedByServer
        })
        #expect(Response(client.text).status == "HTTP/1.1 200 OK")
        // The client keeps its end open; the server lets go at the deadline all the same.
        #expect(server.connectionCount == 1)
        #expect(try drive(server, seconds: 2) { server.connectionCount == 0 })
    }

    @Test func bytesAfterTheRequestDoNotCostTheResponse() throws {
        let server = try Self.server()
        let snapshot = ExpositionTests.small()
        // Closing a socket with unread bytes resets the connection, which can destroy a
        // response the client has not read yet: the server reads and drops them instead.
        let response = Response(try exchange(
            server, "GET /metrics HTTP/1.1\r\n\r\n" + String(repeating: "junk", count: 50_000), snapshot: snapshot))
        #expect(response.status == "HTTP/1.1 200 OK")
        #expect(response.body == snapshot.exposition())
    }

    @Test func theCapOnConnectionsHolds() throws {
        let server = try Self.server(.init(connections: 3, deadline: .seconds(10)))
        let silent = try (0..<3).map { _ in try TestClient(port: server.url.port) }
        #expect(try drive(server) { server.connectionCount == 3 })
        // The fourth is refused at once, and the three stay.
        let refused = try TestClient(port: server.url.port)
        #expect(try drive(server) {
            refused.poll()
            return refused.closedByServer
        })
        #expect(Response(refused.text).status == "HTTP/1.1 503 Service Unavailable")
        #expect(server.connectionCount == 3)
        // One leaves; its place is free again.
        silent[0].disconnect()
        #expect(try drive(server) { server.connectionCount == 2 })
        #expect(Response(try exchange(server, "GET /metrics HTTP/1.1\r\n\r\n")).status == "HTTP/1.1 200 OK")
        withExtendedLifetime(silent) {}
    }

    @Test func aLargeResponseIsWrittenAsTheClientTakesIt() throws {
        let server = try Self.server()
        var snapshot = MetricsSnapshot(version: "large")
        snapshot.slots = (0..<20_000).map { .init(slot: $0, online: $0 % 2 == 0, requestsServed: UInt64($0)) }
        let expected = snapshot.exposition()
        #expect(expected.utf8.count > 1_000_000)
        let response = Response(try exchange(server, "GET /metrics HTTP/1.1\r\n\r\n", snapshot: snapshot, receiveBuffer: 4096))
        #expect(response.headers["content-length"] == "\(expected.utf8.count)")
        #expect(response.body == expected)
    }

    @Test func aSecondServerOnTheSamePortIsRefusedWithTheCall() throws {
        let first = try Self.server()
        #expect {
            try MetricsServer(url: first.url)
        } throws: { error in
            (error as? SystemError).map { $0.call.hasPrefix("bind(127.0.0.1:") && $0.code == "EADDRINUSE" } ?? false
        }
    }
}
