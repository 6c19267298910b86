import Crypto
import TernCrypto
import TernWire

// IKE_SA_INIT (RFC 7296 §1.2): SA, KE, Ni/Nr, NAT detection (RFC 7296 §2.23), cookies (§2.6),
// INVALID_KE_PAYLOAD retry (§1.3.1), fragmentation support (RFC 7383 §2.3),
// SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4).

enum NATDetection {
    /// SHA-1(SPIi | SPIr | IP | Port) (RFC 7296 §2.23).
    static func hash(initiatorSPI: UInt64, responderSPI: UInt64, _ addr: SocketAddress) -> [UInt8] {
        var data: [UInt8] = []
        data += initiatorSPI.bigEndianBytes
        data += responderSPI.bigEndianBytes
        data += addr.address.bytes
        data += [UInt8(addr.port >> 8), UInt8(addr.port & 0xFF)]
        return Array(Insecure.SHA1.hash(data: data))
    }
}

extension UInt64 {
    var bigEndianBytes: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: self >> (56 - 8 * UInt64($0))) } }
}

/// Hash algorithms we announce for RFC 7427 signatures: SHA2-256, SHA2-384, SHA2-512, Identity.
let signatureHashAlgorithms: [UInt8] = [0, 2, 0, 3, 0, 4, 0, 5]

extension IKESession {
    func natPayloads(spiR: UInt64) -> [IKEPayload] {
        var src = NATDetection.hash(initiatorSPI: initiatorSPI, responderSPI: spiR, local)
        // encap = yes: a source hash that cannot match makes the peer see a NAT (strongSwan's trick).
        if policy.forceEncapsulation { src = context.random.bytes(src.count) }
        let dst = NATDetection.hash(initiatorSPI: initiatorSPI, responderSPI: spiR, remote)
        return [.notify(IKENotify(type: .natDetectionSourceIP, data: src)),
                .notify(IKENotify(type: .natDetectionDestinationIP, data: dst))]
    }

    /// Evaluates the peer's NAT_DETECTION notifies: ours tells whether *we* are behind a NAT,
    /// the source ones whether the peer is.
    func evaluateNAT(_ payloads: [IKEPayload], spiR: UInt64, packetSource: SocketAddress, packetDestination: SocketAddress) {
        var sources: [[UInt8]] = [], destination: [UInt8]?
        for case .notify(let n) in payloads {
            if n.type == .natDetectionSourceIP { sources.append(n.data) }
            if n.type == .natDetectionDestinationIP { destination = n.data }
        }
        guard !sources.isEmpty, let destination else { return }   // peer without NAT-T support
        let expectedDst = NATDetection.hash(initiatorSPI: initiatorSPI, responderSPI: spiR, packetDestination)
        let expectedSrc = NATDetection.hash(initiatorSPI: initiatorSPI, responderSPI: spiR, packetSource)
        localNAT = destination != expectedDst
        remoteNAT = !sources.contains(expectedSrc)
        if policy.forceEncapsulation { localNAT = true }
    }

    // MARK: Initiator

    /// Sends IKE_SA_INIT; a restart (cookie, INVALID_KE_PAYLOAD) passes the nonce it keeps.
    func startInit(now: MonotonicInstant, cookie: [UInt8]? = nil, group: KeyExchangeGroup? = nil, retried: Set<UInt16> = [],
                   nonce previousNonce: [UInt8]? = nil, _ out: inout [IKEAction]) {
        let g = group ?? policy.proposals.first?.keyExchange.first ?? .curve25519
        let ke: KeyExchange
        do {
            ke = try KeyExchange(group: g, rng: &context.random)
        } catch {
            fail(reason: "cannot create \(g.strongSwanName) key: \(error)", now: now, &out)
            return
        }
        let nonceI = previousNonce ?? context.random.bytes(32)
        var payloads: [IKEPayload] = []
        if let cookie { payloads.append(.notify(IKENotify(type: .cookie, data: cookie))) }
        payloads.append(.securityAssociation(ProposalSelection.wireProposals(policy.proposals, protocolID: .ike, spi: [])))
        payloads.append(.keyExchange(group: g.rawValue, data: ke.publicValue))
        payloads.append(.nonce(nonceI))
        payloads += natPayloads(spiR: 0)
        if policy.fragmentation != .no { payloads.append(.notify(IKENotify(type: .ikev2FragmentationSupported))) }
        if context.configuration.signatureAuthentication {
            payloads.append(.notify(IKENotify(type: .signatureHashAlgorithms, data: signatureHashAlgorithms)))
        }
        // A restarted IKE_SA_INIT starts again at message ID 0 (RFC 7296 §2.6, §1.3.1).
        window.restartInit()
        responderSPI = 0
        let bytes = IKEMessage(header: header(.ikeSAInit, messageID: 0, isResponse: false), payloads: payloads).encode()
        phase = .initiating(InitPhase(keyExchange: ke, nonce: nonceI, cookie: cookie, retriedGroups: retried, request: bytes))
        out.append(.send(datagram: bytes, from: local, to: remote))
        let id = window.takeRequestID()
        window.sent(id, exchange: .ikeSAInit, datagrams: [bytes], now: now,
                    schedule: context.configuration.retransmission, deadline: nil)
        log(.info, "initiating IKE_SA to \(remote)", &out)
    }

