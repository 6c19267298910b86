import TernCrypto
import TernDataPlane
import TernIKE
import TernWire

/// `connections.<name>` → the engine's `ConnectionPolicy` (and where its parts were written),
/// as strongSwan's VICI backend builds a peer config (vici_config.c config_sn, peer_kv,
/// peer_sn, auth_kv, children_sn): the same keys, the same value syntax, the same derived
/// defaults. Proposals and identities are parsed here, once; what the engine cannot honour
/// yet is refused afterwards by `SwanctlAdmission`, which needs the locations kept here.
struct SwanctlConnectionConverter {
    var warnings: [ConfigWarning] = []

    /// strongSwan's `default` keyword, the value of an absent `proposals`/`esp_proposals`.
    static let defaultSpec = ["default"]

    mutating func connection(name: String, section: SwanctlSection) throws(ConfigError) -> (ConnectionPolicy, SwanctlSource) {
        var c = ConnectionPolicy(name: name, remoteAddresses: [.any], proposals: [], children: [])
        c.proposalSpec = Self.defaultSpec
        var source = SwanctlSource(location: section.location)
        let context = "connection `\(name)`"
        func fail(_ message: String) -> ConfigError {
            ConfigError(location: section.location, message: "connection '\(name)': \(message)")
        }
        var rekeyTime: UInt64?, reauthTime: UInt64?, overTime: UInt64?, randTime: UInt64?
        for kv in section.keyValues where !kv.value.isEmpty {
            switch kv.key {
            case "version":
                let v = try SwanctlValue.unsigned(kv, max: UInt64(UInt32.max))
                guard v != 1 else {
                    throw ConfigError(location: kv.valueLocation, message: "IKEv1 (`version = 1`) is not supported by Tern",
                                      hint: "use version = 2 (or 0, the default: IKEv2 as initiator)")
                }
                guard v == 0 || v == 2 else {
                    throw SwanctlValue.invalid(kv, "no such IKE version", hint: "write 2, or 0 for any")
                }
                c.version = Int(v)
            case "local_addrs": c.localAddresses = try addresses(kv)
            case "remote_addrs": c.remoteAddresses = try addresses(kv)
            case "local_port": c.localPort = UInt16(try SwanctlValue.unsigned(kv, max: 65535, what: "port"))
            case "remote_port": c.remotePort = UInt16(try SwanctlValue.unsigned(kv, max: 65535, what: "port"))
            case "proposals": c.proposalSpec = SwanctlValue.list(kv).map(\.text)
            case "vips":
                c.vips = []
                for item in SwanctlValue.list(kv) {
                    guard let a = IPAddress(item.text) else {
                        throw ConfigError(location: item.location, message: "invalid vips entry `\(item.text)`: not an IP address",
                                          hint: "write 0.0.0.0 or :: to request any virtual IP, or a specific address")
                    }
                    c.vips.append(a)
                }
            case "aggressive":
                if try SwanctlValue.bool(kv) {
                    throw ConfigError(location: kv.location, message: "`aggressive = yes` is not supported by Tern: Aggressive Mode is IKEv1 and exposes the identities and PSK hash",
                                      hint: "remove it; Tern speaks IKEv2 only")
                }
            case "pull": c.pull = try SwanctlValue.bool(kv)
            case "dscp":
                let bits = kv.value.trimmingBlanks
                guard !bits.isEmpty, bits.count <= 32, bits.allSatisfy({ $0 == "0" || $0 == "1" }),
                      let v = UInt32(bits, radix: 2) else {
                    throw SwanctlValue.invalid(kv, "not six binary digits", hint: "write the codepoint in binary, e.g. 101110 for EF")
                }
                c.dscp = UInt8(v & 0x3f)   // strongSwan keeps the low six bits
            case "encap": c.forceEncapsulation = try SwanctlValue.bool(kv)
            case "mobike": c.mobike = try SwanctlValue.bool(kv)
            case "dpd_delay": c.dpdDelay = try SwanctlValue.duration(kv)
            case "dpd_timeout": c.dpdTimeout = try SwanctlValue.duration(kv)
            case "fragmentation":
                c.fragmentation = try SwanctlValue.choice(kv, ["yes": .yes, "accept": .accept, "force": .force, "no": .no])
            case "send_certreq": c.certificates.sendCertificateRequest = try SwanctlValue.bool(kv)
            case "send_cert":
                c.certificates.sendCertificate = try SwanctlValue.choice(kv, ["ifasked": .ifAsked, "always": .always, "never": .never])
            case "keyingtries": c.keyingTries = UInt32(try SwanctlValue.unsigned(kv, max: UInt64(UInt32.max)))
            case "unique":
                c.unique = try SwanctlValue.choice(kv, ["no": .no, "never": .never, "keep": .keep, "replace": .replace])
            case "reauth_time": reauthTime = try SwanctlValue.duration(kv)
            case "rekey_time": rekeyTime = try SwanctlValue.duration(kv)
            case "over_time": overTime = try SwanctlValue.duration(kv)
            case "rand_time": randTime = try SwanctlValue.duration(kv)
            case "pools": c.pools = SwanctlValue.list(kv).map(\.text)
            default:
                try SwanctlKeys.check(kv, scope: .connection, section: context, warnings: &warnings)
            }
        }
        do { c.proposals = try ProposalParser.parse(list: c.proposalSpec, for: .ike) } catch { source.proposalsRefusal = fail("proposals: \(error.message)") }
        // vici_config.c config_sn: rekey defaults to 4h only if neither rekey nor reauth is set.
        if rekeyTime == nil && reauthTime == nil { rekeyTime = 14_400 }
        c.rekeyTime = rekeyTime ?? 0
        c.reauthTime = reauthTime ?? 0
        c.overTime = overTime ?? max(c.rekeyTime, c.reauthTime) / 10
        if let randTime {
            c.randTime = randTime
        } else {
            let base = c.rekeyTime != 0 && c.reauthTime != 0 ? min(c.rekeyTime, c.reauthTime) : max(c.rekeyTime, c.reauthTime)
            c.randTime = min(c.overTime, base / 2)
        }

        var locals: [Round] = [], remotes: [Round] = []
        for sub in section.subsections {
            let lower = sub.name.lowercased()
            if lower == "children" {
                for child in sub.subsections {
                    let (ch, refusal) = try self.child(child, connection: name)
                    c.children.append(ch)
                    source.children[child.name] = child.location
                    source.childProposalsRefusals[child.name] = refusal
                }
                for kv in sub.keyValues where !kv.value.isEmpty {
                    throw ConfigError(location: kv.location, message: "`\(kv.key)` directly inside `children` of connection `\(name)`",
                                      hint: "put it inside a child section: children { \(name)-child { \(kv.key) = … } }")
                }
            } else if lower.hasPrefix("local") {
                insert(try auth(sub, connection: name, fail: fail), into: &locals)
            } else if lower.hasPrefix("remote") {
                insert(try auth(sub, connection: name, fail: fail), into: &remotes)
            } else {
                throw ConfigError(location: sub.location, message: "unknown section `\(sub.name)` in connection `\(name)`",
                                  hint: "a connection holds local…, remote… and children sections")
            }
        }
        // A connection without local/remote sections gets one default round each.
        if locals.isEmpty { locals = [Round(auth: AuthRound(), location: section.location)] }
        if remotes.isEmpty { remotes = [Round(auth: AuthRound(), location: section.location)] }
        source.identityRefusal = (locals + remotes).lazy.compactMap(\.identityError).first
        c.local = locals.map(\.auth); source.local = locals.map(\.location)
        c.remote = remotes.map(\.auth); source.remote = remotes.map(\.location)
        // `remote.revocation` and `rsa/pss` (or `ike:rsa/pss…`: strongSwan's spelling of
        // "sign with RSASSA-PSS") apply to the first rounds, the ones the engine runs.
        c.certificates.revocation = remotes[0].revocation
        c.certificates.preferPSS = c.local[0].auth.lowercased().contains("pss")
        // %any alone means "no restriction".
        if c.localAddresses == [.any] { c.localAddresses = [] }
        return (c, source)
    }

