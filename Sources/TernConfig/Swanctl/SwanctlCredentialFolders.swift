import Foundation
import TernIKE
import TernPKI
import X509

/// swanctl's credential folders beside swanctl.conf and its `authorities` section, read as
/// swanctl's load_creds.c and load_authorities.c read them, into the engine's CredentialSet.
///
/// Folders (each optional; every regular file in one is read, and a file that does not parse
/// is an error naming it, never skipped):
/// - `x509/`: our certificates, intermediates and peers' certificates → `certificates`;
/// - `x509ca/`: trusted CA certificates (they must be CAs) → `authorities`;
/// - `x509crl/`: CRLs → `crls`;
/// - `private/`, `rsa/`, `ecdsa/`, `pkcs8/`: private keys, PEM or DER (PKCS#1, SEC1, PKCS#8),
///   which must be readable by the owner only. Encrypted PKCS#8 keys are decrypted with the
///   `secret` of a `secrets { <folder>-<any> { file = <name in the folder>; secret = … } }`
///   section, the section prefix naming the folder as in load_creds.c's decrypt_with_config.
/// - `x509aa/`, `x509ocsp/`, `x509ac/`, `pubkey/`, `pkcs12/`: not supported; a warning when
///   they hold files.
///
/// `certs`/`cacerts` entries of connections resolve against `x509/` and `x509ca/` (absolute
/// paths as they are; `0x…` hex and `0s…` base64 blobs inline), as swanctl's load_conns.c does.
public struct SwanctlCredentialLoader {
    /// The directory holding the folders (swanctl's /etc/swanctl).
    public let directory: String
    public let crlFetcher: FileCRLFetcher
    public private(set) var warnings: [ConfigWarning] = []

    public static let certificateFolder = "x509"
    public static let authorityFolder = "x509ca"
    public static let crlFolder = "x509crl"
    /// Key folders, the secret-section prefix that names a passphrase for their files, and the
    /// key algorithm the folder insists on (load_creds.c determine_credtype).
    static let keyFolders: [(folder: String, algorithm: String?)] = [("private", nil), ("rsa", "RSA"), ("ecdsa", "ECDSA"), ("pkcs8", nil)]
    static let unsupportedFolders: [(folder: String, what: String)] = [
        ("x509aa", "attribute authority certificates"), ("x509ocsp", "OCSP signer certificates"),
        ("x509ac", "attribute certificates"), ("pubkey", "raw public keys"), ("pkcs12", "PKCS#12 containers"),
    ]

    public init(directory: String, crlFetcher: FileCRLFetcher = FileCRLFetcher()) {
        self.directory = directory
        self.crlFetcher = crlFetcher
    }

    /// Everything the folders and `authorities` hold; `secrets` give passphrases of encrypted keys.
    public mutating func load(_ configuration: SwanctlConfiguration) throws(ConfigError) -> CredentialSet {
        var set = CredentialSet()
        for path in try files(in: Self.certificateFolder) {
            set.insert(certificates: try certificates(inFile: path))
        }
        for path in try files(in: Self.authorityFolder) {
            for ca in try certificates(inFile: path) {
                try Self.requireCA(ca, at: Self.fileLocation(path))
                set.insert(authorities: [ca])
            }
        }
        for path in try files(in: Self.crlFolder) {
            set.crls.append(contentsOf: try crls(inFile: path))
        }
        for folder in Self.keyFolders {
            for path in try files(in: folder.folder) {
                set.privateKeys.append(try privateKey(path, folder: folder.folder, algorithm: folder.algorithm, secrets: configuration.secrets))
            }
        }
        for folder in Self.unsupportedFolders {
            let found = try files(in: folder.folder)
            guard !found.isEmpty else { continue }
            warnings.append(ConfigWarning(location: Self.fileLocation(folderPath(folder.folder)),
                                          message: "\(found.count) file(s) in \(folderPath(folder.folder)): \(folder.what) are not supported by ternd; ignored"))
        }
        for authority in configuration.authorities {
            let (ca, uris) = try self.authority(authority)
            set.insert(authorities: [ca])
            set.crlURIs += uris.filter { !set.crlURIs.contains($0) }
        }
        return set
    }

    // MARK: Certificates named in swanctl.conf

