import ArgumentParser
import FilerCore
import Glibc

@main
struct Filer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filer",
        abstract: "A clustered ZeroMQ file server.",
        discussion: """
            Clients send {"path": "FILE"} to the frontend and get the file back as JSON. \
            The master forwards requests to one worker process per CPU.
            """,
        version: filerVersion,
        subcommands: [Serve.self, Get.self, Status.self, CheckConfig.self, Keygen.self, WorkerRole.self]
    )
}

/// Ends the command with `code` (ArgumentParser's ExitCode, from our table).
func stop(with code: FilerCore.ExitCode) -> ArgumentParser.ExitCode {
    ArgumentParser.ExitCode(code.rawValue)
}

func printError(_ message: String) {
    let line = Array((message + "\n").utf8)
    _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
