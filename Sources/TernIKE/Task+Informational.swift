import TernCrypto
import TernDataPlane
import TernWire

// INFORMATIONAL (RFC 7296 §1.4): deleting CHILD SAs and the IKE SA, liveness checks (DPD: an
// empty request, sent by startNextRequest), and the peer's deletes and notifies.
//
//   build:   startDeleteChild, startDeleteIKE, .dpd      process: processDeleteChildrenResponse,
//            (the response to a delete of the IKE SA or a DPD needs nothing)   processInformationalRequest

extension IKESession {
    // MARK: Deleting CHILD SAs

    func startDeleteChild(inboundSPI: UInt32, reason: String, now: MonotonicInstant, _ out: inout [IKEAction]) {
        guard let c = children.first(where: { $0.inboundSPI == inboundSPI }) else { return }
        if c.state != .rekeyed { c.state = .deleting }
        log(.info, "deleting CHILD_SA \(c.policy.name){\(c.uniqueID)}: \(reason)", &out)
        let payload = IKEPayload.delete(IKEDelete(protocolID: IKEProtocolID.esp.rawValue,
                                                  spis: [withUnsafeBytes(of: inboundSPI.bigEndian) { Array($0) }]))
        sendRequest(.informational, payloads: [payload], context: .deleteChildren([inboundSPI]), now: now, &out)
    }

    func processDeleteChildrenResponse(_ payloads: [IKEPayload], spis: [UInt32], now: MonotonicInstant, _ out: inout [IKEAction]) {
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
    func retire(_ c: ChildSA, reason: String, now: MonotonicInstant, _ out: inout [IKEAction]) {
        pendingOutbound[c.inboundSPI] = nil
        removeChildSAs(c, &out)
        children.removeAll { $0 === c }
        context.releaseChildSPI(c.inboundSPI)
        dropPoliciesIfUnused(reqid: c.reqid, &out)
        out.append(.event(.childDeleted(info(now: now), c.info(now: now), reason: reason)))
    }

    // MARK: Deleting the IKE SA

    func startDeleteIKE(reason: String, now: MonotonicInstant, _ out: inout [IKEAction]) {
        guard state != .dead else { return }
        switch phase {
        case .established(let e), .rekeying(let e): phase = .deleting(e)
        default: break   // rekeyed stays rekeyed; nothing earlier queues a delete
        }
        log(.info, "deleting IKE_SA: \(reason)", &out)
        sendRequest(.informational, payloads: [.delete(IKEDelete(protocolID: IKEProtocolID.ike.rawValue, spis: []))],
                    context: .deleteIKE, now: now, &out)
    }

    // MARK: Peer requests

    func processInformationalRequest(_ payloads: [IKEPayload], messageID: UInt32, now: MonotonicInstant, _ out: inout [IKEAction]) {
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
            if !closing.isEmpty { context.report(.initiate(.init(connection: policy.name, children: closing, attempt: 1)), now: now, &out) }
            return
        }
        if !ourSPIs.isEmpty { response.append(.delete(IKEDelete(protocolID: IKEProtocolID.esp.rawValue, spis: ourSPIs))) }
        sendResponse(.informational, messageID: messageID, payloads: response, &out)
    }

    private func peerDeletedChild(_ c: ChildSA, now: MonotonicInstant, _ out: inout [IKEAction]) {
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
        if last && c.policy.closeAction == .trap && !context.isTrap(reqid: c.reqid) {
            context.report(.installTrap(policy, c.policy, reqid: c.reqid), now: now, &out)
        }
        retire(c, reason: "deleted by peer", now: now, &out)
        if last && c.policy.closeAction == .start {
            window.queue.append(.createChild(c.policy.name))
        }
    }

}
