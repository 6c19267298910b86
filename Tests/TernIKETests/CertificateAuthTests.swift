import Foundation
import Synchronization
import Testing
import TernTestSupport
import TernIKE
@testable import TernPKI
import TernWire
import X509

/// A test PKI made with TernPKI: a root CA, an intermediate CA below it, and gateway
/// certificates for A (gateway-a.example.com, 192.0.2.1) and B (gateway-b.example.com).
struct CertificatePKI {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let rootKey = try! PrivateKeyBundle.generate(.ecdsa(bits: 384))
    static let intermediateKey = try! PrivateKeyBundle.generate(.ecdsa(bits: 256))
    static let otherRootKey = try! PrivateKeyBundle.generate(.ecdsa(bits: 256))
    static let keys: [String: PrivateKeyBundle] = [
        "p256": try! PrivateKeyBundle.generate(.ecdsa(bits: 256)),
        "p384": try! PrivateKeyBundle.generate(.ecdsa(bits: 384)),
        "p521": try! PrivateKeyBundle.generate(.ecdsa(bits: 521)),
        "rsa2048": try! PrivateKeyBundle.generate(.rsa(bits: 2048)),
        "ed25519": try! PrivateKeyBundle.generate(.ed25519),
    ]
    static let root = ca("C=CA, O=kldload, CN=IPsec CA", key: rootKey)
    static let otherRoot = ca("C=CA, O=elsewhere, CN=Other CA", key: otherRootKey)
    static let intermediate: Certificate = {
        var p = CertificateProfile(subject: try! DNString.parse("C=CA, O=kldload, CN=IPsec Intermediate CA"), now: now - 3600, lifetimeDays: 1000)
        p.isCA = true
        return try! CertificateIssuer.issue(publicKey: intermediateKey.publicKey, profile: p, caCertificate: root, caKey: rootKey)
    }()

    static func ca(_ dn: String, key: PrivateKeyBundle) -> Certificate {
        var p = CertificateProfile(subject: try! DNString.parse(dn), now: now - 86400, lifetimeDays: 3650)
        p.isCA = true
        return try! CertificateIssuer.selfSigned(key: key, profile: p)
    }

    /// A gateway certificate: CN and DNS SAN `host`, plus `extraSANs`.
    static func gateway(_ host: String, key: PrivateKeyBundle, issuer: Certificate = root, issuerKey: PrivateKeyBundle = rootKey,
                        start: Date = now - 3600, days: Int = 365, serial: [UInt8]? = nil, extraSANs: [String] = [],
                        crlURI: String? = nil) -> Certificate {
        var p = CertificateProfile(subject: try! DNString.parse("C=CA, O=kldload, CN=\(host)"), now: start, lifetimeDays: days)
        p.subjectAltNames = [.dnsName(host)] + extraSANs.map { try! SANString.parse($0) }
        p.serial = serial
        if let crlURI { p.crlDistributionPoints = [(crlURI, nil)] }
        return try! CertificateIssuer.issue(publicKey: key.publicKey, profile: p, caCertificate: issuer, caKey: issuerKey)
    }
}

/// IKE_AUTH with certificates between two in-memory engines:
///   HDR, SK {IDi, [CERT+], [CERTREQ+], [IDr], AUTH, SAi2, TSi, TSr} --->
///                              <--- HDR, SK {IDr, [CERT+], AUTH, SAr2, TSi, TSr}
@Suite struct CertificateAuthTests {
    typealias PKI = CertificatePKI

    struct Side {
        var certificate: Certificate
        var key: PrivateKeyBundle
        var id: String
        var authorities: [Certificate] = [PKI.root]
        var extraCertificates: [Certificate] = []
        var crls: [CRL] = []
    }

    static func sideA(_ keyName: String = "p256") -> Side {
        let key = PKI.keys[keyName]!
        return Side(certificate: PKI.gateway("gateway-a.example.com", key: key, extraSANs: ["192.0.2.1"]), key: key, id: "gateway-a.example.com")
    }

    static func sideB(_ keyName: String = "rsa2048") -> Side {
        let key = PKI.keys[keyName]!
        return Side(certificate: PKI.gateway("gateway-b.example.com", key: key), key: key, id: "gateway-b.example.com")
    }

