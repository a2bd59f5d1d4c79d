/// The little of HTTP/1.1 that one read-only endpoint needs: judging a request head,
/// and writing a response that closes the connection. No system calls here.
enum HTTP {
    enum Status: Int {
        case ok = 200
        case badRequest = 400
        case notFound = 404
        case methodNotAllowed = 405
        case headersTooLarge = 431
        case serviceUnavailable = 503
        case versionNotSupported = 505

        var reason: String {
            switch self {
            case .ok: "OK"
            case .badRequest: "Bad Request"
            case .notFound: "Not Found"
            case .methodNotAllowed: "Method Not Allowed"
            case .headersTooLarge: "Request Header Fields Too Large"
            case .serviceUnavailable: "Service Unavailable"
            case .versionNotSupported: "HTTP Version Not Supported"
            }
        }
    }

    /// What to do with the bytes received so far.
    enum Verdict: Equatable {
        /// The head is not complete yet, and nothing in it is wrong so far.
        case incomplete
        /// Answer with the metrics (without the body for HEAD).
        case metrics(isHead: Bool)
        case refuse(Status, isHead: Bool)
    }

    /// Judges a request head as soon as it can: a bad request line is refused before the
    /// rest of the head arrives, and a head larger than `maximumBytes` without waiting
    /// for its end. Lines may end in CRLF or, as RFC 9112 allows a recipient to accept, LF.
    static func judge(_ received: [UInt8], path: String, maximumBytes: Int) -> Verdict {
        let lines = received.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        // The last piece has no LF after it yet: an unfinished line.
        let complete = lines.dropLast().map { $0.last == UInt8(ascii: "\r") ? $0.dropLast() : $0 }
        guard let requestLine = complete.first else {
            if received.count > maximumBytes { return .refuse(.headersTooLarge, isHead: false) }
            let plausible = received.allSatisfy { $0 == UInt8(ascii: "\r") || (0x20..<0x7f).contains($0) }
            return plausible ? .incomplete : .refuse(.badRequest, isHead: false)
        }
        guard let request = RequestLine(requestLine) else { return .refuse(.badRequest, isHead: false) }
        let isHead = request.method == "HEAD"
        guard request.version == "HTTP/1.1" || request.version == "HTTP/1.0" else {
            let looksLikeHTTP = request.version.hasPrefix("HTTP/") && request.version.count == 8
            return .refuse(looksLikeHTTP ? .versionNotSupported : .badRequest, isHead: isHead)
        }
        guard let end = complete.dropFirst().firstIndex(where: { $0.isEmpty }) else {
            return received.count > maximumBytes ? .refuse(.headersTooLarge, isHead: isHead) : .incomplete
        }
        if received.count > maximumBytes && lines[...end].reduce(0, { $0 + $1.count + 1 }) > maximumBytes {
            return .refuse(.headersTooLarge, isHead: isHead)
        }
        guard complete[1..<end].allSatisfy(isHeaderField) else { return .refuse(.badRequest, isHead: isHead) }
        let requestedPath = request.target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard requestedPath == path else { return .refuse(.notFound, isHead: isHead) }
        guard request.method == "GET" || isHead else { return .refuse(.methodNotAllowed, isHead: false) }
        return .metrics(isHead: isHead)
    }

    /// A whole response; the connection closes after it, so every one says so.
    static func response(_ status: Status, contentType: String, body: [UInt8], isHead: Bool) -> [UInt8] {
        var head = "HTTP/1.1 \(status.rawValue) \(status.reason)\r\n"
        head += "Content-Type: \(contentType)\r\n"
        head += "Content-Length: \(body.count)\r\n"
        if status == .methodNotAllowed { head += "Allow: GET, HEAD\r\n" }
        head += "Connection: close\r\n\r\n"
        return Array(head.utf8) + (isHead ? [] : body)
    }

    /// A refusal, with its reason as a line of text.
    static func refusal(_ status: Status, isHead: Bool) -> [UInt8] {
        response(status, contentType: "text/plain; charset=utf-8", body: Array("\(status.reason)\n".utf8), isHead: isHead)
    }

    /// "METHOD SP TARGET SP VERSION", the method a token, the target printable ASCII.
    private struct RequestLine {
        let method: String
        let target: String
        let version: String

        init?(_ line: ArraySlice<UInt8>) {
            let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(HTTP.isTokenCharacter),
                parts[1].first == UInt8(ascii: "/") || parts[1].elementsEqual("*".utf8) || parts[1].starts(with: "http".utf8),
                parts[1].allSatisfy({ (0x21..<0x7f).contains($0) }), parts[2].allSatisfy({ (0x21..<0x7f).contains($0) })
            else { return nil }
            method = String(decoding: parts[0], as: UTF8.self)
            target = String(decoding: parts[1], as: UTF8.self)
            version = String(decoding: parts[2], as: UTF8.self)
        }
    }

    /// "Name: value": a token, a colon with no space before it, then visible text, spaces
    /// and tabs. A line starting with a space (obsolete folding) is refused, as RFC 9112 asks.
    private static func isHeaderField(_ line: ArraySlice<UInt8>) -> Bool {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
            line[..<colon].allSatisfy(isTokenCharacter)
        else { return false }
        return line[(colon + 1)...].allSatisfy { $0 == 0x09 || (0x20..<0x7f).contains($0) || $0 >= 0x80 }
    }

    /// RFC 9110's tchar.
    private static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}
