import Glibc
import Testing
import FilerMetrics
import Posix

/// The end-to-end check: a real HTTP client (Python's urllib) scrapes the listener,
/// and the Prometheus project's own text parser (PyPI's prometheus-client, which
/// scripts/setup installs) reads the body. One line per sample comes back.
@Suite struct PrometheusParserTests {
    static let script = #"""
        import json, sys, urllib.request
        from prometheus_client.parser import text_string_to_metric_families
        with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
            print("status", response.status)
            print("content-type", response.headers["Content-Type"])
            body = response.read().decode("utf-8")
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                labels = json.dumps(dict(sorted(sample.labels.items())))
                print(family.type, sample.name, labels, int(sample.value))
        """#

    @Test func prometheusClientParsesAScrape() throws {
        let loopback = try #require(IPAddress(parsing: "127.0.0.1"))
        let server = try MetricsServer(url: MetricsURL(address: loopback, port: 0, path: "/metrics"))
        var snapshot = ExpositionTests.small()
        snapshot.version = "1.2.3 \"rc\"\\\nx"
        let output = try Self.runPython(arguments: [server.url.description], driving: server, snapshot: snapshot)
        let lines = Set(output.split(separator: "\n").map(String.init))
        for expected in [
            "status 200",
            "content-type text/plain; version=0.0.4; charset=utf-8",
            #"gauge filer_build_info {"version": "1.2.3 \"rc\"\\\nx"} 1"#,
            #"counter filer_requests_total {"result": "served"} 10"#,
            #"counter filer_requests_total {"code": "ENOENT", "result": "refused"} 3"#,
            #"counter filer_worker_exits_total {"how": "killed", "status": "SIGKILL"} 1"#,
            #"counter filer_reloads_total {"result": "failed"} 0"#,
            #"counter filer_proxy_bytes_total {"direction": "out", "side": "frontend"} 2800"#,
            #"gauge filer_workers_online {} 1"#,
            #"gauge filer_client_connections {} 3"#,
            #"counter filer_worker_requests_total {"slot": "1"} 4"#,
            #"gauge filer_worker_up {"slot": "0"} 1"#,
        ] {
            #expect(lines.contains(expected), "\(expected)\nnot in:\n\(output)")
        }
        // Every sample of the exposition, and nothing else, came through the parser.
        let samples = snapshot.exposition().split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(lines.count - 2 == samples.count)
    }

    /// Runs `python3 -c script arguments`, driving the server until Python ends.
    /// - Returns: what it printed. - Throws: when it failed, with its exit status.
    static func runPython(arguments: [String], driving server: MetricsServer, snapshot: MetricsSnapshot) throws -> String {
        struct PythonFailed: Error, CustomStringConvertible {
            let description: String
        }
        let pipe = try makePipe()
        let writeEnd = pipe.write
        let readEnd = pipe.read
        try readEnd.setNonBlocking()
        let pid = try Spawn.process(
            executable: "/usr/bin/python3", arguments: ["python3", "-c", script] + arguments,
            environment: currentEnvironment(), descriptors: [(child: 1, parent: writeEnd.rawValue)], resetSignals: [])
        _ = consume writeEnd
        var output: [UInt8] = []
        var ended = false
        let finished = try drive(server, snapshot: snapshot, seconds: 30) {
            while !ended {
                let chunk: [UInt8]
                do {
                    chunk = try readEnd.read(upTo: 65536)
                } catch let error as SystemError where error.errno == EAGAIN {
                    return false
                }
                if chunk.isEmpty { ended = true } else { output += chunk }
            }
            return true
        }
        var status: Int32 = 0
        if !finished { kill(pid, SIGKILL) }
        _ = waitpid(pid, &status, 0)
        let text = String(decoding: output, as: UTF8.self)
        guard finished, status == 0 else {
            throw PythonFailed(description: "python3 \(finished ? "ended with status \(status)" : "timed out"); it printed:\n\(text)")
        }
        return text
    }
}
