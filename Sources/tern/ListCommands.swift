import ArgumentParser
import Foundation
import TernPKI
import X509
import TernVICI

/// swanctl's listings over VICI: list-conns, list-pols, list-certs, list-pools, stats,
/// counters, and `log` (follow events). Text is laid out to be read at a glance; `--json`
/// prints the daemon's messages as JSON for scripts.
extension Tern {
    struct ListConns: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list-conns", abstract: "List loaded connections (as swanctl --list-conns).",
            discussion: "Examples: tern list-conns    tern list-conns --ike site-b --json")
        @OptionGroup var control: ControlOptions
        @Option(help: "Only this connection.") var ike: String?
        @Flag(help: "Print JSON.") var json = false
        func run() throws {
            var m = VICIMessage()
            if let ike { m.set("ike", ike) }
            let client = try control.connect()
            defer { client.close() }
            var conns: [VICIMessage] = []
            _ = try control.streamed(client, "list-conns", event: "list-conn", m) { conns.append($0) }
            if json { return try Tern.printJSON(Tern.namedObjects(conns)) }
            for c in conns { for e in c.entries { if case .section(let s) = e.element { print(ConnListing.text(name: e.key, s), terminator: "") } } }
        }
    }

    struct ListPols: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list-pols", abstract: "List trap, drop and pass policies (as swanctl --list-pols).")
        @OptionGroup var control: ControlOptions
        @Option(help: "Only this CHILD config.") var child: String?
        @Flag(help: "Trap policies only (with --drop/--pass: those too).") var trap = false
        @Flag(help: "Drop policies.") var drop = false
        @Flag(help: "Pass (bypass) policies.") var pass = false
        @Flag(help: "Print JSON.") var json = false
        func run() throws {
            var m = VICIMessage()
            let all = !trap && !drop && !pass
            if all || trap { m.set("trap", "yes") }
            if all || drop { m.set("drop", "yes") }
            if all || pass { m.set("pass", "yes") }
            if let child { m.set("child", child) }
            let client = try control.connect()
            defer { client.close() }
            var pols: [VICIMessage] = []
            _ = try control.streamed(client, "list-policies", event: "list-policy", m) { pols.append($0) }
            if json { return try Tern.printJSON(Tern.namedObjects(pols)) }
            for p in pols {
                for e in p.entries {
                    guard case .section(let s) = e.element else { continue }
                    print("\(e.key), \(s.string("mode") ?? "")")
                    print("  local:  \((s.list("local-ts") ?? []).joined(separator: " "))")
                    print("  remote: \((s.list("remote-ts") ?? []).joined(separator: " "))")
                }
            }
        }
    }

    struct ListCerts: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list-certs", abstract: "List loaded certificates (as swanctl --list-certs).")
        @OptionGroup var control: ControlOptions
        @Option(help: "Only this type (x509, x509ca, x509crl, pubkey, …).") var type: String?
        @Flag(help: "Print JSON (certificates as base64 DER).") var json = false
        func run() throws {
            var m = VICIMessage()
            if let type { m.set("type", type) }
            let client = try control.connect()
            defer { client.close() }
            var certs: [VICIMessage] = []
            _ = try control.streamed(client, "list-certs", event: "list-cert", m) { certs.append($0) }
            if json {
                return try Tern.printJSON(certs.map { c -> [String: Any] in
                    var d: [String: Any] = [:]
                    for e in c.entries {
                        if e.key == "data", case .value(let v) = e.element { d["data"] = Data(v).base64EncodedString() } else { d[e.key] = VICIJSON.object(e.element) }
                    }
                    return d
                })
            }
            for c in certs {
                let kind = [c.string("type"), c.string("flag").flatMap { $0 == "NONE" ? nil : $0 }].compactMap { $0 }.joined(separator: " ")
                print("\(kind)\(c.string("has_privkey") == "yes" ? ", has private key" : "")")
                if let der = c.bytes("data"), let cert = try? CertificateFile.loadOne(der) {
                    print("  subject:  \"\(cert.subject)\"")
                    print("  issuer:   \"\(cert.issuer)\"")
                    print("  validity: \(cert.notValidBefore) … \(cert.notValidAfter)")
                    print("  serial:   \(cert.serialNumber)")
                } else if let der = c.bytes("data") {
                    print("  \(der.count) bytes")
                }
            }
        }
    }

    struct ListPools: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list-pools", abstract: "List virtual IP pools and their use (as swanctl --list-pools).")
        @OptionGroup var control: ControlOptions
        @Flag(help: "Also list leases.") var leases = false
        @Flag(help: "Print JSON.") var json = false
        func run() throws {
            var m = VICIMessage()
            if leases { m.set("leases", "yes") }
            let client = try control.connect()
            defer { client.close() }
            let r = try control.request(client, "get-pools", m)
            if json { return try Tern.printJSON(VICIJSON.object(.section(r))) }
            for e in r.entries {
                guard case .section(let s) = e.element else { continue }
                // swanctl's columns: name (20), base (40), online / offline / size.
                func pad(_ t: String, _ n: Int) -> String { t.count >= n ? t : t + String(repeating: " ", count: n - t.count) }
                print("\(pad(e.key, 20)) \(pad(s.string("base") ?? "", 40)) \(s.string("online") ?? "0") / \(s.string("offline") ?? "0") / \(s.string("size") ?? "0")")
                if let l = s.section("leases") {
                    for lease in l.entries {
                        guard case .section(let ls) = lease.element else { continue }
                        print("  \(pad(ls.string("address") ?? "", 30)) \(pad(ls.string("status") ?? "", 8)) '\(ls.string("identity") ?? "")'")
                    }
                }
            }
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show daemon statistics (as swanctl --stats).")
        @OptionGroup var control: ControlOptions
        @Flag(help: "Print JSON.") var json = false
        func run() throws {
            let client = try control.connect()
            defer { client.close() }
            let r = try control.request(client, "stats")
            if json { return try Tern.printJSON(VICIJSON.object(.section(r))) }
            let up = r.section("uptime")
            print("uptime: \(up?.string("running") ?? "?"), since \(up?.string("since") ?? "?")")
            if let w = r.section("workers") {
                let active = w.section("active")
                print("worker threads: \(w.string("total") ?? "?") total, \(w.string("idle") ?? "?") idle, working: "
                      + ["critical", "high", "medium", "low"].map { active?.string($0) ?? "0" }.joined(separator: "/"))
            }
            if let q = r.section("queues") {
                print("job queues: " + ["critical", "high", "medium", "low"].map { q.string($0) ?? "0" }.joined(separator: "/"))
            }
            if let s = r.string("scheduled") { print("jobs scheduled: \(s)") }
            if let ike = r.section("ikesas") { print("IKE_SAs: \(ike.string("total") ?? "0") total, \(ike.string("half-open") ?? "0") half-open") }
            if let plugins = r.list("plugins") { print("loaded plugins: \(plugins.joined(separator: " "))") }
            // Anything else the daemon reports (ternd adds its own figures).
            for e in r.entries where !["uptime", "workers", "queues", "scheduled", "ikesas", "plugins"].contains(e.key) {
                switch e.element {
                case .value: print("\(e.key): \(e.element.string ?? "")")
                case .section(let s): print("\(e.key): " + s.entries.map { "\($0.key) \($0.element.string ?? "…")" }.joined(separator: ", "))
                case .list(let l): print("\(e.key): \(l.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " "))")
                }
            }
        }
    }

    struct Counters: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show IKE message counters, global or per connection (as swanctl --counters).",
            discussion: "Examples: tern counters    tern counters --all    tern counters --name site-b --json")
        @OptionGroup var control: ControlOptions
        @Option(help: "Only this connection.") var name: String?
        @Flag(help: "Global and every connection's counters.") var all = false
        @Flag(help: "Reset the counters instead of showing them.") var reset = false
        @Flag(help: "Print JSON.") var json = false
        func run() throws {
            var m = VICIMessage()
            if all { m.set("all", "yes") } else if let name { m.set("name", name) }
            let client = try control.connect()
            defer { client.close() }
            let r = try control.request(client, reset ? "reset-counters" : "get-counters", m)
            try Tern.requireSuccess(r, reset ? "reset-counters" : "get-counters")
            if reset { print("reset-counters completed successfully"); return }
            let counters = r.section("counters") ?? VICIMessage()
            if json { return try Tern.printJSON(VICIJSON.object(.section(counters))) }
            for e in counters.entries {
                guard case .section(let s) = e.element else { continue }
                print("\(e.key.isEmpty ? "global" : e.key):")
                for c in s.entries { print("  \(c.key.padding(toLength: 22, withPad: " ", startingAt: 0)): \(c.element.string ?? "")") }
            }
        }
    }

    struct Log: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Follow the daemon's log and IKE/CHILD up-down events until interrupted (as swanctl --log).",
            discussion: "Examples: tern log    tern log --json --timeout 30")
        @OptionGroup var control: ControlOptions
        @Option(help: "Stop after this many seconds (0: until interrupted).") var timeout: Double = 0
        @Flag(help: "Print each event as one JSON line.") var json = false
        func run() throws {
            let client = try control.connect()
            if timeout > 0 {
                // listen() blocks in read(2); the simplest bounded exit is from another thread.
                DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { Foundation.exit(0) }
            }
            do {
                let events = ["log", "ike-updown", "child-updown"]
                try client.listen(events: events, onRegistered: {
                    Tern.warn("following \(events.joined(separator: ", ")) events from \(control.vici) (interrupt to stop)")
                }) { name, m in
                    if json {
                        var d = (VICIJSON.object(.section(m)) as? [String: Any]) ?? [:]
                        d["event"] = name
                        if let data = try? JSONSerialization.data(withJSONObject: d, options: [.sortedKeys, .withoutEscapingSlashes]) {
                            print(String(decoding: data, as: UTF8.self))
                        }
                    } else {
                        print(Tern.eventLine(name, m))
                    }
                    fflush(nil)   // each event as it comes, also into a pipe
                    return true
                }
            } catch {
                throw Tern.failure("log", error)
            }
        }
    }

    /// `[IKE] message` for log events; `ike-updown`/`child-updown` as one summary line.
    static func eventLine(_ name: String, _ m: VICIMessage) -> String {
        if name == "log" {
            let sa = m.string("ikesa-name").map { " <\($0)|\(m.string("ikesa-uniqueid") ?? "")>" } ?? ""
            return "\(m.string("thread") ?? "").[\(m.string("group") ?? "")]\(sa) \(m.string("msg") ?? "")"
        }
        let up = m.string("up") == "yes" ? "up" : "down"
        let sas = m.entries.compactMap { e -> String? in
            guard case .section(let s) = e.element else { return nil }
            var line = "\(e.key) #\(s.string("uniqueid") ?? "") \(s.string("state") ?? "")"
            if let children = s.section("child-sas") {
                line += " " + children.entries.compactMap { c -> String? in
                    guard case .section(let cs) = c.element else { return nil }
                    return "\(cs.string("name") ?? c.key){\(cs.string("uniqueid") ?? "")} \(cs.string("state") ?? "")"
                }.joined(separator: ", ")
            }
            return line
        }
        return "\(name == "ike-updown" ? "IKE_SA" : "CHILD_SA") \(up): \(sas.joined(separator: "; "))"
    }
}

