import Foundation
import TernConfig
import TernIKE
import TernPKI
import TernVICI
import X509

/// Certificates, CRLs, private keys and authorities loaded over VICI, as charon's vici_cred.c
/// and vici_authority.c keep them. `credentialSet` is what reaches the engine, merged with the
/// file's credentials: flag CA certificates and authorities' cacerts are trusted CAs, flag NONE
/// certificates are end-entity or intermediate certificates; AA and OCSP certificates are
/// stored and listed only.
final class VICICredentialStore: @unchecked Sendable {
    struct StoredCertificate {
        /// `X509` or `X509_CRL`.
        var type: String
        var flag: String
        var der: [UInt8]
        var certificate: Certificate?
        var crl: CRL?
    }

    struct StoredKey {
        var id: String
        var type: String
        var key: PrivateKeyBundle
    }

    struct StoredAuthority {
        var name: String
        var body: VICIMessage
        var caDER: [UInt8]
        var ca: Certificate
        /// Its `file://` crl_uris, fetched when a chain is checked.
        var crlURIs: [String]
    }

    private let lock = NSLock()
    private var certificates: [StoredCertificate] = []
    private var keys: [StoredKey] = []
    private var authorities: [StoredAuthority] = []

    func add(certificate c: StoredCertificate) {
        lock.withLock { if !certificates.contains(where: { $0.der == c.der }) { certificates.append(c) } }
    }

    func add(key k: StoredKey) {
        lock.withLock { if !keys.contains(where: { $0.id == k.id }) { keys.append(k) } }
    }

    func removeKey(_ id: String) -> Bool {
        lock.withLock {
            let n = keys.count
            keys.removeAll { $0.id == id }
            return keys.count != n
        }
    }

    func putAuthority(_ a: StoredAuthority) {
        lock.withLock {
            if let i = authorities.firstIndex(where: { $0.name == a.name }) { authorities[i] = a } else { authorities.append(a) }
        }
    }

    func removeAuthority(_ name: String) -> Bool {
        lock.withLock {
            let n = authorities.count
            authorities.removeAll { $0.name == name }
            return authorities.count != n
        }
    }

    /// Certificates and CRLs for list-certs: loaded ones, then the authorities' CA certificates.
    var allCertificates: [StoredCertificate] {
        lock.withLock { certificates + authorities.map { StoredCertificate(type: "X509", flag: "CA", der: $0.caDER, certificate: $0.ca) } }
    }
    var keyIDs: [String] { lock.withLock { keys.map(\.id) } }
    var allAuthorities: [StoredAuthority] { lock.withLock { authorities } }

    func flushCertificates(type: String?) {
        let t = type?.uppercased()
        lock.withLock { if t == nil || t == "ANY" { certificates.removeAll() } else { certificates.removeAll { $0.type == t } } }
    }

    func clear() {
        lock.withLock { certificates = []; keys = []; authorities = [] }
    }

    /// The engine's view of what VICI loaded.
    var credentialSet: CredentialSet {
        lock.withLock {
            var set = CredentialSet()
            for c in certificates {
                if let crl = c.crl { set.crls.append(crl); continue }
                guard let certificate = c.certificate else { continue }
                switch c.flag {
                case "CA": set.insert(authorities: [certificate])
                case "NONE": set.insert(certificates: [certificate])
                default: break   // AA, OCSP: not used for IKE authentication
                }
            }
            for a in authorities {
                set.insert(authorities: [a.ca])
                set.crlURIs += a.crlURIs.filter { !set.crlURIs.contains($0) }
            }
            set.privateKeys = keys.map(\.key)
            return set
        }
    }
}

