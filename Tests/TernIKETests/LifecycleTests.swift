import Testing
import TernTestSupport
import TernCrypto
import TernDataPlane
import TernIKE
import TernWire

/// Rekeying, collisions (RFC 7296 §2.8.1/§2.8.2), deletes and dead peers, in memory.
@Suite struct LifecycleTests {
    func established(_ tune: (inout ConnectionPolicy) -> Void = { _ in }) throws -> IKEPair {
        let (ca, cb) = IKEFixtures.siteToSite(tune: tune)
        let pair = IKEPair(configA: ca, configB: cb)
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        #expect(pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 30))
        return pair
    }

    func currentSPIs(_ s: IKEPair.Side) -> Set<UInt32> { Set(s.endpoint.listSAs(now: 0).flatMap { $0.children.map(\.inboundSPI) }) }

    /// The sender side's current outbound SA is an inbound SA on the other side (no packet lost).
    func trafficFlows(_ pair: IKEPair, reqidA: UInt32, reqidB: UInt32) -> Bool {
        guard let ao = pair.a.currentOutbound(reqid: reqidA), let bo = pair.b.currentOutbound(reqid: reqidB) else { return false }
        return pair.b.sas.contains { $0.spi == ao.spi && $0.encryptionKey == ao.encryptionKey }
            && pair.a.sas.contains { $0.spi == bo.spi && $0.encryptionKey == bo.encryptionKey }
    }

    ///   A                                   B
    ///   CREATE_CHILD_SA {N(REKEY_SA), SA, Ni, TSi, TSr} -->
    ///                                    <-- {SA, Nr, TSi, TSr}      (B: new inbound only)
    ///   INFORMATIONAL {D(old)}          -->                          (B: new outbound, old out removed)
    ///                                    <-- {D(old)}
    @Test(arguments: ["A", "B"])
    func childRekeyIsMakeBeforeBreak(initiator: String) throws {
        let pair = try established()
        let rekeyer = initiator == "A" ? pair.a : pair.b
        let reqidA = pair.a.established[0].children[0].reqid, reqidB = pair.b.established[0].children[0].reqid
        let before = currentSPIs(pair.a)
        let child = rekeyer.endpoint.listSAs(now: pair.now)[0].children[0].name
        pair.apply(try rekeyer.endpoint.rekey(child: child, now: pair.now), on: rekeyer)
        // After every single delivery, traffic in both directions still has a matching SA.
        var alwaysFlows = true
        pair.run(until: {
            alwaysFlows = alwaysFlows && trafficFlows(pair, reqidA: reqidA, reqidB: reqidB)
            return !currentSPIs(pair.a).isDisjoint(with: before) ? false : pair.a.sas.count == 2 && pair.b.sas.count == 2
        }, for: 20)
        #expect(alwaysFlows)
        #expect(pair.a.sas.count == 2 && pair.b.sas.count == 2, "A: \(pair.a.logLines)")
        #expect(pair.consistent())
        #expect(currentSPIs(pair.a).isDisjoint(with: before))
        #expect(pair.a.policies[reqidA] != nil && pair.b.policies[reqidB] != nil)
        #expect(pair.a.logLines.contains { $0.contains("rekeyed") })
    }

    @Test func childRekeysByLifetimeWithPFS() throws {
        let pair = try established { c in
            c.children[0].rekeyTime = 30; c.children[0].lifeTime = 40; c.children[0].randTime = 5
            c.children[0].proposals = try! ProposalParser.parse("aes256gcm16-modp2048", for: .esp)
        }
        let first = currentSPIs(pair.a)
        pair.run(for: 100)
        #expect(pair.consistent())
        #expect(currentSPIs(pair.a).isDisjoint(with: first))
        #expect(pair.a.sas.count == 2 && pair.b.sas.count == 2, "\(pair.a.logLines)")
        #expect(pair.a.established[0].children[0].keyExchange == "MODP_2048")
    }

