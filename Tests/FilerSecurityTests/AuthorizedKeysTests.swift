import FilerSecurity
import Testing
import TestSupport
import ZeroMQ

@Suite struct AuthorizedKeysTests {
    @Test func loadsEveryDotKeyFileOfADirectory() throws {
        let directory = TemporaryDirectory()
        let (one, two, secretOnly, hidden) = try (
            Curve.KeyPair.generate(), Curve.KeyPair.generate(), Curve.KeyPair.generate(), Curve.KeyPair.generate())
        _ = try CertificateFile.savePair(one, directory: directory.path, name: "one")
        // A secret certificate under a .key name still counts, by its public key.
        directory.write("two.key", try Certificate(two).text(includingSecret: true), mode: 0o600)
        try CertificateFile.save(Certificate(secretOnly), to: directory.path + "/lonely.key_secret", includingSecret: true)
        directory.write(".hidden.key", try Certificate(hidden).text(includingSecret: false))
        directory.write("README", "not a certificate")
        directory.write("one.key.orig", "not a certificate either")

        let authorized = try AuthorizedKeys.load(from: directory.path)
        #expect(authorized == AuthorizedKeys([one.publicKey, two.publicKey]))
        #expect(authorized.contains(one.publicKey) && !authorized.contains(secretOnly.publicKey))
        #expect(try AuthorizedKeys.load(from: directory.path + "/one.key") == AuthorizedKeys([one.publicKey]))
    }

    @Test func aMalformedKeyFileFailsTheLoadAndIsNamed() throws {
        let directory = TemporaryDirectory()
        _ = try CertificateFile.savePair(try Curve.KeyPair.generate(), directory: directory.path, name: "good")
        let bad = directory.write("bad.key", "curve\n    public-key = nonsense\n")
        let error = #expect(throws: SecurityError.self) { try AuthorizedKeys.load(from: directory.path) }
        #expect(error?.file == bad)
        #expect(error?.line == 2)
    }

    @Test func anEmptyDirectoryAllowsNobodyAndAMissingOneIsAnError() throws {
        let directory = TemporaryDirectory()
        #expect(try AuthorizedKeys.load(from: directory.path).count == 0)
        let missing = directory.path + "/absent"
        #expect((#expect(throws: SecurityError.self) { try AuthorizedKeys.load(from: missing) })?.file == missing)
    }
}
