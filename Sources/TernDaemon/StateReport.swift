import Foundation
import TernDataPlane
import TernPlatform
import TernWire
import TernVICI

/// The data plane's state as `tern state` shows it: the SAD and SPD with every counter
/// (`setkey -D` / `setkey -DP` / `ip -s xfrm state` figures) and the global drop counters.
/// Travels over VICI as sections of key-values; rendered as text or JSON by the CLI.
public struct StateReport: Sendable, Equatable {
    public struct SA: Sendable, Equatable {
        public var src = "", dst = "", proto = "", mode = ""
        public var spi: UInt32 = 0
        public var encapSourcePort: UInt16?, encapDestinationPort: UInt16?
        public var reqid: UInt32 = 0
        public var encryption = "", integrity = ""
        public var esn = false
        public var replayWindow = 0
        public var outbound = false
        public var packets: UInt64 = 0, bytes: UInt64 = 0
        public var replayDrops: UInt64 = 0, integrityFailures: UInt64 = 0, policyMismatches: UInt64 = 0
        public var seq: UInt64 = 0
        public var replayBitmap = "0"
        public var created: UInt64 = 0, lastUsed: UInt64 = 0
    }

    public struct Policy: Sendable, Equatable {
        public var src = "", dst = "", proto = "any", dir = "", action = ""
        public var sport: String?, dport: String?
        public var priority: UInt32 = 0
        public var rules: [String] = []
        /// A trap policy: packets without an SA are held and an acquire is signalled.
        public var acquire = false
        public var packets: UInt64 = 0, bytes: UInt64 = 0
    }

    public var sas: [SA] = []
    public var policies: [Policy] = []
    public var drops: [(name: String, count: UInt64)] = []
    public var tunName = ""
    public var tunMTU = 0
    public var udpKeepalives: UInt64 = 0
    public var udpNonESP: UInt64 = 0

    public init() {}

    public static func == (a: StateReport, b: StateReport) -> Bool {
        a.sas == b.sas && a.policies == b.policies && a.drops.map(\.name) == b.drops.map(\.name)
            && a.drops.map(\.count) == b.drops.map(\.count) && a.tunName == b.tunName && a.tunMTU == b.tunMTU
    }

    init(snapshot: DataPlaneSnapshot, drops dropCounters: DropCounters, tunName: String, tunMTU: Int,
         udp: UDPPortCounters) {
        for sa in snapshot.associations {
            let c = sa.config
            var r = SA()
            r.src = c.source.description; r.dst = c.destination.description
            r.proto = c.encapsulation == .none ? c.proto.description : "esp-udp"
            r.mode = c.mode.description; r.spi = c.spi; r.reqid = c.reqid
            if case .udp(let sp, let dp) = c.encapsulation { r.encapSourcePort = sp; r.encapDestinationPort = dp }
            r.encryption = c.proto == .ah ? "none" : c.encryption.description
            r.integrity = c.integrity.description
            r.esn = c.extendedSequenceNumbers; r.replayWindow = c.replayWindow
            r.outbound = sa.isOutbound
            r.packets = sa.counters.load(SACounter.packets.rawValue)
            r.bytes = sa.counters.load(SACounter.bytes.rawValue)
            r.replayDrops = sa.counters.load(SACounter.replayDrops.rawValue)
            r.integrityFailures = sa.counters.load(SACounter.integrityFailures.rawValue)
            r.policyMismatches = sa.counters.load(SACounter.policyMismatches.rawValue)
            r.seq = sa.isOutbound ? sa.lastSequenceSent : sa.replay.top
            r.replayBitmap = sa.replay.bitmapHex
            r.created = sa.created.unixSeconds
            r.lastUsed = MonotonicInstant(wholeSeconds: sa.counters.load(SACounter.lastUsed.rawValue)).unixSeconds
            sas.append(r)
        }
        for p in snapshot.policies {
            let c = p.config
            var r = Policy()
            r.src = c.source.description; r.dst = c.destination.description
            r.sport = c.sourcePorts?.description; r.dport = c.destinationPorts?.description
            r.proto = c.upperProtocol.map { String($0) } ?? "any"
            r.dir = c.direction.rawValue; r.priority = c.priority
            switch c.action {
            case .protect(let rules): r.action = "ipsec"; r.rules = rules.map(\.description)
            case .bypass: r.action = "none"
            case .discard: r.action = "discard"
            }
            r.acquire = c.acquire
            r.packets = p.counters.load(0); r.bytes = p.counters.load(1)
            policies.append(r)
        }
        drops = DropReason.allCases.map { ($0.name, dropCounters[$0]) }
        self.tunName = tunName; self.tunMTU = tunMTU
        udpKeepalives = udp.block.load(0); udpNonESP = udp.block.load(1)
    }