/// swanctl --list-conns's layout.
enum ConnListing {
    static func text(name: String, _ s: VICIMessage) -> String {
        func addrs(_ k: String) -> String { (s.list(k) ?? []).joined(separator: ",").ifEmpty("%any") }
        // charon sends "IKEv2" (ike_version_names); a bare number is tolerated too.
        let version = s.string("version").map { $0.hasPrefix("IKE") ? $0 : "IKEv\($0)" } ?? "IKEv1/2"
        var out = "\(name): \(version), "
            + "reauth \(s.string("reauth_time") ?? "0")s, rekey \(s.string("rekey_time") ?? "0")s\n"
        out += "  local:  \(addrs("local_addrs"))\n  remote: \(addrs("remote_addrs"))\n"
        for e in s.entries where e.key.hasPrefix("local") || e.key.hasPrefix("remote") {
            guard case .section(let a) = e.element else { continue }
            let side = e.key.hasPrefix("local") ? "local" : "remote"
            out += "  \(side) \(a.string("class") ?? "") authentication:\n"
            if let id = a.string("id") { out += "    id: \(id)\n" }
            if let certs = a.list("certs"), !certs.isEmpty { out += "    certs: \(certs.count)\n" }
        }
        if let children = s.section("children") {
            for c in children.entries {
                guard case .section(let cs) = c.element else { continue }
                out += "  \(c.key): \(cs.string("mode") ?? ""), rekeying every \(cs.string("rekey_time") ?? "0")s"
                    + (cs.string("rekey_bytes").flatMap { $0 == "0" ? nil : ", or \($0) bytes" } ?? "")
                    + (cs.string("rekey_packets").flatMap { $0 == "0" ? nil : ", or \($0) packets" } ?? "") + "\n"
                out += "    local:  \((cs.list("local-ts") ?? []).joined(separator: " "))\n"
                out += "    remote: \((cs.list("remote-ts") ?? []).joined(separator: " "))\n"
            }
        }
        return out
    }
}

extension String {
    func ifEmpty(_ other: String) -> String { isEmpty ? other : self }
}
