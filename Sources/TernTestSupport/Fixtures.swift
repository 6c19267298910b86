import TernCrypto
import TernDataPlane
import TernWire

/// Deterministic test data: keys from a seed (never random in tests, so failures replay).
public struct SeededBytes {
    private var state: UInt64
    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    public mutating func next() -> UInt64 {
        // splitmix64
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

/// Builds test packets.
public enum PacketFactory {
    /// An IPv4 or IPv6 UDP packet with a payload of `payloadLength` bytes (pattern-filled).
    public static func udp(from src: IPAddress, to dst: IPAddress, sourcePort: UInt16 = 40000,
                           destinationPort: UInt16 = 53, payloadLength: Int, dontFragment: Bool = false) -> [UInt8] {
        let h = src.family == .v4 ? 20 : 40
        var p = [UInt8](repeating: 0, count: h + 8 + payloadLength)
        p.withUnsafeMutableBytes { b in
            let base = b.baseAddress!
            if src.family == .v4 {
                writeIPv4Header(base, tos: 0x28, totalLength: b.count, identification: 0x1234, dontFragment: dontFragment,
                                ttl: 64, proto: IPProtocolNumber.udp, source: src, destination: dst)
            } else {
                writeIPv6Header(base, trafficClass: 0x28, flowLabel: 0, payloadLength: 8 + payloadLength,
                                nextHeader: IPProtocolNumber.udp, hopLimit: 64, source: src, destination: dst)
            }
            store16(base, h, sourcePort)
            store16(base, h + 2, destinationPort)
            store16(base, h + 4, UInt16(8 + payloadLength))
            for i in 0..<payloadLength { base.storeBytes(of: UInt8(truncatingIfNeeded: i &* 7 &+ 1), toByteOffset: h + 8 + i, as: UInt8.self) }
        }
        return p
    }

    /// An ICMP/ICMPv6 echo request.
    public static func echo(from src: IPAddress, to dst: IPAddress, payloadLength: Int = 56) -> [UInt8] {
        let h = src.family == .v4 ? 20 : 40
        var p = [UInt8](repeating: 0, count: h + 8 + payloadLength)
        p.withUnsafeMutableBytes { b in
            let base = b.baseAddress!
            if src.family == .v4 {
                writeIPv4Header(base, tos: 0, totalLength: b.count, identification: 1, dontFragment: true,
                                ttl: 64, proto: IPProtocolNumber.icmp, source: src, destination: dst)
                base.storeBytes(of: 8, toByteOffset: h, as: UInt8.self)
            } else {
                writeIPv6Header(base, trafficClass: 0, flowLabel: 0, payloadLength: 8 + payloadLength,
                                nextHeader: IPProtocolNumber.icmpv6, hopLimit: 64, source: src, destination: dst)
                base.storeBytes(of: 128, toByteOffset: h, as: UInt8.self)
            }
        }
        return p
    }
}

/// A packet slot with head- and tailroom, as the workers use.
public final class TestSlot {
    public let base: UnsafeMutableRawPointer
    public let capacity: Int
    public init(capacity: Int = packetHeadroom + 65_535 + packetTailroom) {
        self.capacity = capacity
        base = .allocate(byteCount: capacity, alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: capacity)
    }
    deinit { base.deallocate() }

    /// Copies `bytes` in at the standard headroom and returns the buffer view.
    public func load(_ bytes: [UInt8], headroom: Int = packetHeadroom) -> PacketBuffer {
        bytes.withUnsafeBytes { (base + headroom).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        return PacketBuffer(base: base, capacity: capacity, start: headroom, length: bytes.count)
    }

    public func bytes(_ pkt: PacketBuffer) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: pkt.bytes, count: pkt.length))
    }
}

/// Two hosts' data planes, A (192.0.2.1 / 2001:db8:1::1, inner 203.0.113.0/24, 2001:db8:a::/48)
/// and B (192.0.2.2 / 2001:db8:1::2, inner 198.51.100.0/24, 2001:db8:b::/48), keyed by hand
/// as a setkey file would, so a packet sealed by A is opened by B.
public struct TunnelPair {
    public var a: DataPlaneSnapshot
    public var b: DataPlaneSnapshot
    public let dropsA = DropCounters()
    public let dropsB = DropCounters()
    public let saAtoB: SAConfig
    public let saBtoA: SAConfig

    public static let underlayA4 = IPAddress("192.0.2.1")!, underlayB4 = IPAddress("192.0.2.2")!
    public static let underlayA6 = IPAddress("2001:db8:1::1")!, underlayB6 = IPAddress("2001:db8:1::2")!
    public static let innerA4 = IPAddress("203.0.113.1")!, innerB4 = IPAddress("198.51.100.1")!
    public static let innerA6 = IPAddress("2001:db8:a::1")!, innerB6 = IPAddress("2001:db8:b::1")!

