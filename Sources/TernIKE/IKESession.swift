import TernCrypto
import TernDataPlane
import TernPKI
import TernWire
import X509

/// One IKE SA (RFC 7296): its phase and the data only that phase has (IKESession+Phase.swift),
/// its message window (IKEMessageWindow.swift), and its CHILD SAs. Each exchange is a task in
/// its own `Task+*.swift` file; arriving messages are checked against the payload table
/// (PayloadRules.swift) first. The endpoint routes datagrams and timers here; the session sees
/// it only as an `IKESessionContext`.
///
/// Contract: never touches I/O or clocks; every method takes `now` and appends actions to `out`.
final class IKESession {
    typealias State = IKESAState

    let uniqueID: UInt32
    /// What the session may ask of its endpoint, and where it reports (IKESessionContext.swift).
    unowned let context: any IKESessionContext
    var policy: ConnectionPolicy
    /// Which side sends IKE_SA_INIT: the original initiator (its header flag "I").
    let isInitiator: Bool
    var initiatorSPI: UInt64
    var responderSPI: UInt64
    var local: SocketAddress
    var remote: SocketAddress
    /// The phase and the data only it has (IKESession+Phase.swift).
    var phase: IKEPhase
    var state: State { phase.state }

    var localNAT = false
    var remoteNAT = false
    var fragmentationSupported = false
    var localIdentity: Identity = .any
    var remoteIdentity: Identity = .any
    /// The identity the peer proved with EAP (its lease key), when EAP ran.
    var eapIdentity: String?
    /// Virtual IPs the peer assigned us (CFG_REPLY) and the DNS servers that came with them.
    var localVirtualIPs: [IPAddress] = []
    var receivedDNS: [IPAddress] = []
    /// Virtual IPs we leased to the peer (Task+Configuration.swift).
    var remoteLeases: [VirtualIPLease] = []

    /// Message IDs, our request in flight and its retransmissions, the queue behind it, the
    /// cached response (IKEMessageWindow.swift).
    var window = IKEMessageWindow()
    var fragments = FragmentBuffer()

    var children: [ChildSA] = []
    /// New CHILD SAs (by inbound SPI) whose outbound SA waits for the rekey initiator's delete, with a deadline.
    var pendingOutbound: [UInt32: MonotonicInstant] = [:]
    /// CHILD SA names to create right after IKE_AUTH (the first goes into IKE_AUTH).
    var pendingChildren: [String] = []

    // Timers (absolute instants on the monotonic clock).
    let createdAt: MonotonicInstant
    var establishedAt: MonotonicInstant?
    var rekeyAt: MonotonicInstant?
    var reauthAt: MonotonicInstant?
    var deleteAt: MonotonicInstant?
    var lastInbound: MonotonicInstant
    var keepaliveAt: MonotonicInstant?
    var halfOpenDeadline: MonotonicInstant?
    /// Number of establishment attempts so far (keyingtries).
    var attempt = 1

    /// A rekey of this IKE SA by the peer that collided with ours (RFC 7296 §2.8.2).
    var peerRekeyNonces: (ni: [UInt8], nr: [UInt8], newSession: IKESession)?
    /// Set when a new IKE SA took over our CHILD SAs.
    var successor: IKESession?
    /// The IKE SA this one reauthenticates; deleted once we are established.
    var replaces: IKESession?

    /// The deadline of this session's entry in the endpoint's heap, and whether the current
    /// input may have moved it (IKEEndpoint.touch).
    var scheduledDeadline: MonotonicInstant?
    var touched = false
    /// A decrypted IKE_AUTH waiting for the CRLs its certificate check needs (lookups), and the
    /// CRLs fetched for it so far (nil: that URI could not be fetched).
    var parked: ParkedMessage?
    var fetchedCRLs: [String: [CRL]?] = [:]
    /// The peer's CERT payloads parsed for the message being handled (and kept while it is
    /// parked): `crlURIsToFetch` and the signature check read the same certificates, and
    /// parsing them is most of what an IKE_AUTH with certificates costs (`peerCertificate`).
    var certificateCache: [(der: [UInt8], certificate: Certificate?)] = []

