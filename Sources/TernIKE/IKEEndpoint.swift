import Foundation
import Crypto
import TernCrypto
import TernDataPlane
import TernWire

/// Commands an operator (VICI, CLI) can get wrong.
public struct IKECommandError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Counters of what the endpoint dropped or answered statelessly.
public struct IKEEndpointStats: Sendable {
    public var received = 0
    public var malformed = 0
    public var unknownSPI = 0
    public var cookiesSent = 0
    public var halfOpenLimited = 0
    public var noConnection = 0
    /// Lookups (DNS, routes, CRL files) asked for, and those that failed or timed out.
    public var lookups = 0
    public var lookupsFailed = 0
    /// IKE_SA_INIT requests dropped because too many already wait for a name lookup.
    public var parkedDropped = 0
    /// Cookie answers not sent because `cookieRateLimit` was reached.
    public var cookiesRateLimited = 0
    /// Half-open IKE SAs removed (oldest first) to stay within `halfOpenLimit`.
    public var halfOpenEvicted = 0
    /// CFG_REQUESTs answered INTERNAL_ADDRESS_FAILURE (every pool of the connection full).
    public var virtualIPFailures = 0
    public init() {}
}

/// The IKE side of a gateway (RFC 7296), sans-I/O: datagrams, commands and timer ticks in,
/// `[IKEAction]` out. Dispatches by our SPI to one `IKESession` per IKE SA, answers
/// IKE_SA_INIT (with cookies when too many SAs are half-open, §2.6), and owns the numbering
/// of SPIs, reqids and unique IDs.
///
/// Not thread-safe: the daemon calls it from one queue.
public final class IKEEndpoint {
    public private(set) var configuration: EngineConfiguration
    var random: EngineRandom
    let keyLogEnabled: Bool
    /// The calendar time certificates are checked against: an input, like `now` (which is
    /// monotonic). The daemon sets it before each call; the engine reads no clock.
    public var calendarTime = Date(timeIntervalSince1970: 0)
    public internal(set) var stats = IKEEndpointStats()
    /// IKE messages received and sent, in all and by connection (IKEMessageCounts.swift).
    public internal(set) var messages = IKEMessageCounts()
    public internal(set) var messagesByConnection: [String: IKEMessageCounts] = [:]
    /// The connections of IKE SAs removed during the current input, so the messages they sent
    /// last (a delete, its response) still count for their connection.
    var removedThisInput: [UInt64: String] = [:]

    var sessions: [UInt64: IKESession] = [:]                        // by our SPI
    /// When each IKE SA next needs `tick` (DeadlineHeap.swift).
    var deadlines = DeadlineHeap()
    /// Sessions whose deadline may have moved during the current input.
    var touched: [IKESession] = []

    // Lookups in flight and what waits for them (IKEEndpoint+Lookups.swift).
    var lookups: [UInt64: PendingLookup] = [:]
    var lookupIDs: [IKELookup: UInt64] = [:]
    var nextLookupID: UInt64 = 1
    /// Host names resolved so far, with when the answer goes stale.
    var names: [String: ResolvedName] = [:]
    /// IKE_SA_INIT requests waiting for a name in remote_addrs, at most `maxParkedInits`.
    var parkedInits = 0
    /// Tagged operator initiations not finished yet (IKEEndpoint+Initiations.swift).
    var watches: [UInt64: InitiationWatch] = [:]
    private var halfOpen: [HalfOpenKey: UInt64] = [:]               // responder SAs before IKE_AUTH
    /// The same entries by our SPI, so one leaves in O(1) (the session's address may have moved
    /// to port 4500 since its IKE_SA_INIT, so its key cannot be rebuilt from the session).
    private var halfOpenKeys: [UInt64: HalfOpenKey] = [:]
    private var childSPIs: Set<UInt32> = []
    private var nextReqid: UInt32 = 1
    private var nextUniqueID: UInt32 = 1
    /// The cookie secret and its formula, shared with the daemon's socket reader.
    public let cookies: IKECookies

