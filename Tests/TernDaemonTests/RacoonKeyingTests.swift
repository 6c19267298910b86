import Testing
import TernConfig
import TernDataPlane
import TernIKE
import TernTestSupport
import TernWire

/// racoon's keying from setkey policies and psk.txt, with IKEv2 (issue 16): policies become
/// trap connections with exactly their selectors, keyed by the peer's psk.txt line.
@Suite struct RacoonKeyingTests {
    static let policiesA = """
    # Seed 003's gateway-to-gateway policy (addresses in the test ranges), and a subnet pair.
    spdadd 192.0.2.1/32 192.0.2.2/32 ipencap -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;
    spdadd 192.0.2.2/32 192.0.2.1/32 ipencap -P in ipsec esp/tunnel/192.0.2.2-192.0.2.1/require;
    spdadd 10.1.0.0/24 10.2.0.0/24[80] tcp -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/unique;
    spdadd 10.2.0.0/24[80] 10.1.0.0/24 tcp -P in ipsec esp/tunnel/192.0.2.2-192.0.2.1/unique;
    spdadd 10.1.0.0/24 10.9.0.0/24 any -P out ipsec esp/tunnel/192.0.2.1-192.0.2.9/use;
    """
    static let policiesB = """
    spdadd 192.0.2.2/32 192.0.2.1/32 ipencap -P out ipsec esp/tunnel/192.0.2.2-192.0.2.1/require;
    spdadd 192.0.2.1/32 192.0.2.2/32 ipencap -P in ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;
    spdadd 10.2.0.0/24[80] 10.1.0.0/24 tcp -P out ipsec esp/tunnel/192.0.2.2-192.0.2.1/unique;
    spdadd 10.1.0.0/24 10.2.0.0/24[80] tcp -P in ipsec esp/tunnel/192.0.2.1-192.0.2.2/unique;
    """

    static func keying(_ policies: String, psk: String, file: String) throws -> (RacoonKeying.Result, SecurityDatabaseConfig) {
        let statements = try SetkeyParser.parse(policies, file: file)
        var db = SecurityDatabaseConfig()
        try SetkeyFile.apply(statements, to: &db)
        let keys = try RacoonPSKFile.parse(psk, file: "psk.txt")
        return (try RacoonKeying.connections(statements: statements, database: db, psk: keys), db)
    }

    @Test func requirePoliciesBecomeTrapConnectionsWithTheirSelectors() throws {
        let (r, _) = try Self.keying(Self.policiesA, psk: "192.0.2.2  a shared secret\n", file: "a.setkey")
        #expect(r.connections.map(\.name) == ["setkey-192.0.2.2"])
        #expect(r.connections[0].children.map(\.name) == ["setkey-192.0.2.2-1", "setkey-192.0.2.2-2"])
        let gw = r.connections[0]
        #expect(gw.localAddresses == [.address(IPAddress("192.0.2.1")!)] && gw.remoteAddresses == [.address(IPAddress("192.0.2.2")!)])
        #expect(gw.localIdentity == .ipv4(IPAddress("192.0.2.1")!) && gw.remoteIdentity == .ipv4(IPAddress("192.0.2.2")!))
        #expect(gw.children[0].localSelectors.map(\.description) == ["192.0.2.1/32[4/0-65535]"])
        #expect(gw.children[0].startAction == .trap && gw.children[0].mode == .tunnel)
        let web = r.connections[0].children[1]
        #expect(web.remoteSelectors == [SelectorPolicy(prefix: IPPrefix("10.2.0.0/24")!, ipProtocol: 6, startPort: 80, endPort: 80)])
        // `use` negotiates nothing; the in policies go with their CHILD SAs.
        #expect(r.keyedPolicies.count == 4 && r.keyedPolicies.allSatisfy { $0.destination != IPPrefix("10.9.0.0/24")! })
        #expect(r.sharedKeys.count == 1 && r.sharedKeys[0].secret == Array("a shared secret".utf8))
        #expect(r.warnings.isEmpty)
    }

    @Test func aPeerWithoutAPSKLineIsNamedAndAHIsRefusedWithItsLine() throws {
        let (r, _) = try Self.keying(Self.policiesA, psk: "192.0.2.77 other\n", file: "a.setkey")
        #expect(r.warnings.count == 1 && r.warnings[0].message.contains("no line for 192.0.2.2"))
        do {
            _ = try Self.keying("\n\nspdadd 10.1.0.0/24 10.2.0.0/24 any -P out ipsec ah/tunnel/192.0.2.1-192.0.2.2/require;\n",
                                psk: "192.0.2.2 k\n", file: "ah.setkey")
            Issue.record("an AH require policy was accepted")
        } catch let e as ConfigError {
            #expect(e.location.file == "ah.setkey" && e.location.line == 3 && e.message.contains("ESP only"), "\(e)")
        }
    }

    @Test func aPacketOnTheTrapNegotiatesTheChildSAInMemory() throws {
        let (ra, _) = try Self.keying(Self.policiesA, psk: "192.0.2.2 0x00112233445566778899aabbccddeeff\n", file: "a.setkey")
        let (rb, _) = try Self.keying(Self.policiesB, psk: "192.0.2.1 0x00112233445566778899aabbccddeeff\n", file: "b.setkey")
        let pair = IKEPair(configA: EngineConfiguration(connections: ra.connections, sharedKeys: ra.sharedKeys),
                           configB: EngineConfiguration(connections: rb.connections, sharedKeys: rb.sharedKeys))
        pair.apply(pair.a.endpoint.startConnections(now: 0), on: pair.a)
        pair.apply(pair.b.endpoint.startConnections(now: 0), on: pair.b)
        let web = try #require(pair.a.endpoint.installedTraps.first { $0.child == "setkey-192.0.2.2-2" })
        pair.apply(pair.a.endpoint.acquire(reqid: web.reqid, now: pair.now), on: pair.a)
        #expect(pair.run(until: { pair.a.established.first?.children.isEmpty == false }, for: 10),
                "\(pair.a.logLines.suffix(8))\n\(pair.b.logLines.suffix(8))")
        let child = try #require(pair.a.established.first?.children.first)
        #expect(child.localTS == ["10.1.0.0/24[tcp]"] && child.remoteTS == ["10.2.0.0/24[tcp/80]"], "\(child.localTS) \(child.remoteTS)")
        #expect(pair.a.released.map(\.reqid) == [web.reqid] && pair.a.released[0].send)
    }
}
