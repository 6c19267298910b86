/// What Tern does with each key strongSwan 5.9 knows (src/swanctl/swanctl.opt) but the typed
/// model does not carry. Keys the model carries are read by the converters; anything else in
/// a connection, authentication round or child is an error, as strongSwan's VICI backend
/// answers "unknown option: …, config discarded" for it.
public enum SwanctlKeys {
    public enum Scope: String, Sendable, Hashable { case connection, auth, child, certificate }

    /// A key that changes security when set, which Tern parses but cannot honour: setting it to
    /// anything but a harmless value is a ConfigError naming the key ("not supported by Tern"),
    /// never a silent no-op.
    public struct Unsupported: Sendable {
        public var scope: Scope
        public var key: String
        /// Why ignoring it would change what is protected, or how.
        public var why: String
        /// Values that mean the feature is off (strongSwan's default), which are fine.
        let isHarmless: @Sendable (String) -> Bool
    }

    /// A key strongSwan knows whose effect Tern does not implement but which does not weaken
    /// protection if ignored: a warning when set to anything but its default.
    public struct Ignored: Sendable {
        public var scope: Scope
        public var key: String
        public var defaultValues: Set<String>
    }

    /// The keys the typed model carries, per scope (read by the converters; listed here for
    /// "did you mean" hints).
    public static let modelled: [Scope: Set<String>] = [
        .connection: [
            "version", "local_addrs", "remote_addrs", "local_port", "remote_port", "proposals", "vips", "aggressive",
            "pull", "dscp", "encap", "mobike", "dpd_delay", "dpd_timeout", "fragmentation", "send_certreq", "send_cert",
            "keyingtries", "unique", "reauth_time", "rekey_time", "over_time", "rand_time", "pools",
        ],
        .auth: [
            "round", "auth", "id", "eap_id", "aaa_id", "xauth_id", "ca_id", "certs", "cacerts", "pubkeys", "groups",
            "cert_policy", "revocation",
        ],
        .child: [
            "esp_proposals", "ah_proposals", "local_ts", "remote_ts", "rekey_time", "life_time", "rand_time",
            "rekey_bytes", "life_bytes", "rand_bytes", "rekey_packets", "life_packets", "rand_packets", "updown",
            "hostaccess", "policies", "ipcomp", "inactivity", "reqid", "replay_window", "mode", "start_action",
            "dpd_action", "close_action",
        ],
        .certificate: ["file"],
    ]

    static let falseWords: Set<String> = ["no", "false", "disabled", "0"]
    static let trueWords: Set<String> = ["yes", "true", "enabled", "1"]

    private static func off(_ v: String) -> Bool { falseWords.contains(v) }
    private static func zero(_ v: String) -> Bool {
        if case .some(.some(0)) = SwanctlValue.number(v[...]) { return true }
        return false
    }
    /// `0`, `0/0`, `0/0x00000000`: no mark.
    private static func noMark(_ v: String) -> Bool {
        let parts = v.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count <= 2 && parts.allSatisfy { if case .some(.some(0)) = SwanctlValue.number($0) { true } else { false } }
    }

