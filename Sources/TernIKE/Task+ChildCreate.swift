import TernCrypto
import TernDataPlane
import TernWire

// CHILD SA negotiation shared by IKE_AUTH and CREATE_CHILD_SA (RFC 7296 §1.3.1, §1.3.3, §2.9),
// and CREATE_CHILD_SA for a new CHILD SA. Rekeying one is Task+ChildRekey.swift.
//
//   build: makeChildRequest, startCreateChild      process: completeChild (initiator),
//                                                   respondToChild / processCreateChildRequest (responder)

extension IKESession {
    /// Builds the SA/TS payloads (and Ni/KEi for CREATE_CHILD_SA) proposing a CHILD SA.
    /// Without `pfs` it cannot fail; with it, a key exchange that cannot be made is an error
    /// (the request would otherwise go out without KE and silently lose PFS).
    func makeChildRequest(_ cp: ChildPolicy, rekeying old: ChildSA?, pfs: Bool) throws(ChildRequestError) -> (ChildRequest, [IKEPayload]) {
        var ke: KeyExchange?
        if pfs, let g = cp.proposals.first?.keyExchange.first {
            do { ke = try KeyExchange(group: g, rng: &context.random) } catch {
                throw ChildRequestError(reason: "cannot start the \(g.strongSwanName) key exchange for PFS: \(error)")
            }
        }
        let spi = context.allocateChildSPI()
        let spiBytes = withUnsafeBytes(of: spi.bigEndian) { Array($0) }
        let localTS = old?.localTS ?? localSelectors(cp)
        let remoteTS = old?.remoteTS ?? remoteSelectors(cp)
        let nonce = pfs || old != nil || state != .connecting ? context.random.bytes(32) : []
        var payloads: [IKEPayload] = []
        if let old {
            payloads.append(.notify(IKENotify(type: .rekeySA, protocolID: IKEProtocolID.esp.rawValue,
                                              spi: withUnsafeBytes(of: old.inboundSPI.bigEndian) { Array($0) })))
        }
        if cp.mode == .transport { payloads.append(.notify(IKENotify(type: .useTransportMode))) }
        payloads.append(.securityAssociation(ProposalSelection.wireProposals(cp.proposals, protocolID: .esp, spi: spiBytes,
                                                                            includeKeyExchange: ke != nil)))
        if !nonce.isEmpty { payloads.append(.nonce(nonce)) }
        if let ke { payloads.append(.keyExchange(group: ke.group.rawValue, data: ke.publicValue)) }
        payloads.append(.trafficSelectorInitiator(localTS))
        payloads.append(.trafficSelectorResponder(remoteTS))
        let req = ChildRequest(policy: cp, inboundSPI: spi, nonce: nonce, keyExchange: ke, localTS: localTS, remoteTS: remoteTS,
                               rekeying: old?.inboundSPI,
                               reqid: old?.reqid ?? context.trapReqid(connection: policy.name, child: cp.name) ?? context.allocateReqid())
        return (req, payloads)
    }

    struct ChildOffer {
        var proposals: [IKEProposal] = []
        var tsi: [IKETrafficSelector] = []
        var tsr: [IKETrafficSelector] = []
        var transport = false
        var nonce: [UInt8]?
        var ke: (UInt16, [UInt8])?
        var rekeySPI: UInt32?
        var errors: [IKENotify] = []
        init(_ payloads: [IKEPayload]) {
            for p in payloads {
                switch p {
                case .securityAssociation(let ps): proposals = ps
                case .trafficSelectorInitiator(let t): tsi = t
                case .trafficSelectorResponder(let t): tsr = t
                case .nonce(let n): nonce = n
                case .keyExchange(let g, let d): ke = (g, d)
                case .notify(let n):
                    if n.type == .useTransportMode { transport = true }
                    if n.type == .rekeySA, n.spi.count == 4 {
                        rekeySPI = n.spi.reduce(0) { $0 << 8 | UInt32($1) }
                    }
                    if n.type.isError { errors.append(n) }
                default: break
                }
            }
        }
    }