    public enum Mode: Sendable { case tunnel, transport }

    /// - Parameters: outer/inner families choose 4-in-4, 6-in-6, 4-in-6 or 6-in-4 (inner is
    ///   ignored in transport mode, where the underlay addresses are the endpoints).
    public init(proto: IPSecProtocol = .esp, mode: Mode = .tunnel, encryption: EncryptionAlgorithm = .aesGCM16(keyBits: 256),
                integrity: IntegrityAlgorithm = .none, outer: IPAddress.Family = .v4, inner: IPAddress.Family = .v4,
                udp: Bool = false, replayWindow: Int = 128, esn: Bool = false, seed: UInt64 = 1,
                underlayMTU: Int = 1500) throws {
        var rng = SeededBytes(seed: seed)
        let (ua, ub) = outer == .v4 ? (Self.underlayA4, Self.underlayB4) : (Self.underlayA6, Self.underlayB6)
        let encap: Encapsulation = udp ? .udp(sourcePort: 4500, destinationPort: 4500) : .none
        func sa(_ s: IPAddress, _ d: IPAddress, _ spi: UInt32) -> SAConfig {
            SAConfig(source: s, destination: d, proto: proto, spi: spi, mode: mode == .tunnel ? .tunnel : .transport,
                     encapsulation: encap, replayWindow: replayWindow, extendedSequenceNumbers: esn,
                     encryption: proto == .ah ? .null : encryption,
                     encryptionKey: KeyMaterial(rng.bytes(proto == .ah ? 0 : encryption.keyMaterialLength)),
                     integrity: integrity, integrityKey: KeyMaterial(rng.bytes(integrity.keyLength)))
        }
        saAtoB = sa(ua, ub, 0x1001)
        saBtoA = sa(ub, ua, 0x1002)
        var common = SecurityDatabaseConfig()
        try common.addSA(saAtoB)
        try common.addSA(saBtoA)
        let rule = { (s: IPAddress, d: IPAddress) in
            mode == .tunnel ? IPSecRule(proto: proto, mode: .tunnel, tunnelSource: s, tunnelDestination: d)
                            : IPSecRule(proto: proto, mode: .transport)
        }
        var dbA = common, dbB = common
        let (netA, netB): (IPPrefix, IPPrefix)
        if mode == .tunnel {
            netA = inner == .v4 ? IPPrefix(Self.innerA4, length: 24) : IPPrefix(Self.innerA6, length: 48)
            netB = inner == .v4 ? IPPrefix(Self.innerB4, length: 24) : IPPrefix(Self.innerB6, length: 48)
        } else {
            netA = IPPrefix(host: ua); netB = IPPrefix(host: ub)
        }
        try dbA.addPolicy(PolicyConfig(source: netA, destination: netB, direction: .outbound, action: .protect([rule(ua, ub)])))
        try dbA.addPolicy(PolicyConfig(source: netB, destination: netA, direction: .inbound, action: .protect([rule(ub, ua)])))
        try dbB.addPolicy(PolicyConfig(source: netB, destination: netA, direction: .outbound, action: .protect([rule(ub, ua)])))
        try dbB.addPolicy(PolicyConfig(source: netA, destination: netB, direction: .inbound, action: .protect([rule(ua, ub)])))
        let localA: Set<IPAddress> = [ua, Self.innerA4, Self.innerA6]
        let localB: Set<IPAddress> = [ub, Self.innerB4, Self.innerB6]
        a = try DataPlaneSnapshot(config: dbA, localAddresses: localA, underlayMTU: underlayMTU, now: 1_000)
        b = try DataPlaneSnapshot(config: dbB, localAddresses: localB, underlayMTU: underlayMTU, now: 1_000)
    }

    /// The inbound context B's socket would report for what A transmitted.
    public func contextAtB(_ t: Transmission, proto: IPSecProtocol, packet: PacketBuffer) -> InboundContext {
        var ctx = InboundContext(proto: proto, source: t.source, destination: t.destination)
        switch t.kind {
        case .udp: ctx.encapsulation = .udp(sourcePort: 4500, destinationPort: 4500)
        case .esp: break
        case .ipPacket:
            // An IPv4 raw socket hands over the IP header; an IPv6 one strips it.
            if t.destination.family == .v4 { ctx.ipHeaderLength = Int(packet.bytes.load(as: UInt8.self) & 0x0f) * 4 }
        }
        return ctx
    }
}
