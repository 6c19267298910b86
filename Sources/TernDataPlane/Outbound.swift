import TernCrypto
import TernWire

// Outbound: TUN packet → SPD → SA(s) → ESP/AH in place → Transmission.
//
//   [headroom][inner IP packet][tailroom]
//   tunnel ESP:     [ESP hdr|IV][inner packet|pad|padlen|next][ICV]         (kernel adds outer IP)
//   transport ESP:  [ESP hdr|IV][upper layer|pad|padlen|next][ICV]          (original header dropped; kernel rebuilds)
//   AH:             [IP hdr][AH hdr|ICV][payload]                           (complete packet, we build the header)
// A bundle (`esp/… ah/…`) applies its rules innermost first; every step but the last keeps a
// full IP packet so the next step can wrap it.

public enum OutboundProcessor {
    /// Protects one packet read from the TUN. `now` is the monotonic clock (lifetimes, last use).
    public static func process(_ pkt: inout PacketBuffer, snapshot: DataPlaneSnapshot, drops: DropCounters,
                               now: MonotonicInstant) -> OutboundVerdict {
        guard let sel = PacketSelectors.parse(pkt.bytes, length: pkt.length) else {
            drops.count(.malformed); return .drop(.malformed)
        }
        pkt.length = sel.totalLength
        guard let policy = snapshot.outbound.lookup(sel) else { return .bypass }
        policy.counters.add(0); policy.counters.add(1, UInt64(pkt.length))
        switch policy.config.action {
        case .discard:
            drops.count(.discardPolicy); return .drop(.discardPolicy)
        case .bypass:
            return .bypass
        case .protect(let rules):
            var current = sel
            var transmission: Transmission?
            for (i, rule) in rules.enumerated() {
                guard let sa = snapshot.outboundSA(for: rule, current) else {
                    if i == 0, rule.level == .use || rule.level == .default { return .bypass }
                    // Only the first rule: after it the buffer no longer holds the original packet.
                    if i == 0, policy.config.acquire { return .hold(reqid: rule.reqid) }
                    drops.count(.noSA); return .drop(.noSA)
                }
                if now >= sa.hardExpiry {
                    drops.count(.saExpired); return .drop(.saExpired)
                }
                let last = i == rules.count - 1
                let mode: IPSecMode = rule.mode == .tunnel ? .tunnel : .transport
                let result: Result<Transmission, DropReason>
                switch sa.config.proto {
                case .esp:
                    result = sealESP(&pkt, sel: current, sa: sa, mode: mode, keepIPHeader: !last, snapshot: snapshot)
                case .ah:
                    result = sealAH(&pkt, sel: current, sa: sa, mode: mode, snapshot: snapshot)
                }
                switch result {
                case .success(let t):
                    transmission = t
                    sa.counters.set(SACounter.lastUsed.rawValue, now.wholeSeconds)
                case .failure(.tooBig):
                    drops.count(.tooBig)
                    return buildTooBig(&pkt, sa: sa, snapshot: snapshot) ? .icmpError : .drop(.tooBig)
                case .failure(let reason):
                    drops.count(reason); return .drop(reason)
                }
                if !last {
                    guard let next = PacketSelectors.parse(pkt.bytes, length: pkt.length) else {
                        drops.count(.malformed); return .drop(.malformed)
                    }
                    current = next
                }
            }
            return transmission.map { .send($0) } ?? .bypass
        }
    }

    /// Replaces an oversized packet by ICMP "fragmentation needed"/"packet too big", when the
    /// rules allow one (IPv4 with DF, or IPv6). Returns false if the packet is simply dropped.
    static func buildTooBig(_ pkt: inout PacketBuffer, sa: SecurityAssociation, snapshot: DataPlaneSnapshot) -> Bool {
        guard let sel = PacketSelectors.parse(pkt.bytes, length: pkt.length) else { return false }
        let mtu = snapshot.underlayMTU - sa.tunnelOverhead
        // The error claims to come from the packet's destination: it goes back into the TUN, and
        // Linux drops ("martian source") anything arriving there from one of its own addresses.
        // The route to that destination points into the TUN, so reverse-path checks pass too.
        guard let (s, l) = ICMPTooBig.build(in: pkt.base, start: pkt.start, length: pkt.length,
                                            headroomAvailable: pkt.start, mtu: mtu, source: sel.destination) else { return false }
        pkt.start = s; pkt.length = l
        return true
    }

    /// May this packet be fragmented on the way (IPv4 without DF)? Then an oversized ESP packet
    /// is still sent and the kernel fragments the outer packet.
    static func mayFragment(_ p: UnsafeRawPointer) -> Bool {
        p.load(as: UInt8.self) >> 4 == 4 && load16(p, 6) & IPv4.dontFragment == 0
    }