    enum ChildResponse {
        case created(ChildSA, [IKEPayload])
        case refused(IKENotifyType, data: [UInt8], reason: String)
    }

    /// Responder side: picks a child config, narrows selectors, selects a proposal and derives keys.
    func respondToChild(_ payloads: [IKEPayload], ikeAuth: Bool, nonceI: [UInt8], nonceR: [UInt8], sharedSecret: [UInt8]?,
                        rekeying old: ChildSA? = nil, keys: IKESAKeying, now: MonotonicInstant, _ out: inout [IKEAction]) -> (payloads: [IKEPayload], child: ChildSA?) {
        let offer = ChildOffer(payloads)
        switch negotiateChild(offer, ikeAuth: ikeAuth, nonceI: nonceI, nonceR: nonceR, rekeying: old, keys: keys, now: now) {
        case .refused(let type, let data, let reason):
            log(.warning, "refusing CHILD_SA: \(reason)", &out)
            out.append(.event(.childFailed(connection: policy.name, child: old?.policy.name ?? "", reason: reason)))
            return ([.notify(IKENotify(type: type, data: data))], nil)
        case .created(let child, let response):
            children.append(child)
            // New CHILD SAs: inbound, then outbound, then policies. A rekey's outbound waits for
            // the initiator's delete of the old SA (it may not have installed its inbound yet).
            installChild(child, withOutbound: old == nil, &out)
            if old == nil {
                out.append(.installPolicies(reqid: child.reqid, policies(for: child)))
                announceChild(child, now: now, &out)
                if !ikeAuth { out.append(.event(.childEstablished(info(now: now), child.info(now: now)))) }
            } else {
                // If the initiator never deletes the old SA, start sending on the new one anyway.
                child.removeAt = nil
                pendingOutbound[child.inboundSPI] = now + 10
            }
            return (response, child)
        }
    }

