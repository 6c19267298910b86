import Foundation
import SwiftASN1
import Testing
import X509
@testable import TernPKI

/// A small PKI built with TernPKI itself: root → intermediate → leaf.
struct TestPKI {
    let rootKey = TestKeys.p384
    let intermediateKey = TestKeys.rsa2048
    let leafKey = TestKeys.p256
    let root: Certificate
    let intermediate: Certificate
    let leaf: Certificate
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    init(rootPathLength: Int? = nil, leafLifetimeDays: Int = 365, leafStart: Date = TestPKI.now) throws {
        var rootProfile = CertificateProfile(subject: try DNString.parse("C=CH, O=Tern, CN=Root CA"), now: Self.now - 86400, lifetimeDays: 3650)
        rootProfile.isCA = true
        rootProfile.pathLength = rootPathLength
        root = try CertificateIssuer.selfSigned(key: rootKey, profile: rootProfile)
        var intermediateProfile = CertificateProfile(subject: try DNString.parse("C=CH, O=Tern, CN=Intermediate CA"), now: Self.now - 3600, lifetimeDays: 1000)
        intermediateProfile.isCA = true
        intermediate = try CertificateIssuer.issue(publicKey: intermediateKey.publicKey, profile: intermediateProfile,
                                                   caCertificate: root, caKey: rootKey)
        var leafProfile = CertificateProfile(subject: try DNString.parse("C=CH, O=Tern, CN=moon.example.org"), now: leafStart,
                                             lifetimeDays: leafLifetimeDays)
        leafProfile.subjectAltNames = [.dnsName("moon.example.org"), try SANString.parse("192.0.2.1")]
        leafProfile.flags = [.serverAuth, .ikeIntermediate]
        leafProfile.crlDistributionPoints = [("http://crl.example.org/int.crl", nil)]
        leafProfile.serial = [0x01, 0x02, 0x03]
        leaf = try CertificateIssuer.issue(publicKey: leafKey.publicKey, profile: leafProfile, caCertificate: intermediate, caKey: intermediateKey)
    }
}

@Suite struct CertificateTests {
    @Test func layoutFollowsStrongSwan() throws {
        let pki = try TestPKI()
        #expect(pki.root.isCA && pki.root.isSelfSigned && pki.root.pkiFlags == ["CA", "CRLSign", "self-signed"])
        #expect(pki.root.authorityKeyID == nil)
        #expect(pki.root.subjectKeyID == pki.rootKey.publicKey.subjectKeyID)
        #expect(pki.intermediate.authorityKeyID == pki.rootKey.publicKey.subjectKeyID)
        #expect(!pki.leaf.isCA && pki.leaf.pkiFlags == ["serverAuth", "ikeIntermediate"] && pki.leaf.isIKECompliant)
        #expect(pki.leaf.extensions[oid: [2, 5, 29, 14]] == nil)  // no subjectKeyIdentifier on end entities
        #expect(pki.leaf.subjectAltNames.map(SANString.format) == ["moon.example.org", "192.0.2.1"])
        #expect(pki.leaf.crlDistributionPoints.map(\.uri) == ["http://crl.example.org/int.crl"])
        #expect(Array(pki.leaf.serialNumber.bytes) == [1, 2, 3])
        #expect(pki.leaf.signatureScheme == .rsaPKCS1(.sha256))
        #expect(pki.intermediate.signatureScheme == .ecdsa(.sha384))
        #expect(pki.leaf.isSignature(validFor: pki.intermediateKey.publicKey))
        #expect(!pki.leaf.isSignature(validFor: pki.rootKey.publicKey))
        // PEM and DER round trips give the same certificate.
        #expect(try CertificateFile.loadOne(Array(pki.leaf.pemEncoded.utf8)) == pki.leaf)
        #expect(try CertificateFile.loadOne(pki.leaf.derEncoded) == pki.leaf)
        #expect(try CertificateFile.load(Array((pki.leaf.pemEncoded + pki.root.pemEncoded).utf8)).count == 2)
    }

    @Test func issuingNeedsACAAndItsKey() throws {
        let pki = try TestPKI()
        let profile = CertificateProfile(subject: try DNString.parse("CN=x"))
        #expect(throws: PKIError(.notACA, "")) {
            _ = try CertificateIssuer.issue(publicKey: TestKeys.ed25519.publicKey, profile: profile, caCertificate: pki.leaf, caKey: pki.leafKey)
        }
        #expect(throws: PKIError(.keyMismatch, "")) {
            _ = try CertificateIssuer.issue(publicKey: TestKeys.ed25519.publicKey, profile: profile, caCertificate: pki.root, caKey: pki.leafKey)
        }
    }

    @Test func ed25519CertificatesWork() throws {
        var profile = CertificateProfile(subject: try DNString.parse("CN=ed"))
        profile.isCA = true
        let root = try CertificateIssuer.selfSigned(key: TestKeys.ed25519, profile: profile)
        #expect(root.signatureScheme == .ed25519 && root.isSelfSigned)
    }

    @Test func printLooksLikePKIPrint() throws {
        let pki = try TestPKI()
        let text = PKIPrinter.certificate(pki.leaf, now: TestPKI.now + 86400, timeZone: TimeZone(identifier: "UTC")!)
        let expected = """
              subject:  "C=CH, O=Tern, CN=moon.example.org"
              issuer:   "C=CH, O=Tern, CN=Intermediate CA"
              validity:  not before Jan 15 08:00:00 2027, ok
                         not after  Jan 15 08:00:00 2028, ok (expires in 364 days)
              serial:    01:02:03
              altNames:  moon.example.org, 192.0.2.1
              flags:     serverAuth ikeIntermediate 
              CRL URIs:  http://crl.example.org/int.crl
              authkeyId: \(colonHex(pki.intermediateKey.publicKey.subjectKeyID))
              subjkeyId: \(colonHex(pki.leafKey.publicKey.subjectKeyID))
              pubkey:    ECDSA 256 bits
              keyid:     \(colonHex(pki.leafKey.publicKey.keyID))
              subjkey:   \(colonHex(pki.leafKey.publicKey.subjectKeyID))

            """
        #expect(text == expected)
        let expiredText = PKIPrinter.certificate(pki.leaf, now: TestPKI.now + 400 * 86400, timeZone: TimeZone(identifier: "UTC")!)
        #expect(expiredText.contains("not after  Jan 15 08:00:00 2028, expired (35 days ago)"))
    }
}

