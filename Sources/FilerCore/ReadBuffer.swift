import Glibc

/// A growable byte buffer that a worker reuses for every file it reads:
/// no zero-filling and no allocation per request once it is large enough.
public final class ReadBuffer {
    private var storage: UnsafeMutableRawPointer
    public private(set) var capacity: Int
    /// How many bytes at the start hold data.
    public var count = 0

    public init(capacity: Int = 64 << 10) {
        self.capacity = max(capacity, 1)
        storage = malloc(self.capacity)!
    }

    deinit { free(storage) }

    /// Makes room for at least `capacity` bytes, keeping the first `count`.
    public func reserve(_ capacity: Int) {
        guard capacity > self.capacity else { return }
        guard let grown = realloc(storage, capacity) else { fatalError("out of memory for a \(capacity)-byte file") }
        storage = grown
        self.capacity = capacity
    }

    /// The bytes from `count` to the end of the capacity, to be filled.
    public var spare: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: storage + count, count: capacity - count)
    }

    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: storage, count: count)
    }
}
