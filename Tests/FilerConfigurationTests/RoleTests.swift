@testable import FilerConfiguration
import Testing
import TestSupport

/// Roles: a broker, a broker with no workers of its own, a worker host.
@Suite struct RoleTests {
    let directory = TemporaryDirectory()

    func load(_ yaml: String) throws(ConfigurationError) -> Configuration {
        directory.write("filer.yaml", yaml)
        return try ConfigurationLoader().load(path: directory.path + "/filer.yaml", environment: [], flags: [:], checkRoot: false)
    }

    func failure(_ yaml: String) -> ConfigurationError? {
        do {
            _ = try load(yaml)
            return nil
        } catch {
            return error
        }
    }

    @Test func aWorkerHostNamesItsBrokers() throws {
        let configuration = try load("role: workers\nbrokers: [tcp://198.18.0.1:60402, tcp://198.18.0.2:60402]\nworkers: 2\nallow_plaintext: true\n")
        #expect(configuration.role == .workers)
        #expect(configuration.brokers.count == 2)
        #expect(Configuration.drainEndpoint(ofBackend: configuration.brokers[0]) == "tcp://198.18.0.1:60403")
        #expect(failure("role: workers\n")?.key == "brokers")
        #expect(failure("role: workers\nbrokers: ipc:///tmp/b.ipc\n")?.key == "brokers")
        #expect(failure("role: workers\nbrokers: tcp://127.0.0.1:65535\n")?.key == "brokers", "no port after it for draining")
        #expect(failure("role: workers\nbrokers: tcp://127.0.0.1:1\nworkers: 0\n")?.key == "workers")
        #expect(failure("role: boss\n")?.key == "role")
    }

    @Test func aWorkerHostsBrokersAcrossTheNetworkNeedCurveOrPlaintextAskedFor() {
        let error = failure("role: workers\nbrokers: tcp://198.18.0.1:60402\n")
        #expect(error?.key == "brokers")
        #expect(error?.problem.contains("curve.broker_key") == true)
        #expect(failure("role: workers\nbrokers: tcp://198.18.0.1:60402\ncurve: {certificate: /k/w.key_secret}\n")?.key == "curve.broker_key")
        #expect(failure("role: workers\nbrokers: tcp://198.18.0.1:60402\ncurve: {certificate: /k/w.key_secret, broker_key: /k/b.key}\n") == nil)
    }

    @Test func onlyAWorkerHostHasBrokers() {
        #expect(failure("brokers: tcp://127.0.0.1:60402\n")?.key == "brokers")
    }

    @Test func aBrokerWithNoWorkersNeedsABackendWorkerHostsCanReach() throws {
        #expect(failure("workers: 0\n")?.key == "workers")
        let configuration = try load("workers: 0\nbackend: tcp://127.0.0.1:60402\n")
        #expect(configuration.remoteBackendEndpoint == "tcp://127.0.0.1:60402")
        #expect(configuration.localBackendEndpoint(masterPID: 7).hasSuffix("/backend.7.ipc"), "its own workers keep an ipc backend")
        #expect(failure("backend: tcp://127.0.0.1:65535\n")?.key == "backend")
    }
}
