import TernWire

/// A packet inside a caller-owned slot: bytes `[start, start+length)` of `base`, with
/// `start` bytes of headroom in front and `capacity - start - length` of tailroom behind, so
/// ESP/AH headers and trailers are added around the payload without copying it.
public struct PacketBuffer {
    public let base: UnsafeMutableRawPointer
    public let capacity: Int
    public var start: Int
    public var length: Int

    public init(base: UnsafeMutableRawPointer, capacity: Int, start: Int, length: Int) {
        self.base = base; self.capacity = capacity; self.start = start; self.length = length
    }

    @inline(__always) public var bytes: UnsafeMutableRawPointer { base + start }
    @inline(__always) public var headroom: Int { start }
    @inline(__always) public var tailroom: Int { capacity - start - length }
}

/// Headroom a slot must leave in front of a cleartext packet: the largest outer header
/// (IPv6 40 + AH 12 + a 64-byte ICV field, or IPv6 40 + UDP 8 + ESP 8 + IV 16) plus room for an ICMP error.
public let packetHeadroom = 128
/// Tailroom for padding (≤ 15), pad length, next header and the largest ICV (32).
public let packetTailroom = 64

/// Where and how a protected (or bypassed) packet leaves.
public struct Transmission: Sendable {
    public enum Kind: Sendable {
        /// The buffer holds ESP only; the kernel adds the IP header (raw IPPROTO_ESP socket).
        case esp
        /// The buffer holds ESP only, sent as UDP from `sourcePort` to `destinationPort` (RFC 3948).
        case udp
        /// The buffer holds a complete IP packet (AH, or bypassed cleartext).
        case ipPacket
    }
    public var kind: Kind
    public var source: IPAddress
    public var destination: IPAddress
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    /// DSCP/ECN for the outer header, copied from the inner packet (RFC 4301 §5.1.2.1).
    public var trafficClass: UInt8

    public init(kind: Kind, source: IPAddress, destination: IPAddress, sourcePort: UInt16 = 0,
                destinationPort: UInt16 = 0, trafficClass: UInt8 = 0) {
        self.kind = kind; self.source = source; self.destination = destination
        self.sourcePort = sourcePort; self.destinationPort = destinationPort; self.trafficClass = trafficClass
    }
}

public enum OutboundVerdict {
    case send(Transmission)
    /// No policy, or a BYPASS policy: send the packet unchanged, in cleartext.
    case bypass
    /// The buffer now holds an ICMP error for the sender; write it back into the TUN.
    case icmpError
    /// A trap policy matched and its SA does not exist yet: the buffer holds the unchanged
    /// cleartext packet, for `HoldQueue.hold` (which also says whether to signal an acquire).
    case hold(reqid: UInt32)
    case drop(DropReason)
}

/// What the receive path knows about a datagram besides its bytes.
public struct InboundContext: Sendable {
    /// ESP or AH (raw sockets are per protocol; UDP 4500 always carries ESP).
    public var proto: IPSecProtocol
    public var source: IPAddress
    public var destination: IPAddress
    /// `.udp(sourcePort: peer's port, destinationPort: ours)` for ESP-in-UDP.
    public var encapsulation: Encapsulation
    /// Bytes of IP header in front of the ESP/AH header (IPv4 raw sockets deliver it; IPv6 raw and UDP do not).
    public var ipHeaderLength: Int

    public init(proto: IPSecProtocol, source: IPAddress, destination: IPAddress,
                encapsulation: Encapsulation = .none, ipHeaderLength: Int = 0) {
        self.proto = proto; self.source = source; self.destination = destination
        self.encapsulation = encapsulation; self.ipHeaderLength = ipHeaderLength
    }
}

public enum InboundVerdict {
    /// The buffer now holds the cleartext IP packet; write it into the TUN.
    case deliver
    case drop(DropReason)
}