    private func negotiateChild(_ offer: ChildOffer, ikeAuth: Bool, nonceI: [UInt8], nonceR: [UInt8],
                                rekeying old: ChildSA?, keys: IKESAKeying, now: MonotonicInstant) -> ChildResponse {
        guard !offer.proposals.isEmpty, !offer.tsi.isEmpty, !offer.tsr.isEmpty else {
            return .refused(.invalidSyntax, data: [], reason: "CHILD_SA request lacks SA or TS payloads")
        }
        let candidates: [ChildPolicy] = old.map { [$0.policy] } ?? policy.children
        var tsMatched = false
        for cp in candidates {
            // TSi are the initiator's (our remote) selectors, TSr ours.
            let ourRemote = old?.remoteTS ?? remoteSelectors(cp)
            let ourLocal = old?.localTS ?? localSelectors(cp)
            let tsi = narrow(proposed: offer.tsi, configured: ourRemote)
            let tsr = narrow(proposed: offer.tsr, configured: ourLocal)
            guard !tsi.isEmpty, !tsr.isEmpty else { continue }
            tsMatched = true
            guard let (peerProposal, chosen) = ProposalSelection.select(ours: cp.proposals, theirs: offer.proposals, protocolID: .esp,
                                                                        requireKeyExchange: ikeAuth ? nil : false),
                  peerProposal.spi.count == 4 else { continue }
            var shared: [UInt8]?
            var responseKE: [IKEPayload] = []
            if let g = chosen.keyExchange {
                guard let (group, data) = offer.ke, group == g.rawValue else {
                    return .refused(.invalidKEPayload, data: [UInt8(g.rawValue >> 8), UInt8(g.rawValue & 0xFF)],
                                    reason: "peer's KE does not match \(g.strongSwanName)")
                }
                do {
                    let ke = try KeyExchange(group: g, rng: &context.random)
                    shared = try ke.sharedSecret(peerPublicValue: data)
                    responseKE = [.keyExchange(group: group, data: ke.publicValue)]
                } catch {
                    return .refused(.invalidSyntax, data: [], reason: "invalid KE value: \(error)")
                }
            }
            let mode: IPSecMode = offer.transport && cp.mode == .transport ? .transport : .tunnel
            if cp.mode == .transport && !offer.transport {
                return .refused(.noProposalChosen, data: [], reason: "child \(cp.name) requires transport mode, peer asked for tunnel")
            }
            let outboundSPI = peerProposal.spi.reduce(0) { $0 << 8 | UInt32($1) }
            let inboundSPI = context.allocateChildSPI()
            let reqid = old?.reqid ?? context.trapReqid(connection: policy.name, child: cp.name) ?? context.allocateReqid()
            let keymat = IKEKeyDerivation.childKeyMaterial(prf: keys.prf, skD: keys.skD, sharedSecret: shared,
                                                           nonceInitiator: nonceI, nonceResponder: nonceR,
                                                           length: ChildSA.keyMaterialLength(chosen))
            let child = makeChild(cp, algorithms: chosen, keymat: keymat, asInitiator: false, inboundSPI: inboundSPI,
                                  outboundSPI: outboundSPI, mode: mode, localTS: tsr, remoteTS: tsi, reqid: reqid, now: now)
            var response: [IKEPayload] = []
            if mode == .transport { response.append(.notify(IKENotify(type: .useTransportMode))) }
            response.append(.securityAssociation([chosen.wireProposal(number: peerProposal.number, protocolID: .esp,
                                                                      spi: withUnsafeBytes(of: inboundSPI.bigEndian) { Array($0) })]))
            if !ikeAuth { response.append(.nonce(nonceR)) }
            response += responseKE
            response.append(.trafficSelectorInitiator(tsi))
            response.append(.trafficSelectorResponder(tsr))
            return .created(child, response)
        }
        if !tsMatched {
            return .refused(.tsUnacceptable, data: [],
                            reason: "traffic selectors \(offer.tsi.map(\.strongSwanText)) === \(offer.tsr.map(\.strongSwanText)) unacceptable")
        }
        return .refused(.noProposalChosen, data: [], reason: "no acceptable ESP proposal")
    }

    func makeChild(_ cp: ChildPolicy, algorithms chosen: NegotiatedAlgorithms, keymat: [UInt8], asInitiator: Bool,
                   inboundSPI: UInt32, outboundSPI: UInt32, mode: IPSecMode, localTS: [IKETrafficSelector],
                   remoteTS: [IKETrafficSelector], reqid: UInt32, now: MonotonicInstant) -> ChildSA {
        let (inSA, outSA) = ChildSA.securityAssociations(keymat: keymat, algorithms: chosen, isInitiator: asInitiator,
                                                         inboundSPI: inboundSPI, outboundSPI: outboundSPI, local: local, remote: remote,
                                                         encapsulate: natDetected, mode: mode, reqid: reqid,
                                                         replayWindow: cp.replayWindow, policy: cp)
        let jitter = context.random.jitter(cp.randTime)
        let rekeyAt = cp.rekeyTime > 0 ? now + max(1, Double(cp.rekeyTime) - jitter) : .never
        let expireAt = cp.lifeTime > 0 ? now + Double(max(cp.lifeTime, cp.rekeyTime + 1)) : .never
        let c = ChildSA(uniqueID: context.allocateUniqueID(), policy: cp, reqid: reqid, inboundSPI: inboundSPI, outboundSPI: outboundSPI,
                        algorithms: chosen, mode: mode, localTS: localTS, remoteTS: remoteTS, inboundSA: inSA, outboundSA: outSA,
                        now: now, rekeyAt: rekeyAt, expireAt: expireAt)
        if cp.rekeyBytes > 0 { c.rekeyAtBytes = cp.rekeyBytes - min(cp.rekeyBytes - 1, context.random.next() % (cp.randBytes + 1)) }
        if cp.rekeyPackets > 0 { c.rekeyAtPackets = cp.rekeyPackets - min(cp.rekeyPackets - 1, context.random.next() % (cp.randPackets + 1)) }
        return c
    }

