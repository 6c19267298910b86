import Testing
import TernCrypto
@testable import TernDataPlane
import TernTestSupport
import TernWire

/// A peer behind NAT gets a new public address and port (RFC 7296 §2.23); IKE re-publishes the
/// same SAs (same SPIs and keys) at the new address. Here A is behind the NAT and B, the
/// responder, sees A's traffic arrive from `natA:31000` instead of `192.0.2.1:4500`.
struct NATRebinding {
    static let natA = IPAddress("192.0.2.77")!
    static let natPort: UInt16 = 31000
    let pair: TunnelPair
    let localB: Set<IPAddress> = [TunnelPair.underlayB4, TunnelPair.innerB4]

    /// B's databases after the rebinding: both SAs moved, the policies' tunnel endpoints too.
    func movedConfigAtB() throws -> SecurityDatabaseConfig {
        var fromA = pair.saAtoB
        fromA.source = Self.natA
        fromA.encapsulation = .udp(sourcePort: Self.natPort, destinationPort: 4500)
        var toA = pair.saBtoA
        toA.destination = Self.natA
        toA.encapsulation = .udp(sourcePort: 4500, destinationPort: Self.natPort)
        var db = SecurityDatabaseConfig()
        try db.addSA(fromA)
        try db.addSA(toA)
        let netA = IPPrefix(TunnelPair.innerA4, length: 24), netB = IPPrefix(TunnelPair.innerB4, length: 24)
        try db.addPolicy(PolicyConfig(source: netB, destination: netA, direction: .outbound, action: .protect([
            IPSecRule(proto: .esp, mode: .tunnel, tunnelSource: TunnelPair.underlayB4, tunnelDestination: Self.natA)])))
        try db.addPolicy(PolicyConfig(source: netA, destination: netB, direction: .inbound, action: .protect([
            IPSecRule(proto: .esp, mode: .tunnel, tunnelSource: Self.natA, tunnelDestination: TunnelPair.underlayB4)])))
        return db
    }

    /// What B's UDP socket reports for A's packets once they come through the new mapping.
    static let contextAtBAfterMove = InboundContext(proto: .esp, source: natA, destination: TunnelPair.underlayB4,
                                                    encapsulation: .udp(sourcePort: natPort, destinationPort: 4500))
    /// What A's socket reports for B's packets (the NAT translates them back to A's own address).
    static let contextAtA = InboundContext(proto: .esp, source: TunnelPair.underlayB4, destination: TunnelPair.underlayA4,
                                           encapsulation: .udp(sourcePort: 4500, destinationPort: 4500))

    static let packetAtoB = PacketFactory.udp(from: TunnelPair.innerA4, to: TunnelPair.innerB4, payloadLength: 100)
    static let packetBtoA = PacketFactory.udp(from: TunnelPair.innerB4, to: TunnelPair.innerA4, payloadLength: 100)

    /// Seals `packet` on `snapshot`; returns the wire bytes, the transmission and the ESP sequence field.
    static func seal(_ packet: [UInt8], on snapshot: DataPlaneSnapshot, drops: DropCounters)
        -> (wire: [UInt8], t: Transmission, seq: UInt32)? {
        let slot = TestSlot()
        var pkt = slot.load(packet)
        guard case .send(let t) = OutboundProcessor.process(&pkt, snapshot: snapshot, drops: drops, now: 2_000) else { return nil }
        return (slot.bytes(pkt), t, load32(pkt.bytes, 4))
    }

    static func open(_ wire: [UInt8], on snapshot: DataPlaneSnapshot, context: InboundContext,
                     drops: DropCounters) -> InboundVerdict {
        let slot = TestSlot()
        var pkt = slot.load(wire)
        return InboundProcessor.process(&pkt, context: context, snapshot: snapshot, drops: drops, now: 2_000)
    }
}

