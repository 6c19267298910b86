import TernDataPlane
import TernWire

/// An SA endpoint: `192.0.2.1`, `192.0.2.1[4500]`, `2001:db8::1[any]`.
struct HostSpec: Sendable, Hashable {
    var address: IPAddress
    /// nil for no port or `[any]`.
    var port: UInt16?
}

/// One side of a policy selector: `any`, `192.0.2.0/24`, `10.0.0.1[80]`, `2001:db8::/32[any]`.
struct SelectorSpec: Sendable {
    /// nil for `any` (the whole family, decided by the other side).
    var address: IPAddress?
    var prefixLength: Int?
    /// nil for no port or `[any]`.
    var ports: PortRange?
    var token: SetkeyToken
    /// UTF-8 offset of the `[` in the token, for errors about the ports.
    var portOffset: Int?
}

/// Upper-layer protocols by name: the entries of Debian's /etc/protocols that make sense as a
/// selector, plus setkey's own `icmp6` and `ip4`. Numbers are accepted as well.
let upperLayerProtocols: [String: UInt8] = [
    "icmp": 1, "igmp": 2, "ipencap": 4, "ip-encap": 4, "ip4": 4, "tcp": 6, "egp": 8, "udp": 17,
    "dccp": 33, "ipv6": 41, "ipv6-route": 43, "ipv6-frag": 44, "rsvp": 46, "gre": 47, "esp": 50, "ah": 51,
    "icmp6": 58, "ipv6-icmp": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "eigrp": 88, "ospf": 89, "ipip": 94,
    "etherip": 97, "encap": 98, "pim": 103, "ipcomp": 108, "vrrp": 112, "l2tp": 115, "sctp": 132,
    "udplite": 136,
]

extension SetkeyStatementParser {
    func looksLikeAddress(_ text: String) -> Bool {
        text.utf8.contains(UInt8(ascii: ".")) || text.utf8.contains(UInt8(ascii: ":"))
    }

    /// An SA endpoint (no prefix length). A port is allowed; only esp-udp uses it.
    func parseHost(_ c: inout TokenCursor, what: String, family: IPAddress.Family?) throws(ConfigError) -> (HostSpec, SetkeyToken) {
        let t = try expectWord(&c, what, hint: "write an IPv4 or IPv6 address such as 192.0.2.1")
        let u = Array(t.text.utf8)
        let bracket = u.firstIndex(of: UInt8(ascii: "[")) ?? u.count
        if let slash = u[0..<bracket].firstIndex(of: UInt8(ascii: "/")) {
            throw error(t, offset: slash, "an SA's \(what) takes no prefix length",
                        hint: "write the host address alone, e.g. \(String(decoding: u[0..<slash], as: UTF8.self))")
        }
        let address = try parseAddress(t, u, 0..<bracket, what: what)
        var port: UInt16?
        if bracket < u.count {
            switch try parsePorts(t, u, from: bracket, allowRange: false) {
            case .some(let r): port = r.lower
            case .none: port = nil
            }
        }
        if let family, address.family != family {
            throw error(t, "-\(family == .v4 ? 4 : 6) was given but \(address) is an \(familyName(address.family)) address",
                        hint: "remove -\(family == .v4 ? 4 : 6) or write an \(familyName(family)) address")
        }
        return (HostSpec(address: address, port: port), t)
    }