    static func sealESP(_ pkt: inout PacketBuffer, sel: PacketSelectors, sa: SecurityAssociation, mode: IPSecMode,
                        keepIPHeader: Bool, snapshot: DataPlaneSnapshot) -> Result<Transmission, DropReason> {
        guard let cipher = sa.outboundCipher() else { return .failure(.noSA) }
        let p = pkt.bytes
        let tos = trafficClass(p)
        let tunnel = mode == .tunnel
        // Tunnel mode protects the whole packet; transport mode the upper layer after the IP header.
        let headerLength = tunnel ? 0 : sel.upperLayerOffset
        if !tunnel && sel.family == .v6 && sel.upperLayerOffset != IPv6.headerLength {
            return .failure(.unsupported)   // transport mode over IPv6 extension headers
        }
        let nextHeader: UInt8 = tunnel ? (sel.family == .v4 ? IPProtocolNumber.ipv4 : IPProtocolNumber.ipv6)
                                       : sel.upperProtocol
        let payloadLength = pkt.length - headerLength
        let block = sa.blockSize
        let padLength = (block - (payloadLength + 2) % block) % block
        let plaintextLength = payloadLength + padLength + 2
        let espHeader = ESPHeaderView.size + sa.ivLength
        let espLength = espHeader + plaintextLength + sa.icvLength

        let outerFamily = sa.config.destination.family
        var outerLength = espLength + (outerFamily == .v4 ? 20 : 40)
        var sourcePort: UInt16 = 0, destinationPort: UInt16 = 0
        if case .udp(let sp, let dp) = sa.config.encapsulation { outerLength += 8; sourcePort = sp; destinationPort = dp }
        if outerLength > snapshot.underlayMTU && !(mayFragment(p) && !keepIPHeader) {
            return .failure(.tooBig)
        }
        guard pkt.tailroom >= padLength + 2 + sa.icvLength,
              pkt.headroom >= espHeader + (keepIPHeader ? 40 : 0) else { return .failure(.malformed) }
        guard let seq = sa.nextSequence() else { return .failure(.sequenceExhausted) }

        // Trailer: padding 1, 2, 3… (RFC 4303 §2.4), pad length, next header.
        ESPTrailerView.write(after: p, payloadLength: pkt.length, padLength: padLength, nextHeader: nextHeader)

        let source = tunnel ? sa.config.source : sel.source
        let destination = tunnel ? sa.config.destination : sel.destination
        let espStart = pkt.start + headerLength - espHeader
        if !tunnel && keepIPHeader {
            // Keep the original IP header in front of the ESP header (bundle: AH wraps it next).
            (pkt.base + espStart - headerLength).copyMemory(from: p, byteCount: headerLength)
        }
        let esp = pkt.base + espStart
        let header = ESPHeaderView(esp)
        header.spi = sa.config.spi
        header.sequence = UInt32(truncatingIfNeeded: seq)
        guard cipher.seal(esp: esp, plaintextLength: plaintextLength, sequence: seq,
                          esn: sa.config.extendedSequenceNumbers) else { return .failure(.malformed) }
        pkt.start = espStart
        pkt.length = espLength
        sa.count(.packets); sa.count(.bytes, UInt64(payloadLength))

        if keepIPHeader {
            prependIPHeader(&pkt, tunnel: tunnel, originalHeaderLength: headerLength, family: outerFamily,
                            proto: IPProtocolNumber.esp, tos: tos, source: source, destination: destination,
                            identification: 0)
        }
        return .success(Transmission(kind: sa.config.encapsulation == .none ? (keepIPHeader ? .ipPacket : .esp) : .udp,
                                     source: source, destination: destination, sourcePort: sourcePort,
                                     destinationPort: destinationPort, trafficClass: tos))
    }

    /// Puts an IP header in front of `pkt`: a new one (tunnel) or the original one already
    /// copied there (transport), with protocol and length fixed.
    static func prependIPHeader(_ pkt: inout PacketBuffer, tunnel: Bool, originalHeaderLength: Int,
                                family: IPAddress.Family, proto: UInt8, tos: UInt8,
                                source: IPAddress, destination: IPAddress, identification: UInt16) {
        if tunnel {
            let h = family == .v4 ? 20 : 40
            pkt.start -= h; pkt.length += h
            if family == .v4 {
                writeIPv4Header(pkt.bytes, tos: tos, totalLength: pkt.length, identification: identification,
                                dontFragment: false, ttl: 64, proto: proto, source: source, destination: destination)
            } else {
                writeIPv6Header(pkt.bytes, trafficClass: tos, flowLabel: 0, payloadLength: pkt.length - 40,
                                nextHeader: proto, hopLimit: 64, source: source, destination: destination)
            }
        } else {
            pkt.start -= originalHeaderLength; pkt.length += originalHeaderLength
            let h = pkt.bytes
            setIPNextHeader(h, proto)
            if h.load(as: UInt8.self) >> 4 == 4 {
                store16(h, 2, UInt16(truncatingIfNeeded: pkt.length))
                if identification != 0 { store16(h, 4, identification) }
                updateIPv4HeaderChecksum(h)
            } else {
                store16(h, 4, UInt16(truncatingIfNeeded: pkt.length - 40))
            }
        }
    }

