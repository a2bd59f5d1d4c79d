import Posix

/// The checks that concern more than one key, after every source has been read.
enum ConfigurationRules {
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
        if checkRoot && !Files.isSearchableDirectory(configuration.root) {
            throw fail("root", "\(ConfigurationValues.quoted(configuration.root)) is not a directory this process can read")
        }
    }
}
