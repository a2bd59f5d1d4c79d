import Glibc
import CFilerLinux

public enum Signals {
    /// The conventional name of a signal ("SIGKILL").
    public static func name(_ signal: Int32) -> String {
        if let abbreviation = filer_signal_abbreviation(signal) {
            return "SIG" + String(cString: abbreviation)
        }
        return "signal \(signal)"
    }

    /// Blocks `signals` in the calling thread; threads it creates later inherit the mask,
    /// so call this before starting any thread that must not take them.
    public static func block(_ signals: [Int32]) throws(SystemError) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        let result = pthread_sigmask(SIG_BLOCK, &set, nil)
        if result != 0 { throw SystemError("pthread_sigmask", errno: result) }
    }

    /// Ignores SIGPIPE: a peer that goes away must be an error return, not death.
    public static func ignoreBrokenPipe() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// Asks the kernel to send `signal` to this process when its parent's spawning thread ends.
    public static func setParentDeathSignal(_ signal: Int32) throws(SystemError) {
        try retryingInterrupts("prctl(PR_SET_PDEATHSIG)") { filer_set_parent_death_signal(signal) }
    }
}

/// Signals delivered as readable events on a descriptor (signalfd), so that
/// an event loop can poll them together with sockets and pipes.
public struct SignalDescriptor: ~Copyable {
    public let descriptor: FileDescriptor

    /// Blocks `signals` in the calling thread and opens a signalfd for them.
    public init(_ signals: [Int32]) throws(SystemError) {
        try Signals.block(signals)
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        let raw = try retryingInterrupts("signalfd") { filer_signalfd(&set) }
        descriptor = FileDescriptor(owning: raw)
    }

    /// The signals pending now, in arrival order; empty when none are.
    public func take() throws(SystemError) -> [Int32] {
        var taken: [Int32] = []
        while true {
            let signal = filer_signalfd_take(descriptor.rawValue)
            if signal == 0 { return taken }
            if signal < 0 { throw SystemError("read(signalfd)") }
            taken.append(signal)
        }
    }
}