    func processInitResponse(_ message: IKEMessage, bytes: [UInt8], from: SocketAddress, to: SocketAddress, now: MonotonicInstant, _ out: inout [IKEAction]) {
        guard case .initiating(let ctx) = phase, case .ikeSAInit? = window.outstanding?.exchange else { return }
        let payloads = message.payloads
        if let why = PayloadRules.violation(payloads, exchange: .ikeSAInit, isRequest: false) {
            // Dropped like a forged answer: the retransmissions decide (PayloadRules).
            context.logLimiter.log(.malformed, .warning, "\(policy.name)[\(uniqueID)] dropping IKE_SA_INIT response from \(from): \(why)",
                                    now: now, &out)
            return
        }
        var notifies: [IKENotify] = []
        for case .notify(let n) in payloads { notifies.append(n) }
        if let c = notifies.first(where: { $0.type == .cookie }) {
            guard ctx.cookie != c.data, c.data.count >= 1, c.data.count <= 64 else { return }
            log(.info, "responder asked for a cookie; retrying", &out)
            window.finishRequest()
            startInit(now: now, cookie: c.data, group: ctx.keyExchange.group, retried: ctx.retriedGroups, nonce: ctx.nonce, &out)
            return
        }
        if let k = notifies.first(where: { $0.type == .invalidKEPayload }) {
            guard k.data.count == 2 else { return }
            let wanted = UInt16(k.data[0]) << 8 | UInt16(k.data[1])
            guard let g = KeyExchangeGroup(rawValue: wanted), policy.proposals.contains(where: { $0.keyExchange.contains(g) }),
                  !ctx.retriedGroups.contains(wanted), g != ctx.keyExchange.group else {
                fail(reason: "peer wants key exchange method \(wanted), which we did not propose", now: now, &out)
                return
            }
            log(.info, "peer requested \(g.strongSwanName) (INVALID_KE_PAYLOAD); retrying", &out)
            window.finishRequest()
            startInit(now: now, cookie: ctx.cookie, group: g, retried: ctx.retriedGroups.union([wanted]), nonce: ctx.nonce, &out)
            return
        }
        if let e = notifies.first(where: { $0.type.isError }) {
            fail(reason: "peer answered IKE_SA_INIT with \(e.type)", now: now, &out)
            return
        }
        var peerAuth = PeerAuthCapabilities()
        peerAuth.record(payloads)
        var proposals: [IKEProposal]?, keData: (UInt16, [UInt8])?, nonce: [UInt8]?
        for p in payloads {
            switch p {
            case .securityAssociation(let ps): proposals = ps
            case .keyExchange(let g, let d): keData = (g, d)
            case .nonce(let n): nonce = n
            default: break
            }
        }
        guard message.header.responderSPI != 0, let proposals, let (group, peerKE) = keData, let nonce,
              nonce.count >= 16, nonce.count <= 256 else {
            fail(reason: "malformed IKE_SA_INIT response (missing SA, KE or nonce)", now: now, &out)
            return
        }
        guard let (_, chosen) = ProposalSelection.accept(response: proposals, offered: policy.proposals, protocolID: .ike, expectKeyExchange: true),
              chosen.keyExchange?.rawValue == group, group == ctx.keyExchange.group.rawValue else {
            fail(reason: "responder chose a proposal we did not offer", now: now, &out)
            return
        }
        responderSPI = message.header.responderSPI
        fragmentationSupported = notifies.contains { $0.type == .ikev2FragmentationSupported } && policy.fragmentation != .no
        let shared: [UInt8]
        do {
            shared = try ctx.keyExchange.sharedSecret(peerPublicValue: peerKE)
        } catch {
            fail(reason: "invalid key exchange value from peer: \(error)", now: now, &out)
            return
        }
        guard let (keys, full) = deriveKeys(chosen: chosen, shared: shared, nonceI: ctx.nonce, nonceR: nonce, &out) else {
            fail(reason: "responder chose a proposal without a PRF", now: now, &out)
            return
        }
        phase = .authenticating(AuthPhase(keys: keys, skPi: full.skPi, skPr: full.skPr, nonceI: ctx.nonce, nonceR: nonce,
                                          initRequest: ctx.request, initResponse: bytes, peerAuth: peerAuth))
        evaluateNAT(payloads, spiR: responderSPI, packetSource: from, packetDestination: to)
        window.finishRequest()
        if natDetected {
            log(.info, "NAT detected (local \(localNAT), remote \(remoteNAT)); moving to port \(context.configuration.natPort)", &out)
            floatToNATPort()
        }
        startAuth(now: now, &out)
    }