    /// A numeric address in `u[range]`. Tern never resolves names (setkey's `-n` is implied).
    func parseAddress(_ t: SetkeyToken, _ u: [UInt8], _ range: Range<Int>, what: String) throws(ConfigError) -> IPAddress {
        let text = String(decoding: u[range], as: UTF8.self)
        guard !range.isEmpty else {
            throw error(t, offset: range.lowerBound, "expected \(what), found \(describe(t))",
                        hint: "write an IPv4 or IPv6 address such as 192.0.2.1")
        }
        if t.text.hasPrefix("-") {
            throw error(t, "expected \(what), found '\(SetkeyLexer.quote(t.text))'",
                        hint: "write an IPv4 or IPv6 address such as 192.0.2.1")
        }
        if let percent = u[range].firstIndex(of: UInt8(ascii: "%")) {
            throw error(t, offset: percent, "scoped IPv6 addresses (with %zone) are not supported",
                        hint: "use a global or unique-local address")
        }
        let numeric = u[range].allSatisfy { isHexDigit($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: ":") }
        guard numeric, range.count <= 45 else {
            throw error(t, offset: range.lowerBound, "expected \(what), found '\(SetkeyLexer.quote(text))'",
                        hint: "write the address in numbers (Tern does not resolve host names)")
        }
        guard let a = IPAddress(text) else {
            throw error(t, offset: range.lowerBound, "'\(SetkeyLexer.quote(text))' is not a valid IPv4 or IPv6 address",
                        hint: "IPv4 is four numbers 0–255 separated by dots; IPv6 is hex groups separated by colons")
        }
        return a
    }

    /// `[any]`, `[80]`, and (a Tern extension, selectors only) `[1024-65535]`, starting at `u[from] == "["`.
    /// Returns nil for `any`.
    func parsePorts(_ t: SetkeyToken, _ u: [UInt8], from: Int, allowRange: Bool) throws(ConfigError) -> PortRange? {
        guard u.last == UInt8(ascii: "]"), u.count - from >= 2 else {
            throw error(t, offset: from, "expected a port in brackets, such as [500] or [any]",
                        hint: "close the bracket: the port ends with ]")
        }
        let inner = Array(u[(from + 1)..<(u.count - 1)])
        if inner == Array("any".utf8) { return nil }
        func number(_ digits: ArraySlice<UInt8>, at offset: Int) throws(ConfigError) -> UInt16 {
            let text = String(decoding: digits, as: UTF8.self)
            guard let v = parseUnsigned(text, allowHex: false), v <= 65_535 else {
                throw error(t, offset: offset, "expected a port number 0–65535 or any, found '\(SetkeyLexer.quote(text))'",
                            hint: "Tern does not look up service names; write the number")
            }
            return UInt16(v)
        }
        if allowRange, let dash = inner.firstIndex(of: UInt8(ascii: "-")) {
            let lo = try number(inner[0..<dash], at: from + 1)
            let hi = try number(inner[(dash + 1)...], at: from + 2 + dash)
            guard lo <= hi else {
                throw error(t, offset: from + 1, "the port range \(lo)-\(hi) is empty", hint: "write the lower port first")
            }
            return PortRange(lo, hi)
        }
        return PortRange(try number(inner[...], at: from + 1))
    }

    /// A policy selector address: `any`, `ADDR`, `ADDR/LEN`, each optionally followed by `[PORT]`.
    func parseSelector(_ c: inout TokenCursor, what: String) throws(ConfigError) -> SelectorSpec {
        let t = try expectWord(&c, what, hint: "write an address such as 192.0.2.0/24, or any")
        let u = Array(t.text.utf8)
        let bracket = u.firstIndex(of: UInt8(ascii: "[")) ?? u.count
        let slash = u[0..<bracket].firstIndex(of: UInt8(ascii: "/"))
        let addressEnd = slash ?? bracket
        var spec = SelectorSpec(address: nil, prefixLength: nil, ports: nil, token: t, portOffset: nil)
        if u[0..<addressEnd].elementsEqual("any".utf8) {
            if let slash {
                throw error(t, offset: slash, "`any` takes no prefix length", hint: "write any, 0.0.0.0/0 or ::/0")
            }
        } else {
            let a = try parseAddress(t, u, 0..<addressEnd, what: what)
            spec.address = a
            if let slash {
                let digits = u[(slash + 1)..<bracket]
                let text = String(decoding: digits, as: UTF8.self)
                guard let n = parseUnsigned(text, allowHex: false), n <= UInt64(a.bitCount) else {
                    throw error(t, offset: slash + 1,
                                "expected a prefix length 0–\(a.bitCount) after '/', found '\(SetkeyLexer.quote(text))'",
                                hint: a.family == .v4 ? "an IPv4 prefix is at most /32" : "an IPv6 prefix is at most /128")
                }
                spec.prefixLength = Int(n)
            }
        }
        if bracket < u.count {
            spec.portOffset = bracket
            spec.ports = try parsePorts(t, u, from: bracket, allowRange: true)
        }
        return spec
    }

