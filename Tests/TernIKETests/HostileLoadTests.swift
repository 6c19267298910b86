import Foundation
import Testing
import TernTestSupport
import TernIKE
import TernWire

/// Issue 17's engine side: spoofed IKE_SA_INITs cannot lock a peer out, half-open SAs have a
/// ceiling, per-packet log lines are rate-limited, and a dead peer's children restart once.
@Suite struct HostileLoadTests {
    /// An IKE_SA_INIT request as A would send it (fresh SPI and nonce each time).
    static func spoofedInit(_ spoofer: IKEEndpoint) throws -> [UInt8] {
        for act in try spoofer.initiate(connection: "to-b", child: "net", now: 0) {
            if case .send(let d, _, _) = act { return d }
        }
        Issue.record("the spoofer sent no IKE_SA_INIT")
        return []
    }

    @Test func spoofingAPeersAddressDoesNotLockItOut() throws {
        let (ca, cb) = IKEFixtures.siteToSite()
        let pair = IKEPair(configA: ca, configB: cb)
        let spoofer = IKEEndpoint(configuration: ca, random: .seeded(99))
        let from = SocketAddress(pair.a.address, 500), to = SocketAddress(pair.b.address, 500)
        // 20 IKE_SA_INITs "from A" whose answers the spoofer never sees.
        for i in 0..<20 { _ = pair.b.endpoint.handle(datagram: try Self.spoofedInit(spoofer), from: from, to: to, now: .zero + Double(i) * 0.05) }
        #expect(pair.b.endpoint.listSAs(now: 0).count == ca.perSourceCookieThreshold)
        #expect(pair.b.endpoint.stats.cookiesSent == 20 - ca.perSourceCookieThreshold)
        // The real A gets a cookie, returns it and gets in at once, well before half-open SAs time out.
        pair.now = 1
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        #expect(pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 2), "A: \(pair.a.logLines)\nB: \(pair.b.logLines)")
    }

    @Test func halfOpenSAsHaveACeilingAndTheOldestGoFirst() throws {
        var (ca, cb) = IKEFixtures.siteToSite(tune: { c in if c.name == "to-a" { c.remoteAddresses = [.any] } })
        cb.halfOpenLimit = 10
        cb.cookieThreshold = 1_000
        let pair = IKEPair(configA: ca, configB: cb)
        let spoofer = IKEEndpoint(configuration: ca, random: .seeded(5))
        let to = SocketAddress(pair.b.address, 500)
        for i in 0..<25 {
            let from = SocketAddress(IPAddress("198.18.0.\(i + 1)")!, 500)
            _ = pair.b.endpoint.handle(datagram: try Self.spoofedInit(spoofer), from: from, to: to, now: .zero + Double(i) * 0.01)
        }
        let open = pair.b.endpoint.listSAs(now: 1)
        #expect(open.count == 10 && pair.b.endpoint.stats.halfOpenEvicted == 15)
        // The survivors are the newest ten.
        #expect(Set(open.map { $0.remote.address.description }) == Set((16...25).map { "198.18.0.\($0)" }))
        pair.now = 1
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        #expect(pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 2))
    }

    @Test func perPacketLogLinesAreRateLimitedWithASummary() throws {
        let (ca, cb) = IKEFixtures.siteToSite()
        let b = IKEEndpoint(configuration: cb, random: .seeded(3))
        let spoofer = IKEEndpoint(configuration: ca, random: .seeded(4))
        var lines: [String] = []
        func take(_ acts: [IKEAction]) { for a in acts { if case .event(.log(_, let t)) = a { lines.append(t) } } }
        let to = SocketAddress(IPAddress("192.0.2.2")!, 500)
        for i in 0..<100 {
            // From addresses no connection matches.
            let from = SocketAddress(IPAddress("198.18.1.\(i + 1)")!, 500)
            take(b.handle(datagram: try Self.spoofedInit(spoofer), from: from, to: to, now: 10 + Double(i) * 0.005))
        }
        #expect(lines.filter { $0.contains("no connection configured") }.count == 5)
        #expect(b.stats.noConnection == 100)
        let due = try #require(b.nextDeadline)
        #expect(due <= 11.0)
        take(b.handleTimeout(now: due))
        #expect(lines.contains { $0.contains("95 more 'no connection configured' messages") }, "\(lines)")
    }

