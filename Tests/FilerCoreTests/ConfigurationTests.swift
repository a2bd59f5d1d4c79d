@testable import FilerCore
import Glibc
import Logging
import Testing

@Suite struct ConfigurationTests {
    let directory = TemporaryDirectory()

    func load(
        _ yaml: String, environment: [String] = [], flags: [String: ConfigurationLoader.RawValue] = [:]
    ) throws(ConfigurationError) -> Configuration {
        directory.write("filer.yaml", yaml)
        return try ConfigurationLoader().load(
            path: directory.path + "/filer.yaml", environment: environment, flags: flags, checkRoot: false)
    }

    func failure(
        _ yaml: String, environment: [String] = [], flags: [String: ConfigurationLoader.RawValue] = [:]
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
        #expect(configuration.maxFileSize == 64 << 20)
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
            limits: {max_file_size: 2KiB, max_request_size: 100}
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
        #expect(configuration.maxFileSize == 2048)
        #expect(configuration.maxRequestSize == 100)
        #expect(configuration.restart.initialDelay == 0.05)
        #expect(configuration.restart.maxDelay == 120)
        #expect(configuration.restart.stableAfter == 1.5)
        #expect(configuration.restart.maxFailedStarts == 9)
        #expect(configuration.health.heartbeatTimeout == 4)
        #expect(configuration.health.maxRequests == 1000)
        #expect(configuration.health.maxRequestsJitter == 50)
        #expect(configuration.stopTimeout == 3)
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
        #expect(try load(yaml, environment: ["FILER_WORKERS=3"], flags: ["workers": .scalar("4")]).workers == .fixed(4))
        #expect(try load(yaml, environment: ["FILER_LIMITS_MAX_FILE_SIZE=1MiB"]).maxFileSize == 1 << 20)
        #expect(
            try load(yaml, environment: ["FILER_FRONTEND=tcp://127.0.0.1:1, tcp://127.0.0.1:2"]).frontends
                == ["tcp://127.0.0.1:1", "tcp://127.0.0.1:2"])
        let error = failure(yaml, environment: ["FILER_WORKERS=many"])
        #expect(error?.source == "environment variable FILER_WORKERS")
        #expect(failure(yaml, flags: ["workers": .scalar("x")])?.source == "command line")
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
        let source = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
        return try readFile("/" + source + "/config/filer.yaml")
    }
}

func readFile(_ path: String) throws -> String {
    let file = fopen(path, "rb")
    try #require(file != nil)
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let got = fread(&chunk, 1, chunk.count, file)
        if got == 0 { break }
        bytes += chunk[..<got]
    }
    return String(decoding: bytes, as: UTF8.self)
}