    /// A pair where each side authenticates with its certificate; `tune` edits each connection.
    static func pair(_ a: Side, _ b: Side, wallClockB: Date = PKI.now, wallClockA: Date = PKI.now,
                     tuneA: (inout ConnectionPolicy, inout EngineConfiguration) -> Void = { _, _ in },
                     tuneB: (inout ConnectionPolicy, inout EngineConfiguration) -> Void = { _, _ in }) -> IKEPair {
        var (ca, cb) = IKEFixtures.siteToSite()
        func apply(_ side: Side, peer: Side, to config: inout EngineConfiguration, tune: (inout ConnectionPolicy, inout EngineConfiguration) -> Void) {
            var c = config.connections[0]
            c.localAuth = .pubkey
            c.remoteAuth = .pubkey
            c.localIdentity = try! Identity(parsing: side.id)
            c.remoteIdentity = try! Identity(parsing: peer.id)
            c.certificates.localCertificates = [side.certificate]
            config.sharedKeys = []
            config.credentials = CredentialSet(authorities: side.authorities, certificates: [side.certificate] + side.extraCertificates,
                                               privateKeys: [side.key], crls: side.crls)
            tune(&c, &config)
            config.connections = [c]
        }
        apply(a, peer: b, to: &ca, tune: tuneA)
        apply(b, peer: a, to: &cb, tune: tuneB)
        let pair = IKEPair(configA: ca, configB: cb)
        pair.a.endpoint.calendarTime = wallClockA
        pair.b.endpoint.calendarTime = wallClockB
        return pair
    }