    struct ParkedMessage {
        var header: IKEHeader
        var payloads: [IKEPayload]
        var from: SocketAddress
        var to: SocketAddress
        var waiting: Set<String>
    }

    init(uniqueID: UInt32, context: any IKESessionContext, policy: ConnectionPolicy, isInitiator: Bool, phase: IKEPhase,
         initiatorSPI: UInt64, responderSPI: UInt64, local: SocketAddress, remote: SocketAddress, now: MonotonicInstant) {
        self.uniqueID = uniqueID; self.context = context; self.policy = policy; self.isInitiator = isInitiator
        self.phase = phase
        self.initiatorSPI = initiatorSPI; self.responderSPI = responderSPI
        self.local = local; self.remote = remote
        self.createdAt = now; self.lastInbound = now
    }

    /// This IKE SA for another endpoint (`IKEEndpoint.copy()`): every field copied, CHILD SAs
    /// copied; links to other sessions are set by `relink` once all are copied.
    func copy(context: any IKESessionContext) -> IKESession {
        let c = IKESession(uniqueID: uniqueID, context: context, policy: policy, isInitiator: isInitiator, phase: phase,
                           initiatorSPI: initiatorSPI, responderSPI: responderSPI, local: local, remote: remote, now: createdAt)
        c.localNAT = localNAT; c.remoteNAT = remoteNAT; c.fragmentationSupported = fragmentationSupported
        c.localIdentity = localIdentity; c.remoteIdentity = remoteIdentity; c.eapIdentity = eapIdentity
        c.localVirtualIPs = localVirtualIPs; c.receivedDNS = receivedDNS; c.remoteLeases = remoteLeases
        c.window = window; c.fragments = fragments
        c.children = children.map { $0.copy() }
        // A colliding rekey remembers the peer's new CHILD SA: point it at that SA's copy.
        for (copy, original) in zip(c.children, children) {
            if let p = original.peerRekey, let i = children.firstIndex(where: { $0 === p.child }) {
                copy.peerRekey = PeerRekey(child: c.children[i], nonceI: p.nonceI, nonceR: p.nonceR)
            }
        }
        c.pendingOutbound = pendingOutbound; c.pendingChildren = pendingChildren
        c.establishedAt = establishedAt; c.rekeyAt = rekeyAt; c.reauthAt = reauthAt; c.deleteAt = deleteAt
        c.lastInbound = lastInbound; c.keepaliveAt = keepaliveAt; c.halfOpenDeadline = halfOpenDeadline
        c.attempt = attempt
        c.scheduledDeadline = scheduledDeadline
        c.parked = parked; c.fetchedCRLs = fetchedCRLs; c.certificateCache = certificateCache
        return c
    }

    /// Points a copy's links (successor, the SA it replaces, a colliding rekey's new SA) at the copies.
    func relink(from original: IKESession, _ copyOf: (IKESession) -> IKESession?) {
        successor = original.successor.flatMap(copyOf)
        replaces = original.replaces.flatMap(copyOf)
        if let p = original.peerRekeyNonces, let n = copyOf(p.newSession) { peerRekeyNonces = (p.ni, p.nr, n) }
    }

    var localSPI: UInt64 { isInitiator ? initiatorSPI : responderSPI }
    var isEstablished: Bool { state == .established || state == .rekeying }
    var natDetected: Bool { localNAT || remoteNAT }

    // MARK: - Requests we initiate

    /// What we remember about our request until its response arrives.
    enum ExchangeContext {
        case ikeSAInit                   // its KE and nonce are in the phase (InitPhase)
        case ikeAuth(ChildRequest?)
        case createChild(ChildRequest)
        case rekeyIKE(IKERekeyRequest)
        case deleteChildren([UInt32])
        case deleteIKE
        case informational
    }

