import Foundation
import TernPKI
import TernVICI

/// swanctl.conf sections and VICI messages, both ways, as swanctl and charon convert them:
/// `tern load-*` turns the file into requests (load_conns.c, load_creds.c, load_pools.c), and
/// ternd turns a `load-conn` tree back into a swanctl section, so both paths share one parser,
/// validator and set of error messages.
public enum SwanctlVICI {
    /// Keys swanctl sends as lists, split at commas (is_list_key in load_conns.c).
    public static let listKeys: Set<String> = ["local_addrs", "remote_addrs", "proposals", "esp_proposals", "ah_proposals",
                                        "local_ts", "remote_ts", "vips", "pools", "groups", "cert_policy"]
    /// Keys naming files whose contents are sent, relative paths under the folder given.
    public static let fileListKeys: [String: String] = ["certs": "x509", "cacerts": "x509ca", "pubkeys": "pubkey"]

    public static func items(_ value: String) -> [String] {
        value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// A connection (or any section below it) as a VICI section.
    public static func section(_ s: SwanctlSection, directory: String) throws -> VICIMessage {
        var m = VICIMessage()
        for kv in s.keyValues where !kv.value.isEmpty {
            let key = kv.key.lowercased()
            if listKeys.contains(key) {
                m.set(kv.key, list: items(kv.value))
            } else if let folder = fileListKeys[key] {
                var blobs: [[UInt8]] = []
                for item in items(kv.value) {
                    if let blob = SwanctlBlob.decode(item) { blobs.append(blob); continue }
                    let path = item.hasPrefix("/") ? item : "\(directory)/\(folder)/\(item)"
                    guard let data = FileManager.default.contents(atPath: path) else {
                        throw SwanctlLoadError("loading \(kv.key) certificate '\(path)' failed: cannot read the file")
                    }
                    blobs.append(Array(data))
                }
                m[kv.key] = .list(blobs)
            } else {
                m.set(kv.key, kv.value)
            }
        }
        for sub in s.subsections { m.set(sub.name, section: try section(sub, directory: directory)) }
        return m
    }

    /// A `secrets` subsection as a load-shared request; nil for private-key secrets, which
    /// swanctl loads from files instead.
    public static func shared(_ s: SwanctlSection) throws -> VICIMessage? {
        let sharedTypes = ["eap", "xauth", "ntlm", "ike", "ppk"]
        let keyTypes = ["private", "rsa", "ecdsa", "pkcs8", "pkcs12", "token"]
        guard let type = sharedTypes.first(where: { s.name.hasPrefix($0) }) else {
            if keyTypes.contains(where: { s.name.hasPrefix($0) }) { return nil }
            throw SwanctlLoadError("ignoring unsupported secret '\(s.name)'")
        }
        guard let secret = s.value("secret")?.value else { throw SwanctlLoadError("missing secret in '\(s.name)', ignored") }
        var m = VICIMessage()
        m.set("id", s.name)
        m.set("type", type)
        m["data"] = .value(SwanctlBlob.decode(secret) ?? Array(secret.utf8))
        m.set("owners", list: s.keyValues.filter { $0.key.hasPrefix("id") && !$0.value.isEmpty }.map(\.value))
        return m
    }

    /// A pool: `addrs` as a value, every other attribute as a list (load_pools.c).
    public static func pool(_ s: SwanctlSection) -> VICIMessage {
        var m = VICIMessage()
        for kv in s.keyValues where !kv.value.isEmpty {
            if kv.key == "addrs" { m.set(kv.key, kv.value) } else { m.set(kv.key, list: items(kv.value)) }
        }
        return m
    }

    /// Certificate folders and the load-cert type/flag swanctl sends for each.
    public static let certFolders: [(folder: String, type: String, flag: String?)] = [
        ("x509", "X509", "NONE"), ("x509ca", "X509", "CA"), ("x509ocsp", "X509", "OCSP"), ("x509aa", "X509", "AA"),
        ("x509ac", "X509_AC", nil), ("x509crl", "X509_CRL", nil), ("pubkey", "PUBKEY", nil),
    ]
    /// Key folders and the load-key type (private/pkcs8: any).
    public static let keyFolders: [(folder: String, type: String)] = [("private", "any"), ("rsa", "rsa"), ("ecdsa", "ecdsa"), ("pkcs8", "any")]

    /// swanctl's decrypt_with_config: an encrypted key is decrypted with the `secret` of a
    /// `secrets` section named after its folder (private…, rsa…, ecdsa…, pkcs8…) whose `file` is
    /// the key's name, and sent decrypted; nil when the key is not encrypted (sent as it is).
    public static func decryptedKey(_ data: [UInt8], path: String, folder: String, secrets: [SwanctlSection]) throws -> [UInt8]? {
        do {
            _ = try PrivateKeyBundle.load(data)
            return nil
        } catch where error.code == .encryptedKey {
            let name = (path as NSString).lastPathComponent.lowercased()
            for s in secrets where s.name.hasPrefix(folder) && s.value("file")?.value.lowercased() == name {
                guard let secret = s.value("secret")?.value else { continue }
                if let key = try? PrivateKeyBundle.load(data, passphrase: secret) { return key.derEncoded }
                throw SwanctlLoadError("configured decryption secret for '\(path)' invalid")
            }
            throw SwanctlLoadError("'\(path)' is encrypted and no secrets { \(folder)-… { file = \(name) } } gives its passphrase")
        } catch {
            return nil   // the daemon says what is wrong with it
        }
    }

    public static func files(in dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted().map { "\(dir)/\($0)" }
            .filter { var isDir: ObjCBool = false; return FileManager.default.fileExists(atPath: $0, isDirectory: &isDir) && !isDir.boolValue }
    }

    /// Keys become key/values (lists joined with commas, as swanctl.conf writes them), nested
    /// sections become subsections. Locations read `vici:load-conn:<name>`; the line is the
    /// entry's position in its section, so an error still points somewhere.
    public static func section(named name: String, from message: VICIMessage, origin: String) throws(ConfigError) -> SwanctlSection {
        let at = SourceLocation(file: origin, line: 1, column: 1)
        var out = SwanctlSection(name: name, location: at)
        for (index, entry) in message.entries.enumerated() {
            let here = SourceLocation(file: origin, line: index + 1, column: 1)
            switch entry.element {
            case .value(let bytes):
                guard let text = String(validating: bytes, as: UTF8.self) else {
                    throw ConfigError(location: here, message: "value of '\(entry.key)' is not UTF-8 text")
                }
                out.set(SwanctlKeyValue(key: entry.key, value: text, location: here))
            case .list(let items):
                var texts: [String] = []
                for item in items {
                    guard let text = String(validating: item, as: UTF8.self) else {
                        throw ConfigError(location: here, message: "an item of list '\(entry.key)' is not UTF-8 text")
                    }
                    texts.append(text)
                }
                out.set(SwanctlKeyValue(key: entry.key, value: texts.joined(separator: ","), location: here))
            case .section(let sub):
                out.add(try section(named: entry.key, from: sub, origin: origin + "." + entry.key))
            }
        }
        return out
    }
}

/// Why a swanctl.conf entry could not become a VICI request (reported, the rest still loads).
public struct SwanctlLoadError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