    /// The certificates a `certs`/`cacerts`/`cacert` entry names: a `0x`/`0s` blob, an absolute
    /// path, or a path relative to `folder` beside swanctl.conf. Errors point at `location`.
    public func certificates(named reference: String, folder: String, at location: SourceLocation) throws(ConfigError) -> [Certificate] {
        if let blob = SwanctlBlob.decode(reference) {
            do {
                let found = try CertificateFile.load(blob)
                guard !found.isEmpty else { throw PKIError(.notACertificate, "no certificate found") }
                return found
            } catch {
                throw ConfigError(location: location, message: "inline certificate (\(blob.count) bytes): \(error)")
            }
        }
        let path = reference.hasPrefix("/") ? reference : folderPath(folder) + "/" + reference
        do {
            return try certificates(inFile: path)
        } catch {
            throw ConfigError(location: location, message: "certificate '\(reference)': \(error.message)",
                              hint: error.hint ?? "relative names are read from \(folderPath(folder))/")
        }
    }

    func folderPath(_ folder: String) -> String { directory + "/" + folder }

    /// Every certificate in a file (PEM may hold several); none is an error.
    func certificates(inFile path: String) throws(ConfigError) -> [Certificate] {
        let (bytes, _, _) = try ConfigFileReader.read(path, kind: "certificate")
        do {
            let found = try CertificateFile.load(bytes)
            guard !found.isEmpty else { throw PKIError(.notACertificate, "no certificate found") }
            return found
        } catch {
            throw ConfigError(location: Self.fileLocation(path), message: "\(path) is not a usable X.509 certificate: \(error)",
                              hint: "the file must hold PEM (BEGIN CERTIFICATE) or DER certificates")
        }
    }

    func crls(inFile path: String) throws(ConfigError) -> [CRL] {
        let (bytes, _, _) = try ConfigFileReader.read(path, kind: "CRL")
        do {
            let found = try CRL.load(bytes)
            guard !found.isEmpty else { throw PKIError(.notACRL, "no CRL found") }
            return found
        } catch {
            throw ConfigError(location: Self.fileLocation(path), message: "\(path) is not a usable X.509 CRL: \(error)",
                              hint: "the file must hold PEM (BEGIN X509 CRL) or DER CRLs")
        }
    }

    /// charon refuses a CA certificate without the CA basic constraint (vici_cred.c load_cert).
    public static func requireCA(_ certificate: Certificate, at location: SourceLocation) throws(ConfigError) {
        guard certificate.isCA else {
            throw ConfigError(location: location, message: "CA certificate '\(certificate.subject.strongSwanDescription)' lacks the CA basic constraint",
                              hint: "CA certificates must carry basicConstraints CA:TRUE (pki --self --ca); put end-entity certificates in x509/")
        }
    }

    // MARK: Private keys

    /// One key file: refused when others may read it, decrypted with a matching secret when encrypted.
    func privateKey(_ path: String, folder: String, algorithm: String?, secrets: [SecretConfig]) throws(ConfigError) -> PrivateKeyBundle {
        let at = Self.fileLocation(path)
        let (bytes, mode, _) = try ConfigFileReader.read(path, kind: "private key")
        if mode & 0o077 != 0 {
            throw ConfigFileReader.exposureError(file: path, mode: mode, holding: "a private key", at: at)
        }
        let key: PrivateKeyBundle
        do {
            key = try PrivateKeyBundle.load(bytes)
        } catch let error where error.code == .encryptedKey {
            key = try decrypt(bytes, path: path, folder: folder, secrets: secrets)
        } catch {
            throw ConfigError(location: at, message: "\(path) is not a usable private key: \(error)",
                              hint: "keys are PEM or DER, PKCS#1, SEC1 or PKCS#8 (RSA ≥ 2048 bits, ECDSA P-256/384/521, Ed25519)")
        }
        let fits: Bool = switch (algorithm, key.keyType) {
        case (nil, _), ("RSA", .rsa), ("ECDSA", .ecdsa): true
        default: false
        }
        if let algorithm, !fits {
            throw ConfigError(location: at, message: "\(path) is a \(key.keyType) key, not an \(algorithm) key as \(folder)/ holds",
                              hint: "move it to private/, which takes any key type")
        }
        return key
    }

