import Testing
import TernCrypto
@testable import TernDataPlane
import TernTestSupport
import TernWire

/// Sends `packet` from A through the pair and returns (B's verdict, the bytes B delivered).
func transfer(_ pair: TunnelPair, _ packet: [UInt8], proto: IPSecProtocol = .esp,
              tamper: ((inout PacketBuffer) -> Void)? = nil) -> (OutboundVerdict, InboundVerdict?, [UInt8]) {
    let slot = TestSlot()
    var pkt = slot.load(packet)
    let out = OutboundProcessor.process(&pkt, snapshot: pair.a, drops: pair.dropsA, now: 1_000)
    guard case .send(let t) = out else { return (out, nil, []) }
    var ctx = pair.contextAtB(t, proto: proto, packet: pkt)
    if case .ipPacket = t.kind, t.destination.family == .v6 { pkt.start += 40; pkt.length -= 40; ctx.ipHeaderLength = 0 }
    tamper?(&pkt)
    let verdict = InboundProcessor.process(&pkt, context: ctx, snapshot: pair.b, drops: pair.dropsB, now: 1_000)
    return (out, verdict, slot.bytes(pkt))
}

struct AlgorithmSuite: CustomTestStringConvertible, Sendable {
    let encryption: EncryptionAlgorithm
    let integrity: IntegrityAlgorithm
    var testDescription: String { "\(encryption)+\(integrity)" }
}

let espSuites: [AlgorithmSuite] = [
    AlgorithmSuite(encryption: .aesGCM16(keyBits: 128), integrity: .none),
    AlgorithmSuite(encryption: .aesGCM16(keyBits: 256), integrity: .none),
    AlgorithmSuite(encryption: .chacha20Poly1305, integrity: .none),
    AlgorithmSuite(encryption: .aesGMAC(keyBits: 128), integrity: .none),
    AlgorithmSuite(encryption: .aesGMAC(keyBits: 256), integrity: .none),
    AlgorithmSuite(encryption: .aesCBC(keyBits: 128), integrity: .hmacSHA256_128),
    AlgorithmSuite(encryption: .aesCBC(keyBits: 256), integrity: .hmacSHA384_192),
    AlgorithmSuite(encryption: .aesCBC(keyBits: 256), integrity: .hmacSHA512_256),
    AlgorithmSuite(encryption: .aesCBC(keyBits: 128), integrity: .hmacSHA1_96),
    AlgorithmSuite(encryption: .null, integrity: .hmacSHA256_128),
]

@Suite struct ESPProcessingTests {
    @Test(arguments: espSuites, [false, true])
    func tunnelRoundTripEveryAlgorithm(suite: AlgorithmSuite, esn: Bool) throws {
        let pair = try TunnelPair(encryption: suite.encryption, integrity: suite.integrity, esn: esn)
        for size in [0, 1, 13, 100, 1000, 1400] {
            let original = PacketFactory.udp(from: TunnelPair.innerA4, to: TunnelPair.innerB4, payloadLength: size)
            let (out, verdict, delivered) = transfer(pair, original)
            guard case .send(let t) = out else { Issue.record("not sent: \(out)"); return }
            #expect(t.kind == .esp)
            #expect(t.destination == TunnelPair.underlayB4)
            guard case .deliver? = verdict else { Issue.record("size \(size): \(String(describing: verdict))"); return }
            #expect(delivered == original)
        }
        let inbound = pair.b.associations.first { $0.config.spi == 0x1001 }!
        #expect(inbound.counters.load(SACounter.packets.rawValue) == 6)
        #expect(DropReason.allCases.allSatisfy { pair.dropsB[$0] == 0 })
    }

    @Test(arguments: [(IPAddress.Family.v4, IPAddress.Family.v4), (.v6, .v6), (.v6, .v4), (.v4, .v6)])
    func tunnelFamilies(outer: IPAddress.Family, inner: IPAddress.Family) throws {
        let pair = try TunnelPair(outer: outer, inner: inner)
        let (src, dst) = inner == .v4 ? (TunnelPair.innerA4, TunnelPair.innerB4) : (TunnelPair.innerA6, TunnelPair.innerB6)
        let original = PacketFactory.echo(from: src, to: dst)
        let (out, verdict, delivered) = transfer(pair, original)
        guard case .send(let t) = out else { Issue.record("\(out)"); return }
        #expect(t.destination.family == outer)
        guard case .deliver? = verdict else { Issue.record("\(String(describing: verdict))"); return }
        #expect(delivered == original)
    }

