/// The effective configuration as YAML the loader accepts back.
public enum ConfigurationPrinter {
    public static func yaml(_ configuration: Configuration) -> String {
        let workers: String
        switch configuration.workers {
        case .auto: workers = "auto  # \(configuration.workerCount) on this machine"
        case .fixed(let count): workers = "\(count)"
        }
        let frontends = configuration.frontends.map { "  - \($0)" }.joined(separator: "\n")
        return """
            frontend:
            \(frontends)
            backend: \(configuration.backend ?? "auto")
            workers: \(workers)
            root: \(configuration.root)
            limits:
              max_file_size: \(configuration.maxFileSize)B
              max_request_size: \(configuration.maxRequestSize)B
            restart:
              initial_delay: \(configuration.restart.initialDelay)s
              max_delay: \(configuration.restart.maxDelay)s
              stable_after: \(configuration.restart.stableAfter)s
              max_failed_starts: \(configuration.restart.maxFailedStarts)
            health:
              heartbeat_timeout: \(configuration.health.heartbeatTimeout)s
              max_requests: \(configuration.health.maxRequests)
              max_requests_jitter: \(configuration.health.maxRequestsJitter)
            stop_timeout: \(configuration.stopTimeout)s
            control: \(configuration.control ?? "auto")
            log_level: \(configuration.logLevel)
            """
    }
}
