@testable import FilerConfiguration
import Glibc
import Logging
import Testing
import TestSupport

@Suite struct ConfigurationTests {
    let directory = TemporaryDirectory()

    func load(
        _ yaml: String, environment: [String] = [], flags: [String: [String]] = [:]
    ) throws(ConfigurationError) -> Configuration {
        directory.write("filer.yaml", yaml)
        return try ConfigurationLoader().load(
            path: directory.path + "/filer.yaml", environment: environment, flags: flags, checkRoot: false)
    }

    func failure(
        _ yaml: String, environment: [String] = [], flags: [String: [String]] = [:]
    ) -> ConfigurationError? {
        do {
            _ = try load(yaml, environment: environment, flags: flags)
            return nil
        } catch {
            return error
        }
    }

    @Test func anEmptyFileMeansTheDefaults() throws {
        let configuration = try load("")
        #expect(configuration.frontends == ["tcp://127.0.0.1:60401"])
        #expect(configuration.backend == nil)
        #expect(configuration.workers == .auto)
        #expect(configuration.limits.maxFileSize == 64 << 20)
    }

    @Test func theShippedFileIsValidAndHoldsTheDefaults() throws {
        let shipped = try readShipped()
        #expect(try load(shipped) == load(""))
    }

    @Test func readsEveryKey() throws {
        let configuration = try load("""
            frontend: [tcp://127.0.0.1:1, "ipc:///tmp/x.ipc"]
            backend: tcp://127.0.0.1:2
            workers: 3
            root: /srv
            limits: {max_file_size: 2KiB, max_request_size: 100, max_reply_size: 1MiB, max_memory: 256MiB, max_connections: 50}
            connections: {heartbeat_interval: 2s, heartbeat_timeout: 6s, handshake_timeout: 500ms}
            restart:
              initial_delay: 50ms
              max_delay: 2min
              stable_after: 1.5
              max_failed_starts: 9
            health: {heartbeat_timeout: 4s, max_requests: 1000, max_requests_jitter: 50}
            stop_timeout: 3s
            control: ipc:///tmp/c.ipc
            log_level: debug
            """)
        #expect(configuration.frontends == ["tcp://127.0.0.1:1", "ipc:///tmp/x.ipc"])
        #expect(configuration.backend == "tcp://127.0.0.1:2")
        #expect(configuration.workers == .fixed(3))
        #expect(configuration.limits.maxFileSize == 2048)
        #expect(configuration.limits.maxRequestSize == 100)
        #expect(configuration.limits.maxReplySize == 1 << 20)
        #expect(configuration.limits.maxMemory == 256 << 20)
        #expect(configuration.limits.maxConnections == 50)
        #expect(configuration.connections.heartbeatInterval == .seconds(2))
        #expect(configuration.connections.handshakeTimeout == .milliseconds(500))
        #expect(configuration.restart.initialDelay == .milliseconds(50))
        #expect(configuration.restart.maxDelay == .seconds(120))
        #expect(configuration.restart.stableAfter == .milliseconds(1500))
        #expect(configuration.restart.maxFailedStarts == 9)
        #expect(configuration.health.heartbeatTimeout == .seconds(4))
        #expect(configuration.health.maxRequests == 1000)
        #expect(configuration.health.maxRequestsJitter == 50)
        #expect(configuration.stopTimeout == .seconds(3))
        #expect(configuration.controlEndpoint == "ipc:///tmp/c.ipc")
        #expect(configuration.logLevel == .debug)
    }

    @Test func anUnknownKeyNamesTheKeyTheFileAndTheLine() throws {
        let error = try #require(failure("workers: 2\nwrokers: 3\n"))
        #expect(error.key == "wrokers")
        #expect(error.source == directory.path + "/filer.yaml:2")
        #expect("\(error)".contains("wrokers"))
        #expect(failure("limits:\n  max_size: 1\n")?.key == "limits.max_size")
    }

    @Test(arguments: [
        ("workers: -3", "workers"), ("workers: lots", "workers"), ("workers: 0", "workers"),
        ("limits: {max_file_size: huge}", "limits.max_file_size"), ("limits: 5", "limits"),
        ("frontend: http://x", "frontend"), ("backend: nowhere", "backend"),
        ("restart: {initial_delay: soon}", "restart.initial_delay"),
        ("restart: {initial_delay: 5s, max_delay: 1s}", "restart.max_delay"),
        ("log_level: loud", "log_level"), ("health: {heartbeat_timeout: 1s}", "health.heartbeat_timeout"),
        ("health: {max_requests: -1}", "health.max_requests"), ("control: here", "control"), ("restart: {max_failed_starts: 0}", "restart.max_failed_starts"),
    ])
    func badValuesNameTheirKey(yaml: String, key: String) {
        #expect(failure(yaml)?.key == key)
    }

