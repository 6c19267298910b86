import Testing
@testable import TernDataPlane
import TernTestSupport
import TernWire

@Suite struct SPDTests {
    func selectors(_ src: String, _ dst: String, proto: UInt8 = 17, sport: UInt16 = 1000, dport: UInt16 = 53) -> PacketSelectors {
        PacketSelectors(source: IPAddress(src)!, destination: IPAddress(dst)!, upperProtocol: proto,
                        sourcePort: sport, destinationPort: dport, upperLayerOffset: 20, totalLength: 100)
    }

    @Test func priorityThenOrderDecide() throws {
        var db = SecurityDatabaseConfig()
        try db.addPolicy(PolicyConfig(source: IPPrefix("0.0.0.0/0")!, destination: IPPrefix("198.51.100.0/24")!,
                                      direction: .outbound, action: .bypass))
        try db.addPolicy(PolicyConfig(source: IPPrefix("0.0.0.0/0")!, destination: IPPrefix("198.51.100.7/32")!,
                                      upperProtocol: 6, direction: .outbound, action: .discard))
        try db.addPolicy(PolicyConfig(source: IPPrefix("203.0.113.0/24")!, destination: IPPrefix("198.51.100.0/25")!,
                                      destinationPorts: PortRange(53), direction: .outbound, priority: 10, action: .discard))
        let snap = try DataPlaneSnapshot(config: db, localAddresses: [], now: 0)
        // Priority 10 beats the default for the DNS flow.
        #expect(snap.outboundPolicy(selectors("203.0.113.5", "198.51.100.7"))?.config.priority == 10)
        // Other ports: both remaining policies have the default priority; the first one wins.
        #expect(snap.outboundPolicy(selectors("203.0.113.5", "198.51.100.7", proto: 6, dport: 80))?.config.action == .bypass)
        #expect(snap.outboundPolicy(selectors("192.0.2.1", "198.51.100.200", dport: 53))?.config.action == .bypass)
        #expect(snap.outboundPolicy(selectors("192.0.2.1", "203.0.113.1")) == nil)
    }

    /// The trie must pick exactly what a linear scan in rank order picks.
    @Test func trieAgreesWithLinearScan() throws {
        var rng = SeededBytes(seed: 42)
        var db = SecurityDatabaseConfig()
        var added = Set<PolicySelector>()
        for _ in 0..<300 {
            let dst = IPPrefix(IPAddress(v4: 0xC633_6400 | UInt32(rng.next() % 256)), length: Int(rng.next() % 9) + 24)
            let src = IPPrefix(IPAddress(v4: 0xCB00_7100 | UInt32(rng.next() % 256)), length: Int(rng.next() % 33))
            let proto: UInt8? = rng.next() % 2 == 0 ? nil : (rng.next() % 2 == 0 ? 6 : 17)
            let ports: PortRange? = proto == nil || rng.next() % 2 == 0 ? nil : PortRange(UInt16(rng.next() % 4) * 10, UInt16(rng.next() % 4) * 10 + 5)
            let p = PolicyConfig(source: src, destination: dst, destinationPorts: ports, upperProtocol: proto,
                                 direction: .outbound, priority: UInt32(rng.next() % 4), action: .bypass)
            if added.insert(p.selector).inserted { try db.addPolicy(p) }
        }
        let snap = try DataPlaneSnapshot(config: db, localAddresses: [], now: 0)
        let ranked = snap.policies.sorted { $0.ranks(before: $1) }
        for _ in 0..<5000 {
            let s = PacketSelectors(source: IPAddress(v4: 0xCB00_7100 | UInt32(rng.next() % 256)),
                                    destination: IPAddress(v4: 0xC633_6400 | UInt32(rng.next() % 256)),
                                    upperProtocol: rng.next() % 2 == 0 ? 6 : 17, sourcePort: 1,
                                    destinationPort: UInt16(rng.next() % 40), upperLayerOffset: 20, totalLength: 40)
            let expected = ranked.first { $0.matches(s) }
            #expect(snap.outboundPolicy(s) === expected)
        }
    }

    @Test func unchangedSAsKeepStateAcrossReload() throws {
        let pair = try TunnelPair()
        let sa = pair.a.associations[0]
        sa.setLastSequence(41)
        var db = SecurityDatabaseConfig()
        for a in pair.a.associations { try db.addSA(a.config) }
        for p in pair.a.policies { try db.addPolicy(p.config) }
        let next = try DataPlaneSnapshot(config: db, localAddresses: pair.a.localAddresses, previous: pair.a, now: 5)
        #expect(next.associations[0] === sa)
        #expect(next.associations[0].lastSequenceSent == 41)
        #expect(next.generation == pair.a.generation + 1)
    }
}
