import TernCrypto
import TernDataPlane
import TernWire

// IKE SA rekeying with CREATE_CHILD_SA (RFC 7296 §1.3.2, §2.18), and the collision of two
// simultaneous rekeys (§2.8.2): the new IKE SA made with the lowest nonce is deleted.
//
//   build: startRekeyIKE      process: processRekeyIKEResponse (initiator), respondToRekeyIKE (responder)

extension IKESession {
    // MARK: IKE SA rekeying

    func startRekeyIKE(now: MonotonicInstant, _ out: inout [IKEAction]) {
        guard case .established(let current) = phase else { return }
        let group = current.keys.keyExchange
        let ke: KeyExchange
        do { ke = try KeyExchange(group: group, rng: &context.random) } catch { return }
        let spi = context.allocateIKESPI()
        let nonce = context.random.bytes(32)
        // Our configured proposals, with the current group first so the KE we send fits.
        var proposals = policy.proposals
        for i in proposals.indices where proposals[i].keyExchange.contains(group) {
            proposals[i].keyExchange.removeAll { $0 == group }
            proposals[i].keyExchange.insert(group, at: 0)
        }
        phase = .rekeying(current)
        log(.info, "rekeying IKE_SA", &out)
        let payloads: [IKEPayload] = [
            .securityAssociation(ProposalSelection.wireProposals(proposals, protocolID: .ike, spi: spi.bigEndianBytes)),
            .nonce(nonce),
            .keyExchange(group: group.rawValue, data: ke.publicValue),
        ]
        sendRequest(.createChildSA, payloads: payloads, context: .rekeyIKE(IKERekeyRequest(newSPI: spi, nonce: nonce, keyExchange: ke)), now: now, &out)
    }

    func processRekeyIKEResponse(_ payloads: [IKEPayload], request: IKERekeyRequest, keys: IKESAKeying, now: MonotonicInstant, _ out: inout [IKEAction]) {
        let offer = ChildOffer(payloads)
        func retryLater(_ why: String) {
            log(.info, "IKE_SA rekey failed (\(why)); retrying later", &out)
            if case .rekeying(let e) = phase { phase = .established(e) }
            rekeyAt = now + 10 + context.random.jitter(10)
        }
        if let e = offer.errors.first { retryLater("peer answered \(e.type)"); return }
        guard let nr = offer.nonce, nr.count >= 16, nr.count <= 256,
              let (p, chosen) = ProposalSelection.accept(response: offer.proposals, offered: policy.proposals, protocolID: .ike, expectKeyExchange: true),
              p.spi.count == 8, let (g, data) = offer.ke, g == request.keyExchange.group.rawValue,
              let shared = try? request.keyExchange.sharedSecret(peerPublicValue: data) else {
            retryLater("malformed response")
            return
        }
        let peerSPI = p.spi.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard let new = makeSuccessor(keys: keys, isInitiator: true, initiatorSPI: request.newSPI, responderSPI: peerSPI,
                                                algorithms: chosen, nonceI: request.nonce, nonceR: nr, sharedSecret: shared, now: now, &out) else {
            retryLater("malformed response")
            return
        }
        if let collision = peerRekeyNonces {
            let ours = min(lexicographic: request.nonce, nr), theirs = min(lexicographic: collision.ni, collision.nr)
            if ours.lexicographicallyPrecedes(theirs) {
                // Ours is redundant: the peer's new IKE SA keeps the CHILD SAs; we delete ours.
                log(.info, "IKE_SA rekey collision: deleting our redundant new IKE_SA", &out)
                new.moveChildren(to: collision.newSession)
                becomeRekeyed()
                new.becomeRekeyed()
                new.enqueue(.deleteIKE(reason: "rekey collision"), now: now, &out)
                deleteAt = now + 30
                return
            }
            collision.newSession.moveChildren(to: new)
        }
        moveChildren(to: new)
        becomeRekeyed()
        successor = new
        out.append(.event(.ikeRekeyed(old: info(now: now), new: new.info(now: now))))
        enqueue(.deleteIKE(reason: "rekeyed"), now: now, &out)
    }