    static func sealAH(_ pkt: inout PacketBuffer, sel: PacketSelectors, sa: SecurityAssociation, mode: IPSecMode,
                       snapshot: DataPlaneSnapshot) -> Result<Transmission, DropReason> {
        guard let mac = sa.outboundMAC else { return .failure(.noSA) }
        let p = pkt.bytes
        let tos = trafficClass(p)
        let tunnel = mode == .tunnel
        let family = tunnel ? sa.config.destination.family : sel.family
        if !tunnel {
            // Mutable-field rules are implemented for the plain headers only.
            if sel.family == .v4 && sel.upperLayerOffset != 20 { return .failure(.unsupported) }
            if sel.family == .v6 && sel.upperLayerOffset != 40 { return .failure(.unsupported) }
        }
        let headerLength = tunnel ? 0 : sel.upperLayerOffset
        let icvField = sa.ahICVFieldLength(family)
        let ahLength = AHHeaderView.fixedSize + icvField
        let ipLength = family == .v4 ? 20 : 40
        let total = pkt.length + ahLength + (tunnel ? ipLength : 0)
        if total > snapshot.underlayMTU { return .failure(.tooBig) }
        guard pkt.headroom >= ahLength + ipLength else { return .failure(.malformed) }
        guard let seq = sa.nextSequence() else { return .failure(.sequenceExhausted) }

        let nextHeader: UInt8 = tunnel ? (sel.family == .v4 ? IPProtocolNumber.ipv4 : IPProtocolNumber.ipv6)
                                       : sel.upperProtocol
        let source = tunnel ? sa.config.source : sel.source
        let destination = tunnel ? sa.config.destination : sel.destination
        let payloadLength = pkt.length - headerLength
        // Move the original header (transport) in front of the AH header, then write AH.
        let ahStart = pkt.start + headerLength - ahLength
        if !tunnel { (pkt.base + ahStart - headerLength).copyMemory(from: p, byteCount: headerLength) }
        let ah = AHHeaderView(pkt.base + ahStart)
        ah.nextHeader = nextHeader
        ah.length = ahLength
        ah.spi = sa.config.spi
        ah.sequence = UInt32(truncatingIfNeeded: seq)
        ah.icv.initializeMemory(as: UInt8.self, repeating: 0, count: icvField)
        pkt.start = ahStart
        pkt.length = ahLength + payloadLength
        // The ICV covers the IPv4 ID, so it must be chosen now, not left for the kernel.
        let identification = UInt16(truncatingIfNeeded: seq) == 0 ? 1 : UInt16(truncatingIfNeeded: seq)
        prependIPHeader(&pkt, tunnel: tunnel, originalHeaderLength: headerLength, family: family,
                        proto: IPProtocolNumber.ah, tos: tos, source: source, destination: destination,
                        identification: identification)
        let ipHeaderLength = tunnel ? ipLength : headerLength
        computeAHICV(mac: mac, packet: pkt.bytes, ipHeaderLength: ipHeaderLength, totalLength: pkt.length,
                     icvField: icvField, sequenceHigh: UInt32(truncatingIfNeeded: seq >> 32),
                     esn: sa.config.extendedSequenceNumbers, into: AHHeaderView(pkt.bytes + ipHeaderLength).icv)
        sa.count(.packets); sa.count(.bytes, UInt64(payloadLength))
        return .success(Transmission(kind: .ipPacket, source: source, destination: destination,
                                     sourcePort: 0, destinationPort: 0, trafficClass: tos))
    }
}

/// Computes the AH ICV (RFC 4302 §3.3.3) over a complete packet whose ICV field is zero:
/// the IP header with its mutable fields zeroed, the AH header, the payload, and with ESN the
/// high 32 sequence bits appended. Writes the truncated ICV to `icvOut`.
func computeAHICV(mac: IntegrityMAC, packet: UnsafeMutableRawPointer, ipHeaderLength: Int, totalLength: Int,
                  icvField: Int, sequenceHigh: UInt32, esn: Bool, into icvOut: UnsafeMutableRawPointer) {
    mac.start()
    withUnsafeTemporaryAllocation(byteCount: 64, alignment: 8) { scratch in
        let h = scratch.baseAddress!
        h.copyMemory(from: packet, byteCount: ipHeaderLength)
        if ipHeaderLength == 20 && h.load(as: UInt8.self) >> 4 == 4 {
            h.storeBytes(of: 0, toByteOffset: 1, as: UInt8.self)   // TOS
            store16(h, 6, 0)                                      // flags, fragment offset
            h.storeBytes(of: 0, toByteOffset: 8, as: UInt8.self)   // TTL
            store16(h, 10, 0)                                     // checksum
        } else {
            store32(h, 0, 6 << 28)                                // traffic class, flow label
            h.storeBytes(of: 0, toByteOffset: 7, as: UInt8.self)   // hop limit
        }
        mac.update(h, count: ipHeaderLength)
        mac.update(packet + ipHeaderLength, count: totalLength - ipHeaderLength)
        if esn {
            store32(h, 0, sequenceHigh)
            mac.update(h, count: 4)
        }
        mac.finish(into: h)
        icvOut.copyMemory(from: h, byteCount: mac.icvLength)
    }
}
