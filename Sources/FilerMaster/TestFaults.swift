import Posix

/// The switch the tests use to prove the watchdog: `fault silence-proxy` on the control
/// socket makes the master ignore the proxy's answers, as a hung proxy would give none.
/// It exists only when the daemon starts with FILER_TEST_FAULTS=1, which no shipped file
/// sets; even then only root and the service's user can reach the control socket.
final class TestFaults {
    var proxySilenced = false

    static func fromEnvironment() -> TestFaults? {
        environmentValue("FILER_TEST_FAULTS") == "1" ? TestFaults() : nil
    }
}
