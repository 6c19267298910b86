import Foundation
import Logging
import Testing
import TernConfig
import TernIKE
import TernPKI
import TernVICI
import X509
@testable import TernDaemon

/// A CA and gateway A's certificate as the seed's section 9 makes them with `pki`.
struct GatewayPKI {
    let caKey: PrivateKeyBundle
    let ca: Certificate
    let gatewayKey: PrivateKeyBundle
    let gateway: Certificate

    init(gatewayKey: PrivateKeyBundle? = nil, caCRLURIs: [String] = []) throws {
        caKey = try PrivateKeyBundle.generate(.ecdsa(bits: 256))
        var caProfile = CertificateProfile(subject: try DNString.parse("C=CA, O=kldload, CN=IPsec CA"), now: Date() - 3600, lifetimeDays: 3650)
        caProfile.isCA = true
        ca = try CertificateIssuer.selfSigned(key: caKey, profile: caProfile)
        self.gatewayKey = try gatewayKey ?? PrivateKeyBundle.generate(.ecdsa(bits: 256))
        var profile = CertificateProfile(subject: try DNString.parse("C=CA, O=kldload, CN=gateway-a.example.com"), now: Date() - 3600, lifetimeDays: 365)
        profile.subjectAltNames = [.dnsName("gateway-a.example.com"), try SANString.parse("203.0.113.1")]
        profile.crlDistributionPoints = caCRLURIs.map { ($0, nil) }
        gateway = try CertificateIssuer.issue(publicKey: self.gatewayKey.publicKey, profile: profile, caCertificate: ca, caKey: caKey)
    }

    func peer(_ cn: String) throws -> Certificate {
        let key = try PrivateKeyBundle.generate(.ecdsa(bits: 256))
        return try CertificateIssuer.issue(publicKey: key.publicKey, profile: CertificateProfile(subject: try DNString.parse("CN=\(cn)"), now: Date() - 3600),
                                           caCertificate: ca, caKey: caKey)
    }
}

/// A throw-away swanctl directory (swanctl.conf plus x509/, x509ca/, private/ …), removed on deinit.
final class SwanctlDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("tern-creds-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ relative: String, _ bytes: [UInt8], mode: Int = 0o600) throws -> String {
        let full = path + "/" + relative
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: full))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: full)
        return full
    }

    @discardableResult
    func write(_ relative: String, _ text: String, mode: Int = 0o600) throws -> String { try write(relative, Array(text.utf8), mode: mode) }

    /// The seed's layout: CA in x509ca, gateway certificate in x509, both keys in private.
    func install(_ pki: GatewayPKI, gatewayKey: Bool = true) throws {
        try write("x509ca/ca-cert.pem", pki.ca.pemEncoded, mode: 0o644)
        try write("x509/gw-a-cert.pem", pki.gateway.pemEncoded, mode: 0o644)
        try write("private/ca-key.pem", pki.caKey.pemEncoded)
        if gatewayKey { try write("private/gw-a-key.pem", pki.gatewayKey.pemEncoded) }
    }

    /// ternd's loading path for `--conf <dir>/swanctl.conf`.
    func load(_ conf: String) throws -> EngineConfiguration {
        try write("swanctl.conf", conf)
        return try daemon().loadIKEConfiguration()
    }

    func daemon() -> Daemon {
        var options = DaemonOptions()
        options.swanctlFile = path + "/swanctl.conf"
        return Daemon(options: options, logger: Logger(label: "test"))
    }
}

/// The seed's section 9 connection (site-to-site-certs.conf, gateway A).
let seedSiteB = """
    connections {
    site-b {
    version = 2
    local_addrs = 203.0.113.1
    remote_addrs = 198.51.100.1
    local {
    auth = pubkey
    certs = gw-a-cert.pem
    id = gateway-a.example.com
    }
    remote {
    auth = pubkey
    id = gateway-b.example.com
    }
    children {
    lan-to-lan {
    local_ts = 10.1.0.0/24
    remote_ts = 10.2.0.0/24
    esp_proposals = aes256gcm128-modp2048
    start_action = start
    dpd_action = restart
    }
    }
    proposals = aes256-sha256-x25519
    }
    }

    """