    /// Values that parse but cannot be used are refused by key: a duration too long to
    /// add to a clock (once a crash at the first worker exit), a size that overflows.
    @Test(arguments: [
        ("stop_timeout: 1e30", "stop_timeout"), ("stop_timeout: inf", "stop_timeout"),
        ("stop_timeout: nan", "stop_timeout"), ("stop_timeout: -1s", "stop_timeout"),
        ("restart: {initial_delay: 1e30}", "restart.initial_delay"), ("restart: {max_delay: 1e30}", "restart.max_delay"),
        ("health: {heartbeat_timeout: 1e30}", "health.heartbeat_timeout"),
        ("limits: {max_file_size: 99999999999GiB}", "limits.max_file_size"),
        ("limits: {max_file_size: 0}", "limits.max_file_size"), ("limits: {max_reply_size: 10}", "limits.max_reply_size"),
        ("limits: {max_connections: 0}", "limits.max_connections"),
        ("connections: {heartbeat_interval: 5s, heartbeat_timeout: 1s}", "connections.heartbeat_timeout"),
        ("health: {drain_timeout: 0s}", "health.drain_timeout"),
    ])
    func outOfRangeValuesNameTheirKey(yaml: String, key: String) throws {
        let error = try #require(failure(yaml))
        #expect(error.key == key)
        #expect("\(error)".utf8.count < 300)
    }

    /// libzmq's own errors for these point the wrong way ("No such device", "File name
    /// too long", "Address already in use"); ours name the key.
    @Test(arguments: [
        ("frontend: tcp://999.1.1.1:1", "frontend", "not an address"),
        ("frontend: tcp://127.0.0.1", "frontend", "no port"),
        ("frontend: tcp://127.0.0.1:70000", "frontend", "port"),
        ("frontend: [tcp://127.0.0.1:5, tcp://127.0.0.1:5]", "frontend", "listed twice"),
        ("backend: ipc:///\(String(repeating: "x", count: 120))", "backend", "107"),
        ("backend: ipc:///tmp/a.ipc\ncontrol: ipc:///tmp/a.ipc", "control", "also the backend"),
        ("frontend: ipc:///tmp/f.ipc\nbackend: ipc:///tmp/f.ipc", "backend", "also a frontend"),
    ])
    func badEndpointsAreRefusedByKey(yaml: String, key: String, words: String) throws {
        let error = try #require(failure(yaml))
        #expect(error.key == key)
        #expect(error.problem.contains(words), "\(error)")
    }

    /// Protected mode: an endpoint other machines reach needs CURVE, or plaintext asked for.
    @Test(arguments: ["tcp://*:5555", "tcp://0.0.0.0:5555", "tcp://198.18.0.1:5555", "tcp://eth0:5555", "tcp://filer.example:5555"])
    func anEndpointOthersReachNeedsCurve(endpoint: String) throws {
        let error = try #require(failure("frontend: \(endpoint)\n"))
        #expect(error.key == "frontend")
        #expect(error.problem.contains("curve.certificate") && error.problem.contains("allow_plaintext: true"))
        #expect(failure("backend: \(endpoint)\n")?.key == "backend")
        #expect(failure("frontend: \(endpoint)\nallow_plaintext: true\n") == nil)
        #expect(failure("frontend: \(endpoint)\ncurve: {certificate: /k/x.key_secret, authorized_keys: /k/d}\n") == nil)
    }

    @Test(arguments: ["tcp://127.0.0.1:5555", "tcp://127.9.9.9:5555", "tcp://localhost:5555", "tcp://[::1]:5555", "ipc:///tmp/x.ipc"])
    func loopbackAndIPCStayPlain(endpoint: String) {
        #expect(failure("frontend: \(endpoint)\n") == nil)
    }

    @Test func curveNeedsTheKeysOfItsClients() {
        #expect(failure("curve: {certificate: /k/x.key_secret}\n")?.key == "curve.authorized_keys")
        #expect(failure("allow_plaintext: maybe\n")?.key == "allow_plaintext")
    }

    @Test func goodEndpointsPass() throws {
        let configuration = try load("frontend: [tcp://*:5555, 'tcp://[::1]:5556', tcp://eth0:5557, tcp://localhost:5558, ipc://@abstract]\nallow_plaintext: true\n")
        #expect(configuration.frontends.count == 5)
    }

    /// A huge value is refused with a short message, not echoed back.
    @Test func aHugeValueIsRefusedShortly() throws {
        let error = try #require(failure("", environment: ["FILER_ROOT=" + String(repeating: "r", count: 100_000)]))
        #expect(error.key == "root")
        #expect("\(error)".utf8.count < 300)
    }

    @Test func anyKeyCanBeSetFromTheCommandLine() throws {
        let configuration = try load("", flags: ["limits.max_reply_size": ["32MiB"], "health.drain_timeout": ["2min"]])
        #expect(configuration.limits.maxReplySize == 32 << 20)
        #expect(configuration.health.drainTimeout == .seconds(120))
        #expect(failure("", flags: ["limits.nonsense": ["1"]])?.key == "limits.nonsense")
    }