    /// Initiator side: checks the response and installs the CHILD SA.
    func completeChild(request: ChildRequest, payloads: [IKEPayload], nonceI: [UInt8], nonceR: [UInt8], sharedSecret: [UInt8]?,
                       keys: IKESAKeying, now: MonotonicInstant, _ out: inout [IKEAction]) {
        let offer = ChildOffer(payloads)
        let old = request.rekeying.flatMap { spi in children.first { $0.inboundSPI == spi } }
        func failChild(_ reason: String, retry: Bool = false) {
            context.releaseChildSPI(request.inboundSPI)
            log(.warning, "CHILD_SA \(request.policy.name) failed: \(reason)", &out)
            if let old {
                if retry && old.state == .rekeying {
                    old.state = .installed
                    old.rekeyAt = now + 10 + context.random.jitter(10)
                } else if old.state == .rekeying {
                    old.state = .installed
                    old.rekeyAt = .never
                }
            } else {
                if context.acquireCompleted(reqid: request.reqid) { out.append(.releaseHeld(reqid: request.reqid, send: false)) }
                out.append(.event(.childFailed(connection: policy.name, child: request.policy.name, reason: reason)))
            }
        }
        if let e = offer.errors.first {
            failChild("peer answered \(e.type)", retry: e.type == .temporaryFailure)
            return
        }
        guard let (peerProposal, chosen) = ProposalSelection.accept(response: offer.proposals, offered: request.policy.proposals,
                                                                    protocolID: .esp, expectKeyExchange: request.keyExchange != nil),
              peerProposal.spi.count == 4 else {
            failChild("responder chose an ESP proposal we did not offer")
            return
        }
        guard !offer.tsi.isEmpty, !offer.tsr.isEmpty,
              offer.tsi.allSatisfy({ ts in request.localTS.contains { $0.contains(ts) } }),
              offer.tsr.allSatisfy({ ts in request.remoteTS.contains { $0.contains(ts) } }) else {
            failChild("responder's traffic selectors are not a subset of ours")
            return
        }
        if request.policy.mode == .transport && !offer.transport {
            failChild("responder refused transport mode")
            return
        }
        var shared = sharedSecret
        if let ke = request.keyExchange {
            guard let (g, data) = offer.ke, g == ke.group.rawValue, let s = try? ke.sharedSecret(peerPublicValue: data) else {
                failChild("missing or invalid KE payload in CREATE_CHILD_SA response")
                return
            }
            shared = s
        }
        let outboundSPI = peerProposal.spi.reduce(0) { $0 << 8 | UInt32($1) }
        let keymat = IKEKeyDerivation.childKeyMaterial(prf: keys.prf, skD: keys.skD, sharedSecret: shared,
                                                       nonceInitiator: nonceI, nonceResponder: nonceR,
                                                       length: ChildSA.keyMaterialLength(chosen))
        let child = makeChild(request.policy, algorithms: chosen, keymat: keymat, asInitiator: true, inboundSPI: request.inboundSPI,
                              outboundSPI: outboundSPI, mode: offer.transport ? .transport : .tunnel, localTS: offer.tsi,
                              remoteTS: offer.tsr, reqid: request.reqid, now: now)
        children.append(child)
        guard let old else {
            installChild(child, withOutbound: true, &out)
            out.append(.installPolicies(reqid: child.reqid, policies(for: child)))
            announceChild(child, now: now, &out)
            out.append(.event(.childEstablished(info(now: now), child.info(now: now))))
            return
        }
        completeChildRekey(child, replacing: old, nonceI: request.nonce, nonceR: nonceR, now: now, &out)
    }

