import TernWire

/// An installed SA and its place in the merged order (`MergeRank`).
struct InstalledSA {
    let rank: UInt64
    let sa: SecurityAssociation
}

struct ReqidKey: ShardHashable {
    var proto: IPSecProtocol
    var reqid: UInt32
    var shardHash: Int { mixShardBits(reqid) }
}

/// The SAD's lookup structures. Values share storage between snapshots (ShardedMap,
/// RankedList), so adding or removing one SA costs O(shards + shard size), not O(SAs).
struct SADIndex: @unchecked Sendable {
    var byKey = ShardedMap<SAKey, InstalledSA>()
    var bySPI = ShardedMap<UInt32, [SecurityAssociation]>()
    /// The outbound SA that sends, by reqid and by endpoints: the newest (highest merged rank)
    /// of the candidates below. Only SAs we send on are candidates: IKE installs CHILD SAs in
    /// pairs that share a reqid, and an inbound SA must not take its outbound twin's place;
    /// after a rekey the newest SA is used for sending, as in Linux. Kept apart from the
    /// candidate lists so a packet reads one value.
    var byEndpoints = ShardedMap<SAEndpointKey, SecurityAssociation>()
    var byReqid = ShardedMap<ReqidKey, SecurityAssociation>()
    var endpointCandidates = ShardedMap<SAEndpointKey, RankedList<SecurityAssociation>>()
    var reqidCandidates = ShardedMap<ReqidKey, RankedList<SecurityAssociation>>()
    /// Tunnel overhead of the outbound SAs → how many have it (for the TUN MTU).
    var overheads: [Int: Int] = [:]

    mutating func add(_ sa: SecurityAssociation, rank: UInt64) {
        let c = sa.config
        byKey.updateValue(InstalledSA(rank: rank, sa: sa), forKey: c.key)
        bySPI.modify(c.spi) { list in list = (list ?? []) + [sa] }
        guard sa.isOutbound else { return }
        byEndpoints.updateValue(Self.change(&endpointCandidates, c.endpointKey) { $0.insert(sa, rank: rank) }, forKey: c.endpointKey)
        if c.reqid != 0 {
            let k = ReqidKey(proto: c.proto, reqid: c.reqid)
            byReqid.updateValue(Self.change(&reqidCandidates, k) { $0.insert(sa, rank: rank) }, forKey: k)
        }
        overheads[sa.tunnelOverhead, default: 0] += 1
    }

    /// Changes one candidate list (dropping it when empty); returns its newest SA.
    private static func change<K>(_ lists: inout ShardedMap<K, RankedList<SecurityAssociation>>, _ key: K,
                                  _ body: (inout RankedList<SecurityAssociation>) -> Void) -> SecurityAssociation? {
        lists.modify(key) { list in
            var l = list ?? RankedList()
            list = nil   // the stored list's storage stays unique while it is changed
            body(&l)
            list = l.isEmpty ? nil : l
            return l.last
        }
    }

    @discardableResult
    mutating func remove(_ key: SAKey) -> InstalledSA? {
        guard let installed = byKey.updateValue(nil, forKey: key) else { return nil }
        let sa = installed.sa, c = sa.config
        bySPI.modify(c.spi) { list in
            let rest = (list ?? []).filter { $0 !== sa }
            list = rest.isEmpty ? nil : rest
        }
        guard sa.isOutbound else { return installed }
        byEndpoints.updateValue(Self.change(&endpointCandidates, c.endpointKey) { $0.remove(rank: installed.rank) }, forKey: c.endpointKey)
        if c.reqid != 0 {
            let k = ReqidKey(proto: c.proto, reqid: c.reqid)
            byReqid.updateValue(Self.change(&reqidCandidates, k) { $0.remove(rank: installed.rank) }, forKey: k)
        }
        let o = sa.tunnelOverhead
        if let n = overheads[o] { overheads[o] = n > 1 ? n - 1 : nil }
        return installed
    }
}

