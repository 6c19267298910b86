import TernCrypto
import TernWire

// Inbound: datagram → SAD (SPI, destination, protocol) → replay pre-check → ICV verify and
// decrypt in place → replay commit → padding/next-header checks → inner packet → inbound
// policy check (RFC 4301 §5.2) → cleartext for the TUN.
//
// An AH packet whose next header is ESP (a `esp/… ah/…` bundle) is peeled layer by layer;
// every SA applied must be named by the inbound policy that the cleartext packet matches.

public enum InboundProcessor {
    /// Up to this many nested IPsec headers are peeled from one packet.
    static let maximumLayers = 3

    public static func process(_ pkt: inout PacketBuffer, context: InboundContext, snapshot: DataPlaneSnapshot,
                               drops: DropCounters, now: MonotonicInstant) -> InboundVerdict {
        var ctx = context
        var sa0: SecurityAssociation?, sa1: SecurityAssociation?, sa2: SecurityAssociation?
        var tunnel0 = false, tunnel1 = false, tunnel2 = false
        var layers = 0
        while true {
            let result: Result<(SecurityAssociation, Bool, UInt8), DropReason>
            switch ctx.proto {
            case .esp: result = openESP(&pkt, ctx: ctx, snapshot: snapshot, now: now)
            case .ah: result = openAH(&pkt, ctx: ctx, snapshot: snapshot, now: now)
            }
            guard case .success(let (sa, tunnel, next)) = result else {
                if case .failure(let reason) = result { drops.count(reason); return .drop(reason) }
                return .drop(.malformed)
            }
            switch layers { case 0: (sa0, tunnel0) = (sa, tunnel); case 1: (sa1, tunnel1) = (sa, tunnel); default: (sa2, tunnel2) = (sa, tunnel) }
            layers += 1
            // Transport-mode AH around ESP: the restored packet carries ESP next.
            if !tunnel && (next == IPProtocolNumber.esp || next == IPProtocolNumber.ah) && layers < maximumLayers {
                ctx.proto = next == IPProtocolNumber.esp ? .esp : .ah
                ctx.encapsulation = .none
                ctx.ipHeaderLength = pkt.bytes.load(as: UInt8.self) >> 4 == 4
                    ? Int(pkt.bytes.load(as: UInt8.self) & 0x0f) * 4 : 40
                continue
            }
            break
        }
        guard let sel = PacketSelectors.parse(pkt.bytes, length: pkt.length) else {
            drops.count(.malformed); return .drop(.malformed)
        }
        pkt.length = sel.totalLength   // drop TFC padding after the inner packet
        guard let policy = snapshot.inboundPolicy(sel) else {
            drops.count(.noPolicy); sa0?.count(.policyMismatches); return .drop(.noPolicy)
        }
        guard case .protect(let rules) = policy.config.action,
              sa0.map({ ruleAllows(rules, $0, tunnel: tunnel0) }) ?? false,
              sa1.map({ ruleAllows(rules, $0, tunnel: tunnel1) }) ?? true,
              sa2.map({ ruleAllows(rules, $0, tunnel: tunnel2) }) ?? true else {
            drops.count(.policyMismatch); sa0?.count(.policyMismatches); return .drop(.policyMismatch)
        }
        policy.counters.add(0); policy.counters.add(1, UInt64(pkt.length))
        return .deliver
    }

    /// Does one of the policy's rules describe this SA, as it was applied?
    static func ruleAllows(_ rules: [IPSecRule], _ sa: SecurityAssociation, tunnel: Bool) -> Bool {
        for r in rules where r.proto == sa.config.proto && (r.mode == .tunnel) == tunnel {
            if case .unique(let id) = r.level, id != 0, id != sa.config.reqid { continue }
            if tunnel {
                if let s = r.tunnelSource, s != sa.config.source { continue }
                if let d = r.tunnelDestination, d != sa.config.destination { continue }
            }
            return true
        }
        return false
    }

    /// Checks the SA's encapsulation against how the packet arrived: an ESP-in-UDP SA accepts only
    /// UDP from its peer's port; a raw SA only raw ESP.
    static func encapsulationMatches(_ sa: SecurityAssociation, _ ctx: InboundContext) -> Bool {
        switch (sa.config.encapsulation, ctx.encapsulation) {
        case (.none, .none): true
        case (.udp(let sp, let dp), .udp(let peer, let local)): sp == peer && dp == local
        default: false
        }
    }

