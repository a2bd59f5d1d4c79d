import Glibc
import CFilerLinux

/// A dedicated OS thread, for work that blocks for the life of the process
/// (the ZeroMQ proxy) and so must not occupy a Swift concurrency thread.
public struct OSThread: ~Copyable {
    private let handle: pthread_t

    private final class Body {
        let name: String
        let run: @Sendable () -> Void
        init(name: String, run: @escaping @Sendable () -> Void) {
            self.name = name
            self.run = run
        }
    }

    /// Starts `body` on a new thread named `name` (at most 15 bytes show in `top -H`).
    public init(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) {
        let context = Unmanaged.passRetained(Body(name: name, run: body)).toOpaque()
        var handle = pthread_t()
        let result = pthread_create(&handle, nil, { raw in
            let body = Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue()
            _ = filer_set_thread_name(String(body.name.prefix(15)))
            body.run()
            return nil
        }, context)
        if result != 0 {
            Unmanaged<Body>.fromOpaque(context).release()
            throw SystemError("pthread_create", errno: result)
        }
        self.handle = handle
    }

    /// Names the calling thread; on the main thread this is the process name `ps` shows.
    public static func nameCurrent(_ name: String) {
        _ = filer_set_thread_name(String(name.prefix(15)))
    }

    /// Waits for the thread to end.
    public consuming func join() {
        _ = pthread_join(handle, nil)
        discard self
    }

    deinit {
        // A thread that is never joined must not stay a zombie thread.
        _ = pthread_detach(handle)
    }
}