    /// load_creds.c decrypt_with_config: secrets whose section name starts with the folder's
    /// name and whose `file` is the key's name in the folder (case-insensitively) are tried in order.
    private func decrypt(_ bytes: [UInt8], path: String, folder: String, secrets: [SecretConfig]) throws(ConfigError) -> PrivateKeyBundle {
        let name = (path as NSString).lastPathComponent
        let candidates = secrets.filter { $0.name.hasPrefix(folder) && $0.file?.lowercased() == name.lowercased() && $0.secret != nil }
        guard let first = candidates.first else {
            throw ConfigError(location: Self.fileLocation(path), message: "\(path) is encrypted and no secret gives its passphrase",
                              hint: "add secrets { \(folder)-\((name as NSString).deletingPathExtension) { file = \(name); secret = \"…\" } } to swanctl.conf, or store the key decrypted (openssl pkey -in KEY -out PLAIN; chmod 600)")
        }
        var last: PKIError?
        for candidate in candidates {
            guard let secret = candidate.secret else { continue }
            let passphrase = String(decoding: secret.bytes, as: UTF8.self)
            do { return try PrivateKeyBundle.load(bytes, passphrase: passphrase) } catch { last = error }
        }
        throw ConfigError(location: first.location,
                          message: "secrets.\(first.name): cannot decrypt \(path): \(last.map { "\($0)" } ?? "no passphrase")",
                          hint: "check the secret; ternd reads PBES2 (AES-CBC, PBKDF2) encrypted PKCS#8 keys, as openssl pkcs8 -topk8 -v2 aes256 writes them")
    }

    // MARK: authorities { }

    /// One `authorities.<name>` section: its CA certificate and its `file://` crl_uris (each
    /// read now so a broken file is an error at load; the engine fetches them when it checks).
    public mutating func authority(_ section: SwanctlSection) throws(ConfigError) -> (Certificate, [String]) {
        var ca: Certificate?
        var uris: [String] = []
        for kv in section.keyValues where !kv.value.isEmpty {
            switch kv.key {
            case "cacert", "file":
                let found = try certificates(named: kv.value.trimmingCharacters(in: .whitespaces), folder: Self.authorityFolder, at: kv.location)
                guard found.count == 1 else {
                    throw ConfigError(location: kv.location, message: "authority '\(section.name)': \(kv.key) holds \(found.count) certificates; it takes one",
                                      hint: "give each CA its own authorities section")
                }
                try Self.requireCA(found[0], at: kv.location)
                ca = found[0]
            case "crl_uris":
                for uri in Self.list(kv.value) {
                    guard let path = FileCRLFetcher.path(of: uri) else {
                        warnings.append(ConfigWarning(location: kv.location,
                                                      message: "authority '\(section.name)': CRL URI \(uri) is not fetched (ternd reads only file:// URIs); ignored"))
                        continue
                    }
                    uris.append(uri)
                    guard FileManager.default.fileExists(atPath: path) else {
                        warnings.append(ConfigWarning(location: kv.location,
                                                      message: "authority '\(section.name)': CRL \(path) does not exist yet; it is read when a certificate is checked"))
                        continue
                    }
                    do { _ = try self.crls(inFile: path) } catch {
                        throw ConfigError(location: kv.location, message: "authority '\(section.name)': crl_uris: \(error.message)", hint: error.hint)
                    }
                }
            case "ocsp_uris", "cert_uri_base":
                warnings.append(ConfigWarning(location: kv.location,
                                              message: "authority '\(section.name)': \(kv.key) is not supported by ternd (no OCSP, no hash-and-URL); ignored"))
            case "handle", "slot", "module":
                throw ConfigError(location: kv.location, message: "authority '\(section.name)': PKCS#11 tokens (\(kv.key)) are not supported",
                                  hint: "export the CA certificate to x509ca/ and name it with cacert = FILE")
            default:
                warnings.append(ConfigWarning(location: kv.location, message: "authority '\(section.name)': unknown key `\(kv.key)`; ignored"))
            }
        }
        for sub in section.subsections {
            warnings.append(ConfigWarning(location: sub.location, message: "section `\(sub.name)` inside authority '\(section.name)' is ignored"))
        }
        guard let ca else {
            throw ConfigError(location: section.location, message: "authority '\(section.name)' has no cacert",
                              hint: "add cacert = ca-cert.pem (read from x509ca/ beside swanctl.conf)")
        }
        return (ca, uris)
    }

