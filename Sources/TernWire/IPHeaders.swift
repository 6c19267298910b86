/// Byte-level helpers for the IPv4 (RFC 791) and IPv6 (RFC 8200) headers the data plane reads
/// and writes in place. Everything takes a raw pointer plus an explicit length checked by the
/// caller: no allocation, no copies.

public enum IPProtocolNumber {
    public static let icmp: UInt8 = 1
    public static let ipv4: UInt8 = 4          // IP-in-IP ("ipencap")
    public static let tcp: UInt8 = 6
    public static let udp: UInt8 = 17
    public static let ipv6: UInt8 = 41
    public static let ipv6Route: UInt8 = 43
    public static let ipv6Fragment: UInt8 = 44
    public static let gre: UInt8 = 47
    public static let esp: UInt8 = 50
    public static let ah: UInt8 = 51
    public static let icmpv6: UInt8 = 58
    public static let noNextHeader: UInt8 = 59   // RFC 4303 §2.6 dummy (TFC) packets
    public static let ipv6DestOpts: UInt8 = 60
    public static let ipv6HopByHop: UInt8 = 0
    public static let sctp: UInt8 = 132
}

public enum IPv4 {
    public static let minimumHeaderLength = 20
    /// IP_DF in the flags/fragment-offset field.
    public static let dontFragment: UInt16 = 0x4000
    public static let moreFragments: UInt16 = 0x2000
    public static let fragmentOffsetMask: UInt16 = 0x1fff
}

public enum IPv6 {
    public static let headerLength = 40
    public static let minimumMTU = 1280
}

