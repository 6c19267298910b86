import TernCrypto
import TernDataPlane
import TernWire

// IKE_AUTH with pre-shared keys (RFC 7296 §1.2, §2.15) and the first CHILD SA.

extension IKESession {
    /// AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>), where SignedOctets =
    /// our IKE_SA_INIT message | the peer's nonce | prf(SK_p, RestOfIDPayload) (§2.15).
    func pskAuth(secret: [UInt8], asInitiator: Bool, identity: IKEIdentification) -> [UInt8] {
        let prf = algorithms!.prf!
        let k = keys!
        let message = asInitiator ? initRequestBytes : initResponseBytes
        let nonce = asInitiator ? nonceR : nonceI
        let macedID = prf.compute(key: asInitiator ? k.skPi : k.skPr, data: identity.restOfPayload)
        return prf.compute(key: prfKeyPad(secret), data: message + nonce + macedID)
    }

    var effectiveLocalIdentity: Identity {
        if let id = policy.localIdentity, id != .any { return id }
        return .address(local.address)
    }

    // MARK: Initiator

    func startAuth(now: Double, _ out: inout [IKEAction]) {
        localIdentity = effectiveLocalIdentity
        let idi = localIdentity.payload
        guard let secret = endpoint.sharedKey(local: localIdentity, remote: policy.remoteIdentity ?? .address(remote.address)) else {
            fail(reason: "no shared key found for '\(localIdentity)' - '\(policy.remoteIdentity ?? .any)'", now: now, &out)
            return
        }
        var payloads: [IKEPayload] = [.identificationInitiator(idi)]
        if let r = policy.remoteIdentity, r != .any { payloads.append(.identificationResponder(r.payload)) }
        // Only the first IKE SA with this peer says INITIAL_CONTACT: an SA still being set up
        // counts too, or simultaneous initiations would each have the peer drop the others.
        if policy.sendInitialContact && !endpoint.hasOtherSA(with: policy, excluding: self, includingConnecting: true) {
            payloads.append(.notify(IKENotify(type: .initialContact)))
        }
        payloads.append(.authentication(method: IKEAuthMethod.sharedKeyMIC.rawValue,
                                        data: pskAuth(secret: secret, asInitiator: true, identity: idi)))
        var childRequest: ChildRequest?
        // The first child rides in IKE_AUTH; it stays in pendingChildren until IKE_AUTH completes
        // so a failure can report (and release) it.
        if let name = pendingChildren.first, let cp = policy.children.first(where: { $0.name == name }) {
            let (req, childPayloads) = makeChildRequest(cp, rekeying: nil, pfs: false)
            childRequest = req
            payloads += childPayloads
        }
        state = .connecting
        sendRequest(.ikeAuth, payloads: payloads, context: .ikeAuth(childRequest), now: now, &out)
    }

