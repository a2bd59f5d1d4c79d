/// How messages queue between the master's backend DEALER and each worker.
///
/// zmq_proxy sends each burst of requests (up to 1,000) with blocking sends and passes
/// no reply on until the burst is over. So nothing on the way may ever make it wait
/// long: the master takes every reply as it comes (no limit on its side), and each
/// worker takes every request as it comes, into a queue of its own where it serves
/// clients in turn (`FairQueue`), so that one client's pile of requests does not stand
/// in front of another's one. A worker's replies wait for room rather than drop
/// (ROUTER_MANDATORY), which the master's unlimited side makes rare.
public enum BackendQueues {
    /// The master's send queue to each worker, in requests.
    public static let requestsToWorker: Int32 = 256
    /// A worker's own receive queue, in requests, before its `FairQueue` takes them.
    public static let requestsAtWorker: Int32 = 256
    /// A worker's send queue, in replies; the master reads them as they come.
    public static let repliesFromWorker: Int32 = 16
}
