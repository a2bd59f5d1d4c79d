import Testing
import FilerMetrics
import Posix

@Suite struct MetricsURLTests {
    @Test(arguments: [
        ("http://127.0.0.1:9464/metrics", "127.0.0.1", 9464, "/metrics", true),
        ("http://[::1]:9464/metrics", "::1", 9464, "/metrics", true),
        ("http://localhost:1/m", "127.0.0.1", 1, "/m", true),
        ("http://0.0.0.0:65535/", "0.0.0.0", 65535, "/", false),
        ("http://[::]:9464/a/b-c_d.e~f", "::", 9464, "/a/b-c_d.e~f", false),
        ("http://192.0.2.7:9464/metrics", "192.0.2.7", 9464, "/metrics", false),
        ("http://127.9.9.9:80/x", "127.9.9.9", 80, "/x", true),
        ("http://[0:0:0:0:0:0:0:1]:9464/metrics", "::1", 9464, "/metrics", true),
    ])
    func parses(text: String, address: String, port: Int, path: String, loopback: Bool) throws {
        let url = try MetricsURL(parsing: text)
        #expect(url.address.description == address)
        #expect(url.port == port)
        #expect(url.path == path)
        #expect(url.isLoopback == loopback)
        // What it prints parses back to the same.
        #expect(try MetricsURL(parsing: url.description) == url)
    }

    @Test(arguments: [
        "https://127.0.0.1:9464/metrics",  // no TLS here
        "tcp://127.0.0.1:9464",
        "127.0.0.1:9464/metrics",
        "http://127.0.0.1/metrics",  // no port
        "http://127.0.0.1:9464",  // no path
        "http://127.0.0.1:/metrics",
        "http://127.0.0.1:0/metrics",
        "http://127.0.0.1:65536/metrics",
        "http://127.0.0.1:-1/metrics",
        "http://127.0.0.1:94x/metrics",
        "http://example.com:9464/metrics",  // names are not resolved
        "http://127.1:9464/metrics",
        "http://256.0.0.1:9464/metrics",
        "http://::1:9464/metrics",  // IPv6 needs brackets
        "http://[::1:9464/metrics",
        "http://[127.0.0.1]:9464/metrics",
        "http://[]:9464/metrics",
        "http://:9464/metrics",
        "http://user@127.0.0.1:9464/metrics",
        "http://127.0.0.1:9464/metrics?x=1",
        "http://127.0.0.1:9464/metrics#top",
        "http://127.0.0.1:9464/met rics",
        "http://127.0.0.1:9464/métriques",
        "HTTP://127.0.0.1:9464/metrics",
        "",
    ])
    func refuses(text: String) {
        #expect(throws: MetricsURL.Problem.self) { try MetricsURL(parsing: text) }
    }

    @Test func theRefusalNamesTheText() {
        #expect {
            try MetricsURL(parsing: "http://example.com:9464/metrics")
        } throws: { error in
            "\(error)".contains("\"example.com\"") && "\(error)".contains("not resolved")
        }
    }
}