extension Daemon {
    func registerCredentialCommands(_ server: VICIServer) {
        server.register(event: "list-cert")
        server.register(event: "list-authority")

        server.register(command: "load-cert") { [weak self] req, _ in self?.loadCertificate(req) ?? Self.failure("daemon stopping") }
        server.register(command: "load-key") { [weak self] req, _ in self?.loadKey(req) ?? Self.failure("daemon stopping") }
        server.register(command: "load-authority") { [weak self] req, _ in self?.loadAuthority(req) ?? Self.failure("daemon stopping") }

        server.register(command: "unload-key") { [weak self] req, _ in
            guard let self else { return Self.failure("daemon stopping") }
            guard let id = req.string("id") else { return Self.failure("key id missing") }
            guard self.credentials.removeKey(id.lowercased().replacingOccurrences(of: ":", with: "")) else {
                return Self.failure("key '\(id)' not found")
            }
            self.publishVICICredentials()
            return Self.success()
        }

        server.register(command: "get-keys") { [weak self] _, _ in
            var m = VICIMessage()
            m.set("keys", list: self?.credentials.keyIDs ?? [])
            return m
        }

        server.register(command: "unload-authority") { [weak self] req, _ in
            guard let self else { return Self.failure("daemon stopping") }
            guard let name = req.string("name") else { return Self.failure("missing authority name to unload") }
            guard self.credentials.removeAuthority(name) else { return Self.failure("authority '\(name)' not found") }
            self.publishVICICredentials()
            return Self.success()
        }

        server.register(command: "get-authorities") { [weak self] _, _ in
            var m = VICIMessage()
            m.set("authorities", list: self?.credentials.allAuthorities.map(\.name) ?? [])
            return m
        }

        server.register(command: "list-authorities") { [weak self] req, stream in
            let filter = req.string("name")
            for a in self?.credentials.allAuthorities ?? [] where filter == nil || a.name == filter {
                var s = VICIMessage()
                s.set("cacert", a.ca.subject.strongSwanDescription)
                s.set("crl_uris", list: a.body.list("crl_uris") ?? [])
                s.set("ocsp_uris", list: a.body.list("ocsp_uris") ?? [])
                if let base = a.body.string("cert_uri_base") { s.set("cert_uri_base", base) }
                var m = VICIMessage()
                m.set(a.name, section: s)
                stream.send(event: "list-authority", m)
            }
            return VICIMessage()
        }

        server.register(command: "list-certs") { [weak self] req, stream in
            for m in self?.listCertificates(req) ?? [] { stream.send(event: "list-cert", m) }
            return VICIMessage()
        }

        server.register(command: "flush-certs") { [weak self] req, _ in
            guard let self else { return Self.failure("daemon stopping") }
            self.credentials.flushCertificates(type: req.string("type"))
            self.publishVICICredentials()
            return Self.success()
        }

        server.register(command: "clear-creds") { [weak self] _, _ in
            guard let self else { return Self.failure("daemon stopping") }
            self.credentials.clear()
            self.viciConfig.withLock {
                self.viciConfig.clearShared()
                self.viciConfig.setVICICredentials(self.credentials.credentialSet)
                self.ike?.update(configuration: self.viciConfig.mergedUnlocked)
            }
            return Self.success()
        }
    }

    /// Hands what VICI loaded to the engine, merged with the file's credentials.
    func publishVICICredentials() {
        viciConfig.withLock {
            viciConfig.setVICICredentials(credentials.credentialSet)
            ike?.update(configuration: viciConfig.mergedUnlocked)
        }
    }

    /// `load-cert`: type X509 (flag NONE, CA, AA, OCSP) or X509_CRL, data PEM or DER.
    func loadCertificate(_ req: VICIMessage) -> VICIMessage {
        let type = (req.string("type") ?? "X509").uppercased()
        let flag = (req.string("flag") ?? "NONE").uppercased()
        guard type == "X509" || type == "X509_CRL" else {
            return Self.failure("certificate type \(type) is not supported by ternd (only X509 and X509_CRL)")
        }
        guard ["NONE", "CA", "AA", "OCSP"].contains(flag) else { return Self.failure("invalid certificate flag '\(flag)'") }
        guard let data = req.bytes("data"), !data.isEmpty else { return Self.failure("certificate data missing") }
        if type == "X509_CRL" {
            do {
                guard let crl = try CRL.load(data).first else { return Self.failure("parsing X509_CRL certificate failed: no CRL found") }
                credentials.add(certificate: .init(type: type, flag: "NONE", der: crl.der, crl: crl))   // flag: not listed for CRLs
            } catch {
                return Self.failure("parsing X509_CRL certificate failed: \(error)")
            }
            publishVICICredentials()
            return Self.success()
        }
        do {
            let der = try Self.certificateDER(data)
            let certificate = try CertificateFile.loadOne(der)
            if flag == "CA" && !certificate.isCA { return Self.failure("ca certificate lacks CA basic constraint, rejected") }
            credentials.add(certificate: .init(type: type, flag: flag, der: der, certificate: certificate))
        } catch {
            return Self.failure("parsing \(type) certificate failed: \(error)")
        }
        publishVICICredentials()
        return Self.success()
    }

