/// ICMP "fragmentation needed" (RFC 792/1191) and ICMPv6 "packet too big" (RFC 4443 §3.2)
/// built in place, for packets too large to fit the tunnel after ESP/AH overhead.
public enum ICMPTooBig {
    /// Space the error needs in front of the quoted packet.
    public static let headroom = 48

    /// Rewrites the buffer so that `[start, start+length)` holds an ICMP error back to the
    /// sender of the packet that was there, quoting as much of it as the rules allow.
    /// `source` is the error's source address (same family as the packet). Returns the new (start, length), or nil when no
    /// error may be sent (the packet is itself an ICMP error, a fragment, or malformed).
    public static func build(in base: UnsafeMutableRawPointer, start: Int, length: Int, headroomAvailable: Int,
                             mtu: Int, source: IPAddress) -> (start: Int, length: Int)? {
        guard headroomAvailable >= headroom, let sel = PacketSelectors.parse(base + start, length: length) else { return nil }
        let pkt = base + start
        if sel.family == .v4 {
            guard source.family == .v4 else { return nil }
            // Never answer an ICMP error with an error (RFC 1122 §3.2.2).
            if sel.upperProtocol == IPProtocolNumber.icmp {
                guard sel.upperLayerOffset < length else { return nil }
                let type = pkt.load(fromByteOffset: sel.upperLayerOffset, as: UInt8.self)
                guard type == 0 || type == 8 || type == 13 || type == 14 else { return nil }
            }
            let quoted = min(length, sel.upperLayerOffset + 8 + 520)  // RFC 1812 allows more than 8 bytes
            let newStart = start - 28
            let out = base + newStart
            let icmp = out + 20
            icmp.storeBytes(of: 3, as: UInt8.self)        // destination unreachable
            icmp.storeBytes(of: 4, toByteOffset: 1, as: UInt8.self)  // fragmentation needed and DF set
            store16(icmp, 2, 0)
            store16(icmp, 4, 0)
            store16(icmp, 6, UInt16(clamping: mtu))
            store16(icmp, 2, internetChecksum(icmp, count: 8 + quoted))
            writeIPv4Header(out, tos: 0, totalLength: 28 + quoted, identification: 0, dontFragment: false,
                            ttl: 64, proto: IPProtocolNumber.icmp, source: source, destination: sel.source)
            return (newStart, 28 + quoted)
        } else {
            guard source.family == .v6 else { return nil }
            if sel.upperProtocol == IPProtocolNumber.icmpv6 {
                guard sel.upperLayerOffset < length else { return nil }
                let type = pkt.load(fromByteOffset: sel.upperLayerOffset, as: UInt8.self)
                guard type >= 128 else { return nil }   // informational messages only
            }
            let quoted = min(length, IPv6.minimumMTU - 48)
            let newStart = start - 48
            let out = base + newStart
            let icmp = out + 40
            icmp.storeBytes(of: 2, as: UInt8.self)        // packet too big
            icmp.storeBytes(of: 0, toByteOffset: 1, as: UInt8.self)
            store16(icmp, 2, 0)
            store32(icmp, 4, UInt32(max(mtu, IPv6.minimumMTU)))
            writeIPv6Header(out, trafficClass: 0, flowLabel: 0, payloadLength: 8 + quoted,
                            nextHeader: IPProtocolNumber.icmpv6, hopLimit: 64, source: source, destination: sel.source)
            // Checksum over the pseudo-header (RFC 8200 §8.1).
            var pseudo = internetChecksumSum(out + 8, count: 32)
            pseudo &+= UInt32(8 + quoted) &+ UInt32(IPProtocolNumber.icmpv6)
            store16(icmp, 2, internetChecksum(icmp, count: 8 + quoted, initial: pseudo))
            return (newStart, 48 + quoted)
        }
    }
}
