import TernDataPlane
import TernWire

// Traffic selector arithmetic (RFC 7296 §2.9): intersection for narrowing, and conversion of
// address ranges into the prefixes the SPD compiles.

extension IPAddress {
    /// The address `n` steps away, wrapping inside the family's width.
    func adding(_ n: Int64) -> IPAddress {
        if family == .v4 {
            return IPAddress(v4: UInt32(truncatingIfNeeded: Int64(v4Value) &+ n))
        }
        let (lo, overflow): (UInt64, Bool) = n >= 0 ? low.addingReportingOverflow(UInt64(n)) : low.subtractingReportingOverflow(UInt64(-n))
        let hi = overflow ? (n >= 0 ? high &+ 1 : high &- 1) : high
        return IPAddress(v6High: hi, low: lo)
    }

    static func maxAddress(_ family: Family) -> IPAddress {
        family == .v4 ? IPAddress(v4: .max) : IPAddress(v6High: .max, low: .max)
    }
}

extension IPPrefix {
    /// The highest address inside the prefix.
    public var lastAddress: IPAddress {
        let hostBits = address.bitCount - length
        if address.family == .v4 {
            let mask: UInt32 = hostBits >= 32 ? .max : (UInt32(1) << UInt32(hostBits)) &- 1
            return IPAddress(v4: address.v4Value | mask)
        }
        let lowMask: UInt64 = hostBits >= 64 ? .max : (UInt64(1) << UInt64(hostBits)) &- 1
        let highMask: UInt64 = hostBits <= 64 ? 0 : (hostBits >= 128 ? .max : (UInt64(1) << UInt64(hostBits - 64)) &- 1)
        return IPAddress(v6High: address.high | highMask, low: address.low | lowMask)
    }
}

/// The smallest set of prefixes covering [lo, hi] exactly.
func prefixes(from lo: IPAddress, to hi: IPAddress) -> [IPPrefix] {
    guard lo.family == hi.family, lo <= hi else { return [] }
    var out: [IPPrefix] = []
    var start = lo
    let bits = lo.bitCount
    while true {
        // Largest block aligned at `start` that does not pass `hi`.
        var length = bits
        while length > 0 {
            let candidate = IPPrefix(start, length: length - 1)
            if candidate.address != start || hi < candidate.lastAddress { break }
            length -= 1
        }
        let block = IPPrefix(start, length: length)
        out.append(block)
        let last = block.lastAddress
        if last == hi || last == IPAddress.maxAddress(lo.family) { break }
        start = last.adding(1)
    }
    return out
}

extension IKETrafficSelector {
    var family: IPAddress.Family { startAddress.family }

    /// RFC 7296 §2.9: the selector both sides can accept, or nil when they do not overlap.
    func intersection(_ o: IKETrafficSelector) -> IKETrafficSelector? {
        guard family == o.family else { return nil }
        let proto: UInt8
        if ipProtocol == 0 { proto = o.ipProtocol } else if o.ipProtocol == 0 || o.ipProtocol == ipProtocol { proto = ipProtocol } else { return nil }
        let sp = max(startPort, o.startPort), ep = min(endPort, o.endPort)
        guard sp <= ep else { return nil }
        let sa = max(startAddress, o.startAddress), ea = min(endAddress, o.endAddress)
        guard sa <= ea else { return nil }
        return IKETrafficSelector(ipProtocol: proto, startPort: sp, endPort: ep, startAddress: sa, endAddress: ea)
    }

    /// Is `o` entirely inside this selector?
    func contains(_ o: IKETrafficSelector) -> Bool { intersection(o) == o }

    /// `10.1.0.0/24` when the range is a prefix, else `10.1.0.1..10.1.0.9`.
    var addressText: String {
        let ps = prefixes(from: startAddress, to: endAddress)
        if ps.count == 1 { return "\(ps[0])" }
        return "\(startAddress)..\(endAddress)"
    }

    /// strongSwan's notation, as `swanctl --list-sas` prints it: `10.1.0.0/24` or `10.1.0.0/24[tcp/443]`.
    public var strongSwanText: String {
        if ipProtocol == 0 && startPort == 0 && endPort == 65_535 { return addressText }
        let p: String
        switch ipProtocol {
        case 6: p = "tcp"
        case 17: p = "udp"
        case 1: p = "icmp"
        case 58: p = "ipv6-icmp"
        default: p = "\(ipProtocol)"
        }
        let ports = startPort == 0 && endPort == 65_535 ? "" : (startPort == endPort ? "/\(startPort)" : "/\(startPort)-\(endPort)")
        return "\(addressText)[\(p)\(ports)]"
    }

    /// The SPD pieces this selector compiles to (ports only when they narrow anything).
    var policyParts: [(prefix: IPPrefix, ports: PortRange?)] {
        let ports: PortRange? = startPort == 0 && endPort == 65_535 ? nil : PortRange(startPort, endPort)
        return prefixes(from: startAddress, to: endAddress).map { ($0, ports) }
    }
}

/// Narrowing by the responder (RFC 7296 §2.9): every proposed selector intersected with every
/// configured one. The first proposed selector may be the packet that triggered the
/// negotiation; we keep it only as part of the general intersection (strongSwan does the same
/// unless told to narrow to the trigger).
func narrow(proposed: [IKETrafficSelector], configured: [IKETrafficSelector]) -> [IKETrafficSelector] {
    var out: [IKETrafficSelector] = []
    for c in configured {
        for p in proposed {
            if let x = c.intersection(p), !out.contains(x) { out.append(x) }
        }
    }
    return out
}