    /// RFC 3948 / RFC 7296 §2.23: after NAT detection both sides use the NAT-T port (4500 unless
    /// ternd runs with --ike-port/--udp-port; a peer on our IKE port floats to our NAT-T port).
    func floatToNATPort() {
        let c = context.configuration
        if local.port == c.ikePort { local.port = c.natPort }
        if remote.port == c.ikePort { remote.port = c.natPort }
    }

    /// SKEYSEED and the IKE SA keys (RFC 7296 §2.14); nil when `chosen` has no PRF or group.
    func deriveKeys(chosen: NegotiatedAlgorithms, shared: [UInt8], nonceI: [UInt8], nonceR: [UInt8],
                    _ out: inout [IKEAction]) -> (IKESAKeying, IKESAKeys)? {
        guard let prf = chosen.prf else { return nil }
        let seed = IKEKeyDerivation.skeyseed(prf: prf, nonceInitiator: nonceI, nonceResponder: nonceR, sharedSecret: shared)
        let k = IKEKeyDerivation.ikeSAKeys(prf: prf, skeyseed: seed, nonceInitiator: nonceI, nonceResponder: nonceR,
                                           initiatorSPI: initiatorSPI, responderSPI: responderSPI,
                                           encryption: chosen.encryption, integrity: chosen.integrity)
        return installKeys(k, algorithms: chosen, &out).map { ($0, k) }
    }

    /// The SK protections for `k` (and the key log line, when enabled).
    func installKeys(_ k: IKESAKeys, algorithms a: NegotiatedAlgorithms, _ out: inout [IKEAction]) -> IKESAKeying? {
        guard let keying = IKESAKeying(algorithms: a, keys: k, isInitiator: isInitiator) else { return nil }
        if context.keyLogEnabled {
            out.append(.keyLog(IKEKeyLogEntry(initiatorSPI: initiatorSPI, responderSPI: responderSPI, skEi: k.skEi, skEr: k.skEr,
                                              skAi: k.skAi, skAr: k.skAr, encryption: a.encryption, integrity: a.integrity)))
        }
        return keying
    }

    // MARK: Responder

