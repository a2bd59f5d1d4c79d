import ArgumentParser
import FilerClient
import FilerCore
import FilerSecurity

/// `--certificate` and `--server-key`: how `get` and `status` speak CURVE.
struct CurveOptions: ParsableArguments {
    @Option(help: ArgumentHelp("This client's certificate, with its secret key (NAME.key_secret), to speak CURVE.", valueName: "path"))
    var certificate: String?

    @Option(help: ArgumentHelp("The server's public certificate (NAME.key).", valueName: "path"))
    var serverKey: String?

    func validate() throws {
        guard (certificate == nil) == (serverKey == nil) else {
            throw ValidationError("--certificate and --server-key go together")
        }
    }

    /// The keys, read from the files; nil without the options.
    func load() throws -> LazyPirateClient.Curve? {
        guard let certificate, let serverKey else { return nil }
        do {
            return LazyPirateClient.Curve(
                keyPair: try CertificateFile.loadSecret(certificate),
                serverKey: try CertificateFile.loadPublic(serverKey).publicKey)
        } catch {
            printError("filer: \(error)")
            throw stop(with: .usage)
        }
    }
}
