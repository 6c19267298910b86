import TernCrypto
import TernDataPlane
import TernWire

// The end of an IKE SA's life (failure, dead peer, delete, reauthentication) and the peer's
// address changes behind a NAT.

extension IKESession {
    /// Ends this IKE SA: removes its CHILD SAs and policies and tells the context.
    func destroy(reason: String, now: MonotonicInstant, _ out: inout [IKEAction], notifyPeer: Bool) {
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
        releaseVirtualIPs(&out)
        phase = .dead(phase.algorithms)
        window.close()
        if wasEstablished { out.append(.event(.ikeDeleted(info(now: now), reason: reason))) }
        context.report(.removed(self), now: now, &out)
    }

    /// Establishment failed: report, retry per keyingtries, and go away.
    func fail(reason: String, now: MonotonicInstant, _ out: inout [IKEAction]) {
        out.append(.event(.ikeFailed(connection: policy.name, reason: reason)))
        log(.warning, "establishing IKE_SA failed: \(reason)", &out)
        let retry = isInitiator && (policy.keyingTries == 0 || UInt32(attempt) < policy.keyingTries)
        let names = pendingChildren + children.map(\.policy.name)
        destroy(reason: reason, now: now, &out, notifyPeer: false)
        if !retry { context.report(.acquiresFailed(connection: policy.name, children: names), now: now, &out) }
        if retry {
            context.report(.initiate(.init(connection: policy.name, children: names, attempt: attempt + 1)), now: now, &out)
        }
    }

    /// The peer stopped answering (retransmits or dpd_timeout exhausted): dpd_action per CHILD SA.
    func peerDead(reason: String, now: MonotonicInstant, _ out: inout [IKEAction]) {
        if state == .connecting && establishedAt == nil {
            fail(reason: reason, now: now, &out)
            return
        }
        if state == .deleting || state == .rekeyed {
            destroy(reason: reason, now: now, &out, notifyPeer: false)
            return
        }
        log(.warning, "peer \(remote) is dead: \(reason)", &out)
        out.append(.event(.peerDead(info(now: now), reason: reason)))
        // A rekeyed CHILD SA waits for its delete beside its successor: restart each child once.
        var restart: [String] = []
        for c in children where c.policy.dpdAction == .restart && !restart.contains(c.policy.name) {
            restart.append(c.policy.name)
        }
        let trap = children.filter { $0.policy.dpdAction == .trap }.map { ($0.policy, $0.reqid) }
        destroy(reason: "peer dead: \(reason)", now: now, &out, notifyPeer: false)
        for (child, reqid) in trap where context.trapReqid(connection: policy.name, child: child.name) == nil || context.isTrap(reqid: reqid) {
            log(.info, "dpd_action = trap: trap policy for \(child.name) stays", &out)
            context.report(.installTrap(policy, child, reqid: reqid), now: now, &out)
        }
        if !restart.isEmpty {
            log(.info, "dpd_action = restart: re-initiating \(restart.joined(separator: ", "))", &out)
            context.report(.initiate(.init(connection: policy.name, children: restart, attempt: 1)), now: now, &out)
        }
    }

    /// Reauthentication (reauth_time): a new IKE SA with the same CHILD SAs, then delete this one.
    func reauthenticate(now: MonotonicInstant, _ out: inout [IKEAction]) {
        let names = children.filter { $0.state == .installed }.map(\.policy.name)
        log(.info, "reauthenticating", &out)
        context.report(.initiate(.init(connection: policy.name, children: names, attempt: 1, replaces: localSPI)), now: now, &out)
    }

    // MARK: NAT mapping changes

    /// The peer's address or port changed behind a NAT (RFC 7296 §2.23): follow it, and move the
    /// ESP SAs with it so traffic continues without renegotiation.
    func peerMoved(to new: SocketAddress, now: MonotonicInstant, _ out: inout [IKEAction]) {
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