    struct HalfOpenKey: Hashable { var initiatorSPI: UInt64; var remote: SocketAddress }
    /// Half-open SAs per source address, and every half-open SA in creation order (entries of
    /// SAs no longer half-open are skipped when met), for the per-source cookie rule and for
    /// evicting the oldest first.
    private var halfOpenBySource: [IPAddress: Int] = [:]
    private var halfOpenOrder: [UInt64] = []
    private var halfOpenOrderHead = 0
    /// Cookie answers left in this second (a token bucket refilled from `now`).
    private var cookieTokens = 0.0
    private var cookieTokensAt: MonotonicInstant?
    /// Trap policies by reqid, and the acquires being negotiated (IKEEndpoint+Traps.swift).
    var traps: [UInt32: Trap] = [:]
    var acquiring: [UInt32: MonotonicInstant] = [:]
    /// Per-packet log lines (no connection, malformed, undecryptable…) are rate-limited.
    var logLimiter = LogLimiter()
    /// Virtual-IP pools by name, with their leases (IKEEndpoint+Pools.swift).
    var pools: [String: AddressPool] = [:]
    /// Addresses assigned to us, and how many IKE SAs hold each.
    var localVirtualIPHolders: [IPAddress: Int] = [:]

    public init(configuration: EngineConfiguration, random: EngineRandom = .system(), keyLogEnabled: Bool = false) {
        self.configuration = configuration
        self.random = random
        self.keyLogEnabled = keyLogEnabled
        cookies = IKECookies(secret: self.random.bytes(32))
        _ = reconcilePools()
    }

    /// An independent endpoint in the same state as `other` (see `copy()`).
    private init(copying other: IKEEndpoint) {
        configuration = other.configuration
        random = other.random.copied()
        keyLogEnabled = other.keyLogEnabled
        cookies = other.cookies
        calendarTime = other.calendarTime
        stats = other.stats
        messages = other.messages; messagesByConnection = other.messagesByConnection
        deadlines = other.deadlines
        lookups = other.lookups; lookupIDs = other.lookupIDs; nextLookupID = other.nextLookupID
        names = other.names; parkedInits = other.parkedInits; watches = other.watches
        halfOpen = other.halfOpen; halfOpenKeys = other.halfOpenKeys; halfOpenBySource = other.halfOpenBySource
        halfOpenOrder = other.halfOpenOrder; halfOpenOrderHead = other.halfOpenOrderHead
        childSPIs = other.childSPIs; nextReqid = other.nextReqid; nextUniqueID = other.nextUniqueID
        cookieTokens = other.cookieTokens; cookieTokensAt = other.cookieTokensAt
        traps = other.traps; acquiring = other.acquiring; logLimiter = other.logLimiter
        pools = other.pools.mapValues { $0.copy() }; localVirtualIPHolders = other.localVirtualIPHolders
        // Sessions (and their CHILD SAs) are objects: copy each, then point the copies' links at copies.
        var copies: [ObjectIdentifier: IKESession] = [:]
        for (spi, s) in other.sessions {
            let c = s.copy(context: self)
            copies[ObjectIdentifier(s)] = c
            sessions[spi] = c
        }
        for s in other.sessions.values {
            copies[ObjectIdentifier(s)]?.relink(from: s) { copies[ObjectIdentifier($0)] }
        }
    }

    /// An independent endpoint in the same state: its IKE SAs, CHILD SAs, half-open table, traps,
    /// lookups, timers and the position of a seeded random generator are copied; cipher contexts
    /// and key-exchange secrets, which carry no per-message state, are shared. Inputs to one do
    /// not change the other. For fuzzing every input from one stored established pair instead
    /// of negotiating it again each time. Call between inputs, not during one.
    public func copy() -> IKEEndpoint { IKEEndpoint(copying: self) }

    /// New connections and secrets; running IKE SAs keep the connection they were negotiated
    /// with until rekeyed or re-established. Names in the new configuration are resolved anew.
    /// Returns warnings about pools that could not change (their addresses are online).
    @discardableResult
    public func update(configuration c: EngineConfiguration) -> [String] {
        configuration = c
        names = [:]
        return reconcilePools()
    }

    // MARK: - Inputs

    public func handle(datagram bytes: [UInt8], from: SocketAddress, to: SocketAddress, now: MonotonicInstant) -> [IKEAction] {
        var out: [IKEAction] = []
        stats.received += 1
        if let header = try? IKEHeader(decoding: bytes[...]) { countMessage(header, .inbound) }
        handle(datagram: bytes, from: from, to: to, now: now, &out)
        settleInitiations(&out)
        rescheduleTouched()
        return countSent(out)
    }