@Suite struct RequestTests {
    @Test func requestsCarryNamesAndVerify() throws {
        for key in TestKeys.all {
            let request = try CertificateRequest.create(key: key, subject: try DNString.parse("C=CA, O=kldload, CN=gw"),
                                                        subjectAltNames: [.dnsName("gw.example.com"), try SANString.parse("203.0.113.1")],
                                                        challengePassword: "secret")
            let parsed = try CertificateRequest.load(Array(request.pemEncoded.utf8))
            #expect(parsed.subject.strongSwanDescription == "C=CA, O=kldload, CN=gw")
            #expect(parsed.subjectAltNames.map(SANString.format) == ["gw.example.com", "203.0.113.1"])
            #expect(parsed.challengePassword == "secret")
            #expect(parsed.publicKey == key.publicKey)
            #expect(parsed.isSelfSignatureValid, "\(key.keyType)")
        }
        let pss = try CertificateRequest.create(key: TestKeys.rsa2048, subject: try DNString.parse("CN=pss"), scheme: .rsaPSS(.sha256))
        #expect(pss.signatureScheme == .rsaPSS(.sha256) && pss.isSelfSignatureValid)
    }

    @Test func aTamperedRequestFailsItsSelfSignature() throws {
        var der = try CertificateRequest.create(key: TestKeys.p256, subject: try DNString.parse("CN=abc")).der
        let index = der.firstIndex(of: UInt8(ascii: "a"))!
        der[index] = UInt8(ascii: "x")
        let parsed = try CertificateRequest(der: der)
        #expect(parsed.subject.strongSwanDescription == "CN=xbc" && !parsed.isSelfSignatureValid)
        #expect(CertificateRequest.looksLikeRequest(der) && !CertificateRequest.looksLikeRequest(TestKeys.p256.derEncoded))
    }
}

@Suite struct CRLTests {
    @Test func signedCRLsParseBackAndVerify() throws {
        let pki = try TestPKI()
        let revoked = [RevokedCertificate(serial: [0x01, 0x02, 0x03], date: TestPKI.now, reason: .keyCompromise),
                       RevokedCertificate(serial: [0x00, 0xff], date: TestPKI.now, reason: .unspecified)]
        let crl = try CRL.sign(caCertificate: pki.intermediate, caKey: pki.intermediateKey, thisUpdate: TestPKI.now,
                               nextUpdate: TestPKI.now + 15 * 86400, revoked: revoked, crlNumber: [7],
                               freshestCRLURIs: ["http://crl.example.org/delta.crl"])
        let parsed = try CRL.load(Array(crl.pemEncoded.utf8))[0]
        #expect(parsed.issuer == pki.intermediate.subject)
        #expect(parsed.thisUpdate == TestPKI.now && parsed.nextUpdate == TestPKI.now + 15 * 86400)
        #expect(parsed.revoked == [RevokedCertificate(serial: [1, 2, 3], date: TestPKI.now, reason: .keyCompromise),
                                   RevokedCertificate(serial: [0xff], date: TestPKI.now)])
        #expect(parsed.crlNumber == [7] && parsed.authorityKeyID == pki.intermediate.subjectKeyID)
        #expect(parsed.freshestCRLURIs == ["http://crl.example.org/delta.crl"])
        #expect(parsed.isSignature(validFor: pki.intermediateKey.publicKey))
        #expect(!parsed.isSignature(validFor: pki.rootKey.publicKey))
        #expect(parsed.revocation(of: pki.leaf.serialNumber.bytes)?.reason == .keyCompromise)
        #expect(parsed.revocation(of: [0x00, 0x00, 0xff]) != nil && parsed.revocation(of: [0x04]) == nil)
        // An empty CRL omits revokedCertificates (RFC 5280 §5.1.2.6) and still parses.
        let empty = try CRL.sign(caCertificate: pki.root, caKey: pki.rootKey, thisUpdate: TestPKI.now, nextUpdate: TestPKI.now + 86400, revoked: [])
        #expect(empty.revoked.isEmpty && empty.isSignature(validFor: pki.rootKey.publicKey))
        #expect(throws: PKIError(.keyMismatch, "")) {
            _ = try CRL.sign(caCertificate: pki.root, caKey: pki.leafKey, thisUpdate: TestPKI.now, nextUpdate: TestPKI.now + 1, revoked: [])
        }
    }
}