    func processAuthResponse(_ payloads: [IKEPayload], child: ChildRequest?, now: Double, _ out: inout [IKEAction]) {
        var idr: IKEIdentification?, auth: (UInt8, [UInt8])?
        var errors: [IKENotify] = []
        for p in payloads {
            switch p {
            case .identificationResponder(let i): idr = i
            case .authentication(let m, let d): auth = (m, d)
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
        guard method == IKEAuthMethod.sharedKeyMIC.rawValue else {
            fail(reason: "peer authenticated with method \(method); this connection expects a pre-shared key", now: now, &out)
            return
        }
        guard let secret = endpoint.sharedKey(local: localIdentity, remote: peer),
              constantTimeEqual(pskAuth(secret: secret, asInitiator: false, identity: idr), authData) else {
            fail(reason: "authentication of '\(peer)' with pre-shared key failed (wrong key or identity)", now: now, &out)
            return
        }
        remoteIdentity = peer
        if child != nil && !pendingChildren.isEmpty { pendingChildren.removeFirst() }
        established(now: now, &out)
        if let child {
            completeChild(request: child, payloads: payloads, nonceI: nonceI, nonceR: nonceR, sharedSecret: nil, now: now, &out)
        }
        for name in pendingChildren { queue.append(.createChild(name)) }
        pendingChildren = []
    }

    // MARK: Responder

    func processAuthRequest(_ payloads: [IKEPayload], messageID: UInt32, now: Double, _ out: inout [IKEAction]) {
        var idi: IKEIdentification?, idr: IKEIdentification?, auth: (UInt8, [UInt8])?
        var initialContact = false
        for p in payloads {
            switch p {
            case .identificationInitiator(let i): idi = i
            case .identificationResponder(let i): idr = i
            case .authentication(let m, let d): auth = (m, d)
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
        guard let idi, let (method, authData) = auth else {
            refuse("IKE_AUTH request from \(remote) lacks IDi or AUTH")
            return
        }
        let peer = Identity(payload: idi)
        let wantedLocal = idr.map { Identity(payload: $0) }
        // Pick the connection by identities among those that matched addresses and proposals.
        guard let conn = endpoint.connectionForAuth(current: policy, local: local.address, remote: remote.address,
                                                    peer: peer, requestedLocal: wantedLocal, algorithms: algorithms!) else {
            refuse("no connection for peer identity '\(peer)'\(wantedLocal.map { " asking for '\($0)'" } ?? "") from \(remote)")
            return
        }
        policy = conn
        guard conn.remoteAuth == .psk, method == IKEAuthMethod.sharedKeyMIC.rawValue else {
            refuse("peer '\(peer)' used authentication method \(method); connection \(conn.name) expects \(conn.remoteAuth.rawValue)")
            return
        }
        localIdentity = effectiveLocalIdentity
        guard let secret = endpoint.sharedKey(local: localIdentity, remote: peer) else {
            refuse("no shared key found for '\(localIdentity)' - '\(peer)'")
            return
        }
        guard constantTimeEqual(pskAuth(secret: secret, asInitiator: true, identity: idi), authData) else {
            refuse("authentication of '\(peer)' with pre-shared key failed (wrong key or identity)")
            return
        }
        remoteIdentity = peer
        // unique = never ignores INITIAL_CONTACT too, as strongSwan does.
        if (initialContact && conn.unique != .never) || conn.unique == .replace {
            endpoint.removeDuplicates(of: self, identity: peer, now: now, &out, initialContact: initialContact)
        } else if conn.unique == .keep, endpoint.hasOtherSA(with: conn, excluding: self, peer: peer) {
            refuse("an IKE_SA with '\(peer)' exists and unique = keep")
            return
        }
        let idrOut = localIdentity.payload
        var response: [IKEPayload] = [
            .identificationResponder(idrOut),
            .authentication(method: IKEAuthMethod.sharedKeyMIC.rawValue, data: pskAuth(secret: secret, asInitiator: false, identity: idrOut)),
        ]
        if payloads.contains(where: { if case .securityAssociation = $0 { true } else { false } }) {
            response += respondToChild(payloads, ikeAuth: true, nonceI: nonceI, nonceR: nonceR, sharedSecret: nil, now: now, &out).payloads
        }
        sendResponse(.ikeAuth, messageID: messageID, payloads: response, &out)
        established(now: now, &out)
        // Children installed while responding are announced once the IKE SA is up.
        for c in children { out.append(.event(.childEstablished(info(now: now), c.info(now: now)))) }
    }

    // MARK: Common

    func established(now: Double, _ out: inout [IKEAction]) {
        state = .established
        // The IKE_SA_INIT messages are only signed in IKE_AUTH; keep no copy per SA after it.
        initRequestBytes = []
        initResponseBytes = []
        keepOnlySKd()
        establishedAt = now
        halfOpenDeadline = nil
        attempt = 1
        scheduleIKELifetimes(now: now)
        if localNAT { keepaliveAt = now + Double(endpoint.configuration.natKeepalive) }
        endpoint.sessionEstablished(self, now: now, &out)
        out.append(.event(.ikeEstablished(info(now: now))))
    }

    /// Only SK_d is needed once the IKE SA is up (CHILD SA keys, IKE rekey): SK_e/SK_a live in
    /// the payload protection objects and SK_p only served AUTH. Less key material held per SA.
    func keepOnlySKd() {
        if let k = keys { keys = IKESAKeys(skD: k.skD, skAi: [], skAr: [], skEi: [], skEr: [], skPi: [], skPr: []) }
    }

    func scheduleIKELifetimes(now: Double) {
        let jitter = endpoint.random.jitter(policy.randTime)
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