    static func openESP(_ pkt: inout PacketBuffer, ctx: InboundContext, snapshot: DataPlaneSnapshot,
                        now: MonotonicInstant) -> Result<(SecurityAssociation, Bool, UInt8), DropReason> {
        let hl = ctx.ipHeaderLength
        guard pkt.length >= hl + ESPHeaderView.size else { return .failure(.malformed) }
        let esp = pkt.bytes + hl
        let header = ESPHeaderView(esp)
        let espLength = pkt.length - hl
        let spi = header.spi
        guard let sa = snapshot.inboundSA(spi: spi, destination: ctx.destination, proto: .esp),
              encapsulationMatches(sa, ctx), let cipher = sa.inboundCipher() else { return .failure(.noSA) }
        guard espLength >= ESPHeaderView.size + sa.ivLength + sa.icvLength + 2 else { return .failure(.malformed) }
        if now >= sa.hardExpiry {
            return .failure(.saExpired)
        }

        let verdict = sa.replay.check(low: header.sequence)
        guard case .fresh(let seq) = verdict else { sa.count(.replayDrops); return .failure(.replay) }
        guard cipher.open(esp: esp, totalLength: espLength, sequenceHigh: UInt32(truncatingIfNeeded: seq >> 32),
                          esn: sa.config.extendedSequenceNumbers) else {
            sa.count(.integrityFailures); return .failure(.integrity)
        }
        guard sa.replay.commit(seq) else { sa.count(.replayDrops); return .failure(.replay) }

        let trailer = ESPTrailerView(plaintext: esp + ESPHeaderView.size + sa.ivLength,
                                     length: espLength - ESPHeaderView.size - sa.ivLength - sa.icvLength)
        let padLength = trailer.padLength
        let next = trailer.nextHeader
        guard padLength + 2 <= trailer.length else { return .failure(.badPadding) }
        let payloadLength = trailer.length - 2 - padLength
        guard trailer.paddingIsMonotonic else { return .failure(.badPadding) }
        if next == IPProtocolNumber.noNextHeader { return .failure(.tfcDummy) }
        sa.counters.set(SACounter.lastUsed.rawValue, now.wholeSeconds)

        let innerIsIP = next == IPProtocolNumber.ipv4 || next == IPProtocolNumber.ipv6
        let tunnel = innerIsIP && sa.config.mode != .transport
        if sa.config.mode == .tunnel && !innerIsIP { return .failure(.badNextHeader) }
        let payloadStart = pkt.start + hl + ESPHeaderView.size + sa.ivLength
        if tunnel {
            let version = trailer.plaintext.load(as: UInt8.self) >> 4
            guard payloadLength >= 20, version == (next == IPProtocolNumber.ipv4 ? 4 : 6) else {
                return .failure(.badNextHeader)
            }
            pkt.start = payloadStart
            pkt.length = payloadLength
        } else {
            guard restoreHeader(&pkt, ctx: ctx, payloadStart: payloadStart, payloadLength: payloadLength, next: next) else {
                return .failure(.malformed)
            }
        }
        sa.count(.packets); sa.count(.bytes, UInt64(payloadLength))
        return .success((sa, tunnel, next))
    }

    /// Transport mode: puts an IP header back in front of the upper-layer payload — the received
    /// one when the socket delivered it (IPv4 raw), otherwise one rebuilt from the addresses.
    static func restoreHeader(_ pkt: inout PacketBuffer, ctx: InboundContext, payloadStart: Int,
                              payloadLength: Int, next: UInt8) -> Bool {
        let hl = ctx.ipHeaderLength
        if hl > 0 {
            let newStart = payloadStart - hl
            (pkt.base + newStart).copyMemory(from: pkt.bytes, byteCount: hl)
            pkt.start = newStart
            pkt.length = hl + payloadLength
            let h = pkt.bytes
            setIPNextHeader(h, next)
            if h.load(as: UInt8.self) >> 4 == 4 {
                store16(h, 2, UInt16(truncatingIfNeeded: pkt.length))
                updateIPv4HeaderChecksum(h)
            } else {
                store16(h, 4, UInt16(truncatingIfNeeded: pkt.length - 40))
            }
            return true
        }
        let family = ctx.source.family
        let h = family == .v4 ? 20 : 40
        guard payloadStart >= h else { return false }
        pkt.start = payloadStart - h
        pkt.length = h + payloadLength
        if family == .v4 {
            writeIPv4Header(pkt.bytes, tos: 0, totalLength: pkt.length, identification: 0, dontFragment: false,
                            ttl: 64, proto: next, source: ctx.source, destination: ctx.destination)
        } else {
            writeIPv6Header(pkt.bytes, trafficClass: 0, flowLabel: 0, payloadLength: payloadLength,
                            nextHeader: next, hopLimit: 64, source: ctx.source, destination: ctx.destination)
        }
        return true
    }

