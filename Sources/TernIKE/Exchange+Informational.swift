import TernCrypto
import TernDataPlane
import TernWire

// INFORMATIONAL (RFC 7296 §1.4): deletes, liveness checks; IKE SA rekeying (§1.3.2, §2.18);
// and the end of an IKE SA's life (failure, dead peer, delete, reauthentication).

extension IKESession {
    // MARK: Deleting CHILD SAs

    func startDeleteChild(inboundSPI: UInt32, reason: String, now: Double, _ out: inout [IKEAction]) {
        guard let c = children.first(where: { $0.inboundSPI == inboundSPI }) else { return }
        if c.state != .rekeyed { c.state = .deleting }
        log(.info, "deleting CHILD_SA \(c.policy.name){\(c.uniqueID)}: \(reason)", &out)
        let payload = IKEPayload.delete(IKEDelete(protocolID: IKEProtocolID.esp.rawValue,
                                                  spis: [withUnsafeBytes(of: inboundSPI.bigEndian) { Array($0) }]))
        sendRequest(.informational, payloads: [payload], context: .deleteChildren([inboundSPI]), now: now, &out)
    }

    func processDeleteChildrenResponse(_ payloads: [IKEPayload], spis: [UInt32], now: Double, _ out: inout [IKEAction]) {
        for spi in spis {
            guard let c = children.first(where: { $0.inboundSPI == spi }) else { continue }
            if c.state == .rekeyed {
                // Packets the peer sent on the old SA just before the delete may still be in flight.
                c.removeAt = now + Self.oldSAGrace
            } else {
                retire(c, reason: "deleted", now: now, &out)
            }
        }
    }

    /// Seconds an old inbound SA stays after a rekey, for packets in flight.
    static let oldSAGrace = 2.0

    /// Removes a CHILD SA and, when nothing else uses them, its policies.
    func retire(_ c: ChildSA, reason: String, now: Double, _ out: inout [IKEAction]) {
        pendingOutbound[c.inboundSPI] = nil
        removeChildSAs(c, &out)
        children.removeAll { $0 === c }
        endpoint.releaseChildSPI(c.inboundSPI)
        dropPoliciesIfUnused(reqid: c.reqid, &out)
        out.append(.event(.childDeleted(info(now: now), c.info(now: now), reason: reason)))
    }

    // MARK: Deleting the IKE SA

    func startDeleteIKE(reason: String, now: Double, _ out: inout [IKEAction]) {
        guard state != .dead else { return }
        switch phase {
        case .established(let e), .rekeying(let e): phase = .deleting(e)
        default: break   // rekeyed stays rekeyed; nothing earlier queues a delete
        }
        log(.info, "deleting IKE_SA: \(reason)", &out)
        sendRequest(.informational, payloads: [.delete(IKEDelete(protocolID: IKEProtocolID.ike.rawValue, spis: []))],
                    context: .deleteIKE, now: now, &out)
    }

    /// Ends this IKE SA: removes its CHILD SAs and policies and tells the endpoint.
    func destroy(reason: String, now: Double, _ out: inout [IKEAction], notifyPeer: Bool) {
        guard state != .dead else { return }
        if notifyPeer, phase.keys != nil {
            // Best effort, no retransmission: the SA is going away now.
            let id = window.takeRequestID()
            for d in protect(exchange: .informational, payloads: [.delete(IKEDelete(protocolID: IKEProtocolID.ike.rawValue, spis: []))],
                             messageID: id, isResponse: false) {
                out.append(.send(datagram: d, from: local, to: remote))
            }
        }
        let wasEstablished = establishedAt != nil && state != .rekeyed
        for c in children { retire(c, reason: reason, now: now, &out) }
        phase = .dead(phase.algorithms)
        window.close()
        if wasEstablished { out.append(.event(.ikeDeleted(info(now: now), reason: reason))) }
        endpoint.remove(self)
    }

    /// Establishment failed: report, retry per keyingtries, and go away.
    func fail(reason: String, now: Double, _ out: inout [IKEAction]) {
        out.append(.event(.ikeFailed(connection: policy.name, reason: reason)))
        log(.warning, "establishing IKE_SA failed: \(reason)", &out)
        let retry = isInitiator && (policy.keyingTries == 0 || UInt32(attempt) < policy.keyingTries)
        let names = pendingChildren + children.map(\.policy.name)
        destroy(reason: reason, now: now, &out, notifyPeer: false)
        if !retry { endpoint.acquiresFailed(connection: policy.name, children: names, &out) }
        if retry {
            endpoint.initiate(.init(connection: policy.name, children: names, attempt: attempt + 1), now: now, &out)
        }
    }

