import Testing
import TernTestSupport
import TernCrypto
import TernDataPlane
import TernIKE
import TernWire

/// IKE_SA_INIT + IKE_AUTH between two in-memory engines.
///
///   A (initiator)                          B (responder)
///   HDR, SAi1, KEi, Ni, N(NAT_D)*  --->
///                                  <---  HDR, SAr1, KEr, Nr, N(NAT_D)*
///   HDR, SK {IDi, [IDr], AUTH, SAi2, TSi, TSr} --->
///                                  <---  HDR, SK {IDr, AUTH, SAr2, TSi, TSr}
@Suite struct EstablishmentTests {
    func establish(_ pair: IKEPair) throws {
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        let up = pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 30)
        #expect(up, "A: \(pair.a.logLines)\nB: \(pair.b.logLines)")
    }

    @Test(arguments: [
        ("aes256gcm16-prfsha256-x25519", "aes256gcm16"),
        ("aes128gcm16-prfsha256-ecp256", "aes128gcm16"),
        ("aes256-sha256-modp2048", "aes256-sha256"),
        ("aes128-sha1-modp3072", "aes128-sha1"),
        ("chacha20poly1305-prfsha512-ecp384", "chacha20poly1305"),
        ("aes256-sha384-ecp521", "aes256-sha512"),
    ])
    func establishesWithEachFamily(ike: String, esp: String) throws {
        let (ca, cb) = IKEFixtures.siteToSite(ike: ike, esp: esp)
        let pair = IKEPair(configA: ca, configB: cb)
        try establish(pair)
        #expect(pair.consistent())
        #expect(pair.a.established.count == 1 && pair.b.established.count == 1)
        let info = pair.a.established[0]
        #expect(info.remoteIdentity == "gateway-b@example.com")
        #expect(info.children.first?.localTS == ["10.1.0.0/24"])
        #expect(info.children.first?.remoteTS == ["10.2.0.0/24"])
        // Policies both ways, bound to the child's reqid.
        let reqid = info.children[0].reqid
        #expect(pair.a.policies[reqid]?.count == 2)
        // Exactly four datagrams: two round trips.
        #expect(pair.log.count == 4)
    }

    @Test func invalidKEPayloadMakesTheInitiatorRetryWithTheGroupAsked() throws {
        let (ca, cb) = IKEFixtures.siteToSite(ike: "aes256gcm16-prfsha256-ecp256-x25519", ikeB: "aes256gcm16-prfsha256-x25519")
        let pair = IKEPair(configA: ca, configB: cb)
        try establish(pair)
        #expect(pair.a.established.first?.keyExchange == "CURVE_25519")
        #expect(pair.log.count == 6)
    }

    @Test func wrongPreSharedKeyFailsOnBothSides() throws {
        let (ca, cb) = IKEFixtures.siteToSite(pskB: Array("another secret entirely, not the same".utf8))
        let pair = IKEPair(configA: ca, configB: cb)
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        pair.run(for: 30)
        #expect(pair.a.sas.isEmpty && pair.b.sas.isEmpty)
        #expect(pair.b.logLines.contains { $0.contains("pre-shared key failed") })
        #expect(pair.a.logLines.contains { $0.contains("AUTHENTICATION_FAILED") })
        #expect(pair.a.endpoint.listSAs(now: pair.now).isEmpty && pair.b.endpoint.listSAs(now: pair.now).isEmpty)
    }

    @Test func noCommonProposalIsReported() throws {
        let (ca, cb) = IKEFixtures.siteToSite(ike: "aes256gcm16-prfsha256-x25519", ikeB: "aes128-sha256-modp2048")
        let pair = IKEPair(configA: ca, configB: cb)
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        pair.run(for: 30)
        #expect(pair.a.logLines.contains { $0.contains("NO_PROPOSAL_CHOSEN") })
        #expect(pair.b.logLines.contains { $0.contains("no acceptable proposal") })
    }

    @Test func childProposalMismatchKeepsTheIKESA() throws {
        let (ca, cb) = IKEFixtures.siteToSite(esp: "aes256gcm16", espB: "aes128-sha256")
        let pair = IKEPair(configA: ca, configB: cb)
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        pair.run(until: { pair.a.established.count == 1 }, for: 30)
        pair.run(for: 1)
        #expect(pair.a.sas.isEmpty)
        #expect(pair.a.established.count == 1)
        #expect(pair.a.logLines.contains { $0.contains("NO_PROPOSAL_CHOSEN") })
    }

    @Test func responderNarrowsTrafficSelectors() throws {
        var (ca, cb) = IKEFixtures.siteToSite()
        ca.connections[0].children[0].remoteSelectors = [SelectorPolicy(prefix: IPPrefix("10.2.0.0/16")!)]
        cb.connections[0].children[0].localSelectors = [SelectorPolicy(prefix: IPPrefix("10.2.0.0/24")!),
                                                        SelectorPolicy(prefix: IPPrefix("10.3.0.0/24")!)]
        let pair = IKEPair(configA: ca, configB: cb)
        try establish(pair)
        #expect(pair.a.established.first?.children.first?.remoteTS == ["10.2.0.0/24"])
    }

    @Test func disjointSelectorsGiveTSUnacceptable() throws {
        var (ca, cb) = IKEFixtures.siteToSite()
        ca.connections[0].children[0].remoteSelectors = [SelectorPolicy(prefix: IPPrefix("10.9.0.0/24")!)]
        let pair = IKEPair(configA: ca, configB: cb)
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        pair.run(until: { pair.a.established.count == 1 }, for: 30)
        pair.run(for: 1)
        #expect(pair.a.logLines.contains { $0.contains("TS_UNACCEPTABLE") })
        #expect(pair.b.logLines.contains { $0.contains("unacceptable") })
    }

    @Test func lostPacketsAreRetransmittedAndDuplicatesGetTheSameResponse() throws {
        let (ca, cb) = IKEFixtures.siteToSite()
        let pair = IKEPair(configA: ca, configB: cb)
        // Drop the first IKE_SA_INIT and the first IKE_AUTH response; duplicate every request.
        pair.shouldDeliver = { d, i in !(i == 0 || (d.sender == "B" && pair.log.filter { $0.sender == "B" }.count == 2)) }
        pair.duplicate = { d in d.sender == "A" }
        try establish(pair)
        #expect(pair.consistent())
        let fromB = pair.log.filter { $0.sender == "B" }
        // Every response B sent for one message ID is byte-identical (cached, §2.1), and it did resend.
        let byID = Dictionary(grouping: fromB, by: { Array($0.bytes[20..<24]) })
        #expect(byID.values.allSatisfy { Set($0.map(\.bytes)).count == 1 })
        #expect(fromB.count > 2)
    }

    @Test func cookiesAreRequiredWhenTooManySAsAreHalfOpen() throws {
        var (ca, cb) = IKEFixtures.siteToSite()
        cb.cookieThreshold = 0
        let pair = IKEPair(configA: ca, configB: cb)
        try establish(pair)
        #expect(pair.b.endpoint.stats.cookiesSent == 1)
        #expect(pair.log.count == 6)
    }

    @Test func fragmentsLargeMessages() throws {
        let (ca, cb) = IKEFixtures.siteToSite(tune: { c in
            c.fragmentSize = 400
            c.children[0].localSelectors += (1...20).map { SelectorPolicy(prefix: IPPrefix("10.100.\($0).0/24")!) }
            c.children[0].remoteSelectors += (1...20).map { SelectorPolicy(prefix: IPPrefix("10.200.\($0).0/24")!) }
        })
        let pair = IKEPair(configA: ca, configB: cb)
        try establish(pair)
        #expect(pair.log.contains { $0.bytes.count > 0 && $0.bytes[16] == 53 })   // first payload SKF
        #expect(pair.log.allSatisfy { $0.bytes.count <= 400 || $0.bytes[18] == 34 })
    }

    @Test func natIsDetectedAndIKEFloatsTo4500() throws {
        let (ca, cb) = IKEFixtures.siteToSite(addressA: "10.0.0.1", tune: { c in
            if c.name == "to-a" { c.remoteAddresses = [.any] }
        })
        let pair = IKEPair(configA: ca, configB: cb, addressA: IPAddress("10.0.0.1")!)
        let public_ = IPAddress("198.51.100.7")!
        // A NAT in front of A: source 10.0.0.1:p -> 198.51.100.7:p+1000, and back.
        pair.rewrite = { d in
            if d.from.address == pair.a.address { d.from = SocketAddress(public_, d.from.port &+ 1000) }
            if d.to.address == public_ { d.to = SocketAddress(pair.a.address, d.to.port &- 1000) }
        }
        try establish(pair)
        let infoA = pair.a.established[0], infoB = pair.b.established[0]
        #expect(infoA.natLocal && !infoA.natRemote)
        #expect(infoB.natRemote && !infoB.natLocal)
        #expect(infoA.remote.port == 4500)
        #expect(pair.a.sas.allSatisfy { $0.encapsulation != .none })
        #expect(pair.b.outboundSAs.first?.encapsulation == .udp(sourcePort: 4500, destinationPort: 5500))
        // The NATed side keeps the mapping alive.
        pair.run(for: 25)
        #expect(pair.a.keepalives >= 1)
    }

    @Test func forcedEncapsulationWithoutNAT() throws {
        let (ca, cb) = IKEFixtures.siteToSite(tune: { c in if c.name == "to-b" { c.forceEncapsulation = true } })
        let pair = IKEPair(configA: ca, configB: cb)
        try establish(pair)
        #expect(pair.b.established[0].natRemote)
        #expect(pair.a.sas.allSatisfy { $0.encapsulation != .none })
    }

    @Test func remoteAddressesByHostName() throws {
        var (ca, cb) = IKEFixtures.siteToSite()
        ca.connections[0].remoteAddresses = [.hostname("gw-b.example.net")]
        cb.connections[0].remoteAddresses = [.hostname("gw-a.example.net")]
        let pair = IKEPair(configA: ca, configB: cb)
        let names = ["gw-b.example.net": [pair.b.address], "gw-a.example.net": [pair.a.address]]
        pair.a.names = names
        pair.b.names = names
        try establish(pair)
        #expect(pair.consistent())
        // A name that does not resolve is a clear failure (an ikeFailed event), not a crash.
        ca.connections[0].remoteAddresses = [.hostname("nowhere.invalid")]
        let other = IKEPair(configA: ca, configB: cb)
        try other.initiate(other.a, connection: "to-b", child: "net")
        #expect(other.a.events.contains { e in
            if case .ikeFailed("to-b", let r) = e { r.contains("nowhere.invalid") && r.contains("no such host") } else { false }
        })
    }

    @Test func transportModeHostToHost() throws {
        let (ca, cb) = IKEFixtures.siteToSite(tune: { c in
            c.children[0].mode = .transport
            c.children[0].localSelectors = [.dynamic]
            c.children[0].remoteSelectors = [.dynamic]
        })
        let pair = IKEPair(configA: ca, configB: cb)
        try establish(pair)
        let child = try #require(pair.a.established.first?.children.first)
        #expect(child.mode == "TRANSPORT" && child.localTS == ["192.0.2.1/32"] && child.remoteTS == ["192.0.2.2/32"])
        #expect(pair.a.sas.allSatisfy { $0.mode == .transport })
        let out = try #require(pair.a.policies[child.reqid]?.first { $0.direction == .outbound })
        guard case .protect(let rules) = out.action else { Issue.record("not a protect policy"); return }
        #expect(rules[0].mode == .transport && rules[0].tunnelSource == nil)
    }

    @Test func transportModeRefusedByATunnelOnlyPeerFailsClearly() throws {
        let (ca, cb) = IKEFixtures.siteToSite(tune: { c in if c.name == "to-b" { c.children[0].mode = .transport } })
        let pair = IKEPair(configA: ca, configB: cb)
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        pair.run(until: { pair.a.established.count == 1 }, for: 10)
        pair.run(for: 1)
        #expect(pair.a.sas.isEmpty)
        #expect(pair.a.logLines.contains { $0.contains("transport mode") })
    }

    @Test func perSourceHalfOpenLimitAsksForACookieThenDropsWithoutEvicting() throws {
        var (ca, cb) = IKEFixtures.siteToSite()
        cb.perSourceHalfOpenLimit = 2
        let pair = IKEPair(configA: ca, configB: cb)
        // Three initiations whose IKE_AUTH never arrives: the third IKE_SA_INIT from the same
        // address must return a cookie, and is then dropped; the two half-open SAs stay.
        pair.shouldDeliver = { d, _ in d.bytes[18] == IKEExchangeType.ikeSAInit.rawValue }
        for _ in 0..<3 { try pair.initiate(pair.a, connection: "to-b", child: "net") }
        pair.run(for: 0.5)
        #expect(pair.b.endpoint.listSAs(now: 0).count == 2)
        #expect(pair.b.endpoint.stats.cookiesSent >= 1 && pair.b.endpoint.stats.halfOpenLimited >= 1)
        #expect(pair.b.endpoint.stats.halfOpenEvicted == 0)
        // Half-open SAs time out (half_open_timeout) and free the slots.
        pair.shouldDeliver = { _, _ in false }
        pair.run(for: 40)
        #expect(pair.b.endpoint.listSAs(now: 0).isEmpty)
    }

    /// One address setting up more IKE SAs at once than block_threshold allows half-open (many
    /// peers behind one NAT): the requests over the limit are dropped and retransmitted, none
    /// fails halfway (evicting the oldest half-open SA did that to SAs in IKE_AUTH).
    @Test func manyConcurrentSetupsFromOneAddressAllComeUp() throws {
        var (ca, cb) = IKEFixtures.siteToSite()
        ca.reuseIKESA = false
        cb.perSourceHalfOpenLimit = 5
        let pair = IKEPair(configA: ca, configB: cb)
        for _ in 0..<12 { try pair.initiate(pair.a, connection: "to-b", child: "net") }
        #expect(pair.run(until: { pair.a.established.count == 12 }, for: 120), "\(pair.a.established.count) of 12 up")
        #expect(pair.b.endpoint.stats.halfOpenEvicted == 0)
        #expect(!pair.a.logLines.contains { $0.contains("giving up") })
    }

    @Test func identitiesOfEveryKindRoundTrip() throws {
        for text in ["192.0.2.7", "2001:db8::7", "gw.example.com", "@gw.example.com", "user@example.com", "@#0a0b0c", "keyid:#0102",
                     "fqdn:host", "email:a@b"] {
            let id = try Identity(parsing: text)
            #expect(Identity(payload: id.payload) == id, "\(text)")
        }
        #expect(try Identity(parsing: "@#0a0b0c") == .keyID([0x0a, 0x0b, 0x0c]))
        #expect(try Identity(parsing: "user@example.com") == .rfc822("user@example.com"))
        #expect(throws: Identity.ParseError.self) { try Identity(parsing: "@#zz") }
    }

    @Test func keyIDIdentitiesAuthenticate() throws {
        var (ca, cb) = IKEFixtures.siteToSite()
        ca.connections[0].localIdentity = .keyID([1, 2, 3]); cb.connections[0].remoteIdentity = .keyID([1, 2, 3])
        ca.sharedKeys[0].owners.append(.keyID([1, 2, 3])); cb.sharedKeys[0].owners.append(.keyID([1, 2, 3]))
        let pair = IKEPair(configA: ca, configB: cb)
        try establish(pair)
        #expect(pair.b.established.first?.remoteIdentity == "@#010203")
    }
}
