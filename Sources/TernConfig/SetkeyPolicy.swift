import TernDataPlane
import TernWire

/// `spdadd`/`spddelete`: selectors, then the policy that libipsec's ipsec_set_policy(3) parses:
///
///     -P direction [priority] discard
///     -P direction [priority] none
///     -P direction [priority] ipsec protocol/mode/src-dst/level [...]
///
/// priority: `prio N`, `prio -N`, `prio low|def|high`, `prio low|def|high {+|-} N` (also spelled
/// `priority`). As in ipsec-tools on Linux, `def` is 0x80000000, `high` 0x40000000 and `low`
/// 0xC0000000; `+` raises the priority, which lowers the number, and the lowest number wins.
extension SetkeyStatementParser {
    func parsePolicy(_ c: inout TokenCursor, command: String) throws(ConfigError) -> PolicyConfig {
        let family = try parseAddressOptions(&c)
        let src = try parseSelector(&c, what: "source address")
        let dst = try parseSelector(&c, what: "destination address")
        let (source, destination) = try resolveSelectors(src, dst, family: family)
        let (upper, upperToken) = try parseUpperSpec(&c)

        var sourcePorts = src.ports, destinationPorts = dst.ports
        if let t = c.peek, t.kind == .word, !t.text.hasPrefix("-") {
            // setkey's upper_misc_spec: `icmp6 TYPE[,CODE]`.
            _ = c.next()
            guard upper == 1 || upper == 58 else {
                throw error(t, "expected -P after the upper-layer protocol, found '\(SetkeyLexer.quote(t.text))'",
                            hint: "only icmp and icmp6 take a TYPE[,CODE] after the protocol")
            }
            if let spec = [src, dst].first(where: { $0.ports != nil }) {
                throw error(spec.token, offset: spec.portOffset ?? 0, "ICMP has no ports",
                            hint: "select ICMP messages with `icmp TYPE,CODE` after the protocol")
            }
            sourcePorts = try parseICMPTypeCode(t)
            destinationPorts = nil
        } else {
            // The data plane sees ports for tcp, udp and sctp only (and ICMP type/code, above).
            for spec in [src, dst] where spec.ports != nil {
                switch upper {
                case 6, 17, 132: break
                case 1, 58:
                    throw error(spec.token, offset: spec.portOffset ?? 0, "ICMP has no ports",
                                hint: "select ICMP messages with `icmp TYPE,CODE` after the protocol")
                default:
                    throw error(spec.token, offset: spec.portOffset ?? 0,
                                "a port selects only tcp, udp or sctp traffic, but the upper-layer protocol is '\(upperToken.text)'",
                                hint: "name the protocol (e.g. tcp instead of any), or write [any]")
                }
            }
        }

        guard let p = c.next() else {
            throw ConfigError(location: endLocation(c), message: "expected -P direction policy, found `;`",
                              hint: "for example -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/require")
        }
        guard p.kind == .word, p.text == "-P" else {
            throw error(p, "expected -P direction policy, found \(describe(p))",
                        hint: "\(command) takes: source destination upperspec -P direction policy")
        }
        let dirToken = try expectWord(&c, "direction in, out or fwd after -P")
        guard let direction = PolicyDirection(rawValue: dirToken.text) else {
            throw error(dirToken, "expected direction in, out or fwd after -P, found '\(SetkeyLexer.quote(dirToken.text))'",
                        hint: "write -P in, -P out or -P fwd")
        }
        var policy = PolicyConfig(source: source, destination: destination, sourcePorts: sourcePorts,
                                  destinationPorts: destinationPorts, upperProtocol: upper,
                                  direction: direction, action: .discard)
        // spddelete needs only the direction; setkey also accepts (and ignores) a full policy there.
        if command == "spddelete" && c.atEnd { return policy }

        if let t = c.peek, t.kind == .word, t.text == "prio" || t.text == "priority" {
            _ = c.next()
            policy.priority = try parsePriority(&c, keyword: t)
        }
        let action = try expectWord(&c, "policy discard, none or ipsec",
                                    hint: "for example ipsec esp/transport//require")
        switch action.text {
        case "discard":
            policy.action = .discard
        case "none":
            policy.action = .bypass
        case "ipsec":
            var rules: [IPSecRule] = []
            while let r = c.next() {
                guard r.kind == .word else { throw error(r, "expected a rule such as esp/transport//require, found a quoted string") }
                rules.append(try parseRule(r, direction: direction))
            }
            guard !rules.isEmpty else {
                throw ConfigError(location: endLocation(c), message: "`ipsec` needs at least one rule, found `;`",
                                  hint: "add a rule such as esp/tunnel/192.0.2.1-192.0.2.2/require or esp/transport//require")
            }
            policy.action = .protect(rules)
        case "entrust", "bypass":
            throw error(action, "`\(action.text)` is for per-socket policies and is not supported in a setkey file",
                        hint: "use none, discard or ipsec")
        default:
            throw error(action, "expected policy discard, none or ipsec, found '\(SetkeyLexer.quote(action.text))'",
                        hint: "for example ipsec esp/transport//require")
        }
        if let extra = c.peek {
            throw error(extra, "expected `;`, found \(describe(extra))", hint: "`\(action.text)` takes no rules")
        }
        return policy
    }

