@testable import FilerMaster
import Testing

/// The connection limit and the memory budget, decided without a socket.
@Suite struct ConnectionGuardTests {
    @Test func stopsAcceptingAtTheLimitAndResumesBelowIt() {
        var guard_ = ConnectionGuard(maximumConnections: 40, memoryBudget: 1 << 30)
        for descriptor: Int32 in 10..<49 { #expect(guard_.accepted(descriptor: descriptor, peer: "p").isEmpty) }
        let atLimit = guard_.accepted(descriptor: 49, peer: "p")
        #expect(atLimit.first == .setListening(false))
        #expect(guard_.accepted(descriptor: 50, peer: "p").isEmpty, "stopping is said once")
        #expect(guard_.closed(descriptor: 10).isEmpty, "not yet: the margin keeps it from flapping")
        #expect(guard_.closed(descriptor: 11).isEmpty)
        let resumed = guard_.closed(descriptor: 12)
        #expect(resumed.first == .setListening(true))
    }

    @Test func outOfDescriptorsStopsAcceptingWhateverTheCount() {
        var guard_ = ConnectionGuard(maximumConnections: 1000, memoryBudget: 1 << 30)
        #expect(guard_.acceptFailed(errno: 24).first == .setListening(false))  // EMFILE
        #expect(guard_.acceptFailed(errno: 24).isEmpty)
        var other = ConnectionGuard(maximumConnections: 10, memoryBudget: 1)
        #expect(other.acceptFailed(errno: 103).isEmpty, "ECONNABORTED is no shortage")
    }

    @Test func overBudgetTheClientLeavingTheMostUnreadIsDropped() {
        var guard_ = ConnectionGuard(maximumConnections: 100, memoryBudget: 100 << 20)
        _ = guard_.accepted(descriptor: 5, peer: "a:1")
        _ = guard_.accepted(descriptor: 6, peer: "b:2")
        _ = guard_.accepted(descriptor: 7, peer: "c:3")
        #expect(guard_.measured(heapInUse: 10 << 20, counters: [:]).isEmpty)
        let actions = guard_.measured(
            heapInUse: 200 << 20, counters: [5: (100, 1 << 20), 6: (100, 4 << 20), 7: (100, 1000)])
        #expect(actions.contains(.drop(descriptor: 6, peer: "b:2")))
        #expect(guard_.connections[6] == nil)
    }

    @Test func overBudgetAStreamingSenderIsDroppedButNotASmallOne() {
        var guard_ = ConnectionGuard(maximumConnections: 100, memoryBudget: 100 << 20)
        _ = guard_.accepted(descriptor: 5, peer: "a:1")
        _ = guard_.accepted(descriptor: 6, peer: "b:2")
        _ = guard_.measured(heapInUse: 60 << 20, counters: [5: (1_000, 0), 6: (1_000, 0)])
        let quiet = guard_.measured(heapInUse: 200 << 20, counters: [5: (1_200, 0), 6: (2_000, 0)])
        #expect(!quiet.contains { if case .drop = $0 { true } else { false } }, "no one costs much: no one is dropped")
        let streaming = guard_.measured(heapInUse: 250 << 20, counters: [5: (1_300, 0), 6: (50 << 20, 0)])
        #expect(streaming.contains(.drop(descriptor: 6, peer: "b:2")))
    }
}
