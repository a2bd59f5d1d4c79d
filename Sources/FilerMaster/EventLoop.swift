import Posix
import ZeroMQ

/// The master's event loop: every descriptor and socket is a source registered with
/// its own handler, as systemd's sd-event has it; nothing is found by position.
final class EventLoop {
    /// A registered source, to remove it later.
    struct SourceID: Hashable {
        fileprivate let value: Int
    }

    private struct Registration {
        let id: SourceID
        let source: Poller.Source
        let handler: () -> Void
    }

    private var registrations: [Registration] = []
    private var nextID = 0
    /// The poll items, rebuilt only when sources change.
    private var poller = Poller()
    private var pollerIsStale = true

    @discardableResult
    func add(_ source: Poller.Source, _ handler: @escaping () -> Void) -> SourceID {
        let id = SourceID(value: nextID)
        nextID += 1
        registrations.append(Registration(id: id, source: source, handler: handler))
        pollerIsStale = true
        return id
    }

    func remove(_ id: SourceID) {
        registrations.removeAll { $0.id == id }
        pollerIsStale = true
    }

    /// Waits up to `timeoutMilliseconds` and runs the handler of every source that is
    /// readable. A handler may add or remove sources; the change applies to the next wait.
    func runOnce(timeoutMilliseconds: Int) throws(ZeroMQError) {
        if pollerIsStale {
            poller = Poller()
            for registration in registrations { poller.add(registration.source) }
            pollerIsStale = false
        }
        let snapshot = registrations
        guard try poller.wait(timeoutMilliseconds: timeoutMilliseconds) else { return }
        for (index, registration) in snapshot.enumerated() where poller.isReadable(index) {
            // A handler that ran before may have removed this source.
            guard registrations.contains(where: { $0.id == registration.id }) else { continue }
            registration.handler()
        }
    }
}
