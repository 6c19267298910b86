import ArgumentParser
import Foundation
import TernConfig
import TernPKI
import TernVICI

/// swanctl's --load-all/--load-conns/--load-creds/--load-pools: read swanctl.conf (and the
/// credential folders beside it) and load everything into the daemon over VICI, then unload
/// what the daemon has and the file no longer names.
struct LoadOptions: ParsableArguments {
    @Option(help: "swanctl.conf to read; credentials come from the folders beside it (x509, x509ca, private, …).")
    var file = "/etc/swanctl/swanctl.conf"
    @Flag(help: "Never prompt for passwords (tern never does; accepted for swanctl compatibility).")
    var noprompt = false

    func tree() throws -> SwanctlSection {
        do { return try SwanctlLoader.tree(path: file) } catch {
            Tern.warn("\(error)")
            throw ExitCode(Exit.usage)
        }
    }

    var directory: String {
        let dir = (file as NSString).deletingLastPathComponent
        return dir.isEmpty ? "." : dir
    }
}

/// Turning swanctl.conf sections into VICI requests the way swanctl does (load_conns.c,
/// load_creds.c, load_pools.c).
enum SwanctlRequests {
    /// Keys swanctl sends as lists, split at commas (is_list_key in load_conns.c).
    static let listKeys: Set<String> = ["local_addrs", "remote_addrs", "proposals", "esp_proposals", "ah_proposals",
                                        "local_ts", "remote_ts", "vips", "pools", "groups", "cert_policy"]
    /// Keys naming files whose contents are sent, relative paths under the folder given.
    static let fileListKeys: [String: String] = ["certs": "x509", "cacerts": "x509ca", "pubkeys": "pubkey"]

