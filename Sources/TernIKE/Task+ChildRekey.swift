import TernCrypto
import TernDataPlane
import TernWire

// Rekeying a CHILD SA with CREATE_CHILD_SA (RFC 7296 §1.3.3, §2.8): make-before-break, the
// responder's outbound SA waiting for the initiator's delete of the old one, and the
// collision of two simultaneous rekeys (§2.8.1), decided by the lowest of the four nonces.
//
//   build: startRekeyChild (makeChildRequest with REKEY_SA)
//   process: completeChildRekey (initiator), childToRekey / peerRekeyedChild (responder)

extension IKESession {
    func startRekeyChild(inboundSPI: UInt32, now: MonotonicInstant, _ out: inout [IKEAction]) {
        guard let old = children.first(where: { $0.inboundSPI == inboundSPI }), old.state == .rekeying || old.state == .installed else { return }
        old.state = .rekeying
        let pfs = old.algorithms.keyExchange != nil || !(old.policy.proposals.first?.keyExchange.isEmpty ?? true)
        do throws(ChildRequestError) {
            let (req, payloads) = try makeChildRequest(old.policy, rekeying: old, pfs: pfs)
            log(.info, "rekeying CHILD_SA \(old.policy.name){\(old.uniqueID)}", &out)
            sendRequest(.createChildSA, payloads: payloads, context: .createChild(req), now: now, &out)
        } catch {
            // The old SA keeps carrying traffic until its hard lifetime; the rekey is not retried blindly.
            log(.error, "cannot rekey CHILD_SA \(old.policy.name){\(old.uniqueID)}: \(error.reason)", &out)
            old.state = .installed
        }
    }

    /// Our rekey of `old` was answered with `child`: switch to it, or, if the peer's rekey of
    /// the same SA crossed ours and won, close ours.
    func completeChildRekey(_ child: ChildSA, replacing old: ChildSA, nonceI: [UInt8], nonceR: [UInt8], now: MonotonicInstant,
                            _ out: inout [IKEAction]) {
        // A rekey we started. If the peer rekeyed the same SA at the same time (§2.8.1), the
        // SA created with the lowest of the four nonces is closed by whoever created it.
        if let collision = old.peerRekey {
            let ours = min(lexicographic: nonceI, nonceR)
            let theirs = min(lexicographic: collision.nonceI, collision.nonceR)
            if ours.lexicographicallyPrecedes(theirs) {
                // We lost: keep sending on the old SA until the winner deletes it (then the
                // peer's new SA takes over, see peerDeletedChild), and close ours.
                log(.info, "CHILD_SA rekey collision: ours {\(child.uniqueID)} is redundant, deleting it", &out)
                installChild(child, withOutbound: false, &out)
                child.state = .deleting
                old.state = .rekeyed
                enqueue(.deleteChild(child.inboundSPI, reason: "rekey collision"), now: now, &out)
                return
            }
            log(.info, "CHILD_SA rekey collision: keeping ours {\(child.uniqueID)}, peer deletes {\(collision.child.uniqueID)}", &out)
        }
        installChild(child, withOutbound: true, &out)
        old.state = .rekeyed
        out.append(.event(.childRekeyed(info(now: now), old: old.info(now: now), new: child.info(now: now))))
        // Outbound switched to the new SA already (newest SA of the reqid wins); stop using the old.
        if old.outboundInstalled { out.append(.removeSA(old.outboundSA.key)); old.outboundInstalled = false }
        enqueue(.deleteChild(old.inboundSPI, reason: "rekeyed"), now: now, &out)
    }

    struct RekeyRefusal: Error { let notify: IKENotify }

    /// The CHILD SA a peer's REKEY_SA names (by the SPI it sends to), or the notify refusing it.
    func childToRekey(outboundSPI spi: UInt32) -> Result<ChildSA, RekeyRefusal> {
        guard let c = children.first(where: { $0.outboundSPI == spi }), c.state != .deleting else {
            return .failure(RekeyRefusal(notify: IKENotify(type: .childSANotFound, protocolID: IKEProtocolID.esp.rawValue,
                                                           spi: withUnsafeBytes(of: spi.bigEndian) { Array($0) })))
        }
        if c.state == .rekeyed { return .failure(RekeyRefusal(notify: IKENotify(type: .temporaryFailure))) }
        return .success(c)
    }

    /// We answered the peer's rekey of `old` with `child`. If our own rekey of it is in flight,
    /// the collision is decided when our response arrives.
    func peerRekeyedChild(_ old: ChildSA, new child: ChildSA, nonceI ni: [UInt8], nonceR nr: [UInt8], now: MonotonicInstant,
                          _ out: inout [IKEAction]) {
        if old.state == .rekeying, case .createChild(let mine)? = window.outstanding?.exchange, mine.rekeying == old.inboundSPI {
            old.peerRekey = PeerRekey(child: child, nonceI: ni, nonceR: nr)   // collision: decided when our response arrives
        } else {
            old.state = .rekeyed
        }
        out.append(.event(.childRekeyed(info(now: now), old: old.info(now: now), new: child.info(now: now))))
    }

    /// The responder of a rekey starts sending on the new SA (the initiator deleted the old one,
    /// or it waited long enough).
    func finishResponderRekey(_ child: ChildSA, now: MonotonicInstant, _ out: inout [IKEAction]) {
        pendingOutbound[child.inboundSPI] = nil
        if !child.outboundInstalled {
            out.append(.installSA(child.outboundSA))
            child.outboundInstalled = true
        }
    }
}

/// The peer's rekey of one of our CHILD SAs that crossed ours.
struct PeerRekey {
    let child: ChildSA
    let nonceI: [UInt8]
    let nonceR: [UInt8]
}

func min(lexicographic a: [UInt8], _ b: [UInt8]) -> [UInt8] { a.lexicographicallyPrecedes(b) ? a : b }
