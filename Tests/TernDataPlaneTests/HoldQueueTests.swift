import Testing
import TernCrypto
@testable import TernDataPlane
import TernTestSupport
import TernWire

/// A packet from A's inner network to B's whose destination port tells it apart.
func heldPacket(port: UInt16, payload: Int = 100) -> [UInt8] {
    PacketFactory.udp(from: TunnelPair.innerA4, to: TunnelPair.innerB4, destinationPort: port, payloadLength: payload)
}

extension HoldQueue {
    mutating func hold(_ bytes: [UInt8], reqid: UInt32, at now: MonotonicInstant,
                       drops: DropCounters) -> AcquireRequest? {
        let slot = TestSlot()
        return hold(slot.load(bytes), reqid: reqid, now: now, drops: drops)
    }
}

@Suite struct HoldQueueTests {
    let t0: MonotonicInstant = 1_000   // a manual clock: the queue reads none

    @Test func fullQueueDropsItsOldestPacket() {
        var q = HoldQueue(limits: .init(packetsPerReqid: 3))
        let drops = DropCounters()
        for port in UInt16(1)...5 { _ = q.hold(heldPacket(port: port), reqid: 7, at: t0, drops: drops) }
        #expect(q.count(reqid: 7) == 3 && q.packetCount == 3)
        #expect(drops[.holdOverflow] == 2)
        let kept = q.take(reqid: 7)
        #expect(kept.map(\.selectors.destinationPort) == [3, 4, 5])
        #expect(kept.map(\.bytes) == [heldPacket(port: 3), heldPacket(port: 4), heldPacket(port: 5)])
        #expect(q.isEmpty && q.byteCount == 0 && q.take(reqid: 7).isEmpty)
    }

    @Test func totalMemoryIsBoundedAcrossReqids() {
        let size = heldPacket(port: 1).count
        var q = HoldQueue(limits: .init(packetsPerReqid: 32, totalBytes: 3 * size))
        let drops = DropCounters()
        for port in UInt16(1)...3 { _ = q.hold(heldPacket(port: port), reqid: 1, at: t0, drops: drops) }
        // Full: another reqid's packet does not push out reqid 1's…
        _ = q.hold(heldPacket(port: 9), reqid: 2, at: t0, drops: drops)
        #expect(q.count(reqid: 1) == 3 && q.count(reqid: 2) == 0 && drops[.holdOverflow] == 1)
        // …but reqid 1's own newer packet replaces its oldest.
        _ = q.hold(heldPacket(port: 4), reqid: 1, at: t0, drops: drops)
        #expect(q.take(reqid: 1).map(\.selectors.destinationPort) == [2, 3, 4])
        #expect(drops[.holdOverflow] == 2)
        // A packet that could never fit is refused without evicting anything.
        _ = q.hold(heldPacket(port: 5), reqid: 1, at: t0, drops: drops)
        _ = q.hold(heldPacket(port: 6, payload: 4 * size), reqid: 1, at: t0, drops: drops)
        #expect(q.count(reqid: 1) == 1 && drops[.holdOverflow] == 3)
        #expect(q.byteCount == size)
    }

    @Test func acquiresAreRateLimitedPerReqid() {
        var q = HoldQueue(limits: .init(acquireInterval: .seconds(2)))
        let drops = DropCounters()
        let first = q.hold(heldPacket(port: 53), reqid: 7, at: t0, drops: drops)
        #expect(first?.reqid == 7)
        #expect(first?.selectors.source == TunnelPair.innerA4 && first?.selectors.destination == TunnelPair.innerB4)
        #expect(first?.selectors.upperProtocol == IPProtocolNumber.udp)
        #expect(first?.selectors.sourcePort == 40000 && first?.selectors.destinationPort == 53)
        // A flood within the interval raises no more acquires for that reqid…
        for i in 0..<100 {
            #expect(q.hold(heldPacket(port: 54), reqid: 7, at: t0 + .milliseconds(i * 19), drops: drops) == nil)
        }
        // …while another reqid gets its own.
        #expect(q.hold(heldPacket(port: 80), reqid: 8, at: t0 + .seconds(1), drops: drops)?.reqid == 8)
        #expect(q.hold(heldPacket(port: 55), reqid: 7, at: t0 + .seconds(2), drops: drops)?.selectors.destinationPort == 55)
        #expect(q.hold(heldPacket(port: 81), reqid: 8, at: t0 + .milliseconds(2_999), drops: drops) == nil)
        // Taking the packets does not reset the limit: a failing negotiation is not retried faster.
        _ = q.take(reqid: 7)
        #expect(q.hold(heldPacket(port: 56), reqid: 7, at: t0 + .seconds(3), drops: drops) == nil)
    }