    static func items(_ value: String) -> [String] {
        value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// A connection (or any section below it) as a VICI section.
    static func section(_ s: SwanctlSection, directory: String) throws -> VICIMessage {
        var m = VICIMessage()
        for kv in s.keyValues where !kv.value.isEmpty {
            let key = kv.key.lowercased()
            if listKeys.contains(key) {
                m.set(kv.key, list: items(kv.value))
            } else if let folder = fileListKeys[key] {
                var blobs: [[UInt8]] = []
                for item in items(kv.value) {
                    if let blob = inlineBlob(item) { blobs.append(blob); continue }
                    let path = item.hasPrefix("/") ? item : "\(directory)/\(folder)/\(item)"
                    guard let data = FileManager.default.contents(atPath: path) else {
                        throw LoadError("loading \(kv.key) certificate '\(path)' failed: cannot read the file")
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

    /// `0x…` hex and `0s…` base64, as swanctl accepts for secrets and inline certificates.
    static func inlineBlob(_ s: String) -> [UInt8]? {
        let lower = s.lowercased()
        if lower.hasPrefix("0x") {
            let hex = Array(s.utf8.dropFirst(2))
            guard hex.count % 2 == 0 else { return nil }
            var out: [UInt8] = []
            var i = 0
            while i < hex.count {
                guard let b = UInt8(String(decoding: hex[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
                out.append(b)
                i += 2
            }
            return out
        }
        if lower.hasPrefix("0s") { return Data(base64Encoded: String(s.dropFirst(2))).map(Array.init) }
        return nil
    }

    /// A `secrets` subsection as a load-shared request; nil for private-key secrets, which
    /// swanctl loads from files instead.
    static func shared(_ s: SwanctlSection) throws -> VICIMessage? {
        let sharedTypes = ["eap", "xauth", "ntlm", "ike", "ppk"]
        let keyTypes = ["private", "rsa", "ecdsa", "pkcs8", "pkcs12", "token"]
        guard let type = sharedTypes.first(where: { s.name.hasPrefix($0) }) else {
            if keyTypes.contains(where: { s.name.hasPrefix($0) }) { return nil }
            throw LoadError("ignoring unsupported secret '\(s.name)'")
        }
        guard let secret = s.value("secret")?.value else { throw LoadError("missing secret in '\(s.name)', ignored") }
        var m = VICIMessage()
        m.set("id", s.name)
        m.set("type", type)
        m["data"] = .value(inlineBlob(secret) ?? Array(secret.utf8))
        m.set("owners", list: s.keyValues.filter { $0.key.hasPrefix("id") && !$0.value.isEmpty }.map(\.value))
        return m
    }

    /// A pool: `addrs` as a value, every other attribute as a list (load_pools.c).
    static func pool(_ s: SwanctlSection) -> VICIMessage {
        var m = VICIMessage()
        for kv in s.keyValues where !kv.value.isEmpty {
            if kv.key == "addrs" { m.set(kv.key, kv.value) } else { m.set(kv.key, list: items(kv.value)) }
        }
        return m
    }

    /// Certificate folders and the load-cert type/flag swanctl sends for each.
    static let certFolders: [(folder: String, type: String, flag: String?)] = [
        ("x509", "X509", "NONE"), ("x509ca", "X509", "CA"), ("x509ocsp", "X509", "OCSP"), ("x509aa", "X509", "AA"),
        ("x509ac", "X509_AC", nil), ("x509crl", "X509_CRL", nil), ("pubkey", "PUBKEY", nil),
    ]
    /// Key folders and the load-key type (private/pkcs8: any).
    static let keyFolders: [(folder: String, type: String)] = [("private", "any"), ("rsa", "rsa"), ("ecdsa", "ecdsa"), ("pkcs8", "any")]

    /// swanctl's decrypt_with_config: an encrypted key is decrypted with the `secret` of a
    /// `secrets` section named after its folder (private…, rsa…, ecdsa…, pkcs8…) whose `file` is
    /// the key's name, and sent decrypted; nil when the key is not encrypted (sent as it is).
    static func decryptedKey(_ data: [UInt8], path: String, folder: String, secrets: [SwanctlSection]) throws -> [UInt8]? {
        do {
            _ = try PrivateKeyBundle.load(data)
            return nil
        } catch where error.code == .encryptedKey {
            let name = (path as NSString).lastPathComponent.lowercased()
            for s in secrets where s.name.hasPrefix(folder) && s.value("file")?.value.lowercased() == name {
                guard let secret = s.value("secret")?.value else { continue }
                if let key = try? PrivateKeyBundle.load(data, passphrase: secret) { return key.derEncoded }
                throw LoadError("configured decryption secret for '\(path)' invalid")
            }
            throw LoadError("'\(path)' is encrypted and no secrets { \(folder)-… { file = \(name) } } gives its passphrase")
        } catch {
            return nil   // the daemon says what is wrong with it
        }
    }

    static func files(in dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted().map { "\(dir)/\($0)" }
            .filter { var isDir: ObjCBool = false; return FileManager.default.fileExists(atPath: $0, isDirectory: &isDir) && !isDir.boolValue }
    }
}

struct LoadError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// What a load run did; any failure makes the command exit 70 after it has tried everything.
struct LoadTally {
    var failed = false

    mutating func submit(_ control: ControlOptions, _ client: VICIClient, _ command: String, _ m: VICIMessage,
                         ok: String, failed what: String) throws {
        let r = try control.request(client, command, m)
        if r.string("success") == "yes" {
            print(ok)
        } else {
            Tern.warn("\(what) failed: \(r.string("errmsg") ?? "unknown error")")
            failed = true
        }
    }
}

extension Tern {
    static func loadConns(_ control: ControlOptions, _ client: VICIClient, _ load: LoadOptions, _ root: SwanctlSection, _ tally: inout LoadTally) throws {
        let existing = try control.request(client, "get-conns").list("conns") ?? []
        let conns = root.subsection("connections")?.subsections ?? []
        var loaded = 0
        for conn in conns {
            let body: VICIMessage
            do { body = try SwanctlRequests.section(conn, directory: load.directory) } catch {
                warn("\(error)"); tally.failed = true; continue
            }
            var m = VICIMessage()
            m.set(conn.name, section: body)
            let before = tally.failed
            try tally.submit(control, client, "load-conn", m, ok: "loaded connection '\(conn.name)'", failed: "loading connection '\(conn.name)'")
            if tally.failed == before { loaded += 1 }
        }
        var unloaded = 0
        for name in existing where !conns.contains(where: { $0.name == name }) {
            var m = VICIMessage()
            m.set("name", name)
            let before = tally.failed
            try tally.submit(control, client, "unload-conn", m, ok: "unloaded connection '\(name)'", failed: "unloading connection '\(name)'")
            if tally.failed == before { unloaded += 1 }
        }
        if conns.isEmpty { print("no connections found, \(unloaded) unloaded") } else if loaded == conns.count {
            print("successfully loaded \(loaded) connections, \(unloaded) unloaded")
        } else {
            print("loaded \(loaded) of \(conns.count) connections, \(conns.count - loaded) failed to load, \(unloaded) unloaded")
        }
    }

    static func loadCreds(_ control: ControlOptions, _ client: VICIClient, _ load: LoadOptions, _ root: SwanctlSection, _ tally: inout LoadTally) throws {
        for f in SwanctlRequests.certFolders {
            for path in SwanctlRequests.files(in: "\(load.directory)/\(f.folder)") {
                guard let data = FileManager.default.contents(atPath: path) else { warn("cannot read \(path)"); tally.failed = true; continue }
                var m = VICIMessage()
                m.set("type", f.type)
                if let flag = f.flag { m.set("flag", flag) }
                m["data"] = .value(Array(data))
                try tally.submit(control, client, "load-cert", m, ok: "loaded certificate from '\(path)'", failed: "loading certificate from '\(path)'")
            }
        }
        let secrets = root.subsection("secrets")?.subsections ?? []
        for f in SwanctlRequests.keyFolders {
            for path in SwanctlRequests.files(in: "\(load.directory)/\(f.folder)") {
                guard let data = FileManager.default.contents(atPath: path) else { warn("cannot read \(path)"); tally.failed = true; continue }
                let key: [UInt8]
                do { key = try SwanctlRequests.decryptedKey(Array(data), path: path, folder: f.folder, secrets: secrets) ?? Array(data) } catch {
                    warn("\(error)"); tally.failed = true; continue
                }
                var m = VICIMessage()
                m.set("type", f.type)
                m["data"] = .value(key)
                try tally.submit(control, client, "load-key", m, ok: "loaded key from '\(path)'", failed: "loading key from '\(path)'")
            }
        }
        for secret in root.subsection("secrets")?.subsections ?? [] {
            let m: VICIMessage?
            do { m = try SwanctlRequests.shared(secret) } catch { warn("\(error)"); tally.failed = true; continue }
            guard let m else { continue }
            let type = m.string("type") ?? ""
            try tally.submit(control, client, "load-shared", m, ok: "loaded \(type) secret '\(secret.name)'", failed: "loading \(type) secret '\(secret.name)'")
        }
    }

    /// swanctl's load_authorities.c: `cacert` is sent as the file's contents (relative names
    /// from x509ca/), URI lists as lists; authorities the daemon has and the file lacks go.
    static func loadAuthorities(_ control: ControlOptions, _ client: VICIClient, _ load: LoadOptions, _ root: SwanctlSection, _ tally: inout LoadTally) throws {
        let existing = try control.request(client, "get-authorities").list("authorities") ?? []
        let authorities = root.subsection("authorities")?.subsections ?? []
        for authority in authorities {
            var body = VICIMessage()
            var readable = true
            for kv in authority.keyValues where !kv.value.isEmpty {
                switch kv.key {
                case "cacert":
                    let path = kv.value.hasPrefix("/") ? kv.value : "\(load.directory)/x509ca/\(kv.value)"
                    guard let data = FileManager.default.contents(atPath: path) else {
                        warn("loading authority '\(authority.name)' failed: cannot read \(path)"); tally.failed = true; readable = false; continue
                    }
                    body["cacert"] = .value(Array(data))
                case "crl_uris", "ocsp_uris": body.set(kv.key, list: SwanctlRequests.items(kv.value))
                default: body.set(kv.key, kv.value)
                }
            }
            guard readable else { continue }
            var m = VICIMessage()
            m.set(authority.name, section: body)
            try tally.submit(control, client, "load-authority", m, ok: "loaded authority '\(authority.name)'", failed: "loading authority '\(authority.name)'")
        }
        for name in existing where !authorities.contains(where: { $0.name == name }) {
            var m = VICIMessage()
            m.set("name", name)
            try tally.submit(control, client, "unload-authority", m, ok: "unloaded authority '\(name)'", failed: "unloading authority '\(name)'")
        }
    }

    static func loadPools(_ control: ControlOptions, _ client: VICIClient, _ root: SwanctlSection, _ tally: inout LoadTally) throws {
        let existing = (try control.request(client, "get-pools")).keys
        let pools = root.subsection("pools")?.subsections ?? []
        for pool in pools {
            var m = VICIMessage()
            m.set(pool.name, section: SwanctlRequests.pool(pool))
            try tally.submit(control, client, "load-pool", m, ok: "loaded pool '\(pool.name)'", failed: "loading pool '\(pool.name)'")
        }
        for name in existing where !pools.contains(where: { $0.name == name }) {
            var m = VICIMessage()
            m.set("name", name)
            try tally.submit(control, client, "unload-pool", m, ok: "unloaded pool '\(name)'", failed: "unloading pool '\(name)'")
        }
        if pools.isEmpty { print("no pools found") }
    }

    struct LoadAll: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "load-all", abstract: "Load credentials, pools and connections from swanctl.conf (as swanctl --load-all).",
            discussion: "Example: tern load-all --file /etc/swanctl/swanctl.conf --vici /run/tern/ternd.vici")
        @OptionGroup var control: ControlOptions
        @OptionGroup var load: LoadOptions
        func run() throws {
            try Tern.runLoad(control, load) { c, root, t in
                try Tern.loadCreds(control, c, load, root, &t)
                try Tern.loadAuthorities(control, c, load, root, &t)
                try Tern.loadPools(control, c, root, &t)
                try Tern.loadConns(control, c, load, root, &t)
            }
        }
    }

    struct LoadConns: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "load-conns", abstract: "Load connections from swanctl.conf and unload those it no longer has.")
        @OptionGroup var control: ControlOptions
        @OptionGroup var load: LoadOptions
        func run() throws {
            try Tern.runLoad(control, load) { c, root, t in try Tern.loadConns(control, c, load, root, &t) }
        }
    }

    struct LoadCreds: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "load-creds", abstract: "Load certificates, keys (folders beside swanctl.conf) and shared secrets.")
        @OptionGroup var control: ControlOptions
        @OptionGroup var load: LoadOptions
        func run() throws {
            try Tern.runLoad(control, load) { c, root, t in try Tern.loadCreds(control, c, load, root, &t) }
        }
    }

    struct LoadPools: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "load-pools", abstract: "Load virtual IP pools from swanctl.conf and unload those it no longer has.")
        @OptionGroup var control: ControlOptions
        @OptionGroup var load: LoadOptions
        func run() throws {
            try Tern.runLoad(control, load) { c, root, t in try Tern.loadPools(control, c, root, &t) }
        }
    }
}

extension Tern {
    /// Reads swanctl.conf, connects, runs the load steps, and exits 70 if any item was refused.
    static func runLoad(_ control: ControlOptions, _ load: LoadOptions,
                        _ steps: (VICIClient, SwanctlSection, inout LoadTally) throws -> Void) throws {
        let root = try load.tree()
        let client = try control.connect()
        defer { client.close() }
        var tally = LoadTally()
        try steps(client, root, &tally)
        if tally.failed { throw ExitCode(Exit.refused) }
    }
}