    func handle(datagram bytes: [UInt8], from: SocketAddress, to: SocketAddress, now: MonotonicInstant, _ out: inout [IKEAction]) {
        guard let header = try? IKEHeader(decoding: bytes[...]) else { stats.malformed += 1; return }
        let isResponse = header.flags.contains(.response)
        let senderIsInitiator = header.flags.contains(.initiator)
        let ourSPI = senderIsInitiator ? header.responderSPI : header.initiatorSPI

        if header.exchangeType == IKEExchangeType.ikeSAInit.rawValue && !isResponse && header.responderSPI == 0 {
            respondToInit(bytes, header: header, from: from, to: to, now: now, &out)
            return
        }
        guard let session = sessions[ourSPI], session.state != .dead else {
            stats.unknownSPI += 1
            return
        }
        touch(session)
        let message: IKEMessage
        do {
            message = try IKEMessage(decoding: bytes)
        } catch {
            stats.malformed += 1
            logLimiter.log(.malformed, .debug, "\(session.policy.name)[\(session.uniqueID)] malformed message from \(from): \(error)", now: now, &out)
            return
        }
        if header.exchangeType == IKEExchangeType.ikeSAInit.rawValue && isResponse {
            guard session.isInitiator, case .initiating = session.phase, session.window.outstanding?.messageID == 0, header.messageID == 0 else { return }
            session.processInitResponse(message, bytes: bytes, from: from, to: to, now: now, &out)
            return
        }
        session.handle(message: message, bytes: bytes, from: from, to: to, now: now, &out)
    }

    private func respondToInit(_ bytes: [UInt8], header: IKEHeader, from: SocketAddress, to: SocketAddress, now: MonotonicInstant, _ out: inout [IKEAction]) {
        let key = HalfOpenKey(initiatorSPI: header.initiatorSPI, remote: from)
        if let spi = halfOpen[key], let s = sessions[spi] {
            // Retransmitted IKE_SA_INIT: the same response (§2.1).
            if let c = s.window.cachedResponse, c.id == 0 { for d in c.datagrams { out.append(.send(datagram: d, from: s.local, to: s.remote)) } }
            return
        }
        guard header.messageID == 0, let message = try? IKEMessage(decoding: bytes) else { stats.malformed += 1; return }
        // §2.6: under load, only initiators that prove their address get state. Cookies are
        // asked for once too many SAs are half-open in all, or once this address holds
        // `perSourceCookieThreshold` of them: a spoofer of a peer's address cannot lock it out,
        // because the real peer returns the cookie and gets in.
        let nonce: [UInt8] = message.payloads.compactMap { if case .nonce(let n) = $0 { n } else { nil } }.first ?? []
        let fromSource = halfOpenBySource[from.address] ?? 0
        let perSourceCookies = min(configuration.perSourceCookieThreshold, configuration.perSourceHalfOpenLimit)
        if halfOpen.count >= configuration.cookieThreshold || fromSource >= perSourceCookies {
            let expected = cookie(nonce: nonce, address: from.address, initiatorSPI: header.initiatorSPI)
            guard case .notify(let n)? = message.payloads.first, n.type == .cookie, constantTimeEqual(n.data, expected) else {
                guard takeCookieToken(now: now) else { stats.cookiesRateLimited += 1; return }
                stats.cookiesSent += 1
                out.append(.send(datagram: IKECookies.reply(initiatorSPI: header.initiatorSPI, cookie: expected), from: to, to: from))
                return
            }
        }
        if fromSource >= configuration.perSourceHalfOpenLimit {
            // Only initiators that returned a cookie get here, so the address is theirs: many
            // peers behind one NAT, or one peer setting up many IKE SAs at once. Dropping the new
            // request (strongSwan's block_threshold) costs it a retransmit while the others finish
            // IKE_AUTH; evicting the oldest instead failed SAs halfway through their handshake.
            stats.halfOpenLimited += 1
            logLimiter.log(.halfOpenLimited, .info,
                           "IKE_SA_INIT from \(from) dropped: it already has \(fromSource) half-open IKE_SAs (block_threshold)",
                           now: now, &out)
            return
        }
        if configuration.halfOpenLimit > 0 && halfOpen.count >= configuration.halfOpenLimit {
            // init_limit_half_open: attackers that answer cookies still meet a ceiling; the
            // oldest unauthenticated SA goes first.
            guard evictOldestHalfOpen(from: nil, now: now, &out) else { stats.halfOpenLimited += 1; return }
        }
        let names = unresolvedNames(now: now, &out)
        if !names.isEmpty {
            // A connection names its peer by host name we have no answer for yet: this request
            // waits for the lookups (the peer's retransmits are answered once it is handled).
            parkInit(bytes, from: from, to: to, names: names, now: now, &out)
            return
        }
        let candidates = connections(local: to.address, remote: from.address)
        guard let first = candidates.first else {
            stats.noConnection += 1
            logLimiter.log(.noConnection, .info, "no connection configured for \(from) -> \(to); ignoring IKE_SA_INIT", now: now, &out)
            let reply = IKEMessage(header: IKEHeader(initiatorSPI: header.initiatorSPI, responderSPI: 0,
                                                     exchangeType: IKEExchangeType.ikeSAInit.rawValue, flags: [.response], messageID: 0),
                                   payloads: [.notify(IKENotify(type: .noProposalChosen))]).encode()
            out.append(.send(datagram: reply, from: to, to: from))
            return
        }
        let spi = allocateIKESPI()
        let s = IKESession(uniqueID: allocateUniqueID(), context: self, policy: first, isInitiator: false, phase: .created,
                           initiatorSPI: header.initiatorSPI, responderSPI: spi, local: to, remote: from, now: now)
        if s.processInitRequest(message, bytes: bytes, from: from, to: to, candidates: candidates, now: now, &out) {
            sessions[spi] = s
            halfOpen[key] = spi
            halfOpenKeys[spi] = key
            halfOpenBySource[key.remote.address, default: 0] += 1
            halfOpenOrder.append(spi)
            touch(s)
        }
    }