    /// The README's table of keys is the schema's: same keys, defaults and variables.
    @Test func theReadmeTableMatchesTheSchema() throws {
        let readme = try readFile(repositoryPath("README.md"))
        let defaults = Configuration()
        for setting in ConfigurationSchema.settings {
            let row = readme.split(separator: "\n").first { $0.hasPrefix("| `\(setting.key)` |") }
            let line = try #require(row, "README.md has no row for \(setting.key)")
            let shown = setting.key == "frontend" ? "`tcp://127.0.0.1:60401`" : "`\(setting.value(in: defaults))`"
            #expect(line.contains(shown), "README row for \(setting.key) should show the default \(shown)")
            #expect(line.contains("`\(setting.environmentName)`"), "README row for \(setting.key) should name \(setting.environmentName)")
        }
        let rows = readme.split(separator: "\n").filter { $0.hasPrefix("| `") && $0.contains("| `FILER_") }
        #expect(rows.count == ConfigurationSchema.settings.count)
    }

    /// The man page's CONFIGURATION section has an entry for every key, in the schema's
    /// order, and none for a key that does not exist: a `.TP` paragraph tagged `.B key`.
    @Test func theManPageListsEveryKey() throws {
        let page = try readFile(repositoryPath("packaging/filer.8"))
        let lines = page.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex(of: ".SH CONFIGURATION"), "filer.8 has no CONFIGURATION section")
        let end = lines[(start + 1)...].firstIndex { $0.hasPrefix(".SH ") } ?? lines.endIndex
        let listed = (start..<(end - 1)).filter { lines[$0] == ".TP" && lines[$0 + 1].hasPrefix(".B ") }
            .map { String(lines[$0 + 1].dropFirst(3)) }
        #expect(listed == ConfigurationSchema.settings.map(\.key))
    }

    @Test func malformedYAMLIsAnError() {
        #expect(failure("workers: [1,")?.problem.contains("YAML") == true)
        #expect(failure("- a list")?.key == nil)
    }

    @Test func aMissingFileIsAnError() {
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader().load(path: "/nonexistent/filer.yaml", environment: [], flags: [:])
        }
    }

    @Test func environmentOverridesTheFileAndFlagsOverrideBoth() throws {
        let yaml = "workers: 2\nroot: /a\n"
        #expect(try load(yaml, environment: ["FILER_WORKERS=3"]).workers == .fixed(3))
        #expect(try load(yaml, environment: ["FILER_WORKERS=3"], flags: ["workers": ["4"]]).workers == .fixed(4))
        #expect(try load(yaml, environment: ["FILER_LIMITS_MAX_FILE_SIZE=1MiB"]).limits.maxFileSize == 1 << 20)
        #expect(
            try load(yaml, environment: ["FILER_FRONTEND=tcp://127.0.0.1:1, tcp://127.0.0.1:2"]).frontends
                == ["tcp://127.0.0.1:1", "tcp://127.0.0.1:2"])
        let error = failure(yaml, environment: ["FILER_WORKERS=many"])
        #expect(error?.source == "environment variable FILER_WORKERS")
        #expect(failure(yaml, flags: ["workers": ["x"]])?.source == "command line")
    }

    @Test func theRootMustExistWhenChecked() {
        directory.write("filer.yaml", "root: /nonexistent/dir\n")
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader().load(path: directory.path + "/filer.yaml", environment: [], flags: [:])
        }
    }

    @Test func thePrintedConfigurationLoadsBackTheSame() throws {
        let configuration = try load(
            "workers: 3\nlimits: {max_file_size: 3KiB}\nrestart: {initial_delay: 250ms}\nhealth: {max_requests: 7}\n")
        #expect(try load(ConfigurationPrinter.yaml(configuration)) == configuration)
    }

    @Test func theRuntimeDirectoryIsTheServicesForRootEvenInALoginSession() {
        let session = ["XDG_RUNTIME_DIR": "/run/user/0"]
        #expect(RuntimeDirectory.path(environment: ["RUNTIME_DIRECTORY": "/run/filer"], isRoot: false, uid: 107) == "/run/filer")
        #expect(RuntimeDirectory.path(environment: ["RUNTIME_DIRECTORY": "/run/a:/run/b"], isRoot: true, uid: 0) == "/run/a")
        #expect(RuntimeDirectory.path(environment: session, isRoot: true, uid: 0) == "/run/filer")
        #expect(RuntimeDirectory.path(environment: ["XDG_RUNTIME_DIR": "/run/user/1000"], isRoot: false, uid: 1000) == "/run/user/1000/filer")
        #expect(RuntimeDirectory.path(environment: [:], isRoot: false, uid: 1000) == "/tmp/filer-1000")
    }

    private func readShipped() throws -> String {
        try readFile(repositoryPath("config/filer.yaml"))
    }
}

