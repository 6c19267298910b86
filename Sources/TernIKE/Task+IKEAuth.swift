import TernCrypto
import TernDataPlane
import TernWire

// IKE_AUTH with pre-shared keys (RFC 7296 §1.2, §2.15) and the first CHILD SA.

extension IKESession {
    /// AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>) (§2.15).
    func pskAuth(secret: [UInt8], ofInitiator: Bool, identity: IKEIdentification, auth: AuthPhase) -> [UInt8] {
        let prf = auth.keys.prf
        return prf.compute(key: prfKeyPad(secret, prf: prf), data: signedOctets(ofInitiator: ofInitiator, identity: identity, auth: auth))
    }

    /// Our identity: `local.id`, else our certificate's subject with public-key authentication,
    /// else our IP address.
    var effectiveLocalIdentity: Identity {
        if let id = policy.localIdentity, id != .any { return id }
        if policy.localAuth == .pubkey, let certificate = policy.certificates.localCertificates.first {
            return .distinguishedName(certificate.subject)
        }
        return .address(local.address)
    }

    /// Our AUTH payload and the CERT payloads that go with it, by `local.auth`.
    func localAuthentication(ofInitiator: Bool, identity: IKEIdentification, peer: Identity, auth: AuthPhase)
        -> Result<(certificates: [IKEPayload], auth: IKEPayload), AuthFailure> {
        switch policy.localAuth {
        case .psk:
            guard let secret = context.sharedKey(local: localIdentity, remote: peer) else {
                return .failure(AuthFailure("no shared key found for '\(localIdentity)' - '\(peer)'"))
            }
            return .success(([], .authentication(method: IKEAuthMethod.sharedKeyMIC.rawValue,
                                                 data: pskAuth(secret: secret, ofInitiator: ofInitiator, identity: identity, auth: auth))))
        case .pubkey:
            let signer: LocalSigner
            switch localSigner(for: policy.localIdentity == nil || policy.localIdentity == .any ? nil : localIdentity) {
            case .failure(let f): return .failure(f)
            case .success(let s): signer = s
            }
            guard signer.certificate.confirms(localIdentity) else {
                return .failure(AuthFailure("local identity '\(localIdentity)' is not confirmed by our certificate \"\(signer.certificate.subject.strongSwanDescription)\""))
            }
            return signatureAuthentication(signer, ofInitiator: ofInitiator, identity: identity, auth: auth)
                .map { (certificatePayloads(signer, peerAuth: auth.peerAuth), $0) }
        }
    }

    /// Checks the peer's AUTH by `remote.auth`; nil when it holds (and `auth` says how).
    func verifyPeerAuthentication(method: UInt8, data: [UInt8], identity: IKEIdentification, peer: Identity,
                                  certificates: [[UInt8]], auth: inout AuthPhase) -> AuthFailure? {
        switch policy.remoteAuth {
        case .psk:
            guard method == IKEAuthMethod.sharedKeyMIC.rawValue else {
                return AuthFailure("peer '\(peer)' authenticated with method \(method); connection \(policy.name) expects a pre-shared key")
            }
            guard let secret = context.sharedKey(local: localIdentity, remote: peer) else {
                return AuthFailure("no shared key found for '\(localIdentity)' - '\(peer)'")
            }
            guard constantTimeEqual(pskAuth(secret: secret, ofInitiator: !isInitiator, identity: identity, auth: auth), data) else {
                return AuthFailure("authentication of '\(peer)' with pre-shared key failed (wrong key or identity)")
            }
            return nil
        case .pubkey:
            guard method != IKEAuthMethod.sharedKeyMIC.rawValue else {
                return AuthFailure("peer '\(peer)' authenticated with a pre-shared key; connection \(policy.name) expects a signature (auth = pubkey)")
            }
            return verifySignatureAuthentication(method: method, data: data, identity: identity, peer: peer,
                                                 certificatePayloads: certificates, auth: &auth)
        }
    }

    // MARK: Initiator

