import Posix
import FilerMetrics

/// The checks that concern more than one key, after every source has been read.
enum ConfigurationRules {
    /// A worker host needs brokers (tcp://, each with its drain endpoint) and workers; a
    /// broker with no workers of its own needs a backend worker hosts can reach.
    static func roles(_ configuration: Configuration, fail: (String, String) -> ConfigurationError) throws(ConfigurationError) {
        switch configuration.role {
        case .workers:
            guard !configuration.brokers.isEmpty else { throw fail("brokers", "a worker host needs at least one broker") }
            for broker in configuration.brokers where Configuration.drainEndpoint(ofBackend: broker) == nil {
                throw fail("brokers", "'\(broker)' is not a tcp:// endpoint with a port below 65535 (a broker's drain endpoint is the port after)")
            }
            if configuration.workers == .fixed(0) { throw fail("workers", "a worker host needs workers") }
        case .broker:
            if !configuration.brokers.isEmpty { throw fail("brokers", "only a worker host (role: workers) has brokers") }
            if configuration.workers == .fixed(0) && configuration.remoteBackendEndpoint == nil {
                throw fail("workers", "a broker with no workers of its own needs a tcp:// backend for worker hosts")
            }
            if let backend = configuration.remoteBackendEndpoint, Configuration.drainEndpoint(ofBackend: backend) == nil {
                throw fail("backend", "the port must be below 65535: worker hosts ask the port after it to pause")
            }
        }
    }

    /// Protected mode, as Redis has it: an endpoint other machines can reach must be
    /// secured, or plaintext must be asked for in so many words.
    static func protectedMode(
        _ configuration: Configuration, fail: (String, String) -> ConfigurationError
    ) throws(ConfigurationError) {
        guard !configuration.curve.isOn, !configuration.allowPlaintext else { return }
        // A worker host binds nothing: what crosses the network is its way to the brokers.
        let endpoints = configuration.role == .workers
            ? configuration.brokers.map { ("brokers", $0) }
            : configuration.frontends.map { ("frontend", $0) } + [configuration.backend].compactMap { $0.map { ("backend", $0) } }
        let keys = configuration.role == .workers ? "curve.broker_key" : "curve.authorized_keys"
        for (key, text) in endpoints {
            guard let endpoint = try? Endpoint(parsing: text), !endpoint.isLocal else { continue }  // checked when read
            throw fail(
                key,
                "\(text) can be reached from other machines, and without CURVE anyone who reaches it reads every file under root: set curve.certificate and \(keys) (make keys with `filer keygen`), or allow_plaintext: true")
        }
    }

    static func check(_ configuration: Configuration, source: String, checkRoot: Bool) throws(ConfigurationError) {
        func fail(_ key: String, _ problem: String) -> ConfigurationError {
            ConfigurationError(source: source, key: key, problem: problem)
        }
        if configuration.restart.maxDelay < configuration.restart.initialDelay {
            throw fail("restart.max_delay", "must not be less than restart.initial_delay")
        }
        if configuration.connections.heartbeatInterval > .zero
            && configuration.connections.heartbeatTimeout < configuration.connections.heartbeatInterval
        {
            throw fail("connections.heartbeat_timeout", "must not be less than connections.heartbeat_interval")
        }
        // One endpoint, one role: libzmq would let a second bind take an ipc path over.
        let frontends = Set(configuration.frontends)
        if let backend = configuration.backend, frontends.contains(backend) {
            throw fail("backend", "'\(backend)' is also a frontend")
        }
        if let control = configuration.control {
            if frontends.contains(control) { throw fail("control", "'\(control)' is also a frontend") }
            if control == configuration.backend { throw fail("control", "'\(control)' is also the backend") }
        }
        try protectedMode(configuration, fail: fail)
        if let metrics = configuration.metrics, !metrics.isLoopback, !configuration.allowPlaintext {
            throw fail("metrics", "\(metrics) can be reached from other machines, and anyone who reaches it reads the counts (HTTP, no CURVE): serve it on 127.0.0.1 or ::1 and scrape through a tunnel or a local agent, or allow_plaintext: true")
        }
        try roles(configuration, fail: fail)
        if configuration.curve.isOn && configuration.role == .broker && configuration.curve.authorizedKeys == nil {
            throw fail("curve.authorized_keys", "needed with curve.certificate: which clients may connect?")
        }
        if configuration.curve.isOn && configuration.role == .workers && configuration.curve.brokerKey == nil {
            throw fail("curve.broker_key", "needed with curve.certificate on a worker host: which brokers are genuine?")
        }
        if checkRoot && !Files.isSearchableDirectory(configuration.root) {
            throw fail("root", "\(ConfigurationValues.quoted(configuration.root)) is not a directory this process can read")
        }
    }
}
