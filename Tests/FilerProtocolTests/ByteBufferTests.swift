import Glibc
@testable import FilerProtocol
import Testing

@Suite struct ByteBufferTests {
    /// A zero-copy send takes the storage as it is; the buffer goes on with a fresh one.
    @Test func detachHandsOverTheBytesAndStartsAfresh() {
        let buffer = ByteBuffer(capacity: 16)
        buffer.append("hello, world")
        buffer.reserve(1 << 20)
        let (data, count) = buffer.detach(keeping: 32)
        defer { free(data) }
        #expect(count == 12)
        #expect(String(decoding: UnsafeRawBufferPointer(start: data, count: count), as: UTF8.self) == "hello, world")
        #expect(buffer.count == 0 && buffer.capacity == 32, "the large storage went with the reply")
        buffer.append("next")
        #expect(String(decoding: buffer.bytes, as: UTF8.self) == "next")
    }
}
