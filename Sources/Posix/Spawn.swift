import Glibc
import CFilerLinux

/// How a child process ended.
public enum Termination: Hashable, Sendable, CustomStringConvertible {
    case exited(code: Int32)
    case killed(signal: Int32)

    public var description: String {
        switch self {
        case .exited(let code): "exited with code \(code)"
        case .killed(let signal): "killed by signal \(Signals.name(signal))"
        }
    }
}

public enum Spawn {
    /// Starts `executable` with `arguments` (argv[0] included) and exactly `environment`,
    /// using posix_spawn: the child starts with an empty signal mask and default
    /// dispositions for `resetSignals`, stdin on /dev/null, stdout/stderr inherited,
    /// and each `(child fd, parent fd)` of `descriptors` duplicated into place.
    /// Every other descriptor of ours is close-on-exec, so the child inherits nothing else.
    ///
    /// The child's parent-death signal is tied to the *thread* that spawns it, so callers
    /// must spawn from a thread that lives as long as the process (the main thread).
    /// - Returns: the child's pid.
    public static func process(
        executable: String,
        arguments: [String],
        environment: [String],
        descriptors: [(child: Int32, parent: Int32)],
        resetSignals: [Int32]
    ) throws(SystemError) -> Int32 {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in resetSignals { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)
        for (child, parent) in descriptors {
            posix_spawn_file_actions_adddup2(&actions, parent, child)
        }

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: Int32 = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        if result != 0 { throw SystemError("posix_spawn(\(executable))", errno: result) }
        return pid
    }

    /// Reaps one child that has ended, without blocking.
    /// - Returns: its pid and how it ended, or nil when no child has ended.
    public static func reapOne() throws(SystemError) -> (pid: Int32, termination: Termination)? {
        var status: Int32 = 0
        let pid = waitpid(-1, &status, WNOHANG)
        if pid == 0 { return nil }
        if pid == -1 {
            if errno == ECHILD { return nil }
            if errno == EINTR { return try reapOne() }
            throw SystemError("waitpid")
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot import.
        let signal = status & 0x7f
        if signal == 0 { return (pid, .exited(code: (status >> 8) & 0xff)) }
        return (pid, .killed(signal: signal))
    }

    /// Sends `signal` to `pid`; a process that is already gone is not an error.
    public static func send(_ signal: Int32, to pid: Int32) {
        _ = kill(pid, signal)
    }
}

/// The environment of this process, as `KEY=value` strings.
public func currentEnvironment() -> [String] {
    var entries: [String] = []
    var cursor = environ
    while let entry = cursor.pointee {
        entries.append(String(cString: entry))
        cursor += 1
    }
    return entries
}

/// Reads an environment variable.
public func environmentValue(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}