    struct ChildRequest {
        var policy: ChildPolicy
        var inboundSPI: UInt32
        var nonce: [UInt8]
        var keyExchange: KeyExchange?
        var localTS: [IKETrafficSelector]
        var remoteTS: [IKETrafficSelector]
        var rekeying: UInt32?            // inbound SPI of the CHILD SA being replaced
        var reqid: UInt32
    }

    struct IKERekeyRequest {
        var newSPI: UInt64
        var nonce: [UInt8]
        var keyExchange: KeyExchange
    }

    func enqueue(_ r: PendingRequest, now: MonotonicInstant, _ out: inout [IKEAction]) {
        context.touch(self)
        window.queue.append(r)
        startNextRequest(now: now, &out)
    }

    /// Starts the next queued exchange when no request of ours is in flight.
    func startNextRequest(now: MonotonicInstant, _ out: inout [IKEAction]) {
        guard window.outstanding == nil, isEstablished || state == .rekeyed || state == .deleting, !window.queue.isEmpty else { return }
        let next = window.queue.removeFirst()
        switch next {
        case .createChild(let name): startCreateChild(name: name, now: now, &out)
        case .rekeyChild(let spi): startRekeyChild(inboundSPI: spi, now: now, &out)
        case .rekeyIKE: startRekeyIKE(now: now, &out)
        case .deleteChild(let spi, let reason): startDeleteChild(inboundSPI: spi, reason: reason, now: now, &out)
        case .deleteIKE(let reason): startDeleteIKE(reason: reason, now: now, &out)
        case .dpd: sendRequest(.informational, payloads: [], context: .informational, now: now, &out,
                               deadline: policy.dpdTimeout > 0 ? now + Double(policy.dpdTimeout) : nil)
        }
        if window.outstanding == nil { startNextRequest(now: now, &out) }
    }

    /// Encrypts and sends a request, remembering it for retransmission.
    func sendRequest(_ exchange: IKEExchangeType, payloads: [IKEPayload], context: ExchangeContext, now: MonotonicInstant,
                     _ out: inout [IKEAction], deadline: MonotonicInstant? = nil) {
        let id = window.takeRequestID()
        let datagrams = protect(exchange: exchange, payloads: payloads, messageID: id, isResponse: false)
        for d in datagrams { out.append(.send(datagram: d, from: local, to: remote)) }
        // Any request, not only a liveness check, is bounded by dpd_delay + dpd_timeout when both
        // are set: a peer that dies while a CREATE_CHILD_SA is outstanding is noticed as soon as a
        // DPD would have noticed it, not after the whole retransmission schedule (~165 s).
        // (strongSwan: IKEv2 liveness is the retransmission schedule alone; dpd_timeout is IKEv1's.)
        var bound = deadline
        if bound == nil, isEstablished, policy.dpdDelay > 0, policy.dpdTimeout > 0 {
            bound = max(now, lastInbound + Double(policy.dpdDelay)) + Double(policy.dpdTimeout)
        }
        window.sent(id, exchange: context, datagrams: datagrams, now: now, schedule: self.context.configuration.retransmission, deadline: bound)
    }

    func sendResponse(_ exchange: IKEExchangeType, messageID: UInt32, payloads: [IKEPayload], _ out: inout [IKEAction]) {
        let datagrams = protect(exchange: exchange, payloads: payloads, messageID: messageID, isResponse: true)
        window.cacheResponse(id: messageID, datagrams: datagrams)
        for d in datagrams { out.append(.send(datagram: d, from: local, to: remote)) }
    }

    // MARK: - Encryption (SK, and SKF fragments per RFC 7383)

    func header(_ exchange: IKEExchangeType, messageID: UInt32, isResponse: Bool) -> IKEHeader {
        var flags: IKEHeaderFlags = []
        if isInitiator { flags.insert(.initiator) }
        if isResponse { flags.insert(.response) }
        return IKEHeader(initiatorSPI: initiatorSPI, responderSPI: responderSPI, exchangeType: exchange.rawValue,
                         flags: flags, messageID: messageID)
    }

