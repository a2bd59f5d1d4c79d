import ZeroMQ

/// The proxy's traffic over all its runs: libzmq's counters restart with each run.
extension Proxy.Statistics {
    static func + (a: Proxy.Statistics, b: Proxy.Statistics) -> Proxy.Statistics {
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