@inlinable public func load16(_ p: UnsafeRawPointer, _ offset: Int) -> UInt16 {
    UInt16(bigEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
}
@inlinable public func load32(_ p: UnsafeRawPointer, _ offset: Int) -> UInt32 {
    UInt32(bigEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
}
@inlinable public func store16(_ p: UnsafeMutableRawPointer, _ offset: Int, _ v: UInt16) {
    p.storeBytes(of: v.bigEndian, toByteOffset: offset, as: UInt16.self)
}
@inlinable public func store32(_ p: UnsafeMutableRawPointer, _ offset: Int, _ v: UInt32) {
    p.storeBytes(of: v.bigEndian, toByteOffset: offset, as: UInt32.self)
}

/// The fields of an IP packet the SPD selects on (RFC 4301 §4.4.1.1), read from its first bytes.
public struct PacketSelectors: Sendable, Hashable {
    public var source: IPAddress
    public var destination: IPAddress
    /// Upper-layer protocol after IPv6 extension headers.
    public var upperProtocol: UInt8
    /// Ports for TCP/UDP/SCTP; ICMP type and code in the high and low byte of `sourcePort`
    /// (RFC 4301 §4.4.1.1 treats them as the "port" selector); 0 when absent (non-first fragment).
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    /// Offset of the upper-layer header from the start of the packet.
    public var upperLayerOffset: Int
    /// Total length the IP header claims.
    public var totalLength: Int
    public var family: IPAddress.Family { source.family }

    public init(source: IPAddress, destination: IPAddress, upperProtocol: UInt8, sourcePort: UInt16,
                destinationPort: UInt16, upperLayerOffset: Int, totalLength: Int) {
        self.source = source; self.destination = destination; self.upperProtocol = upperProtocol
        self.sourcePort = sourcePort; self.destinationPort = destinationPort
        self.upperLayerOffset = upperLayerOffset; self.totalLength = totalLength
    }

    /// Parses the IP header at `p`; nil when the bytes are not a consistent IPv4/IPv6 packet of
    /// at most `length` bytes.
    @inlinable
    public static func parse(_ p: UnsafeRawPointer, length: Int) -> PacketSelectors? {
        guard length >= 1 else { return nil }
        let version = p.load(as: UInt8.self) >> 4
        if version == 4 {
            guard length >= IPv4.minimumHeaderLength else { return nil }
            let ihl = Int(p.load(as: UInt8.self) & 0x0f) * 4
            let total = Int(load16(p, 2))
            guard ihl >= 20, total >= ihl, total <= length else { return nil }
            let proto = p.load(fromByteOffset: 9, as: UInt8.self)
            let frag = load16(p, 6)
            var sport: UInt16 = 0, dport: UInt16 = 0
            if frag & IPv4.fragmentOffsetMask == 0 {
                (sport, dport) = ports(p + ihl, length: total - ihl, proto: proto)
            }
            return PacketSelectors(source: IPAddress(reading: p + 12, family: .v4),
                                   destination: IPAddress(reading: p + 16, family: .v4),
                                   upperProtocol: proto, sourcePort: sport, destinationPort: dport,
                                   upperLayerOffset: ihl, totalLength: total)
        } else if version == 6 {
            guard length >= IPv6.headerLength else { return nil }
            let total = Int(load16(p, 4)) + IPv6.headerLength
            guard total <= length else { return nil }
            var next = p.load(fromByteOffset: 6, as: UInt8.self)
            var offset = IPv6.headerLength
            var isLaterFragment = false
            // Walk the extension headers the SPD must look through.
            loop: while true {
                switch next {
                case IPProtocolNumber.ipv6HopByHop, IPProtocolNumber.ipv6Route, IPProtocolNumber.ipv6DestOpts:
                    guard offset + 8 <= total else { return nil }
                    let len = (Int(p.load(fromByteOffset: offset + 1, as: UInt8.self)) + 1) * 8
                    next = p.load(fromByteOffset: offset, as: UInt8.self)
                    offset += len
                case IPProtocolNumber.ipv6Fragment:
                    guard offset + 8 <= total else { return nil }
                    isLaterFragment = load16(p, offset + 2) & 0xfff8 != 0
                    next = p.load(fromByteOffset: offset, as: UInt8.self)
                    offset += 8
                default:
                    break loop
                }
                guard offset <= total else { return nil }
            }
            var sport: UInt16 = 0, dport: UInt16 = 0
            if !isLaterFragment { (sport, dport) = ports(p + offset, length: total - offset, proto: next) }
            return PacketSelectors(source: IPAddress(reading: p + 8, family: .v6),
                                   destination: IPAddress(reading: p + 24, family: .v6),
                                   upperProtocol: next, sourcePort: sport, destinationPort: dport,
                                   upperLayerOffset: offset, totalLength: total)
        }
        return nil
    }

    @inlinable
    static func ports(_ p: UnsafeRawPointer, length: Int, proto: UInt8) -> (UInt16, UInt16) {
        switch proto {
        case IPProtocolNumber.tcp, IPProtocolNumber.udp, IPProtocolNumber.sctp:
            guard length >= 4 else { return (0, 0) }
            return (load16(p, 0), load16(p, 2))
        case IPProtocolNumber.icmp, IPProtocolNumber.icmpv6:
            guard length >= 2 else { return (0, 0) }
            return (load16(p, 0), 0)
        default:
            return (0, 0)
        }
    }
}

/// The Internet checksum (RFC 1071) over `count` bytes, folded, not yet complemented.
@inlinable
public func internetChecksumSum(_ p: UnsafeRawPointer, count: Int, initial: UInt32 = 0) -> UInt32 {
    var sum = UInt64(initial)
    var i = 0
    while i + 8 <= count {
        let w = UInt64(bigEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
        sum &+= (w >> 32) &+ (w & 0xffff_ffff)
        i += 8
    }
    while i + 2 <= count { sum &+= UInt64(load16(p, i)); i += 2 }
    if i < count { sum &+= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) << 8 }
    while sum >> 16 != 0 { sum = (sum & 0xffff) &+ (sum >> 16) }
    return UInt32(sum)
}

@inlinable
public func internetChecksum(_ p: UnsafeRawPointer, count: Int, initial: UInt32 = 0) -> UInt16 {
    ~UInt16(truncatingIfNeeded: internetChecksumSum(p, count: count, initial: initial))
}

/// Recomputes the IPv4 header checksum in place.
@inlinable
public func updateIPv4HeaderChecksum(_ p: UnsafeMutableRawPointer) {
    let ihl = Int(p.load(as: UInt8.self) & 0x0f) * 4
    store16(p, 10, 0)
    store16(p, 10, internetChecksum(p, count: ihl))
}

/// Writes a 20-byte IPv4 header (no options) at `p`. `identification` 0 lets the kernel choose
/// (IP_HDRINCL fills it in); the checksum is computed here so the packet is valid as written.
@inlinable
public func writeIPv4Header(_ p: UnsafeMutableRawPointer, tos: UInt8, totalLength: Int, identification: UInt16,
                            dontFragment: Bool, ttl: UInt8, proto: UInt8, source: IPAddress, destination: IPAddress) {
    p.storeBytes(of: 0x45, as: UInt8.self)
    p.storeBytes(of: tos, toByteOffset: 1, as: UInt8.self)
    store16(p, 2, UInt16(truncatingIfNeeded: totalLength))
    store16(p, 4, identification)
    store16(p, 6, dontFragment ? IPv4.dontFragment : 0)
    p.storeBytes(of: ttl, toByteOffset: 8, as: UInt8.self)
    p.storeBytes(of: proto, toByteOffset: 9, as: UInt8.self)
    store16(p, 10, 0)
    source.write(to: p + 12)
    destination.write(to: p + 16)
    store16(p, 10, internetChecksum(p, count: 20))
}

/// Writes a 40-byte IPv6 header at `p`.
@inlinable
public func writeIPv6Header(_ p: UnsafeMutableRawPointer, trafficClass: UInt8, flowLabel: UInt32, payloadLength: Int,
                            nextHeader: UInt8, hopLimit: UInt8, source: IPAddress, destination: IPAddress) {
    store32(p, 0, 6 << 28 | UInt32(trafficClass) << 20 | (flowLabel & 0xfffff))
    store16(p, 4, UInt16(truncatingIfNeeded: payloadLength))
    p.storeBytes(of: nextHeader, toByteOffset: 6, as: UInt8.self)
    p.storeBytes(of: hopLimit, toByteOffset: 7, as: UInt8.self)
    source.write(to: p + 8)
    destination.write(to: p + 24)
}

/// DSCP+ECN byte of an IP packet (IPv4 TOS / IPv6 traffic class).
@inlinable
public func trafficClass(_ p: UnsafeRawPointer) -> UInt8 {
    let first = p.load(as: UInt8.self)
    if first >> 4 == 4 { return p.load(fromByteOffset: 1, as: UInt8.self) }
    return UInt8(truncatingIfNeeded: load16(p, 0) >> 4)
}