    /// Inserts before the first round with a higher `round`, as strongSwan does (stable).
    private func insert(_ a: Round, into rounds: inout [Round]) {
        let i = rounds.firstIndex { a.auth.round < $0.auth.round } ?? rounds.endIndex
        rounds.insert(a, at: i)
    }

    private func addresses(_ kv: SwanctlKeyValue) throws(ConfigError) -> [AddressMatch] {
        var out: [AddressMatch] = []
        for item in SwanctlValue.list(kv) {
            out.append(try SwanctlValue.addressSpec(item.text, at: item.location, key: kv.key))
        }
        return out.isEmpty ? [.any] : out
    }

    // MARK: authentication rounds

    /// A round as read, with where it was written and its `revocation` (which the engine keeps
    /// with the certificates, for the first remote round).
    struct Round {
        var auth: AuthRound
        var location: SourceLocation
        var revocation = RevocationPolicy.relaxed
        var identityError: ConfigError?
    }

    mutating func auth(_ section: SwanctlSection, connection: String,
                       fail: (String) -> ConfigError) throws(ConfigError) -> Round {
        var a = AuthRound()
        var revocation = RevocationPolicy.relaxed
        var identityError: ConfigError?
        let context = "`\(section.name)` of connection `\(connection)`"
        for kv in section.keyValues where !kv.value.isEmpty {
            switch kv.key {
            case "round": a.round = Int(try SwanctlValue.unsigned(kv, max: UInt64(UInt32.max)))
            case "auth": a.auth = try authMethod(kv)
            case "id":
                do { a.id = try Identity(parsing: kv.value) } catch { identityError = fail("id: \(error)") }
            case "eap_id": a.eapID = kv.value
            case "aaa_id": a.aaaID = kv.value
            case "xauth_id": a.xauthID = kv.value
            case "ca_id": a.caID = kv.value
            case "certs": a.certs += SwanctlValue.list(kv).map(\.text)
            case "cacerts": a.cacerts += SwanctlValue.list(kv).map(\.text)
            case "pubkeys": a.pubkeys += SwanctlValue.list(kv).map(\.text)
            case "groups": a.groups = SwanctlValue.list(kv).map(\.text)
            case "cert_policy": a.certPolicies = SwanctlValue.list(kv).map(\.text)
            case "revocation":
                revocation = try SwanctlValue.choice(kv, ["strict": .strict, "ifuri": .ifuri, "relaxed": .relaxed])
            default:
                try SwanctlKeys.check(kv, scope: .auth, section: context, warnings: &warnings)
            }
        }
        for sub in section.subsections {
            let lower = sub.name.lowercased()
            let isCA = lower.hasPrefix("cacert")
            guard isCA || lower.hasPrefix("cert") else {
                throw ConfigError(location: sub.location, message: "unknown section `\(sub.name)` in \(context)",
                                  hint: "an authentication round holds only cert<suffix> and cacert<suffix> sections")
            }
            var file: String?
            for kv in sub.keyValues where !kv.value.isEmpty {
                if kv.key == "file" { file = kv.value; continue }
                try SwanctlKeys.check(kv, scope: .certificate, section: "`\(sub.name)` in \(context)", warnings: &warnings)
            }
            guard let file else {
                throw ConfigError(location: sub.location, message: "`\(sub.name)` in \(context) has no `file`",
                                  hint: "add file = /path/to/certificate.pem")
            }
            if isCA { a.cacerts.append(file) } else { a.certs.append(file) }
        }
        return Round(auth: a, location: section.location, revocation: revocation, identityError: identityError)
    }

