/// Libreswan's algorithm strings (`ike=`, `esp=`/`phase2alg=`, `ah=`) in strongSwan's proposal
/// syntax: `aes256-sha2_256;modp2048` → `aes256-sha256-modp2048`, `aes_gcm256-null` →
/// `aes256gcm16`, `aes_gcm_c-128+aes_gcm_c-256-sha2;dh19` → `aes128gcm16-aes256gcm16-prfsha256-ecp256`.
///
/// A proposal is ENCRYPT[-INTEG|PRF][-DH] with `;` also allowed before the DH group, `+` between
/// alternatives of one kind and `,` between proposals. What Libreswan leaves to its defaults
/// (no key length, no integrity, no PRF) is written out with Libreswan's defaults, so the
/// converted proposal offers what Libreswan would have offered.
enum LibreswanProposals {
    enum Kind { case ike, esp, ah }

    struct Converted {
        var proposals: [String]
        /// The key-exchange groups named (in order), for `pfs=yes` ESP proposals that name none.
        var groups: [String]
    }

    /// Libreswan's IKEv2 defaults for what a proposal leaves out.
    static let defaultIKEIntegrity = ["sha512", "sha256"]
    static let defaultIKEGroups = ["ecp256", "ecp384", "ecp521", "modp4096", "modp3072", "modp2048"]
    static let defaultESPIntegrity = ["sha512", "sha256"]

    static func convert(_ text: String, kind: Kind, at: SourceLocation, key: String,
                        notes: inout [ConfigWarning]) throws(ConfigError) -> Converted {
        var out = Converted(proposals: [], groups: [])
        for proposalText in text.split(separator: ",").map({ $0.trimmingCharacters() }) where !proposalText.isEmpty {
            let p = try proposal(proposalText, kind: kind, at: at, key: key, notes: &notes)
            out.proposals.append(p.text)
            for g in p.groups where !out.groups.contains(g) { out.groups.append(g) }
        }
        guard !out.proposals.isEmpty else {
            throw ConfigError(location: at, message: "\(key)= names no algorithm", hint: "write e.g. \(key)=aes256-sha2_256-modp2048, or remove it for the defaults")
        }
        return out
    }

    private enum Token { case encr([String], aead: Bool), hash([String]), group([String]), none }

    private static func proposal(_ text: String, kind: Kind, at: SourceLocation, key: String,
                                 notes: inout [ConfigWarning]) throws(ConfigError) -> (text: String, groups: [String]) {
        // `;` before the DH group is the older spelling of `-`.
        let parts = text.lowercased().replacingSemicolons().split(separator: "-").map(String.init)
        // A bare key length after an algorithm (`aes_gcm_c-256`) belongs to it.
        var merged: [String] = []
        for p in parts {
            if let last = merged.last, !p.isEmpty, p.allSatisfy(\.isNumber), ["128", "192", "256"].contains(p),
               !(last.last?.isNumber ?? true) || last.hasSuffix("_c") || last.hasSuffix("gcm16") {
                merged[merged.count - 1] = last + "_" + p
            } else {
                merged.append(p)
            }
        }
        var encrs: [String] = [], hashes: [String] = [], groups: [String] = []
        var aead = false, sawNullEncr = false
        for (i, part) in merged.enumerated() {
            for alt in part.split(separator: "+").map(String.init) {
                func fail(_ why: String, _ hint: String) -> ConfigError {
                    ConfigError(location: at, message: "\(key)=\(text): `\(alt)` \(why)", hint: hint)
                }
                if kind != .ah, i == 0 {
                    if alt == "null" || alt == "enull" {
                        guard kind == .esp else { throw fail("(no encryption) is not allowed for IKE", "name a cipher such as aes256") }
                        sawNullEncr = true; encrs.append("null"); continue
                    }
                    guard let e = encryption(alt) else {
                        if ["des", "1des", "des_cbc", "blowfish", "cast", "cast128", "twofish", "serpent"].contains(alt) {
                            throw fail("is a legacy cipher that neither strongSwan's proposals nor Tern offer", "use aes256 or aes_gcm256")
                        }
                        throw fail("is not an encryption algorithm known to Libreswan", "write e.g. aes256, aes_gcm256, aes_ctr, chacha20_poly1305 or 3des")
                    }
                    if !encrs.isEmpty && e.aead != aead {
                        throw fail("mixes AEAD and non-AEAD ciphers in one proposal", "split them into two proposals separated by a comma")
                    }
                    aead = e.aead
                    encrs += e.names
                    continue
                }
                if let g = group(alt) {
                    if g != "none" { groups.append(g) }
                    continue
                }
                if let h = hash(alt) {
                    if h != "none" { hashes.append(h) }
                    continue
                }
                throw fail("is not an integrity, PRF or key-exchange algorithm known to Libreswan",
                           "write e.g. sha2_256, sha1, aes_xcbc, modp2048, dh19 or dh31")
            }
        }
        var items: [String] = encrs
        switch kind {
        case .ike:
            if aead {
                items += (hashes.isEmpty ? defaultIKEIntegrity : hashes).map { "prf" + $0 }
            } else {
                items += hashes.isEmpty ? defaultIKEIntegrity : hashes
            }
            if groups.isEmpty {
                notes.append(ConfigWarning(location: at, message: "\(key)=\(text) names no key-exchange group; written with Libreswan's defaults (\(defaultIKEGroups.joined(separator: ", ")))"))
                items += defaultIKEGroups
            } else {
                items += groups
            }
        case .esp:
            if aead {
                if !hashes.isEmpty {
                    notes.append(ConfigWarning(location: at, message: "\(key)=\(text): \(hashes.joined(separator: "+")) dropped: an AEAD cipher has its own integrity"))
                }
            } else if sawNullEncr && hashes.isEmpty {
                throw ConfigError(location: at, message: "\(key)=\(text): null encryption without integrity protects nothing", hint: "add an integrity algorithm: null-sha2_256")
            } else {
                items += hashes.isEmpty ? defaultESPIntegrity : hashes
            }
            items += groups
        case .ah:
            items = hashes.isEmpty ? defaultESPIntegrity : hashes
            items += groups
        }
        return (items.joined(separator: "-"), groups)
    }