    @Test(arguments: [IPAddress.Family.v4, .v6], [false, true])
    func transportRoundTrip(family: IPAddress.Family, udp: Bool) throws {
        let pair = try TunnelPair(mode: .transport, encryption: .aesCBC(keyBits: 256), integrity: .hmacSHA256_128,
                                  outer: family, udp: udp)
        let (src, dst) = family == .v4 ? (TunnelPair.underlayA4, TunnelPair.underlayB4) : (TunnelPair.underlayA6, TunnelPair.underlayB6)
        let original = PacketFactory.udp(from: src, to: dst, payloadLength: 333)
        let (out, verdict, delivered) = transfer(pair, original)
        guard case .send(let t) = out else { Issue.record("\(out)"); return }
        #expect(t.kind == (udp ? .udp : .esp))
        guard case .deliver? = verdict else { Issue.record("\(String(describing: verdict))"); return }
        // Transport mode keeps the upper layer byte for byte; the header is rebuilt.
        let h = family == .v4 ? 20 : 40
        #expect(Array(delivered[h...]) == Array(original[h...]))
        let sel = delivered.withUnsafeBytes { PacketSelectors.parse($0.baseAddress!, length: delivered.count) }
        #expect(sel?.source == src && sel?.destination == dst && sel?.upperProtocol == IPProtocolNumber.udp)
    }

    @Test func udpEncapsulationCarriesPorts() throws {
        let pair = try TunnelPair(udp: true)
        let (out, verdict, _) = transfer(pair, PacketFactory.echo(from: TunnelPair.innerA4, to: TunnelPair.innerB4))
        guard case .send(let t) = out else { Issue.record("\(out)"); return }
        #expect(t.kind == .udp && t.sourcePort == 4500 && t.destinationPort == 4500)
        guard case .deliver? = verdict else { Issue.record("\(String(describing: verdict))"); return }
    }

    @Test func replayedPacketIsDroppedAndCounted() throws {
        let pair = try TunnelPair()
        let slot = TestSlot()
        var pkt = slot.load(PacketFactory.echo(from: TunnelPair.innerA4, to: TunnelPair.innerB4))
        guard case .send(let t) = OutboundProcessor.process(&pkt, snapshot: pair.a, drops: pair.dropsA, now: 1) else {
            Issue.record("not sent"); return
        }
        let wire = slot.bytes(pkt)
        let ctx = pair.contextAtB(t, proto: .esp, packet: pkt)
        let copy = TestSlot()
        var first = copy.load(wire)
        guard case .deliver = InboundProcessor.process(&first, context: ctx, snapshot: pair.b, drops: pair.dropsB, now: 1) else {
            Issue.record("first copy refused"); return
        }
        var second = copy.load(wire)
        guard case .drop(.replay) = InboundProcessor.process(&second, context: ctx, snapshot: pair.b, drops: pair.dropsB, now: 1) else {
            Issue.record("replay accepted"); return
        }
        #expect(pair.dropsB[.replay] == 1)
        #expect(pair.b.associations.first { $0.config.spi == 0x1001 }!.counters.load(SACounter.replayDrops.rawValue) == 1)
    }

    @Test(arguments: espSuites)
    func everyFlippedByteFailsIntegrity(suite: AlgorithmSuite) throws {
        let pair = try TunnelPair(encryption: suite.encryption, integrity: suite.integrity)
        let original = PacketFactory.udp(from: TunnelPair.innerA4, to: TunnelPair.innerB4, payloadLength: 40)
        // Bytes 0–3 are the SPI (a flip there means "unknown SPI"); all others are authenticated.
        var length = 0
        _ = transfer(pair, original) { length = $0.length }
        for offset in 4..<length {
            let fresh = try TunnelPair(encryption: suite.encryption, integrity: suite.integrity)
            let (_, verdict, _) = transfer(fresh, original) { pkt in
                let p = pkt.bytes + offset
                p.storeBytes(of: p.load(as: UInt8.self) ^ 0x01, as: UInt8.self)
            }
            guard case .drop(let reason)? = verdict else { Issue.record("flip at \(offset) accepted"); continue }
            #expect(reason == .integrity || reason == .replay, "offset \(offset): \(reason)")
        }
    }

