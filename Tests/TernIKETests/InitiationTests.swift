import Testing
import TernTestSupport
import TernIKE
import TernWire

/// Each tagged initiation learns its own outcome (VICI `initiate`): not another initiation's
/// CHILD SA coming up, nor another one's failure.
@Suite struct InitiationTests {
    static func outcomes(_ s: IKEPair.Side) -> [UInt64: String?] {
        var out: [UInt64: String?] = [:]
        for e in s.events { if case .initiationFinished(let tag, let failure) = e { out[tag] = failure } }
        return out
    }

    @Test func concurrentInitiationsEachReportTheirOwnSA() throws {
        var (ca, cb) = IKEFixtures.siteToSite()
        ca.reuseIKESA = false
        let pair = IKEPair(configA: ca, configB: cb)
        pair.apply(try pair.a.endpoint.initiate(connection: "to-b", child: "net", now: pair.now, tag: 1), on: pair.a)
        #expect(pair.run(until: { Self.outcomes(pair.a)[1] != nil }, for: 10))
        #expect(Self.outcomes(pair.a)[1] == .some(nil))
        // The second one's datagrams are lost: the first SA being up says nothing about it.
        let sentBefore = pair.log.count
        pair.shouldDeliver = { _, index in index < sentBefore }
        pair.apply(try pair.a.endpoint.initiate(connection: "to-b", child: "net", now: pair.now, tag: 2), on: pair.a)
        pair.run(for: 3)
        #expect(Self.outcomes(pair.a)[2] == nil, "tag 2 finished with the first SA: \(Self.outcomes(pair.a))")
        // It fails on its own retransmission schedule; the first stays up.
        #expect(pair.run(until: { Self.outcomes(pair.a)[2] != nil }, for: 300))
        let failure = try #require(Self.outcomes(pair.a)[2] ?? nil)
        #expect(failure.contains("retransmit"), "\(failure)")
        #expect(pair.a.established.count == 1)
        #expect(pair.a.events.filter { if case .initiationFinished = $0 { true } else { false } }.count == 2)
    }

    @Test func aReusedIKESAReportsItsNewChild() throws {
        var (ca, cb) = IKEFixtures.siteToSite(tune: { c in
            let (mine, theirs) = c.name == "to-b" ? ("10.1.1.0/24", "10.2.1.0/24") : ("10.2.1.0/24", "10.1.1.0/24")
            c.children.append(ChildPolicy(name: "second", localSelectors: [SelectorPolicy(prefix: IPPrefix(mine)!)],
                                          remoteSelectors: [SelectorPolicy(prefix: IPPrefix(theirs)!)], proposals: c.children[0].proposals))
        })
        ca.reuseIKESA = true
        let pair = IKEPair(configA: ca, configB: cb)
        pair.apply(try pair.a.endpoint.initiate(connection: "to-b", child: "net", now: pair.now, tag: 7), on: pair.a)
        #expect(pair.run(until: { Self.outcomes(pair.a)[7] != nil }, for: 10))
        pair.apply(try pair.a.endpoint.initiate(connection: "to-b", child: "second", now: pair.now, tag: 8), on: pair.a)
        #expect(pair.run(until: { Self.outcomes(pair.a)[8] != nil }, for: 10))
        #expect(Self.outcomes(pair.a)[8] == .some(nil))
        #expect(pair.a.established.first?.children.map(\.name).sorted() == ["net", "second"])
    }

    @Test func aChildTheResponderRefusesFailsOnlyItsInitiation() throws {
        var (ca, cb) = IKEFixtures.siteToSite(tune: { c in
            if c.name == "to-b" {
                c.children.append(ChildPolicy(name: "refused", localSelectors: [SelectorPolicy(prefix: IPPrefix("10.9.0.0/24")!)],
                                              remoteSelectors: [SelectorPolicy(prefix: IPPrefix("10.8.0.0/24")!)], proposals: c.children[0].proposals))
            }
        })
        ca.reuseIKESA = true
        let pair = IKEPair(configA: ca, configB: cb)
        pair.apply(try pair.a.endpoint.initiate(connection: "to-b", child: "net", now: pair.now, tag: 1), on: pair.a)
        #expect(pair.run(until: { Self.outcomes(pair.a)[1] != nil }, for: 10))
        pair.apply(try pair.a.endpoint.initiate(connection: "to-b", child: "refused", now: pair.now, tag: 2), on: pair.a)
        #expect(pair.run(until: { Self.outcomes(pair.a)[2] != nil }, for: 10))
        #expect((Self.outcomes(pair.a)[2] ?? nil)?.contains("TS_UNACCEPTABLE") == true)
        #expect(Self.outcomes(pair.a)[1] == .some(nil) && pair.a.established.count == 1)
    }

    @Test func anInitiationThatCannotStartFailsAtOnce() throws {
        var (ca, cb) = IKEFixtures.siteToSite()
        ca.connections[0].remoteAddresses = [.hostname("nowhere.invalid")]
        let pair = IKEPair(configA: ca, configB: cb)
        pair.apply(try pair.a.endpoint.initiate(connection: "to-b", child: "net", now: pair.now, tag: 3), on: pair.a)
        let failure = try #require(Self.outcomes(pair.a)[3] ?? nil)
        #expect(failure.contains("nowhere.invalid"))
    }
}