    /// A Libreswan cipher name in strongSwan's spelling; no key length means Libreswan's
    /// "256 and 128".
    static func encryption(_ t: String) -> (names: [String], aead: Bool)? {
        let s = t.replacingOccurrences("_cbc", with: "").replacingOccurrences("-", with: "_")
        func keys(_ k: String?) -> [String]? {
            guard let k, !k.isEmpty else { return ["256", "128"] }
            return ["128", "192", "256"].contains(k) ? [k] : nil
        }
        if s == "3des" || s == "des3" { return (["3des"], false) }
        if s == "chacha20_poly1305" || s == "chacha20poly1305" || s == "chacha20poly1305ietf" { return (["chacha20poly1305"], true) }
        if let m = s.wholeMatch(of: #/aes_?(\d+)?/#) {
            guard let k = keys(m.1.map(String.init)) else { return nil }
            return (k.map { "aes\($0)" }, false)
        }
        // strongSwan's own spelling, which seeds and converted files use: aes256gcm16, aes128gcm128.
        if let m = s.wholeMatch(of: #/aes(128|192|256)(gcm|ccm)(8|12|16|64|96|128)/#) {
            let icv = ["64": "8", "96": "12", "128": "16"][String(m.3)] ?? String(m.3)
            return (["aes\(m.1)\(m.2)\(icv)"], true)
        }
        if let m = s.wholeMatch(of: #/aes_?(gcm|ccm)(?:_?(a|b|c|8|12|16))?(?:_?(128|192|256))?/#) {
            let icv = ["a": "8", "b": "12", "c": "16"][m.2.map(String.init) ?? "c"] ?? m.2.map(String.init) ?? "16"
            guard let k = keys(m.3.map(String.init)) else { return nil }
            return (k.map { "aes\($0)\(m.1)\(icv)" }, true)
        }
        if let m = s.wholeMatch(of: #/aes_?ctr_?(\d+)?/#) {
            guard let k = keys(m.1.map(String.init)) else { return nil }
            return (k.map { "aes\($0)ctr" }, false)
        }
        if let m = s.wholeMatch(of: #/camellia_?(\d+)?/#) {
            guard let k = keys(m.1.map(String.init)) else { return nil }
            return (k.map { "camellia\($0)" }, false)
        }
        return nil
    }

    /// An integrity/PRF name ("none" for null).
    static func hash(_ t: String) -> String? {
        var s = t.replacingOccurrences("-", with: "_")
        if s.hasPrefix("prf") { s = String(s.dropFirst(3)).drop { $0 == "_" }.description }
        if s.hasPrefix("hmac_") { s = String(s.dropFirst(5)) }
        switch s {
        case "sha1", "sha", "sha1_96": return "sha1"
        case "sha2", "sha2_256", "sha256", "sha2_256_128": return "sha256"
        case "sha2_384", "sha384", "sha2_384_192": return "sha384"
        case "sha2_512", "sha512", "sha2_512_256": return "sha512"
        case "md5", "md5_96": return "md5"
        case "aes_xcbc", "aesxcbc", "aes_xcbc_96": return "aesxcbc"
        case "aes_cmac", "aescmac", "aes_cmac_96": return "aescmac"
        case "null", "none": return "none"
        default: return nil
        }
    }

    /// A key-exchange group name ("none" for no PFS).
    static func group(_ t: String) -> String? {
        let s = t.replacingOccurrences("_", with: "")
        let byNumber: [String: String] = [
            "1": "modp768", "2": "modp1024", "5": "modp1536", "14": "modp2048", "15": "modp3072", "16": "modp4096",
            "17": "modp6144", "18": "modp8192", "19": "ecp256", "20": "ecp384", "21": "ecp521", "22": "modp1024s160",
            "23": "modp2048s224", "24": "modp2048s256", "31": "curve25519", "32": "curve448", "0": "none",
        ]
        if s.hasPrefix("dh"), let g = byNumber[String(s.dropFirst(2))] { return g }
        if s.hasPrefix("modp"), byNumber.values.contains(s) { return s }
        switch s {
        case "ecp256", "ecp384", "ecp521": return s
        case "curve25519", "x25519": return "curve25519"
        case "curve448", "x448": return "curve448"
        case "none", "nopfs": return "none"
        default: return nil
        }
    }
}

extension String {
    func replacingSemicolons() -> String { replacingOccurrences(";", with: "-") }

    /// Every occurrence of `target` replaced (Foundation-free).
    func replacingOccurrences(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = self[...]
        while let r = rest.firstRange(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        out += rest
        return out
    }
}
