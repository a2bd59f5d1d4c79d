/// How many messages queue between the master's backend DEALER and each worker.
///
/// Few requests per worker: a request waits in the frontend, where the proxy hands it
/// to whichever worker has room, rather than behind a slow one; and the replies those
/// requests can cause stay few, so memory stays bounded. The way back takes at least
/// what the way in holds, and a worker whose way back is full waits (ROUTER_MANDATORY)
/// rather than dropping a reply.
public enum BackendQueues {
    /// Requests queued for one worker, on each side of the connection.
    public static let requests: Int32 = 4
    /// Replies queued from one worker, on each side of the connection.
    public static let replies: Int32 = 4
}