    func protect(exchange: IKEExchangeType, payloads: [IKEPayload], messageID: UInt32, isResponse: Bool) -> [[UInt8]] {
        let hdr = header(exchange, messageID: messageID, isResponse: isResponse)
        guard exchange != .ikeSAInit, let outbound = phase.keys?.outbound else {
            return [IKEMessage(header: hdr, payloads: payloads).encode()]
        }
        let (first, inner) = IKEPayloadCodec.encode(payloads)
        let whole = IKEHeader.size + 4 + outbound.bodyLength(plaintextLength: inner.count)
        if fragmentationSupported && policy.fragmentation != .no && (whole > policy.fragmentSize || policy.fragmentation == .force)
            && exchange != .ikeSAInit {
            return fragment(header: hdr, first: first, inner: inner, protection: outbound)
        }
        let body = [UInt8](repeating: 0, count: outbound.bodyLength(plaintextLength: inner.count))
        var bytes = IKEMessage(header: hdr, payloads: [.encrypted(firstInnerPayload: first, body: body)]).encode()
        let aadLength = IKEHeader.size + 4
        let iv = context.random.bytes(outbound.ivLength)
        let sealed = outbound.seal(plaintext: inner, aad: Array(bytes[0..<aadLength]), iv: iv)
        bytes.replaceSubrange(aadLength..<bytes.count, with: sealed)
        return [bytes]
    }

    private func fragment(header hdr: IKEHeader, first: UInt8, inner: [UInt8], protection: IKEPayloadProtection) -> [[UInt8]] {
        // The largest plaintext chunk whose fragment datagram fits fragmentSize.
        let overhead = IKEHeader.size + 8
        var chunk = max(64, policy.fragmentSize - overhead - protection.ivLength - protection.icvLength - 17)
        while chunk > 64 && overhead + protection.bodyLength(plaintextLength: chunk) > policy.fragmentSize { chunk -= 1 }
        let total = max(1, (inner.count + chunk - 1) / chunk)
        var out: [[UInt8]] = []
        for n in 0..<total {
            let piece = Array(inner[(n * chunk)..<min(inner.count, (n + 1) * chunk)])
            let body = [UInt8](repeating: 0, count: protection.bodyLength(plaintextLength: piece.count))
            var bytes = IKEMessage(header: hdr, payloads: [.encryptedFragment(number: UInt16(n + 1), total: UInt16(total),
                                                                              firstInnerPayload: n == 0 ? first : 0, body: body)]).encode()
            let iv = context.random.bytes(protection.ivLength)
            let sealed = protection.seal(plaintext: piece, aad: Array(bytes[0..<overhead]), iv: iv)
            bytes.replaceSubrange(overhead..<bytes.count, with: sealed)
            out.append(bytes)
        }
        return out
    }

    enum Unprotected {
        case complete([IKEPayload])
        case partial                     // a fragment stored, more to come
        case failed(String)
    }

    /// Decrypts a received message (or collects its fragment). IKE_SA_INIT never comes here (the
    /// endpoint handles it), so before keys exist nothing is accepted.
    func unprotect(_ message: IKEMessage, bytes: [UInt8]) -> Unprotected {
        guard let inbound = phase.keys?.inbound else { return .failed("unprotected message before IKE_SA_INIT completed") }
        guard let last = message.payloads.last, let offset = message.encryptedPayloadOffset else {
            return .failed("unencrypted \(message.payloads.count)-payload message after IKE_SA_INIT")
        }
        if message.payloads.count > 1, let exchange = IKEExchangeType(rawValue: message.header.exchangeType),
           let why = PayloadRules.violationOutsideSK(message.payloads.dropLast(), exchange: exchange,
                                                     isRequest: !message.header.flags.contains(.response)) {
            return .failed(why)
        }
        switch last {
        case .encrypted(let first, let body):
            do {
                let plain = try inbound.open(body: body[...], aad: Array(bytes[0..<offset + 4]))
                return .complete(try IKEPayloadCodec.decode(first: first, plain[...]))
            } catch let e as TernCrypto.CryptoError {
                return .failed("SK payload: \(e.message)")
            } catch {
                return .failed("inner payloads: \(error)")
            }
        case .encryptedFragment(let number, let total, let first, let body):
            let plain: [UInt8]
            do {
                plain = try inbound.open(body: body[...], aad: Array(bytes[0..<offset + 8]))
            } catch {
                return .failed("SKF payload \(number)/\(total): \(error)")
            }
            switch fragments.add(messageID: message.header.messageID, isResponse: message.header.flags.contains(.response),
                                 number: number, total: total, first: first, plaintext: plain) {
            case .incomplete: return .partial
            case .invalid(let why): return .failed(why)
            case .complete(let first, let whole):
                do { return .complete(try IKEPayloadCodec.decode(first: first, whole[...])) } catch { return .failed("reassembled message: \(error)") }
            }
        default:
            return .failed("the last payload is not SK")
        }
    }