    /// Answers an IKE_SA_INIT request. Returns false (after sending an error notify when
    /// appropriate) when no SA results.
    func processInitRequest(_ message: IKEMessage, bytes: [UInt8], from: SocketAddress, to: SocketAddress,
                            candidates: [ConnectionPolicy], now: MonotonicInstant, _ out: inout [IKEAction]) -> Bool {
        if let why = PayloadRules.violation(message.payloads, exchange: .ikeSAInit, isRequest: true) {
            sendInitError(.invalidSyntax, data: [], messageID: message.header.messageID, &out)
            log(.warning, "IKE_SA_INIT from \(from) refused: \(why)", &out)
            return false
        }
        var proposals: [IKEProposal]?, keData: (UInt16, [UInt8])?, nonce: [UInt8]?
        var notifies: [IKENotify] = []
        for p in message.payloads {
            switch p {
            case .securityAssociation(let ps): proposals = ps
            case .keyExchange(let g, let d): keData = (g, d)
            case .nonce(let n): nonce = n
            case .notify(let n): notifies.append(n)
            default: break
            }
        }
        guard let proposals, let (group, peerKE) = keData, let nonce, nonce.count >= 16, nonce.count <= 256 else {
            sendInitError(.invalidSyntax, data: [], messageID: message.header.messageID, &out)
            log(.warning, "IKE_SA_INIT from \(from) lacks SA, KE or nonce", &out)
            return false
        }
        var selected: (ConnectionPolicy, NegotiatedAlgorithms, UInt8)?
        for c in candidates {
            if let (p, alg) = ProposalSelection.select(ours: c.proposals, theirs: proposals, protocolID: .ike, requireKeyExchange: true) {
                selected = (c, alg, p.number); break
            }
        }
        guard let (conn, chosen, proposalNumber) = selected else {
            sendInitError(.noProposalChosen, data: [], messageID: 0, &out)
            out.append(.event(.ikeFailed(connection: candidates.first?.name ?? "(none)",
                                         reason: "no acceptable proposal from \(from): offered \(describe(proposals))")))
            return false
        }
        policy = conn
        // ProposalSelection gives an IKE SA a key exchange method (requireKeyExchange) and a PRF.
        guard let chosenGroup = chosen.keyExchange, chosen.prf != nil else {
            sendInitError(.noProposalChosen, data: [], messageID: 0, &out)
            return false
        }
        guard chosenGroup.rawValue == group else {
            let g = chosenGroup.rawValue
            sendInitError(.invalidKEPayload, data: [UInt8(g >> 8), UInt8(g & 0xFF)], messageID: 0, &out)
            log(.info, "peer sent KE \(group), asking for \(chosenGroup.strongSwanName)", &out)
            return false
        }
        let ke: KeyExchange, shared: [UInt8]
        do {
            ke = try KeyExchange(group: chosenGroup, rng: &context.random)
            shared = try ke.sharedSecret(peerPublicValue: peerKE)
        } catch {
            sendInitError(.invalidSyntax, data: [], messageID: 0, &out)
            log(.warning, "invalid key exchange value from \(from): \(error)", &out)
            return false
        }
        let nonceI = nonce
        let nonceR = context.random.bytes(32)
        var peerAuth = PeerAuthCapabilities()
        peerAuth.record(message.payloads)
        evaluateNAT(message.payloads, spiR: 0, packetSource: from, packetDestination: to)
        fragmentationSupported = notifies.contains { $0.type == .ikev2FragmentationSupported } && policy.fragmentation != .no
        var payloads: [IKEPayload] = [
            .securityAssociation([chosen.wireProposal(number: proposalNumber, protocolID: .ike, spi: [])]),
            .keyExchange(group: group, data: ke.publicValue),
            .nonce(nonceR),
        ]
        payloads += natPayloads(spiR: responderSPI)
        if fragmentationSupported { payloads.append(.notify(IKENotify(type: .ikev2FragmentationSupported))) }
        if context.configuration.signatureAuthentication {
            payloads.append(.notify(IKENotify(type: .signatureHashAlgorithms, data: signatureHashAlgorithms)))
        }
        payloads += certificateRequestPayloads(candidates: candidates)
        let response = IKEMessage(header: header(.ikeSAInit, messageID: 0, isResponse: true), payloads: payloads).encode()
        window.cacheResponse(id: 0, datagrams: [response])
        window.acceptRequest()   // request 0 answered: the next is 1
        out.append(.send(datagram: response, from: local, to: remote))
        guard let (keys, full) = deriveKeys(chosen: chosen, shared: shared, nonceI: nonceI, nonceR: nonceR, &out) else { return false }
        phase = .authenticating(AuthPhase(keys: keys, skPi: full.skPi, skPr: full.skPr, nonceI: nonceI, nonceR: nonceR,
                                          initRequest: bytes, initResponse: response, peerAuth: peerAuth))
        halfOpenDeadline = now + Double(context.configuration.halfOpenTimeout)
        return true
    }

    private func sendInitError(_ type: IKENotifyType, data: [UInt8], messageID: UInt32, _ out: inout [IKEAction]) {
        let bytes = IKEMessage(header: header(.ikeSAInit, messageID: messageID, isResponse: true),
                               payloads: [.notify(IKENotify(type: type, data: data))]).encode()
        out.append(.send(datagram: bytes, from: local, to: remote))
    }

    func describe(_ proposals: [IKEProposal]) -> String {
        proposals.map { p in
            p.transforms.map { t in "\(t.type):\(t.id)\(t.keyLength.map { "/\($0)" } ?? "")" }.joined(separator: ",")
        }.joined(separator: " | ")
    }
}

extension AlgorithmProposal {
    /// A proposal holding exactly the negotiated algorithms.
    static func single(_ a: NegotiatedAlgorithms) -> AlgorithmProposal {
        AlgorithmProposal(proposalProtocol: a.prf != nil ? .ike : .esp, encryption: [a.encryption],
                          integrity: a.integrity == .none ? [] : [a.integrity], prf: a.prf.map { [$0] } ?? [],
                          keyExchange: a.keyExchange.map { [$0] } ?? [], extendedSequenceNumbers: [a.esn])
    }
}