/// Thrown-error text, for checking what the operator reads.
func errorText(_ body: () throws -> Void) -> String {
    do { try body(); return "" } catch { return "\(error)" }
}

@Suite struct CredentialLoadingTests {
    @Test func seedCertificateConnectionLoads() throws {
        let dir = try SwanctlDirectory(), pki = try GatewayPKI()
        try dir.install(pki)
        let e = try dir.load(seedSiteB)
        let p = try #require(e.connections.first { $0.name == "site-b" })
        #expect(p.localAuth == .pubkey && p.remoteAuth == .pubkey)
        #expect(p.localIdentity == .fqdn("gateway-a.example.com") && p.remoteIdentity == .fqdn("gateway-b.example.com"))
        #expect(p.certificates.localCertificates == [pki.gateway])
        #expect(p.certificates.remoteCACertificates.isEmpty && p.certificates.remoteCertificates.isEmpty)
        #expect(p.certificates.revocation == .relaxed && p.certificates.sendCertificate == .ifAsked && p.certificates.sendCertificateRequest)
        #expect(e.credentials.authorities == [pki.ca])
        #expect(e.credentials.certificates == [pki.gateway])
        #expect(Set(e.credentials.privateKeys.map(\.publicKey.subjectKeyID)) == [pki.caKey.publicKey.subjectKeyID, pki.gatewayKey.publicKey.subjectKeyID])
        #expect(e.credentials.crls.isEmpty)
    }

    @Test func privateKeyReadableByOthersIsRefusedNamingTheFile() throws {
        let dir = try SwanctlDirectory(), pki = try GatewayPKI()
        try dir.install(pki)
        let key = try dir.write("private/gw-a-key.pem", pki.gatewayKey.pemEncoded, mode: 0o644)
        let text = errorText { _ = try dir.load(seedSiteB) }
        #expect(text.contains("\(key) holds a private key but group or others may access it (mode 0644)"), "\(text)")
        #expect(text.contains("chmod 600 \(key)"))
    }

    @Test func certificateWithoutItsPrivateKeyIsRefusedAtTheLocalSection() throws {
        let dir = try SwanctlDirectory(), pki = try GatewayPKI()
        try dir.install(pki, gatewayKey: false)
        let text = errorText { _ = try dir.load(seedSiteB) }
        // `local {` is on line 6 of the seed's connection.
        #expect(text.contains("swanctl.conf:6:"), "\(text)")
        #expect(text.contains("no private key for certificate C=CA, O=kldload, CN=gateway-a.example.com in private/, rsa/, ecdsa/ or pkcs8/"), "\(text)")
        // The key in ecdsa/ (DER) counts as well as private/.
        try dir.write("ecdsa/gw.der", pki.gatewayKey.derEncoded)
        #expect(try dir.load(seedSiteB).connections.count == 1)
        // rsa/ holds only RSA keys.
        try dir.write("rsa/gw.der", pki.gatewayKey.derEncoded)
        #expect(errorText { _ = try dir.load(seedSiteB) }.contains("not an RSA key as rsa/ holds"))
    }

    /// `openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -iter 1000 -passout pass:tern-test` of a P-256
    /// key (the TernPKI test vector).
    static let encryptedKey = """
        -----BEGIN ENCRYPTED PRIVATE KEY-----
        MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhfYekAphL3sQICA+gw
        DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEC8i5rFlvTlO6fKZ2LbwayQEgZCx
        j17LsIs+wWBKAsomeXpwHTPVMydSHX/7DbNSqXnEJeIJzEIZIYNwHq4XbjHeK6Bc
        sMQ5HSBQcc0niU2rP6Pv8U5B2o+n2UTKWbIyB6Fh1246Dglddbn0etbkwinaIU78
        zJfPBqjMyg1WMwrqRqhocWKnDOYgM/XWqAMtA5a1zp6PHHbcxVi9aOwNMjfFtJI=
        -----END ENCRYPTED PRIVATE KEY-----

        """

