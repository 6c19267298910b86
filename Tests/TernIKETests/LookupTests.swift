import Foundation
import Testing
import TernTestSupport
import TernIKE
import TernPKI
import TernWire

/// The engine waits on nothing: a lookup (DNS, route, CRL) that does not answer parks only what
/// needs it, while every other IKE SA of the endpoint keeps moving.
@Suite struct LookupTests {
    /// A's connection "slow" names B by a host name; "to-b" uses B's address.
    static func twoConnections(tune: (inout ConnectionPolicy) -> Void = { _ in }) -> IKEPair {
        var (ca, cb) = IKEFixtures.siteToSite()
        var slow = ca.connections[0]
        slow.name = "slow"
        slow.remoteAddresses = [.hostname("gw-b.example.net")]
        tune(&slow)
        ca.connections.append(slow)
        ca.reuseIKESA = false
        return IKEPair(configA: ca, configB: cb)
    }

    func childUp(_ s: IKEPair.Side, connection: String) -> Bool {
        s.established.contains { $0.connection == connection && !$0.children.isEmpty }
    }

    @Test func aNameThatDoesNotAnswerDelaysNoOtherConnection() throws {
        let pair = Self.twoConnections()
        pair.a.holdLookups = { if case .resolve = $0 { true } else { false } }
        try pair.initiate(pair.a, connection: "slow", child: "net")
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        let start = pair.now
        #expect(pair.run(until: { childUp(pair.a, connection: "to-b") }, for: 5))
        #expect(pair.now.seconds(since: start) < 1, "the literal-address connection waited \(pair.now.seconds(since: start)) s")
        #expect(!childUp(pair.a, connection: "slow"))
        #expect(pair.a.heldLookups.map(\.lookup) == [.resolve(host: "gw-b.example.net")])
        // The name server gives up: the parked initiation fails, saying why.
        pair.answer(pair.a, .resolve(host: "gw-b.example.net"), with: .failed("Temporary failure in name resolution"))
        #expect(pair.a.events.contains { e in
            if case .ikeFailed("slow", let r) = e { r.contains("gw-b.example.net") && r.contains("Temporary failure in name resolution") } else { false }
        }, "\(pair.a.logLines)")
        #expect(childUp(pair.a, connection: "to-b"))
    }

    @Test func aLookupNobodyAnswersTimesOut() throws {
        let pair = Self.twoConnections()
        pair.a.holdLookups = { _ in true }
        try pair.initiate(pair.a, connection: "slow", child: "net")
        pair.run(for: 29)
        #expect(!pair.a.events.contains { if case .ikeFailed = $0 { true } else { false } })
        pair.run(for: 2)
        #expect(pair.a.events.contains { e in
            if case .ikeFailed("slow", let r) = e { r.contains("no answer within 30 s") } else { false }
        }, "\(pair.a.logLines)")
        #expect(pair.a.endpoint.stats.lookupsFailed == 1)
    }

    @Test func aNameIsLookedUpOnceForManyInitiationsAndCached() throws {
        let pair = Self.twoConnections()
        pair.a.names = ["gw-b.example.net": [pair.b.address]]
        pair.a.holdLookups = { if case .resolve = $0 { true } else { false } }
        try pair.initiate(pair.a, connection: "slow", child: "net")
        try pair.initiate(pair.a, connection: "slow", child: "net")
        #expect(pair.a.heldLookups.count == 1)
        pair.answer(pair.a, .resolve(host: "gw-b.example.net"))
        #expect(pair.run(until: { pair.a.established.filter { $0.connection == "slow" }.count == 2 }, for: 5))
        // A third initiation within the minute uses the cached answer.
        try pair.initiate(pair.a, connection: "slow", child: "net")
        #expect(pair.a.lookups.filter { $0 == .resolve(host: "gw-b.example.net") }.count == 1)
    }

    @Test func aSourceAddressLookupParksOnlyItsInitiation() throws {
        let pair = Self.twoConnections { c in
            c.remoteAddresses = [.address(IPAddress("192.0.2.2")!)]
            c.localAddresses = []
        }
        pair.a.holdLookups = { if case .sourceAddress = $0 { true } else { false } }
        try pair.initiate(pair.a, connection: "slow", child: "net")
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        #expect(pair.run(until: { childUp(pair.a, connection: "to-b") }, for: 1))
        #expect(!childUp(pair.a, connection: "slow"))
        pair.answer(pair.a, .sourceAddress(toward: pair.b.address))
        #expect(pair.run(until: { childUp(pair.a, connection: "slow") }, for: 5))
    }

    @Test func noRouteToThePeerIsAClearFailure() throws {
        let pair = Self.twoConnections { c in
            c.remoteAddresses = [.address(IPAddress("192.0.2.2")!)]
            c.localAddresses = []
        }
        pair.a.sourceAddress = nil
        try pair.initiate(pair.a, connection: "slow", child: "net")
        #expect(pair.a.events.contains { e in
            if case .ikeFailed("slow", let r) = e { r.contains("no local address to reach 192.0.2.2") } else { false }
        })
    }

    @Test func anIKEAuthWaitingForItsCRLParksOnlyItself() throws {
        let clean = try CRL.sign(caCertificate: CertificatePKI.root, caKey: CertificatePKI.rootKey, thisUpdate: CertificatePKI.now - 60, nextUpdate: CertificatePKI.now + 86400, revoked: [])
        let pair = CertificateAuthTests.pair(CertificateAuthTests.sideA(), CertificateAuthTests.sideB(),
                                             tuneA: { _, e in e.reuseIKESA = false },
                                             tuneB: { c, e in e.credentials.crlURIs = ["file:///ca.crl"]; c.certificates.revocation = .strict })
        pair.b.crls = { $0 == "file:///ca.crl" ? [clean] : nil }
        pair.b.holdLookups = { if case .fetchCRL = $0 { true } else { false } }
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        #expect(pair.run(until: { !pair.b.heldLookups.isEmpty }, for: 5))
        // A second IKE SA from the same peer is answered meanwhile, and its IKE_AUTH waits for the same fetch.
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        let initResponses = { pair.log.filter { $0.sender == "B" && $0.bytes.count > 18 && $0.bytes[18] == IKEExchangeType.ikeSAInit.rawValue }.count }
        #expect(pair.run(until: { initResponses() == 2 }, for: 2))
        pair.run(for: 2)
        #expect(pair.b.heldLookups.count == 1 && pair.b.sas.isEmpty)
        pair.answer(pair.b, .fetchCRL(uri: "file:///ca.crl"))
        #expect(pair.run(until: { pair.b.established.count == 2 && pair.a.established.count == 2 }, for: 30),
                "A: \(pair.a.logLines)\nB: \(pair.b.logLines)")
        #expect(pair.consistent())
    }
}
