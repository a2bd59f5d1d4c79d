import Glibc
import CFilerLinux

public enum CPUs {
    /// The CPUs this process may actually use: its affinity mask, further limited
    /// by its cgroup v2 CPU quota (`cpu.max`), and never less than one.
    public static func usable() -> Int {
        let affinity = Int(filer_affinity_cpu_count())
        let byAffinity = affinity > 0 ? affinity : Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let byQuota = cgroupQuota().map { Int(($0).rounded(.up)) } ?? Int.max
        return max(1, min(byAffinity, byQuota))
    }

    /// The CPU quota of this process's cgroup, in CPUs, or nil when unlimited or unknown.
    static func cgroupQuota() -> Double? {
        guard let membership = readSmallFile("/proc/self/cgroup") else { return nil }
        // cgroup v2: a single line "0::/path".
        guard let line = membership.split(separator: "\n").first(where: { $0.hasPrefix("0::") }) else { return nil }
        let path = String(line.dropFirst(3))
        guard let limit = readSmallFile("/sys/fs/cgroup\(path)/cpu.max") else { return nil }
        let fields = limit.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count >= 2, let quota = Double(fields[0]), let period = Double(fields[1]), period > 0 else {
            return nil  // "max 100000": no quota
        }
        return quota / period
    }

    private static func readSmallFile(_ path: String) -> String? {
        let raw = open(path, O_RDONLY | O_CLOEXEC)
        guard raw >= 0 else { return nil }
        let file = FileDescriptor(owning: raw)
        // A file we cannot read means no limit we can honour: the affinity mask decides.
        guard let bytes = try? file.read(upTo: 4096) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
