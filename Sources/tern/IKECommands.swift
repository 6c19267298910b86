import ArgumentParser
import Foundation
import TernDaemon
import TernVICI

/// swanctl-style IKE commands: initiate, terminate, rekey, list-sas.
extension Tern {
    static func requireSuccess(_ r: VICIMessage, _ what: String) throws {
        if r.string("success") == "yes" { return }
        FileHandle.standardError.write(Data("tern: \(what) failed: \(r.string("errmsg") ?? "unknown error")\n".utf8))
        throw ExitCode(Exit.refused)
    }

    struct Initiate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Establish a CHILD SA (and its IKE SA), waiting until it is up.",
            discussion: "Example: tern initiate --child lan-to-lan")
        @OptionGroup var control: ControlOptions
        @Option(help: "CHILD SA config name.") var child: String?
        @Option(help: "IKE connection name (all its children when --child is absent).") var ike: String?
        @Option(help: "Seconds to wait (0: wait until done or failed).") var timeout: Int = 0
        func validate() throws {
            if child == nil && ike == nil { throw ValidationError("give --child NAME or --ike NAME") }
        }
        @Option(help: "Log level of the negotiation log streamed while waiting (-1 to 4; -1 prints nothing).") var loglevel = 1
        func run() throws {
            var m = VICIMessage()
            if let child { m["child"] = .string(child) }
            if let ike { m["ike"] = .string(ike) }
            m["timeout"] = .string("\(timeout * 1000)")
            m["loglevel"] = .string("\(loglevel)")
            let client = try control.connect()
            defer { client.close() }
            // The daemon streams its log for this negotiation as control-log events (swanctl shows them the same way).
            let r = try control.streamed(client, "initiate", event: "control-log", m) { event in
                if loglevel >= 0 {
                    print("[\(event.string("group") ?? "")] \(event.string("msg") ?? "")")
                    fflush(nil)   // each line as it comes, also into a pipe
                }
            }
            try Tern.requireSuccess(r, "initiate")
            print("initiate completed successfully")
        }
    }

    struct Terminate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete IKE or CHILD SAs (the peer is told).",
            discussion: "Examples: tern terminate --ike site-b    tern terminate --child lan-to-lan")
        @OptionGroup var control: ControlOptions
        @Option(help: "CHILD SA config name.") var child: String?
        @Option(help: "IKE connection name.") var ike: String?
        @Option(help: "IKE SA unique ID.") var ikeId: UInt32?
        @Option(help: "CHILD SA unique ID.") var childId: UInt32?
        func validate() throws {
            if child == nil && ike == nil && ikeId == nil && childId == nil { throw ValidationError("give --ike, --child, --ike-id or --child-id") }
        }
        func run() throws {
            var m = VICIMessage()
            if let child { m["child"] = .string(child) }
            if let ike { m["ike"] = .string(ike) }
            if let ikeId { m["ike-id"] = .string("\(ikeId)") }
            if let childId { m["child-id"] = .string("\(childId)") }
            try Tern.requireSuccess(try control.call("terminate", m), "terminate")
            print("terminate completed successfully")
        }
    }

    struct Rekey: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Rekey an IKE SA (--ike) or CHILD SA (--child) now.")
        @OptionGroup var control: ControlOptions
        @Option(help: "CHILD SA config name.") var child: String?
        @Option(help: "IKE connection name.") var ike: String?
        func validate() throws {
            if child == nil && ike == nil { throw ValidationError("give --child NAME or --ike NAME") }
        }
        func run() throws {
            var m = VICIMessage()
            if let child { m["child"] = .string(child) }
            if let ike { m["ike"] = .string(ike) }
            try Tern.requireSuccess(try control.call("rekey", m), "rekey")
            print("rekey completed successfully")
        }
    }

    struct ListSAs: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list-sas",
            abstract: "List IKE and CHILD SAs with counters (as swanctl --list-sas).",
            discussion: "Examples: tern list-sas    tern list-sas --ike site-b --json")
        @OptionGroup var control: ControlOptions
        @Option(help: "Only this IKE connection.") var ike: String?
        @Flag(help: "Print JSON.") var json = false
        func run() throws {
            var m = VICIMessage()
            if let ike { m["ike"] = .string(ike) }
            let client = try control.connect()
            defer { client.close() }
            var sas: [VICIMessage] = []
            do { _ = try client.streamedCall("list-sas", event: "list-sa", m) { sas.append($0) } } catch {
                FileHandle.standardError.write(Data("tern: list-sas failed: \(error)\n".utf8))
                throw ExitCode(Exit.unavailable)
            }
            if json {
                let objects = sas.flatMap { $0.entries.map { e in ["name": e.key, "sa": VICIJSON.object(e.element)] as [String: Any] } }
                let data = try JSONSerialization.data(withJSONObject: objects.map { o -> [String: Any] in
                    var d = (o["sa"] as? [String: Any]) ?? [:]
                    d["name"] = o["name"]
                    return d
                }, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            // ternd's data plane also counts replay drops and integrity failures per SA; charon has no tern-state.
            var dataPlane: [UInt32: StateReport.SA] = [:]
            if let state = try? client.call("tern-state") {
                for sa in StateReport(message: state).sas { dataPlane[sa.spi] = sa }
            }
            for m in sas {
                for e in m.entries {
                    guard case .section(let s) = e.element else { continue }
                    print(IKEListing.text(name: e.key, s, dataPlane: dataPlane), terminator: "")
                }
            }
        }
    }
}

