import Glibc

/// A growable byte buffer that a worker reuses for every file it reads and every
/// reply it writes: no zero-filling and no allocation per request once it is large enough.
public final class ByteBuffer {
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

    /// Appends text; the caller has reserved room for it.
    func append(_ text: StaticString) {
        precondition(count + text.utf8CodeUnitCount <= capacity)
        (storage + count).copyMemory(from: text.utf8Start, byteCount: text.utf8CodeUnitCount)
        count += text.utf8CodeUnitCount
    }

    /// Appends text; the caller has reserved room for it.
    func append(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            precondition(count + utf8.count <= capacity)
            if let base = utf8.baseAddress { (storage + count).copyMemory(from: base, byteCount: utf8.count) }
            count += utf8.count
        }
    }
}
