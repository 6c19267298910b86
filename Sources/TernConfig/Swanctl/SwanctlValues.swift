import TernDataPlane
import TernIKE
import TernWire

/// Readers for swanctl.conf values, each the way strongSwan's VICI backend reads it
/// (vici_config.c parse_bool, parse_time, parse_bytes, parse_uint32, parse_ts…), throwing a
/// ConfigError at the value with the accepted forms as the hint.
enum SwanctlValue {
    static func invalid(_ kv: SwanctlKeyValue, _ what: String, hint: String, at: SourceLocation? = nil) -> ConfigError {
        ConfigError(location: at ?? kv.valueLocation, message: "invalid \(kv.key) `\(kv.value)`: \(what)", hint: hint)
    }

    /// yes/true/enabled/1 and no/false/disabled/0, any case (strongSwan accepts no others).
    static func bool(_ kv: SwanctlKeyValue) throws(ConfigError) -> Bool {
        switch kv.value.lowercased() {
        case "yes", "true", "enabled", "1": return true
        case "no", "false", "disabled", "0": return false
        default: throw invalid(kv, "not a boolean", hint: "write yes or no (true/false, enabled/disabled and 1/0 work too)")
        }
    }

    /// An unsigned number: decimal or `0x` hex. A leading zero is refused: strongSwan reads
    /// `010` as octal 8, which nobody means.
    static func number(_ text: Substring) -> UInt64?? {
        let t = text
        guard !t.isEmpty else { return nil }
        if t.count > 2, t.hasPrefix("0x") || t.hasPrefix("0X") {
            let digits = t.dropFirst(2)
            guard digits.allSatisfy({ $0.isASCII && $0.isHexDigit }) else { return .some(nil) }
            return .some(UInt64(digits, radix: 16))
        }
        guard t.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        if t.count > 1 && t.hasPrefix("0") { return .some(nil) }   // octal in strongSwan
        return .some(UInt64(t))
    }

    static func unsigned(_ kv: SwanctlKeyValue, max: UInt64 = .max, what: String = "number") throws(ConfigError) -> UInt64 {
        let text = kv.value.trimmingBlanks
        switch number(text[...]) {
        case .some(.some(let v)) where v <= max: return v
        case .some(.some): throw invalid(kv, "larger than \(max)", hint: "write a \(what) from 0 to \(max)")
        case .some(.none) where text.hasPrefix("0") && !text.hasPrefix("0x"):
            throw invalid(kv, "a leading zero makes strongSwan read it as octal", hint: "drop the leading zeros")
        default: throw invalid(kv, "not a \(what)", hint: "write a decimal \(what) from 0 to \(max) (or 0x… hex)")
        }
    }

    /// A duration in seconds: a number optionally followed by s, m, h or d (swanctl.opt: a
    /// plain number is seconds). One blank may separate them, as strongSwan allows.
    static func duration(_ kv: SwanctlKeyValue) throws(ConfigError) -> UInt64 {
        try scaled(kv, units: ["s": 1, "m": 60, "h": 3600, "d": 86_400],
                   hint: "write seconds, or a number with s, m, h or d: 3600, 60s, 5m, 1h, 1d")
    }

