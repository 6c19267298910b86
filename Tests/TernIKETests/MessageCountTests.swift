import Testing
import TernIKE
import TernTestSupport
import TernWire

/// `IKEEndpoint.messages`: the endpoint counts every IKE message it receives and sends, by
/// exchange, direction and request/response, in all and per connection (the daemon's
/// counters-plugin figures come from here).
@Suite struct MessageCountTests {
    static let exchanges: [IKEExchangeType] = [.ikeSAInit, .ikeAuth, .createChildSA, .informational]

    /// What the wire saw: the pair's log of every datagram, by sender, exchange and response flag.
    func wire(_ pair: IKEPair, sender: String, _ exchange: IKEExchangeType, isResponse: Bool) -> UInt64 {
        UInt64(pair.log.filter { d in
            guard d.sender == sender, let h = try? IKEHeader(decoding: d.bytes[...]) else { return false }
            return h.exchangeType == exchange.rawValue && h.flags.contains(.response) == isResponse
        }.count)
    }

    /// Every counter of both sides matches the wire: what A sent is what A counted out and B
    /// counted in (nothing is dropped here), and the connection's counts are the totals.
    func expectMatchesWire(_ pair: IKEPair, sourceLocation: SourceLocation = #_sourceLocation) {
        for (me, peer, connection) in [(pair.a, pair.b, "to-b"), (pair.b, pair.a, "to-a")] {
            let m = me.endpoint.messages
            for x in Self.exchanges {
                for r in [false, true] {
                    #expect(m[x, .outbound, r] == wire(pair, sender: me.name, x, isResponse: r), "\(me.name) \(x) out resp=\(r)", sourceLocation: sourceLocation)
                    #expect(m[x, .inbound, r] == wire(pair, sender: peer.name, x, isResponse: r), "\(me.name) \(x) in resp=\(r)", sourceLocation: sourceLocation)
                }
            }
            // Every message belongs to the connection, except a new IKE_SA_INIT request: it
            // arrives before there is an IKE SA (strongSwan's plugin has no peer config then either).
            let mine = me.endpoint.messagesByConnection[connection] ?? IKEMessageCounts()
            for x in Self.exchanges {
                for d in IKEMessageCounts.Direction.allCases {
                    for r in [false, true] {
                        let expected = x == .ikeSAInit && d == .inbound && !r ? 0 : m[x, d, r]
                        #expect(mine[x, d, r] == expected, "\(me.name) \(connection) \(x) \(d) resp=\(r)", sourceLocation: sourceLocation)
                    }
                }
            }
        }
    }

    @Test func countsTheHandshakeAndRekeysByExchangeDirectionAndResponse() throws {
        let (ca, cb) = IKEFixtures.siteToSite()
        let pair = IKEPair(configA: ca, configB: cb)
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        #expect(pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 && pair.inFlight.isEmpty }, for: 10))
        // IKE_SA_INIT and IKE_AUTH, one request and one response each way.
        let a = pair.a.endpoint.messages, b = pair.b.endpoint.messages
        #expect(a[.ikeSAInit, .outbound, false] == 1 && a[.ikeSAInit, .inbound, true] == 1)
        #expect(a[.ikeAuth, .outbound, false] == 1 && a[.ikeAuth, .inbound, true] == 1)
        #expect(b[.ikeSAInit, .inbound, false] == 1 && b[.ikeSAInit, .outbound, true] == 1)
        #expect(b[.ikeAuth, .inbound, false] == 1 && b[.ikeAuth, .outbound, true] == 1)
        #expect(a.total == 4 && b.total == 4)
        expectMatchesWire(pair)

        // A rekeys the CHILD SA, B the IKE SA: a CREATE_CHILD_SA each, then the deletes of the old SAs.
        pair.apply(try pair.a.endpoint.rekey(child: "net", now: pair.now), on: pair.a)
        #expect(pair.run(until: { pair.a.events.contains { if case .childRekeyed = $0 { true } else { false } } && pair.inFlight.isEmpty }, for: 30))
        pair.apply(try pair.b.endpoint.rekey(ike: "to-a", now: pair.now), on: pair.b)
        #expect(pair.run(until: { pair.b.events.contains { if case .ikeRekeyed = $0 { true } else { false } } && pair.inFlight.isEmpty }, for: 30))
        pair.run(for: 5)
        #expect(pair.inFlight.isEmpty)
        let a2 = pair.a.endpoint.messages, b2 = pair.b.endpoint.messages
        #expect(a2[.createChildSA, .outbound, false] == 1 && a2[.createChildSA, .inbound, true] == 1)
        #expect(a2[.createChildSA, .inbound, false] == 1 && a2[.createChildSA, .outbound, true] == 1)
        #expect(b2[.createChildSA, .outbound, false] == 1 && b2[.createChildSA, .inbound, false] == 1)
        // The old CHILD SA's delete (A asks), then the old IKE SA's (B asks): INFORMATIONAL both ways.
        #expect(a2[.informational, .outbound, false] >= 1 && b2[.informational, .outbound, false] >= 1)
        #expect(a2[.informational, .inbound, true] == b2[.informational, .outbound, true])
        expectMatchesWire(pair)

        // Resetting one connection leaves the totals; resetting all zeroes them.
        pair.a.endpoint.resetMessageCounts(connection: "to-b")
        #expect(pair.a.endpoint.messagesByConnection["to-b"] == nil && pair.a.endpoint.messages == a2)
        pair.a.endpoint.resetMessageCounts()
        #expect(pair.a.endpoint.messages.total == 0)
    }

    @Test func retransmissionsCountAsSentAndDropsAsStats() throws {
        let (ca, cb) = IKEFixtures.siteToSite()
        let pair = IKEPair(configA: ca, configB: cb)
        pair.shouldDeliver = { _, _ in false }
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        pair.run(for: 10)
        // Every IKE_SA_INIT request A sent, the retransmissions too, and nothing came back.
        let a = pair.a.endpoint.messages
        #expect(a[.ikeSAInit, .outbound, false] >= 2)
        #expect(a[.ikeSAInit, .outbound, false] == wire(pair, sender: "A", .ikeSAInit, isResponse: false))
        #expect(a.total == a[.ikeSAInit, .outbound, false])
        // A datagram for no IKE SA is counted as received, and as a drop by its reason.
        let b = pair.b.endpoint
        let stray = IKEMessage(header: IKEHeader(initiatorSPI: 7, responderSPI: 9, exchangeType: IKEExchangeType.informational.rawValue,
                                                 flags: [.initiator], messageID: 1), payloads: []).encode()
        _ = b.handle(datagram: stray, from: SocketAddress(pair.a.address, 500), to: SocketAddress(pair.b.address, 500), now: pair.now)
        #expect(b.messages[.informational, .inbound, false] == 1 && b.stats.unknownSPI == 1)
        #expect(b.messagesByConnection.isEmpty)
    }
}
