import Glibc
import CFilerLinux

/// What the master may learn about, and do to, a client connection whose descriptor
/// libzmq owns: read-only questions, and a shutdown that libzmq takes for the peer leaving.
public enum Connections {
    /// The peer as "ADDRESS:PORT", or nil when the descriptor is no connection now.
    public static func peer(of descriptor: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: 80)
        guard filer_peer_address(descriptor, &buffer, buffer.count) == 0 else { return nil }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Bytes received from the peer, and bytes queued for it that it has not taken.
    public static func counters(of descriptor: Int32) -> (received: UInt64, queued: UInt64)? {
        var received: UInt64 = 0
        var queued: UInt64 = 0
        guard filer_tcp_counters(descriptor, &received, &queued) == 0 else { return nil }
        return (received, queued)
    }

    /// Ends the connection on `descriptor` if it is still the one to `peer` (a descriptor
    /// number is reused as soon as libzmq closes it). - Returns: whether it was ended.
    @discardableResult
    public static func drop(_ descriptor: Int32, peer: String) -> Bool {
        filer_drop_connection(descriptor, peer) == 1
    }

    /// The memory the process holds, as the budget counts it: the C heap's bytes
    /// handed out (libzmq's messages live there) that are also resident. Either alone
    /// misleads: libzmq allocates tens of KiB per connection that an idle one never
    /// touches (10,000 idle peers looked like 500 MiB of heap), and glibc keeps
    /// freed memory resident after a burst.
    public static func memoryHeld() -> Int {
        let heap = Int(clamping: filer_heap_in_use())
        let resident = filer_resident_bytes()
        return resident > 0 ? min(heap, Int(clamping: resident)) : heap
    }
}

extension Connections {
    /// Stops or resumes accepting on a listening TCP socket libzmq owns (see
    /// `filer_pause_listener`): the connections it accepted go on either way.
    public static func pauseListener(_ descriptor: Int32, _ paused: Bool) throws(SystemError) {
        let result = filer_pause_listener(descriptor, paused ? 1 : 0)
        if result < 0 { throw SystemError(paused ? "setsockopt(SO_ATTACH_FILTER)" : "setsockopt(SO_DETACH_FILTER)", errno: -result) }
    }
}