    /// The peer stopped answering (retransmits or dpd_timeout exhausted): dpd_action per CHILD SA.
    func peerDead(reason: String, now: Double, _ out: inout [IKEAction]) {
        if state == .connecting && establishedAt == nil {
            fail(reason: reason, now: now, &out)
            return
        }
        if state == .deleting || state == .rekeyed {
            destroy(reason: reason, now: now, &out, notifyPeer: false)
            return
        }
        log(.warning, "peer \(remote) is dead: \(reason)", &out)
        // A rekeyed CHILD SA waits for its delete beside its successor: restart each child once.
        var restart: [String] = []
        for c in children where c.policy.dpdAction == .restart && !restart.contains(c.policy.name) {
            restart.append(c.policy.name)
        }
        let trap = children.filter { $0.policy.dpdAction == .trap }.map { ($0.policy, $0.reqid) }
        destroy(reason: "peer dead: \(reason)", now: now, &out, notifyPeer: false)
        for (child, reqid) in trap where endpoint.trapReqid(connection: policy.name, child: child.name) == nil || endpoint.isTrap(reqid: reqid) {
            log(.info, "dpd_action = trap: trap policy for \(child.name) stays", &out)
            endpoint.installTrap(connection: policy, child: child, reqid: reqid, now: now, &out)
        }
        if !restart.isEmpty {
            log(.info, "dpd_action = restart: re-initiating \(restart.joined(separator: ", "))", &out)
            endpoint.initiate(.init(connection: policy.name, children: restart, attempt: 1), now: now, &out)
        }
    }

    /// Reauthentication (reauth_time): a new IKE SA with the same CHILD SAs, then delete this one.
    func reauthenticate(now: Double, _ out: inout [IKEAction]) {
        let names = children.filter { $0.state == .installed }.map(\.policy.name)
        log(.info, "reauthenticating", &out)
        endpoint.initiate(.init(connection: policy.name, children: names, attempt: 1, replaces: localSPI), now: now, &out)
    }

    // MARK: Peer requests

    func processInformationalRequest(_ payloads: [IKEPayload], messageID: UInt32, now: Double, _ out: inout [IKEAction]) {
        var response: [IKEPayload] = []
        var deleteIKE = false
        var ourSPIs: [[UInt8]] = []
        for p in payloads {
            switch p {
            case .delete(let d) where d.protocolID == IKEProtocolID.ike.rawValue:
                deleteIKE = true
            case .delete(let d) where d.protocolID == IKEProtocolID.esp.rawValue || d.protocolID == IKEProtocolID.ah.rawValue:
                for raw in d.spis where raw.count == 4 {
                    let spi = raw.reduce(0) { $0 << 8 | UInt32($1) }
                    guard let c = children.first(where: { $0.outboundSPI == spi }) else { continue }
                    ourSPIs.append(withUnsafeBytes(of: c.inboundSPI.bigEndian) { Array($0) })
                    peerDeletedChild(c, now: now, &out)
                }
            case .notify(let n) where n.type == .authenticationFailed:
                log(.warning, "peer refused our authentication (AUTHENTICATION_FAILED); deleting the IKE_SA", &out)
                deleteIKE = true
            default: break
            }
        }
        if deleteIKE {
            sendResponse(.informational, messageID: messageID, payloads: [], &out)
            let closing = children.filter { $0.policy.closeAction == .start }.map(\.policy.name)
            destroy(reason: state == .rekeyed ? "rekeyed" : "deleted by peer", now: now, &out, notifyPeer: false)
            if !closing.isEmpty { endpoint.initiate(.init(connection: policy.name, children: closing, attempt: 1), now: now, &out) }
            return
        }
        if !ourSPIs.isEmpty { response.append(.delete(IKEDelete(protocolID: IKEProtocolID.esp.rawValue, spis: ourSPIs))) }
        sendResponse(.informational, messageID: messageID, payloads: response, &out)
    }

