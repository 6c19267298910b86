import TernCrypto
import TernWire

/// The algorithms an exchange settled on (one of each transform type).
struct NegotiatedAlgorithms: Sendable, Hashable {
    var encryption: EncryptionAlgorithm
    var integrity: IntegrityAlgorithm
    var prf: PRFAlgorithm?                 // IKE SAs only
    var keyExchange: KeyExchangeGroup?     // IKE SAs always; CHILD SAs with PFS
    var esn: Bool

    /// The single-transform proposal a responder returns (RFC 7296 §3.3: exactly one of each).
    func wireProposal(number: UInt8, protocolID: IKEProtocolID, spi: [UInt8]) -> IKEProposal {
        var t: [IKETransform] = [IKETransform(type: IKETransformType.encryption.rawValue, id: encryption.ikeTransformID,
                                              keyLength: encryption.ikeKeyLengthAttribute)]
        if let prf { t.append(IKETransform(type: IKETransformType.prf.rawValue, id: prf.rawValue)) }
        if integrity != .none { t.append(IKETransform(type: IKETransformType.integrity.rawValue, id: integrity.ikeTransformID)) }
        if let keyExchange { t.append(IKETransform(type: IKETransformType.keyExchange.rawValue, id: keyExchange.rawValue)) }
        if protocolID != .ike { t.append(IKETransform(type: IKETransformType.extendedSequenceNumbers.rawValue, id: esn ? 1 : 0)) }
        return IKEProposal(number: number, protocolID: protocolID.rawValue, spi: spi, transforms: t)
    }

    var ikeDescription: String {
        var parts = [encryption.strongSwanName + (encryption.keySizeBits.map { "_\($0)" } ?? "")]
        if integrity != .none { parts.append(integrity.strongSwanName) }
        if let prf { parts.append(prf.strongSwanName) }
        if let keyExchange { parts.append(keyExchange.strongSwanName) }
        return parts.joined(separator: "/")
    }
}

enum ProposalSelection {
    /// Our configured proposals as SA payload proposals (numbered from 1). For CHILD SAs
    /// without PFS (IKE_AUTH, or no group configured) the KE transforms are left out.
    static func wireProposals(_ proposals: [AlgorithmProposal], protocolID: IKEProtocolID, spi: [UInt8],
                              includeKeyExchange: Bool = true) -> [IKEProposal] {
        var out: [IKEProposal] = []
        for (i, p) in proposals.enumerated() {
            var t: [IKETransform] = []
            for e in p.encryption {
                t.append(IKETransform(type: IKETransformType.encryption.rawValue, id: e.ikeTransformID, keyLength: e.ikeKeyLengthAttribute))
            }
            for f in p.prf where protocolID == .ike { t.append(IKETransform(type: IKETransformType.prf.rawValue, id: f.rawValue)) }
            for a in p.integrity where a != .none { t.append(IKETransform(type: IKETransformType.integrity.rawValue, id: a.ikeTransformID)) }
            if includeKeyExchange {
                for g in p.keyExchange { t.append(IKETransform(type: IKETransformType.keyExchange.rawValue, id: g.rawValue)) }
            }
            if protocolID != .ike {
                let esns = p.extendedSequenceNumbers.isEmpty ? [false] : p.extendedSequenceNumbers
                for e in esns { t.append(IKETransform(type: IKETransformType.extendedSequenceNumbers.rawValue, id: e ? 1 : 0)) }
            }
            out.append(IKEProposal(number: UInt8(truncatingIfNeeded: i + 1), protocolID: protocolID.rawValue, spi: spi, transforms: t))
        }
        return out
    }

    /// The peer's transforms of a proposal that we understand, by type.
    private struct Offer {
        var encryption: [EncryptionAlgorithm] = []
        var integrity: [IntegrityAlgorithm] = []
        var prf: [PRFAlgorithm] = []
        var keyExchange: [KeyExchangeGroup] = []
        var hasKeyExchange = false
        var hasNoneKeyExchange = false
        var esn: [Bool] = []
        init(_ p: IKEProposal) {
            for t in p.transforms where !t.hasUnknownAttributes {
                switch IKETransformType(rawValue: t.type) {
                case .encryption: if let e = EncryptionAlgorithm(ikeTransformID: t.id, keyLength: t.keyLength) { encryption.append(e) }
                case .integrity:
                    if t.id == 0 { integrity.append(.none) } else if let a = IntegrityAlgorithm(ikeTransformID: t.id) { integrity.append(a) }
                case .prf: if let f = PRFAlgorithm(rawValue: t.id) { prf.append(f) }
                case .keyExchange:
                    hasKeyExchange = true
                    if t.id == 0 { hasNoneKeyExchange = true } else if let g = KeyExchangeGroup(rawValue: t.id) { keyExchange.append(g) }
                case .extendedSequenceNumbers: if t.id <= 1 { esn.append(t.id == 1) }
                case .none: break
                }
            }
        }
    }

