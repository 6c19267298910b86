import TernPKI
import TernWire

// Lookups: everything the engine would otherwise wait for (DNS, the routing table, CRL files)
// leaves as an `IKELookup` action with an id and comes back through `complete(lookup:result:now:)`.
// What needs the answer parks here (an initiation, a trap) or in its session (an IKE_AUTH that
// needs CRLs); every other IKE SA keeps moving meanwhile.
//
//   initiate ── remote_addrs name unknown? ── lookup(.resolve) ──► complete ──┐
//      ▲        source address unknown? ──── lookup(.sourceAddress) ─► complete ┤
//      └────────────────────────────────────────────────────────────────────┘ (retried with the answer)
//   IKE_SA_INIT from a peer that may be a named remote_addrs ─ lookup(.resolve) ─► re-handled
//   IKE_AUTH with a certificate to check ─ lookup(.fetchCRL) per URI ─► the session resumes it
//
// Identical lookups in flight are asked once. A lookup that has not answered within
// `lookupTimeout` fails everything that waits for it.

/// A name's addresses, and when to ask again.
struct ResolvedName {
    var addresses: [IPAddress]
    var staleAt: MonotonicInstant
    /// Why the last lookup failed, for the log line of an initiation that needed it.
    var failure: String?
}

/// One lookup in flight.
struct PendingLookup {
    let lookup: IKELookup
    var waiters: [LookupWaiter]
    let deadline: MonotonicInstant
}

/// What waits for a lookup.
enum LookupWaiter {
    case initiation(IKEEndpoint.InitiationRequest)
    case trap(connection: String, child: String, reqid: UInt32)
    /// An IKE_SA_INIT request that may come from a peer named in remote_addrs.
    case initRequest(bytes: [UInt8], from: SocketAddress, to: SocketAddress)
    /// A session (our SPI) that parked a message until its CRLs are fetched.
    case session(UInt64)
}

/// Where to initiate to, as far as the name cache knows.
enum TargetLookup {
    case address(IPAddress)
    case wait(String)
    case failed(String)
}

extension IKEEndpoint {
    /// How long a name's answer is used before it is looked up again (the daemon's resolver
    /// used to cache for the same minute).
    static let nameTTL = 60.0
    /// IKE_SA_INIT requests that may wait for name lookups at once; more are dropped (counted)
    /// and answered when the peer retransmits.
    static let maxParkedInits = 256

    /// Answers a lookup the engine asked for with `.lookup(id:_:)`. Unknown ids (answered twice,
    /// or timed out) are ignored.
    public func complete(lookup id: UInt64, result: IKELookupResult, now: MonotonicInstant) -> [IKEAction] {
        var out: [IKEAction] = []
        complete(id, result, now: now, &out)
        settleInitiations(&out)
        rescheduleTouched()
        return countSent(out)
    }

    func complete(_ id: UInt64, _ result: IKELookupResult, now: MonotonicInstant, _ out: inout [IKEAction]) {
        guard let pending = lookups.removeValue(forKey: id) else { return }
        lookupIDs[pending.lookup] = nil
        if case .failed = result { stats.lookupsFailed += 1 }
        if case .resolve(let host) = pending.lookup {
            var entry = ResolvedName(addresses: [], staleAt: now + 5)
            switch result {
            case .addresses(let a) where !a.isEmpty: entry = ResolvedName(addresses: a, staleAt: now + Self.nameTTL)
            case .failed(let why): entry.failure = why
            default: break
            }
            // An answer without addresses is remembered briefly too, so initiations retried by
            // keyingtries do not each wait for the same failing lookup.
            names[host] = entry
        }
        for waiter in pending.waiters { resume(waiter, lookup: pending.lookup, result: result, now: now, &out) }
    }

    private func resume(_ waiter: LookupWaiter, lookup: IKELookup, result: IKELookupResult, now: MonotonicInstant, _ out: inout [IKEAction]) {
        switch waiter {
        case .initiation(var request):
            switch (lookup, result) {
            case (.sourceAddress, .sourceAddress(let a?)):
                request.sourceAddress = a
            case (.sourceAddress(let target), _):
                let why = "no local address to reach \(target)\(Self.because(result))"
                out.append(.event(.ikeFailed(connection: request.connection, reason: why)))
                finishInitiation(request.tag, failure: why, &out)
                acquiresFailed(connection: request.connection, children: request.children, &out)
                return
            default: break   // a name: initiate() now finds it in the cache (or fails with the reason)
            }
            initiate(request, now: now, &out)
        case .trap(let connection, let child, let reqid):
            guard traps[reqid] == Trap(connection: connection, child: child),
                  let c = configuration.connections.first(where: { $0.name == connection }),
                  let cp = c.children.first(where: { $0.name == child }) else { return }
            var source: IPAddress?
            if case .sourceAddress(let target) = lookup {
                guard case .sourceAddress(let a?) = result else {
                    traps[reqid] = nil
                    out.append(.event(.log(.warning, "\(connection): no local address toward \(target) to trap child \(child)\(Self.because(result))")))
                    return
                }
                source = a
            }
            installTrap(connection: c, child: cp, reqid: reqid, now: now, sourceAddress: source, &out)
        case .initRequest(let bytes, let from, let to):
            parkedInits -= 1
            handle(datagram: bytes, from: from, to: to, now: now, &out)
        case .session(let spi):
            guard let s = sessions[spi], s.state != .dead else { return }
            touch(s)
            if case .fetchCRL(let uri) = lookup {
                if case .crls(let c) = result { s.crlFetched(uri: uri, crls: c, now: now, &out) }
                else {
                    out.append(.event(.log(.warning, "\(s.policy.name)[\(s.uniqueID)] CRL fetch of \(uri) failed\(Self.because(result)); going on without it")))
                    s.crlFetched(uri: uri, crls: nil, now: now, &out)
                }
            }
        }
    }

