import FilerSecurity
import Glibc
import Testing
import TestSupport
import ZeroMQ

@Suite struct CertificateFileTests {
    @Test func readsTheFilesPyzmqWrites() throws {
        let directory = TemporaryDirectory()
        let printed = try python("""
            import zmq.auth
            public_file, secret_file = zmq.auth.create_certificates('\(directory.path)', 'x')
            print(zmq.auth.load_certificate(public_file)[0].decode())
            public, secret = zmq.auth.load_certificate(secret_file)
            print(public.decode()); print(secret.decode())
            """)
        #expect(printed.count == 3)
        #expect(try CertificateFile.loadPublic(directory.path + "/x.key").publicKey.z85 == printed[0])
        // pyzmq 24 leaves its secret file to the umask (0644 here): it must be refused as it is.
        if directory.mode(of: "x.key_secret") & 0o077 != 0 {
            #expect(throws: SecurityError.self) { try CertificateFile.loadSecret(directory.path + "/x.key_secret") }
            #expect(chmod(directory.path + "/x.key_secret", 0o600) == 0)
        }
        let keyPair = try CertificateFile.loadSecret(directory.path + "/x.key_secret")
        #expect(keyPair.publicKey.z85 == printed[1])
        #expect(keyPair.secretKey.z85 == printed[2])
    }

    @Test func pyzmqReadsTheFilesWeWrite() throws {
        let directory = TemporaryDirectory()
        let keyPair = try Curve.KeyPair.generate()
        let paths = try CertificateFile.savePair(
            keyPair, directory: directory.path, name: "ours", metadata: ["role": "broker"])
        #expect(paths.publicPath == directory.path + "/ours.key")
        #expect(paths.secretPath == directory.path + "/ours.key_secret")
        #expect(directory.mode(of: "ours.key") == 0o644)
        #expect(directory.mode(of: "ours.key_secret") == 0o600)
        let printed = try python("""
            import zmq.auth
            public, secret = zmq.auth.load_certificate('\(paths.publicPath)')
            print(public.decode()); print(secret)
            public, secret = zmq.auth.load_certificate('\(paths.secretPath)')
            print(public.decode()); print(secret.decode())
            print(sorted(k.decode() for k in zmq.auth.load_certificates('\(directory.path)')))
            """)
        #expect(printed == [
            keyPair.publicKey.z85, "None", keyPair.publicKey.z85, keyPair.secretKey.z85, "['\(keyPair.publicKey.z85)']",
        ])
    }

    @Test func aSecretOthersCanReadIsRefusedWithTheFix() throws {
        let directory = TemporaryDirectory()
        let text = try Certificate(try Curve.KeyPair.generate()).text(includingSecret: true)
        let path = directory.write("open.key_secret", text, mode: 0o644)
        let error = #expect(throws: SecurityError.self) { try CertificateFile.loadSecret(path) }
        #expect(error?.file == path)
        #expect(error?.description.contains("chmod 600 \(path)") == true)
        #expect(chmod(path, 0o640) == 0)
        #expect(throws: SecurityError.self) { try CertificateFile.loadSecret(path) }
        #expect(chmod(path, 0o600) == 0)
        #expect(try CertificateFile.loadSecret(path).publicKey == CertificateFile.loadPublic(path).publicKey)
    }

    @Test func missingUnreadableMalformedAndPublicOnlyFilesNameTheFile() throws {
        let directory = TemporaryDirectory()
        let missing = directory.path + "/none.key"
        #expect((#expect(throws: SecurityError.self) { try CertificateFile.loadPublic(missing) })?.file == missing)
        let folder = #expect(throws: SecurityError.self) { try CertificateFile.loadPublic(directory.path) }
        #expect(folder?.message.contains("EISDIR") == true)

        let broken = directory.write("broken.key", "# fine\ncurve\n    public-key = \"short\"\n")
        let error = #expect(throws: SecurityError.self) { try CertificateFile.loadPublic(broken) }
        #expect(error?.description.hasPrefix("\(broken):3: ") == true)

        let publicText = try Certificate(try Curve.KeyPair.generate()).text(includingSecret: false)
        let publicOnly = directory.write("pub.key_secret", publicText, mode: 0o600)
        let noSecret = #expect(throws: SecurityError.self) { try CertificateFile.loadSecret(publicOnly) }
        #expect(noSecret?.message.contains("no secret-key") == true)
    }

    @Test func savingNeverReplacesAFile() throws {
        let directory = TemporaryDirectory()
        directory.write("taken.key", "mine\n")
        let error = #expect(throws: SecurityError.self) {
            try CertificateFile.savePair(try Curve.KeyPair.generate(), directory: directory.path, name: "taken")
        }
        #expect(error?.file == directory.path + "/taken.key")
        #expect(error?.message.contains("already exists") == true)
        // Nothing was written: not the secret half either.
        #expect(access(directory.path + "/taken.key_secret", F_OK) != 0)

        let keyPair = try Curve.KeyPair.generate()
        let paths = try CertificateFile.savePair(keyPair, directory: directory.path + "/", name: "new")
        #expect(paths.secretPath == directory.path + "/new.key_secret")
        let again = #expect(throws: SecurityError.self) {
            try CertificateFile.save(Certificate(try Curve.KeyPair.generate()), to: paths.secretPath, includingSecret: true)
        }
        #expect(again?.file == paths.secretPath)
        #expect(try CertificateFile.loadSecret(paths.secretPath) == keyPair)
    }
}