    func startAuth(now: MonotonicInstant, _ out: inout [IKEAction]) {
        guard case .authenticating(let auth) = phase else { return }
        localIdentity = effectiveLocalIdentity
        let idi = localIdentity.payload
        let expectedPeer = policy.remoteIdentity ?? .address(remote.address)
        let authentication: (certificates: [IKEPayload], auth: IKEPayload)
        switch localAuthentication(ofInitiator: true, identity: idi, peer: expectedPeer, auth: auth) {
        case .failure(let f):
            fail(reason: f.reason, now: now, &out)
            return
        case .success(let a):
            authentication = a
        }
        // IDi, [CERT+], [CERTREQ+], [IDr], AUTH (§1.2).
        var payloads: [IKEPayload] = [.identificationInitiator(idi)] + authentication.certificates
        payloads += certificateRequestPayloads()
        if let r = policy.remoteIdentity, r != .any { payloads.append(.identificationResponder(r.payload)) }
        // Only the first IKE SA with this peer says INITIAL_CONTACT: an SA still being set up
        // counts too, or simultaneous initiations would each have the peer drop the others.
        if policy.sendInitialContact && !context.hasOtherSA(with: policy, excluding: self, peer: nil, includingConnecting: true) {
            payloads.append(.notify(IKENotify(type: .initialContact)))
        }
        payloads.append(authentication.auth)
        if let cp = configurationRequest() { payloads.append(cp) }
        var childRequest: ChildRequest?
        // The first child rides in IKE_AUTH; it stays in pendingChildren until IKE_AUTH completes
        // so a failure can report (and release) it.
        if let name = pendingChildren.first, let cp = policy.children.first(where: { $0.name == name }),
           let (req, childPayloads) = try? makeChildRequest(cp, rekeying: nil, pfs: false) {   // without PFS it cannot fail
            childRequest = req
            payloads += childPayloads
        }
        sendRequest(.ikeAuth, payloads: payloads, context: .ikeAuth(childRequest), now: now, &out)
    }

    func processAuthResponse(_ payloads: [IKEPayload], child: ChildRequest?, now: MonotonicInstant, _ out: inout [IKEAction]) {
        guard case .authenticating(var phaseData) = phase else { return }
        var idr: IKEIdentification?, auth: (UInt8, [UInt8])?
        var errors: [IKENotify] = []
        var certificates: [[UInt8]] = []
        for p in payloads {
            switch p {
            case .identificationResponder(let i): idr = i
            case .authentication(let m, let d): auth = (m, d)
            case .certificate(let encoding, let d) where encoding == IKECertificateEncoding.x509Signature.rawValue: certificates.append(d)
            case .notify(let n) where n.type.isError: errors.append(n)
            default: break
            }
        }
        if let e = errors.first(where: { $0.type == .authenticationFailed || $0.type == .unsupportedCriticalPayload || $0.type == .invalidSyntax }) ?? (idr == nil ? errors.first : nil) {
            fail(reason: "peer refused IKE_AUTH: \(e.type)", now: now, &out)
            return
        }
        guard let idr, let (method, authData) = auth else {
            fail(reason: "IKE_AUTH response lacks IDr or AUTH", now: now, &out)
            return
        }
        let peer = Identity(payload: idr)
        if let expected = policy.remoteIdentity, !expected.matches(peer) {
            fail(reason: "peer identity '\(peer)' does not match the configured '\(expected)'", now: now, &out)
            return
        }
        if let failure = verifyPeerAuthentication(method: method, data: authData, identity: idr, peer: peer, certificates: certificates,
                                                  auth: &phaseData) {
            // Tell the responder, which already considers the SA up (RFC 7296 §2.21.2).
            let notice = protect(exchange: .informational, payloads: [.notify(IKENotify(type: .authenticationFailed))],
                                 messageID: window.nextRequestID, isResponse: false)
            for d in notice { out.append(.send(datagram: d, from: local, to: remote)) }
            fail(reason: failure.reason, now: now, &out)
            return
        }
        remoteIdentity = peer
        log(.info, "authentication of '\(peer)' with \(phaseData.peerAuthenticatedWith) successful", &out)
        if child != nil && !pendingChildren.isEmpty { pendingChildren.removeFirst() }
        established(phaseData, now: now, &out)
        acceptConfigurationReply(payloads, now: now, &out)
        if let child {
            completeChild(request: child, payloads: payloads, nonceI: phaseData.nonceI, nonceR: phaseData.nonceR, sharedSecret: nil,
                          keys: phaseData.keys, now: now, &out)
        }
        for name in pendingChildren { window.queue.append(.createChild(name)) }
        pendingChildren = []
    }

    // MARK: Responder