    /// Responder's choice (RFC 7296 §2.7), preferring our configured order as strongSwan does.
    /// Returns the peer's proposal (for its number and SPI) and the algorithms chosen.
    static func select(ours: [AlgorithmProposal], theirs: [IKEProposal], protocolID: IKEProtocolID,
                       requireKeyExchange: Bool?) -> (IKEProposal, NegotiatedAlgorithms)? {
        for mine in ours {
            for p in theirs where p.protocolID == protocolID.rawValue {
                let offer = Offer(p)
                guard let enc = mine.encryption.first(where: { offer.encryption.contains($0) }) else { continue }
                var integ = IntegrityAlgorithm.none
                if enc.isCombinedMode {
                    // AEAD: no INTEG, or only NONE, may be offered.
                    if offer.integrity.contains(where: { $0 != .none }) && !offer.integrity.contains(.none) && !offer.integrity.isEmpty { continue }
                } else {
                    guard let a = mine.integrity.first(where: { offer.integrity.contains($0) }) else { continue }
                    integ = a
                }
                var prf: PRFAlgorithm?
                if protocolID == .ike {
                    guard let f = mine.prf.first(where: { offer.prf.contains($0) }) else { continue }
                    prf = f
                }
                var group: KeyExchangeGroup?
                switch requireKeyExchange {
                case .some(true):
                    guard let g = mine.keyExchange.first(where: { offer.keyExchange.contains($0) }) else { continue }
                    group = g
                case .some(false):
                    // CREATE_CHILD_SA without PFS on our side: accept a proposal without KE or with NONE.
                    if !mine.keyExchange.isEmpty {
                        guard let g = mine.keyExchange.first(where: { offer.keyExchange.contains($0) }) else { continue }
                        group = g
                    } else if offer.hasKeyExchange && !offer.hasNoneKeyExchange { continue }
                case .none:
                    break   // IKE_AUTH: KE transforms are ignored (RFC 7296 §1.2)
                }
                var esn = false
                if protocolID != .ike {
                    let want = mine.extendedSequenceNumbers.isEmpty ? [false] : mine.extendedSequenceNumbers
                    let offered = offer.esn.isEmpty ? [false] : offer.esn
                    guard let e = want.first(where: { offered.contains($0) }) else { continue }
                    esn = e
                }
                return (p, NegotiatedAlgorithms(encryption: enc, integrity: integ, prf: prf, keyExchange: group, esn: esn))
            }
        }
        return nil
    }

    /// Checks the responder's single proposal against what we offered (initiator side).
    static func accept(response: [IKEProposal], offered: [AlgorithmProposal], protocolID: IKEProtocolID,
                       expectKeyExchange: Bool) -> (IKEProposal, NegotiatedAlgorithms)? {
        guard response.count == 1, let p = response.first, p.protocolID == protocolID.rawValue else { return nil }
        let offer = Offer(p)
        guard offer.encryption.count == 1, let enc = offer.encryption.first else { return nil }
        // Exactly one INTEG transform for classic encryption, none (or NONE) for AEAD.
        let integ: IntegrityAlgorithm = enc.isCombinedMode ? .none : (offer.integrity.count == 1 ? offer.integrity[0] : .none)
        if !enc.isCombinedMode && integ == .none { return nil }
        let prf: PRFAlgorithm? = protocolID == .ike ? (offer.prf.count == 1 ? offer.prf[0] : nil) : nil
        if protocolID == .ike && prf == nil { return nil }
        let group: KeyExchangeGroup? = offer.keyExchange.first
        if expectKeyExchange && group == nil { return nil }
        let esn = offer.esn.first ?? false
        let chosen = NegotiatedAlgorithms(encryption: enc, integrity: integ, prf: prf, keyExchange: expectKeyExchange ? group : nil, esn: esn)
        // Every algorithm must be one we offered in one proposal.
        let fits = offered.contains { o in
            o.encryption.contains(enc) && (enc.isCombinedMode || o.integrity.contains(integ))
                && (prf.map { o.prf.contains($0) } ?? true)
                && (!expectKeyExchange || group.map { o.keyExchange.contains($0) } ?? false)
                && (protocolID == .ike || (o.extendedSequenceNumbers.isEmpty ? [false] : o.extendedSequenceNumbers).contains(esn))
        }
        return fits ? (p, chosen) : nil
    }
}
