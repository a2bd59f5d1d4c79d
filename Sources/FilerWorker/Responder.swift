import Glibc
import Logging
import Posix
import FilerCore
import FilerProtocol
import CFilerLinux
import ZeroMQ

/// Turns one request frame into one reply: decode, read beneath the root, write the
/// JSON. Never fails: every problem is an error reply.
public final class Responder {
    private let reader: ConfinedFileReader
    private let maxReplySize: Int
    private let logger: Logger
    private let file = ByteBuffer()
    private let reply = ReplyWriter()
    private let pid = getpid()
    /// Whether requests are logged one by one (`debug`). The level is the worker's for
    /// life; asking the log handler for it on every request cost about 200 instructions.
    private let logsEachRequest: Bool
    /// Error replies since the worker started, by code.
    private(set) var refusals: [String: UInt64] = [:]

    /// Buffers larger than this are given back when the worker is idle.
    static let keptCapacity = 1 << 20

    init(reader: consuming ConfinedFileReader, maxReplySize: Int, logger: Logger) {
        self.reader = reader
        self.maxReplySize = maxReplySize
        self.logger = logger
        logsEachRequest = logger.logLevel <= .debug
    }

    /// The reply to `frame`; valid until the next call.
    func answer(_ frame: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        let request: FileRequest
        do throws(FileError) {
            request = try FileRequest.decode(frame)
        } catch {
            return refuse(error)
        }
        do throws(ReadError) {
            let opened = try reader.open(request.path)
            if opened.size >= Self.piecewiseSize {
                return answerPiecewise(opened, request)
            }
            try reader.readAll(opened, into: file)
        } catch {
            return refuse(FileError(reading: request.path, error))
        }
        do throws(FileError) {
            try reply.writeContent(
                file.bytes, requested: request.encoding, timestamp: epochMilliseconds(), pid: pid,
                maximumSize: maxReplySize)
        } catch {
            return refuse(FileError(error.code, "\(request.path): \(error.message)"))
        }
        if logsEachRequest { logger.debug("Served", metadata: ["path": "\(request.path)", "bytes": "\(file.count)"]) }
        return reply.bytes
    }

    /// Files this large are read a piece at a time into the reply (see `PiecewiseReply`):
    /// reading one whole costs its size again at the peak.
    static let piecewiseSize = 4 << 20
    private let pieces = PiecewiseReply()

    private func answerPiecewise(_ opened: borrowing OpenFile, _ request: FileRequest) -> UnsafeRawBufferPointer {
        do throws(PiecewiseReply.Failure) {
            try pieces.write(
                opened, requested: request.encoding, into: reply, maximumSize: maxReplySize,
                timestamp: epochMilliseconds(), pid: pid)
        } catch {
            switch error {
            case .read(let failure): return refuse(FileError(reading: request.path, failure))
            case .reply(let failure): return refuse(FileError(failure.code, "\(request.path): \(failure.message)"))
            }
        }
        if logsEachRequest { logger.debug("Served", metadata: ["path": "\(request.path)", "bytes": "\(opened.size)"]) }
        return reply.bytes
    }

    /// An error reply that is not about a file (the request's shape, say).
    func refuse(_ error: FileError) -> UnsafeRawBufferPointer {
        refusals[error.code.rawValue, default: 0] += 1
        reply.writeError(error, timestamp: epochMilliseconds(), pid: pid)
        if logsEachRequest { logger.debug("Refused", metadata: ["code": "\(error.code.rawValue)", "reason": "\(error.message)"]) }
        return reply.bytes
    }

    /// Replies this large are handed to libzmq as they are, not copied: a copy of a
    /// 64 MiB reply costs 64 MiB more at the peak and a pass over it. Smaller ones are
    /// copied, keeping the buffer for the next: a malloc per reply would cost more.
    static let handedOverSize = 256 << 10

    /// The last reply as a message for `zmq_send`, if it is large enough to hand over
    /// rather than copy.
    func takeLargeReply() -> Message? {
        guard reply.bytes.count >= Self.handedOverSize else { return nil }
        let (data, count) = reply.detach(keeping: 64 << 10)
        return Message(takingMallocated: data, count: count)
    }

    /// Gives back what a large file made the buffers grow to.
    func releaseMemory() {
        guard file.capacity > Self.keptCapacity || reply.capacity > Self.keptCapacity else { return }
        file.shrink(to: 64 << 10)
        reply.shrink(to: 64 << 10)
        pieces.releaseMemory()
        // free() keeps pages in the heap for the next malloc; hand them back now.
        _ = filer_release_free_memory()
    }
}