@Suite struct SAMoveTests {
    @Test func natRebindingContinuesSequenceReplayWindowAndCounters() throws {
        let pair = try TunnelPair(udp: true)
        let nat = NATRebinding(pair: pair)
        let beforeCtxAtB = InboundContext(proto: .esp, source: TunnelPair.underlayA4, destination: TunnelPair.underlayB4,
                                          encapsulation: .udp(sourcePort: 4500, destinationPort: 4500))
        // Before the move: A → B three packets, B → A two.
        var lastFromA: [UInt8] = []
        for _ in 0..<3 {
            let s = try #require(NATRebinding.seal(NATRebinding.packetAtoB, on: pair.a, drops: pair.dropsA))
            guard case .deliver = NATRebinding.open(s.wire, on: pair.b, context: beforeCtxAtB, drops: pair.dropsB) else {
                Issue.record("B refused A's packet before the move"); return
            }
            lastFromA = s.wire
        }
        for _ in 0..<2 {
            let s = try #require(NATRebinding.seal(NATRebinding.packetBtoA, on: pair.b, drops: pair.dropsB))
            guard case .deliver = NATRebinding.open(s.wire, on: pair.a, context: NATRebinding.contextAtA, drops: pair.dropsA) else {
                Issue.record("A refused B's packet before the move"); return
            }
        }

        let moved = try DataPlaneSnapshot(config: nat.movedConfigAtB(), localAddresses: nat.localB,
                                          previous: pair.b, now: 5_000)
        let oldIn = try #require(pair.b.associations.first { $0.config.spi == 0x1001 })
        let newIn = try #require(moved.associations.first { $0.config.spi == 0x1001 })
        let newOut = try #require(moved.associations.first { $0.config.spi == 0x1002 })
        #expect(newIn !== oldIn && newIn.config.source == NATRebinding.natA)
        #expect(newIn.created == 1_000 && newOut.created == 1_000)
        #expect(newOut.lastSequenceSent == 2)

        // B → A continues at 3 towards the new address and port, and A accepts it.
        let s = try #require(NATRebinding.seal(NATRebinding.packetBtoA, on: moved, drops: pair.dropsB))
        #expect(s.seq == 3)
        #expect(s.t.kind == .udp && s.t.destination == NATRebinding.natA && s.t.destinationPort == NATRebinding.natPort)
        guard case .deliver = NATRebinding.open(s.wire, on: pair.a, context: NATRebinding.contextAtA, drops: pair.dropsA) else {
            Issue.record("A refused B's first packet after the move (sequence restarted?)"); return
        }

        // A → B: a packet B accepted before the move is still a replay through the new mapping.
        guard case .drop(.replay) = NATRebinding.open(lastFromA, on: moved, context: NATRebinding.contextAtBAfterMove,
                                                      drops: pair.dropsB) else {
            Issue.record("replayed packet accepted after the move"); return
        }
        let fresh = try #require(NATRebinding.seal(NATRebinding.packetAtoB, on: pair.a, drops: pair.dropsA))
        guard case .deliver = NATRebinding.open(fresh.wire, on: moved, context: NATRebinding.contextAtBAfterMove,
                                                drops: pair.dropsB) else {
            Issue.record("B refused A's new packet through the new mapping"); return
        }
        // …but no longer through the old one: the moved SA checks the new ports.
        let stale = try #require(NATRebinding.seal(NATRebinding.packetAtoB, on: pair.a, drops: pair.dropsA))
        guard case .drop(.noSA) = NATRebinding.open(stale.wire, on: moved, context: beforeCtxAtB, drops: pair.dropsB) else {
            Issue.record("moved SA still accepts the old address and port"); return
        }

        #expect(newIn.replay.top == 4)
        #expect(newIn.counters.load(SACounter.packets.rawValue) == 4)
        #expect(newIn.counters.load(SACounter.replayDrops.rawValue) == 1)
        #expect(newOut.counters.load(SACounter.packets.rawValue) == 3)
        #expect(newOut.counters.load(SACounter.lastUsed.rawValue) == 2_000)
    }