    /// Checks `auth` the way strongSwan's parse_auth does and keeps it as written.
    private func authMethod(_ kv: SwanctlKeyValue) throws(ConfigError) -> String {
        let v = kv.value.trimmingBlanks
        let lower = v.lowercased()
        let pubkeyPrefixes = ["ike:", "pubkey", "rsa", "ecdsa"]   // parse_auth, case-sensitive (5.9 also had bliss)
        guard pubkeyPrefixes.contains(where: { v.hasPrefix($0) }) || lower == "psk" || lower.hasPrefix("eap")
                || lower.hasPrefix("xauth") else {
            throw SwanctlValue.invalid(kv, "not an authentication method",
                                       hint: "write pubkey, psk, eap[-method] (e.g. eap-mschapv2), rsa/ecdsa constraints such as rsa-2048, or ike:… signature schemes")
        }
        return String(v)
    }

    // MARK: children

    /// The child, and why its `esp_proposals` cannot run here (if they cannot).
    mutating func child(_ section: SwanctlSection, connection: String) throws(ConfigError) -> (ChildPolicy, ConfigError?) {
        var c = ChildPolicy(name: section.name, proposals: [])
        let context = "child `\(section.name)` of connection `\(connection)`"
        var esp: [String]?, ah: [String]?
        var time: (rekey: UInt64?, life: UInt64?, rand: UInt64?) = (nil, nil, nil)
        var bytes: (rekey: UInt64?, life: UInt64?, rand: UInt64?) = (nil, nil, nil)
        var packets: (rekey: UInt64?, life: UInt64?, rand: UInt64?) = (nil, nil, nil)
        for kv in section.keyValues where !kv.value.isEmpty {
            switch kv.key {
            case "esp_proposals": esp = SwanctlValue.list(kv).map(\.text)
            case "ah_proposals": ah = SwanctlValue.list(kv).map(\.text)
            case "local_ts": c.localSelectors = try selectors(kv)
            case "remote_ts": c.remoteSelectors = try selectors(kv)
            case "rekey_time": time.rekey = try SwanctlValue.duration(kv)
            case "life_time": time.life = try SwanctlValue.duration(kv)
            case "rand_time": time.rand = try SwanctlValue.duration(kv)
            case "rekey_bytes": bytes.rekey = try SwanctlValue.bytes(kv)
            case "life_bytes": bytes.life = try SwanctlValue.bytes(kv)
            case "rand_bytes": bytes.rand = try SwanctlValue.bytes(kv)
            case "rekey_packets": packets.rekey = try SwanctlValue.unsigned(kv)
            case "life_packets": packets.life = try SwanctlValue.unsigned(kv)
            case "rand_packets": packets.rand = try SwanctlValue.unsigned(kv)
            case "updown": c.updown = kv.value
            case "hostaccess": c.hostaccess = try SwanctlValue.bool(kv)
            case "policies": c.policies = try SwanctlValue.bool(kv)
            case "ipcomp": c.ipcomp = try SwanctlValue.bool(kv)
            case "inactivity": c.inactivity = try SwanctlValue.duration(kv)
            case "reqid": c.reqid = UInt32(try SwanctlValue.unsigned(kv, max: UInt64(UInt32.max)))
            case "replay_window":
                c.replayWindow = Int(min(try SwanctlValue.unsigned(kv, max: UInt64(UInt32.max)), UInt64(SAConfig.maximumReplayWindow)))
            case "mode":
                if kv.value.trimmingBlanks.lowercased() == "transport_proxy" {
                    throw ConfigError(location: kv.valueLocation, message: "`mode = transport_proxy` (Mobile IPv6) is not supported by Tern",
                                      hint: "write tunnel, transport, beet, pass or drop")
                }
                c.configuredMode = try SwanctlValue.choice(kv, ["tunnel": .tunnel, "transport": .transport, "beet": .beet,
                                                     "pass": .pass, "drop": .drop])
            case "start_action":
                switch try SwanctlValue.action(kv) {
                case (false, false): c.startAction = .none
                case (true, false): c.startAction = .trap
                case (false, true): c.startAction = .start
                case (true, true): c.startAction = .trapAndStart
                }
            case "dpd_action":
                switch try SwanctlValue.action(kv) {
                case (false, false): c.dpdAction = .clear
                case (true, false): c.dpdAction = .trap
                case (false, true): c.dpdAction = .restart
                case (true, true): c.dpdAction = .restart   // restarting installs the SA the trap waits for
                }
            case "close_action":
                switch try SwanctlValue.action(kv) {
                case (false, false): c.closeAction = .none
                case (true, false): c.closeAction = .trap
                case (false, true): c.closeAction = .start
                case (true, true): c.closeAction = .start   // as strongSwan 5.9 reads trap|start
                }
            default:
                try SwanctlKeys.check(kv, scope: .child, section: context, warnings: &warnings)
            }
        }
        if let s = section.subsections.first {
            throw ConfigError(location: s.location, message: "unexpected section `\(s.name)` in \(context)",
                              hint: "a child section holds only key = value settings; is a `}` missing above?")
        }
        // children_sn: without any proposal, ESP's default; with only AH proposals, no ESP.
        c.ahProposalSpec = ah ?? []
        c.proposalSpec = esp ?? (c.ahProposalSpec.isEmpty ? Self.defaultSpec : [])
        var refusal: ConfigError?
        do { c.proposals = try ProposalParser.parse(list: c.proposalSpec, for: .esp) } catch {
            refusal = ConfigError(location: section.location, message: "child '\(section.name)' of '\(connection)': esp_proposals: \(error.message)")
        }
        // AH is refused by admission whatever it says; ahProposalSpec keeps what was written.
        c.ahProposals = (try? ProposalParser.parse(list: c.ahProposalSpec, for: .ah)) ?? []
        (c.rekeyTime, c.lifeTime, c.randTime) = Self.lifetimes(time, defaultRekey: 3600)
        (c.rekeyBytes, c.lifeBytes, c.randBytes) = Self.lifetimes(bytes, defaultRekey: 0)
        (c.rekeyPackets, c.lifePackets, c.randPackets) = Self.lifetimes(packets, defaultRekey: 0)
        return (c, refusal)
    }