    public static let securityRelevantUnsupported: [Unsupported] = [
        Unsupported(scope: .connection, key: "ppk_id", why: "post-quantum preshared keys (RFC 8784) are not implemented", isHarmless: { _ in false }),
        Unsupported(scope: .connection, key: "ppk_required", why: "post-quantum preshared keys (RFC 8784) are not implemented", isHarmless: off),
        Unsupported(scope: .connection, key: "if_id_in", why: "XFRM interface IDs select which interface's traffic a policy covers", isHarmless: zero),
        Unsupported(scope: .connection, key: "if_id_out", why: "XFRM interface IDs select which interface's traffic a policy covers", isHarmless: zero),
        Unsupported(scope: .connection, key: "mediation", why: "IKEv2 mediation is not implemented", isHarmless: off),
        Unsupported(scope: .connection, key: "mediated_by", why: "IKEv2 mediation is not implemented", isHarmless: { _ in false }),
        Unsupported(scope: .connection, key: "mediation_peer", why: "IKEv2 mediation is not implemented", isHarmless: { _ in false }),
        Unsupported(scope: .connection, key: "childless", why: "childless = force requires every CHILD SA to have its own key exchange", isHarmless: { $0 != "force" }),
        Unsupported(scope: .child, key: "sha256_96", why: "96-bit HMAC-SHA-256 truncation is non-standard and weaker", isHarmless: off),
        Unsupported(scope: .child, key: "mark_in", why: "marks restrict which packets a policy or SA matches", isHarmless: noMark),
        Unsupported(scope: .child, key: "mark_out", why: "marks restrict which packets a policy or SA matches", isHarmless: noMark),
        Unsupported(scope: .child, key: "mark_in_sa", why: "marks restrict which packets a policy or SA matches", isHarmless: off),
        Unsupported(scope: .child, key: "set_mark_in", why: "marks set after processing steer later firewall and routing decisions", isHarmless: noMark),
        Unsupported(scope: .child, key: "set_mark_out", why: "marks set after processing steer later firewall and routing decisions", isHarmless: noMark),
        Unsupported(scope: .child, key: "if_id_in", why: "XFRM interface IDs select which interface's traffic a policy covers", isHarmless: zero),
        Unsupported(scope: .child, key: "if_id_out", why: "XFRM interface IDs select which interface's traffic a policy covers", isHarmless: zero),
        Unsupported(scope: .child, key: "label", why: "security labels restrict which flows a policy covers", isHarmless: { _ in false }),
        Unsupported(scope: .child, key: "interface", why: "it restricts the policies to one interface; ignoring it would cover all", isHarmless: { _ in false }),
        Unsupported(scope: .child, key: "priority", why: "a fixed priority decides which policy wins (e.g. a drop policy)", isHarmless: zero),
        Unsupported(scope: .child, key: "tfc_padding", why: "traffic flow confidentiality padding hides packet sizes", isHarmless: zero),
        Unsupported(scope: .certificate, key: "handle", why: "certificates on PKCS#11 tokens are not supported", isHarmless: { _ in false }),
        Unsupported(scope: .certificate, key: "slot", why: "certificates on PKCS#11 tokens are not supported", isHarmless: { _ in false }),
        Unsupported(scope: .certificate, key: "module", why: "certificates on PKCS#11 tokens are not supported", isHarmless: { _ in false }),
    ]

    public static let ignored: [Ignored] = [
        Ignored(scope: .connection, key: "ocsp", defaultValues: ["reply"]),
        Ignored(scope: .child, key: "policies_fwd_out", defaultValues: falseWords),
        Ignored(scope: .child, key: "hw_offload", defaultValues: falseWords),
        Ignored(scope: .child, key: "copy_df", defaultValues: trueWords),
        Ignored(scope: .child, key: "copy_ecn", defaultValues: trueWords),
        Ignored(scope: .child, key: "copy_dscp", defaultValues: ["out"]),
        Ignored(scope: .child, key: "label_mode", defaultValues: ["system"]),
        Ignored(scope: .child, key: "per_cpu_sas", defaultValues: falseWords),   // strongSwan 6
        Ignored(scope: .child, key: "icmp", defaultValues: falseWords),          // strongSwan 6
    ]

    /// What to do with a key the model does not carry: nothing (harmless default), a warning,
    /// or an error.
    static func check(_ kv: SwanctlKeyValue, scope: Scope, section: String, warnings: inout [ConfigWarning]) throws(ConfigError) {
        let value = kv.value.trimmingBlanks.lowercased()
        if let u = securityRelevantUnsupported.first(where: { $0.scope == scope && $0.key == kv.key }) {
            guard u.isHarmless(value) else {
                throw ConfigError(location: kv.location, message: "`\(kv.key) = \(kv.value)` is not supported by Tern: \(u.why)",
                                  hint: "remove `\(kv.key)` from \(section); Tern refuses rather than ignore a setting that changes security")
            }
            return
        }
        if let i = ignored.first(where: { $0.scope == scope && $0.key == kv.key }) {
            if !i.defaultValues.contains(value) {
                warnings.append(ConfigWarning(location: kv.location,
                                              message: "`\(kv.key) = \(kv.value)` in \(section) is not implemented by Tern and is ignored"))
            }
            return
        }
        let known = (modelled[scope] ?? []).union(securityRelevantUnsupported.filter { $0.scope == scope }.map(\.key))
            .union(ignored.filter { $0.scope == scope }.map(\.key))
        let suggestion = known.map { (key: $0, distance: editDistance($0, kv.key)) }
            .filter { $0.distance <= 2 }.min { ($0.distance, $0.key) < ($1.distance, $1.key) }
        throw ConfigError(location: kv.location, message: "unknown key `\(kv.key)` in \(section)",
                          hint: (suggestion.map { "did you mean `\($0.key)`? " } ?? "")
                              + "strongSwan refuses it too (\"unknown option\"); see swanctl.conf(5)")
    }

    /// Levenshtein distance, for short key names only.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8.prefix(64)), b = Array(b.utf8.prefix(64))
        guard !a.isEmpty else { return b.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + [Int](repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