    // MARK: VICI encoding

    public var message: VICIMessage {
        var m = VICIMessage()
        var sasSection = VICIMessage()
        for (i, sa) in sas.enumerated() {
            var s = VICIMessage()
            s["src"] = .str(sa.src); s["dst"] = .str(sa.dst); s["proto"] = .str(sa.proto); s["mode"] = .str(sa.mode)
            s["spi"] = .str(String(sa.spi))
            if let sp = sa.encapSourcePort, let dp = sa.encapDestinationPort {
                s["encap-sport"] = .str(String(sp)); s["encap-dport"] = .str(String(dp))
            }
            s["reqid"] = .str(String(sa.reqid)); s["encryption"] = .str(sa.encryption); s["integrity"] = .str(sa.integrity)
            s["esn"] = .str(sa.esn ? "yes" : "no"); s["replay-window"] = .str(String(sa.replayWindow))
            s["outbound"] = .str(sa.outbound ? "yes" : "no")
            s["packets"] = .str(String(sa.packets)); s["bytes"] = .str(String(sa.bytes))
            s["replay-drops"] = .str(String(sa.replayDrops)); s["integrity-failures"] = .str(String(sa.integrityFailures))
            s["policy-mismatches"] = .str(String(sa.policyMismatches)); s["seq"] = .str(String(sa.seq))
            s["replay-bitmap"] = .str(sa.replayBitmap)
            s["created"] = .str(String(sa.created)); s["last-used"] = .str(String(sa.lastUsed))
            sasSection[String(i + 1)] = .section(s)
        }
        m["sas"] = .section(sasSection)
        var polSection = VICIMessage()
        for (i, p) in policies.enumerated() {
            var s = VICIMessage()
            s["src"] = .str(p.src); s["dst"] = .str(p.dst); s["proto"] = .str(p.proto); s["dir"] = .str(p.dir)
            if let sp = p.sport { s["sport"] = .str(sp) }
            if let dp = p.dport { s["dport"] = .str(dp) }
            s["priority"] = .str(String(p.priority)); s["action"] = .str(p.action)
            if p.acquire { s["acquire"] = .str("yes") }
            s["rules"] = .list(p.rules.map { Array($0.utf8) })
            s["packets"] = .str(String(p.packets)); s["bytes"] = .str(String(p.bytes))
            polSection[String(i + 1)] = .section(s)
        }
        m["policies"] = .section(polSection)
        var dropSection = VICIMessage()
        for d in drops { dropSection[d.name] = .str(String(d.count)) }
        m["drops"] = .section(dropSection)
        var tun = VICIMessage()
        tun["name"] = .str(tunName); tun["mtu"] = .str(String(tunMTU))
        m["tun"] = .section(tun)
        var udp = VICIMessage()
        udp["keepalives"] = .str(String(udpKeepalives)); udp["non-esp"] = .str(String(udpNonESP))
        m["udp-encap"] = .section(udp)
        return m
    }

