import Glibc
import FilerProtocol

/// Writes the reply for a large file while reading it a piece at a time, so that the
/// worker holds the reply and one piece, not the whole file besides: a 64 MiB text
/// file read whole peaked at 2.32× its size in the worker's RSS (bench/run --large).
///
/// The reply is the one `ReplyWriter.writeContent` writes for the whole file: text
/// when the file is UTF-8 and base64 was not asked for, base64 otherwise. UTF-8 is
/// checked piece by piece, each piece cut after its last whole character (the rest
/// starts the next piece); a file found not to be UTF-8 part-way is read again from
/// the start as base64.
struct PiecewiseReply {
    /// A multiple of 3, so that every piece but the last encodes to whole base64 groups.
    let pieceSize: Int
    private let piece: ByteBuffer

    init(pieceSize: Int = 3 << 18) {
        precondition(pieceSize > 0 && pieceSize % 3 == 0, "a piece must be a multiple of 3 bytes")
        self.pieceSize = pieceSize
        piece = ByteBuffer(capacity: 1)
    }

    /// Gives the piece's memory back (a worker that is idle after a large file).
    func releaseMemory() { piece.shrink(to: 1) }

    /// Where a piece is read to (the buffer is never counted as holding data).
    private var start: UnsafeMutableRawPointer { piece.spare.baseAddress! }

    enum Failure: Error {
        case read(ReadError)
        case reply(FileError)
    }

    func write(
        _ file: borrowing OpenFile, requested: FileRequest.Encoding?, into reply: ReplyWriter,
        maximumSize: Int, timestamp: Int64, pid: Int32
    ) throws(Failure) {
        // A character cut at the end of one piece starts the next: up to 3 bytes more.
        piece.reserve(pieceSize + 3)
        if requested != .base64 {
            guard try !writeText(file, into: reply, maximumSize: maximumSize) else {
                return reply.finishContent(base64: false, timestamp: timestamp, pid: pid)
            }
        }
        try writeBase64(file, into: reply, maximumSize: maximumSize)
        reply.finishContent(base64: true, timestamp: timestamp, pid: pid)
    }

    /// - Returns: false when the file is not UTF-8 (the reply is then unfinished).
    private func writeText(_ file: borrowing OpenFile, into reply: ReplyWriter, maximumSize: Int) throws(Failure) -> Bool {
        // An escape is at most six bytes: most replies need no counting against the limit.
        // Those that may pass it are counted first, so that one over it is never built.
        if ReplyWriter.replySize(contentCount: file.size * 6) > maximumSize {
            guard let (count, read) = try scanText(file, into: nil, maximumSize: maximumSize) else { return false }
            let size = ReplyWriter.replySize(contentCount: count)
            guard size <= maximumSize else {
                let base64Size = ReplyWriter.replySize(contentCount: ReplyWriter.base64Count(read))
                throw .reply(ReplyWriter.tooBig(size: size, maximumSize: maximumSize, base64Size: base64Size))
            }
        }
        reply.beginContent(expectedCount: file.size + file.size / 16)
        return try scanText(file, into: reply, maximumSize: maximumSize) != nil
    }

    /// Reads the file, checks that it is UTF-8, and writes it escaped into `reply` or,
    /// with none, only counts what it would write. - Returns: the content's size once
    /// escaped and the bytes read, or nil when the file is not UTF-8.
    private func scanText(
        _ file: borrowing OpenFile, into reply: ReplyWriter?, maximumSize: Int
    ) throws(Failure) -> (count: Int, read: Int)? {
        var offset = 0
        var carried = 0
        var count = 0
        while true {
            let room = UnsafeMutableRawBufferPointer(start: start + carried, count: pieceSize)
            let got = try read(file, into: room, at: offset)
            offset += got
            let held = carried + got
            // A regular file reads short only at its end: the last piece is checked whole.
            let last = got < pieceSize
            let whole = last ? held : Self.wholeCharacters(in: start, count: held)
            let text = UnsafeRawBufferPointer(start: start, count: whole)
            guard ReplyWriter.isValidUTF8(text) else { return nil }
            if let reply {
                reply.appendText(text)
                count = reply.contentCount
                // Counted first, yet grown since: the limit holds all the same.
                let size = ReplyWriter.replySize(contentCount: count)
                if offset > file.size && size > maximumSize {
                    throw .reply(ReplyWriter.tooBig(size: size, maximumSize: maximumSize, base64Size: nil))
                }
            } else {
                count += ReplyWriter.escapedCount(text)
            }
            if last { return (count, offset) }
            carried = held - whole
            if carried > 0 { memmove(start, start + whole, carried) }
        }
    }

    private func writeBase64(_ file: borrowing OpenFile, into reply: ReplyWriter, maximumSize: Int) throws(Failure) {
        var size = ReplyWriter.replySize(contentCount: ReplyWriter.base64Count(file.size))
        guard size <= maximumSize else { throw .reply(ReplyWriter.tooBig(size: size, maximumSize: maximumSize, base64Size: nil)) }
        reply.beginContent(expectedCount: ReplyWriter.base64Count(file.size))
        var offset = 0
        while true {
            let room = UnsafeMutableRawBufferPointer(start: start, count: pieceSize)
            let got = try read(file, into: room, at: offset)
            offset += got
            // The file grew past what its size at the open allowed.
            size = ReplyWriter.replySize(contentCount: ReplyWriter.base64Count(offset))
            guard size <= maximumSize else { throw .reply(ReplyWriter.tooBig(size: size, maximumSize: maximumSize, base64Size: nil)) }
            reply.appendBase64(UnsafeRawBufferPointer(start: start, count: got))
            guard got == pieceSize else { break }
        }
    }

    private func read(_ file: borrowing OpenFile, into room: UnsafeMutableRawBufferPointer, at offset: Int) throws(Failure) -> Int {
        do throws(ReadError) {
            let got = try file.read(into: room, at: offset)
            guard offset + got <= file.maxFileSize else { throw file.grewTooBig }
            return got
        } catch {
            throw .read(error)
        }
    }

    /// How many of the `count` bytes at `start` end with a whole UTF-8 character: a lead
    /// byte in the last three whose character runs past the end starts the next piece.
    /// (Anything else that is not UTF-8 is left for the check to find.)
    static func wholeCharacters(in start: UnsafeMutableRawPointer, count: Int) -> Int {
        var index = count - 1
        while index >= max(0, count - 3) {
            let byte = start.load(fromByteOffset: index, as: UInt8.self)
            if byte & 0xC0 != 0x80 {
                let length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
                return index + length > count ? index : count
            }
            index -= 1
        }
        return count
    }
}
