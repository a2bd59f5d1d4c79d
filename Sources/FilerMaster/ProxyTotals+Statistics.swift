import ZeroMQ

extension ProxyTotals {
    init(_ statistics: Proxy.Statistics) {
        self.init()
        frontendMessagesIn = statistics.frontendMessagesIn
        frontendBytesIn = statistics.frontendBytesIn
        frontendMessagesOut = statistics.frontendMessagesOut
        frontendBytesOut = statistics.frontendBytesOut
        backendMessagesIn = statistics.backendMessagesIn
        backendBytesIn = statistics.backendBytesIn
        backendMessagesOut = statistics.backendMessagesOut
        backendBytesOut = statistics.backendBytesOut
    }

    static func + (a: ProxyTotals, b: ProxyTotals) -> ProxyTotals {
        var sum = a
        sum.frontendMessagesIn += b.frontendMessagesIn
        sum.frontendBytesIn += b.frontendBytesIn
        sum.frontendMessagesOut += b.frontendMessagesOut
        sum.frontendBytesOut += b.frontendBytesOut
        sum.backendMessagesIn += b.backendMessagesIn
        sum.backendBytesIn += b.backendBytesIn
        sum.backendMessagesOut += b.backendMessagesOut
        sum.backendBytesOut += b.backendBytesOut
        return sum
    }
}
