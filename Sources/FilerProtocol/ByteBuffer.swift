import Glibc

/// A growable byte buffer that a worker reuses for every file it reads and every
/// reply it writes: no zero-filling and no allocation per request once it is large enough.
///
/// Its three fields are exempt from the runtime's exclusivity checks: a reply took about
/// 45 of them, 3,500 instructions of a 1 KiB request's 35,000 (callgrind, bench/profile).
/// They are plain values (a pointer and two integers), and no access to them can
/// overlap another: each is a load, a store or an integer's `+=`, with no call made
/// while it is open (Swift evaluates the right side before the inout access begins).
/// The compiler's static checks still apply. The exemption holds only in this module
/// (another module accessing a field checks it all the same), so other modules change
/// `count` through `removeAll()` and `didWrite(_:)`.
public final class ByteBuffer {
    @exclusivity(unchecked) private var storage: UnsafeMutableRawPointer
    @exclusivity(unchecked) private var allocated: Int
    @exclusivity(unchecked) private var used = 0

    public var capacity: Int { allocated }

    /// How many bytes at the start hold data.
    public internal(set) var count: Int {
        get { used }
        set { used = newValue }
    }

    public init(capacity: Int = 64 << 10) {
        allocated = max(capacity, 1)
        storage = malloc(allocated)!
    }

    /// Empties the buffer; its memory stays for the next contents.
    public func removeAll() { used = 0 }

    /// Counts `written` bytes more as data: the caller wrote them at the start of `spare`.
    public func didWrite(_ written: Int) {
        precondition(written >= 0 && written <= allocated - used, "wrote past the buffer's end")
        used += written
    }

    deinit { free(storage) }

    /// Makes room for at least `capacity` bytes, keeping the first `count`; grows at
    /// least twofold, so that appending is amortised constant time.
    public func reserve(_ capacity: Int) {
        guard capacity > self.capacity else { return }
        let capacity = max(capacity, self.capacity * 2)
        guard let grown = realloc(storage, capacity) else { fatalError("out of memory for a \(capacity)-byte file") }
        storage = grown
        allocated = capacity
    }

    /// Gives memory back: empties the buffer and, if it grew beyond `capacity`, replaces
    /// its storage with a fresh allocation of that size. A worker calls this when idle,
    /// so that one large file does not pin its size in every worker for good.
    public func shrink(to capacity: Int) {
        used = 0
        guard allocated > capacity, let fresh = malloc(max(capacity, 1)) else { return }
        free(storage)
        storage = fresh
        allocated = max(capacity, 1)
    }

    /// Hands over the storage, with its `count` bytes, to be freed with `free` by the
    /// taker (a zero-copy send); the buffer starts again, empty, with `capacity`.
    public func detach(keeping capacity: Int) -> (data: UnsafeMutableRawPointer, count: Int) {
        let taken = (storage, used)
        allocated = max(capacity, 1)
        storage = malloc(allocated)!
        used = 0
        return taken
    }

    /// The bytes from `count` to the end of the capacity, to be filled.
    public var spare: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: storage + count, count: capacity - count)
    }

    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: storage, count: count)
    }

    /// Appends text, growing the buffer if need be.
    func append(_ text: StaticString) {
        reserve(count + text.utf8CodeUnitCount)
        (storage + count).copyMemory(from: text.utf8Start, byteCount: text.utf8CodeUnitCount)
        count += text.utf8CodeUnitCount
    }

    /// Appends a number in decimal, as JSON writes it.
    func appendDecimal(_ value: Int64) {
        reserve(count + 20)
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: enough for 20 digits
        let length = withUnsafeMutableBytes(of: &digits) { scratch -> Int in
            var position = scratch.count
            repeat {
                position -= 1
                scratch[position] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 {
                position -= 1
                scratch[position] = UInt8(ascii: "-")
            }
            (storage + count).copyMemory(from: scratch.baseAddress! + position, byteCount: scratch.count - position)
            return scratch.count - position
        }
        count += length
    }

}