    @Test func aDeadPeerRightAfterAChildRekeyRestartsTheChildOnce() throws {
        var (ca, cb) = IKEFixtures.siteToSite()
        ca.connections[0].dpdDelay = 5
        let pair = IKEPair(configA: ca, configB: cb)
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        #expect(pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 10))
        // B rekeys the CHILD SA; A answers; B dies before it deletes the old one.
        pair.apply(try pair.b.endpoint.rekey(child: "net", now: pair.now), on: pair.b)
        #expect(pair.run(until: { pair.a.established.first?.children.count == 2 }, for: 10))
        pair.shouldDeliver = { d, _ in d.sender == "A" && d.bytes[18] != IKEExchangeType.ikeSAInit.rawValue }
        #expect(pair.run(until: { pair.a.logLines.contains { $0.contains("re-initiating") } }, for: 200))
        let line = try #require(pair.a.logLines.first { $0.contains("re-initiating") })
        #expect(line.hasSuffix("re-initiating net"), "\(line)")
    }

    @Test func aPeerThatDiesDuringACreateChildIsNoticedWithinTheDPDBound() throws {
        var (ca, cb) = IKEFixtures.siteToSite()
        ca.connections[0].dpdDelay = 2
        ca.connections[0].dpdTimeout = 4
        let pair = IKEPair(configA: ca, configB: cb)
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        #expect(pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 10))
        // B stops answering just as A starts a CHILD rekey.
        pair.shouldDeliver = { d, _ in d.sender == "A" }
        let start = pair.now
        pair.apply(try pair.a.endpoint.rekey(child: "net", now: pair.now), on: pair.a)
        #expect(pair.run(until: { pair.a.logLines.contains { $0.contains("is dead") } }, for: 300))
        #expect(pair.now.seconds(since: start) <= 2 + 4 + 0.5, "noticed after \(pair.now.seconds(since: start)) s")
        #expect(pair.a.logLines.contains { $0.contains("no response within dpd_delay + dpd_timeout") })
    }

    @Test func theReadersCookieAnswersAreTheEnginesCookies() throws {
        var (ca, cb) = IKEFixtures.siteToSite()
        cb.cookieThreshold = 0
        let pair = IKEPair(configA: ca, configB: cb)
        #expect(pair.b.endpoint.requiresCookies)
        let spoofer = IKEEndpoint(configuration: ca, random: .seeded(11))
        let request = try Self.spoofedInit(spoofer)
        // What the daemon's reader would send, without the engine.
        let reader = try #require(pair.b.endpoint.cookies.answer(request, from: pair.a.address))
        let engine = pair.b.endpoint.handle(datagram: request, from: SocketAddress(pair.a.address, 500),
                                            to: SocketAddress(pair.b.address, 500), now: 0)
        guard let d = engine.compactMap({ if case .send(let d, _, _) = $0 { d } else { nil } }).first else {
            Issue.record("no cookie from the engine"); return
        }
        #expect(d == reader)
        // A request that returns a cookie is the engine's to check, not the reader's.
        let returning = spoofer.handle(datagram: reader, from: SocketAddress(pair.b.address, 500),
                                       to: SocketAddress(pair.a.address, 500), now: 0.01)
        let resent = returning.compactMap { if case .send(let d, _, _) = $0 { d } else { nil } }
        guard let second = resent.first else { Issue.record("the initiator did not retry with the cookie: \(returning)"); return }
        #expect(pair.b.endpoint.cookies.answer(second, from: pair.a.address) == nil)
        #expect(pair.b.endpoint.cookies.answer([1, 2, 3], from: pair.a.address) == nil)
        // And the engine takes it: a half-open SA, no second cookie.
        _ = pair.b.endpoint.handle(datagram: second, from: SocketAddress(pair.a.address, 500), to: SocketAddress(pair.b.address, 500), now: 0.02)
        #expect(pair.b.endpoint.listSAs(now: 0.02).count == 1 && pair.b.endpoint.stats.cookiesSent == 1)
    }
}