    public init(message m: VICIMessage) {
        for (_, e) in m.sectionEntries("sas") {
            guard case .section(let s) = e else { continue }
            var r = SA()
            r.src = s.str("src"); r.dst = s.str("dst"); r.proto = s.str("proto"); r.mode = s.str("mode")
            r.spi = UInt32(s.str("spi")) ?? 0
            r.encapSourcePort = UInt16(s.str("encap-sport")); r.encapDestinationPort = UInt16(s.str("encap-dport"))
            r.reqid = UInt32(s.str("reqid")) ?? 0
            r.encryption = s.str("encryption"); r.integrity = s.str("integrity")
            r.esn = s.str("esn") == "yes"; r.replayWindow = Int(s.str("replay-window")) ?? 0
            r.outbound = s.str("outbound") == "yes"
            r.packets = s.num("packets"); r.bytes = s.num("bytes")
            r.replayDrops = s.num("replay-drops"); r.integrityFailures = s.num("integrity-failures")
            r.policyMismatches = s.num("policy-mismatches"); r.seq = s.num("seq")
            r.replayBitmap = s.str("replay-bitmap"); r.created = s.num("created"); r.lastUsed = s.num("last-used")
            sas.append(r)
        }
        for (_, e) in m.sectionEntries("policies") {
            guard case .section(let s) = e else { continue }
            var r = Policy()
            r.src = s.str("src"); r.dst = s.str("dst"); r.proto = s.str("proto"); r.dir = s.str("dir")
            r.sport = s.optionalStr("sport"); r.dport = s.optionalStr("dport")
            r.priority = UInt32(s.str("priority")) ?? 0; r.action = s.str("action")
            r.acquire = s.str("acquire") == "yes"
            if case .list(let items)? = s["rules"] { r.rules = items.map { String(decoding: $0, as: UTF8.self) } }
            r.packets = s.num("packets"); r.bytes = s.num("bytes")
            policies.append(r)
        }
        for (k, e) in m.sectionEntries("drops") {
            if case .value(let v) = e { drops.append((k, UInt64(String(decoding: v, as: UTF8.self)) ?? 0)) }
        }
        if case .section(let t)? = m["tun"] { tunName = t.str("name"); tunMTU = Int(t.str("mtu")) ?? 0 }
        if case .section(let u)? = m["udp-encap"] { udpKeepalives = u.num("keepalives"); udpNonESP = u.num("non-esp") }
    }

    // MARK: Rendering

