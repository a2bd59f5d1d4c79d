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

    @Test func clientsAreServedInTurnAndEachInOrder() {
        var queue = FairQueue()
        var sent: [(String, Int)] = []
        for round in 0..<3 {
            for client in ["a", "b", "c"] where !(client == "c" && round > 0) {
                let request = request(client, &queue)
                request.frames[3].move(message("\(client)\(round)"))
                queue.append(request)
                sent.append((client, round))
            }
        }
        var served: [String] = []
        while let next = queue.next() { served.append(String(decoding: next.frames[3].bytes, as: UTF8.self)) }
        #expect(served == ["a0", "b0", "c0", "a1", "b1", "a2", "b2"])
        #expect(queue.isEmpty)
    }

    /// Ids longer than the 16 bytes a key keeps inline are told apart by the rest.
    @Test func longClientIDsThatShareTheirStartAreDifferentClients() {
        var queue = FairQueue()
        let prefix = String(repeating: "x", count: 20)
        for _ in 0..<FairQueue.perClient { queue.append(request(prefix + "1", &queue)) }
        queue.append(request(prefix + "2", &queue))
        var refused = 0
        while let next = queue.next() { if next.refusedAsBusy { refused += 1 } }
        #expect(refused == 0, "the second client is not counted against the first's cap")
        #expect(ClientID(UnsafeRawBufferPointer(start: nil, count: 0)) != [UInt8(0)].withUnsafeBytes { ClientID($0) })
    }

    func message(_ text: String) -> Message {
        let context = try! Context()
        let a = try! Socket(context, .pair)
        try! a.bind("inproc://body-\(UInt32.random(in: 0...UInt32.max))")
        let b = try! Socket(context, .pair)
        try! b.connect(a.lastEndpoint)
        try! b.send(text)
        return try! a.receive()
    }

    /// Past `indexedFrom` clients the lines are found through a dictionary: the same order.
    @Test func manyClientsAreServedInTurnToo() {
        var queue = FairQueue()
        let clients = (0..<(FairQueue.indexedFrom * 2 + 3)).map { "client-\($0)" }
        for round in 0..<2 {
            for client in clients {
                let request = request(client, &queue)
                request.frames[3].move(message("\(client)/\(round)"))
                queue.append(request)
            }
        }
        for _ in 0..<FairQueue.perClient { queue.append(request(clients[5], &queue)) }
        var refused = 0
        var served: [String] = []
        while let next = queue.next() {
            if next.refusedAsBusy { refused += 1 } else { served.append(String(decoding: next.frames[3].bytes, as: UTF8.self)) }
        }
        #expect(refused == 2, "client 5 had two queued before its pile")
        #expect(Array(served.prefix(clients.count * 2)) == clients.map { "\($0)/0" } + clients.map { "\($0)/1" })
        #expect(queue.isEmpty)
    }
}