    // MARK: - Inbound dispatch

    func handle(message: IKEMessage, bytes: [UInt8], from: SocketAddress, to: SocketAddress, now: MonotonicInstant, _ out: inout [IKEAction]) {
        let h = message.header
        let isResponse = h.flags.contains(.response)
        // An IKE_AUTH waits for its CRLs: the only other messages now are retransmissions.
        if parked != nil { return }
        var fragment: UInt16?
        if case .encryptedFragment(let n, _, _, _)? = message.payloads.last { fragment = n }
        switch window.classify(messageID: h.messageID, isResponse: isResponse, fragmentNumber: fragment) {
        case .ignore: return
        case .resend(let datagrams):
            for d in datagrams { out.append(.send(datagram: d, from: local, to: remote)) }
            return
        case .handle: break
        }
        let payloads: [IKEPayload]
        switch unprotect(message, bytes: bytes) {
        case .partial: return
        case .failed(let why):
            context.logLimiter.log(.undecryptable, .warning, "\(policy.name)[\(uniqueID)] dropping message \(h.messageID) from \(from): \(why)", now: now, &out)
            return
        case .complete(let p): payloads = p
        }
        let uris = crlURIsToFetch(exchange: h.exchangeType, payloads)
        if !uris.isEmpty {
            parked = ParkedMessage(header: h, payloads: payloads, from: from, to: to, waiting: Set(uris))
            fetchedCRLs = [:]
            for uri in uris { context.waitFor(.fetchCRL(uri: uri), for: .session(localSPI), now: now, &out) }
            return
        }
        handleDecrypted(header: h, payloads: payloads, from: from, to: to, now: now, &out)
        certificateCache = []
    }

    /// A CRL a parked IKE_AUTH waited for arrived (nil: it could not be fetched); once all are
    /// in, the message is handled as if it had just arrived.
    func crlFetched(uri: String, crls: [CRL]?, now: MonotonicInstant, _ out: inout [IKEAction]) {
        guard var p = parked, p.waiting.remove(uri) != nil else { return }
        fetchedCRLs[uri] = crls
        parked = p
        guard p.waiting.isEmpty else { return }
        parked = nil
        handleDecrypted(header: p.header, payloads: p.payloads, from: p.from, to: p.to, now: now, &out)
        fetchedCRLs = [:]
        certificateCache = []
    }