    /// `load-key`: type any, rsa, ecdsa or ed25519; data an unencrypted key (swanctl decrypts
    /// encrypted ones itself and sends the DER).
    func loadKey(_ req: VICIMessage) -> VICIMessage {
        let type = req.string("type") ?? "any"
        guard let data = req.bytes("data"), !data.isEmpty else { return Self.failure("key data missing") }
        let key: PrivateKeyBundle
        do { key = try PrivateKeyBundle.load(data) } catch {
            return Self.failure("loading private key of type '\(type)' failed: \(error)")
        }
        let fits: Bool = switch (type.lowercased(), key.keyType) {
        case ("any", _), ("rsa", .rsa), ("ecdsa", .ecdsa), ("ed25519", .ed25519): true
        default: false
        }
        guard fits else { return Self.failure("loading private key of type '\(type)' failed: the key is \(key.keyType)") }
        let id = key.publicKey.subjectKeyID.map { String(format: "%02x", $0) }.joined()
        credentials.add(key: .init(id: id, type: type, key: key))
        publishVICICredentials()
        return Self.success(["id": .string(id)])
    }

    /// `load-authority`: each section is an authority named after it, with `cacert` (PEM or
    /// DER) and `crl_uris` (file:// ones are read now); all are checked before any is stored.
    func loadAuthority(_ req: VICIMessage) -> VICIMessage {
        var loaded: [VICICredentialStore.StoredAuthority] = []
        for e in req.entries {
            guard case .section(let body) = e.element else { continue }
            guard let data = body.bytes("cacert") else {
                // `file`/`handle` name the CA certificate on disk or a token: not read by ternd.
                return Self.failure("authority '\(e.key)': missing cacert (file and handle are not supported)")
            }
            let der: [UInt8], ca: Certificate
            do {
                der = try Self.certificateDER(data)
                ca = try CertificateFile.loadOne(der)
            } catch {
                return Self.failure("authority '\(e.key)': cacert: \(error)")
            }
            guard ca.isCA else { return Self.failure("authority '\(e.key)': cacert lacks CA basic constraint, rejected") }
            var uris: [String] = []
            for uri in body.list("crl_uris") ?? [] {
                if FileCRLFetcher.path(of: uri) == nil {
                    cfgLog.warning("vici: authority '\(e.key)': CRL URI \(uri) is not fetched (ternd reads only file:// URIs)")
                    continue
                }
                uris.append(uri)
            }
            loaded.append(.init(name: e.key, body: body, caDER: der, ca: ca, crlURIs: uris))
        }
        for a in loaded { credentials.putAuthority(a) }
        publishVICICredentials()
        return Self.success()
    }

    /// `list-cert` events for `list-certs` (filters: type, flag, subject).
    func listCertificates(_ req: VICIMessage) -> [VICIMessage] {
        let type = req.string("type")?.uppercased(), flag = req.string("flag")?.uppercased()
        let subject = req.string("subject")
        let keys = Set(credentials.keyIDs)
        var out: [VICIMessage] = []
        for c in credentials.allCertificates {
            if let type, type != "ANY", type != c.type { continue }
            if let flag, flag != "ANY", flag != c.flag { continue }
            if let subject, c.certificate?.subject.strongSwanDescription != subject { continue }
            let keyID = c.certificate.flatMap { try? PublicKeyBundle(certificate: $0) }?.subjectKeyID
                .map { String(format: "%02x", $0) }.joined()
            var m = VICIMessage()
            m.set("type", c.type)
            if c.crl == nil { m.set("flag", c.flag) }
            if let keyID, keys.contains(keyID) { m.set("has_privkey", "yes") }
            m["data"] = .value(c.der)
            out.append(m)
        }
        return out
    }

    /// The DER of the first certificate in PEM or DER bytes, checked to be X.509.
    static func certificateDER(_ bytes: [UInt8]) throws -> [UInt8] {
        let objects = try PEM.derObjects(in: bytes, labels: ["CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"])
        guard let der = objects.first?.der else { throw DaemonError("no certificate found") }
        _ = try CertificateFile.loadOne(der)
        return der
    }
}
