@testable import FilerMaster
import FilerConfiguration
import FilerCore
import Posix
import Testing

@Suite struct RestartBackoffTests {
    var policy: RestartPolicy {
        var policy = RestartPolicy()
        policy.initialDelay = .milliseconds(100)
        policy.maxDelay = .seconds(1)
        policy.stableAfter = .seconds(10)
        return policy
    }

    @Test func doublesOnQuickFailuresUpToTheCap() {
        var backoff = RestartBackoff(policy: policy)
        let delays = (0..<7).map { _ in backoff.delayAfterExit(ranFor: .milliseconds(500)).milliseconds }
        #expect(delays == [100, 200, 400, 800, 1000, 1000, 1000])
    }

    @Test func resetsAfterAStableRun() {
        var backoff = RestartBackoff(policy: policy)
        _ = backoff.delayAfterExit(ranFor: .zero)
        _ = backoff.delayAfterExit(ranFor: .zero)
        #expect(backoff.delayAfterExit(ranFor: .seconds(10)) == .milliseconds(100))
        #expect(backoff.delayAfterExit(ranFor: .seconds(1)) == .milliseconds(200))
    }

    @Test func neverOverflows() {
        var backoff = RestartBackoff(policy: policy)
        for _ in 0..<200 { #expect(backoff.delayAfterExit(ranFor: .zero) <= .seconds(1)) }
    }
}

@Suite struct CrashLoopDetectorTests {
    /// Feeds the detector a series of worker ends; returns whether it gave up after each.
    func verdicts(limit: Int, _ ends: [Bool?]) -> [Bool] {
        var detector = CrashLoopDetector(limit: limit)
        var verdicts: [Bool] = []
        for end in ends {
            guard let wasOnline = end else {
                detector.workerCameOnline()
                continue
            }
            verdicts.append(detector.workerEnded(wasOnline: wasOnline))
        }
        return verdicts
    }

    @Test func givesUpAfterTheLimitOfFailedStartsInARow() {
        #expect(verdicts(limit: 3, [false, false, false]) == [false, false, true])
    }

    @Test func aWorkerComingOnlineClearsTheCount() {
        #expect(verdicts(limit: 3, [false, false, nil, false, true, false]) == [false, false, false, false, false])
    }

    @Test func workersThatWereOnlineNeverCountAsFailedStarts() {
        #expect(verdicts(limit: 1, Array(repeating: true, count: 10)) == Array(repeating: false, count: 10))
    }
}

@Suite struct WorkerReportTests {
    @Test func roundTripsThroughThePipeFormat() {
        var parser = WorkerReportParser()
        let reports: [WorkerReport] = [.online, .served(12), .fatal("cannot open: x\ny"), .refused(["ENOENT": 3, "EBUSY": 1]), .refused([:])]
        let bytes = Array(reports.map(\.line).joined().utf8)
        var parsed = parser.feed(Array(bytes[..<5]))
        parsed += parser.feed(Array(bytes[5...]))
        #expect(parsed == [.online, .served(12), .fatal("cannot open: x y"), .refused(["ENOENT": 3, "EBUSY": 1]), .refused([:])])
    }

    @Test func ignoresGarbage() {
        var parser = WorkerReportParser()
        #expect(parser.feed(Array("served x\nhello\nrefused ENOENT\nrefused E=x\n".utf8)).isEmpty)
    }
}