    // MARK: - priority

    private enum PriorityPart { case base(UInt32), plus, minus, number(UInt64) }

    /// Reads the words after `prio` up to the action, splitting `def+10` into `def`, `+`, `10`.
    func parsePriority(_ c: inout TokenCursor, keyword: SetkeyToken) throws(ConfigError) -> UInt32 {
        var parts: [(PriorityPart, SetkeyToken, Int)] = []
        while let t = c.peek, t.kind == .word, !["discard", "none", "ipsec", "entrust", "bypass"].contains(t.text) {
            _ = c.next()
            let u = Array(t.text.utf8)
            var i = 0
            while i < u.count {
                let b = u[i]
                if b == UInt8(ascii: "+") { parts.append((.plus, t, i)); i += 1; continue }
                if b == UInt8(ascii: "-") { parts.append((.minus, t, i)); i += 1; continue }
                let start = i
                while i < u.count && u[i] != UInt8(ascii: "+") && u[i] != UInt8(ascii: "-") { i += 1 }
                let word = String(decoding: u[start..<i], as: UTF8.self)
                switch word {
                case "low": parts.append((.base(0xC000_0000), t, start))
                case "def": parts.append((.base(0x8000_0000), t, start))
                case "high": parts.append((.base(0x4000_0000), t, start))
                default:
                    guard let n = parseUnsigned(word, allowHex: false) else {
                        throw error(t, offset: start, "expected a priority (a number, or low, def or high with + or - and a number), found '\(SetkeyLexer.quote(word))'",
                                    hint: "for example prio def + 10, or prio 100")
                    }
                    parts.append((.number(n), t, start))
                }
            }
        }
        let hint = "write prio N, prio -N, prio def, or prio low|def|high +|- N"
        func fail(_ at: (PriorityPart, SetkeyToken, Int)?, _ message: String) -> ConfigError {
            if case let (_, t, off)? = at { return error(t, offset: off, message, hint: hint) }
            return error(keyword, message, hint: hint)
        }
        let p0 = parts.first, p1 = parts.count > 1 ? parts[1] : nil, p2 = parts.count > 2 ? parts[2] : nil
        if parts.count > 3, let extra = parts.last { throw fail(extra, "too many parts in the priority") }
        switch (p0?.0, p1?.0, p2?.0) {
        case (nil, _, _):
            throw fail(nil, "expected a priority after \(keyword.text)")
        case (.number(let n)?, nil, nil):
            // ipsec-tools: a plain offset N is "N above default".
            guard n <= 0x8000_0000 else { throw fail(p0, "priority offset \(n) is out of range (at most 2147483648)") }
            return 0x8000_0000 - UInt32(n)
        case (.minus?, .number(let n)?, nil):
            guard n <= 0x7FFF_FFFF else { throw fail(p1, "priority offset -\(n) is out of range (at least -2147483647)") }
            return 0x8000_0000 + UInt32(n)
        case (.base(let b)?, nil, nil):
            return b
        case (.base(let b)?, .plus?, .number(let n)?):
            guard n <= 0x4000_0000 else { throw fail(p2, "a + offset is at most 1073741824, found \(n)") }
            return b - UInt32(n)
        case (.base(let b)?, .minus?, .number(let n)?):
            guard n <= 0x3FFF_FFFF else { throw fail(p2, "a - offset is at most 1073741823, found \(n)") }
            return b + UInt32(n)
        case (.base?, _?, nil):
            throw fail(p1, "expected a number after the sign")
        default:
            throw fail(p0, "this priority is not one setkey knows")
        }
    }

    // MARK: - rules