    @Test func encryptedPKCS8KeysDecryptWithTheSecretNamingTheirFile() throws {
        let key = try PrivateKeyBundle.load(Array(Self.encryptedKey.utf8), passphrase: "tern-test")
        let dir = try SwanctlDirectory(), pki = try GatewayPKI(gatewayKey: key)
        try dir.install(pki, gatewayKey: false)
        try dir.write("pkcs8/GW-A.pem", Self.encryptedKey)
        let secrets = { (secret: String) in "secrets {\n  pkcs8-gw {\n    file = gw-a.pem\n    secret = \(secret)\n  }\n}\n" }
        let e = try dir.load(seedSiteB + secrets("tern-test"))
        #expect(e.credentials.privateKeys.contains { $0.publicKey == key.publicKey })

        let wrong = errorText { _ = try dir.load(seedSiteB + secrets("wrong")) }
        #expect(wrong.contains("secrets.pkcs8-gw: cannot decrypt") && wrong.contains("GW-A.pem") && wrong.contains("wrong passphrase"), "\(wrong)")
        // A private- secret does not name pkcs8/ files (load_creds.c matches the folder's prefix).
        let other = errorText { _ = try dir.load(seedSiteB + "secrets {\n  private-gw {\n    file = gw-a.pem\n    secret = tern-test\n  }\n}\n") }
        #expect(other.contains("GW-A.pem is encrypted and no secret gives its passphrase"), "\(other)")
        #expect(!other.contains("tern-test"))
    }

    @Test func certificatesResolveRelativeAbsoluteAndInline() throws {
        let dir = try SwanctlDirectory(), pki = try GatewayPKI()
        try dir.install(pki)
        let peer = try pki.peer("gateway-b.example.com"), other = try pki.peer("other")
        let elsewhere = try SwanctlDirectory()
        let absolute = try elsewhere.write("peer.der", peer.derEncoded, mode: 0o644)
        try dir.write("x509/other.pem", other.pemEncoded, mode: 0o644)
        let conf = seedSiteB.replacingOccurrences(of: "id = gateway-b.example.com", with: """
            id = gateway-b.example.com
            certs = \(absolute), 0s\(Data(other.derEncoded).base64EncodedString())
            cacerts = ca-cert.pem
            revocation = strict
            """).replacingOccurrences(of: "proposals = aes256-sha256", with: "send_cert = always\nsend_certreq = no\nproposals = aes256-sha256")
        let e = try dir.load(conf)
        let p = try #require(e.connections.first)
        #expect(p.certificates.remoteCertificates == [peer, other])
        #expect(p.certificates.remoteCACertificates == [pki.ca])
        #expect(p.certificates.revocation == .strict && p.certificates.sendCertificate == .always && !p.certificates.sendCertificateRequest)
        // Named certificates join the credential set once.
        #expect(e.credentials.certificates.filter { $0 == other }.count == 1 && e.credentials.certificates.contains(peer))

        let missing = errorText { _ = try dir.load(seedSiteB.replacingOccurrences(of: "gw-a-cert.pem", with: "nope.pem")) }
        #expect(missing.contains("swanctl.conf:6:") && missing.contains("\(dir.path)/x509/nope.pem"), "\(missing)")
        // A CA certificate named in cacerts must be a CA.
        let notCA = errorText { _ = try dir.load(conf.replacingOccurrences(of: "cacerts = ca-cert.pem", with: "cacerts = \(absolute)")) }
        #expect(notCA.contains("lacks the CA basic constraint"), "\(notCA)")
    }

