@testable import FilerMaster
import FilerConfiguration
import FilerCore
import Posix
import Testing

/// The pool's part in going past one machine: a broker that pauses for worker hosts,
/// and a worker host that pauses its brokers while a worker leaves.
@Suite struct MultiHostTests {
    static func broker(workers: Int = 1) -> Configuration {
        PoolDriver.configuration(workers: workers) { $0.backend = "tcp://198.18.0.1:60402" }
    }

    static func workerHost(_ change: (inout Configuration) -> Void = { _ in }) -> Configuration {
        PoolDriver.configuration(workers: 1) {
            $0.role = .workers
            $0.brokers = ["tcp://198.18.0.1:60402"]
            change(&$0)
        }
    }

    var confirmed: (PoolDriver) -> [[String]] = { driver in
        driver.actions.compactMap { if case .confirmPaused(let leases) = $0 { leases } else { nil } }
    }

    @Test func aPauseIsConfirmedOnlyOnceTheProxyHasStopped() {
        var driver = PoolDriver(Self.broker())
        driver.startAndComeOnline()
        driver.proxyStopsAtOnce = false
        driver.send(.pauseRequested(lease: "w1-1", for: .seconds(5)))
        #expect(driver.proxyStopRequested)
        #expect(confirmed(driver).isEmpty, "the proxy may still hand the leaving worker requests")
        driver.finishProxyStop()
        #expect(confirmed(driver) == [["w1-1"]])
        driver.send(.resumeRequested(lease: "w1-1"))
        #expect(driver.proxyRunning)
    }

    @Test func aPauseEndsByItselfWhenItsLeaseRunsOut() {
        var driver = PoolDriver(Self.broker())
        driver.startAndComeOnline()
        driver.send(.pauseRequested(lease: "w1-1", for: .seconds(5)))
        #expect(!driver.proxyRunning)
        #expect(driver.pool.nextDeadline(after: driver.now) <= driver.now + .seconds(5))
        driver.advance(.seconds(3))
        #expect(!driver.proxyRunning)
        // Renewed: it holds on.
        driver.send(.pauseRequested(lease: "w1-1", for: .seconds(5)))
        driver.advance(.seconds(4))
        #expect(!driver.proxyRunning)
        driver.advance(.seconds(2))
        #expect(driver.proxyRunning, "a worker host that went silent holds the broker no longer than its lease")
        #expect(driver.logged("ran out"))
    }

    @Test func twoWorkerHostsPausesHoldUntilBothResume() {
        var driver = PoolDriver(Self.broker())
        driver.startAndComeOnline()
        driver.send(.pauseRequested(lease: "w1-1", for: .seconds(5)))
        driver.send(.pauseRequested(lease: "w2-1", for: .seconds(5)))
        driver.send(.resumeRequested(lease: "w1-1"))
        #expect(!driver.proxyRunning)
        driver.send(.resumeRequested(lease: "w2-1"))
        #expect(driver.proxyRunning)
    }

    @Test func aBrokerWithoutWorkersForwardsOnlyWhileAWorkerHostIsConnected() {
        var driver = PoolDriver(Self.broker(workers: 0))
        driver.send(.start)
        #expect(driver.readyCount == 1, "ready with no worker: worker hosts come when they come")
        #expect(!driver.proxyRunning, "no worker to hand a request to: requests wait")
        driver.send(.remoteWorkers(2))
        #expect(driver.proxyRunning)
        driver.send(.remoteWorkers(0))
        #expect(!driver.proxyRunning)
    }

    @Test func aBrokerWithoutWorkersStopsEvenIfItsProxyIsStuck() {
        var driver = PoolDriver(Self.broker(workers: 0))
        driver.send(.start)
        driver.send(.remoteWorkers(1))
        driver.proxyStopsAtOnce = false
        driver.send(.stopRequested(signal: "SIGTERM"))
        #expect(driver.exitCode == nil)
        driver.advance(.seconds(4))
        #expect(driver.exitCode == .success, "a proxy stuck on a backend with no worker does not hold the stop")
    }

    @Test func aWorkerHostHoldsItsBrokersWhileAWorkerLeaves() {
        var driver = PoolDriver(Self.workerHost { $0.health.maxRequests = 10 })
        driver.startAndComeOnline()
        #expect(driver.proxyRunning, "the brokers forward")
        driver.proxyStopsAtOnce = false
        driver.send(.report(pid: 101, .served(10)))
        driver.online(102)
        #expect(driver.proxyStopRequested, "the brokers are asked to pause")
        #expect(driver.signals(to: 101).isEmpty, "not before every broker has confirmed")
        driver.finishProxyStop()
        #expect(driver.signals(to: 101) == [.drain])
        driver.exit(101)
        #expect(driver.proxyRunning, "the brokers resume once the worker has gone")
    }

    @Test func aWorkerHostsStatusNamesEachBroker() {
        var driver = PoolDriver(Self.workerHost { $0.brokers = ["tcp://198.18.0.1:60402", "tcp://198.18.0.2:60402"] })
        driver.startAndComeOnline()
        driver.send(.brokerConnection(backend: "tcp://198.18.0.1:60402", connected: true))
        #expect(driver.pool.statusLine().hasSuffix("brokers: tcp://198.18.0.1:60402 up, tcp://198.18.0.2:60402 down"))
        driver.send(.report(pid: 101, .served(7)))
        #expect(driver.pool.requestsServed == 7, "a worker host counts what its workers answered")
        driver.send(.report(pid: 101, .served(9)))
        driver.send(.report(pid: 101, .refused(["ENOENT": 2])))
        driver.exit(101)
        #expect(driver.pool.requestsServed == 9, "and keeps the count of those gone")
        #expect(driver.pool.refusedByCode == ["ENOENT": 2])
    }
}
