import Foundation
import SwiftASN1
import Testing
import X509
@testable import TernPKI

@Suite struct ChainValidatorTests {
    @Test func aLeafValidatesThroughItsIntermediate() throws {
        let pki = try TestPKI()
        let validator = ChainValidator(trustedRoots: [pki.root], intermediates: [pki.intermediate], now: TestPKI.now + 60)
        #expect(try validator.validate(leaf: pki.leaf).get() == [pki.leaf, pki.intermediate, pki.root])
        // The root alone is its own chain; the intermediate as an anchor ends the chain early.
        #expect(try validator.validate(leaf: pki.root).get() == [pki.root])
        let anchored = ChainValidator(trustedRoots: [pki.intermediate], now: TestPKI.now + 60)
        #expect(try anchored.validate(leaf: pki.leaf).get() == [pki.leaf, pki.intermediate])
    }

    @Test func expiredAndNotYetValid() throws {
        let pki = try TestPKI(leafLifetimeDays: 1)
        let validator = { (now: Date) in ChainValidator(trustedRoots: [pki.root], intermediates: [pki.intermediate], now: now) }
        #expect(validator(TestPKI.now + 2 * 86400).validate(leaf: pki.leaf)
                == .failure(.expired(subject: "C=CH, O=Tern, CN=moon.example.org", notAfter: TestPKI.now + 86400)))
        #expect(validator(TestPKI.now - 60).validate(leaf: pki.leaf)
                == .failure(.notYetValid(subject: "C=CH, O=Tern, CN=moon.example.org", notBefore: TestPKI.now)))
        // An expired intermediate fails the chain too.
        let late = TestPKI.now + 1001 * 86400
        let longLeaf = try TestPKI(leafLifetimeDays: 2000)
        guard case .failure(.expired(let subject, _)) = ChainValidator(trustedRoots: [longLeaf.root], intermediates: [longLeaf.intermediate],
                                                                       now: late).validate(leaf: longLeaf.leaf) else {
            Issue.record("expected an expired intermediate")
            return
        }
        #expect(subject == "C=CH, O=Tern, CN=Intermediate CA")
    }

    @Test func unknownCA() throws {
        let pki = try TestPKI()
        let noIntermediate = ChainValidator(trustedRoots: [pki.root], now: TestPKI.now + 60)
        #expect(noIntermediate.validate(leaf: pki.leaf) == .failure(.unknownCA(issuer: "C=CH, O=Tern, CN=Intermediate CA")))
        let other = try TestPKI()  // same names, other serials, same keys: a different root certificate
        var profile = CertificateProfile(subject: try DNString.parse("CN=Stranger"), now: TestPKI.now - 10)
        profile.isCA = true
        let stranger = try CertificateIssuer.selfSigned(key: TestKeys.ed25519, profile: profile)
        #expect(ChainValidator(trustedRoots: [stranger], now: TestPKI.now + 60).validate(leaf: other.root)
                == .failure(.unknownCA(issuer: "C=CH, O=Tern, CN=Root CA")))
        #expect(ChainValidator(trustedRoots: [], now: TestPKI.now + 60).validate(leaf: stranger)
                == .failure(.unknownCA(issuer: "CN=Stranger")))
    }

    @Test func revokedThroughTheIssuersCRL() throws {
        let pki = try TestPKI()
        let crl = try CRL.sign(caCertificate: pki.intermediate, caKey: pki.intermediateKey, thisUpdate: TestPKI.now,
                               nextUpdate: TestPKI.now + 86400 * 15,
                               revoked: [RevokedCertificate(serial: [1, 2, 3], date: TestPKI.now, reason: .superseded)])
        let validator = ChainValidator(trustedRoots: [pki.root], intermediates: [pki.intermediate], crls: [crl], now: TestPKI.now + 60)
        #expect(validator.validate(leaf: pki.leaf)
                == .failure(.revoked(serial: [1, 2, 3], subject: "C=CH, O=Tern, CN=moon.example.org", reason: .superseded)))
        // The same CRL signed by someone else is not believed.
        let forged = try CRL.sign(caCertificate: pki.root, caKey: pki.rootKey, thisUpdate: TestPKI.now, nextUpdate: TestPKI.now + 86400,
                                  revoked: [RevokedCertificate(serial: [1, 2, 3], date: TestPKI.now)])
        #expect(ChainValidator(trustedRoots: [pki.root], intermediates: [pki.intermediate], crls: [forged], now: TestPKI.now + 60)
                    .validate(leaf: pki.leaf).map(\.count) == .success(3))
    }

    @Test func issuerWithoutCAOrKeyCertSign() throws {
        let pki = try TestPKI()
        // swift-certificates builds what CertificateIssuer refuses to: a leaf signed by a non-CA, and a CA whose
        // keyUsage lacks keyCertSign.
        let notCA = try signedBy(pki.leaf, key: pki.leafKey, extensions: Certificate.Extensions())
        #expect(ChainValidator(trustedRoots: [pki.root], intermediates: [pki.intermediate, pki.leaf], now: TestPKI.now + 60)
                    .validate(leaf: notCA) == .failure(.notACA(subject: "C=CH, O=Tern, CN=moon.example.org")))

        let weakCA = try Certificate(
            version: .v3, serialNumber: .init(bytes: [9]), publicKey: TestKeys.p521.publicKey.certificatePublicKey,
            notValidBefore: TestPKI.now - 10, notValidAfter: TestPKI.now + 86400, issuer: pki.root.subject,
            subject: try DNString.parse("CN=Weak CA"), signatureAlgorithm: .ecdsaWithSHA384,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(digitalSignature: true))
            }, issuerPrivateKey: pki.rootKey.certificatePrivateKey)
        let underWeak = try signedBy(weakCA, key: TestKeys.p521, extensions: Certificate.Extensions())
        #expect(ChainValidator(trustedRoots: [pki.root], intermediates: [weakCA], now: TestPKI.now + 60)
                    .validate(leaf: underWeak) == .failure(.keyUsage(subject: "CN=Weak CA")))
    }

    @Test func badSignatureAndPathLength() throws {
        let pki = try TestPKI()
        // A certificate naming the intermediate as issuer but signed by another key.
        let impostor = try Certificate(
            version: .v3, serialNumber: .init(bytes: [5]), publicKey: TestKeys.ed25519.publicKey.certificatePublicKey,
            notValidBefore: TestPKI.now - 10, notValidAfter: TestPKI.now + 86400, issuer: pki.intermediate.subject,
            subject: try DNString.parse("CN=impostor"), signatureAlgorithm: .ecdsaWithSHA256, extensions: Certificate.Extensions(),
            issuerPrivateKey: TestKeys.p256.certificatePrivateKey)
        #expect(ChainValidator(trustedRoots: [pki.root], intermediates: [pki.intermediate], now: TestPKI.now + 60)
                    .validate(leaf: impostor) == .failure(.badSignature(subject: "CN=impostor")))

        let strict = try TestPKI(rootPathLength: 0)
        #expect(ChainValidator(trustedRoots: [strict.root], intermediates: [strict.intermediate], now: TestPKI.now + 60)
                    .validate(leaf: strict.leaf) == .failure(.pathLength(subject: "C=CH, O=Tern, CN=Root CA")))
        let allowed = try TestPKI(rootPathLength: 1)
        #expect(ChainValidator(trustedRoots: [allowed.root], intermediates: [allowed.intermediate], now: TestPKI.now + 60)
                    .validate(leaf: allowed.leaf).map(\.count) == .success(3))
    }

    @Test func failuresDescribeThemselves() {
        let failure = ChainValidationFailure.revoked(serial: [1, 2], subject: "CN=x", reason: .keyCompromise)
        #expect(failure.description == "certificate \"CN=x\" (serial 01:02) is revoked: key compromise")
        #expect(ChainValidationFailure.unknownCA(issuer: "CN=y").description.contains("CN=y"))
    }

    func signedBy(_ issuer: Certificate, key: PrivateKeyBundle, extensions: Certificate.Extensions) throws -> Certificate {
        try Certificate(
            version: .v3, serialNumber: .init(bytes: [0x42]), publicKey: TestKeys.ed25519.publicKey.certificatePublicKey,
            notValidBefore: TestPKI.now - 10, notValidAfter: TestPKI.now + 86400, issuer: issuer.subject,
            subject: try DNString.parse("CN=below"), signatureAlgorithm: try CertificateIssuer.certificateAlgorithm(.defaultScheme(for: key.keyType), key: key.keyType),
            extensions: extensions, issuerPrivateKey: key.certificatePrivateKey)
    }
}
