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
            do { body = try SwanctlVICI.section(conn, directory: load.directory) } catch {
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
        for f in SwanctlVICI.certFolders {
            for path in SwanctlVICI.files(in: "\(load.directory)/\(f.folder)") {
                guard let data = FileManager.default.contents(atPath: path) else { warn("cannot read \(path)"); tally.failed = true; continue }
                var m = VICIMessage()
                m.set("type", f.type)
                if let flag = f.flag { m.set("flag", flag) }
                m["data"] = .value(Array(data))
                try tally.submit(control, client, "load-cert", m, ok: "loaded certificate from '\(path)'", failed: "loading certificate from '\(path)'")
            }
        }
        let secrets = root.subsection("secrets")?.subsections ?? []
        for f in SwanctlVICI.keyFolders {
            for path in SwanctlVICI.files(in: "\(load.directory)/\(f.folder)") {
                guard let data = FileManager.default.contents(atPath: path) else { warn("cannot read \(path)"); tally.failed = true; continue }
                let key: [UInt8]
                do { key = try SwanctlVICI.decryptedKey(Array(data), path: path, folder: f.folder, secrets: secrets) ?? Array(data) } catch {
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
            do { m = try SwanctlVICI.shared(secret) } catch { warn("\(error)"); tally.failed = true; continue }
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
                case "crl_uris", "ocsp_uris": body.set(kv.key, list: SwanctlVICI.items(kv.value))
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
            m.set(pool.name, section: SwanctlVICI.pool(pool))
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