    func cookie(nonce: [UInt8], address: IPAddress, initiatorSPI: UInt64) -> [UInt8] {
        cookies.expected(nonce: nonce, address: address, initiatorSPI: initiatorSPI)
    }

    /// Whether every new initiator must return a cookie now (too many half-open SAs in all):
    /// the daemon's reader then answers cookie-less IKE_SA_INITs itself (`cookies.answer`).
    public var requiresCookies: Bool { halfOpen.count >= configuration.cookieThreshold }

    public func handleTimeout(now: MonotonicInstant) -> [IKEAction] {
        var out: [IKEAction] = []
        expireLookups(now: now, &out)
        logLimiter.flush(now: now, &out)
        // Each due session ticks once per call: a deadline tick leaves in place comes back next call.
        for spi in deadlines.popDue(now: now) {
            guard let s = sessions[spi] else { continue }
            touch(s)
            if let d = s.nextDeadline, d <= now { s.tick(now: now, &out) }
        }
        settleInitiations(&out)
        rescheduleTouched()
        return countSent(out)
    }

    /// The earliest time `handleTimeout` has something to do: O(1), from the deadline heap (and
    /// the few lookups in flight). May be early (a deadline that moved later), never late.
    public var nextDeadline: MonotonicInstant? {
        let m = min(deadlines.earliest ?? .never, earliestLookupDeadline ?? .never, logLimiter.nextFlush ?? .never)
        return m == .never ? nil : m
    }

    /// The same by walking every IKE SA: what the heap must never be later than (tests check it).
    public var nextDeadlineByScan: MonotonicInstant? {
        var m = min(earliestLookupDeadline ?? .never, logLimiter.nextFlush ?? .never)
        for s in sessions.values { if let d = s.nextDeadline, d < m { m = d } }
        return m == .never ? nil : m
    }

    /// Marks a session whose timers may change during this input; its heap entry is redone at the end.
    func touch(_ s: IKESession) {
        if !s.touched { s.touched = true; touched.append(s) }
    }

    /// Puts every session touched by this input back into the heap at its current deadline.
    /// Sessions reachable from a touched one (its rekeyed successor, the SA it replaces) go too.
    func rescheduleTouched() {
        var i = 0
        while i < touched.count {
            let s = touched[i]
            for related in [s.successor, s.replaces, s.peerRekeyNonces?.newSession] { if let r = related { touch(r) } }
            i += 1
        }
        for s in touched {
            s.touched = false
            let d = s.state == .dead || sessions[s.localSPI] !== s ? nil : s.nextDeadline
            if d != s.scheduledDeadline {
                s.scheduledDeadline = d
                if let d { deadlines.schedule(spi: s.localSPI, at: d) }
            }
        }
        touched.removeAll(keepingCapacity: true)
        if deadlines.count > 64 + 2 * sessions.count {
            deadlines.rebuild(sessions.values.compactMap { s in s.scheduledDeadline.map { (s.localSPI, $0) } })
        }
    }

