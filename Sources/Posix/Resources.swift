import Glibc
import CFilerLinux

public enum Resources {
    /// Raises this process's open-file limit to its hard limit, as a server that holds a
    /// descriptor per client should (systemd's LimitNOFILE= sets the hard one).
    /// - Returns: the soft limit now in force.
    @discardableResult
    public static func raiseOpenFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur == rlim_t.max ? Int(Int32.max) : Int(clamping: limit.rlim_cur)
    }

    /// How many descriptors this process has open now (the entries of /proc/self/fd).
    public static func openDescriptorCount() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            if entry.pointee.d_name.0 != 0x2E { count += 1 }  // not "." or ".."
        }
        // The directory stream's own descriptor is one of them.
        return count - 1
    }

    /// Seeds the C library's rand() from getrandom(2). libzmq 4.3.4 never seeds it, and
    /// draws a ROUTER's first automatic routing id from it: unseeded, that id is the same
    /// in every process, and a peer that announces it first can make libzmq abort.
    public static func seedCRandom() {
        srand(filer_random_seed())
    }
}
