@testable import FilerWorker
import Testing
import ZeroMQ

/// Clients served in turn, with a cap on each client's pile.
@Suite struct FairQueueTests {
    func request(_ client: String, _ queue: inout FairQueue) -> PendingRequest {
        let context = try! Context()
        let a = try! Socket(context, .pair)
        try! a.bind("inproc://fair-\(client)-\(UInt32.random(in: 0...UInt32.max))")
        let request = queue.makeRequest()
        // The client id is frame 1; set it through a message round trip.
        let b = try! Socket(context, .pair)
        try! b.connect(a.lastEndpoint)
        try! b.send(Array(client.utf8))
        _ = try! a.receive(into: request.frames[1], blocking: true)
        return request
    }

    @Test func aPileDoesNotStandBeforeAnotherClientsRequest() {
        var queue = FairQueue()
        for _ in 0..<5 { queue.append(request("flood", &queue)) }
        queue.append(request("bystander", &queue))
        let first = queue.next()!.client
        let second = queue.next()!.client
        #expect(Set([first, second]) == Set([Array("flood".utf8), Array("bystander".utf8)]))
        #expect(queue.count == 4)
    }

    @Test func aClientOverItsCapIsRefusedAsBusyFirst() {
        var queue = FairQueue()
        for _ in 0..<(FairQueue.perClient + 3) { queue.append(request("flood", &queue)) }
        var refused = 0
        while let next = queue.next() { if next.refusedAsBusy { refused += 1 } else { break } }
        #expect(refused == 3)
    }

    @Test func beingReplacedKeepsEachClientsOldestFew() {
        var queue = FairQueue()
        for _ in 0..<10 { queue.append(request("a", &queue)) }
        queue.shed()
        var served = 0
        var refused = 0
        while let next = queue.next() { if next.refusedAsBusy { refused += 1 } else { served += 1 } }
        #expect(served == FairQueue.perClientWhileDraining)
        #expect(refused == 10 - FairQueue.perClientWhileDraining)
    }
}
