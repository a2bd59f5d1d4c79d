import CZeroMQ
import Posix
import ZeroMQ
import FilerConfiguration

/// The frontend: what it allows each client, whether it accepts new connections, and
/// which endpoints it is bound to.
extension Broker {
    /// What the frontend allows each client: its request frames' size, and how long it
    /// may be silent.
    ///
    /// Its queues are not where memory is bounded: they count messages, not bytes, and a
    /// send queue small enough to bound bytes drops the replies of clients that merely
    /// pipeline (8 lost 3 % of a 100-deep pipeline's replies; 32 lost none until 500
    /// deep), so it keeps libzmq's 1,000. The receive queue has no limit at all: when
    /// one fills, libzmq 4.3.4 stops reading that connection, and if the peer then
    /// leaves, the next heartbeat aborts the process (`!_io_error`,
    /// stream_engine_base.cpp:331). The master's memory budget bounds bytes instead.
    static func configureFrontend(_ frontend: Socket, limits: Limits, connections: ConnectionPolicy) throws(ZeroMQError) {
        // An oversized frame ends its connection, before any worker sees it.
        try frontend.setMaximumMessageSize(Int64(limits.maxRequestSize))
        try frontend.setHighWaterMarks(send: 1_000, receive: 0)
        let interval = Int32(clamping: connections.heartbeatInterval.milliseconds)
        let timeout = Int32(clamping: connections.heartbeatTimeout.milliseconds)
        try frontend.setHeartbeats(intervalMilliseconds: interval, timeoutMilliseconds: timeout, ttlMilliseconds: interval > 0 ? timeout : 0)
        try frontend.setHandshakeTimeout(milliseconds: Int32(clamping: connections.handshakeTimeout.milliseconds))
        // For peers whose host is gone without a word: the kernel probes after a minute.
        try frontend.setTCPKeepalive(idleSeconds: 60, intervalSeconds: 10, count: 6)
    }

    /// A reply frame past `max_reply_size` (and a little for the envelope) can only come
    /// from a peer that is not one of our workers: it ends that connection.
    static func limitReplies(_ backend: Socket, _ limits: Limits) throws(ZeroMQError) {
        try backend.setMaximumMessageSize(Int64(limits.maxReplySize) + 64 << 10)
    }

    /// Stops or resumes accepting new connections on every TCP frontend, at once and
    /// whether the proxy runs or not; the connections already made go on. An ipc
    /// frontend cannot be paused so (closing its listener would end its connections
    /// too): file permissions guard it. - Returns: what failed, if anything did.
    func setListening(_ on: Bool) -> String? {
        var failures: [String] = []
        for (endpoint, listener) in listeners.sorted(by: { $0.key < $1.key }) where endpoint.hasPrefix("tcp://") {
            do throws(SystemError) {
                try Connections.pauseListener(listener, !on)
            } catch {
                failures.append("\(endpoint): \(error)")
            }
        }
        return failures.isEmpty ? nil : failures.joined(separator: "; ")
    }


    /// The monitor saw `endpoint` bound on `descriptor`.
    func listenerBound(_ endpoint: String, descriptor: Int32) {
        listeners[endpoint] = descriptor
    }

    /// With the proxy stopped: binds the endpoints that are new, unbinds those no longer
    /// wanted, and applies the limits to connections made from now on. Binding comes
    /// first, so a failure leaves the running endpoints as they were.
    func reconfigureFrontends(_ endpoints: [String], limits: Limits, connections: ConnectionPolicy) throws(ZeroMQError) {
        precondition(thread == nil, "the proxy thread owns the sockets while it runs")
        var bound: [String] = []
        do throws(ZeroMQError) {
            for endpoint in endpoints where !frontends.contains(endpoint) {
                try bind(frontend, endpoint)
                bound.append(endpoint)
            }
            try Self.configureFrontend(frontend, limits: limits, connections: connections)
            // The new workers connect anew, and take the new limit with them.
            try Self.limitReplies(backendSocket, limits)
        } catch {
            // Put back what we changed; an unbind that fails leaves a stray listener, no worse.
            for endpoint in bound { try? frontend.unbind(endpoint) }
            throw error
        }
        for endpoint in frontends where !endpoints.contains(endpoint) {
            do throws(ZeroMQError) { try frontend.unbind(endpoint) } catch {
                // Still bound: it keeps serving, which a reload must not prevent.
            }
        }
        frontends = endpoints
    }
}
