import Glibc
import Logging
import Posix
@testable import Systemd
import Testing

@Suite struct JournalFieldTests {
    @Test func entriesCarryMessagePriorityIdentifierAndUpperCaseFields() {
        let fields = JournalEntry.fields(
            identifier: "filer", level: .warning, message: "Worker 12 exited with code 3",
            metadata: ["worker_pid": "12", "exit_status": "3", "exit_code": "exited"])
        #expect(fields == [
            "MESSAGE=Worker 12 exited with code 3", "PRIORITY=4", "SYSLOG_IDENTIFIER=filer",
            "EXIT_CODE=exited", "EXIT_STATUS=3", "WORKER_PID=12",
        ])
    }

    @Test func levelsMapToSyslogPriorities() {
        let levels: [Logger.Level] = [.trace, .debug, .info, .notice, .warning, .error, .critical]
        #expect(levels.map(JournalEntry.priority(of:)) == [7, 7, 6, 5, 4, 3, 2])
    }

    @Test func fieldNamesAreValidJournalFieldNames() {
        #expect(JournalEntry.fieldName("worker.pid") == "WORKER_PID")
        #expect(JournalEntry.fieldName("_private") == "PRIVATE")
    }

    @Test func plainLinesAreReadable() {
        let line = StderrLine.format(
            time: "T", level: .info, identifier: "filer", pid: 9, message: "Worker 12 is online.",
            metadata: ["worker_pid": "12"])
        #expect(line == "T info filer[9]: Worker 12 is online. worker_pid=12\n")
    }

    /// A client's path in a debug line cannot end the line and forge the next one.
    @Test func controlCharactersAreEscaped() {
        let line = StderrLine.format(
            time: "T", level: .debug, identifier: "filer", pid: 9, message: "Served",
            metadata: ["path": "a\nT critical filer[1]: forged\u{1B}[31m\t"])
        #expect(line == "T debug filer[9]: Served path=a\\nT critical filer[1]: forged\\x1b[31m\\t\n")
        #expect(line.split(separator: "\n").count == 1)
    }
}

@Suite(.serialized) struct NotifierTests {
    func bindDatagramSocket(_ path: String) throws -> Int32 {
        unlink(path)
        let receiver = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(receiver >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(receiver, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
        return receiver
    }

    @Test func sendsDatagramsToNotifySocket() throws {
        let path = "/tmp/filer-notify-test-\(getpid()).sock"
        let receiver = try bindDatagramSocket(path)
        defer { close(receiver); unlink(path) }
        setenv("NOTIFY_SOCKET", path, 1)
        defer { unsetenv("NOTIFY_SOCKET") }

        let notifier = Notifier()
        #expect(notifier.isActive)
        notifier.ready(status: "2/2 workers online")
        var buffer = [UInt8](repeating: 0, count: 512)
        let got = recv(receiver, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        #expect(got > 0)
        #expect(String(decoding: buffer[..<max(got, 0)], as: UTF8.self) == "READY=1\nSTATUS=2/2 workers online")

        notifier.reloading(status: "Reloading")
        let reload = recv(receiver, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        let text = String(decoding: buffer[..<max(reload, 0)], as: UTF8.self)
        #expect(text.hasPrefix("RELOADING=1\nMONOTONIC_USEC="))
    }

    @Test func aManagerThatDoesNotReadNeverBlocksUsAndLosesNoReady() throws {
        let path = "/tmp/filer-notify-slow-\(getpid()).sock"
        let receiver = try bindDatagramSocket(path)
        defer { close(receiver); unlink(path) }
        setenv("NOTIFY_SOCKET", path, 1)
        defer { unsetenv("NOTIFY_SOCKET") }

        let notifier = Notifier()
        let started = MonotonicInstant.now()
        for count in 0..<500 { notifier.status("\(count) requests served") }
        notifier.ready(status: "ready")
        for count in 500..<600 { notifier.status("\(count) requests served") }
        #expect(MonotonicInstant.now().seconds(since: started) < 1, "notifying blocked")
        #expect(notifier.hasWaiting, "the socket queue should have filled up")

        var received: [String] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        for _ in 0..<100 {
            while true {
                let got = recv(receiver, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if got <= 0 { break }
                received.append(String(decoding: buffer[..<got], as: UTF8.self))
            }
            if !notifier.hasWaiting { break }
            notifier.flush()
        }
        #expect(received.contains("READY=1\nSTATUS=ready"))
        #expect(received.last == "STATUS=599 requests served")
        #expect(received.count < 600, "waiting STATUS= lines should have been replaced by newer ones")
    }

    @Test func withoutNotifySocketNothingIsSent() {
        unsetenv("NOTIFY_SOCKET")
        #expect(!Notifier().isActive)
    }
}