    @Test func unknownSPIAndTruncationsAreCountedDrops() throws {
        let pair = try TunnelPair(encryption: .aesCBC(keyBits: 128), integrity: .hmacSHA256_128)
        let original = PacketFactory.udp(from: TunnelPair.innerA4, to: TunnelPair.innerB4, payloadLength: 64)
        let (_, verdict, _) = transfer(pair, original) { store32($0.bytes, 0, 0xdead_beef) }
        guard case .drop(.noSA)? = verdict else { Issue.record("\(String(describing: verdict))"); return }
        var total = 0
        _ = transfer(pair, original) { total = $0.length }
        for cut in 0..<total {
            let (_, v, _) = transfer(pair, original) { $0.length = cut }
            guard case .drop? = v else { Issue.record("truncated to \(cut) accepted"); continue }
        }
        #expect(pair.dropsB[.malformed] + pair.dropsB[.integrity] + pair.dropsB[.noSA] >= UInt64(total))
    }

    @Test func badPaddingAndNextHeaderAreDetectedAfterAuthentication() throws {
        // Seal by hand with wrong padding bytes, then let B open it.
        let pair = try TunnelPair(encryption: .aesGCM16(keyBits: 128))
        let sa = pair.saAtoB
        let cipher = try ESPCipher(encryption: sa.encryption, encryptionKey: sa.encryptionKey.bytes,
                                   integrity: sa.integrity, integrityKey: sa.integrityKey.bytes)
        func craft(padding: [UInt8], next: UInt8, seq: UInt32) -> [UInt8] {
            let inner = PacketFactory.echo(from: TunnelPair.innerA4, to: TunnelPair.innerB4, payloadLength: 2)
            let plaintext = inner + padding + [UInt8(padding.count), next]
            var esp = [UInt8](repeating: 0, count: 8 + cipher.ivLength + plaintext.count + cipher.icvLength)
            esp.withUnsafeMutableBytes { b in
                store32(b.baseAddress!, 0, sa.spi); store32(b.baseAddress!, 4, seq)
                for (i, x) in plaintext.enumerated() { b[8 + cipher.ivLength + i] = x }
                _ = cipher.seal(esp: b.baseAddress!, plaintextLength: plaintext.count, sequence: UInt64(seq), esn: false)
            }
            return esp
        }
        let ctx = InboundContext(proto: .esp, source: TunnelPair.underlayA4, destination: TunnelPair.underlayB4)
        let slot = TestSlot()
        var p1 = slot.load(craft(padding: [1, 2, 9], next: 4, seq: 1))
        guard case .drop(.badPadding) = InboundProcessor.process(&p1, context: ctx, snapshot: pair.b, drops: pair.dropsB, now: 1) else {
            Issue.record("bad padding accepted"); return
        }
        var p2 = slot.load(craft(padding: [1, 2], next: 17, seq: 2))
        guard case .drop(.badNextHeader) = InboundProcessor.process(&p2, context: ctx, snapshot: pair.b, drops: pair.dropsB, now: 1) else {
            Issue.record("UDP next header in a tunnel SA accepted"); return
        }
        var p3 = slot.load(craft(padding: [1, 2], next: 59, seq: 3))
        guard case .drop(.tfcDummy) = InboundProcessor.process(&p3, context: ctx, snapshot: pair.b, drops: pair.dropsB, now: 1) else {
            Issue.record("dummy packet delivered"); return
        }
        var p4 = slot.load(craft(padding: [1, 2], next: 4, seq: 4))
        guard case .deliver = InboundProcessor.process(&p4, context: ctx, snapshot: pair.b, drops: pair.dropsB, now: 1) else {
            Issue.record("well-formed crafted packet refused"); return
        }
    }