    /// Handles a decrypted (and reassembled) message.
    func handleDecrypted(header h: IKEHeader, payloads: [IKEPayload], from: SocketAddress, to: SocketAddress, now: MonotonicInstant,
                         _ out: inout [IKEAction]) {
        let isResponse = h.flags.contains(.response)
        lastInbound = now
        // The initiator floated to port 4500 after NAT detection: the responder follows (RFC 3947).
        if to.port != local.port && to.port == context.configuration.natPort { local = to }
        if from != remote {
            if establishedAt == nil {
                remote = from
            } else if remoteNAT || from.address == remote.address {
                // RFC 7296 §2.23: a protected message from a new address moves a peer behind NAT.
                peerMoved(to: from, now: now, &out)
            }
        }
        if let unsupported = payloads.first(where: { if case .unknown(_, true, _) = $0 { true } else { false } }), !isResponse {
            if case .unknown(let t, _, _) = unsupported {
                window.acceptRequest()
                sendResponse(IKEExchangeType(rawValue: h.exchangeType) ?? .informational, messageID: h.messageID,
                             payloads: [.notify(IKENotify(type: .unsupportedCriticalPayload, data: [t]))], &out)
            }
            return
        }
        guard let exchange = IKEExchangeType(rawValue: h.exchangeType), let keys = phase.keys else { return }
        if let why = PayloadRules.violation(payloads, exchange: exchange, isRequest: !isResponse) {
            refuseMalformed(exchange: exchange, messageID: h.messageID, isResponse: isResponse, why: why, now: now, &out)
            return
        }
        if isResponse {
            guard let o = window.finishRequest() else { return }
            handleResponse(exchange: exchange, context: o.exchange, payloads: payloads, keys: keys, now: now, &out)
            startNextRequest(now: now, &out)
        } else {
            window.acceptRequest()
            handleRequest(exchange: exchange, messageID: h.messageID, payloads: payloads, keys: keys, now: now, &out)
            startNextRequest(now: now, &out)
        }
    }

    /// A message that breaks the payload table (PayloadRules). A request is answered with
    /// INVALID_SYNTAX (RFC 7296 §2.21.1); an IKE_AUTH request so answered ends the SA it would
    /// have authenticated. A response is dropped like a forged one: our request stays
    /// outstanding and its retransmissions decide.
    func refuseMalformed(exchange: IKEExchangeType, messageID: UInt32, isResponse: Bool, why: String, now: MonotonicInstant,
                         _ out: inout [IKEAction]) {
        if isResponse {
            context.logLimiter.log(.malformed, .warning, "\(policy.name)[\(uniqueID)] dropping message \(messageID): \(why)", now: now, &out)
            return
        }
        window.acceptRequest()
        sendResponse(exchange, messageID: messageID, payloads: [.notify(IKENotify(type: .invalidSyntax))], &out)
        log(.warning, "refusing message \(messageID): \(why) (INVALID_SYNTAX)", &out)
        if exchange == .ikeAuth {
            out.append(.event(.ikeFailed(connection: policy.name, reason: why)))
            destroy(reason: "invalid syntax", now: now, &out, notifyPeer: false)
        }
    }

    func handleResponse(exchange: IKEExchangeType, context: ExchangeContext, payloads: [IKEPayload], keys: IKESAKeying,
                        now: MonotonicInstant, _ out: inout [IKEAction]) {
        switch context {
        case .ikeSAInit: break   // handled by the endpoint before keys exist
        case .ikeAuth(let child): processAuthResponse(payloads, child: child, now: now, &out)
        case .createChild(let req): processCreateChildResponse(payloads, request: req, keys: keys, now: now, &out)
        case .rekeyIKE(let req): processRekeyIKEResponse(payloads, request: req, keys: keys, now: now, &out)
        case .deleteChildren(let spis): processDeleteChildrenResponse(payloads, spis: spis, now: now, &out)
        case .deleteIKE: destroy(reason: "deleted", now: now, &out, notifyPeer: false)
        case .informational: break
        }
    }

    func handleRequest(exchange: IKEExchangeType, messageID: UInt32, payloads: [IKEPayload], keys: IKESAKeying,
                       now: MonotonicInstant, _ out: inout [IKEAction]) {
        switch exchange {
        case .ikeAuth: processAuthRequest(payloads, messageID: messageID, now: now, &out)
        case .createChildSA: processCreateChildRequest(payloads, messageID: messageID, keys: keys, now: now, &out)
        case .informational: processInformationalRequest(payloads, messageID: messageID, now: now, &out)
        case .ikeSAInit: break
        }
    }

    // MARK: - Timers