    private static func because(_ result: IKELookupResult) -> String {
        if case .failed(let why) = result { return " (\(why))" }
        return ""
    }

    /// Asks for `lookup` (once, however many wait for it) and parks `waiter` behind it.
    func waitFor(_ lookup: IKELookup, for waiter: LookupWaiter, now: MonotonicInstant, _ out: inout [IKEAction]) {
        if let id = lookupIDs[lookup] {
            lookups[id]?.waiters.append(waiter)
            return
        }
        let id = nextLookupID
        nextLookupID &+= 1
        lookupIDs[lookup] = id
        lookups[id] = PendingLookup(lookup: lookup, waiters: [waiter], deadline: now + configuration.lookupTimeout)
        stats.lookups += 1
        out.append(.lookup(id: id, lookup))
    }

    var earliestLookupDeadline: MonotonicInstant? { lookups.values.map(\.deadline).min() }

    /// Lookups past their deadline fail everything that waits for them.
    func expireLookups(now: MonotonicInstant, _ out: inout [IKEAction]) {
        guard let first = earliestLookupDeadline, first <= now else { return }
        for (id, p) in lookups where p.deadline <= now {
            complete(id, .failed("no answer within \(Int(configuration.lookupTimeout)) s"), now: now, &out)
        }
    }

    /// The addresses the cache holds for a host name (stale answers included: better than none).
    func cachedAddresses(_ host: String) -> [IPAddress] { names[host]?.addresses ?? [] }

    /// The first address in remote_addrs, a name's first address, or what must be looked up.
    func initiationTarget(of c: ConnectionPolicy, now: MonotonicInstant) -> TargetLookup {
        var unresolved: [String] = []
        for m in c.remoteAddresses {
            switch m {
            case .address(let a): return .address(a)
            case .hostname(let h):
                guard let entry = names[h], now < entry.staleAt else { return .wait(h) }
                if let a = entry.addresses.first { return .address(a) }
                unresolved.append(h)
            default: continue
            }
        }
        let reasons = unresolved.map { h in names[h]?.failure.map { "'\(h)': \($0)" } ?? "'\(h)' has no address" }
        return .failed("cannot resolve remote_addrs \(c.remoteAddresses)\(reasons.isEmpty ? "" : " (\(reasons.joined(separator: "; ")))")")
    }

    /// Host names in local_addrs/remote_addrs never answered yet: an IKE_SA_INIT waits for them.
    /// Stale answers still match peers, while a fresh lookup runs in the background.
    func unresolvedNames(now: MonotonicInstant, _ out: inout [IKEAction]) -> [String] {
        var missing: [String] = []
        for c in configuration.connections {
            for m in c.remoteAddresses + c.localAddresses {
                guard case .hostname(let h) = m else { continue }
                if let entry = names[h] {
                    if now >= entry.staleAt { refresh(h, now: now, &out) }
                } else if !missing.contains(h) {
                    missing.append(h)
                }
            }
        }
        return missing
    }

    /// Looks a name up again with nothing waiting for the answer (the cache takes it).
    func refresh(_ host: String, now: MonotonicInstant, _ out: inout [IKEAction]) {
        guard lookupIDs[.resolve(host: host)] == nil else { return }
        let id = nextLookupID
        nextLookupID &+= 1
        lookupIDs[.resolve(host: host)] = id
        lookups[id] = PendingLookup(lookup: .resolve(host: host), waiters: [], deadline: now + configuration.lookupTimeout)
        stats.lookups += 1
        out.append(.lookup(id: id, .resolve(host: host)))
    }

    /// Resolves every name the configuration holds ahead of need (at start and on reload).
    func prefetchNames(now: MonotonicInstant, _ out: inout [IKEAction]) {
        for c in configuration.connections {
            for m in c.remoteAddresses + c.localAddresses {
                if case .hostname(let h) = m, names[h] == nil { refresh(h, now: now, &out) }
            }
        }
    }

    /// Parks an IKE_SA_INIT request behind the lookups of `names`; handled again once all answered.
    func parkInit(_ bytes: [UInt8], from: SocketAddress, to: SocketAddress, names hosts: [String], now: MonotonicInstant, _ out: inout [IKEAction]) {
        guard parkedInits < Self.maxParkedInits else { stats.parkedDropped += 1; return }
        // Waits for the first name; the others are asked for at once, and if one is still
        // missing when the request is handled again, it waits for that one next.
        for h in hosts.dropFirst() { refresh(h, now: now, &out) }
        parkedInits += 1
        waitFor(.resolve(host: hosts[0]), for: .initRequest(bytes: bytes, from: from, to: to), now: now, &out)
    }

    /// Whether an initiation of `connection` already waits for a lookup.
    func initiationPending(connection: String) -> Bool {
        lookups.values.contains { p in p.waiters.contains { if case .initiation(let r) = $0 { r.connection == connection } else { false } } }
    }
}