    /// §2.8.1: both sides rekey the same CHILD SA at once; the SA made with the lowest nonce is
    /// deleted by its creator. Tried with many seeds so both outcomes occur.
    @Test(arguments: Array(UInt64(1)...UInt64(12)))
    func simultaneousChildRekeyLeavesOnePair(seed: UInt64) throws {
        let (ca, cb) = IKEFixtures.siteToSite()
        let pair = IKEPair(configA: ca, configB: cb, seed: seed)
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 30)
        let reqidA = pair.a.established[0].children[0].reqid, reqidB = pair.b.established[0].children[0].reqid
        let before = currentSPIs(pair.a)
        pair.apply(try pair.a.endpoint.rekey(child: "net", now: pair.now), on: pair.a)
        pair.apply(try pair.b.endpoint.rekey(child: "net", now: pair.now), on: pair.b)
        var alwaysFlows = true
        pair.run(until: {
            if alwaysFlows && !trafficFlows(pair, reqidA: reqidA, reqidB: reqidB) {
                alwaysFlows = false
                print("seed \(seed) broken at \(pair.now)\nA sas: \(pair.a.sas.map { "\($0.source)->\($0.destination) \(String($0.spi, radix: 16))" })\nB sas: \(pair.b.sas.map { "\($0.source)->\($0.destination) \(String($0.spi, radix: 16))" })\nA: \(pair.a.logLines.suffix(6))\nB: \(pair.b.logLines.suffix(6))")
            }
            return false
        }, for: 10)
        #expect(alwaysFlows)
        #expect(pair.a.sas.count == 2 && pair.b.sas.count == 2, "A: \(pair.a.logLines)\nB: \(pair.b.logLines)")
        #expect(pair.consistent())
        #expect(currentSPIs(pair.a).isDisjoint(with: before))
        #expect(pair.a.established.count == 1 && pair.a.established[0].children.count == 1)
        #expect(pair.b.established.count == 1 && pair.b.established[0].children.count == 1)
    }

    ///   A                                   B
    ///   CREATE_CHILD_SA {SA(IKE, new SPIi), Ni, KEi} -->
    ///                                    <-- {SA(IKE, new SPIr), Nr, KEr}
    ///   INFORMATIONAL {D(IKE)} on the old SA -->
    @Test(arguments: ["A", "B"])
    func ikeRekeyMovesTheChildren(initiator: String) throws {
        let pair = try established()
        let old = pair.a.established[0]
        let rekeyer = initiator == "A" ? pair.a : pair.b
        pair.apply(try rekeyer.endpoint.rekey(ike: rekeyer.endpoint.listSAs(now: 0)[0].connection, now: pair.now), on: rekeyer)
        pair.run(until: {
            pair.a.endpoint.listSAs(now: 0).map(\.initiatorSPI) != [old.initiatorSPI]
                && pair.a.endpoint.listSAs(now: 0).count == 1 && pair.b.endpoint.listSAs(now: 0).count == 1
        }, for: 20)
        let new = pair.a.established
        #expect(new.count == 1)
        #expect(new.first?.initiatorSPI != old.initiatorSPI)
        #expect(new.first?.children.count == 1)
        #expect(pair.a.sas.count == 2 && pair.consistent())
        // The new IKE SA works: a CHILD rekey over it succeeds.
        pair.apply(try pair.a.endpoint.rekey(child: "net", now: pair.now), on: pair.a)
        let spis = currentSPIs(pair.a)
        pair.run(until: { currentSPIs(pair.a) != spis && pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 20)
        #expect(pair.consistent() && currentSPIs(pair.a) != spis)
    }

    @Test(arguments: Array(UInt64(1)...UInt64(8)))
    func simultaneousIKERekeyLeavesOneIKESA(seed: UInt64) throws {
        let (ca, cb) = IKEFixtures.siteToSite()
        let pair = IKEPair(configA: ca, configB: cb, seed: seed)
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 30)
        pair.apply(try pair.a.endpoint.rekey(ike: "to-b", now: pair.now), on: pair.a)
        pair.apply(try pair.b.endpoint.rekey(ike: "to-a", now: pair.now), on: pair.b)
        pair.run(for: 40)
        #expect(pair.a.endpoint.listSAs(now: 0).count == 1, "A: \(pair.a.logLines)\nB: \(pair.b.logLines)")
        #expect(pair.b.endpoint.listSAs(now: 0).count == 1)
        #expect(pair.a.established.first?.children.count == 1 && pair.b.established.first?.children.count == 1)
        #expect(pair.a.established.first?.initiatorSPI == pair.b.established.first?.initiatorSPI)
        #expect(pair.a.sas.count == 2 && pair.consistent())
    }

    @Test func ikeRekeysAndReauthenticatesByLifetime() throws {
        let pair = try established { c in c.rekeyTime = 50; c.randTime = 5; c.overTime = 10 }
        let first = pair.a.established[0].initiatorSPI
        pair.run(for: 120)
        #expect(pair.a.endpoint.listSAs(now: 0).count == 1)
        #expect(pair.a.established.first?.initiatorSPI != first)
        #expect(pair.a.sas.count == 2 && pair.consistent())
    }

    @Test func zeroLifetimesMeanNoTimersAndNothingToShow() throws {
        let pair = try established { c in
            c.rekeyTime = 0
            for i in c.children.indices { c.children[i].rekeyTime = 0; c.children[i].lifeTime = 0 }
        }
        pair.run(for: 20_000)
        let sa = try #require(pair.a.established.first)
        #expect(sa.rekeyIn == nil)
        #expect(sa.children.first?.rekeyIn == nil && sa.children.first?.lifeIn == nil)
        #expect(pair.a.sas.count == 2 && pair.consistent())
    }

    @Test func terminateDeletesOnBothSides() throws {
        let pair = try established()
        pair.apply(try pair.a.endpoint.terminate(ike: "to-b", now: pair.now), on: pair.a)
        pair.run(until: { pair.a.endpoint.listSAs(now: 0).isEmpty && pair.b.endpoint.listSAs(now: 0).isEmpty }, for: 10)
        #expect(pair.a.sas.isEmpty && pair.b.sas.isEmpty)
        #expect(pair.a.policies.isEmpty && pair.b.policies.isEmpty)
    }

    @Test func terminatingAChildKeepsTheIKESA() throws {
        let pair = try established()
        pair.apply(try pair.b.endpoint.terminate(child: "net", now: pair.now), on: pair.b)
        pair.run(until: { pair.a.sas.isEmpty && pair.b.sas.isEmpty }, for: 10)
        #expect(pair.a.sas.isEmpty && pair.b.sas.isEmpty && pair.a.policies.isEmpty)
        #expect(pair.a.established.count == 1 && pair.b.established.count == 1)
        // A new CHILD SA over the same IKE SA.
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        #expect(pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 10))
        #expect(pair.consistent())
    }

    @Test func deadPeerIsDetectedAndRestarted() throws {
        let pair = try established { c in c.dpdDelay = 10 }
        var peerUp = false
        pair.shouldDeliver = { _, _ in peerUp }
        let t0 = pair.now
        // B vanishes: A's DPD goes unanswered; retransmits 1, 1.8, 3.24, 5.8 s then give up.
        pair.run(until: { pair.a.logLines.contains { $0.contains("is dead") } }, for: 60)
        let detected = pair.now.seconds(since: t0)
        #expect(detected > 10 && detected < 10 + 1 + 1.8 + 3.24 + 5.84 + 1, "detected after \(detected)")
        #expect(pair.a.sas.isEmpty)
        // dpd_action = restart: A keeps trying; once B is back the tunnel returns.
        peerUp = true
        #expect(pair.run(until: { pair.a.sas.count == 2 && pair.a.established.count == 1 }, for: 60), "\(pair.a.logLines)")
    }

    @Test func dpdTimeoutBoundsDetection() throws {
        let pair = try established { c in c.dpdDelay = 5; c.dpdTimeout = 3 }
        pair.shouldDeliver = { _, _ in false }
        let t0 = pair.now
        pair.run(until: { pair.a.logLines.contains { $0.contains("is dead") } }, for: 60)
        #expect(pair.now.seconds(since: t0) <= 5 + 3 + 0.1)
    }

    @Test func livenessChecksAreAnsweredWhileThePeerIsUp() throws {
        let pair = try established { c in c.dpdDelay = 5 }
        pair.run(for: 60)
        #expect(pair.a.established.count == 1 && pair.a.sas.count == 2)
        #expect(pair.log.count > 10)
    }

    @Test func peerBehindNATChangingPortKeepsItsSAs() throws {
        let (ca, cb) = IKEFixtures.siteToSite(addressA: "10.0.0.1", tune: { c in
            if c.name == "to-a" { c.remoteAddresses = [.any] }
            c.dpdDelay = 5
        })
        let pair = IKEPair(configA: ca, configB: cb, addressA: IPAddress("10.0.0.1")!)
        let public_ = IPAddress("198.51.100.7")!
        var offset: UInt16 = 1000
        pair.rewrite = { d in
            if d.from.address == pair.a.address { d.from = SocketAddress(public_, d.from.port &+ offset) }
            if d.to.address == public_ { d.to = SocketAddress(pair.a.address, d.to.port &- offset) }
        }
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 30)
        offset = 2000   // the NAT forgot the mapping
        pair.run(for: 12)
        #expect(pair.b.established.first?.remote.port == 6500)
        #expect(pair.b.outboundSAs.first?.encapsulation == .udp(sourcePort: 4500, destinationPort: 6500))
        #expect(pair.b.logLines.contains { $0.contains("peer moved") })
        #expect(pair.a.sas.count == 2 && pair.b.sas.count == 2)
    }

    @Test func trapPolicyNegotiatesOnAcquireWithTheTrapsReqid() throws {
        let (ca, cb) = IKEFixtures.siteToSite(tune: { c in if c.name == "to-b" { c.children[0].startAction = .trap } })
        let pair = IKEPair(configA: ca, configB: cb)
        pair.apply(pair.a.endpoint.startConnections(now: 0), on: pair.a)
        #expect(pair.a.sas.isEmpty && pair.a.policies.count == 1)
        let (reqid, trapPolicies) = try #require(pair.a.policies.first)
        #expect(trapPolicies.filter { $0.direction == .outbound }.allSatisfy { $0.acquire })
        // The data plane reports a packet; a second acquire while negotiating changes nothing.
        pair.apply(pair.a.endpoint.acquire(reqid: reqid, now: pair.now), on: pair.a)
        pair.apply(pair.a.endpoint.acquire(reqid: reqid, now: pair.now), on: pair.a)
        #expect(pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 10))
        #expect(pair.a.established[0].children[0].reqid == reqid)
        #expect(pair.a.released.map(\.reqid) == [reqid] && pair.a.released[0].send)
        #expect(pair.a.endpoint.listSAs(now: 0).count == 1)
        // The peer deletes the CHILD SA: the trap stays, so the next packet negotiates again.
        pair.apply(try pair.b.endpoint.terminate(child: "net", now: pair.now), on: pair.b)
        pair.run(until: { pair.a.sas.isEmpty }, for: 10)
        #expect(pair.a.policies[reqid]?.filter { $0.direction == .outbound }.allSatisfy { $0.acquire } == true)
        pair.apply(pair.a.endpoint.acquire(reqid: reqid, now: pair.now + 31), on: pair.a)
        #expect(pair.run(until: { pair.a.sas.count == 2 }, for: 10))
    }

    @Test func viciInstallAndUninstallTrap() throws {
        let (ca, cb) = IKEFixtures.siteToSite()
        let pair = IKEPair(configA: ca, configB: cb)
        #expect(throws: IKECommandError.self) { try pair.a.endpoint.installTrap(child: "nope", now: 0) }
        pair.apply(try pair.a.endpoint.installTrap(child: "net", now: 0), on: pair.a)
        let reqid = try #require(pair.a.policies.keys.first)
        #expect(pair.a.endpoint.installedTraps == [IKEEndpoint.TrapInfo(reqid: reqid, connection: "to-b", child: "net")])
        #expect(throws: IKECommandError.self) { try pair.a.endpoint.installTrap(child: "net", now: 0) }
        pair.apply(pair.a.endpoint.acquire(reqid: reqid, now: pair.now), on: pair.a)
        #expect(pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 10))
        // Uninstalling keeps the CHILD SA's policies (same reqid); with no SA it removes them.
        pair.apply(try pair.a.endpoint.uninstallTrap(child: "net"), on: pair.a)
        #expect(pair.a.endpoint.installedTraps.isEmpty && pair.a.policies[reqid] != nil)
        #expect(throws: IKECommandError.self) { try pair.a.endpoint.uninstallTrap(child: "net") }
        pair.apply(try pair.a.endpoint.installTrap(child: "net", connection: "to-b", now: pair.now), on: pair.a)
        let second = try #require(pair.a.endpoint.installedTraps.first?.reqid)
        pair.apply(try pair.a.endpoint.uninstallTrap(child: "net", connection: "to-b"), on: pair.a)
        #expect(pair.a.policies[second] == nil)
    }

    @Test func failedAcquireDropsWhatWasHeld() throws {
        let (ca, cb) = IKEFixtures.siteToSite(pskB: Array("not the same key at all, so it fails".utf8),
                                           tune: { c in if c.name == "to-b" { c.children[0].startAction = .trap } })
        let pair = IKEPair(configA: ca, configB: cb)
        pair.apply(pair.a.endpoint.startConnections(now: 0), on: pair.a)
        let reqid = try #require(pair.a.policies.keys.first)
        pair.apply(pair.a.endpoint.acquire(reqid: reqid, now: pair.now), on: pair.a)
        pair.run(for: 10)
        #expect(pair.a.released.count == 1 && pair.a.released.first?.send == false)
        #expect(pair.a.policies[reqid] != nil)
    }

    @Test func dpdActionTrapKeepsTrapPoliciesAfterTheIKESADies() throws {
        let pair = try established { c in c.dpdDelay = 5; c.children[0].dpdAction = .trap }
        let reqid = pair.a.established[0].children[0].reqid
        pair.shouldDeliver = { _, _ in false }
        pair.run(until: { pair.a.sas.isEmpty }, for: 60)
        #expect(pair.a.policies[reqid]?.filter { $0.direction == .outbound }.allSatisfy { $0.acquire } == true)
        pair.shouldDeliver = { _, _ in true }
        pair.apply(pair.a.endpoint.acquire(reqid: reqid, now: pair.now), on: pair.a)
        #expect(pair.run(until: { pair.a.sas.count == 2 && pair.a.established.count == 1 }, for: 30))
    }

    @Test func rekeyAndDeleteByVolume() throws {
        let pair = try established { c in
            c.children[0].rekeyBytes = 1_000_000; c.children[0].randBytes = 100_000; c.children[0].lifePackets = 50_000
        }
        let first = pair.a.established[0].children[0]
        pair.apply(pair.a.endpoint.updateTraffic([first.outboundSPI: (800_000, 1000)], now: pair.now), on: pair.a)
        pair.run(for: 1)
        #expect(pair.a.established[0].children[0].inboundSPI == first.inboundSPI)
        pair.apply(pair.a.endpoint.updateTraffic([first.outboundSPI: (1_000_000, 2000)], now: pair.now), on: pair.a)
        pair.run(until: { pair.a.established[0].children.count == 1 && pair.a.established[0].children[0].inboundSPI != first.inboundSPI
            && pair.a.sas.count == 2 }, for: 10)
        let second = pair.a.established[0].children[0]
        #expect(second.inboundSPI != first.inboundSPI && pair.consistent())
        pair.apply(pair.a.endpoint.updateTraffic([second.inboundSPI: (10, 50_000)], now: pair.now), on: pair.a)
        pair.run(until: { pair.a.sas.isEmpty && pair.b.sas.isEmpty }, for: 10)
        #expect(pair.a.sas.isEmpty && pair.a.established.count == 1)
    }

    @Test func reauthenticationReplacesTheIKESAMakeBeforeBreak() throws {
        let pair = try established { c in if c.name == "to-b" { c.reauthTime = 40 }; c.rekeyTime = 0; c.randTime = 0; c.overTime = 20 }
        let first = pair.a.established[0]
        pair.run(until: { pair.a.endpoint.listSAs(now: 0).map(\.uniqueID) != [first.uniqueID] && pair.a.endpoint.listSAs(now: 0).count == 1
            && pair.a.sas.count == 2 && pair.b.endpoint.listSAs(now: 0).count == 1 }, for: 60)
        let second = try #require(pair.a.established.first)
        #expect(second.uniqueID != first.uniqueID && second.children.count == 1)
        #expect(pair.consistent() && pair.a.sas.count == 2 && pair.b.sas.count == 2,
                "A \(pair.a.sas.map { String($0.spi, radix: 16) }) B \(pair.b.sas.map { String($0.spi, radix: 16) })\nA: \(pair.a.logLines)\nB: \(pair.b.logLines)")
        #expect(!pair.a.policies.isEmpty)
    }

    // More of strongSwan's collision checklist (test_child_rekey.c / test_ike_rekey.c), each
    // started at the same instant on both sides and tried with several seeds.

    ///   A: CREATE_CHILD_SA {N(REKEY_SA)} -->    <-- B: INFORMATIONAL {D(child)}
    @Test(arguments: Array(UInt64(1)...UInt64(4)))
    func childRekeyCollidesWithPeersDelete(seed: UInt64) throws {
        let (ca, cb) = IKEFixtures.siteToSite()
        let pair = IKEPair(configA: ca, configB: cb, seed: seed)
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 30)
        pair.apply(try pair.a.endpoint.rekey(child: "net", now: pair.now), on: pair.a)
        pair.apply(try pair.b.endpoint.terminate(child: "net", now: pair.now), on: pair.b)
        pair.run(for: 15)
        #expect(pair.consistent(), "A: \(pair.a.logLines)\nB: \(pair.b.logLines)")
        #expect(pair.a.established.count == 1 && pair.b.established.count == 1)
        // Whatever survived exists on both sides, and nothing half-installed remains.
        #expect(pair.a.sas.count == pair.b.sas.count && pair.a.sas.count % 2 == 0)
        #expect(pair.a.established[0].children.count == pair.a.sas.count / 2)
    }

    ///   A: CREATE_CHILD_SA {SA(IKE)} -->    <-- B: CREATE_CHILD_SA {N(REKEY_SA)}
    @Test(arguments: Array(UInt64(1)...UInt64(4)))
    func ikeRekeyCollidesWithChildRekey(seed: UInt64) throws {
        let (ca, cb) = IKEFixtures.siteToSite()
        let pair = IKEPair(configA: ca, configB: cb, seed: seed)
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 30)
        let spi = pair.a.established[0].children[0].inboundSPI
        pair.apply(try pair.a.endpoint.rekey(ike: "to-b", now: pair.now), on: pair.a)
        pair.apply(try pair.b.endpoint.rekey(child: "net", now: pair.now), on: pair.b)
        // §2.25.2: both answer TEMPORARY_FAILURE and retry 10–20 s later.
        pair.run(for: 60)
        #expect(pair.a.endpoint.listSAs(now: 0).count == 1 && pair.b.endpoint.listSAs(now: 0).count == 1,
                "A: \(pair.a.logLines)\nB: \(pair.b.logLines)")
        #expect(pair.consistent() && pair.a.sas.count == 2 && pair.b.sas.count == 2)
        #expect(pair.a.established.first?.children.first?.inboundSPI != spi)
    }

    ///   A: INFORMATIONAL {D(IKE)} -->    <-- B: CREATE_CHILD_SA {SA(IKE)}
    @Test(arguments: Array(UInt64(1)...UInt64(4)))
    func ikeDeleteCollidesWithIKERekey(seed: UInt64) throws {
        let (ca, cb) = IKEFixtures.siteToSite()
        let pair = IKEPair(configA: ca, configB: cb, seed: seed)
        try pair.initiate(pair.a, connection: "to-b", child: "net")
        pair.run(until: { pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 30)
        pair.apply(try pair.a.endpoint.terminate(ike: "to-b", now: pair.now), on: pair.a)
        pair.apply(try pair.b.endpoint.rekey(ike: "to-a", now: pair.now), on: pair.b)
        pair.run(for: 40)
        // The operator asked for the tunnel to go: nothing may be left on either side.
        #expect(pair.a.endpoint.listSAs(now: 0).isEmpty, "A: \(pair.a.logLines)\nB: \(pair.b.logLines)")
        #expect(pair.b.endpoint.listSAs(now: 0).isEmpty)
        #expect(pair.a.sas.isEmpty && pair.b.sas.isEmpty && pair.a.policies.isEmpty && pair.b.policies.isEmpty)
    }
}
