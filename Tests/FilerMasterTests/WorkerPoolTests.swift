@testable import FilerMaster
import FilerConfiguration
import FilerCore
import Posix
import Testing
import ZeroMQ

/// The worker pool through whole scenarios, with a fake clock and no process.
@Suite struct WorkerPoolTests {
    @Test func startsEveryWorkerAndIsReadyWhenAllAreOnline() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 3))
        driver.send(.start)
        #expect(driver.spawns == 3)
        #expect(driver.readyCount == 0)
        driver.online(101)
        driver.online(102)
        #expect(driver.readyCount == 0)
        #expect(driver.proxyRunning, "the proxy runs as soon as one worker can serve")
        driver.online(103)
        #expect(driver.readyCount == 1)
        #expect(driver.pool.phase == .serving)
    }

    /// Replacing a worker: its successor first; then the proxy stops; only once it has
    /// stopped is the old worker told to drain; the proxy resumes when it has gone.
    @Test func replacingAWorkerLosesNothing() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 1) { $0.health.maxRequests = 10 })
        driver.startAndComeOnline()
        driver.proxyStopsAtOnce = false
        driver.send(.report(pid: 101, .served(10)))
        #expect(driver.state(101) == .replaced)
        #expect(driver.starting == [102])
        #expect(driver.signals(to: 101).isEmpty, "the old worker serves until its successor is online")
        driver.online(102)
        #expect(driver.proxyStopRequested)
        #expect(driver.signals(to: 101).isEmpty, "nothing is told to drain while the proxy may still forward")
        driver.finishProxyStop()
        #expect(driver.signals(to: 101) == [.drain])
        #expect(!driver.proxyRunning, "the proxy stays stopped while the old worker drains")
        driver.exit(101)
        #expect(driver.proxyRunning)
        #expect(driver.pool.restarts == 0, "a recycled worker is not a restart")
    }

    @Test func recyclingLimitsAreJittered() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 8) {
            $0.health.maxRequests = 1000
            $0.health.maxRequestsJitter = 100
        })
        driver.startAndComeOnline()
        let limits = driver.pool.workers.values.map { $0.requestLimit! }
        #expect(limits.allSatisfy { (1000...1100).contains($0) })
        #expect(Set(limits).count > 1, "workers do not all recycle together")
    }

    @Test func restartsBackOffAndResetAfterAStableRun() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 1) { $0.health.heartbeatTimeout = .seconds(3600) })
        driver.startAndComeOnline()
        var delays: [Int64] = []
        for _ in 0..<5 {
            let pid = driver.online[0]
            driver.advance(.milliseconds(10))
            driver.exit(pid, .killed(signal: 9))
            delays.append((driver.pool.slots[0].restartAt! - driver.now).milliseconds)
            driver.advance(.seconds(1))
            driver.online(driver.starting[0])
        }
        #expect(delays == [100, 200, 400, 800, 1000])
        driver.advance(.seconds(11))
        driver.exit(driver.online[0], .killed(signal: 9))
        #expect((driver.pool.slots[0].restartAt! - driver.now).milliseconds == 100)
        #expect(driver.pool.restarts == 6)
    }

    @Test func aCrashLoopEndsTheDaemonWith69() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 2))
        driver.startAndComeOnline()
        driver.exit(101, .killed(signal: 9))
        for _ in 0..<3 {
            driver.advance(.seconds(2))
            driver.exit(driver.starting[0], .exited(code: 5))
        }
        #expect(driver.logged("3 starts in a row failed before coming online"))
        #expect(driver.signals(to: 102) == [.drain])
        driver.exit(102)
        #expect(driver.exitCode == .workersCannotStart)
    }

    @Test func aHungWorkerGetsAbortThenKillAndIsReplaced() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 1))
        driver.startAndComeOnline()
        driver.advance(.seconds(9))
        #expect(driver.signals(to: 101).isEmpty)
        driver.advance(.seconds(1))
        #expect(driver.signals(to: 101) == [.abort])
        driver.advance(.seconds(2))
        #expect(driver.signals(to: 101) == [.abort, .kill])
        driver.exit(101, .killed(signal: 9))
        driver.advance(.milliseconds(100))
        #expect(driver.starting.count == 1)
    }

    /// A draining worker that does not finish in time is told to abandon what is left
    /// (it counts it), and killed if even that does not end it.
    @Test func aDrainThatTakesTooLongIsAbandonedThenKilled() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 1) {
            $0.health.maxRequests = 1
            $0.health.drainTimeout = .seconds(5)
        })
        driver.startAndComeOnline()
        driver.send(.report(pid: 101, .served(1)))
        driver.online(102)
        #expect(driver.signals(to: 101) == [.drain])
        driver.advance(.seconds(5))
        #expect(driver.signals(to: 101) == [.drain, .abandon])
        driver.send(.report(pid: 101, .abandoned(3)))
        #expect(driver.logged("3 queued requests unanswered"))
        driver.advance(.seconds(2))
        #expect(driver.signals(to: 101) == [.drain, .abandon, .kill])
    }

    @Test func stopDrainsEveryWorkerAfterTheProxyAndKillsStragglers() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 2) { $0.stopTimeout = .seconds(3) })
        driver.startAndComeOnline()
        driver.proxyStopsAtOnce = false
        driver.send(.stopRequested(signal: "SIGTERM"))
        #expect(driver.notifications.contains { if case .stopping = $0 { true } else { false } })
        #expect(driver.signals(to: 101).isEmpty, "workers drain only once the proxy has stopped")
        driver.finishProxyStop()
        #expect(driver.signals(to: 101) == [.drain])
        driver.exit(101)
        #expect(driver.exitCode == nil)
        driver.advance(.seconds(3))
        #expect(driver.signals(to: 102) == [.drain, .kill])
        driver.exit(102, .killed(signal: 9))
        #expect(driver.exitCode == .success)
        #expect(driver.spawns == 2, "nothing is restarted while stopping")
    }

    /// A proxy thread stuck in a send never ends: the stop still ends, at the deadline.
    @Test func aStopEndsEvenIfTheProxyThreadNeverDoes() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 1) { $0.stopTimeout = .seconds(2) })
        driver.startAndComeOnline()
        driver.proxyStopsAtOnce = false
        driver.send(.stopRequested(signal: "SIGTERM"))
        driver.advance(.seconds(2))
        #expect(driver.signals(to: 101) == [.kill])
        driver.exit(101, .killed(signal: 9))
        #expect(driver.exitCode == .success)
    }

    @Test func aSecondStopSignalKillsAtOnce() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 2))
        driver.startAndComeOnline()
        driver.send(.stopRequested(signal: "SIGTERM"))
        driver.send(.stopRequested(signal: "SIGINT"))
        #expect(driver.signals(to: 101) == [.drain, .kill])
        #expect(driver.signals(to: 102) == [.drain, .kill])
    }

    @Test func aProxyFailureStopsTheDaemonWith71() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 1))
        driver.startAndComeOnline()
        driver.proxyRunning = false
        driver.send(.proxyFailed(reason: "zmq_proxy_steerable: Operation not supported"))
        #expect(driver.signals(to: 101) == [.drain])
        driver.exit(101)
        #expect(driver.exitCode == .systemFailure)
    }

    @Test func theWatchdogIsFedWhileTheProxyAnswersAndNotAfter() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 1), watchdog: .seconds(2))
        driver.startAndComeOnline()
        var pings: Int { driver.notifications.filter { $0 == .watchdog }.count }
        for _ in 0..<4 {
            driver.send(.proxyAnswered(Proxy.Statistics()))
            driver.advance(.seconds(1))
        }
        #expect(pings >= 4)
        let before = pings
        driver.advance(.seconds(4))
        #expect(pings == before, "no ping once the proxy has not answered for 3 s")
        #expect(driver.logged("the watchdog is no longer fed"))
    }
}