    /// Both selectors as prefixes of one family. `any` takes the family of the other side or of -4/-6.
    func resolveSelectors(_ s: SelectorSpec, _ d: SelectorSpec, family: IPAddress.Family?) throws(ConfigError) -> (IPPrefix, IPPrefix) {
        if let a = s.address, let b = d.address, a.family != b.family {
            throw error(d.token, "the source \(a) is \(familyName(a.family)) but the destination \(b) is \(familyName(b.family))",
                        hint: "a policy selects one address family; write one spdadd per family")
        }
        guard let fam = s.address?.family ?? d.address?.family ?? family else {
            throw error(s.token, "both addresses are `any`, so the address family is unknown",
                        hint: "write 0.0.0.0/0 or ::/0, or add -4 or -6 after the command")
        }
        for spec in [s, d] {
            if let a = spec.address, a.family != fam {
                throw error(spec.token, "-\(fam == .v4 ? 4 : 6) was given but \(a) is an \(familyName(a.family)) address",
                            hint: "remove -\(fam == .v4 ? 4 : 6) or write an \(familyName(fam)) address")
            }
        }
        func prefix(_ spec: SelectorSpec) -> IPPrefix {
            guard let a = spec.address else { return IPPrefix.any(fam) }
            return IPPrefix(a, length: spec.prefixLength ?? a.bitCount)
        }
        return (prefix(s), prefix(d))
    }

    /// `any`, a protocol name, or a number 0–255 (255 is KAME's "any").
    func parseUpperSpec(_ c: inout TokenCursor) throws(ConfigError) -> (UInt8?, SetkeyToken) {
        let hint = "use any, tcp, udp, icmp, icmp6, ipencap, gre, esp, ah, sctp or a protocol number 0–255"
        let t = try expectWord(&c, "upper-layer protocol (any, tcp, udp, icmp, …)", hint: hint)
        if t.text == "any" { return (nil, t) }
        if let n = parseUnsigned(t.text, allowHex: false) {
            guard n <= 255 else { throw error(t, "protocol number \(t.text) is above 255", hint: hint) }
            return (n == 255 ? nil : UInt8(n), t)
        }
        if let p = upperLayerProtocols[t.text.lowercased()] { return (p, t) }
        if t.text.hasPrefix("-") {
            throw error(t, "expected upper-layer protocol (any, tcp, udp, icmp, …), found '\(SetkeyLexer.quote(t.text))'",
                        hint: "spdadd takes: source destination upperspec -P direction policy")
        }
        throw error(t, "unknown upper-layer protocol '\(SetkeyLexer.quote(t.text))'", hint: hint)
    }

    /// setkey's `icmp6 TYPE[,CODE]` (Tern accepts it for icmp too): the type and code selector,
    /// which the data plane sees as the source "port" `type << 8 | code` (RFC 4301 §4.4.1.1).
    func parseICMPTypeCode(_ t: SetkeyToken) throws(ConfigError) -> PortRange {
        let u = Array(t.text.utf8)
        let comma = u.firstIndex(of: UInt8(ascii: ","))
        func byte(_ digits: ArraySlice<UInt8>, at offset: Int, what: String) throws(ConfigError) -> UInt16 {
            let text = String(decoding: digits, as: UTF8.self)
            guard let v = parseUnsigned(text, allowHex: false), v <= 255 else {
                throw error(t, offset: offset, "expected an ICMP \(what) 0–255, found '\(SetkeyLexer.quote(text))'",
                            hint: "write TYPE or TYPE,CODE, e.g. 135,0")
            }
            return UInt16(v)
        }
        let type = try byte(u[0..<(comma ?? u.count)], at: 0, what: "type")
        guard let comma else { return PortRange(type << 8, type << 8 | 0xff) }
        let code = try byte(u[(comma + 1)...], at: comma + 1, what: "code")
        return PortRange(type << 8 | code)
    }
}
