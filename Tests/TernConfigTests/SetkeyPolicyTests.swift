import Testing
import TernConfig
import TernDataPlane
import TernWire

/// SPD statements: selectors, upper-layer protocols, priorities, actions, rules and bundles.
@Suite struct SetkeyPolicyTests {
    @Test func tunnelPolicy() throws {
        let p = try #require(policy("spdadd 203.0.113.0/24 198.51.100.0/24 any -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;"))
        #expect(p.source == prefix("203.0.113.0/24"))
        #expect(p.destination == prefix("198.51.100.0/24"))
        #expect(p.upperProtocol == nil)
        #expect(p.sourcePorts == nil && p.destinationPorts == nil)
        #expect(p.direction == .outbound)
        #expect(p.priority == PolicyConfig.defaultPriority)
        #expect(p.action == .protect([IPSecRule(proto: .esp, mode: .tunnel, tunnelSource: ip("192.0.2.1"),
                                                tunnelDestination: ip("192.0.2.2"), level: .require)]))
    }

    @Test func hostSelectorsDefaultToFullPrefix() throws {
        let p = try #require(policy("spdadd 192.0.2.1 192.0.2.2 any -P in ipsec ah/transport//require;"))
        #expect(p.source == prefix("192.0.2.1/32"))
        #expect(p.destination == prefix("192.0.2.2/32"))
        #expect(p.direction == .inbound)
        #expect(p.action == .protect([IPSecRule(proto: .ah, mode: .transport, level: .require)]))
        let v6 = try #require(policy("spdadd 2001:db8::1 2001:db8::/32 any -P fwd discard;"))
        #expect(v6.source == prefix("2001:db8::1/128"))
        #expect(v6.destination == prefix("2001:db8::/32"))
        #expect(v6.direction == .forward)
        #expect(v6.action == .discard)
    }

    @Test func portsAndUpperLayer() throws {
        let p = try #require(policy("spdadd 10.0.0.1[80] 10.0.0.0/8[any] tcp -P out none;"))
        #expect(p.sourcePorts == PortRange(80))
        #expect(p.destinationPorts == nil)
        #expect(p.upperProtocol == 6)
        #expect(p.action == .bypass)
        let range = try #require(policy("spdadd 192.0.2.0/24[1024-65535] 198.51.100.1[53] udp -P out ipsec esp/transport//use;"))
        #expect(range.sourcePorts == PortRange(1024, 65535))
        #expect(range.destinationPorts == PortRange(53))
        #expect(range.upperProtocol == 17)
        #expect(parseError("spdadd 10.0.0.1[80] 10.0.0.2 any -P out none;")?.message.contains("only tcp, udp or sctp") == true)
        #expect(parseError("spdadd 10.0.0.1[80] 10.0.0.2 icmp -P out none;")?.message == "ICMP has no ports")
        #expect(parseError("spdadd 10.0.0.1[http] 10.0.0.2 tcp -P out none;")?.hint?.contains("service names") == true)
        #expect(parseError("spdadd 10.0.0.1[90-80] 10.0.0.2 tcp -P out none;")?.message.contains("empty") == true)
        #expect(parseError("spdadd 10.0.0.1[80 10.0.0.2 tcp -P out none;")?.message.contains("brackets") == true)
    }

    @Test(arguments: [("any", nil), ("icmp", 1), ("icmp6", 58), ("ipv6-icmp", 58), ("tcp", 6), ("udp", 17),
                      ("ipencap", 4), ("ip4", 4), ("gre", 47), ("esp", 50), ("ah", 51), ("sctp", 132),
                      ("41", 41), ("0", 0), ("255", nil), ("TCP", 6)] as [(String, UInt8?)])
    func upperLayerProtocols(_ name: String, _ number: UInt8?) throws {
        let p = try #require(policy("spdadd 192.0.2.0/24 198.51.100.0/24 \(name) -P out discard;"))
        #expect(p.upperProtocol == number)
    }

    @Test func upperLayerErrors() {
        #expect(parseError("spdadd 192.0.2.0/24 198.51.100.0/24 bogus -P out discard;")?.message.contains("unknown upper-layer protocol") == true)
        #expect(parseError("spdadd 192.0.2.0/24 198.51.100.0/24 256 -P out discard;")?.message.contains("above 255") == true)
    }

    @Test func icmpTypeAndCode() throws {
        let ns = try #require(policy("spdadd ::/0 ::/0 icmp6 135,0 -P out none;"))
        #expect(ns.upperProtocol == 58)
        #expect(ns.sourcePorts == PortRange(135 << 8), "type in the high byte, code in the low byte")
        let echo = try #require(policy("spdadd 0.0.0.0/0 0.0.0.0/0 icmp 8 -P in none;"))
        #expect(echo.sourcePorts == PortRange(8 << 8, 8 << 8 | 0xff), "a type alone matches every code")
        #expect(parseError("spdadd ::/0 ::/0 tcp 135,0 -P out none;")?.hint?.contains("only icmp and icmp6") == true)
        #expect(parseError("spdadd ::/0 ::/0 icmp6 300 -P out none;")?.message.contains("ICMP type") == true)
        #expect(parseError("spdadd ::/0[any] ::/0[22] icmp6 1 -P out none;")?.message == "ICMP has no ports")
    }

    @Test func anyAddress() throws {
        let p = try #require(policy("spdadd any 198.51.100.0/24 any -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;"))
        #expect(p.source == IPPrefix.any(.v4))
        let v6 = try #require(policy("spdadd 2001:db8::/64 any any -P in discard;"))
        #expect(v6.destination == IPPrefix.any(.v6))
        let forced = try #require(policy("spdadd -6 any any any -P out discard;"))
        #expect(forced.source == IPPrefix.any(.v6) && forced.destination == IPPrefix.any(.v6))
        #expect(parseError("spdadd any any any -P out discard;")?.message.contains("family is unknown") == true)
        #expect(parseError("spdadd any/8 10.0.0.0/8 any -P out discard;")?.message.contains("no prefix length") == true)
    }

    @Test func seed004AsPrintedIsRefusedClearly() throws {
        // The seed's text lost its addresses in conversion; what is left cannot be a policy.
        let e = try #require(parseError("spdadd any -P out ipsec \n;"))
        #expect(e.location.line == 1)
        #expect(e.location.column == 12)
        #expect(e.message == "expected destination address, found '-P'")
    }

    @Test func prefixAndFamilyErrors() throws {
        #expect(parseError("spdadd 192.0.2.0/33 10.0.0.0/8 any -P out discard;")?.location.column == 18)
        #expect(parseError("spdadd 2001:db8::/129 ::/0 any -P out discard;")?.message.contains("0–128") == true)
        let mixed = try #require(parseError("spdadd 192.0.2.0/24 2001:db8::/32 any -P out discard;"))
        #expect(mixed.location.column == 21)
        #expect(mixed.message.contains("IPv4") && mixed.message.contains("IPv6"))
    }

    @Test func priorities() throws {
        let base = "spdadd 192.0.2.0/24 198.51.100.0/24 any -P out"
        let cases: [(String, UInt32)] = [
            ("", 0x8000_0000),
            ("prio def", 0x8000_0000),
            ("prio 10", 0x8000_0000 - 10),
            ("prio -10", 0x8000_0000 + 10),
            ("prio - 10", 0x8000_0000 + 10),
            ("prio def + 10", 0x8000_0000 - 10),
            ("prio def+10", 0x8000_0000 - 10),
            ("priority def - 5", 0x8000_0000 + 5),
            ("prio high", 0x4000_0000),
            ("prio high + 1073741824", 0),
            ("prio low", 0xC000_0000),
            ("prio low - 1073741823", 0xFFFF_FFFF),
            ("prio 2147483648", 0),
        ]
        for (spec, value) in cases {
            let p = try #require(policy("\(base) \(spec) discard;"))
            #expect(p.priority == value, "\(spec)")
        }
        // Higher setkey priority → lower number → wins in Tern's SPD.
        let high = try #require(policy("\(base) prio def + 100 discard;"))
        let low = try #require(policy("\(base) prio def - 100 discard;"))
        #expect(high.priority < PolicyConfig.defaultPriority && PolicyConfig.defaultPriority < low.priority)

        #expect(parseError("\(base) prio high + 1073741825 discard;")?.message.contains("at most 1073741824") == true)
        #expect(parseError("\(base) prio low - 1073741824 discard;")?.message.contains("at most 1073741823") == true)
        #expect(parseError("\(base) prio 2147483649 discard;")?.message.contains("out of range") == true)
        #expect(parseError("\(base) prio medium discard;")?.location.column == 53)
        #expect(parseError("\(base) prio discard;")?.message.contains("expected a priority") == true)
        #expect(parseError("\(base) prio def + discard;")?.message.contains("expected a number") == true)
    }

    @Test func bundleAndLevels() throws {
        let p = try #require(policy("""
            spdadd 10.1.0.0/16 10.2.0.0/16 any -P out ipsec
                esp/transport//use
                ah/transport/192.0.2.1-192.0.2.2/unique:7
                esp/tunnel/2001:db8::1-2001:db8::2/default
                ah/tunnel/192.0.2.1-192.0.2.2
                esp/transport/
                esp/transport/192.0.2.1[4500]-192.0.2.2[4500]/unique;
            """))
        guard case .protect(let rules) = p.action else { Issue.record("not ipsec"); return }
        #expect(rules == [
            IPSecRule(proto: .esp, mode: .transport, level: .use),
            IPSecRule(proto: .ah, mode: .transport, tunnelSource: ip("192.0.2.1"), tunnelDestination: ip("192.0.2.2"), level: .unique(reqid: 7)),
            IPSecRule(proto: .esp, mode: .tunnel, tunnelSource: ip("2001:db8::1"), tunnelDestination: ip("2001:db8::2"), level: .default),
            IPSecRule(proto: .ah, mode: .tunnel, tunnelSource: ip("192.0.2.1"), tunnelDestination: ip("192.0.2.2"), level: .default),
            IPSecRule(proto: .esp, mode: .transport, level: .default),
            IPSecRule(proto: .esp, mode: .transport, tunnelSource: ip("192.0.2.1"), tunnelDestination: ip("192.0.2.2"), level: .unique(reqid: 0)),
        ])
    }

    @Test func ruleErrors() throws {
        let base = "spdadd 10.1.0.0/16 10.2.0.0/16 any -P out ipsec"
        #expect(parseError("\(base);")?.message.contains("at least one rule") == true)
        #expect(parseError("\(base) esp;")?.message.contains("at least protocol/mode") == true)
        #expect(parseError("\(base) esp/;")?.message.contains("at least protocol/mode") == true)
        #expect(parseError("\(base) ipcomp/tunnel/192.0.2.1-192.0.2.2/use;")?.message.contains("ipcomp") == true)
        #expect(parseError("\(base) tcp/transport//require;")?.message.contains("esp or ah") == true)
        let mode = try #require(parseError("\(base) esp/any//require;"))
        #expect(mode.location.column == 53)
        #expect(parseError("\(base) esp/tunnel//require;")?.message.contains("tunnel endpoints") == true)
        #expect(parseError("\(base) esp/tunnel/192.0.2.1/require;")?.message.contains("src-dst") == true)
        #expect(parseError("\(base) esp/tunnel/192.0.2.1-2001:db8::1/require;")?.message.contains("IPv6") == true)
        #expect(parseError("\(base) esp/tunnel/me-any/require;")?.message.contains("`me`") == true)
        #expect(parseError("\(base) esp/transport//always;")?.message.contains("expected level") == true)
        #expect(parseError("\(base) esp/transport//unique:16384;")?.message.contains("0–16383") == true)
        #expect(parseError("\(base) esp/transport//require/x;")?.message.contains("too many") == true)
        #expect(parseError("spdadd 10.1.0.0/16 10.2.0.0/16 any -P out none esp/transport//require;")?.hint == "`none` takes no rules")
        #expect(parseError("spdadd 10.1.0.0/16 10.2.0.0/16 any -P out entrust;")?.message.contains("not supported") == true)
        #expect(parseError("spdadd 10.1.0.0/16 10.2.0.0/16 any -P out;")?.message.contains("expected policy") == true)
        #expect(parseError("spdadd 10.1.0.0/16 10.2.0.0/16 any;")?.message.contains("expected -P") == true)
        #expect(parseError("spdadd 10.1.0.0/16 10.2.0.0/16 any out ipsec esp/transport//require;")?.message == "expected -P after the upper-layer protocol, found 'out'")
    }

    @Test func spddelete() throws {
        let sel = PolicySelector(source: prefix("10.1.0.0/16"), destination: prefix("10.2.0.0/16"), sourcePorts: nil,
                                 destinationPorts: PortRange(443), upperProtocol: 6, direction: .outbound)
        #expect(command("spddelete 10.1.0.0/16 10.2.0.0/16[443] tcp -P out;") == .spdDelete(sel))
        #expect(command("spddelete 10.1.0.0/16 10.2.0.0/16[443] tcp -P out ipsec esp/transport//require;") == .spdDelete(sel))
        #expect(parseError("spddelete 10.1.0.0/16 10.2.0.0/16 tcp;")?.message.contains("expected -P") == true)
    }
}