    /// The earliest time `tick` has something to do. Must only name deadlines `tick` acts on
    /// (or clears), or the caller would spin.
    var nextDeadline: MonotonicInstant? {
        guard state != .dead else { return nil }
        // Called for every IKE SA whenever the timer is re-armed: no allocation here.
        var m = MonotonicInstant.never
        @inline(__always) func take(_ x: MonotonicInstant?) { if let x, x < m { m = x } }
        if let o = window.outstanding { take(o.retransmitAt); take(o.deadline) }
        if state == .established { take(rekeyAt); take(reauthAt) }
        take(deleteAt)
        take(keepaliveAt)
        take(halfOpenDeadline)
        for v in pendingOutbound.values { take(v) }
        if isEstablished && policy.dpdDelay > 0 && window.outstanding == nil && !window.dpdQueued { take(lastInbound + Double(policy.dpdDelay)) }
        for c in children {
            if c.state == .installed { take(c.rekeyAt) }
            if c.state != .deleting { take(c.expireAt) }
            take(c.removeAt)
        }
        return m == .never ? nil : m
    }

    func tick(now: MonotonicInstant, _ out: inout [IKEAction]) {
        if state == .dead { return }
        if let h = halfOpenDeadline, now >= h {
            context.logLimiter.log(.halfOpenTimeout, .info, "\(policy.name)[\(uniqueID)] half-open IKE_SA \(policy.name)[\(uniqueID)] timed out", now: now, &out)
            destroy(reason: "half-open timeout", now: now, &out, notifyPeer: false)
            return
        }
        switch window.retransmission(now: now, schedule: context.configuration.retransmission) {
        case .none: break
        case .peerDead(let reason):
            peerDead(reason: reason, now: now, &out)
            return
        case .resend(let datagrams, let number, let id):
            for d in datagrams { out.append(.send(datagram: d, from: local, to: remote)) }
            log(.debug, "retransmit \(number) of request with message ID \(id)", &out)
        }
        if let d = deleteAt, now >= d {
            deleteAt = nil
            if state == .rekeyed || state == .deleting {
                destroy(reason: "delete timed out", now: now, &out, notifyPeer: false)
            } else {
                enqueue(.deleteIKE(reason: "IKE_SA lifetime expired"), now: now, &out)
            }
            return
        }
        if let r = rekeyAt, now >= r, state == .established {
            rekeyAt = nil
            enqueue(.rekeyIKE, now: now, &out)
        }
        if let r = reauthAt, now >= r, state == .established {
            reauthAt = nil
            reauthenticate(now: now, &out)
            return
        }
        if let k = keepaliveAt, now >= k {
            out.append(.sendKeepalive(from: local, to: remote))
            keepaliveAt = now + Double(context.configuration.natKeepalive)
        }
        if isEstablished, policy.dpdDelay > 0, now >= lastInbound + Double(policy.dpdDelay), window.outstanding == nil, !window.dpdQueued {
            lastInbound = now   // one check per interval
            enqueue(.dpd, now: now, &out)
        }
        for (spi, at) in pendingOutbound where now >= at {
            if let c = children.first(where: { $0.inboundSPI == spi }) { finishResponderRekey(c, now: now, &out) }
            pendingOutbound[spi] = nil
        }
        for c in children {
            if let r = c.removeAt, now >= r {
                removeChildSAs(c, &out)
                children.removeAll { $0 === c }
                continue
            }
            if now >= c.expireAt, c.state != .deleting {
                log(.info, "CHILD_SA \(c.policy.name){\(c.uniqueID)} hard lifetime reached", &out)
                c.state = .deleting
                enqueue(.deleteChild(c.inboundSPI, reason: "lifetime expired"), now: now, &out)
            } else if c.state == .installed, now >= c.rekeyAt {
                c.state = .rekeying
                enqueue(.rekeyChild(c.inboundSPI), now: now, &out)
            }
        }
    }

    // MARK: - Helpers