/// VICI values as JSON: sections to objects, lists to arrays, values to strings.
enum VICIJSON {
    static func object(_ e: VICIMessage.Element) -> Any {
        switch e {
        case .value(let v): return String(decoding: v, as: UTF8.self)
        case .list(let l): return l.map { String(decoding: $0, as: UTF8.self) }
        case .section(let s):
            var d: [String: Any] = [:]
            for x in s.entries { d[x.key] = object(x.element) }
            return d
        }
    }
}

/// swanctl --list-sas's layout: an established tunnel at a glance.
enum IKEListing {
    static func text(name: String, _ s: VICIMessage, dataPlane: [UInt32: StateReport.SA] = [:]) -> String {
        func v(_ k: String) -> String { s.string(k) ?? "" }
        var out = "\(name): #\(v("uniqueid")), \(v("state")), IKEv2, \(v("initiator-spi"))_i\(v("initiator") == "yes" ? "*" : "") \(v("responder-spi"))_r\(v("initiator") == "yes" ? "" : "*")\n"
        let nat = s.string("nat-local") == "yes" ? " (NAT: local)" : (s.string("nat-remote") == "yes" ? " (NAT: remote)" : "")
        // Virtual IPs after the endpoint, and the EAP identity when it differs, as swanctl shows them.
        func vips(_ k: String) -> String {
            let items = (s.list(k) ?? []).map { "[\($0)]" }
            return items.isEmpty ? "" : " " + items.joined(separator: " ")
        }
        let eap = s.string("remote-eap-id").map { " EAP: '\($0)'" } ?? ""
        out += "  local  '\(v("local-id"))' @ \(v("local-host"))[\(v("local-port"))]\(vips("local-vips"))\n"
        out += "  remote '\(v("remote-id"))' @ \(v("remote-host"))[\(v("remote-port"))]\(eap)\(nat)\(vips("remote-vips"))\n"
        if let e = s.string("encr-alg") {
            let keysize = s.string("encr-keysize").map { "-\($0)" } ?? ""
            let integ = s.string("integ-alg").map { "/\($0)" } ?? ""
            out += "  \(e)\(keysize)\(integ)/\(v("prf-alg"))/\(v("dh-group"))\n"
        }
        if let est = s.string("established") {
            out += "  established \(est)s ago" + (s.string("rekey-time").map { ", rekeying in \($0)s" } ?? "") + "\n"
        }
        if let children = s.section("child-sas") {
            for c in children.entries {
                guard case .section(let cs) = c.element else { continue }
                func cv(_ k: String) -> String { cs.string(k) ?? "" }
                out += "  \(cv("name")): #\(cv("uniqueid")), reqid \(cv("reqid")), \(cv("state")), \(cv("mode")), \(cv("protocol"))\(cs.string("encap") == "yes" ? " in UDP" : ""), SPIs: \(cv("spi-in"))_i \(cv("spi-out"))_o\n"
                let keysize = cs.string("encr-keysize").map { "-\($0)" } ?? ""
                let integ = cs.string("integ-alg").map { "/\($0)" } ?? ""
                out += "    \(cv("encr-alg"))\(keysize)\(integ)\(cs.string("dh-group").map { "/\($0)" } ?? "")\n"
                out += "    installed \(cv("install-time"))s ago" + (cs.string("rekey-time").map { ", rekeying in \($0)s" } ?? "")
                    + (cs.string("life-time").map { ", expires in \($0)s" } ?? "") + "\n"
                var inbound = "    in  \(cv("spi-in")), \(cv("bytes-in")) bytes, \(cv("packets-in")) packets"
                if let spi = UInt32(cv("spi-in"), radix: 16), let d = dataPlane[spi] {
                    inbound += ", \(d.replayDrops) replayed, \(d.integrityFailures) failed integrity"
                }
                out += inbound + "\n"
                out += "    out \(cv("spi-out")), \(cv("bytes-out")) bytes, \(cv("packets-out")) packets\n"
                out += "    local  \((cs.list("local-ts") ?? []).joined(separator: " "))\n"
                out += "    remote \((cs.list("remote-ts") ?? []).joined(separator: " "))\n"
            }
        }
        return out
    }
}