    @Test func filesThatDoNotParseAreErrorsNamingThem() throws {
        let dir = try SwanctlDirectory(), pki = try GatewayPKI()
        try dir.install(pki)
        let junk = try dir.write("x509/junk.pem", "not a certificate\n", mode: 0o644)
        #expect(errorText { _ = try dir.load(seedSiteB) }.contains("\(junk) is not a usable X.509 certificate"))
        try FileManager.default.removeItem(atPath: junk)
        let badKey = try dir.write("private/bad.key", "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
        #expect(errorText { _ = try dir.load(seedSiteB) }.contains("\(badKey) is not a usable private key"))
        try FileManager.default.removeItem(atPath: badKey)
        let leaf = try dir.write("x509ca/leaf.pem", pki.gateway.pemEncoded, mode: 0o644)
        let text = errorText { _ = try dir.load(seedSiteB) }
        #expect(text.contains(leaf) && text.contains("lacks the CA basic constraint"), "\(text)")
    }

    @Test func authoritiesSectionAndFileCRLs() throws {
        let dir = try SwanctlDirectory(), pki = try GatewayPKI()
        try dir.install(pki)
        let second = try GatewayPKI()
        try dir.write("x509ca/second.der", second.ca.derEncoded, mode: 0o644)
        let crl = try CRL.sign(caCertificate: pki.ca, caKey: pki.caKey, thisUpdate: Date() - 60, nextUpdate: Date() + 86400,
                               revoked: [RevokedCertificate(serial: [7], date: Date() - 60)])
        let crlPath = try dir.write("crls/ca.crl", crl.der, mode: 0o644)
        try dir.write("x509crl/second.pem", try CRL.sign(caCertificate: second.ca, caKey: second.caKey, thisUpdate: Date() - 60,
                                                          nextUpdate: Date() + 86400, revoked: []).pemEncoded, mode: 0o644)
        // The x509ca copy of ca-cert.pem goes, so the authority is what brings it in.
        try FileManager.default.moveItem(atPath: dir.path + "/x509ca/ca-cert.pem", toPath: dir.path + "/ca-elsewhere.pem")
        let conf = seedSiteB + """
            authorities {
              kldload {
                cacert = \(dir.path)/ca-elsewhere.pem
                crl_uris = file://\(crlPath), http://crl.example.org/ca.crl
              }
              second {
                cacert = second.der
              }
            }

            """
        try dir.write("swanctl.conf", conf)
        var loader = SwanctlCredentialLoader(directory: dir.path)
        let set = try loader.load(try SwanctlLoader.load(path: dir.path + "/swanctl.conf"))
        #expect(set.authorities.count == 2 && set.authorities.contains(pki.ca) && set.authorities.contains(second.ca))
        // x509crl/ is loaded now; the authority's file:// URI is fetched whenever a chain is checked.
        #expect(set.crls.count == 1 && !set.crls.contains { $0.der == crl.der })
        #expect(set.crlURIs == ["file://\(crlPath)"])
        #expect(loader.warnings.count == 1 && loader.warnings[0].message.contains("http://crl.example.org/ca.crl is not fetched"))
        let fetcher = loader.crlFetcher
        let fetched = try #require(fetcher.fetch("file://\(crlPath)"))
        #expect(fetched.map(\.der) == [crl.der])
        #expect(fetcher.fetch("http://crl.example.org/ca.crl") == nil)
        #expect(fetcher.fetch("file://\(dir.path)/missing.crl") == nil)
        // A replaced CRL is read again.
        let newer = try CRL.sign(caCertificate: pki.ca, caKey: pki.caKey, thisUpdate: Date() - 30, nextUpdate: Date() + 86400,
                                 revoked: [], crlNumber: [2])
        try dir.write("crls/ca.crl", newer.pemEncoded, mode: 0o644)
        #expect(fetcher.fetch("file://\(crlPath)")?.map(\.der) == [newer.der])

        let bad = errorText { _ = try dir.load(seedSiteB + "authorities {\n  x {\n    crl_uris = file:///nonexistent/ca.crl\n  }\n}\n") }
        #expect(bad.contains("authority 'x' has no cacert"), "\(bad)")
    }

    @Test func authMethodsAndTheirConstraints() throws {
        let dir = try SwanctlDirectory(), pki = try GatewayPKI()
        try dir.install(pki)
        let constrained = seedSiteB.replacingOccurrences(of: "auth = pubkey\nid = gateway-b", with: "auth = ecdsa-256-sha256\nid = gateway-b")
        try dir.write("swanctl.conf", constrained)
        let parsed = try SwanctlLoader.load(path: dir.path + "/swanctl.conf")
        let connection = try #require(parsed.connections.first)
        #expect(SwanctlAdmission.authWarnings(connection, source: parsed.source(of: connection)).map(\.message) == [
            "connection 'site-b' remote: auth = ecdsa-256-sha256 is read as pubkey; its key type, strength and signature-scheme constraints are not enforced",
        ])
        #expect(try dir.load(constrained).connections.first?.remoteAuth == .pubkey)
        // Mixed: we sign, the peer uses a PSK.
        let mixed = seedSiteB.replacingOccurrences(of: "auth = pubkey\nid = gateway-b", with: "auth = psk\nid = gateway-b")
        let p = try #require(try dir.load(mixed).connections.first)
        #expect(p.localAuth == .pubkey && p.remoteAuth == .psk)
        let eap = errorText { _ = try dir.load(seedSiteB.replacingOccurrences(of: "auth = pubkey\nid = gateway-b", with: "auth = eap-mschapv2\nid = gateway-b")) }
        #expect(eap.contains("auth = eap-mschapv2 is not supported yet"), "\(eap)")
        // A restriction ternd does not enforce is refused, not ignored.
        let groups = errorText { _ = try dir.load(seedSiteB.replacingOccurrences(of: "auth = pubkey\nid = gateway-b", with: "auth = pubkey\nid = gateway-b\ngroups = admins")) }
        #expect(groups.contains("groups = admins") && groups.contains("is not enforced by ternd (peers would not be restricted)"), "\(groups)")
        // pubkey without certs or id: the engine picks the certificate and uses its subject.
        let bare = seedSiteB.replacingOccurrences(of: "certs = gw-a-cert.pem\nid = gateway-a.example.com\n", with: "")
        let q = try #require(try dir.load(bare).connections.first)
        #expect(q.localIdentity == nil && q.certificates.localCertificates.isEmpty && q.localAuth == .pubkey)
    }
}