    func processAuthRequest(_ payloads: [IKEPayload], messageID: UInt32, now: MonotonicInstant, _ out: inout [IKEAction]) {
        var idi: IKEIdentification?, idr: IKEIdentification?, auth: (UInt8, [UInt8])?
        var initialContact = false
        var certificates: [[UInt8]] = []
        for p in payloads {
            switch p {
            case .identificationInitiator(let i): idi = i
            case .identificationResponder(let i): idr = i
            case .authentication(let m, let d): auth = (m, d)
            case .certificate(let encoding, let d) where encoding == IKECertificateEncoding.x509Signature.rawValue: certificates.append(d)
            case .notify(let n) where n.type == .initialContact: initialContact = true
            default: break
            }
        }
        func refuse(_ reason: String) {
            sendResponse(.ikeAuth, messageID: messageID, payloads: [.notify(IKENotify(type: .authenticationFailed))], &out)
            out.append(.event(.ikeFailed(connection: policy.name, reason: reason)))
            log(.warning, reason, &out)
            destroy(reason: "authentication failed", now: now, &out, notifyPeer: false)
        }
        guard case .authenticating(var phaseData) = phase else {
            refuse("IKE_AUTH request from \(remote) on an IKE_SA that is not being authenticated")
            return
        }
        phaseData.peerAuth.record(payloads)
        guard let idi, let (method, authData) = auth else {
            refuse("IKE_AUTH request from \(remote) lacks IDi or AUTH")
            return
        }
        let peer = Identity(payload: idi)
        let wantedLocal = idr.map { Identity(payload: $0) }
        // Pick the connection by identities among those that matched addresses and proposals.
        guard let conn = context.connectionForAuth(current: policy, local: local.address, remote: remote.address,
                                                    peer: peer, requestedLocal: wantedLocal, keys: phaseData.keys,
                                                    signature: method != IKEAuthMethod.sharedKeyMIC.rawValue) else {
            refuse("no connection for peer identity '\(peer)'\(wantedLocal.map { " asking for '\($0)'" } ?? "") from \(remote)")
            return
        }
        policy = conn
        localIdentity = effectiveLocalIdentity
        if let failure = verifyPeerAuthentication(method: method, data: authData, identity: idi, peer: peer, certificates: certificates,
                                                  auth: &phaseData) {
            refuse(failure.reason)
            return
        }
        remoteIdentity = peer
        log(.info, "authentication of '\(peer)' with \(phaseData.peerAuthenticatedWith) successful", &out)
        // unique = never ignores INITIAL_CONTACT too, as strongSwan does.
        if (initialContact && conn.unique != .never) || conn.unique == .replace {
            context.report(.replaceDuplicates(of: self, identity: peer, initialContact: initialContact), now: now, &out)
        } else if conn.unique == .keep, context.hasOtherSA(with: conn, excluding: self, peer: peer, includingConnecting: false) {
            refuse("an IKE_SA with '\(peer)' exists and unique = keep")
            return
        }
        let idrOut = localIdentity.payload
        var response: [IKEPayload] = [.identificationResponder(idrOut)]
        switch localAuthentication(ofInitiator: false, identity: idrOut, peer: peer, auth: phaseData) {
        case .failure(let f):
            refuse(f.reason)
            return
        case .success(let a):
            response += a.certificates + [a.auth]
        }
        let wantsChild = payloads.contains(where: { if case .securityAssociation = $0 { true } else { false } })
        switch assignVirtualIPs(payloads, &out) {
        case .none:
            if wantsChild {
                response += respondToChild(payloads, ikeAuth: true, nonceI: phaseData.nonceI, nonceR: phaseData.nonceR, sharedSecret: nil,
                                           keys: phaseData.keys, now: now, &out).payloads
            }
        case .assigned(let reply):
            response.append(reply)
            if wantsChild {
                response += respondToChild(payloads, ikeAuth: true, nonceI: phaseData.nonceI, nonceR: phaseData.nonceR, sharedSecret: nil,
                                           keys: phaseData.keys, now: now, &out).payloads
            }
        case .failed(let notify, let reason):
            // No CHILD SA; the IKE SA stays up (RFC 7296 §3.15.4, as strongSwan does).
            log(.warning, reason, &out)
            out.append(.event(.childFailed(connection: policy.name, child: "", reason: reason)))
            response.append(.notify(IKENotify(type: notify)))
        }
        sendResponse(.ikeAuth, messageID: messageID, payloads: response, &out)
        established(phaseData, now: now, &out)
        // Children installed while responding are announced once the IKE SA is up.
        for c in children { out.append(.event(.childEstablished(info(now: now), c.info(now: now)))) }
    }

    // MARK: Common

    /// IKE_AUTH done: only the keys go on. The nonces, SK_p and the IKE_SA_INIT messages served
    /// AUTH and the first CHILD SA only (rekeys bring their own nonces); none is kept per SA.
    func established(_ auth: AuthPhase, now: MonotonicInstant, _ out: inout [IKEAction]) {
        phase = .established(EstablishedPhase(keys: auth.keys))
        establishedAt = now
        halfOpenDeadline = nil
        attempt = 1
        scheduleIKELifetimes(now: now)
        if localNAT { keepaliveAt = now + Double(context.configuration.natKeepalive) }
        context.report(.established(self), now: now, &out)
        out.append(.event(.ikeEstablished(info(now: now))))
    }

    func scheduleIKELifetimes(now: MonotonicInstant) {
        let jitter = context.random.jitter(policy.randTime)
        rekeyAt = policy.rekeyTime > 0 ? now + max(1, Double(policy.rekeyTime) - jitter) : nil
        reauthAt = policy.reauthTime > 0 ? now + max(1, Double(policy.reauthTime) - jitter) : nil
        let longest = max(policy.rekeyTime, policy.reauthTime)
        deleteAt = longest > 0 ? now + Double(longest + policy.overTime) : nil
    }
}

func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var d: UInt8 = 0
    for i in 0..<a.count { d |= a[i] ^ b[i] }
    return d == 0
}