    /// A worker may still seal with the old snapshot after the new one is published: the two
    /// objects must never hand out the same sequence number (with AES-GCM that would repeat a nonce).
    @Test func oldAndMovedObjectsShareOneSequence() throws {
        let pair = try TunnelPair(udp: true)
        let nat = NATRebinding(pair: pair)
        let moved = try DataPlaneSnapshot(config: nat.movedConfigAtB(), localAddresses: nat.localB,
                                          previous: pair.b, now: 5_000)
        var seen: [UInt32] = []
        for snapshot in [pair.b, moved, pair.b, moved] {
            seen.append(try #require(NATRebinding.seal(NATRebinding.packetBtoA, on: snapshot, drops: pair.dropsB)).seq)
        }
        #expect(seen == [1, 2, 3, 4])
    }

    @Test func changedKeysReqidOrDirectionStartAfresh() throws {
        let pair = try TunnelPair(udp: true)
        let nat = NATRebinding(pair: pair)
        _ = try #require(NATRebinding.seal(NATRebinding.packetBtoA, on: pair.b, drops: pair.dropsB))
        let base = try nat.movedConfigAtB()
        func rebuilt(_ change: (inout SAConfig) -> Void, local: Set<IPAddress>? = nil) throws -> SecurityAssociation {
            var db = SecurityDatabaseConfig()
            for var sa in base.associations {
                if sa.spi == 0x1002 { change(&sa) }
                try db.addSA(sa)
            }
            let snap = try DataPlaneSnapshot(config: db, localAddresses: local ?? nat.localB, previous: pair.b, now: 5_000)
            return try #require(snap.associations.first { $0.config.spi == 0x1002 })
        }
        let same = try rebuilt { _ in }
        #expect(same.lastSequenceSent == 1 && same.created == 1_000)
        let newKey = try rebuilt { $0.encryptionKey.bytes[0] ^= 1 }
        #expect(newKey.lastSequenceSent == 0 && newKey.created == 5_000)
        let newReqid = try rebuilt { $0.reqid = 9 }
        #expect(newReqid.lastSequenceSent == 0)
        let newMode = try rebuilt { $0.mode = .transport }
        #expect(newMode.lastSequenceSent == 0)
        let newWindow = try rebuilt { $0.replayWindow = 64 }
        #expect(newWindow.lastSequenceSent == 0)
        // B no longer owns the source address: the SA is inbound now, not the outbound one moved.
        let flipped = try rebuilt({ _ in }, local: [TunnelPair.innerB4])
        #expect(!flipped.isOutbound && flipped.lastSequenceSent == 0)
    }

    @Test func unchangedSAsAreTheSameObjects() throws {
        let pair = try TunnelPair()
        var db = SecurityDatabaseConfig()
        try db.addSA(pair.saAtoB); try db.addSA(pair.saBtoA)
        let again = try DataPlaneSnapshot(config: db, localAddresses: [TunnelPair.underlayB4], previous: pair.b, now: 9)
        for sa in again.associations {
            #expect(sa === pair.b.associations.first { $0.config.spi == sa.config.spi })
        }
    }

    /// An SA moved twice in one snapshot (two copies with the same SPI at different addresses)
    /// continues only once; the other copy starts fresh rather than sharing a replay window.
    @Test func anSAContinuesOnlyOnce() throws {
        let pair = try TunnelPair(udp: true)
        _ = try #require(NATRebinding.seal(NATRebinding.packetBtoA, on: pair.b, drops: pair.dropsB))
        var db = SecurityDatabaseConfig()
        for last in [UInt8(77), 78] {
            var toA = pair.saBtoA
            toA.destination = IPAddress("192.0.2.\(last)")!
            try db.addSA(toA)
        }
        let snap = try DataPlaneSnapshot(config: db, localAddresses: [TunnelPair.underlayB4], previous: pair.b, now: 5_000)
        let sequences = snap.associations.map(\.lastSequenceSent)
        #expect(sequences.sorted() == [0, 1])
        #expect(snap.associations[0] !== snap.associations[1])
    }
}