    func respondToRekeyIKE(_ offer: ChildOffer, nonceI: [UInt8], messageID: UInt32, keys: IKESAKeying, now: MonotonicInstant, _ out: inout [IKEAction]) {
        func respond(_ p: [IKEPayload]) { sendResponse(.createChildSA, messageID: messageID, payloads: p, &out) }
        // RFC 7296 §2.25.2: not while we are creating, rekeying or deleting a CHILD SA of this IKE SA.
        switch window.outstanding?.exchange {
        case .createChild?, .deleteChildren?:
            respond([.notify(IKENotify(type: .temporaryFailure))])
            return
        default: break
        }
        guard let (p, chosen) = ProposalSelection.select(ours: policy.proposals, theirs: offer.proposals, protocolID: .ike, requireKeyExchange: true),
              p.spi.count == 8, let g = chosen.keyExchange, chosen.prf != nil else {
            respond([.notify(IKENotify(type: .noProposalChosen))])
            return
        }
        guard let (group, data) = offer.ke, group == g.rawValue else {
            respond([.notify(IKENotify(type: .invalidKEPayload, data: [UInt8(g.rawValue >> 8), UInt8(g.rawValue & 0xFF)]))])
            return
        }
        guard let ke = try? KeyExchange(group: g, rng: &context.random), let shared = try? ke.sharedSecret(peerPublicValue: data) else {
            respond([.notify(IKENotify(type: .invalidSyntax))])
            return
        }
        let spi = context.allocateIKESPI()
        let nr = context.random.bytes(32)
        let peerSPI = p.spi.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        respond([.securityAssociation([chosen.wireProposal(number: p.number, protocolID: .ike, spi: spi.bigEndianBytes)]),
                 .nonce(nr), .keyExchange(group: group, data: ke.publicValue)])
        // chosen has a PRF and a group (checked above): makeSuccessor cannot refuse it.
        guard let new = makeSuccessor(keys: keys, isInitiator: false, initiatorSPI: peerSPI, responderSPI: spi,
                                                algorithms: chosen, nonceI: nonceI, nonceR: nr, sharedSecret: shared, now: now, &out) else { return }
        if state == .rekeying, case .rekeyIKE? = window.outstanding?.exchange {
            peerRekeyNonces = (nonceI, nr, new)     // collision: decided when our response arrives
            moveChildren(to: new)
            return
        }
        moveChildren(to: new)
        becomeRekeyed()
        successor = new
        deleteAt = now + 30   // the initiator deletes the old SA; don't wait forever
        out.append(.event(.ikeRekeyed(old: info(now: now), new: new.info(now: now))))
    }

    /// The IKE SA that replaces this one after a CREATE_CHILD_SA rekey (§2.18), keyed from our
    /// SK_d (`keys`); nil when `chosen` lacks a PRF (not an IKE proposal).
    func makeSuccessor(keys oldKeys: IKESAKeying, isInitiator: Bool, initiatorSPI: UInt64, responderSPI: UInt64,
                       algorithms chosen: NegotiatedAlgorithms, nonceI: [UInt8], nonceR: [UInt8], sharedSecret: [UInt8],
                       now: MonotonicInstant, _ out: inout [IKEAction]) -> IKESession? {
        guard let prf = chosen.prf else { return nil }
        let s = IKESession(uniqueID: context.allocateUniqueID(), context: context, policy: policy, isInitiator: isInitiator, phase: .created,
                           initiatorSPI: initiatorSPI, responderSPI: responderSPI, local: local, remote: remote, now: now)
        let seed = IKEKeyDerivation.rekeyedSkeyseed(prf: oldKeys.prf, oldSKd: oldKeys.skD, sharedSecret: sharedSecret,
                                                    nonceInitiator: nonceI, nonceResponder: nonceR)
        guard let keys = s.installKeys(IKEKeyDerivation.ikeSAKeys(prf: prf, skeyseed: seed, nonceInitiator: nonceI, nonceResponder: nonceR,
                                                                  initiatorSPI: initiatorSPI, responderSPI: responderSPI,
                                                                  encryption: chosen.encryption, integrity: chosen.integrity),
                                       algorithms: chosen, &out) else { return nil }
        context.touch(s)
        s.localNAT = localNAT; s.remoteNAT = remoteNAT
        s.fragmentationSupported = fragmentationSupported
        s.localIdentity = localIdentity; s.remoteIdentity = remoteIdentity; s.eapIdentity = eapIdentity
        s.phase = .established(EstablishedPhase(keys: keys))
        s.establishedAt = now
        s.scheduleIKELifetimes(now: now)
        if s.localNAT { s.keepaliveAt = now + Double(context.configuration.natKeepalive) }
        s.lastInbound = now
        context.report(.successor(s), now: now, &out)
        return s
    }

    /// Replaced by a new IKE SA: keeps its keys for the delete exchange.
    func becomeRekeyed() {
        if let e = phase.established { phase = .rekeyed(e) }
    }

    /// Hands the CHILD SAs, and the virtual IPs they use, to the IKE SA that replaces this one.
    func moveChildren(to other: IKESession) {
        other.children += children
        for (k, v) in pendingOutbound { other.pendingOutbound[k] = v }
        children = []
        pendingOutbound = [:]
        other.localVirtualIPs += localVirtualIPs.filter { !other.localVirtualIPs.contains($0) }
        other.remoteLeases += remoteLeases.filter { !other.remoteLeases.contains($0) }
        if other.receivedDNS.isEmpty { other.receivedDNS = receivedDNS }
        localVirtualIPs = []
        remoteLeases = []
    }

}