    /// A byte count: a number optionally followed by k, m or g (powers of 1024). strongSwan
    /// takes one letter only: `1kb`, `500MB` are errors there and here.
    static func bytes(_ kv: SwanctlKeyValue) throws(ConfigError) -> UInt64 {
        try scaled(kv, units: ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30],
                   hint: "write bytes, or a number with k, m or g (×1024): 65536, 64k, 500m, 1g")
    }

    private static func scaled(_ kv: SwanctlKeyValue, units: [String: UInt64], hint: String) throws(ConfigError) -> UInt64 {
        var text = kv.value.trimmingBlanks[...]
        var factor: UInt64 = 1
        if let last = text.last, let f = units[last.lowercased()], !(text.hasPrefix("0x") && last.isHexDigit) {
            factor = f
            text = text.dropLast()
            if text.last == " " { text = text.dropLast() }
        }
        guard case .some(.some(let n)) = number(text) else {
            throw invalid(kv, text.hasPrefix("0") && text.count > 1 && !text.hasPrefix("0x")
                          ? "a leading zero makes strongSwan read it as octal" : "not a number with an optional unit",
                          hint: hint)
        }
        let (product, overflow) = n.multipliedReportingOverflow(by: factor)
        guard !overflow else { throw invalid(kv, "too large", hint: hint) }
        return product
    }

    /// A comma-separated list, items trimmed of blanks, empty items dropped (as swanctl's
    /// tokenizer does). Each item comes with where it starts in the file, as far as the value's
    /// text allows (exact for unquoted values written on one line).
    static func list(_ kv: SwanctlKeyValue) -> [(text: String, location: SourceLocation)] {
        var out: [(String, SourceLocation)] = []
        var column = kv.valueLocation.column
        for raw in kv.value.split(separator: ",", omittingEmptySubsequences: false) {
            let leading = raw.prefix { $0 == " " || $0 == "\t" }.unicodeScalars.count
            let item = raw.trimmingBlanks
            if !item.isEmpty {
                var at = kv.valueLocation
                at.column = column + leading
                out.append((String(item), at))
            }
            column += raw.unicodeScalars.count + 1
        }
        return out
    }

    /// One word from `choices` (case-insensitive, as strongSwan's parse_map).
    static func choice<T>(_ kv: SwanctlKeyValue, _ choices: KeyValuePairs<String, T>) throws(ConfigError) -> T {
        let v = kv.value.trimmingBlanks.lowercased()
        for (word, value) in choices where word == v { return value }
        var seen: [String] = []
        for (word, _) in choices where !seen.contains(word) { seen.append(word) }
        throw invalid(kv, "not one of the accepted values", hint: "write one of: \(seen.joined(separator: ", "))")
    }

    /// start_action/dpd_action/close_action share strongSwan's parse_action: none|clear,
    /// trap|route, start|restart, or trap and start combined as `trap|start`.
    static func action(_ kv: SwanctlKeyValue) throws(ConfigError) -> (trap: Bool, start: Bool) {
        var trap = false, start = false
        let words = kv.value.trimmingBlanks.lowercased().split(separator: "|", omittingEmptySubsequences: false)
        for w in words {
            switch w {
            case "none", "clear": break
            case "trap", "route": trap = true
            case "start", "restart": start = true
            default:
                throw invalid(kv, "not an action",
                              hint: kv.key == "dpd_action" ? "write clear, trap or restart (or trap|restart)"
                                                          : "write none, trap or start (or trap|start)")
            }
        }
        return (trap, start)
    }

    // MARK: addresses

    /// A `local_addrs`/`remote_addrs` entry: %any, %any4, %any6, an address, a CIDR subnet,
    /// a range `a-b`, or a DNS name.
    static func addressSpec(_ text: String, at: SourceLocation, key: String) throws(ConfigError) -> AddressMatch {
        switch text.lowercased() {
        case "%any": return .any
        case "%any4": return .address(.unspecified(.v4))
        case "%any6": return .address(.unspecified(.v6))
        default: break
        }
        if let (a, b) = range(text) {
            guard a.family == b.family else {
                throw ConfigError(location: at, message: "invalid \(key) range `\(text)`: its ends are of different address families",
                                  hint: "write two IPv4 or two IPv6 addresses, the lower first")
            }
            guard a <= b else {
                throw ConfigError(location: at, message: "invalid \(key) range `\(text)`: the first address is above the second",
                                  hint: "write the lower address first")
            }
            return .range(a, b)
        }
        if text.contains("/") {
            guard let p = IPPrefix(text) else {
                throw ConfigError(location: at, message: "invalid \(key) subnet `\(text)`",
                                  hint: "write an address and a prefix length, e.g. 192.0.2.0/24 or 2001:db8::/32")
            }
            return .prefix(p)
        }
        if let a = IPAddress(text) { return .address(a) }
        guard isHostname(text) else {
            throw ConfigError(location: at, message: "invalid \(key) entry `\(text)`: not an address, subnet, range or DNS name",
                              hint: "write %any, an address (192.0.2.1, 2001:db8::1), a subnet (192.0.2.0/24), a range (192.0.2.1-192.0.2.9) or a host name")
        }
        return .hostname(text)
    }

    /// `a-b` where both sides are addresses; nil if the text is not of that shape.
    static func range(_ text: String) -> (IPAddress, IPAddress)? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = IPAddress(String(parts[0].trimmingBlanks)),
              let b = IPAddress(String(parts[1].trimmingBlanks)) else { return nil }
        return (a, b)
    }

    /// Letters, digits, `-`, `_` and dots, with no empty label.
    static func isHostname(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        for (i, label) in labels.enumerated() {
            if label.isEmpty && i == labels.count - 1 && i > 0 { continue }   // trailing dot
            guard !label.isEmpty, label.utf8.count <= 63,
                  label.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_") })
            else { return false }
        }
        return true
    }

    // MARK: traffic selectors

    /// Protocol names strongSwan resolves through getprotobyname(3); the common ones.
    static let protocolNames: [String: UInt8] = [
        "icmp": 1, "igmp": 2, "ipencap": 4, "tcp": 6, "udp": 17, "ipv6": 41, "gre": 47, "esp": 50, "ah": 51,
        "ipv6-icmp": 58, "icmpv6": 58, "ospf": 89, "sctp": 132, "udplite": 136,
    ]
    /// Service names strongSwan resolves through getservbyname(3); the common ones.
    static let serviceNames: [String: UInt16] = [
        "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "bootps": 67, "bootpc": 68, "http": 80,
        "www": 80, "pop3": 110, "ntp": 123, "imap": 143, "snmp": 161, "bgp": 179, "ldap": 389, "https": 443,
        "isakmp": 500, "syslog": 514, "submission": 587, "ldaps": 636, "imaps": 993, "pop3s": 995,
        "l2tp": 1701, "openvpn": 1194, "ipsec-nat-t": 4500, "sip": 5060,
    ]

    /// `10.1.0.0/24`, `dynamic`, `10.0.0.1-10.0.0.9`, `2001:db8::/32`, each optionally followed
    /// by `[proto]`, `[proto/port]` or `[proto/lo-hi]` (proto: a name, a number or `any`;
    /// port: a number, a service name, `any`/`%any`). `opaque` ports are not supported.
    static func trafficSelector(_ text: String, at: SourceLocation, key: String) throws(ConfigError) -> SelectorPolicy {
        func fail(_ what: String, _ hint: String, offset: Int = 0) -> ConfigError {
            var l = at
            l.column += offset
            return ConfigError(location: l, message: "invalid \(key) `\(text)`: \(what)", hint: hint)
        }
        var addressText = Substring(text)
        var ipProtocol: UInt8 = 0
        var ports: PortRange?
        if let open = text.firstIndex(of: "[") {
            let openOffset = text.unicodeScalars.distance(from: text.startIndex, to: open)
            addressText = text[..<open]
            let rest = text[text.index(after: open)...]
            guard let close = rest.lastIndex(of: "]"), rest[rest.index(after: close)...].trimmingBlanks.isEmpty else {
                throw fail("`[` without a matching `]` at the end", "write e.g. 10.1.0.0/24[tcp/443]", offset: openOffset)
            }
            let inner = rest[..<close]
            let slash = inner.firstIndex(of: "/")
            let protoText = String(inner[..<(slash ?? inner.endIndex)]).lowercased()
            let portText = slash.map { String(inner[inner.index(after: $0)...]).lowercased() } ?? ""
            if protoText == "any" || protoText.isEmpty && slash != nil {
                ipProtocol = 0
            } else if let p = protocolNames[protoText] {
                ipProtocol = p
            } else if case .some(.some(let n)) = number(protoText[...]), n <= 255 {
                ipProtocol = UInt8(n)
            } else {
                throw fail("unknown protocol `\(protoText)`",
                           "write tcp, udp, icmp, ipv6-icmp, sctp, gre, esp, any or a protocol number 0-255", offset: openOffset + 1)
            }
            switch portText {
            case "", "any", "%any":
                ports = nil
            case "opaque":
                throw fail("OPAQUE port selectors are not supported by Tern", "remove `/opaque`, or name the ports")
            default:
                if let p = serviceNames[portText] {
                    ports = PortRange(p)
                } else {
                    let bounds = portText.split(separator: "-", omittingEmptySubsequences: false)
                    guard bounds.count <= 2, case .some(.some(let lo)) = number(bounds[0]), lo <= 65535,
                          case .some(.some(let hi)) = number(bounds.count == 2 ? bounds[1] : bounds[0]), hi <= 65535, lo <= hi
                    else {
                        throw fail("bad port `\(portText)`", "write a port (443), a range (1024-65535), a service name or any")
                    }
                    ports = PortRange(UInt16(lo), UInt16(hi))
                }
            }
        }
        let address = String(addressText.trimmingBlanks)
        let lo = ports?.lower ?? 0, hi = ports?.upper ?? 65_535
        if address.lowercased() == "dynamic" {
            return SelectorPolicy(.dynamic, ipProtocol: ipProtocol, startPort: lo, endPort: hi)
        }
        if address.contains("-") {
            guard let (a, b) = range(address) else {
                throw fail("not an address range", "write two addresses of one family, e.g. 10.0.0.1-10.0.0.9")
            }
            guard a.family == b.family else {
                throw fail("the range mixes IPv4 and IPv6", "write two IPv4 or two IPv6 addresses")
            }
            guard a <= b else { throw fail("the first address is above the second", "write the lower address first") }
            return SelectorPolicy(.range(a, b), ipProtocol: ipProtocol, startPort: lo, endPort: hi)
        }
        guard let p = IPPrefix(address) else {
            let hint = address.contains(":") ? "write an IPv6 subnet such as 2001:db8::/32 or ::/0"
                                             : "write an IPv4 subnet such as 10.1.0.0/24 or 0.0.0.0/0, or dynamic"
            throw fail(address.contains("/") ? "not a subnet" : "not an address or subnet", hint)
        }
        return SelectorPolicy(prefix: p, ipProtocol: ipProtocol, startPort: lo, endPort: hi)
    }

    // MARK: secrets

    /// A secret as swanctl's load_creds reads it: `0x…` hex (`:` separators allowed), `0s…`
    /// base64, otherwise the text itself. The error never quotes the value.
    static func secret(_ kv: SwanctlKeyValue) throws(ConfigError) -> SecretValue {
        let v = kv.value
        let lower = v.prefix(2).lowercased()
        if lower == "0x" {
            guard let bytes = hex(v.dropFirst(2)) else {
                throw ConfigError(location: kv.valueLocation, message: "invalid \(kv.key): `0x` is followed by something that is not hex (\(v.utf8.count) characters, not shown)",
                                  hint: "write hex digits after 0x, quote the value and drop the 0x if it is a passphrase")
            }
            return SecretValue(bytes: bytes)
        }
        if lower == "0s" {
            guard let bytes = base64(v.dropFirst(2)) else {
                throw ConfigError(location: kv.valueLocation, message: "invalid \(kv.key): `0s` is followed by something that is not base64 (\(v.utf8.count) characters, not shown)",
                                  hint: "write base64 after 0s")
            }
            return SecretValue(bytes: bytes)
        }
        return SecretValue(bytes: Array(v.utf8))
    }

    static func hex(_ text: Substring) -> [UInt8]? {
        var digits: [UInt8] = []
        for c in text.utf8 where c != UInt8(ascii: ":") {
            guard let d = hexValue(c) else { return nil }
            digits.append(d)
        }
        if digits.count % 2 == 1 { digits.insert(0, at: 0) }   // strongSwan pads odd lengths in front
        return stride(from: 0, to: digits.count, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func base64(_ text: Substring) -> [UInt8]? {
        var out: [UInt8] = []
        var accumulator: UInt32 = 0, bits = 0, padding = 0
        for c in text.utf8 {
            let v: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "+"): v = 62
            case UInt8(ascii: "/"): v = 63
            case UInt8(ascii: "="): padding += 1; continue
            default: return nil
            }
            guard padding == 0 else { return nil }   // data after padding
            accumulator = accumulator << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        return padding <= 2 ? out : nil
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs.
    var trimmingBlanks: Substring {
        guard let first = firstIndex(where: { $0 != " " && $0 != "\t" }),
              let last = lastIndex(where: { $0 != " " && $0 != "\t" }) else { return self[endIndex...] }
        return self[first...last]
    }
}

extension String {
    var trimmingBlanks: Substring { self[...].trimmingBlanks }
}
