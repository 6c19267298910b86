import Testing
import TernIKE
import TernTestSupport
import TernWire
@testable import TernDaemon

@Suite struct IKECountersTests {
    /// The counters plugin's names and order over the engine's counts, through an in-memory
    /// handshake and a CHILD rekey; rekeys from events, invalid-spi from the endpoint's stats.
    @Test func reportsTheEnginesMessageCountsUnderCounterPluginNames() throws {
        let (ca, cb) = IKEFixtures.siteToSite()
        let pair = IKEPair(configA: ca, configB: cb)
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        #expect(pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 && pair.inFlight.isEmpty }, for: 10))
        pair.apply(try pair.a.endpoint.rekey(child: "net", now: pair.now), on: pair.a)
        #expect(pair.run(until: { pair.a.events.contains { if case .childRekeyed = $0 { true } else { false } } && pair.inFlight.isEmpty }, for: 30))
        pair.run(for: 5)

        var c = IKECounters()
        for e in pair.a.events { c.count(event: e) }
        let a = pair.a.endpoint
        #expect(c.snapshot(a).map(\.0) == IKECounters.names)
        let all = Dictionary(uniqueKeysWithValues: c.snapshot(a))
        #expect(all["ike-init-out-req"] == 1 && all["ike-init-in-resp"] == 1 && all["ike-init-in-req"] == 0)
        #expect(all["ike-auth-out-req"] == 1 && all["ike-auth-in-resp"] == 1)
        #expect(all["create-child-out-req"] == 1 && all["create-child-in-resp"] == 1)
        #expect(all["child-rekey"] == 1 && all["ike-rekey-init"] == 0)
        #expect(all["info-out-req"] == a.messages[.informational, .outbound, false])
        #expect(c.connections(a) == ["to-b"])
        let toB = Dictionary(uniqueKeysWithValues: c.snapshot(connection: "to-b", a))
        #expect(toB == all.merging(["invalid": 0, "invalid-spi": 0]) { _, new in new })

        // invalid-spi restarts from zero at a reset; so do the messages.
        _ = a.handle(datagram: [UInt8](repeating: 0x11, count: 28), from: SocketAddress(pair.b.address, 500),
                     to: SocketAddress(pair.a.address, 500), now: pair.now)
        #expect(Dictionary(uniqueKeysWithValues: c.snapshot(a))["invalid-spi"] == 1)
        c.reset(a)
        let after = Dictionary(uniqueKeysWithValues: c.snapshot(a))
        #expect(after["invalid-spi"] == 0 && after["ike-init-out-req"] == 0 && after["child-rekey"] == 0)
        #expect(c.connections(a).isEmpty)
    }
}