    public func json() -> String {
        func opt<T>(_ v: T?) -> Any { v.map { $0 as Any } ?? NSNull() }
        let saObjects: [[String: Any]] = sas.map { sa in
            var encap: Any = NSNull()
            if let sp = sa.encapSourcePort, let dp = sa.encapDestinationPort { encap = ["sport": Int(sp), "dport": Int(dp)] }
            return [
                "src": sa.src, "dst": sa.dst, "proto": sa.proto, "spi": Int(sa.spi),
                "spi_hex": String(format: "0x%08x", sa.spi), "mode": sa.mode, "encap": encap, "reqid": Int(sa.reqid),
                "encryption": sa.encryption, "integrity": sa.integrity, "esn": sa.esn, "replay_window": sa.replayWindow,
                "outbound": sa.outbound, "packets": sa.packets, "bytes": sa.bytes, "replay_drops": sa.replayDrops,
                "integrity_failures": sa.integrityFailures, "policy_mismatches": sa.policyMismatches, "seq": sa.seq,
                "replay_bitmap": sa.replayBitmap, "created": sa.created, "last_used": sa.lastUsed,
            ]
        }
        let policyObjects: [[String: Any]] = policies.map { p in
            [
                "src": p.src, "dst": p.dst, "sport": opt(p.sport), "dport": opt(p.dport),
                "proto": Int(p.proto).map { $0 as Any } ?? p.proto, "dir": p.dir, "priority": p.priority,
                "action": p.action, "acquire": p.acquire, "rules": p.rules, "packets": p.packets, "bytes": p.bytes,
            ]
        }
        var dropObject: [String: Any] = [:]
        for d in drops { dropObject[d.name] = d.count }
        let root: [String: Any] = [
            "sas": saObjects, "policies": policyObjects, "drops": dropObject,
            "tun": ["name": tunName, "mtu": tunMTU],
            "udp_encap": ["keepalives": udpKeepalives, "non_esp": udpNonESP],
        ]
        let data = (try? JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// `setkey -D` / `setkey -DP` style, plus the counters setkey never had.
    public func text() -> String {
        var out = "Security Associations (\(sas.count))\n"
        for sa in sas {
            let ports = sa.encapSourcePort.map { "[\($0)]" } ?? ""
            let dports = sa.encapDestinationPort.map { "[\($0)]" } ?? ""
            out += "\(sa.src)\(ports) \(sa.dst)\(dports)\n"
            out += "\t\(sa.proto) mode=\(sa.mode) spi=\(sa.spi)(\(String(format: "0x%08x", sa.spi))) reqid=\(sa.reqid)"
            out += " \(sa.outbound ? "out" : "in")\n"
            if sa.proto != "ah" { out += "\tE: \(sa.encryption)" } else { out += "\t" }
            if sa.integrity != "none" { out += (sa.proto != "ah" ? "  " : "") + "A: \(sa.integrity)" }
            out += "\n"
            out += "\tseq=\(String(format: "0x%08llx", sa.seq)) replay=\(sa.replayWindow) esn=\(sa.esn ? "on" : "off")"
            out += " bitmap=0x\(sa.replayBitmap)\n"
            out += "\tcurrent: \(sa.bytes)(bytes) \(sa.packets)(packets)\n"
            out += "\tdrops: replay=\(sa.replayDrops) integrity=\(sa.integrityFailures) policy=\(sa.policyMismatches)\n"
            out += "\tcreated: \(Self.date(sa.created))  last used: \(sa.lastUsed == 0 ? "never" : Self.date(sa.lastUsed))\n"
        }
        out += "\nSecurity Policies (\(policies.count))\n"
        for p in policies {
            let proto = p.proto
            out += "\(p.src)[\(p.sport ?? "any")] \(p.dst)[\(p.dport ?? "any")] \(proto)\n"
            let prio = p.priority == PolicyConfig.defaultPriority ? "def" : String(p.priority)
            out += "\t\(p.dir) prio \(prio) \(p.action)\(p.acquire ? " trap" : "")\n"
            for r in p.rules { out += "\t\(r)\n" }
            out += "\tcurrent: \(p.bytes)(bytes) \(p.packets)(packets)\n"
        }
        let nonZero = drops.filter { $0.count > 0 }
        out += "\nDrops: " + (nonZero.isEmpty ? "none" : nonZero.map { "\($0.name)=\($0.count)" }.joined(separator: " ")) + "\n"
        out += "TUN \(tunName) mtu \(tunMTU); ESP-in-UDP keepalives \(udpKeepalives), non-ESP \(udpNonESP)\n"
        return out
    }

    static func date(_ t: UInt64) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date(timeIntervalSince1970: TimeInterval(t))) + "Z"
    }
}

extension VICIMessage.Element {
    static func str(_ s: String) -> VICIMessage.Element { .value(Array(s.utf8)) }
}

extension VICIMessage {
    func str(_ key: String) -> String {
        if case .value(let v)? = self[key] { return String(decoding: v, as: UTF8.self) }
        return ""
    }
    func optionalStr(_ key: String) -> String? {
        if case .value(let v)? = self[key] { return String(decoding: v, as: UTF8.self) }
        return nil
    }
    func num(_ key: String) -> UInt64 { UInt64(str(key)) ?? 0 }
    func sectionEntries(_ key: String) -> [(String, VICIMessage.Element)] {
        if case .section(let s)? = self[key] { return s.entries.map { ($0.key, $0.element) } }
        return []
    }
}
