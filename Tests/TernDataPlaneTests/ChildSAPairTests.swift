import Testing
import TernCrypto
@testable import TernDataPlane
import TernTestSupport
import TernWire

/// How IKE installs CHILD SAs: in pairs (inbound: peer → us, outbound: us → peer) that share a
/// reqid, bound to policies by `unique:reqid`; a rekey appends a second pair with the same reqid.
struct ChildSAPairs {
    static let local = IPAddress("192.0.2.1")!, peer = IPAddress("192.0.2.2")!
    static let localNet = IPPrefix("203.0.113.0/24")!, peerNet = IPPrefix("198.51.100.0/24")!
    static let reqid: UInt32 = 7

    /// One CHILD SA's two halves. SPIs: outbound 0x2000 + n, inbound 0x3000 + n.
    static func pair(_ n: UInt32, seed: UInt64) -> (outbound: SAConfig, inbound: SAConfig) {
        var rng = SeededBytes(seed: seed)
        func sa(_ s: IPAddress, _ d: IPAddress, _ spi: UInt32) -> SAConfig {
            SAConfig(source: s, destination: d, proto: .esp, spi: spi, mode: .tunnel, reqid: reqid,
                     encryption: .aesGCM16(keyBits: 128), encryptionKey: KeyMaterial(rng.bytes(20)))
        }
        return (sa(local, peer, 0x2000 + n), sa(peer, local, 0x3000 + n))
    }

    static var outboundPolicy: PolicyConfig {
        PolicyConfig(source: localNet, destination: peerNet, direction: .outbound,
                     action: .protect([IPSecRule(proto: .esp, mode: .tunnel, tunnelSource: local, tunnelDestination: peer,
                                                 level: .unique(reqid: reqid))]))
    }

    static func snapshot(_ sas: [SAConfig]) throws -> DataPlaneSnapshot {
        var db = SecurityDatabaseConfig()
        for sa in sas { try db.addSA(sa) }
        try db.addPolicy(outboundPolicy)
        return try DataPlaneSnapshot(config: db, localAddresses: [local], now: 1_000)
    }

    /// The SPI an outbound packet was sealed with, or nil if it was not sent.
    static func sentSPI(_ snapshot: DataPlaneSnapshot) -> UInt32? {
        let slot = TestSlot()
        var pkt = slot.load(PacketFactory.udp(from: IPAddress("203.0.113.5")!, to: IPAddress("198.51.100.9")!,
                                              payloadLength: 50))
        guard case .send(let t) = OutboundProcessor.process(&pkt, snapshot: snapshot, drops: DropCounters(), now: 1_000),
              t.kind == .esp else { return nil }
        return load32(pkt.bytes, 0)
    }
}

@Suite struct ChildSAPairTests {
    typealias P = ChildSAPairs

    /// Every order IKE might list one pair and its rekeyed successor in (the successor after the
    /// original, each pair's halves either way round): the newest outbound SA sends.
    @Test(arguments: [false, true], [false, true])
    func rekeyedPairSendsOnNewestOutboundSA(firstInboundFirst: Bool, secondInboundFirst: Bool) throws {
        let old = P.pair(1, seed: 1), new = P.pair(2, seed: 2)
        let first = firstInboundFirst ? [old.inbound, old.outbound] : [old.outbound, old.inbound]
        let second = secondInboundFirst ? [new.inbound, new.outbound] : [new.outbound, new.inbound]
        let snap = try P.snapshot(first + second)
        #expect(P.sentSPI(snap) == new.outbound.spi)
        for sa in snap.associations where !sa.isOutbound { #expect(sa.lastSequenceSent == 0) }
        #expect(snap.associations.first { $0.config.spi == old.outbound.spi }?.lastSequenceSent == 0)
    }

    /// Make-before-break: the new inbound SA is installed before the new outbound one. In between,
    /// the old outbound SA must keep sending, never the inbound SA that was listed last.
    @Test(arguments: [false, true])
    func halfInstalledRekeyKeepsSendingOnOldOutboundSA(inboundFirst: Bool) throws {
        let old = P.pair(1, seed: 1), new = P.pair(2, seed: 2)
        let first = inboundFirst ? [old.inbound, old.outbound] : [old.outbound, old.inbound]
        #expect(P.sentSPI(try P.snapshot(first + [new.inbound])) == old.outbound.spi)
        #expect(P.sentSPI(try P.snapshot(first)) == old.outbound.spi)
    }

    @Test func onlyInboundSAsMeansNoSA() throws {
        let old = P.pair(1, seed: 1), new = P.pair(2, seed: 2)
        let snap = try P.snapshot([old.inbound, new.inbound])
        let slot = TestSlot()
        var pkt = slot.load(PacketFactory.echo(from: IPAddress("203.0.113.5")!, to: IPAddress("198.51.100.9")!))
        guard case .drop(.noSA) = OutboundProcessor.process(&pkt, snapshot: snap, drops: DropCounters(), now: 1) else {
            Issue.record("sent on an inbound SA"); return
        }
    }

    /// Without a reqid (setkey `require`), SAs are found by endpoints; an SA whose source is not
    /// one of our addresses is someone else's outbound SA and is not sent on either.
    @Test func endpointLookupIgnoresSAsFromNonLocalSources() throws {
        var db = SecurityDatabaseConfig()
        try db.addSA(SAConfig(source: P.local, destination: P.peer, proto: .esp, spi: 0x4001, mode: .tunnel,
                              encryption: .aesGCM16(keyBits: 128), encryptionKey: KeyMaterial(Array(repeating: 1, count: 20))))
        try db.addPolicy(PolicyConfig(source: P.localNet, destination: P.peerNet, direction: .outbound,
                                      action: .protect([IPSecRule(proto: .esp, mode: .tunnel, tunnelSource: P.local,
                                                                  tunnelDestination: P.peer)])))
        let mine = try DataPlaneSnapshot(config: db, localAddresses: [P.local], now: 1)
        let theirs = try DataPlaneSnapshot(config: db, localAddresses: [P.peer], now: 1)
        #expect(P.sentSPI(mine) == 0x4001)
        #expect(P.sentSPI(theirs) == nil)
    }
}