    /// `protocol/mode/src-dst/level`, with the forms libipsec allows: `esp/transport`,
    /// `esp/transport/`, `esp/transport//require`, `esp/tunnel/a-b`, `esp/tunnel/a-b/use`.
    func parseRule(_ t: SetkeyToken, direction: PolicyDirection) throws(ConfigError) -> IPSecRule {
        let u = Array(t.text.utf8)
        var fields: [Range<Int>] = []
        var start = 0
        for (i, b) in u.enumerated() where b == UInt8(ascii: "/") {
            fields.append(start..<i); start = i + 1
        }
        fields.append(start..<u.count)
        func text(_ r: Range<Int>) -> String { String(decoding: u[r], as: UTF8.self) }
        let example = "esp/tunnel/192.0.2.1-192.0.2.2/require or esp/transport//require"
        guard fields.count >= 2, !fields[1].isEmpty else {
            throw error(t, "a rule needs at least protocol/mode, found '\(SetkeyLexer.quote(t.text))'", hint: "for example \(example)")
        }
        guard fields.count <= 4 else {
            throw error(t, offset: fields[4].lowerBound - 1, "too many '/' in the rule '\(SetkeyLexer.quote(t.text))'",
                        hint: "a rule is protocol/mode/src-dst/level, e.g. \(example)")
        }
        let proto: IPSecProtocol
        switch text(fields[0]) {
        case "esp": proto = .esp
        case "ah": proto = .ah
        case "ipcomp":
            throw error(t, "ipcomp (IP payload compression) is not supported", hint: "remove the ipcomp/… rule")
        default:
            throw error(t, offset: fields[0].lowerBound, "expected rule protocol esp or ah, found '\(SetkeyLexer.quote(text(fields[0])))'",
                        hint: "for example \(example)")
        }
        let mode: IPSecMode
        switch text(fields[1]) {
        case "transport": mode = .transport
        case "tunnel": mode = .tunnel
        default:
            throw error(t, offset: fields[1].lowerBound, "expected rule mode transport or tunnel, found '\(SetkeyLexer.quote(text(fields[1])))'",
                        hint: "for example \(example)")
        }
        var rule = IPSecRule(proto: proto, mode: mode, level: .default)
        if fields.count >= 3, !fields[2].isEmpty {
            let r = fields[2]
            // src-dst; IPv6 addresses have no '-', but ports in brackets might not either.
            guard let dash = u[r].firstIndex(of: UInt8(ascii: "-")) else {
                throw error(t, offset: r.lowerBound, "expected the tunnel endpoints as src-dst, found '\(SetkeyLexer.quote(text(r)))'",
                            hint: "for example esp/tunnel/192.0.2.1-192.0.2.2/require")
            }
            let srcRange = r.lowerBound..<dash, dstRange = (dash + 1)..<r.upperBound
            if ["me", "any"].contains(text(srcRange)) || ["me", "any"].contains(text(dstRange)) {
                throw error(t, offset: r.lowerBound, "the `me` and `any` endpoints are not supported",
                            hint: "write both tunnel endpoint addresses")
            }
            let a = try parseEndpoint(t, u, srcRange, what: "tunnel source address")
            let b = try parseEndpoint(t, u, dstRange, what: "tunnel destination address")
            guard a.family == b.family else {
                throw error(t, offset: dstRange.lowerBound, "the tunnel source \(a) is \(familyName(a.family)) but the destination \(b) is \(familyName(b.family))",
                            hint: "both tunnel endpoints must be of one family")
            }
            rule.tunnelSource = a; rule.tunnelDestination = b
        } else if mode == .tunnel {
            throw error(t, "tunnel mode needs the tunnel endpoints", hint: "for example \(proto)/tunnel/192.0.2.1-192.0.2.2/require")
        }
        if fields.count == 4, !fields[3].isEmpty {
            let r = fields[3]
            let level = text(r)
            switch level {
            case "default": rule.level = .default
            case "use": rule.level = .use
            case "require": rule.level = .require
            case "unique": rule.level = .unique(reqid: 0)
            default:
                guard level.hasPrefix("unique:") else {
                    throw error(t, offset: r.lowerBound, "expected level default, use, require or unique, found '\(SetkeyLexer.quote(level))'",
                                hint: "for example \(example)")
                }
                let digits = String(level.dropFirst("unique:".count))
                // PF_KEY (and Linux) accept manual reqids up to IPSEC_MANUAL_REQID_MAX.
                guard let n = parseUnsigned(digits, allowHex: false), n <= 0x3FFF else {
                    throw error(t, offset: r.lowerBound + 7, "expected a reqid 0–16383 after unique:, found '\(SetkeyLexer.quote(digits))'",
                                hint: "pair it with the SA's -u, e.g. unique:7 and -u 7")
                }
                rule.level = .unique(reqid: UInt32(n))
            }
        }
        return rule
    }

    /// A tunnel endpoint; a `[port]` (used by NAT-T setups to pick the SA) is accepted and ignored,
    /// because Tern picks the SA by protocol and endpoint addresses.
    private func parseEndpoint(_ t: SetkeyToken, _ u: [UInt8], _ r: Range<Int>, what: String) throws(ConfigError) -> IPAddress {
        var end = r.upperBound
        if let bracket = u[r].firstIndex(of: UInt8(ascii: "[")) {
            let sub = Array(u[bracket..<r.upperBound])
            guard sub.last == UInt8(ascii: "]") else {
                throw error(t, offset: bracket, "expected a port in brackets, such as [4500]", hint: "close the bracket")
            }
            _ = try parsePorts(SetkeyToken(kind: .word, text: String(decoding: sub, as: UTF8.self), line: t.line,
                                           column: location(t, offset: bracket).column),
                               sub, from: 0, allowRange: false)
            end = bracket
        }
        return try parseAddress(t, u, r.lowerBound..<end, what: what)
    }
}