/// SAs taken out of a snapshot, waiting to be carried over into the next one: unchanged ones
/// keep their object, moved ones (same SPI and keys at another address or port) continue it.
struct CarryOverPool {
    private var byKey: [SAKey: SecurityAssociation] = [:]
    private var bySPI: [UInt32: [SecurityAssociation]] = [:]

    /// Add in the old merged order: the first fitting SA is carried over.
    mutating func add(_ sa: SecurityAssociation) {
        byKey[sa.config.key] = sa
        bySPI[sa.config.spi, default: []].append(sa)
    }

    private mutating func take(_ sa: SecurityAssociation) {
        byKey[sa.config.key] = nil
        bySPI[sa.config.spi]?.removeAll { $0 === sa }
    }

    /// The old object for exactly this SA in this direction, if it is still fit to use.
    mutating func takeUnchanged(_ c: SAConfig, localAddresses: Set<IPAddress>) -> SecurityAssociation? {
        guard let old = byKey[c.key], old.config == c, old.isOutbound == localAddresses.contains(c.source),
              old.servesInbound || !localAddresses.contains(c.destination) else { return nil }
        take(old)
        return old
    }

    /// An old SA that this one continues after a move (NAT rebinding, RFC 7296 §2.23).
    mutating func takeMoved(_ c: SAConfig, isOutbound: Bool) -> SecurityAssociation? {
        guard let old = bySPI[c.spi]?.first(where: { $0.isOutbound == isOutbound && c.isSameSA(movedFrom: $0.config) })
        else { return nil }
        take(old)
        return old
    }
}

/// The SPD's structures: every candidate policy by selector (the lowest index is in force,
/// the others are shadowed, as `SecurityDatabaseConfig.merge` drops them) and the tries of the
/// policies in force.
struct SPDIndex: @unchecked Sendable {
    var candidates = ShardedMap<PolicySelector, RankedList<PolicyConfig>>()
    var active = ShardedMap<PolicySelector, Policy>()
    var outbound = CompiledSPD()
    var inbound = CompiledSPD()
    var forward = CompiledSPD()

    /// Adds a candidate; call `settle` for its selector afterwards.
    mutating func addCandidate(_ c: PolicyConfig, index: Int) {
        candidates.modify(c.selector) { list in
            var l = list ?? RankedList()
            list = nil
            l.insert(c, rank: UInt64(index))
            list = l
        }
    }

    mutating func removeCandidate(_ c: PolicyConfig, index: Int) {
        candidates.modify(c.selector) { list in
            guard var l = list else { return }
            list = nil
            l.remove(rank: UInt64(index))
            list = l.isEmpty ? nil : l
        }
    }

    /// Puts the selector's first candidate in force, reusing `previous` (or the policy in force)
    /// when it has the same configuration and index, so its counters go on. Returns whether
    /// the policies in force changed.
    @discardableResult
    mutating func settle(_ selector: PolicySelector, previous: Policy? = nil) -> Bool {
        let current = active[selector]
        guard let first = candidates[selector]?.first else {
            guard let current else { return false }
            active.updateValue(nil, forKey: selector)
            tries(current.config.direction) { $0.remove(current) }
            return true
        }
        let index = Int(first.rank)
        if let current, current.index == index, current.config == first.value { return false }
        if let current { tries(current.config.direction) { $0.remove(current) } }
        let policy = previous.flatMap { $0.index == index && $0.config == first.value ? $0 : nil }
            ?? Policy(first.value, index: index)
        active.updateValue(policy, forKey: selector)
        tries(policy.config.direction) { $0.insert(policy) }
        return true
    }

    private mutating func tries(_ direction: PolicyDirection, _ body: (inout CompiledSPD) -> Void) {
        switch direction {
        case .outbound: body(&outbound)
        case .inbound: body(&inbound)
        case .forward: body(&forward)
        }
    }
}