    /// The SPD entries of a CHILD SA; trap policies keep raising acquires once it is gone.
    func policies(for c: ChildSA) -> [PolicyConfig] {
        ChildSA.policies(localTS: c.localTS, remoteTS: c.remoteTS, mode: c.mode, local: local.address, remote: remote.address,
                         reqid: c.reqid, acquire: context.isTrap(reqid: c.reqid))
    }

    /// A CHILD SA came up: packets a trap held for its reqid go out now.
    func announceChild(_ c: ChildSA, now: MonotonicInstant, _ out: inout [IKEAction]) {
        if context.acquireCompleted(reqid: c.reqid) { out.append(.releaseHeld(reqid: c.reqid, send: true)) }
    }

    // MARK: CREATE_CHILD_SA as initiator

    func startCreateChild(name: String, now: MonotonicInstant, _ out: inout [IKEAction]) {
        guard let cp = policy.children.first(where: { $0.name == name }) else { return }
        let pfs = !(cp.proposals.first?.keyExchange.isEmpty ?? true)
        do throws(ChildRequestError) {
            let (req, payloads) = try makeChildRequest(cp, rekeying: nil, pfs: pfs)
            sendRequest(.createChildSA, payloads: payloads, context: .createChild(req), now: now, &out)
        } catch {
            log(.error, "CHILD_SA \(name): \(error.reason)", &out)
            out.append(.event(.childFailed(connection: policy.name, child: name, reason: error.reason)))
        }
    }

    func processCreateChildResponse(_ payloads: [IKEPayload], request: ChildRequest, keys: IKESAKeying, now: MonotonicInstant, _ out: inout [IKEAction]) {
        let offer = ChildOffer(payloads)
        guard let nr = offer.nonce ?? (offer.errors.isEmpty ? nil : []), (nr.count >= 16 && nr.count <= 256) || !offer.errors.isEmpty else {
            log(.warning, "CREATE_CHILD_SA response without a valid nonce", &out)
            return
        }
        completeChild(request: request, payloads: payloads, nonceI: request.nonce, nonceR: nr, sharedSecret: nil, keys: keys, now: now, &out)
    }

    // MARK: CREATE_CHILD_SA as responder

    func processCreateChildRequest(_ payloads: [IKEPayload], messageID: UInt32, keys: IKESAKeying, now: MonotonicInstant, _ out: inout [IKEAction]) {
        let offer = ChildOffer(payloads)
        func respond(_ p: [IKEPayload]) { sendResponse(.createChildSA, messageID: messageID, payloads: p, &out) }
        guard state == .established || state == .rekeying else {
            respond([.notify(IKENotify(type: .temporaryFailure))])
            return
        }
        guard let ni = offer.nonce, ni.count >= 16, ni.count <= 256 else {
            respond([.notify(IKENotify(type: .invalidSyntax))])
            return
        }
        if offer.proposals.contains(where: { $0.protocolID == IKEProtocolID.ike.rawValue }) {
            respondToRekeyIKE(offer, nonceI: ni, messageID: messageID, keys: keys, now: now, &out)
            return
        }
        // RFC 7296 §2.25.2: while we rekey the IKE SA, CHILD SA requests wait (TEMPORARY_FAILURE).
        if state == .rekeying {
            respond([.notify(IKENotify(type: .temporaryFailure))])
            return
        }
        let nr = context.random.bytes(32)
        var old: ChildSA?
        if let spi = offer.rekeySPI {
            switch childToRekey(outboundSPI: spi) {
            case .failure(let refusal): respond([.notify(refusal.notify)]); return
            case .success(let c): old = c
            }
        }
        let (response, child) = respondToChild(payloads, ikeAuth: false, nonceI: ni, nonceR: nr, sharedSecret: nil, rekeying: old,
                                               keys: keys, now: now, &out)
        respond(response)
        guard let old, let child else { return }
        peerRekeyedChild(old, new: child, nonceI: ni, nonceR: nr, now: now, &out)
    }
}

/// Why a CHILD SA request could not be built.
struct ChildRequestError: Error {
    let reason: String
}