    // MARK: Helpers

    /// The regular files in a folder, sorted; none when the folder does not exist.
    func files(in folder: String) throws(ConfigError) -> [String] {
        let dir = folderPath(folder)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else { return [] }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: dir) } catch {
            throw ConfigError(location: Self.fileLocation(dir), message: "cannot list \(dir): \(error.localizedDescription)")
        }
        return names.sorted().map { dir + "/" + $0 }.filter { path in
            var sub: ObjCBool = false
            // Subfolders are skipped as swanctl skips them; a dangling link is read (and fails) like a file.
            return !(FileManager.default.fileExists(atPath: path, isDirectory: &sub) && sub.boolValue)
        }
    }

    static func fileLocation(_ path: String) -> SourceLocation { SourceLocation(file: path, line: 1, column: 1) }

    static func list(_ value: String) -> [String] {
        value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

/// Reads CRLs named by `file://` URIs while peers' chains are checked: each file is parsed once
/// and again only when its size or modification time changes, so a CRL replaced on disk counts
/// without a reload. Other schemes give nil (ternd fetches nothing over the network).
public final class FileCRLFetcher: @unchecked Sendable {
    private let lock = NSLock()
    private var cache: [String: (modified: Date?, size: Int, crls: [CRL])] = [:]

    public init() {}

    /// The local path of a `file://` URI (host empty or localhost), nil for anything else.
    public static func path(of uri: String) -> String? {
        guard let url = URL(string: uri), url.scheme?.lowercased() == "file" else { return nil }
        guard url.host == nil || url.host == "" || url.host == "localhost" else { return nil }
        let path = url.path
        return path.hasPrefix("/") ? path : nil
    }

    public func fetch(_ uri: String) -> [CRL]? {
        guard let path = Self.path(of: uri) else { return nil }
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
        let modified = attributes[.modificationDate] as? Date
        let size = (attributes[.size] as? NSNumber)?.intValue ?? -1
        if let hit = lock.withLock({ cache[uri] }), hit.modified == modified, hit.size == size { return hit.crls }
        guard let read = try? ConfigFileReader.read(path, kind: "CRL"), let crls = try? CRL.load(read.0), !crls.isEmpty else {
            return nil
        }
        lock.withLock { cache[uri] = (modified, size, crls) }
        return crls
    }

}

extension CredentialSet {
    /// Adds certificates not already present (by DER), keeping the order they came in.
    public mutating func insert(certificates more: [Certificate]) {
        for c in more where !certificates.contains(c) { certificates.append(c) }
    }

    public mutating func insert(authorities more: [Certificate]) {
        for c in more where !authorities.contains(c) { authorities.append(c) }
    }

    /// Certificates the connections name go into the set too, as charon adds them: our own for
    /// signing and sending, peers' for matching, `cacerts` as trusted CAs.
    public mutating func insertCertificates(of connections: [ConnectionPolicy]) {
        for p in connections {
            insert(certificates: p.certificates.localCertificates + p.certificates.remoteCertificates)
            insert(authorities: p.certificates.remoteCACertificates)
        }
    }

    /// `self` followed by `other`'s credentials; the fetcher of `self` unless it has none.
    public func merged(with other: CredentialSet) -> CredentialSet {
        var out = self
        out.insert(authorities: other.authorities)
        out.insert(certificates: other.certificates)
        out.privateKeys += other.privateKeys.filter { k in !out.privateKeys.contains { $0.publicKey == k.publicKey } }
        out.crls += other.crls.filter { c in !out.crls.contains { $0.der == c.der } }
        out.crlURIs += other.crlURIs.filter { !out.crlURIs.contains($0) }
        return out
    }

    /// Whether a private key for the certificate's public key is loaded.
    public func hasPrivateKey(for certificate: Certificate) -> Bool {
        guard let publicKey = try? PublicKeyBundle(certificate: certificate) else { return false }
        return privateKeys.contains { $0.publicKey == publicKey }
    }
}