@Suite struct VICICredentialTests {
    @Test func loadedCredentialsReachTheMergedEngineConfiguration() throws {
        let dir = try SwanctlDirectory(), pki = try GatewayPKI()
        let daemon = dir.daemon()
        var cert = VICIMessage()
        cert.set("type", "X509"); cert.set("flag", "NONE"); cert["data"] = .value(Array(pki.gateway.pemEncoded.utf8))
        #expect(daemon.loadCertificate(cert).string("success") == "yes")
        var ca = VICIMessage()
        ca.set("type", "X509"); ca.set("flag", "CA"); ca["data"] = .value(pki.ca.derEncoded)
        #expect(daemon.loadCertificate(ca).string("success") == "yes")
        var notCA = ca
        notCA["data"] = .value(pki.gateway.derEncoded)
        #expect(daemon.loadCertificate(notCA).string("errmsg") == "ca certificate lacks CA basic constraint, rejected")
        var key = VICIMessage()
        key.set("type", "any"); key["data"] = .value(pki.gatewayKey.derEncoded)
        let reply = daemon.loadKey(key)
        let id = try #require(reply.string("id"))
        key.set("type", "rsa")
        #expect(daemon.loadKey(key).string("success") == "no")
        var crl = VICIMessage()
        crl.set("type", "X509_CRL")
        crl["data"] = .value(try CRL.sign(caCertificate: pki.ca, caKey: pki.caKey, thisUpdate: Date() - 60, nextUpdate: Date() + 86400, revoked: []).der)
        #expect(daemon.loadCertificate(crl).string("success") == "yes")

        var merged = daemon.viciConfig.merged.credentials
        #expect(merged.certificates == [pki.gateway] && merged.authorities == [pki.ca] && merged.crls.count == 1)
        #expect(merged.privateKeys.map(\.publicKey) == [pki.gatewayKey.publicKey])
        let listed = daemon.listCertificates(VICIMessage())
        #expect(listed.count == 3 && listed[0].string("has_privkey") == "yes" && listed[1].string("has_privkey") == nil)

        // The file's credentials and VICI's are merged: a file reload keeps VICI's.
        try dir.install(pki)
        try dir.write("swanctl.conf", seedSiteB)
        merged = try daemon.loadIKEConfiguration().credentials
        #expect(merged.authorities == [pki.ca] && merged.certificates == [pki.gateway] && merged.privateKeys.count == 2)

        #expect(daemon.credentials.removeKey(id))
        daemon.publishVICICredentials()
        #expect(daemon.viciConfig.merged.privateKeys(of: pki.gatewayKey) == 1)   // the file's copy stays
        daemon.credentials.flushCertificates(type: "X509")
        daemon.publishVICICredentials()
        #expect(daemon.viciConfig.merged.credentials.crls.count == 1)
    }