    @Test func packetsExpireAfterTheTimeout() {
        var q = HoldQueue(limits: .init(acquireInterval: .seconds(2), timeout: .seconds(10)))
        let drops = DropCounters()
        _ = q.hold(heldPacket(port: 1), reqid: 1, at: t0, drops: drops)
        _ = q.hold(heldPacket(port: 2), reqid: 2, at: t0 + .seconds(1), drops: drops)
        _ = q.hold(heldPacket(port: 3), reqid: 1, at: t0 + .seconds(5), drops: drops)
        #expect(q.expire(now: t0 + .milliseconds(9_999), drops: drops) == 0)
        #expect(q.expire(now: t0 + .seconds(10), drops: drops) == 1)
        #expect(q.count(reqid: 1) == 1 && q.count(reqid: 2) == 1)
        #expect(q.expire(now: t0 + .seconds(11), drops: drops) == 1)
        #expect(q.reqids == [1])
        #expect(!q.isIdle)
        #expect(q.expire(now: t0 + .seconds(15), drops: drops) == 1)
        #expect(drops[.holdExpired] == 3)
        #expect(q.isEmpty && q.isIdle && q.byteCount == 0)
    }

    @Test func discardDropsOnlyThatReqid() {
        var q = HoldQueue()
        let drops = DropCounters()
        for port in UInt16(1)...4 { _ = q.hold(heldPacket(port: port), reqid: UInt32(port % 2), at: t0, drops: drops) }
        #expect(q.discard(reqid: 1, drops: drops) == 2)
        #expect(drops[.holdDiscarded] == 2)
        #expect(q.reqids == [0] && q.packetCount == 2)
    }

    @Test func nonIPBytesAreNotHeld() {
        var q = HoldQueue()
        let drops = DropCounters()
        #expect(q.hold([0x00, 0x01, 0x02], reqid: 1, at: t0, drops: drops) == nil)
        #expect(q.isEmpty && drops[.malformed] == 1)
    }
}

/// A trap policy on host A (TunnelPair's addresses), with and without its SAs installed.
struct TrapSetup {
    static let reqid: UInt32 = 7
    let pair: TunnelPair
    let trapOnly: DataPlaneSnapshot
    let installed: DataPlaneSnapshot

    init(acquire: Bool = true, level: IPSecLevel = .unique(reqid: TrapSetup.reqid)) throws {
        pair = try TunnelPair()
        let rule = IPSecRule(proto: .esp, mode: .tunnel, tunnelSource: TunnelPair.underlayA4,
                             tunnelDestination: TunnelPair.underlayB4, level: level)
        var db = SecurityDatabaseConfig()
        try db.addPolicy(PolicyConfig(source: IPPrefix(TunnelPair.innerA4, length: 24),
                                      destination: IPPrefix(TunnelPair.innerB4, length: 24),
                                      direction: .outbound, action: .protect([rule]), acquire: acquire))
        let local: Set<IPAddress> = [TunnelPair.underlayA4, TunnelPair.innerA4]
        trapOnly = try DataPlaneSnapshot(config: db, localAddresses: local, now: 1_000)
        var inbound = pair.saBtoA, outbound = pair.saAtoB
        inbound.reqid = Self.reqid; outbound.reqid = Self.reqid
        try db.addSA(inbound); try db.addSA(outbound)   // IKE installs inbound first
        installed = try DataPlaneSnapshot(config: db, localAddresses: local, previous: trapOnly, now: 1_000)
    }
}