    private func selectors(_ kv: SwanctlKeyValue) throws(ConfigError) -> [SelectorPolicy] {
        var out: [SelectorPolicy] = []
        for item in SwanctlValue.list(kv) {
            out.append(try SwanctlValue.trafficSelector(item.text, at: item.location, key: kv.key))
        }
        return out.isEmpty ? [.dynamic] : out
    }

    /// vici_config.c check_lifetimes: rekey = life/1.1 if only life is set, else the default;
    /// life = rekey×1.1; rand = life − rekey (floored at 0). strongSwan computes in floating
    /// point and truncates; so do we, saturating instead of overflowing.
    static func lifetimes(_ given: (rekey: UInt64?, life: UInt64?, rand: UInt64?), defaultRekey: UInt64)
        -> (UInt64, UInt64, UInt64) {
        let rekey = given.rekey ?? given.life.map { truncate(Double($0) / 1.1) } ?? defaultRekey
        let life = given.life ?? truncate(Double(rekey) * 1.1)
        let rand = given.rand ?? (life - min(life, rekey))
        return (rekey, life, rand)
    }

    static func truncate(_ d: Double) -> UInt64 {
        guard d.isFinite, d > 0 else { return 0 }
        return d >= 18_446_744_073_709_551_615.0 ? .max : UInt64(d)
    }
}