    @Test func innerPacketOutsideThePolicyIsAMismatch() throws {
        let pair = try TunnelPair()
        // A spoofs an inner source outside 203.0.113.0/24; A's SPD has no policy for it, so
        // the packet is sent through a policy we add only on A's side.
        var db = SecurityDatabaseConfig()
        try db.addSA(pair.saAtoB)
        try db.addPolicy(PolicyConfig(source: IPPrefix("0.0.0.0/0")!, destination: IPPrefix("198.51.100.0/24")!,
                                      direction: .outbound,
                                      action: .protect([IPSecRule(proto: .esp, mode: .tunnel, tunnelSource: TunnelPair.underlayA4,
                                                                  tunnelDestination: TunnelPair.underlayB4)])))
        var spoofing = pair
        spoofing.a = try DataPlaneSnapshot(config: db, localAddresses: [TunnelPair.underlayA4], now: 1)
        let (_, verdict, _) = transfer(spoofing, PacketFactory.echo(from: IPAddress("192.0.2.99")!, to: TunnelPair.innerB4))
        guard case .drop(let reason)? = verdict else { Issue.record("spoofed inner source delivered"); return }
        #expect(reason == .noPolicy || reason == .policyMismatch)
        #expect(pair.b.associations.first { $0.config.spi == 0x1001 }!.counters.load(SACounter.policyMismatches.rawValue) == 1)
    }

    @Test func oversizedDontFragmentPacketGetsICMPFragmentationNeeded() throws {
        let pair = try TunnelPair(underlayMTU: 1400)
        let slot = TestSlot()
        var pkt = slot.load(PacketFactory.udp(from: TunnelPair.innerA4, to: TunnelPair.innerB4, payloadLength: 1372, dontFragment: true))
        guard case .icmpError = OutboundProcessor.process(&pkt, snapshot: pair.a, drops: pair.dropsA, now: 1) else {
            Issue.record("no ICMP error"); return
        }
        let icmp = slot.bytes(pkt)
        #expect(icmp[9] == IPProtocolNumber.icmp)
        #expect(icmp[20] == 3 && icmp[21] == 4)
        let mtu = Int(icmp[26]) << 8 | Int(icmp[27])
        #expect(mtu == 1400 - pair.a.associations[0].tunnelOverhead)
        #expect(Array(icmp[16..<20]) == TunnelPair.innerA4.bytes)   // back to the sender
        #expect(Array(icmp[12..<16]) == TunnelPair.innerB4.bytes)   // from a non-local address
        #expect(icmp.withUnsafeBytes { internetChecksum($0.baseAddress! + 20, count: icmp.count - 20) } == 0)
        #expect(pair.dropsA[.tooBig] == 1)

        // Without DF the packet is sent; the kernel fragments the outer packet.
        var pkt2 = slot.load(PacketFactory.udp(from: TunnelPair.innerA4, to: TunnelPair.innerB4, payloadLength: 1372, dontFragment: false))
        guard case .send = OutboundProcessor.process(&pkt2, snapshot: pair.a, drops: pair.dropsA, now: 1) else {
            Issue.record("non-DF packet not sent"); return
        }
    }

    @Test func ipv6PacketTooBig() throws {
        let pair = try TunnelPair(outer: .v6, inner: .v6, underlayMTU: 1280)
        let slot = TestSlot()
        var pkt = slot.load(PacketFactory.udp(from: TunnelPair.innerA6, to: TunnelPair.innerB6, payloadLength: 1200))
        guard case .icmpError = OutboundProcessor.process(&pkt, snapshot: pair.a, drops: pair.dropsA, now: 1) else {
            Issue.record("no ICMPv6 error"); return
        }
        let icmp = slot.bytes(pkt)
        #expect(icmp[6] == IPProtocolNumber.icmpv6 && icmp[40] == 2)
    }

    @Test func bothEndsRecordWhenTheSAWasLastUsed() throws {
        let pair = try TunnelPair()
        let out = pair.a.associations.first { $0.config.spi == 0x1001 }!
        let inbound = pair.b.associations.first { $0.config.spi == 0x1001 }!
        #expect(out.counters.load(SACounter.lastUsed.rawValue) == 0)
        let (_, verdict, _) = transfer(pair, PacketFactory.echo(from: TunnelPair.innerA4, to: TunnelPair.innerB4))
        guard case .deliver? = verdict else { Issue.record("\(String(describing: verdict))"); return }
        #expect(out.counters.load(SACounter.lastUsed.rawValue) == 1_000)
        #expect(inbound.counters.load(SACounter.lastUsed.rawValue) == 1_000)
    }