@Suite struct TrapPolicyTests {
    @Test func missingSAHoldsThenHeldPacketsGoOutInOrder() throws {
        let trap = try TrapSetup()
        let drops = DropCounters()
        var queue = HoldQueue()
        let now: MonotonicInstant = 1_000
        var acquires: [AcquireRequest] = []
        let originals = (UInt16(1)...3).map { heldPacket(port: $0) }
        for packet in originals {
            let slot = TestSlot()
            var pkt = slot.load(packet)
            guard case .hold(let reqid) = OutboundProcessor.process(&pkt, snapshot: trap.trapOnly, drops: drops, now: 1_000) else {
                Issue.record("trap policy without SA did not hold"); return
            }
            #expect(reqid == TrapSetup.reqid)
            #expect(slot.bytes(pkt) == packet)   // untouched cleartext
            if let a = queue.hold(pkt, reqid: reqid, now: now, drops: drops) { acquires.append(a) }
        }
        #expect(acquires.map(\.reqid) == [TrapSetup.reqid])
        #expect(acquires.first?.selectors.destinationPort == 1)
        #expect(drops[.noSA] == 0)
        #expect(queue.ready(in: trap.trapOnly).isEmpty)

        // The SAs are installed: the held packets are ready, and go out in order on the new SA.
        #expect(queue.ready(in: trap.installed) == [TrapSetup.reqid])
        let slot = TestSlot()
        for (i, held) in queue.take(reqid: TrapSetup.reqid).enumerated() {
            var pkt = try #require(held.load(into: slot.base, capacity: slot.capacity))
            guard case .send(let t) = OutboundProcessor.process(&pkt, snapshot: trap.installed, drops: drops, now: 1_000) else {
                Issue.record("held packet \(i) not sent"); return
            }
            #expect(load32(pkt.bytes, 0) == trap.pair.saAtoB.spi)
            #expect(load32(pkt.bytes, 4) == UInt32(i + 1))
            let ctx = trap.pair.contextAtB(t, proto: .esp, packet: pkt)
            guard case .deliver = InboundProcessor.process(&pkt, context: ctx, snapshot: trap.pair.b,
                                                           drops: trap.pair.dropsB, now: 1_000) else {
                Issue.record("B refused held packet \(i)"); return
            }
            #expect(slot.bytes(pkt) == originals[i])
        }
        #expect(queue.isEmpty)
    }

    @Test func trapPolicyWithItsSABehavesAsBefore() throws {
        let trap = try TrapSetup()
        let drops = DropCounters()
        let slot = TestSlot()
        var pkt = slot.load(heldPacket(port: 1))
        guard case .send = OutboundProcessor.process(&pkt, snapshot: trap.installed, drops: drops, now: 1_000) else {
            Issue.record("trap policy with an SA did not send"); return
        }
    }

    @Test func policiesWithoutAcquireStillDropAsNoSA() throws {
        let plain = try TrapSetup(acquire: false)
        let drops = DropCounters()
        let slot = TestSlot()
        var pkt = slot.load(heldPacket(port: 1))
        guard case .drop(.noSA) = OutboundProcessor.process(&pkt, snapshot: plain.trapOnly, drops: drops, now: 1_000) else {
            Issue.record("no_sa expected"); return
        }
        #expect(drops[.noSA] == 1)
        // `use` bypasses without an SA, trap or not.
        let use = try TrapSetup(level: .use)
        var pkt2 = slot.load(heldPacket(port: 1))
        guard case .bypass = OutboundProcessor.process(&pkt2, snapshot: use.trapOnly, drops: drops, now: 1_000) else {
            Issue.record("use level did not bypass"); return
        }
    }

    @Test func acquireIsPartOfThePolicyAndDefaultsOff() {
        let a = PolicyConfig(source: IPPrefix("0.0.0.0/0")!, destination: IPPrefix("0.0.0.0/0")!, direction: .outbound,
                             action: .bypass)
        var b = a
        b.acquire = true
        #expect(!a.acquire && a != b && a.selector == b.selector)
    }
}
