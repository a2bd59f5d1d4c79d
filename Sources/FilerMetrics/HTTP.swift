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

    /// Reads a request head as it arrives and judges it as soon as it can: a bad request
    /// line is refused before the rest of the head comes, and a head over `maximumBytes`
    /// without waiting for its end. Each byte is looked at once, so a client that sends
    /// its head a byte at a time costs no more than one that sends it whole. Lines may
    /// end in CRLF or, as RFC 9112 allows a recipient to accept, in LF alone.
    struct HeadReader {
        let path: String
        let maximumBytes: Int
        private var count = 0
        private var line: [UInt8] = []
        private var request: RequestLine?

        init(path: String, maximumBytes: Int) {
            self.path = path
            self.maximumBytes = maximumBytes
        }

        /// Takes the next bytes; what follows the end of the head is ignored.
        mutating func feed(_ bytes: some Sequence<UInt8>) -> Verdict {
            for byte in bytes {
                count += 1
                if count > maximumBytes { return .refuse(.headersTooLarge, isHead: isHeadRequest) }
                guard byte == UInt8(ascii: "\n") else {
                    // Garbage (a TLS handshake, a binary protocol) shows in the first bytes.
                    if request == nil && byte != UInt8(ascii: "\r") && !(0x20..<0x7f).contains(byte) {
                        return .refuse(.badRequest, isHead: false)
                    }
                    line.append(byte)
                    continue
                }
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                defer { line.removeAll(keepingCapacity: true) }
                guard let request else {
                    guard let parsed = RequestLine(line[...]) else { return .refuse(.badRequest, isHead: false) }
                    guard parsed.version == "HTTP/1.1" || parsed.version == "HTTP/1.0" else {
                        let looksLikeHTTP = parsed.version.hasPrefix("HTTP/") && parsed.version.count == 8
                        return .refuse(looksLikeHTTP ? .versionNotSupported : .badRequest, isHead: parsed.method == "HEAD")
                    }
                    request = parsed
                    continue
                }
                if line.isEmpty { return verdict(for: request) }
                guard HTTP.isHeaderField(line[...]) else { return .refuse(.badRequest, isHead: isHeadRequest) }
            }
            return .incomplete
        }

        private var isHeadRequest: Bool { request?.method == "HEAD" }

        private func verdict(for request: RequestLine) -> Verdict {
            let isHead = request.method == "HEAD"
            let requestedPath = request.target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
            guard requestedPath == path else { return .refuse(.notFound, isHead: isHead) }
            guard request.method == "GET" || isHead else { return .refuse(.methodNotAllowed, isHead: false) }
            return .metrics(isHead: isHead)
        }
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
    struct RequestLine {
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
