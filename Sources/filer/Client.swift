import ArgumentParser
import FilerConfiguration
import FilerCore
import FilerClient
import FoundationEssentials
import Glibc
import Posix

struct Get: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch one file and print its content.",
        discussion: "Retries Lazy-Pirate style; given several --endpoint, each retry goes to the next. Exit codes: 0 printed, 1 the server answered with an error, 69 no reply."
    )

    @Argument(help: "The file, relative to the server's root.")
    var path: String

    @Option(help: "The server's frontend; repeat it to fail over from one broker to the next.")
    var endpoint: [String] = ["tcp://127.0.0.1:60401"]

    @Option(help: "Seconds to wait for each reply.")
    var timeout: Double = 2.5

    @Option(help: "How many times to resend when no reply comes.")
    var retries = 3

    @Option(help: "'utf8' or 'base64': how the server should send the content.")
    var encoding: String?

    @OptionGroup var curve: CurveOptions

    func validate() throws {
        guard timeout > 0 && timeout <= 86400 else { throw ValidationError("--timeout must be from 0 to 86400 seconds") }
        guard retries >= 0 && retries <= 1000 else { throw ValidationError("--retries must be from 0 to 1000") }
    }

    func run() throws {
        var request: [String: String] = ["path": path]
        if let encoding { request["encoding"] = encoding }
        let body = try JSONEncoder().encode(request)
        let client = LazyPirateClient(endpoints: endpoint, timeout: timeout, retries: retries, curve: try curve.load())
        let outcome: Result<[UInt8], ServerError>
        do {
            outcome = try LazyPirateClient.decodeReply(try client.send(Array(body)))
        } catch {
            printError("filer: \(error)")
            throw stop(with: .noReply)
        }
        switch outcome {
        case .success(let content):
            var written = 0
            while written < content.count {
                let result = content.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress! + written, $0.count - written) }
                if result <= 0 { throw stop(with: .outputFailed) }
                written += result
            }
        case .failure(let error):
            printError("\(error.code): \(error.message)")
            throw stop(with: .serverError)
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show how the running daemon is doing.",
        discussion: "Asks the daemon over its control endpoint (see `control` in the configuration). Exit codes: 0 shown, 3 not running or not answering."
    )

    @Option(help: ArgumentHelp("The configuration file, which names the control endpoint.", valueName: "path"))
    var config = "/etc/filer/filer.yaml"

    @Option(help: ArgumentHelp("The control endpoint, overriding the configuration's.", valueName: "endpoint"))
    var control: String?

    @Option(help: "Seconds to wait for the answer.")
    var timeout: Double = 2

    @Flag(help: "Print JSON, for scripts.")
    var json = false

    @OptionGroup var curve: CurveOptions

    func run() throws {
        let endpoint: String
        if let control {
            endpoint = control
        } else {
            // A file we cannot read still leaves the default endpoint to try.
            let loaded = try? ConfigurationLoader().load(
                path: config, environment: currentEnvironment(), flags: [:], checkRoot: false)
            endpoint = (loaded ?? Configuration()).controlEndpoint
        }
        let report: StatusReport?
        do {
            report = try ControlClient.status(endpoint: endpoint, timeout: timeout, curve: try curve.load())
        } catch {
            printError("filer: cannot ask \(endpoint): \(error)")
            throw stop(with: .notRunning)
        }
        guard let report else {
            printError("filer: no answer from \(endpoint): is the daemon running?")
            throw stop(with: .notRunning)
        }
        print(json ? String(decoding: report.json(), as: UTF8.self) : report.text())
    }
}