    /// Traffic counters from the data plane, by SPI (inbound and outbound SAs). CHILD SAs
    /// that passed rekey_bytes/rekey_packets are rekeyed; past life_bytes/life_packets deleted.
    public func updateTraffic(_ usage: [UInt32: (bytes: UInt64, packets: UInt64)], now: MonotonicInstant) -> [IKEAction] {
        var out: [IKEAction] = []
        defer { rescheduleTouched() }
        for s in sessions.values where s.isEstablished {
            for c in s.children {
                let i = usage[c.inboundSPI], o = usage[c.outboundSPI]
                let bytes = max(i?.bytes ?? 0, o?.bytes ?? 0), packets = max(i?.packets ?? 0, o?.packets ?? 0)
                let p = c.policy
                if c.state != .deleting && ((p.lifeBytes > 0 && bytes >= p.lifeBytes) || (p.lifePackets > 0 && packets >= p.lifePackets)) {
                    s.log(.info, "CHILD_SA \(p.name){\(c.uniqueID)} reached its volume lifetime (\(bytes) bytes, \(packets) packets)", &out)
                    c.state = .deleting
                    s.enqueue(.deleteChild(c.inboundSPI, reason: "volume lifetime reached"), now: now, &out)
                } else if c.state == .installed && ((c.rekeyAtBytes > 0 && bytes >= c.rekeyAtBytes) || (c.rekeyAtPackets > 0 && packets >= c.rekeyAtPackets)) {
                    s.log(.info, "CHILD_SA \(p.name){\(c.uniqueID)} rekey by volume (\(bytes) bytes, \(packets) packets)", &out)
                    c.state = .rekeying
                    s.enqueue(.rekeyChild(c.inboundSPI), now: now, &out)
                }
            }
        }
        return countSent(out)
    }

    // MARK: - Commands

    /// Initiates a connection with one CHILD SA (or all of them when `child` is nil).
    /// With a `tag`, an `initiationFinished(tag:failure:)` event reports this initiation's own
    /// outcome (VICI `initiate` waits for it).
    public func initiate(connection name: String, child: String? = nil, now: MonotonicInstant, tag: UInt64? = nil) throws(IKECommandError) -> [IKEAction] {
        guard let c = configuration.connections.first(where: { $0.name == name }) else {
            throw IKECommandError("no connection named '\(name)'")
        }
        let names: [String]
        if let child {
            guard c.children.contains(where: { $0.name == child }) else { throw IKECommandError("connection '\(name)' has no child '\(child)'") }
            names = [child]
        } else {
            names = c.children.map(\.name)
        }
        guard c.canInitiate else {
            throw IKECommandError("connection '\(name)' has no single remote address to initiate to (remote_addrs = \(c.remoteAddresses))")
        }
        var out: [IKEAction] = []
        defer { rescheduleTouched() }
        // An established IKE SA of this connection gets a new CHILD SA instead.
        if configuration.reuseIKESA, let s = sessions.values.first(where: { $0.policy.name == name && $0.isEstablished && $0.successor == nil }) {
            if let tag { watches[tag] = InitiationWatch(connection: c.name, child: child, spi: s.localSPI) }
            for n in names { s.enqueue(.createChild(n), now: now, &out) }
            settleInitiations(&out)
            return countSent(out)
        }
        // Where the peer's name or our source address is not known yet, the initiation waits for
        // a lookup; a failure arrives as an ikeFailed event.
        if let tag { watches[tag] = InitiationWatch(connection: c.name, child: child, spi: nil) }
        initiate(InitiationRequest(connection: c.name, children: names, attempt: 1, tag: tag), now: now, &out)
        settleInitiations(&out)
        return countSent(out)
    }

    /// Installs trap policies and initiates every connection with a start_action = start child.
    public func startConnections(now: MonotonicInstant) -> [IKEAction] {
        var out: [IKEAction] = []
        defer { rescheduleTouched() }
        prefetchNames(now: now, &out)
        installTraps(now: now, &out)
        for c in configuration.connections {
            let names = c.children.filter { $0.startAction.starts }.map(\.name)
            guard !names.isEmpty, !sessions.values.contains(where: { $0.policy.name == c.name && $0.state != .dead }),
                  !initiationPending(connection: c.name) else { continue }
            initiate(InitiationRequest(connection: c.name, children: names, attempt: 1), now: now, &out)
        }
        return countSent(out)
    }

    /// An IKE SA to set up, waiting (if it must) for the peer's address and our source address.
    struct InitiationRequest {
        var connection: String
        var children: [String]
        var attempt: Int
        /// The IKE SA (our SPI) this one reauthenticates: deleted once the new one is up.
        var replaces: UInt64?
        /// The operator initiation this is (`initiate(…, tag:)`), if any.
        var tag: UInt64?
        /// Filled in as lookups answer.
        var target: IPAddress?
        var sourceAddress: IPAddress?

        init(connection: String, children: [String], attempt: Int, replaces: UInt64? = nil, tag: UInt64? = nil) {
            self.connection = connection; self.children = children; self.attempt = attempt
            self.replaces = replaces; self.tag = tag
        }
    }

