import Testing
import TernIKE
import TernTestSupport
import TernWire

/// `IKEEndpoint.copy()`: a copy behaves exactly as the original would from the same state, and
/// what happens to one never reaches the other (the fuzzer starts every input from a copy).
@Suite struct EndpointCopyTests {
    func established() throws -> IKEPair {
        let (ca, cb) = IKEFixtures.siteToSite()
        let pair = IKEPair(configA: ca, configB: cb)
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        #expect(pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 10))
        return pair
    }

    func rekey(_ p: IKEPair) throws {
        p.apply(try p.a.endpoint.rekey(child: "net", now: p.now), on: p.a)
        p.apply(try p.b.endpoint.rekey(ike: "to-a", now: p.now), on: p.b)
        #expect(p.run(until: { p.a.events.contains { if case .childRekeyed = $0 { true } else { false } }
            && p.b.events.contains { if case .ikeRekeyed = $0 { true } else { false } } && p.inFlight.isEmpty }, for: 30))
        p.run(for: 5)
    }

    @Test func aCopyDoesWhatTheOriginalWouldAndLeavesItAlone() throws {
        let original = try established()
        let before = original.a.endpoint.listSAs(now: original.now)
        let copy = original.copy()
        try rekey(copy)
        // The original saw none of it.
        #expect(original.a.endpoint.listSAs(now: original.now) == before)
        #expect(original.a.sas.count == 2)
        // Driven the same way, the original ends where the copy did (seeded randomness included).
        try rekey(original)
        #expect(original.a.sas.map(\.spi) == copy.a.sas.map(\.spi))
        #expect(original.b.sas.map(\.spi) == copy.b.sas.map(\.spi))
        #expect(original.a.endpoint.listSAs(now: original.now).map(\.initiatorSPI) == copy.a.endpoint.listSAs(now: copy.now).map(\.initiatorSPI))
        #expect(copy.consistent() && original.consistent())
        // And a copy of a copy still works on its own: delete everything there.
        let third = copy.copy()
        third.apply(try third.a.endpoint.terminate(ike: "to-b", now: third.now), on: third.a)
        #expect(third.run(until: { third.a.endpoint.listSAs(now: third.now).isEmpty && third.b.endpoint.listSAs(now: third.now).isEmpty }, for: 30))
        #expect(!copy.a.endpoint.listSAs(now: copy.now).isEmpty)
    }
}