    @Test func sequenceNumberNeverWraps() throws {
        let pair = try TunnelPair()
        pair.a.associations.first { $0.config.spi == 0x1001 }!.setLastSequence(UInt64(UInt32.max) - 1)
        let packet = PacketFactory.echo(from: TunnelPair.innerA4, to: TunnelPair.innerB4)
        let (first, _, _) = transfer(pair, packet)
        guard case .send = first else { Issue.record("last sequence number not used"); return }
        let (second, _, _) = transfer(pair, packet)
        guard case .drop(.sequenceExhausted) = second else { Issue.record("sequence wrapped: \(second)"); return }
    }

    @Test func esnSequenceContinuesPastTwoToTheThirtyTwo() throws {
        let pair = try TunnelPair(esn: true)
        pair.a.associations.first { $0.config.spi == 0x1001 }!.setLastSequence(UInt64(UInt32.max) - 2)
        // A receiver at top 0 reads a low half near 2^32 as "before the start" (RFC 4303 A2.1):
        // give it the history it would have had.
        pair.b.associations.first { $0.config.spi == 0x1001 }!.replay.commit(UInt64(UInt32.max) - 3)
        let packet = PacketFactory.echo(from: TunnelPair.innerA4, to: TunnelPair.innerB4)
        for _ in 0..<5 {
            let (_, verdict, _) = transfer(pair, packet)
            guard case .deliver? = verdict else { Issue.record("\(String(describing: verdict))"); return }
        }
        #expect(pair.b.associations.first { $0.config.spi == 0x1001 }!.replay.top == 1 << 32 | 2)
    }
}

@Suite struct AHProcessingTests {
    @Test(arguments: [TunnelPair.Mode.transport, .tunnel], [IPAddress.Family.v4, .v6])
    func roundTrip(mode: TunnelPair.Mode, family: IPAddress.Family) throws {
        for integrity in [IntegrityAlgorithm.hmacSHA1_96, .hmacSHA256_128, .hmacSHA384_192, .hmacSHA512_256] {
            let pair = try TunnelPair(proto: .ah, mode: mode, integrity: integrity, outer: family, inner: family)
            let (src, dst): (IPAddress, IPAddress) = mode == .tunnel
                ? (family == .v4 ? (TunnelPair.innerA4, TunnelPair.innerB4) : (TunnelPair.innerA6, TunnelPair.innerB6))
                : (family == .v4 ? (TunnelPair.underlayA4, TunnelPair.underlayB4) : (TunnelPair.underlayA6, TunnelPair.underlayB6))
            let original = PacketFactory.udp(from: src, to: dst, payloadLength: 77)
            let (out, verdict, delivered) = transfer(pair, original, proto: .ah)
            guard case .send(let t) = out else { Issue.record("\(integrity): \(out)"); continue }
            #expect(t.kind == .ipPacket)
            guard case .deliver? = verdict else { Issue.record("\(integrity) \(mode) \(family): \(String(describing: verdict))"); continue }
            let h = family == .v4 ? 20 : 40
            #expect(Array(delivered[h...]) == Array(original[h...]))
            // A changed byte in the authenticated payload fails.
            let (_, bad, _) = transfer(pair, original, proto: .ah) { pkt in
                let p = pkt.bytes + pkt.length - 1
                p.storeBytes(of: p.load(as: UInt8.self) ^ 0x80, as: UInt8.self)
            }
            guard case .drop(.integrity)? = bad else { Issue.record("tampered AH accepted"); continue }
        }
    }

    @Test func mutableFieldsMayChangeInTransit() throws {
        let pair = try TunnelPair(proto: .ah, mode: .transport, integrity: .hmacSHA256_128)
        let original = PacketFactory.udp(from: TunnelPair.underlayA4, to: TunnelPair.underlayB4, payloadLength: 10)
        let (_, verdict, _) = transfer(pair, original, proto: .ah) { pkt in
            pkt.bytes.storeBytes(of: 3, toByteOffset: 8, as: UInt8.self)      // TTL decremented by routers
            pkt.bytes.storeBytes(of: 0xb8, toByteOffset: 1, as: UInt8.self)   // DSCP re-marked
            updateIPv4HeaderChecksum(pkt.bytes)
        }
        guard case .deliver? = verdict else { Issue.record("\(String(describing: verdict))"); return }
    }
}