    @Test func authoritiesOverVICI() throws {
        let dir = try SwanctlDirectory(), pki = try GatewayPKI()
        let crl = try CRL.sign(caCertificate: pki.ca, caKey: pki.caKey, thisUpdate: Date() - 60, nextUpdate: Date() + 86400, revoked: [])
        let crlPath = try dir.write("ca.crl", crl.der, mode: 0o644)
        let daemon = dir.daemon()
        let body: VICIMessage = ["cacert": .value(Array(pki.ca.pemEncoded.utf8)), "crl_uris": .strings(["file://\(crlPath)", "ldap://x"])]
        var m = VICIMessage()
        m.set("kldload", section: body)
        #expect(daemon.loadAuthority(m).string("success") == "yes")
        let merged = daemon.viciConfig.merged.credentials
        #expect(merged.authorities == [pki.ca] && merged.crlURIs == ["file://\(crlPath)"])
        #expect(daemon.crlFetcher.fetch("file://\(crlPath)")?.map(\.der) == [crl.der])
        #expect(daemon.credentials.removeAuthority("kldload"))
        daemon.publishVICICredentials()
        #expect(daemon.viciConfig.merged.credentials.authorities.isEmpty)
    }

    /// swanctl's load_conns.c sends `certs` as the file's bytes (PEM or DER), not its name.
    @Test func loadConnWithCertificateBlobs() throws {
        let dir = try SwanctlDirectory(), pki = try GatewayPKI()
        let daemon = dir.daemon()
        var body = loadConnBody
        body["local"] = .section(["auth": "pubkey", "certs": .list([pki.gateway.derEncoded]), "id": "gateway-a.example.com"])
        body["remote"] = .section(["auth": "pubkey", "cacerts": .list([Array(pki.ca.pemEncoded.utf8)]), "revocation": "ifuri"])
        let loaded = try daemon.viciConnection(name: "to-b", body: body)
        #expect(loaded.policy.localAuth == .pubkey && loaded.policy.certificates.localCertificates == [pki.gateway])
        #expect(loaded.policy.certificates.remoteCACertificates == [pki.ca] && loaded.policy.certificates.revocation == .ifuri)
        daemon.viciConfig.withLock { daemon.viciConfig.putConnection(loaded) }
        let merged = daemon.viciConfig.merged.credentials
        #expect(merged.certificates == [pki.gateway] && merged.authorities == [pki.ca])

        body["local"] = .section(["auth": "pubkey", "certs": .list([[0x30, 0x03, 1, 2, 3]])])
        let text = errorText { _ = try daemon.viciConnection(name: "bad", body: body) }
        #expect(text.contains("certificate 1 sent (5 bytes)") && text.contains("vici:load-conn:bad"), "\(text)")
    }
}

extension EngineConfiguration {
    /// How many private keys of the merged set are `key`.
    func privateKeys(of key: PrivateKeyBundle) -> Int { credentials.privateKeys.filter { $0.publicKey == key.publicKey }.count }
}