    static func openAH(_ pkt: inout PacketBuffer, ctx: InboundContext, snapshot: DataPlaneSnapshot,
                       now: MonotonicInstant) -> Result<(SecurityAssociation, Bool, UInt8), DropReason> {
        var ctx = ctx
        // AH authenticates the IP header, so one must be in front of it: IPv6 raw sockets strip
        // it, and we rebuild it from what the kernel reported (only plain headers qualify).
        if ctx.ipHeaderLength == 0 {
            guard ctx.source.family == .v6, pkt.headroom >= 40 else { return .failure(.unsupported) }
            pkt.start -= 40; pkt.length += 40
            writeIPv6Header(pkt.bytes, trafficClass: 0, flowLabel: 0, payloadLength: pkt.length - 40,
                            nextHeader: IPProtocolNumber.ah, hopLimit: 0, source: ctx.source, destination: ctx.destination)
            ctx.ipHeaderLength = 40
        } else if ctx.ipHeaderLength != 20 && ctx.ipHeaderLength != 40 {
            return .failure(.unsupported)   // IPv4 options: their mutability rules are not implemented
        }
        let hl = ctx.ipHeaderLength
        guard pkt.length >= hl + AHHeaderView.fixedSize else { return .failure(.malformed) }
        let ah = pkt.bytes + hl
        let header = AHHeaderView(ah)
        let ahLength = header.length
        let spi = header.spi
        guard let sa = snapshot.inboundSA(spi: spi, destination: ctx.destination, proto: .ah),
              let mac = sa.inboundMAC else { return .failure(.noSA) }
        let family: IPAddress.Family = hl == 20 ? .v4 : .v6
        let icvField = sa.ahICVFieldLength(family)
        guard ahLength == AHHeaderView.fixedSize + icvField, pkt.length >= hl + ahLength else { return .failure(.malformed) }
        if now >= sa.hardExpiry {
            return .failure(.saExpired)
        }
        let verdict = sa.replay.check(low: header.sequence)
        guard case .fresh(let seq) = verdict else { sa.count(.replayDrops); return .failure(.replay) }

        let ok: Bool = withUnsafeTemporaryAllocation(byteCount: 128, alignment: 8) { scratch in
            let received = scratch.baseAddress!
            let computed = received + 64
            received.copyMemory(from: header.icv, byteCount: mac.icvLength)
            header.icv.initializeMemory(as: UInt8.self, repeating: 0, count: icvField)
            computeAHICV(mac: mac, packet: pkt.bytes, ipHeaderLength: hl, totalLength: pkt.length,
                         icvField: icvField, sequenceHigh: UInt32(truncatingIfNeeded: seq >> 32),
                         esn: sa.config.extendedSequenceNumbers, into: computed)
            return constantTimeEqual(received, computed, count: mac.icvLength)
        }
        guard ok else { sa.count(.integrityFailures); return .failure(.integrity) }
        guard sa.replay.commit(seq) else { sa.count(.replayDrops); return .failure(.replay) }
        sa.counters.set(SACounter.lastUsed.rawValue, now.wholeSeconds)

        let next = header.nextHeader
        let innerIsIP = next == IPProtocolNumber.ipv4 || next == IPProtocolNumber.ipv6
        let tunnel = innerIsIP && sa.config.mode != .transport
        if sa.config.mode == .tunnel && !innerIsIP { return .failure(.badNextHeader) }
        let payloadStart = pkt.start + hl + ahLength
        let payloadLength = pkt.length - hl - ahLength
        if tunnel {
            pkt.start = payloadStart
            pkt.length = payloadLength
        } else {
            // The received header (or the rebuilt IPv6 one) moves up against the payload.
            ctx.ipHeaderLength = hl
            guard restoreHeader(&pkt, ctx: ctx, payloadStart: payloadStart, payloadLength: payloadLength, next: next) else {
                return .failure(.malformed)
            }
            if family == .v6 {
                // Restore a usable hop limit on the rebuilt header.
                pkt.bytes.storeBytes(of: 64, toByteOffset: 7, as: UInt8.self)
            }
        }
        sa.count(.packets); sa.count(.bytes, UInt64(payloadLength))
        return .success((sa, tunnel, next))
    }
}
