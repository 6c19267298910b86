import Foundation
import TernPKI
import TernVICI

/// Certificates, private keys and authorities loaded over VICI. Certificate authentication is
/// not wired into the engine yet: these are validated, stored, listed and unloaded as charon
/// does, so swanctl --load-creds/--list-certs work and nothing changes when the engine learns.
final class VICICredentialStore: @unchecked Sendable {
    struct StoredCertificate {
        var type: String
        var flag: String
        var der: [UInt8]
    }

    struct StoredKey {
        var id: String
        var type: String
    }

    private let lock = NSLock()
    private var certificates: [StoredCertificate] = []
    private var keys: [StoredKey] = []
    private var authorities: [(name: String, body: VICIMessage, caDER: [UInt8]?)] = []

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

    func putAuthority(_ name: String, _ body: VICIMessage, caDER: [UInt8]?) {
        lock.withLock {
            if let i = authorities.firstIndex(where: { $0.name == name }) { authorities[i] = (name, body, caDER) } else { authorities.append((name, body, caDER)) }
        }
    }

    func removeAuthority(_ name: String) -> Bool {
        lock.withLock {
            let n = authorities.count
            authorities.removeAll { $0.name == name }
            return authorities.count != n
        }
    }

    var allCertificates: [StoredCertificate] {
        lock.withLock { certificates + authorities.compactMap { a in a.caDER.map { StoredCertificate(type: "X509", flag: "CA", der: $0) } } }
    }
    var keyIDs: [String] { lock.withLock { keys.map(\.id) } }
    var allAuthorities: [(name: String, body: VICIMessage, caDER: [UInt8]?)] { lock.withLock { authorities } }

    func flushCertificates(type: String?) {
        lock.withLock { if type == nil || type?.uppercased() == "X509" { certificates.removeAll() } }
    }

    func clear() {
        lock.withLock { certificates = []; keys = []; authorities = [] }
    }
}

extension Daemon {
    func registerCredentialCommands(_ server: VICIServer) {
        server.register(event: "list-cert")
        server.register(event: "list-authority")

        server.register(command: "load-cert") { [weak self] req, _ in
            guard let self else { return Self.failure("daemon stopping") }
            let type = (req.string("type") ?? "X509").uppercased()
            let flag = (req.string("flag") ?? "NONE").uppercased()
            guard type == "X509" else { return Self.failure("certificate type \(type) is not supported by ternd (only X509)") }
            guard ["NONE", "CA", "AA", "OCSP"].contains(flag) else { return Self.failure("invalid certificate flag '\(flag)'") }
            guard let data = req.bytes("data") else { return Self.failure("certificate data missing") }
            do {
                let der = try Self.certificateDER(data)
                self.credentials.add(certificate: .init(type: type, flag: flag, der: der))
                return Self.success()
            } catch {
                return Self.failure("parsing \(type) certificate failed: \(error)")
            }
        }

        server.register(command: "load-key") { [weak self] req, _ in
            guard let self else { return Self.failure("daemon stopping") }
            let type = req.string("type") ?? "any"
            guard let data = req.bytes("data") else { return Self.failure("key data missing") }
            do {
                let key = try PrivateKeyBundle.load(data)
                let id = key.publicKey.subjectKeyID.map { String(format: "%02x", $0) }.joined()
                self.credentials.add(key: .init(id: id, type: type))
                return Self.success(["id": .string(id)])
            } catch {
                return Self.failure("loading private key of type '\(type)' failed: \(error)")
            }
        }

        server.register(command: "unload-key") { [weak self] req, _ in
            guard let id = req.string("id") else { return Self.failure("key id missing") }
            return self?.credentials.removeKey(id.lowercased().replacingOccurrences(of: ":", with: "")) == true
                ? Self.success() : Self.failure("key '\(id)' not found")
        }

        server.register(command: "get-keys") { [weak self] _, _ in
            var m = VICIMessage()
            m.set("keys", list: self?.credentials.keyIDs ?? [])
            return m
        }

        server.register(command: "load-authority") { [weak self] req, _ in
            guard let self else { return Self.failure("daemon stopping") }
            // Each section is an authority named after it; all are checked before any is stored.
            var loaded: [(String, VICIMessage, [UInt8]?)] = []
            for e in req.entries {
                guard case .section(let body) = e.element else { continue }
                var caDER: [UInt8]?
                if let data = body.bytes("cacert") {
                    do { caDER = try Self.certificateDER(data) } catch { return Self.failure("authority '\(e.key)': cacert: \(error)") }
                } else {
                    // `file`/`handle` name the CA certificate on disk or a token: not read by ternd.
                    return Self.failure("authority '\(e.key)': missing cacert (file and handle are not supported)")
                }
                loaded.append((e.key, body, caDER))
            }
            for (name, body, der) in loaded { self.credentials.putAuthority(name, body, caDER: der) }
            return Self.success()
        }

        server.register(command: "unload-authority") { [weak self] req, _ in
            guard let name = req.string("name") else { return Self.failure("missing authority name to unload") }
            return self?.credentials.removeAuthority(name) == true ? Self.success() : Self.failure("authority '\(name)' not found")
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
                if let der = a.caDER, let cert = try? CertificateFile.loadOne(der) { s.set("cacert", cert.subject.strongSwanDescription) }
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
            let type = req.string("type")?.uppercased(), flag = req.string("flag")?.uppercased()
            let subject = req.string("subject")
            let keys = Set(self?.credentials.keyIDs ?? [])
            for c in self?.credentials.allCertificates ?? [] {
                if let type, type != "ANY", type != c.type { continue }
                if let flag, flag != "ANY", flag != c.flag { continue }
                let parsed = try? CertificateFile.loadOne(c.der)
                if let subject, parsed?.subject.strongSwanDescription != subject { continue }
                let keyID = parsed.flatMap { try? PublicKeyBundle(certificate: $0) }?.subjectKeyID
                    .map { String(format: "%02x", $0) }.joined()
                var m = VICIMessage()
                m.set("type", c.type)
                m.set("flag", c.flag)
                if let keyID, keys.contains(keyID) { m.set("has_privkey", "yes") }
                m["data"] = .value(c.der)
                stream.send(event: "list-cert", m)
            }
            return VICIMessage()
        }

        server.register(command: "flush-certs") { [weak self] req, _ in
            self?.credentials.flushCertificates(type: req.string("type"))
            return Self.success()
        }

        server.register(command: "clear-creds") { [weak self] _, _ in
            guard let self else { return Self.failure("daemon stopping") }
            self.credentials.clear()
            self.viciConfig.withLock {
                self.viciConfig.clearShared()
                self.ike?.update(configuration: self.viciConfig.mergedUnlocked)
            }
            return Self.success()
        }
    }

    /// The DER of the first certificate in PEM or DER bytes, checked to be X.509.
    static func certificateDER(_ bytes: [UInt8]) throws -> [UInt8] {
        let objects = try PEM.derObjects(in: bytes, labels: ["CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"])
        guard let der = objects.first?.der else { throw DaemonError("no certificate found") }
        _ = try CertificateFile.loadOne(der)
        return der
    }
}
