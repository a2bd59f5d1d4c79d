import Testing
@testable import FilerMetrics

@Suite struct HTTPTests {
    static func judge(_ text: String, maximumBytes: Int = 8192) -> HTTP.Verdict {
        judge(Array(text.utf8), maximumBytes: maximumBytes)
    }

    /// The verdict on `bytes` sent whole, which must be the verdict on them sent a byte at a time.
    static func judge(_ bytes: [UInt8], maximumBytes: Int = 8192) -> HTTP.Verdict {
        var whole = HTTP.HeadReader(path: "/metrics", maximumBytes: maximumBytes)
        let verdict = whole.feed(bytes)
        var piecemeal = HTTP.HeadReader(path: "/metrics", maximumBytes: maximumBytes)
        var byByte = HTTP.Verdict.incomplete
        for byte in bytes where byByte == .incomplete { byByte = piecemeal.feed([byte]) }
        #expect(byByte == verdict, "byte by byte")
        return verdict
    }

    @Test(arguments: [
        ("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", HTTP.Verdict.metrics(isHead: false)),
        ("GET /metrics HTTP/1.0\r\n\r\n", .metrics(isHead: false)),
        ("GET /metrics?name[]=x HTTP/1.1\r\n\r\n", .metrics(isHead: false)),
        ("GET /metrics HTTP/1.1\nHost: x\n\n", .metrics(isHead: false)),
        ("HEAD /metrics HTTP/1.1\r\n\r\n", .metrics(isHead: true)),
        ("GET /metrics HTTP/1.1\r\nUser-Agent: Prometheus/2.45.0\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n",
            .metrics(isHead: false)),
        ("GET /other HTTP/1.1\r\n\r\n", .refuse(.notFound, isHead: false)),
        ("GET /metrics/ HTTP/1.1\r\n\r\n", .refuse(.notFound, isHead: false)),
        ("HEAD / HTTP/1.1\r\n\r\n", .refuse(.notFound, isHead: true)),
        ("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", .refuse(.methodNotAllowed, isHead: false)),
        ("DELETE /metrics HTTP/1.1\r\n\r\n", .refuse(.methodNotAllowed, isHead: false)),
        ("GET /metrics HTTP/2.0\r\n\r\n", .refuse(.versionNotSupported, isHead: false)),
        ("GET /metrics HTTX/1.1\r\n\r\n", .refuse(.badRequest, isHead: false)),
        ("GET /metrics\r\n\r\n", .refuse(.badRequest, isHead: false)),
        ("GET  /metrics HTTP/1.1\r\n\r\n", .refuse(.badRequest, isHead: false)),
        ("GET metrics HTTP/1.1\r\n\r\n", .refuse(.badRequest, isHead: false)),
        ("G(T /metrics HTTP/1.1\r\n\r\n", .refuse(.badRequest, isHead: false)),
        ("hello\r\n\r\n", .refuse(.badRequest, isHead: false)),
        ("\r\n\r\n", .refuse(.badRequest, isHead: false)),
        ("GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", .refuse(.badRequest, isHead: false)),
        ("GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n", .refuse(.badRequest, isHead: false)),
        ("GET /metrics HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", .refuse(.badRequest, isHead: false)),
        ("GET /metrics HTTP/1.1\r\nA: b\u{0}\r\n\r\n", .refuse(.badRequest, isHead: false)),
    ])
    func judgesACompleteHead(request: String, verdict: HTTP.Verdict) {
        #expect(Self.judge(request) == verdict)
    }

    @Test(arguments: ["", "G", "GET /met", "GET /metrics HTTP/1.1\r", "GET /metrics HTTP/1.1\r\nHost: x\r\n"])
    func waitsForTheRestOfAPlausibleHead(request: String) {
        #expect(Self.judge(request) == .incomplete)
    }

    @Test func refusesGarbageBeforeTheHeadEnds() {
        // A TLS ClientHello sent to the plain-text port: refused at its first bytes.
        #expect(Self.judge([0x16, 0x03, 0x01, 0x02, 0x00]) == .refuse(.badRequest, isHead: false))
        #expect(Self.judge([0x16]) == .refuse(.badRequest, isHead: false))
        #expect(Self.judge("NOT HTTP AT ALL\r\n") == .refuse(.badRequest, isHead: false))
    }

    @Test func refusesAHeadOverTheLimit() {
        let filler = "X-Filler: " + String(repeating: "a", count: 200) + "\r\n"
        let long = "GET /metrics HTTP/1.1\r\n" + String(repeating: filler, count: 50)
        #expect(Self.judge(long, maximumBytes: 8192) == .refuse(.headersTooLarge, isHead: false))
        #expect(Self.judge(String(repeating: "A", count: 9000), maximumBytes: 8192) == .refuse(.headersTooLarge, isHead: false))
        // Within the limit, the same head is only incomplete.
        #expect(Self.judge(long, maximumBytes: 65536) == .incomplete)
    }

    @Test func bytesAfterAHeadWithinTheLimitDoNotCount() {
        let head = "GET /metrics HTTP/1.1\r\n\r\n"
        #expect(Self.judge(head + String(repeating: "b", count: 100), maximumBytes: head.utf8.count) == .metrics(isHead: false))
    }

    @Test func aResponseSaysItsLengthAndCloses() {
        let text = String(decoding: HTTP.response(.ok, contentType: "text/plain", body: Array("abc".utf8), isHead: false), as: UTF8.self)
        #expect(text == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
        let head = String(decoding: HTTP.response(.ok, contentType: "text/plain", body: Array("abc".utf8), isHead: true), as: UTF8.self)
        #expect(head.hasSuffix("Content-Length: 3\r\nConnection: close\r\n\r\n"))
        let refusal = String(decoding: HTTP.refusal(.methodNotAllowed, isHead: false), as: UTF8.self)
        #expect(refusal.hasPrefix("HTTP/1.1 405 Method Not Allowed\r\n"))
        #expect(refusal.contains("\r\nAllow: GET, HEAD\r\n"))
    }
}