    @discardableResult
    func establish(_ pair: IKEPair) throws -> Bool {
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        let up = pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 30)
        #expect(up, "A: \(pair.a.logLines)\nB: \(pair.b.logLines)")
        return up
    }

    func refused(_ pair: IKEPair, by verifier: IKEPair.Side, reason: String) throws {
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        pair.run(for: 30)
        #expect(pair.a.sas.isEmpty && pair.b.sas.isEmpty, "A: \(pair.a.logLines)\nB: \(pair.b.logLines)")
        #expect(pair.a.endpoint.listSAs(now: pair.now).isEmpty && pair.b.endpoint.listSAs(now: pair.now).isEmpty)
        #expect(verifier.logLines.contains { $0.localizedCaseInsensitiveContains(reason) }, "\(verifier.name): \(verifier.logLines)")
    }

    @Test(arguments: [("p256", "rsa2048"), ("rsa2048", "p384"), ("p521", "ed25519"), ("ed25519", "p256")])
    func establishesWithEachKeyType(keyA: String, keyB: String) throws {
        let pair = Self.pair(Self.sideA(keyA), Self.sideB(keyB))
        try establish(pair)
        #expect(pair.consistent())
        #expect(pair.a.established.first?.remoteIdentity == "gateway-b.example.com")
        #expect(pair.b.established.first?.remoteIdentity == "gateway-a.example.com")
        // Both sides announced RFC 7427 hashes, so both signed with method 14.
        #expect(pair.a.logLines.contains { $0.contains("(RFC 7427), certificate \"C=CA, O=kldload, CN=gateway-b.example.com\" successful") })
        #expect(pair.b.logLines.contains { $0.contains("(RFC 7427), certificate \"C=CA, O=kldload, CN=gateway-a.example.com\" successful") })
    }

    @Test(arguments: [("p256", "ECDSA-256"), ("p384", "ECDSA-384"), ("p521", "ECDSA-521"), ("rsa2048", "RSA signature with SHA-1")])
    func classicMethodsWithoutSignatureHashes(key: String, method: String) throws {
        let pair = Self.pair(Self.sideA(key), Self.sideB(key), tuneA: { _, e in e.signatureAuthentication = false },
                             tuneB: { _, e in e.signatureAuthentication = false })
        try establish(pair)
        #expect(pair.b.logLines.contains { $0.contains(method) })
        #expect(!pair.b.logLines.contains { $0.contains("RFC 7427") })
    }

    @Test func ed25519NeedsSignatureHashes() throws {
        let pair = Self.pair(Self.sideA("ed25519"), Self.sideB(), tuneB: { _, e in e.signatureAuthentication = false })
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        pair.run(for: 30)
        #expect(pair.a.sas.isEmpty)
        #expect(pair.a.logLines.contains { $0.contains("needs RFC 7427") })
    }

    @Test func intermediateTravelsInACertPayload() throws {
        let key = PKI.keys["p384"]!
        var a = Self.sideA()
        a.certificate = PKI.gateway("gateway-a.example.com", key: key, issuer: PKI.intermediate, issuerKey: PKI.intermediateKey)
        a.key = key
        a.extraCertificates = [PKI.intermediate]   // B holds only the root
        let pair = Self.pair(a, Self.sideB())
        try establish(pair)
    }

    @Test func withoutTheIntermediateTheCAIsUnknown() throws {
        let key = PKI.keys["p384"]!
        var a = Self.sideA()
        a.certificate = PKI.gateway("gateway-a.example.com", key: key, issuer: PKI.intermediate, issuerKey: PKI.intermediateKey)
        a.key = key
        let pair = Self.pair(a, Self.sideB())
        try refused(pair, by: pair.b, reason: "no trusted CA certificate found for issuer \"C=CA, O=kldload, CN=IPsec Intermediate CA\"")
    }

    @Test func sendCertNeverAndNothingLoadedIsRefused() throws {
        let pair = Self.pair(Self.sideA(), Self.sideB(), tuneA: { c, _ in c.certificates.sendCertificate = .never })
        try refused(pair, by: pair.b, reason: "sent no certificate and none is loaded")
    }

    @Test func sendCertNeverWorksWhenThePeerHasTheCertificate() throws {
        var b = Self.sideB()
        let a = Self.sideA()
        b.extraCertificates = [a.certificate]
        let pair = Self.pair(a, b, tuneA: { c, _ in c.certificates.sendCertificate = .never })
        try establish(pair)
    }

    @Test func expiredCertificateIsRefused() throws {
        let pair = Self.pair(Self.sideA(), Self.sideB(), wallClockB: PKI.now + 400 * 86400)
        try refused(pair, by: pair.b, reason: "certificate \"C=CA, O=kldload, CN=gateway-a.example.com\" expired on")
    }

    @Test func notYetValidCertificateIsRefused() throws {
        var a = Self.sideA()
        a.certificate = PKI.gateway("gateway-a.example.com", key: a.key, start: PKI.now + 86400)
        let pair = Self.pair(a, Self.sideB())
        try refused(pair, by: pair.b, reason: "is not valid before")
    }

    @Test func keyUsageWithoutSignaturesIsRefused() throws {
        // swift-certificates builds what CertificateIssuer would not: keyUsage keyEncipherment only.
        var a = Self.sideA()
        a.certificate = try Certificate(
            version: .v3, serialNumber: .init(bytes: [0x77]), publicKey: a.key.publicKey.certificatePublicKey,
            notValidBefore: PKI.now - 60, notValidAfter: PKI.now + 86400, issuer: PKI.root.subject,
            subject: try DNString.parse("C=CA, O=kldload, CN=gateway-a.example.com"), signatureAlgorithm: .ecdsaWithSHA384,
            extensions: try Certificate.Extensions {
                KeyUsage(keyEncipherment: true)
                SubjectAlternativeNames([.dnsName("gateway-a.example.com")])
            }, issuerPrivateKey: PKI.rootKey.certificatePrivateKey)
        let pair = Self.pair(a, Self.sideB())
        try refused(pair, by: pair.b, reason: "wrong key usage")
    }

    @Test func unknownCAIsRefused() throws {
        var a = Self.sideA()
        a.certificate = PKI.gateway("gateway-a.example.com", key: a.key, issuer: PKI.otherRoot, issuerKey: PKI.otherRootKey)
        let pair = Self.pair(a, Self.sideB())
        try refused(pair, by: pair.b, reason: "no trusted CA certificate found for issuer \"C=CA, O=elsewhere, CN=Other CA\"")
    }

    @Test func remoteCACertsConstrainTheChain() throws {
        // B trusts both roots but this connection accepts only the other one.
        var b = Self.sideB()
        b.authorities = [PKI.root, PKI.otherRoot]
        let pair = Self.pair(Self.sideA(), b, tuneB: { c, _ in c.certificates.remoteCACertificates = [PKI.otherRoot] })
        try refused(pair, by: pair.b, reason: "among remote.cacerts")
    }

    @Test func revokedCertificateIsRefused() throws {
        var a = Self.sideA()
        a.certificate = PKI.gateway("gateway-a.example.com", key: a.key, serial: [0x42, 0x01])
        var b = Self.sideB()
        b.crls = [try CRL.sign(caCertificate: PKI.root, caKey: PKI.rootKey, thisUpdate: PKI.now - 60, nextUpdate: PKI.now + 86400,
                               revoked: [RevokedCertificate(serial: [0x42, 0x01], date: PKI.now - 60, reason: .keyCompromise)])]
        let pair = Self.pair(a, b)
        try refused(pair, by: pair.b, reason: "is revoked: key compromise")
    }

    @Test func crlFromADistributionPointIsFetched() throws {
        var a = Self.sideA()
        a.certificate = PKI.gateway("gateway-a.example.com", key: a.key, serial: [0x42, 0x02], crlURI: "file:///crl/root.crl")
        let crl = try CRL.sign(caCertificate: PKI.root, caKey: PKI.rootKey, thisUpdate: PKI.now - 60, nextUpdate: PKI.now + 86400,
                               revoked: [RevokedCertificate(serial: [0x42, 0x02], date: PKI.now - 60)])
        let pair = Self.pair(a, Self.sideB())
        pair.b.crls = { $0 == "file:///crl/root.crl" ? [crl] : nil }
        try refused(pair, by: pair.b, reason: "is revoked")
        #expect(pair.b.lookups.contains(.fetchCRL(uri: "file:///crl/root.crl")))
    }

    @Test func authorityCRLURIsAreFetchedAtEveryCheck() throws {
        var a = Self.sideA()
        a.certificate = PKI.gateway("gateway-a.example.com", key: a.key, serial: [0x42, 0x03])
        let revoking = try CRL.sign(caCertificate: PKI.root, caKey: PKI.rootKey, thisUpdate: PKI.now - 60, nextUpdate: PKI.now + 86400,
                                    revoked: [RevokedCertificate(serial: [0x42, 0x03], date: PKI.now - 60)])
        let clean = try CRL.sign(caCertificate: PKI.root, caKey: PKI.rootKey, thisUpdate: PKI.now - 120, nextUpdate: PKI.now + 86400, revoked: [])
        // The file behind the authority's crl_uris is clean at first, then replaced.
        let current = Mutex(clean)
        let fetch: @Sendable (String) -> [CRL]? = { uri in uri == "file:///ca.crl" ? [current.withLock { $0 }] : nil }
        let tune: (inout ConnectionPolicy, inout EngineConfiguration) -> Void = { c, e in
            e.credentials.crlURIs = ["file:///ca.crl"]
            c.certificates.revocation = .strict
        }
        let first = Self.pair(a, Self.sideB(), tuneB: tune)
        first.b.crls = fetch
        try establish(first)
        current.withLock { $0 = revoking }
        let pair = Self.pair(a, Self.sideB(), tuneB: tune)
        pair.b.crls = fetch
        try refused(pair, by: pair.b, reason: "is revoked")
    }

    @Test func strictRevocationNeedsACRL() throws {
        let strict = Self.pair(Self.sideA(), Self.sideB(), tuneB: { c, _ in c.certificates.revocation = .strict })
        try refused(strict, by: strict.b, reason: "revocation = strict")
        // With a CRL that does not list A, strict passes.
        var b = Self.sideB()
        b.crls = [try CRL.sign(caCertificate: PKI.root, caKey: PKI.rootKey, thisUpdate: PKI.now - 60, nextUpdate: PKI.now + 86400, revoked: [])]
        try establish(Self.pair(Self.sideA(), b, tuneB: { c, _ in c.certificates.revocation = .strict }))
    }

    @Test func ifURIFailsWhenTheDistributionPointCannotBeFetched() throws {
        var a = Self.sideA()
        a.certificate = PKI.gateway("gateway-a.example.com", key: a.key, crlURI: "http://crl.example.com/root.crl")
        let pair = Self.pair(a, Self.sideB(), tuneB: { c, _ in c.certificates.revocation = .ifuri })
        try refused(pair, by: pair.b, reason: "could not be fetched")
        // relaxed (the default) accepts it.
        try establish(Self.pair(a, Self.sideB()))
    }

    @Test func identityNotInTheCertificateIsRefused() throws {
        var a = Self.sideA()
        a.id = "gateway-c.example.com"
        let pair = Self.pair(a, Self.sideB(), tuneB: { c, _ in c.remoteIdentity = .any })
        // A refuses to claim an identity its own certificate does not carry.
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        pair.run(for: 30)
        #expect(pair.a.sas.isEmpty)
        #expect(pair.a.logLines.contains { $0.contains("is not confirmed by our certificate") })
    }

    @Test func peerClaimingAnotherIdentityIsRefused() throws {
        // B's certificate says gateway-b; B claims gateway-z (it holds a second certificate for
        // that name from another CA, so it signs happily), A trusts only the root.
        var b = Self.sideB()
        let zKey = PKI.keys["p384"]!
        let z = PKI.gateway("gateway-z.example.com", key: zKey, issuer: PKI.otherRoot, issuerKey: PKI.otherRootKey)
        b.id = "gateway-z.example.com"
        b.certificate = z
        b.key = zKey
        let pair = Self.pair(Self.sideA(), b, tuneA: { c, _ in c.remoteIdentity = .any })
        try refused(pair, by: pair.a, reason: "no trusted CA certificate")
        #expect(pair.b.logLines.contains { $0.contains("peer refused our authentication (AUTHENTICATION_FAILED)") })
    }

    @Test func addressIdentityMatchesAnIPSubjectAltName() throws {
        var a = Self.sideA()
        a.id = "192.0.2.1"
        try establish(Self.pair(a, Self.sideB()))
    }

    @Test func distinguishedNameIdentitiesWithWildcards() throws {
        var a = Self.sideA()
        a.id = "C=CA, O=kldload, CN=gateway-a.example.com"
        let pair = Self.pair(a, Self.sideB(), tuneB: { c, _ in c.remoteIdentity = try! Identity(parsing: "C=CA, O=kldload, CN=*") })
        try establish(pair)
        #expect(pair.b.established.first?.remoteIdentity == "C=CA, O=kldload, CN=gateway-a.example.com")
    }

    @Test func noLocalIdUsesTheCertificateSubject() throws {
        let pair = Self.pair(Self.sideA(), Self.sideB(), tuneA: { c, _ in c.localIdentity = nil },
                             tuneB: { c, _ in c.remoteIdentity = try! Identity(parsing: "C=CA, O=kldload, CN=gateway-a.example.com") })
        try establish(pair)
    }

    /// A before and after it moved to a new key and certificate for the same identity.
    static func rekeyedA() -> (old: Side, new: Side) {
        let old = sideA()
        var new = old
        new.key = PKI.keys["p384"]!
        new.certificate = PKI.gateway("gateway-a.example.com", key: new.key)
        return (old, new)
    }

    @Test func pinnedCertificateRefusesAnotherOne() throws {
        // B expects A's old certificate; A authenticates with a new key and certificate.
        let (old, a) = Self.rekeyedA()
        let pair = Self.pair(a, Self.sideB(), tuneB: { c, _ in c.certificates.remoteCertificates = [old.certificate] })
        try refused(pair, by: pair.b, reason: "does not match the certificate configured in remote.certs")
    }

    @Test func signatureWithTheWrongKeyDoesNotVerify() throws {
        // A sends no CERT; B verifies with the certificate it holds for A, whose key A no longer uses.
        let (old, a) = Self.rekeyedA()
        var b = Self.sideB()
        b.extraCertificates = [old.certificate]
        let pair = Self.pair(a, b, tuneA: { c, _ in c.certificates.sendCertificate = .never })
        try refused(pair, by: pair.b, reason: "does not verify with the key of certificate")
    }

    @Test func pskPeerAgainstAPubkeyConnectionIsRefused() throws {
        let pair = Self.pair(Self.sideA(), Self.sideB(), tuneA: { c, e in
            c.localAuth = .psk
            e.sharedKeys = [SharedKey(owners: [], secret: IKEFixtures.psk)]
        })
        try refused(pair, by: pair.b, reason: "expects a signature (auth = pubkey)")
    }

    @Test func mixedPSKAndCertificateRounds() throws {
        // A proves itself with a PSK, B with its certificate.
        let pair = Self.pair(Self.sideA(), Self.sideB(), tuneA: { c, e in
            c.localAuth = .psk
            e.sharedKeys = [SharedKey(owners: [], secret: IKEFixtures.psk)]
        }, tuneB: { c, e in
            c.remoteAuth = .psk
            e.sharedKeys = [SharedKey(owners: [], secret: IKEFixtures.psk)]
        })
        try establish(pair)
        #expect(pair.b.logLines.contains { $0.contains("with pre-shared key successful") })
        #expect(pair.a.logLines.contains { $0.contains("(RFC 7427), certificate") })
    }

    @Test func rsaPSSWhenPreferred() throws {
        let pair = Self.pair(Self.sideA("rsa2048"), Self.sideB(), tuneA: { c, _ in c.certificates.preferPSS = true })
        try establish(pair)
        #expect(pair.b.logLines.contains { $0.contains("RSASSA-PSS with SHA-256 (RFC 7427)") })
    }
}
