#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TernWire

/// Converts Libreswan/Openswan's ipsec.conf `conn` sections and ipsec.secrets entries into
/// swanctl.conf text (`tern import`).
///
/// Every setting is either converted or reported: `notes` holds one warning per setting (with
/// its file:line) that swanctl.conf cannot express, expresses differently, or that Tern does
/// not need, and why. Settings Libreswan leaves to its defaults (lifetimes, rekey margin,
/// keying tries, MOBIKE, unique IDs) are written out with Libreswan's values, since strongSwan's
/// defaults differ. The result parses with `SwanctlParser` into the engine's `ConnectionPolicy`
/// and, for what Tern supports, passes `SwanctlAdmission`; the same text loads into strongSwan's swanctl.
public enum LibreswanImport {
    public enum LocalSide: String, Sendable, CaseIterable { case left, right }

    public struct Result: Sendable {
        /// swanctl.conf text.
        public var text: String
        /// What was not converted as written, in file order.
        public var notes: [ConfigWarning]
        /// The connections written, in file order.
        public var connections: [String]
    }

    public typealias IncludeResolver = (String, SourceLocation) throws(ConfigError) -> [(text: String, file: String)]

    /// Reads ipsec.conf (and ipsec.secrets) from disk, following `include` globs, and converts them.
    public static func convert(configPath: String, secretsPath: String? = nil, localSide: LocalSide = .left) throws(ConfigError) -> Result {
        let resolver: IncludeResolver = { pattern, at throws(ConfigError) in
            var out: [(text: String, file: String)] = []
            for file in try SwanctlLoader.expand(pattern, relativeTo: at) {
                let read: ([UInt8], UInt32, UInt32)
                do throws(ConfigError) { read = try ConfigFileReader.read(file, kind: "Libreswan configuration file") } catch {
                    throw ConfigError(location: at, message: error.message, hint: error.hint)
                }
                out.append((String(decoding: read.0, as: UTF8.self), file))
            }
            return out
        }
        let conf = try ConfigFileReader.read(configPath, kind: "ipsec.conf")
        var secrets: String?
        if let secretsPath {
            secrets = String(decoding: try ConfigFileReader.read(secretsPath, kind: "ipsec.secrets").0, as: UTF8.self)
        }
        return try convert(config: String(decoding: conf.0, as: UTF8.self), file: configPath,
                           secrets: secrets, secretsFile: secretsPath ?? "ipsec.secrets",
                           localSide: localSide, include: resolver)
    }

    /// Converts ipsec.conf text (and ipsec.secrets text). Without `include`, include lines are
    /// reported and skipped.
    public static func convert(config: String, file: String, secrets: String? = nil, secretsFile: String = "ipsec.secrets",
                               localSide: LocalSide = .left, include: IncludeResolver? = nil) throws(ConfigError) -> Result {
        var notes: [ConfigWarning] = []
        let sections = try LibreswanSyntax.parse(config, file: file, include: include, notes: &notes)
        var secretEntries: [LibreswanSecret] = []
        if let secrets {
            secretEntries = try LibreswanSecretsSyntax.parse(secrets, file: secretsFile, include: include, notes: &notes)
        }
        var converter = Converter(sections: sections, localSide: localSide)
        converter.notes = notes
        return try converter.run(secrets: secretEntries, source: file, secretsSource: secrets == nil ? nil : secretsFile)
    }
}

// MARK: - the conversion

private struct Converter {
    let sections: [LibreswanSection]
    let localSide: LibreswanImport.LocalSide
    var notes: [ConfigWarning] = []

    /// Settings from `config setup` that shape every connection.
    var uniqueIDs = true
    var strictCRL = false

    var out = SwanctlWriter()
    var pools = SwanctlWriter()
    var connectionNames: [String] = []

    init(sections: [LibreswanSection], localSide: LibreswanImport.LocalSide) {
        self.sections = sections
        self.localSide = localSide
    }

    mutating func note(_ at: SourceLocation, _ message: String) {
        notes.append(ConfigWarning(location: at, message: message))
    }

    mutating func run(secrets: [LibreswanSecret], source: String, secretsSource: String?) throws(ConfigError) -> LibreswanImport.Result {
        var conns: [String: LibreswanSection] = [:]
        var order: [String] = []
        var defaults: [LibreswanSection] = []
        for s in sections {
            switch s.kind {
            case .config: setup(s)
            case .conn where s.name == "%default": defaults.append(s)
            case .conn:
                if conns[s.name] != nil {
                    throw ConfigError(location: s.location, message: "conn \(s.name) is defined twice", hint: "rename one of them")
                }
                conns[s.name] = s
                order.append(s.name)
            }
        }
        let referenced = Set(sections.flatMap { s in
            s.settings.filter { $0.key == "also" }.flatMap { $0.value.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init) }
        })

