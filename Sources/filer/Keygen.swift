import ArgumentParser
import FilerSecurity
import ZeroMQ

/// Writes a CURVE key pair in the files pyzmq and CZMQ use, as `ssh-keygen` writes a
/// host key: the public half to hand out, the secret half readable by its owner only.
struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a CURVE key pair: NAME.key (public) and NAME.key_secret (secret, mode 0600).",
        discussion: """
            The files are certificates in the ZPL format of pyzmq's zmq.auth and CZMQ's zcert, \
            so keys made here work there and theirs work here. Existing files are never \
            overwritten. Exit codes: 0 written, 73 a file exists or cannot be written, 69 no CURVE in libzmq.
            """
    )

    @Argument(help: "The certificate's name: the files are NAME.key and NAME.key_secret.")
    var name: String

    @Option(help: ArgumentHelp("The directory to write them in.", valueName: "dir"))
    var directory = "."

    func validate() throws {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw ValidationError("NAME must be a file name, without '/'")
        }
    }

    func run() throws {
        let keyPair: Curve.KeyPair
        do {
            keyPair = try Curve.KeyPair.generate()
        } catch {
            printError("filer: cannot make a CURVE key pair (is libzmq built with CURVE?): \(error)")
            throw ExitCode(69)
        }
        let paths: (publicPath: String, secretPath: String)
        do {
            paths = try CertificateFile.savePair(keyPair, directory: directory, name: name)
        } catch {
            printError("filer: \(error)")
            throw ExitCode(73)
        }
        print("Wrote \(paths.publicPath) (public) and \(paths.secretPath) (secret, mode 0600).")
        print("Public key: \(keyPair.publicKey.z85)")
    }
}