    private func peerDeletedChild(_ c: ChildSA, now: Double, _ out: inout [IKEAction]) {
        if c.state == .rekeyed {
            // The rekey initiator deleted the old SA: switch outbound to the new one, keep the
            // old inbound a moment for packets in flight.
            for n in children where n.reqid == c.reqid && pendingOutbound[n.inboundSPI] != nil {
                finishResponderRekey(n, now: now, &out)
            }
            if c.outboundInstalled { out.append(.removeSA(c.outboundSA.key)); c.outboundInstalled = false }
            c.removeAt = now + Self.oldSAGrace
            return
        }
        // A successor that waited for this delete (collision losers delete their own new SA).
        let last = !children.contains { $0 !== c && $0.reqid == c.reqid }
        if last && c.policy.closeAction == .trap && !endpoint.isTrap(reqid: c.reqid) {
            endpoint.installTrap(connection: policy, child: c.policy, reqid: c.reqid, now: now, &out)
        }
        retire(c, reason: "deleted by peer", now: now, &out)
        if last && c.policy.closeAction == .start {
            window.queue.append(.createChild(c.policy.name))
        }
    }

    // MARK: IKE SA rekeying

    func startRekeyIKE(now: Double, _ out: inout [IKEAction]) {
        guard case .established(let current) = phase else { return }
        let group = current.keys.keyExchange
        let ke: KeyExchange
        do { ke = try KeyExchange(group: group, rng: &endpoint.random) } catch { return }
        let spi = endpoint.allocateIKESPI()
        let nonce = endpoint.random.bytes(32)
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

    func processRekeyIKEResponse(_ payloads: [IKEPayload], request: IKERekeyRequest, keys: IKESAKeying, now: Double, _ out: inout [IKEAction]) {
        let offer = ChildOffer(payloads)
        func retryLater(_ why: String) {
            log(.info, "IKE_SA rekey failed (\(why)); retrying later", &out)
            if case .rekeying(let e) = phase { phase = .established(e) }
            rekeyAt = now + 10 + endpoint.random.jitter(10)
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
        guard let new = endpoint.rekeyedSession(from: self, keys: keys, isInitiator: true, initiatorSPI: request.newSPI, responderSPI: peerSPI,
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

    func respondToRekeyIKE(_ offer: ChildOffer, nonceI: [UInt8], messageID: UInt32, keys: IKESAKeying, now: Double, _ out: inout [IKEAction]) {
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
        guard let ke = try? KeyExchange(group: g, rng: &endpoint.random), let shared = try? ke.sharedSecret(peerPublicValue: data) else {
            respond([.notify(IKENotify(type: .invalidSyntax))])
            return
        }
        let spi = endpoint.allocateIKESPI()
        let nr = endpoint.random.bytes(32)
        let peerSPI = p.spi.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        respond([.securityAssociation([chosen.wireProposal(number: p.number, protocolID: .ike, spi: spi.bigEndianBytes)]),
                 .nonce(nr), .keyExchange(group: group, data: ke.publicValue)])
        // chosen has a PRF and a group (checked above): rekeyedSession cannot refuse it.
        guard let new = endpoint.rekeyedSession(from: self, keys: keys, isInitiator: false, initiatorSPI: peerSPI, responderSPI: spi,
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

    /// Replaced by a new IKE SA: keeps its keys for the delete exchange.
    func becomeRekeyed() {
        if let e = phase.established { phase = .rekeyed(e) }
    }

    func moveChildren(to other: IKESession) {
        other.children += children
        for (k, v) in pendingOutbound { other.pendingOutbound[k] = v }
        children = []
        pendingOutbound = [:]
    }

    // MARK: NAT mapping changes

    /// The peer's address or port changed behind a NAT (RFC 7296 §2.23): follow it, and move the
    /// ESP SAs with it so traffic continues without renegotiation.
    func peerMoved(to new: SocketAddress, now: Double, _ out: inout [IKEAction]) {
        let old = remote
        remote = new
        for c in children {
            let oldOut = c.outboundSA.key, oldIn = c.inboundSA.key
            c.outboundSA.destination = new.address
            c.inboundSA.source = new.address
            if case .udp(let sp, _) = c.outboundSA.encapsulation { c.outboundSA.encapsulation = .udp(sourcePort: sp, destinationPort: new.port) }
            if case .udp(_, let dp) = c.inboundSA.encapsulation { c.inboundSA.encapsulation = .udp(sourcePort: new.port, destinationPort: dp) }
            out.append(.updateSA(old: oldIn, new: c.inboundSA))
            if c.outboundInstalled { out.append(.updateSA(old: oldOut, new: c.outboundSA)) }
        }
        for c in children where c.mode == .tunnel && c.state == .installed {
            out.append(.installPolicies(reqid: c.reqid, policies(for: c)))
        }
        out.append(.event(.peerAddressChanged(info(now: now), from: old, to: new)))
    }
}
