import Testing
import TernTestSupport
import TernCrypto
import TernDataPlane
import TernIKE
import TernWire

/// Many IKE SAs between the same two peers, as a benchmark or a load balancer creates them:
/// reuse_ikesa = no, simultaneous initiations, INITIAL_CONTACT and unique = never.
@Suite struct ManySATests {
    func established(_ s: IKEPair.Side) -> Int { s.established.count }

    @Test func initiateAddsAChildToTheEstablishedIKESAByDefault() throws {
        let (ca, cb) = IKEFixtures.siteToSite()
        let pair = IKEPair(configA: ca, configB: cb)
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        #expect(pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 30))
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        #expect(pair.run(until: { pair.a.sas.count == 4 && pair.b.sas.count == 4 }, for: 30))
        #expect(established(pair.a) == 1 && established(pair.b) == 1)
        #expect(pair.a.established[0].children.count == 2)
    }

    @Test func withoutReuseEveryInitiateNegotiatesANewIKESA() throws {
        var (ca, cb) = IKEFixtures.siteToSite()
        ca.reuseIKESA = false
        let pair = IKEPair(configA: ca, configB: cb)
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        #expect(pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 30))
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        #expect(pair.run(until: { pair.a.sas.count == 4 && pair.b.sas.count == 4 }, for: 30))
        #expect(established(pair.a) == 2 && established(pair.b) == 2)
        #expect(pair.consistent())
    }

    /// None of these is established when the others send IKE_AUTH: only the first may carry
    /// INITIAL_CONTACT, or the responder (unique = no) would drop the SAs that got there before.
    @Test func simultaneousInitiationsAllSurvive() throws {
        var (ca, cb) = IKEFixtures.siteToSite()
        ca.reuseIKESA = false
        cb.cookieThreshold = 1_000
        cb.perSourceHalfOpenLimit = 1_000
        let pair = IKEPair(configA: ca, configB: cb)
        let n = 20
        for _ in 0..<n { try pair.initiate(pair.a, connection: "to-b", child: "net") }
        #expect(pair.run(until: { established(pair.a) == n && established(pair.b) == n }, for: 30),
                "A \(established(pair.a)), B \(established(pair.b)): \(pair.b.logLines.filter { $0.contains("replaced") })")
        pair.run(for: 5)
        #expect(established(pair.a) == n && established(pair.b) == n)
        #expect(!pair.b.logLines.contains { $0.contains("INITIAL_CONTACT") })
    }

    /// A second connection to the same peer sends INITIAL_CONTACT (no other SA of *it* exists):
    /// unique = no drops the older IKE SA from that address, unique = never keeps it (strongSwan).
    @Test(arguments: [UniquenessPolicy.no, .never])
    func initialContactHonoursUnique(unique: UniquenessPolicy) throws {
        var (ca, cb) = IKEFixtures.siteToSite()
        var second = ca.connections[0]
        second.name = "to-b-again"
        ca.connections.append(second)
        cb.connections[0].unique = unique
        let pair = IKEPair(configA: ca, configB: cb)
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        #expect(pair.run(until: { established(pair.b) == 1 && pair.a.sas.count == 2 }, for: 30))
        try pair.initiate(pair.a, connection: "to-b-again", child: "net")
        #expect(pair.run(until: { pair.a.established.count == 2 && pair.a.sas.count == 4 }, for: 30))
        pair.run(for: 5)
        #expect(established(pair.b) == (unique == .never ? 2 : 1), "\(pair.b.logLines)")
        #expect(pair.b.logLines.contains { $0.contains("INITIAL_CONTACT") } == (unique == .no))
    }
}