    func log(_ level: IKEEvent.LogLevel, _ text: String, _ out: inout [IKEAction]) {
        out.append(.event(.log(level, "\(policy.name)[\(uniqueID)] \(text)")))
    }

    func info(now: MonotonicInstant) -> IKESAInfo {
        let algorithms = phase.algorithms
        var info = IKESAInfo(uniqueID: uniqueID, connection: policy.name, state: state, isInitiator: isInitiator,
                  initiatorSPI: initiatorSPI, responderSPI: responderSPI, local: local, remote: remote,
                  localIdentity: localIdentity.description, remoteIdentity: remoteIdentity.description,
                  encryption: algorithms?.encryption.strongSwanName ?? "", encryptionKeySize: algorithms?.encryption.keySizeBits,
                  integrity: algorithms.flatMap { $0.integrity == .none ? nil : $0.integrity.strongSwanName },
                  prf: algorithms?.prf?.strongSwanName ?? "", keyExchange: algorithms?.keyExchange?.strongSwanName ?? "",
                  natLocal: localNAT, natRemote: remoteNAT, natForced: policy.forceEncapsulation,
                  established: establishedAt.map { now.seconds(since: $0) }, rekeyIn: rekeyAt.map { max(0, $0.seconds(since: now)) },
                  reauthIn: reauthAt.map { max(0, $0.seconds(since: now)) }, children: children.map { $0.info(now: now) })
        info.localVirtualIPs = localVirtualIPs
        info.remoteVirtualIPs = remoteLeases.map(\.address)
        info.remoteEAPIdentity = eapIdentity
        return info
    }

    func installChild(_ c: ChildSA, withOutbound: Bool, _ out: inout [IKEAction]) {
        out.append(.installSA(c.inboundSA))
        if withOutbound {
            out.append(.installSA(c.outboundSA))
            c.outboundInstalled = true
        }
    }

    func removeChildSAs(_ c: ChildSA, _ out: inout [IKEAction]) {
        out.append(.removeSA(c.inboundSA.key))
        if c.outboundInstalled { out.append(.removeSA(c.outboundSA.key)); c.outboundInstalled = false }
    }

    /// Policies of a reqid stay while any CHILD SA of that reqid lives (across rekeys).
    func dropPoliciesIfUnused(reqid: UInt32, _ out: inout [IKEAction]) {
        if !context.reqidInUse(reqid) { out.append(.removePolicies(reqid: reqid)) }
    }

    func prfKeyPad(_ secret: [UInt8], prf: PRFAlgorithm) -> [UInt8] {
        prf.compute(key: secret, data: Array("Key Pad for IKEv2".utf8))
    }
}

/// Reassembly of SKF fragments (RFC 7383 §2.6), one message at a time per direction.
struct FragmentBuffer {
    enum Result { case incomplete, invalid(String), complete(first: UInt8, [UInt8]) }
    private var messageID: UInt32?
    private var isResponse = false
    private var total: UInt16 = 0
    private var first: UInt8 = 0
    private var pieces: [UInt16: [UInt8]] = [:]
    static let maxFragments: UInt16 = 64

    mutating func add(messageID id: UInt32, isResponse r: Bool, number: UInt16, total t: UInt16, first f: UInt8, plaintext: [UInt8]) -> Result {
        guard t >= 1, t <= Self.maxFragments, number >= 1, number <= t else { return .invalid("fragment \(number)/\(t) out of range") }
        if messageID != id || isResponse != r || total != t {
            if let m = messageID, m == id, isResponse == r, t < total { return .invalid("fragment total shrank") }
            messageID = id; isResponse = r; total = t; pieces = [:]; first = 0
        }
        if number == 1 { first = f }
        pieces[number] = plaintext
        guard pieces.count == Int(total) else { return .incomplete }
        var whole: [UInt8] = []
        for n in 1...total { whole += pieces[n] ?? [] }   // all `total` present: counted above
        let firstPayload = first
        messageID = nil; pieces = [:]
        return .complete(first: firstPayload, whole)
    }
}