        out.line("connections {")
        out.indent += 1
        for name in order {
            let section = conns[name]!
            var resolved: [String: LibreswanSetting] = [:]
            var stack: [String] = []
            try resolve(section, into: &resolved, conns: conns, stack: &stack)
            for d in defaults { for s in d.settings where s.key != "also" && resolved[s.key] == nil { resolved[s.key] = s } }
            if let auto = resolved["auto"], auto.value == "ignore" {
                note(auto.location, "conn \(name): auto=ignore, not converted (Libreswan does not load it either)")
                continue
            }
            if resolved["left"] == nil || resolved["right"] == nil {
                if referenced.contains(name) { continue }   // a fragment for also=, carried into the conns that use it
                note(section.location, "conn \(name): no \(resolved["left"] == nil ? "left" : "right")=, so it is not a connection; not converted")
                continue
            }
            try connection(name, section: section, settings: resolved)
        }
        out.indent -= 1
        out.line("}")
        if !pools.lines.isEmpty {
            out.line("pools {")
            out.lines += pools.lines.map { "    " + $0 }
            out.line("}")
        }
        secretsSection(secrets)

        var header = ["# swanctl.conf converted by `tern import` from \(source)" + (secretsSource.map { " and \($0)" } ?? "")]
        if notes.isEmpty {
            header.append("# Everything was converted.")
        } else {
            header.append("# Not converted as written (\(notes.count)):")
            header += notes.map { "#   \($0.location.file):\($0.location.line): \($0.message)" }
        }
        let text = (header + [""] + out.lines).joined(separator: "\n") + "\n"
        return LibreswanImport.Result(text: text, notes: notes, connections: connectionNames)
    }

    /// The conn's own settings, then (recursively, in order) those of each `also=` conn that are not set yet.
    mutating func resolve(_ s: LibreswanSection, into resolved: inout [String: LibreswanSetting],
                          conns: [String: LibreswanSection], stack: inout [String]) throws(ConfigError) {
        stack.append(s.name)
        defer { stack.removeLast() }
        for setting in s.settings where setting.key != "also" && resolved[setting.key] == nil {
            resolved[setting.key] = setting
        }
        for also in s.settings where also.key == "also" {
            for target in also.value.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init) {
                guard let t = conns[target] else {
                    throw ConfigError(location: also.location, message: "also=\(target): there is no conn \(target)", hint: "define `conn \(target)` or fix the name")
                }
                guard !stack.contains(target) else {
                    throw ConfigError(location: also.location, message: "also=\(target) includes itself (\((stack + [target]).joined(separator: " → ")))", hint: "break the cycle")
                }
                try resolve(t, into: &resolved, conns: conns, stack: &stack)
            }
        }
    }

    mutating func setup(_ s: LibreswanSection) {
        for kv in s.settings {
            switch kv.key {
            case "uniqueids":
                uniqueIDs = !["no", "false"].contains(kv.value.lowercased())
            case "strictcrlpolicy":
                strictCRL = ["yes", "true"].contains(kv.value.lowercased())
            case "protostack", "nat_traversal", "nat-traversal", "oe", "keep_alive", "keep-alive":
                note(kv.location, "config setup \(kv.key)=\(kv.value): not needed (Tern has one IPsec stack, always does NAT traversal, no opportunistic encryption)")
            case "logfile", "plutodebug", "logtime", "logappend", "logip", "plutostderrlog", "audit-log":
                note(kv.location, "config setup \(kv.key): logging is ternd's --log-level/--log-levels/--log-format (journald with the systemd unit)")
            case "virtual_private", "virtual-private":
                note(kv.location, "config setup \(kv.key): swanctl has no equivalent; remote traffic selectors are the peers' narrowed local_ts/remote_ts")
            case "interfaces", "listen":
                note(kv.location, "config setup \(kv.key): ternd listens on all addresses; connections pick theirs with local_addrs")
            default:
                note(kv.location, "config setup \(kv.key)=\(kv.value): a daemon setting with no swanctl.conf equivalent")
            }
        }
    }

    // MARK: one conn

    mutating func connection(_ name: String, section: LibreswanSection, settings: [String: LibreswanSetting]) throws(ConfigError) {
        var used: Set<String> = []
        func value(_ key: String) -> LibreswanSetting? {
            guard let s = settings[key] else { return nil }
            used.insert(key)
            return s
        }
        func first(_ keys: String...) -> LibreswanSetting? {
            for k in keys { if let s = value(k) { return s } }
            return nil
        }
        // Which side is this host: left, unless told otherwise or only right is the default route.
        var local = localSide.rawValue, remote = local == "left" ? "right" : "left"
        if localSide == .left, settings["right"]?.value == "%defaultroute", settings["left"]?.value != "%defaultroute" {
            (local, remote) = (remote, local)
            note(settings["right"]!.location, "conn \(name): right=%defaultroute, so right is taken as this host (local) and left as the peer")
        }
        let context = "conn \(name)"

        // Addresses.
        let l = value(local)!, r = value(remote)!
        for side in [l, r] where ["%opportunistic", "%opportunisticgroup", "%group"].contains(side.value) {
            note(side.location, "\(context): \(side.key)=\(side.value) is opportunistic encryption, which swanctl.conf cannot express; not converted")
            return
        }
        let localAddrs = address(l)
        let remoteAddrs = address(r)

        // Mode.
        var mode = "tunnel"
        if let t = value("type") {
            switch t.value.lowercased() {
            case "tunnel": mode = "tunnel"
            case "transport": mode = "transport"
            case "passthrough", "pass": mode = "pass"
            case "drop": mode = "drop"
            case "reject":
                mode = "drop"
                note(t.location, "\(context): type=reject written as mode = drop (swanctl sends no ICMP rejects)")
            default:
                throw ConfigError(location: t.location, message: "type=\(t.value) is not a Libreswan connection type", hint: "write tunnel, transport, passthrough, drop or reject")
            }
        }

        // Version.
        for k in ["ikev2", "keyexchange"] {
            guard let v = value(k) else { continue }
            let s = v.value.lowercased()
            if (k == "ikev2" && ["no", "never"].contains(s)) || (k == "keyexchange" && s == "ikev1") {
                note(v.location, "\(context): \(k)=\(v.value) asks for IKEv1, which Tern does not speak; written as version = 2 (the peer must speak IKEv2)")
            } else if !(k == "ikev2" && ["yes", "insist", "propose", "permit"].contains(s)) && !(k == "keyexchange" && ["ike", "ikev2"].contains(s)) {
                throw ConfigError(location: v.location, message: "\(k)=\(v.value) is not a Libreswan value", hint: k == "ikev2" ? "write insist, yes, no" : "write ike, ikev1 or ikev2")
            }
        }

        // Authentication.
        var localAuth = "pubkey", remoteAuth = "pubkey"
        if let a = value("authby") {
            let methods = a.value.lowercased().split(separator: ",").map { String($0).trimmingCharacters() }
            func map(_ m: String) -> String? {
                switch m {
                case "secret", "psk": "psk"
                case "rsasig", "rsa", "rsa-sha1", "rsa-sha2", "rsa-sha2_256", "rsa-sha2_384", "rsa-sha2_512", "ecdsa",
                     "ecdsa-sha2", "ecdsa-sha2_256", "ecdsa-sha2_384", "ecdsa-sha2_512": "pubkey"
                default: nil
                }
            }
            if methods == ["never"] {
                if mode != "pass" && mode != "drop" {
                    note(a.location, "\(context): authby=never without type=passthrough; written as pubkey")
                }
            } else if methods.contains("null") {
                note(a.location, "\(context): authby=null (RFC 7619 NULL authentication) is supported neither by swanctl.conf nor by Tern; not converted")
                return
            } else {
                let mapped = methods.compactMap(map)
                guard mapped.count == methods.count, let m = mapped.first else {
                    throw ConfigError(location: a.location, message: "authby=\(a.value) is not a Libreswan authentication method",
                                      hint: "write secret, rsasig, ecdsa, rsa-sha2 or null")
                }
                if Set(mapped).count > 1 {
                    note(a.location, "\(context): authby=\(a.value) allows either; swanctl.conf needs one per side, written as \(m)")
                }
                localAuth = m; remoteAuth = m
            }
        }
        for (side, key) in [(local, "auth"), (remote, "auth")] {
            guard let v = value(side + key) else { continue }
            let m: String
            switch v.value.lowercased() {
            case "secret", "psk": m = "psk"
            case "rsasig", "rsa", "ecdsa", "rsa-sha2", "pubkey": m = "pubkey"
            case "eaponly", "eap":
                m = "eap"
                note(v.location, "\(context): \(v.key)=\(v.value) written as auth = eap; Tern does not support EAP yet (strongSwan does)")
            default:
                note(v.location, "\(context): \(v.key)=\(v.value) has no swanctl.conf equivalent; kept authby's method")
                continue
            }
            if side == local { localAuth = m } else { remoteAuth = m }
        }

        // Identities: Libreswan defaults both to the side's IP address.
        func identity(_ side: String, auth: String, address: LibreswanSetting) -> String? {
            if let id = value(side + "id") {
                switch id.value {
                case "%fromcert", "%none", "": return nil
                case "%any": return "%any"
                default:
                    if id.value.hasPrefix("@[") {
                        note(id.location, "\(context): \(id.key)=\(id.value) (a KEY_ID in text form) written as keyid:\(id.value.dropFirst(2).dropLast())")
                        return "keyid:" + id.value.dropFirst(2).dropLast()
                    }
                    if id.value.hasPrefix("%") {
                        note(id.location, "\(context): \(id.key)=\(id.value) has no swanctl.conf equivalent; the identity is left to the default")
                        return nil
                    }
                    return id.value
                }
            }
            if IPAddress(address.value) != nil { return address.value }
            return nil
        }
        let localID = identity(local, auth: localAuth, address: l)
        let remoteID = identity(remote, auth: remoteAuth, address: r)

        // Certificates.
        var localCerts: [String] = [], remoteCerts: [String] = []
        for (side, certs) in [(local, "cert"), (remote, "cert")] {
            guard let c = value(side + certs) else { continue }
            let file: String
            if c.value.contains("/") || [".pem", ".crt", ".der", ".cer"].contains(where: { c.value.lowercased().hasSuffix($0) }) {
                file = c.value
            } else {
                file = c.value + ".pem"
                note(c.location, "\(context): \(c.key)=\(c.value) is an NSS nickname; export it with `certutil -L -d sql:/var/lib/ipsec/nss -n \"\(c.value)\" -a > /etc/swanctl/x509/\(file)`"
                     + (side == local ? " and its key with `pk12util -d sql:/var/lib/ipsec/nss -n \"\(c.value)\" -o key.p12` then `openssl pkcs12 -in key.p12 -nocerts -nodes -out /etc/swanctl/private/\(c.value).pem` (chmod 600)" : ""))
            }
            if side == local { localCerts.append(file) } else { remoteCerts.append(file) }
        }
        for side in [local, remote] {
            if let ca = value(side + "ca") {
                if side == remote {
                    note(ca.location, "\(context): \(ca.key)=\(ca.value): swanctl.conf pins a peer's CA by file, not by name; put that CA's certificate into x509ca/ and add `cacerts = FILE` to the remote section (without it any CA in x509ca/ is trusted)")
                } else {
                    note(ca.location, "\(context): \(ca.key)=\(ca.value): not needed; the local certificate's chain comes from x509ca/")
                }
            }
            if let key = value(side + "rsasigkey") ?? value(side + "pubkey"), !["%cert", "%none", ""].contains(key.value) {
                note(key.location, "\(context): \(key.key): a raw public key; swanctl.conf wants it as a file (`pubkeys = FILE`), and Tern supports certificates only")
            }
            if let send = value(side + "sendcert"), side == remote {
                note(send.location, "\(context): \(send.key) is about the peer's behaviour; nothing to write")
            }
        }
        var sendCert: String?
        if let s = value(local + "sendcert") {
            switch s.value.lowercased() {
            case "always", "yes": sendCert = "always"
            case "sendifasked", "ifasked": sendCert = "ifasked"
            case "never", "no": sendCert = "never"
            default: throw ConfigError(location: s.location, message: "\(s.key)=\(s.value) is not a Libreswan value", hint: "write always, sendifasked or never")
            }
        }

        // Subnets and protocol/port: one child per combination, as Libreswan's leftsubnets= does.
        let localNets = try subnets(local, context: context, value: value)
        let remoteNets = try subnets(remote, context: context, value: value)
        let localPort = try protoport(local, value: value)
        let remotePort = try protoport(remote, value: value)

        // Proposals.
        var ikeProposals = ["default"]
        var ikeGroups: [String] = []
        if settings["ike"] == nil {
            note(section.location, "\(context): no ike=; written as proposals = default, strongSwan's default proposals (close to Libreswan's, not the same list)")
        }
        if let ike = value("ike") {
            let c = try LibreswanProposals.convert(ike.value, kind: .ike, at: ike.location, key: "ike", notes: &notes)
            ikeProposals = c.proposals
            ikeGroups = c.groups.isEmpty ? LibreswanProposals.defaultIKEGroups : c.groups
        }
        var pfs = true
        if let p = value("pfs") {
            switch p.value.lowercased() {
            case "yes", "true": pfs = true
            case "no", "false": pfs = false
            default: throw ConfigError(location: p.location, message: "pfs=\(p.value) is not yes or no", hint: "write pfs=yes or pfs=no")
            }
        }
        var phase2 = "esp"
        if let p = value("phase2") {
            phase2 = p.value.lowercased()
            guard phase2 == "esp" || phase2 == "ah" else {
                throw ConfigError(location: p.location, message: "phase2=\(p.value) is not esp or ah", hint: "write phase2=esp or phase2=ah")
            }
        }
        var childProposals: [String]? = nil
        if let e = first("esp", "phase2alg", "ah") {
            let c = try LibreswanProposals.convert(e.value, kind: phase2 == "ah" ? .ah : .esp, at: e.location, key: e.key, notes: &notes)
            childProposals = c.proposals.map { p in
                if !pfs {
                    if !c.groups.isEmpty {
                        note(e.location, "\(context): pfs=no, so the key-exchange groups in \(e.key)= are dropped")
                    }
                    return p.split(separator: "-").filter { LibreswanProposals.group(String($0)) == nil }.joined(separator: "-")
                }
                // pfs=yes (the default) without a group: rekeys use the IKE SA's group.
                return c.groups.isEmpty && !ikeGroups.isEmpty ? p + "-" + ikeGroups.joined(separator: "-") : p
            }
        } else if pfs {
            if settings["ike"] != nil, !ikeGroups.isEmpty {
                childProposals = ["aes256gcm16-aes128gcm16-chacha20poly1305-\(ikeGroups.joined(separator: "-"))",
                                  "aes256-aes128-sha512-sha256-\(ikeGroups.joined(separator: "-"))"]
            } else {
                note(section.location, "\(context): pfs=yes (Libreswan's default) with default algorithms: written as esp_proposals = default, which rekeys without PFS; name the groups with esp=…-modp2048 to keep PFS")
            }
        }

        // Lifetimes: Libreswan rekeys rekeymargin (9m, plus up to rekeyfuzz 100 %) before the lifetime.
        var margin: UInt64 = 540, fuzz: UInt64 = 100
        if let m = first("rekeymargin", "margintime") { margin = try duration(m) }
        if let f = value("rekeyfuzz") {
            guard f.value.hasSuffix("%"), let n = UInt64(f.value.dropLast()) else {
                throw ConfigError(location: f.location, message: "rekeyfuzz=\(f.value) is not a percentage", hint: "write e.g. rekeyfuzz=100%")
            }
            fuzz = n
        }
        var rekey = true
        if let rk = value("rekey") {
            rekey = !["no", "false"].contains(rk.value.lowercased())
            if !rekey {
                note(rk.location, "\(context): rekey=no: neither SA is rekeyed; the CHILD SA expires at its lifetime, but swanctl.conf has no expiry for an IKE SA that is not rekeyed, so the IKE SA stays up")
            }
        }
        let ikeLife = try first("ikelifetime", "ike_lifetime").map(duration) ?? 28_800
        let childLife = try first("salifetime", "keylife", "lifetime").map(duration) ?? 28_800
        func schedule(_ life: UInt64) -> (rekey: UInt64, rand: UInt64, margin: UInt64) {
            let m = min(margin, life / 2)
            let rand = min(m * fuzz / 100, (life - m) / 2)
            return (life - m, rand, m)
        }
        let ikeTimes = schedule(ikeLife), childTimes = schedule(childLife)

        // DPD and liveness.
        var dpdDelay: UInt64?, dpdTimeout: UInt64?
        var dpdAction = "clear"
        if let d = value("dpddelay") { dpdDelay = try duration(d) }
        if let d = value("dpdtimeout") { dpdTimeout = try duration(d) }
        if let a = value("dpdaction") {
            switch a.value.lowercased() {
            case "clear": dpdAction = "clear"
            case "hold": dpdAction = "trap"
            case "restart": dpdAction = "restart"
            case "restart_by_peer":
                dpdAction = "restart"
                note(a.location, "\(context): dpdaction=restart_by_peer written as restart (swanctl.conf has no restart-by-peer)")
            default: throw ConfigError(location: a.location, message: "dpdaction=\(a.value) is not a Libreswan value", hint: "write clear, hold or restart")
            }
        } else if dpdDelay != nil {
            dpdAction = "trap"   // Libreswan's default dpdaction=hold
        }

        // Start.
        var start = "none"
        if let a = value("auto") {
            switch a.value.lowercased() {
            case "start", "up": start = "start"
            case "add": start = "none"
            case "route", "ondemand": start = "trap"
            case "keep":
                start = "start"
                note(a.location, "\(context): auto=keep written as start_action = start (swanctl.conf has no keep)")
            default: throw ConfigError(location: a.location, message: "auto=\(a.value) is not a Libreswan value", hint: "write add, start, route or ignore")
            }
        } else {
            note(section.location, "\(context): no auto=; Libreswan would not load it (auto=ignore), written as loaded but not started (start_action = none)")
        }

        // Virtual IPs and pools.
        var vips: [String] = [], poolNames: [String] = []
        if let s = value(local + "sourceip") {
            if s.value == "%config" || s.value == "%modecfg" {
                vips.append(localNets.first?.contains(":") == true ? "::" : "0.0.0.0")
            } else {
                note(s.location, "\(context): \(s.key)=\(s.value): swanctl.conf has no source address for the routes into the tunnel; put \(s.value) on an interface, and the kernel picks it when it lies inside local_ts")
            }
        }
        if let s = value(local + "modecfgclient"), ["yes", "true"].contains(s.value.lowercased()), vips.isEmpty {
            vips.append("0.0.0.0")
        }
        if let s = value(remote + "sourceip") {
            note(s.location, "\(context): \(s.key)=\(s.value) is the peer's business; nothing to write")
        }
        if let p = value(remote + "addresspool") {
            let poolName = name + "-pool"
            pools.line("\(poolName) {")
            pools.line("    addrs = \(p.value)")
            if let dns = value("modecfgdns") ?? value("modecfgdns1") {
                pools.line("    dns = \(dns.value.split(whereSeparator: { $0 == " " || $0 == "," }).joined(separator: ", "))")
            }
            pools.line("}")
            poolNames.append(poolName)
        }

        // Everything else, named.
        var connExtra: [(String, String)] = [], childExtra: [(String, String)] = []
        if let v = value("keyingtries") { connExtra.append(("keyingtries", v.value == "%forever" ? "0" : v.value)) } else { connExtra.append(("keyingtries", "0")) }
        if let v = value("fragmentation") {
            let map = ["yes": "yes", "no": "no", "force": "force", "insist": "force", "accept": "accept"]
            guard let f = map[v.value.lowercased()] else {
                throw ConfigError(location: v.location, message: "fragmentation=\(v.value) is not a Libreswan value", hint: "write yes, no or force")
            }
            connExtra.append(("fragmentation", f))
        }
        if let v = value("mobike") { connExtra.append(("mobike", ["yes", "true"].contains(v.value.lowercased()) ? "yes" : "no")) } else { connExtra.append(("mobike", "no")) }
        if let v = value("encapsulation") {
            switch v.value.lowercased() {
            case "yes", "true": connExtra.append(("encap", "yes"))
            case "auto": break
            default: note(v.location, "\(context): encapsulation=\(v.value): swanctl.conf cannot turn NAT traversal off; UDP encapsulation is used when a NAT is detected")
            }
        }
        if let v = value(local + "ikeport") { connExtra.append(("local_port", v.value)) }
        if let v = value(remote + "ikeport") { connExtra.append(("remote_port", v.value)) }
        if let v = value("replay-window") ?? value("replay_window") { childExtra.append(("replay_window", v.value)) }
        if let v = value("reqid") { childExtra.append(("reqid", v.value)) }
        if let v = value("compress"), ["yes", "true"].contains(v.value.lowercased()) { childExtra.append(("ipcomp", "yes")) }
        if let v = value(local + "updown") {
            childExtra.append(("updown", v.value))
            note(v.location, "\(context): \(v.key)=\(v.value) written as updown; the script is called with strongSwan's PLUTO_* variables and verbs, which differ from Libreswan's _updown")
        }
        if let v = value("narrowing"), !["yes", "true"].contains(v.value.lowercased()) {
            note(v.location, "\(context): narrowing=\(v.value): swanctl.conf cannot forbid traffic-selector narrowing")
        }

        // Whatever is left is reported, one line each.
        let explained: [String: String] = [
            "nexthop": "the kernel's routing table decides the next hop",
            "ikepad": "not configurable in swanctl.conf",
            "sha2-truncbug": "the pre-RFC 4868 96-bit SHA-256 truncation is not supported",
            "sha2_truncbug": "the pre-RFC 4868 96-bit SHA-256 truncation is not supported",
            "nic-offload": "no NIC offload (Tern's data plane is in userspace)",
            "mtu": "ternd sizes its TUN from the underlay MTU (--underlay-mtu, --tun-mtu)",
            "metric": "ternd routes into its TUN through its own table (--route-table)",
            "priority": "policy priorities are derived from the traffic selectors",
            "tfc": "traffic flow confidentiality padding is not supported",
            "send-no-esp-tfc": "traffic flow confidentiality padding is not supported",
            "mark": "XFRM marks have no meaning for Tern's data plane",
            "mark-in": "XFRM marks have no meaning for Tern's data plane",
            "mark-out": "XFRM marks have no meaning for Tern's data plane",
            "vti-interface": "route-based VTI interfaces are not supported (ternd routes into its TUN)",
            "vti-routing": "route-based VTI interfaces are not supported (ternd routes into its TUN)",
            "vti-shared": "route-based VTI interfaces are not supported (ternd routes into its TUN)",
            "ipsec-interface": "XFRM interfaces are not supported (ternd routes into its TUN)",
            "aggressive": "Aggressive Mode is IKEv1",
            "aggrmode": "Aggressive Mode is IKEv1",
            "xauth": "XAUTH is IKEv1", "xauthby": "XAUTH is IKEv1", "xauthfail": "XAUTH is IKEv1",
            "xauthserver": "XAUTH is IKEv1", "xauthclient": "XAUTH is IKEv1", "xauthusername": "XAUTH is IKEv1",
            "modecfgpull": "IKEv2 configuration payloads are always requested with vips",
            "modecfgdns": "DNS servers go with an address pool (rightaddresspool)",
            "modecfgdomains": "pool attributes other than addresses and DNS are not converted",
            "modecfgbanner": "pool attributes other than addresses and DNS are not converted",
            "modecfgserver": "the server side of configuration payloads is a pool (rightaddresspool)",
            "cisco-unity": "Cisco Unity extensions are not supported",
            "remote-peer-type": "Cisco-specific behaviour is not supported",
            "remote_peer_type": "Cisco-specific behaviour is not supported",
            "nm-configured": "NetworkManager integration is not part of swanctl.conf",
            "retransmit-timeout": "retransmission is ternd's --retransmit-timeout/--retransmit-tries (strongswan.conf for charon)",
            "retransmit-interval": "retransmission is ternd's --retransmit-timeout/--retransmit-base (strongswan.conf for charon)",
            "nat-keepalive": "NAT keepalives are sent whenever a NAT is detected",
            "nat-ikev1-method": "IKEv1 only",
            "initial-contact": "INITIAL_CONTACT is sent on the first IKE SA to a peer",
            "send-vendorid": "vendor IDs are not configurable in swanctl.conf",
            "fake-strongswan": "vendor IDs are not configurable in swanctl.conf",
            "decap-dscp": "not configurable in swanctl.conf",
            "nopmtudisc": "not configurable in swanctl.conf",
            "labeled-ipsec": "labeled IPsec (SELinux) is not supported",
            "policy-label": "labeled IPsec (SELinux) is not supported",
            "firewall": "no firewall hooks; use updown",
            "connaddrfamily": "the address family follows the addresses",
            "hostaddrfamily": "the address family follows the addresses",
            "overlapip": "overlapping addresses are not supported",
            "ipsec-max-bytes": "not converted; use life_bytes in the child",
            "ipsec-max-packets": "not converted; use life_packets in the child",
        ]
        for (key, s) in settings.sorted(by: { ($0.value.location.file, $0.value.location.line) < ($1.value.location.file, $1.value.location.line) })
        where !used.contains(key) {
            var base = key
            for side in ["left", "right"] where key.hasPrefix(side) { base = String(key.dropFirst(side.count)) }
            if base == "nexthop" && ["%defaultroute", "%direct"].contains(s.value) { continue }
            if (key.hasPrefix(remote) && base == "nexthop") { note(s.location, "\(context): \(key) is the peer's next hop; nothing to write"); continue }
            if let why = explained[key] ?? explained[base], !why.isEmpty {
                note(s.location, "\(context): \(key)=\(s.value) not converted: \(why)")
            } else {
                note(s.location, "\(context): \(key)=\(s.value) not converted: not a setting the importer knows")
            }
        }

        // Write it.
        connectionNames.append(name)
        out.line("\(SwanctlWriter.name(name)) {")
        out.indent += 1
        out.kv("version", "2")
        out.kv("local_addrs", localAddrs)
        out.kv("remote_addrs", remoteAddrs)
        out.kv("proposals", ikeProposals.joined(separator: ", "))
        if rekey {
            out.kv("rekey_time", SwanctlWriter.duration(ikeTimes.rekey))
            out.kv("over_time", SwanctlWriter.duration(ikeTimes.margin))
            out.kv("rand_time", SwanctlWriter.duration(ikeTimes.rand))
        } else {
            out.kv("rekey_time", "0")
        }
        if let d = dpdDelay { out.kv("dpd_delay", SwanctlWriter.duration(d)) }
        if let d = dpdTimeout { out.kv("dpd_timeout", SwanctlWriter.duration(d)) }
        if uniqueIDs { out.kv("unique", "replace") }
        if let sendCert { out.kv("send_cert", sendCert) }
        for (k, v) in connExtra { out.kv(k, v) }
        if !vips.isEmpty { out.kv("vips", vips.joined(separator: ", ")) }
        if !poolNames.isEmpty { out.kv("pools", poolNames.joined(separator: ", ")) }
        out.line("local {")
        out.indent += 1
        out.kv("auth", localAuth)
        if let localID { out.kv("id", SwanctlWriter.quoted(localID)) }
        if !localCerts.isEmpty { out.kv("certs", localCerts.joined(separator: ", ")) }
        out.indent -= 1
        out.line("}")
        out.line("remote {")
        out.indent += 1
        out.kv("auth", remoteAuth)
        if let remoteID { out.kv("id", SwanctlWriter.quoted(remoteID)) }
        if !remoteCerts.isEmpty { out.kv("certs", remoteCerts.joined(separator: ", ")) }
        if strictCRL && remoteAuth == "pubkey" { out.kv("revocation", "strict") }
        out.indent -= 1
        out.line("}")
        out.line("children {")
        out.indent += 1
        let combinations = localNets.flatMap { ln in remoteNets.map { (ln, $0) } }
        for (i, (ln, rn)) in combinations.enumerated() {
            let childName = combinations.count == 1 ? name
                : "\(name)-\(localNets.firstIndex(of: ln)! + 1)x\(remoteNets.firstIndex(of: rn)! + 1)"
            _ = i
            out.line("\(SwanctlWriter.name(childName)) {")
            out.indent += 1
            out.kv("local_ts", ln + localPort)
            out.kv("remote_ts", rn + remotePort)
            if let childProposals {
                out.kv(phase2 == "ah" ? "ah_proposals" : "esp_proposals", childProposals.joined(separator: ", "))
            }
            out.kv("mode", mode)
            if rekey {
                out.kv("rekey_time", SwanctlWriter.duration(childTimes.rekey))
                out.kv("rand_time", SwanctlWriter.duration(childTimes.rand))
            } else {
                out.kv("rekey_time", "0")
            }
            out.kv("life_time", SwanctlWriter.duration(childLife))
            out.kv("start_action", start)
            out.kv("dpd_action", dpdAction)
            for (k, v) in childExtra { out.kv(k, v) }
            out.indent -= 1
            out.line("}")
        }
        out.indent -= 1
        out.line("}")
        out.indent -= 1
        out.line("}")
    }

    /// left=/right= as swanctl addrs.
    mutating func address(_ s: LibreswanSetting) -> String {
        switch s.value {
        case "%defaultroute", "%any", "%any4", "%any6", "0.0.0.0", "::": return "%any"
        default:
            if s.value.hasPrefix("%") {
                note(s.location, "\(s.key)=\(s.value): written as the name \(s.value.dropFirst()) (resolved when the connection is used)")
                return String(s.value.dropFirst())
            }
            return s.value
        }
    }

    /// leftsubnet(s)= as traffic selectors (`dynamic`: the side's own address).
    mutating func subnets(_ side: String, context: String, value: (String) -> LibreswanSetting?) throws(ConfigError) -> [String] {
        var out: [String] = []
        for key in [side + "subnet", side + "subnets"] {
            guard let s = value(key) else { continue }
            let text = s.value.filter { $0 != "{" && $0 != "}" }
            for item in text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }).map(String.init) {
                if item.hasPrefix("vhost:") || item.hasPrefix("vnet:") || item.hasPrefix("%") {
                    note(s.location, "\(context): \(key)=\(item): virtual-private subnets have no swanctl.conf equivalent; not converted")
                    continue
                }
                if IPPrefix(item) != nil { out.append(item); continue }
                if let a = IPAddress(item) { out.append(item + (a.family == .v4 ? "/32" : "/128")); continue }
                throw ConfigError(location: s.location, message: "\(key)=\(item) is not a subnet", hint: "write e.g. \(key)=10.1.0.0/24 or 2001:db8:1::/64")
            }
        }
        return out.isEmpty ? ["dynamic"] : out
    }

    /// leftprotoport=tcp/22 → `[tcp/22]`.
    mutating func protoport(_ side: String, value: (String) -> LibreswanSetting?) throws(ConfigError) -> String {
        guard let s = value(side + "protoport") else { return "" }
        let parts = s.value.split(separator: "/", maxSplits: 1).map(String.init)
        let proto = parts.first ?? ""
        let port = parts.count > 1 ? parts[1] : ""
        let knownNames = ["tcp", "udp", "icmp", "ipv6-icmp", "icmpv6", "sctp", "gre", "esp", "any", "%any"]
        guard !proto.isEmpty, knownNames.contains(proto.lowercased()) || UInt8(proto) != nil else {
            throw ConfigError(location: s.location, message: "\(s.key)=\(s.value): `\(proto)` is not a protocol", hint: "write e.g. \(s.key)=tcp/22, udp/1701 or 17/%any")
        }
        let p = proto.lowercased() == "%any" ? "any" : (proto.lowercased() == "icmpv6" ? "ipv6-icmp" : proto.lowercased())
        if port.isEmpty || port == "%any" || port == "0" { return "[\(p)]" }
        guard UInt16(port) != nil || port.allSatisfy({ $0.isLetter || $0 == "-" }) else {
            throw ConfigError(location: s.location, message: "\(s.key)=\(s.value): `\(port)` is not a port", hint: "write a port number, a service name or %any")
        }
        return "[\(p)/\(port)]"
    }

    /// Libreswan durations: seconds, or a number with s, m, h or d.
    func duration(_ s: LibreswanSetting) throws(ConfigError) -> UInt64 {
        var t = s.value.lowercased()[...]
        var unit: UInt64 = 1
        if let last = t.last, let u = ["s": 1, "m": 60, "h": 3600, "d": 86_400][String(last)] {
            unit = UInt64(u); t = t.dropLast()
        }
        guard let n = UInt64(t), n <= UInt64(UInt32.max) else {
            throw ConfigError(location: s.location, message: "\(s.key)=\(s.value) is not a duration", hint: "write seconds or a number with s, m, h or d, e.g. 8h")
        }
        return n * unit
    }

    // MARK: secrets

    mutating func secretsSection(_ secrets: [LibreswanSecret]) {
        var written: [(String, [String], String)] = []
        var counts: [String: Int] = [:]
        for s in secrets {
            switch s.kind {
            case .psk, .eap, .ntlm:
                var ids: [String] = []
                for sel in s.selectors {
                    if ["%any", "%any4", "%any6", "0.0.0.0", "::"].contains(sel) { continue }
                    if sel.hasPrefix("%") {
                        notes.append(ConfigWarning(location: s.location, message: "secret selector \(sel) has no swanctl.conf equivalent; the secret is written without it"))
                        continue
                    }
                    ids.append(sel)
                }
                let prefix = s.kind == .psk ? "ike" : s.kind.rawValue.lowercased()
                counts[prefix, default: 0] += 1
                let value: String
                if !s.quoted && (s.value.hasPrefix("0x") || s.value.hasPrefix("0s")) {
                    value = s.value
                } else if s.value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
                    value = "\"" + s.value + "\""
                } else {
                    value = "0x" + s.value.utf8.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
                }
                written.append(("\(prefix)-\(counts[prefix]!)", ids, value))
                if s.kind != .psk {
                    notes.append(ConfigWarning(location: s.location, message: "\(s.kind.rawValue) secret written as \(prefix)-\(counts[prefix]!); Tern does not support EAP yet (strongSwan does)"))
                }
            case .rsa, .ecdsa:
                if s.value.hasPrefix("{") {
                    notes.append(ConfigWarning(location: s.location, message: "\(s.kind.rawValue) { … }: a raw private key inside ipsec.secrets; swanctl.conf loads private keys from private/ (PEM), so convert the key by hand (chmod 600)"))
                } else {
                    let nick = s.value.isEmpty ? "the certificate's key" : "\"\(s.value)\""
                    notes.append(ConfigWarning(location: s.location, message: "\(s.kind.rawValue) \(s.value): the private key lives in the NSS database; swanctl.conf needs no entry, but export it: `pk12util -d sql:/var/lib/ipsec/nss -n \(nick) -o key.p12 && openssl pkcs12 -in key.p12 -nocerts -nodes -out /etc/swanctl/private/key.pem` (chmod 600)"))
                }
            case .xauth:
                notes.append(ConfigWarning(location: s.location, message: "XAUTH secret not converted: XAUTH is IKEv1"))
            case .pin:
                notes.append(ConfigWarning(location: s.location, message: "PIN secret not converted: smartcards are not supported by Tern"))
            }
        }
        guard !written.isEmpty else { return }
        out.line("secrets {")
        out.indent += 1
        for (name, ids, value) in written {
            out.line("\(name) {")
            out.indent += 1
            for (i, id) in ids.enumerated() { out.kv("id-\(i + 1)", SwanctlWriter.quoted(id)) }
            out.kv("secret", value)
            out.indent -= 1
            out.line("}")
        }
        out.indent -= 1
        out.line("}")
    }
}

/// Indented swanctl.conf lines.
struct SwanctlWriter {
    var lines: [String] = []
    var indent = 0

    mutating func line(_ s: String) { lines.append(String(repeating: "    ", count: indent) + s) }
    mutating func kv(_ k: String, _ v: String) { line("\(k) = \(v)") }

    /// A value as swanctl reads it: bare when it is one plain word, else quoted.
    static func quoted(_ s: String) -> String {
        let plain = !s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber || "._:/@%*-+".contains($0) }
        if plain { return s }
        return "\"" + s.replacingOccurrences("\\", with: "\\\\").replacingOccurrences("\"", with: "\\\"") + "\""
    }

    /// A section name swanctl accepts.
    static func name(_ s: String) -> String {
        String(s.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "-" })
    }

    /// Seconds as swanctl durations: `4h`, `51m`, `90s`.
    static func duration(_ seconds: UInt64) -> String {
        if seconds == 0 { return "0" }
        if seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}
