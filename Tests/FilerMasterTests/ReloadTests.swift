@testable import FilerMaster
import FilerConfiguration
import FilerCore
import Posix
import Testing

/// SIGHUP through the pool: grow, shrink, a new root, a bad file, many signals at once,
/// new workers that cannot start, and a root that goes away.
@Suite struct ReloadTests {
    /// Reloads to `next` and brings the new workers online. - Returns: the new pids.
    @discardableResult
    func reload(_ driver: inout PoolDriver, to next: Configuration) -> [Int32] {
        driver.nextConfiguration = .success(next)
        driver.send(.reloadRequested)
        let fresh = driver.starting
        for pid in fresh { driver.online(pid) }
        return fresh
    }

    @Test func aReloadThatGrowsReplacesEveryWorkerAndEndsReady() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 2))
        driver.startAndComeOnline()
        driver.clear()
        let fresh = reload(&driver, to: PoolDriver.configuration(workers: 3))
        #expect(fresh.count == 3)
        #expect(driver.notifications.first == .reloading(status: "Reloading the configuration"))
        #expect(driver.signals(to: 101) == [.drain])
        #expect(driver.signals(to: 102) == [.drain])
        #expect(driver.readyCount == 0, "not reloaded while old workers drain")
        driver.exit(101)
        driver.exit(102)
        #expect(driver.readyCount == 1)
        #expect(driver.pool.onlineCount == 3)
        #expect(driver.pool.generation == 2)
    }

    @Test func aReloadThatShrinksRetiresTheSurplus() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 3))
        driver.startAndComeOnline()
        let fresh = reload(&driver, to: PoolDriver.configuration(workers: 1))
        #expect(fresh.count == 1)
        for pid: Int32 in [101, 102, 103] {
            #expect(driver.signals(to: pid) == [.drain])
            driver.exit(pid)
        }
        #expect(driver.pool.slots.count == 1)
        #expect(driver.proxyRunning)
    }

    @Test func aNewRootReachesTheNewWorkers() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 1))
        driver.startAndComeOnline()
        driver.clear()
        reload(&driver, to: PoolDriver.configuration(workers: 1) { $0.root = "/srv/other" })
        let spawned = driver.actions.compactMap { if case .spawn(_, let c) = $0 { c.root } else { nil } }
        #expect(spawned == ["/srv/other"])
    }

    @Test func aBadFileChangesNothingAndSaysWhy() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 2))
        driver.startAndComeOnline()
        driver.nextConfiguration = .failure(ReloadFailure("filer.yaml:3: workers: expected a whole number"))
        driver.send(.reloadRequested)
        #expect(driver.online == [101, 102])
        #expect(driver.readyCount == 2)
        #expect(driver.pool.statusLine().contains("the last reload failed: filer.yaml:3"))
        #expect(driver.pool.generation == 1)
    }

    /// Fifty SIGHUPs make one reload more, not fifty (each would start a whole set of workers).
    @Test func aStormOfSignalsMakesOneMoreReload() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 2))
        driver.startAndComeOnline()
        driver.nextConfiguration = .success(PoolDriver.configuration(workers: 2))
        for _ in 0..<50 { driver.send(.reloadRequested) }
        #expect(driver.pool.workers.count <= 4)
        for _ in 1...2 {
            #expect(driver.pool.workers.count <= 4)
            for pid in driver.starting { driver.online(pid) }
            for pid in driver.pool.workers.values.filter({ $0.slot == nil }).map(\.pid) { driver.exit(pid) }
        }
        #expect(driver.pool.generation == 3)
        #expect(!driver.pool.isReloading)
        #expect(driver.spawns == 6)
    }

    /// New workers that cannot start: the old ones, still serving, stay.
    @Test func aReloadWhoseWorkersCannotStartKeepsTheOldOnes() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 2))
        driver.startAndComeOnline()
        driver.nextConfiguration = .success(PoolDriver.configuration(workers: 2) { $0.root = "/broken" })
        driver.send(.reloadRequested)
        for _ in 0..<3 {
            let pid = driver.starting[0]
            driver.exit(pid, .exited(code: 5))
            driver.advance(.seconds(1))
        }
        #expect(driver.logged("returning to the previous configuration"))
        #expect(driver.online == [101, 102])
        #expect(driver.signals(to: 101).isEmpty)
        #expect(driver.pool.configuration.root == "/srv/filer")
        #expect(driver.pool.statusLine().contains("the last reload failed"))
        #expect(driver.exitCode == nil)
        #expect(driver.proxyRunning)
    }

    @Test func newFrontendsAreBoundWithTheProxyStopped() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 1))
        driver.startAndComeOnline()
        driver.proxyStopsAtOnce = false
        driver.clear()
        driver.nextConfiguration = .success(PoolDriver.configuration(workers: 1) { $0.frontends = ["tcp://127.0.0.1:7"] })
        driver.send(.reloadRequested)
        #expect(driver.proxyStopRequested)
        #expect(!driver.actions.contains { if case .reconfigureFrontends = $0 { true } else { false } })
        driver.finishProxyStop()
        #expect(driver.actions.contains { if case .reconfigureFrontends = $0 { true } else { false } })
        #expect(driver.starting.count == 1)
    }

    @Test func frontendsThatCannotBeBoundFailTheReload() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 1))
        driver.startAndComeOnline()
        driver.frontendsResult = .failure(ReloadFailure("zmq_bind(tcp://127.0.0.1:7): Address already in use"))
        driver.nextConfiguration = .success(PoolDriver.configuration(workers: 1) { $0.frontends = ["tcp://127.0.0.1:7"] })
        driver.send(.reloadRequested)
        #expect(driver.online == [101])
        #expect(driver.pool.statusLine().contains("Address already in use"))
        #expect(driver.proxyRunning)
    }

    /// A root that goes away: the workers that serve stay, new ones are retried, the
    /// status says why, and nothing gives up.
    @Test func aLostRootIsADegradedStateNotACrashLoop() {
        var driver = PoolDriver(PoolDriver.configuration(workers: 2))
        driver.startAndComeOnline()
        driver.exit(101, .killed(signal: 9))
        for _ in 0..<10 {
            driver.send(.report(pid: 102, .served(0)))
            driver.advance(.seconds(1))
            guard let pid = driver.starting.first else { continue }
            driver.send(.report(pid: pid, .fatal("cannot open the root directory: ENOENT")))
            driver.exit(pid, .exited(code: ExitCode.workerCannotOpenRoot.rawValue))
        }
        #expect(driver.exitCode == nil)
        #expect(driver.online == [102])
        #expect(driver.pool.statusLine().hasPrefix("degraded: workers cannot open the root directory"))
        #expect(driver.logged("Degraded"))
        driver.advance(.seconds(1))
        driver.online(driver.starting[0])
        #expect(driver.pool.degradedReason == nil)
        #expect(driver.logged("can be opened again"))
    }
}