    /// Starts IKE_SA_INIT for `request`, or parks it behind the lookup it needs first. Failures
    /// (no such connection any more, a name without addresses, no route) are ikeFailed events.
    func initiate(_ request: InitiationRequest, now: MonotonicInstant, _ out: inout [IKEAction]) {
        guard let c = configuration.connections.first(where: { $0.name == request.connection }) else {
            out.append(.event(.ikeFailed(connection: request.connection, reason: "connection '\(request.connection)' is no longer configured")))
            finishInitiation(request.tag, failure: "connection '\(request.connection)' is no longer configured", &out)
            return
        }
        let target: IPAddress
        switch request.target.map(TargetLookup.address) ?? initiationTarget(of: c, now: now) {
        case .address(let a): target = a
        case .wait(let host):
            waitFor(.resolve(host: host), for: .initiation(request), now: now, &out)
            return
        case .failed(let why):
            out.append(.event(.ikeFailed(connection: c.name, reason: why)))
            finishInitiation(request.tag, failure: why, &out)
            acquiresFailed(connection: c.name, children: request.children, &out)
            return
        }
        var localAddr: IPAddress?
        for m in c.localAddresses { if case .address(let a) = m, a.family == target.family { localAddr = a; break } }
        guard let src = localAddr ?? request.sourceAddress else {
            var r = request
            r.target = target
            waitFor(.sourceAddress(toward: target), for: .initiation(r), now: now, &out)
            return
        }
        let spi = allocateIKESPI()
        let s = IKESession(uniqueID: allocateUniqueID(), context: self, policy: c, isInitiator: true, phase: .created,
                           initiatorSPI: spi, responderSPI: 0,
                           local: SocketAddress(src, c.localPort), remote: SocketAddress(target, c.remotePort), now: now)
        s.attempt = request.attempt
        s.pendingChildren = request.children
        sessions[spi] = s
        touch(s)
        if let tag = request.tag { watches[tag]?.spi = spi }
        if let old = request.replaces.flatMap({ sessions[$0] }), old.state != .dead { s.replaces = old }
        s.startInit(now: now, &out)
    }

