import Posix

/// The checks that concern more than one key, after every source has been read.
enum ConfigurationRules {
    /// Protected mode, as Redis has it: an endpoint other machines can reach must be
    /// secured, or plaintext must be asked for in so many words.
    static func protectedMode(
        _ configuration: Configuration, fail: (String, String) -> ConfigurationError
    ) throws(ConfigurationError) {
        guard !configuration.curve.isOn, !configuration.allowPlaintext else { return }
        let endpoints = configuration.frontends.map { ("frontend", $0) } + [configuration.backend].compactMap { $0.map { ("backend", $0) } }
        for (key, text) in endpoints {
            guard let endpoint = try? Endpoint(parsing: text), !endpoint.isLocal else { continue }  // checked when read
            throw fail(
                key,
                "\(text) can be reached from other machines, and without CURVE anyone who reaches it reads every file under root: set curve.certificate and curve.authorized_keys (make keys with `filer keygen`), or allow_plaintext: true")
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
        if configuration.curve.isOn && configuration.curve.authorizedKeys == nil {
            throw fail("curve.authorized_keys", "needed with curve.certificate: which clients may connect?")
        }
        if checkRoot && !Files.isSearchableDirectory(configuration.root) {
            throw fail("root", "\(ConfigurationValues.quoted(configuration.root)) is not a directory this process can read")
        }
    }
}
