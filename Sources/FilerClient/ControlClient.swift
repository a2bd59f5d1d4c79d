public import FilerCore

/// The `filer status` side: one request to the control endpoint, no retries.
public enum ControlClient {
    /// - Returns: the report, or nil when no answer came within `timeout` seconds.
    public static func status(endpoint: String, timeout: Double, curve: LazyPirateClient.Curve? = nil) throws -> StatusReport? {
        let client = LazyPirateClient(endpoints: [endpoint], timeout: timeout, retries: 0, curve: curve)
        do {
            return try StatusReport.decode(try client.send(Array("status".utf8)))
        } catch LazyPirateClient.Failure.noReply {
            return nil
        }
    }
}