    /// Deletes IKE SAs of a connection (by name) or one by unique ID, telling the peer.
    public func terminate(ike name: String? = nil, uniqueID: UInt32? = nil, now: MonotonicInstant) throws(IKECommandError) -> [IKEAction] {
        defer { rescheduleTouched() }
        let matching = sessions.values.filter { s in
            s.state != .dead && (name == nil || s.policy.name == name) && (uniqueID == nil || s.uniqueID == uniqueID)
        }
        guard !matching.isEmpty else { throw IKECommandError("no IKE_SA matches \(name.map { "'\($0)'" } ?? "#\(uniqueID ?? 0)")") }
        var out: [IKEAction] = []
        for s in matching.sorted(by: { $0.uniqueID < $1.uniqueID }) {
            if s.isEstablished { s.enqueue(.deleteIKE(reason: "terminated by operator"), now: now, &out) }
            else { s.destroy(reason: "terminated by operator", now: now, &out, notifyPeer: false) }
        }
        return countSent(out)
    }

    /// Deletes CHILD SAs by child name (or unique ID).
    public func terminate(child name: String? = nil, uniqueID: UInt32? = nil, now: MonotonicInstant) throws(IKECommandError) -> [IKEAction] {
        var out: [IKEAction] = []
        defer { rescheduleTouched() }
        var found = false
        for s in sessions.values where s.isEstablished {
            for c in s.children where c.state == .installed && (name == nil || c.policy.name == name) && (uniqueID == nil || c.uniqueID == uniqueID) {
                found = true
                c.state = .deleting
                s.enqueue(.deleteChild(c.inboundSPI, reason: "terminated by operator"), now: now, &out)
            }
        }
        guard found else { throw IKECommandError("no CHILD_SA matches \(name.map { "'\($0)'" } ?? "#\(uniqueID ?? 0)")") }
        return countSent(out)
    }

    /// Rekeys IKE SAs (by connection name) or CHILD SAs (by child name) now.
    public func rekey(ike name: String? = nil, child: String? = nil, now: MonotonicInstant) throws(IKECommandError) -> [IKEAction] {
        var out: [IKEAction] = []
        defer { rescheduleTouched() }
        var found = false
        for s in sessions.values.sorted(by: { $0.uniqueID < $1.uniqueID }) where s.state == .established {
            if let name, child == nil, s.policy.name == name {
                found = true
                s.enqueue(.rekeyIKE, now: now, &out)
            }
            if let child {
                for c in s.children where c.state == .installed && c.policy.name == child && (name == nil || s.policy.name == name) {
                    found = true
                    c.state = .rekeying
                    s.enqueue(.rekeyChild(c.inboundSPI), now: now, &out)
                }
            }
        }
        guard found else { throw IKECommandError("nothing to rekey matches \(child.map { "child '\($0)'" } ?? "IKE_SA '\(name ?? "")'")") }
        return countSent(out)
    }

    /// IKE SAs that are not dead, and how many of them are still being set up; cheaper than
    /// `listSAs` for the VICI `stats` a benchmark polls every few milliseconds.
    public var saCounts: (total: Int, connecting: Int) {
        var total = 0, connecting = 0
        for s in sessions.values where s.state != .dead {
            total += 1
            if s.state == .connecting { connecting += 1 }
        }
        return (total, connecting)
    }

    public func listSAs(now: MonotonicInstant) -> [IKESAInfo] {
        sessions.values.filter { $0.state != .dead }.sorted { $0.uniqueID < $1.uniqueID }.map { $0.info(now: now) }
    }

    // MARK: - Services for sessions

    func connections(local: IPAddress, remote: IPAddress) -> [ConnectionPolicy] {
        configuration.connections.filter { c in
            (c.localAddresses.isEmpty || c.localAddresses.contains { $0.matches(local, resolve: cachedAddresses) })
                && (c.remoteAddresses.isEmpty || c.remoteAddresses.contains { $0.matches(remote, resolve: cachedAddresses) })
        }.sorted { a, b in
            let sa = (a.remoteAddresses.map(\.specificity).max() ?? 0) + (a.localAddresses.map(\.specificity).max() ?? 0)
            let sb = (b.remoteAddresses.map(\.specificity).max() ?? 0) + (b.localAddresses.map(\.specificity).max() ?? 0)
            return sa > sb
        }
    }

    /// The connection a responder uses once IDi (and maybe IDr) are known.
    func connectionForAuth(current: ConnectionPolicy, local: IPAddress, remote: IPAddress, peer: Identity,
                           requestedLocal: Identity?, keys: IKESAKeying, signature: Bool) -> ConnectionPolicy? {
        let algorithms = keys.algorithms
        let candidates = connections(local: local, remote: remote).filter { c in
            c.proposals.contains { p in
                p.encryption.contains(algorithms.encryption) && (algorithms.integrity == .none || p.integrity.contains(algorithms.integrity))
                    && p.prf.contains(keys.prf) && p.keyExchange.contains(keys.keyExchange)
            }
        }
        func score(_ c: ConnectionPolicy) -> Int? {
            var s = 0
            if let r = c.remoteIdentity, r != .any {
                guard r.matches(peer) else { return nil }
                s += r == peer ? 4 : 2
            }
            if let want = requestedLocal, want != .any {
                let mine = c.localIdentity ?? .address(local)
                guard mine.matches(want) || want.matches(mine) else { return nil }
                s += 1
            }
            if c.name == current.name { s += 1 }
            // A connection expecting the kind of AUTH the peer sent beats one that would refuse it.
            if (c.remoteAuth == .pubkey) == signature { s += 8 }
            return s
        }
        return candidates.compactMap { c in score(c).map { (c, $0) } }.max { $0.1 < $1.1 }?.0
    }

    /// strongSwan's choice of shared key: every owner must match one of the two identities; a
    /// key without owners matches anyone; the best combined match wins.
    func sharedKey(local: Identity, remote: Identity) -> [UInt8]? {
        var best: (Int, [UInt8])?
        for k in configuration.sharedKeys {
            var score = 0
            if k.owners.isEmpty {
                score = 1
            } else {
                var matchedLocal = false, matchedRemote = false
                for o in k.owners {
                    if o == local { matchedLocal = true } else if o == remote { matchedRemote = true }
                    else if o.matches(local) { matchedLocal = true } else if o.matches(remote) { matchedRemote = true }
                }
                if !matchedLocal && !matchedRemote { continue }
                score = (matchedLocal ? 2 : 0) + (matchedRemote ? 3 : 0)
            }
            if best.map({ score > $0.0 }) ?? true { best = (score, k.secret) }
        }
        return best?.1
    }

    func hasOtherSA(with c: ConnectionPolicy, excluding s: IKESession, peer: Identity? = nil, includingConnecting: Bool = false) -> Bool {
        sessions.values.contains { o in
            o !== s && o.policy.name == c.name && (o.isEstablished || (includingConnecting && o.state == .connecting))
                && (peer == nil || o.remoteIdentity == peer)
        }
    }

    /// INITIAL_CONTACT / unique = replace: other IKE SAs with this identity go away silently.
    func removeDuplicates(of s: IKESession, identity: Identity, now: MonotonicInstant, _ out: inout [IKEAction], initialContact: Bool) {
        for o in Array(sessions.values) where o !== s && o.remoteIdentity == identity && o.establishedAt != nil && o.state != .dead
            && (initialContact ? o.remote.address == s.remote.address || o.policy.name == s.policy.name : o.policy.name == s.policy.name) {
            o.log(.info, "replaced by IKE_SA [\(s.uniqueID)] (\(initialContact ? "INITIAL_CONTACT" : "unique = replace"))", &out)
            o.destroy(reason: "replaced", now: now, &out, notifyPeer: !initialContact)
        }
    }

    func sessionEstablished(_ s: IKESession, now: MonotonicInstant, _ out: inout [IKEAction]) {
        removeHalfOpen(spi: s.localSPI)
        if let old = s.replaces {
            s.replaces = nil
            if old.state != .dead { old.enqueue(.deleteIKE(reason: "reauthenticated"), now: now, &out) }
        }
    }

    func remove(_ s: IKESession) {
        removedThisInput[s.localSPI] = s.policy.name
        sessions[s.localSPI] = nil
        removeHalfOpen(spi: s.localSPI)
    }

    private func removeHalfOpen(spi: UInt64) {
        guard let key = halfOpenKeys.removeValue(forKey: spi), halfOpen[key] == spi else { return }
        halfOpen[key] = nil
        if let n = halfOpenBySource[key.remote.address], n > 1 { halfOpenBySource[key.remote.address] = n - 1 }
        else { halfOpenBySource[key.remote.address] = nil }
        if halfOpen.isEmpty {
            halfOpenOrder.removeAll(keepingCapacity: true)
            halfOpenOrderHead = 0
        }
    }

    /// Removes the oldest half-open SA (of `source`, or of anyone), silently; false if none.
    private func evictOldestHalfOpen(from source: IPAddress?, now: MonotonicInstant, _ out: inout [IKEAction]) -> Bool {
        var i = halfOpenOrderHead
        while i < halfOpenOrder.count {
            let spi = halfOpenOrder[i]
            if let key = halfOpenKeys[spi], let s = sessions[spi], source == nil || key.remote.address == source {
                if i == halfOpenOrderHead { halfOpenOrderHead += 1 }
                stats.halfOpenEvicted += 1
                logLimiter.log(.halfOpenEvicted, .info, "half-open IKE_SA from \(key.remote) evicted to make room", now: now, &out)
                s.destroy(reason: "evicted (half-open limit)", now: now, &out, notifyPeer: false)
                return true
            }
            if i == halfOpenOrderHead { halfOpenOrderHead += 1 }   // no longer half-open: skip for good
            i += 1
            if source == nil && i - halfOpenOrderHead > 4096 { break }
        }
        if halfOpenOrderHead > 4096 && halfOpenOrderHead * 2 > halfOpenOrder.count {
            halfOpenOrder.removeFirst(halfOpenOrderHead)
            halfOpenOrderHead = 0
        }
        return false
    }

    /// One cookie answer's worth of the `cookieRateLimit` budget (a one-second bucket).
    private func takeCookieToken(now: MonotonicInstant) -> Bool {
        let rate = Double(configuration.cookieRateLimit)
        guard rate > 0 else { return true }
        // Full before the first answer.
        cookieTokens = cookieTokensAt.map { min(rate, cookieTokens + now.seconds(since: $0) * rate) } ?? rate
        cookieTokensAt = now
        guard cookieTokens >= 1 else { return false }
        cookieTokens -= 1
        return true
    }

    func allocateIKESPI() -> UInt64 {
        while true {
            let spi = random.ikeSPI()
            if sessions[spi] == nil { return spi }
        }
    }

    func allocateChildSPI() -> UInt32 {
        while true {
            let spi = random.childSPI()
            if childSPIs.insert(spi).inserted { return spi }
        }
    }
    func releaseChildSPI(_ spi: UInt32) { childSPIs.remove(spi) }

    func allocateReqid() -> UInt32 { defer { nextReqid &+= 1 }; return nextReqid }
    func allocateUniqueID() -> UInt32 { defer { nextUniqueID &+= 1 }; return nextUniqueID }

    func reqidInUse(_ reqid: UInt32) -> Bool {
        traps[reqid] != nil || sessions.values.contains { s in s.state != .dead && s.children.contains { $0.reqid == reqid } }
    }
}
