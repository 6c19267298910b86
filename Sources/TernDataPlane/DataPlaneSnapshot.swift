import TernCrypto
import TernWire

/// An immutable, compiled view of the SAD and SPD that the workers read. The control plane
/// builds a new one for every change and publishes it: from scratch for setkey reloads and
/// address changes, incrementally (`applying(_:now:)`) for what IKE installs and removes, with
/// its structures shared between snapshots. SA and policy objects that did not change are
/// carried over, so sequence numbers, replay windows and counters survive, and SAs that only
/// moved to another address or port keep theirs (`SecurityAssociation(_:isOutbound:continuing:)`).
public final class DataPlaneSnapshot: @unchecked Sendable {
    public let generation: UInt64
    public let localAddresses: Set<IPAddress>
    /// Path MTU of the underlay (outer packets must fit it).
    public let underlayMTU: Int
    /// What the control plane (IKE) installed, as of this snapshot.
    public let dynamic: DynamicDatabase
    /// Changes whenever the policies in force change (routes follow them).
    public let policyVersion: UInt64

    let sad: SADIndex
    let spd: SPDIndex
    var outbound: CompiledSPD { spd.outbound }

    /// An SA that could not be installed, with the reason (bad key length, bad combination…).
    public struct InstallError: Error, Sendable, CustomStringConvertible {
        public let sa: SAKey
        public let reason: String
        public var description: String { "cannot install SA \(sa): \(reason)" }
    }

    private init(generation: UInt64, localAddresses: Set<IPAddress>, underlayMTU: Int, dynamic: DynamicDatabase,
                 policyVersion: UInt64, sad: SADIndex, spd: SPDIndex) {
        self.generation = generation
        self.localAddresses = localAddresses
        self.underlayMTU = underlayMTU
        self.dynamic = dynamic
        self.policyVersion = policyVersion
        self.sad = sad
        self.spd = spd
    }

    /// Databases from a static configuration alone (setkey).
    public convenience init(config: SecurityDatabaseConfig, localAddresses: Set<IPAddress>, underlayMTU: Int = 1500,
                            previous: DataPlaneSnapshot? = nil, now: MonotonicInstant) throws(InstallError) {
        try self.init(static: config, dynamic: DynamicDatabase(), localAddresses: localAddresses,
                      underlayMTU: underlayMTU, previous: previous, now: now)
    }

    /// Builds everything from scratch: the static configuration, then what the control plane
    /// installed (`DynamicDatabase` says in which order). Unchanged SAs and policies of
    /// `previous` are carried over as they are, so sequence numbers, replay windows and counters
    /// survive reloads; an SA that only moved (same SPI, keys and algorithms at a new address or
    /// port: a NAT rebinding, RFC 7296 §2.23) continues the old one's state, since were it
    /// restarted, its sequence numbers would begin again at 1 and the peer's replay window would
    /// drop everything. Each old SA is carried over once.
    public convenience init(static config: SecurityDatabaseConfig, dynamic: DynamicDatabase, localAddresses: Set<IPAddress>,
                            underlayMTU: Int = 1500, previous: DataPlaneSnapshot? = nil, now: MonotonicInstant) throws(InstallError) {
        // The merged list: static entries first, then the dynamic ones by order; a key or
        // selector already taken keeps the earlier entry (as SecurityDatabaseConfig.merge).
        var sas: [(rank: UInt64, config: SAConfig)] = []
        var keys = Set<SAKey>()
        for (i, c) in config.associations.enumerated() where keys.insert(c.key).inserted { sas.append((UInt64(i), c)) }
        for e in dynamic.orderedSAs where keys.insert(e.config.key).inserted { sas.append((MergeRank.sa(order: e.order), e.config)) }

        var pool = CarryOverPool()
        for old in previous?.associations ?? [] { pool.add(old) }
        var sad = SADIndex()
        var carried = [SecurityAssociation?](repeating: nil, count: sas.count)
        for (n, e) in sas.enumerated() { carried[n] = pool.takeUnchanged(e.config, localAddresses: localAddresses) }
        for (n, e) in sas.enumerated() {
            if let sa = carried[n] {
                sad.add(sa, rank: e.rank)
            } else {
                sad.add(try Self.install(e.config, pool: &pool, localAddresses: localAddresses, now: now), rank: e.rank)
            }
        }

        var spd = SPDIndex()
        var selectors: [PolicySelector] = []
        for (i, c) in config.policies.enumerated() {
            spd.addCandidate(c, index: i)
            selectors.append(c.selector)
        }
        for g in dynamic.orderedGroups {
            for (j, c) in g.policies.enumerated() {
                spd.addCandidate(c, index: MergeRank.policy(order: g.order, position: j))
                selectors.append(c.selector)
            }
        }
        for s in selectors { spd.settle(s, previous: previous?.spd.active[s]) }

        self.init(generation: (previous?.generation ?? 0) &+ 1, localAddresses: localAddresses, underlayMTU: underlayMTU,
                  dynamic: dynamic, policyVersion: (previous?.policyVersion ?? 0) &+ 1, sad: sad, spd: spd)
    }

    /// A new SA object for `c`: continuing a moved one from `pool`, or fresh.
    private static func install(_ c: SAConfig, pool: inout CarryOverPool, localAddresses: Set<IPAddress>,
                                now: MonotonicInstant) throws(InstallError) -> SecurityAssociation {
        let outbound = localAddresses.contains(c.source)
        if let old = pool.takeMoved(c, isOutbound: outbound) {
            return SecurityAssociation(c, isOutbound: outbound, continuing: old)
        }
        do {
            return try SecurityAssociation(c, isOutbound: outbound, servesInbound: localAddresses.contains(c.destination), now: now)
        } catch {
            throw InstallError(sa: c.key, reason: error.message)
        }
    }

    /// This snapshot with a change to the dynamic entries applied, in O(changes × shard size)
    /// rather than O(everything installed): the result equals a from-scratch build of the same
    /// databases (`init(static:dynamic:…)` with `previous: self`), carried-over objects included.
    /// Static entries and local addresses stay as they are (a full build picks up theirs).
    public func applying(_ change: DynamicDatabaseChange, now: MonotonicInstant) throws(InstallError) -> DataPlaneSnapshot {
        var dynamic = self.dynamic
        var sad = self.sad
        var spd = self.spd

        // SAs: take out what changed first, so that an SA installed in the same change can
        // carry over the state of one removed (a move) whatever the order of the change.
        var pool = CarryOverPool()
        var adds: [(rank: UInt64, config: SAConfig)] = []
        for (key, entry) in change.sas {
            let before = dynamic.sas.updateValue(entry, forKey: key)
            if before == entry { continue }
            if let installed = sad.byKey[key] {
                if MergeRank.isStatic(installed.rank) { continue }   // a setkey SA holds the key
                sad.remove(key)
                pool.add(installed.sa)
            }
            if let entry { adds.append((MergeRank.sa(order: entry.order), entry.config)) }
        }
        var carried = adds.map { pool.takeUnchanged($0.config, localAddresses: localAddresses) }
        for (n, e) in adds.enumerated() {
            if let sa = carried[n] {
                carried[n] = nil
                sad.add(sa, rank: e.rank)
            } else {
                sad.add(try Self.install(e.config, pool: &pool, localAddresses: localAddresses, now: now), rank: e.rank)
            }
        }

        // Policies: drop the old group's candidates and add the new one's, then settle each
        // touched selector once (a policy that stays in force keeps its object and counters).
        var touched: [PolicySelector] = []
        for (reqid, group) in change.policyGroups {
            let before = dynamic.groups.updateValue(group, forKey: reqid)
            if before == group { continue }
            if let before {
                for (j, c) in before.policies.enumerated() {
                    spd.removeCandidate(c, index: MergeRank.policy(order: before.order, position: j))
                    touched.append(c.selector)
                }
            }
            if let group {
                for (j, c) in group.policies.enumerated() {
                    spd.addCandidate(c, index: MergeRank.policy(order: group.order, position: j))
                    touched.append(c.selector)
                }
            }
        }
        var policiesChanged = false
        for s in touched where spd.settle(s) { policiesChanged = true }

        return DataPlaneSnapshot(generation: generation &+ 1, localAddresses: localAddresses, underlayMTU: underlayMTU,
                                 dynamic: dynamic, policyVersion: policiesChanged ? policyVersion &+ 1 : policyVersion,
                                 sad: sad, spd: spd)
    }

    /// Every SA, in merged order (static first, then by installation): O(n log n), for
    /// control-plane queries.
    public var associations: [SecurityAssociation] {
        var all = sad.byKey.values
        all.sort { $0.rank < $1.rank }
        return all.map(\.sa)
    }

    public var associationCount: Int { sad.byKey.count }

    /// Every SA in no particular order: O(n), for counters.
    public func forEachAssociation(_ body: (SecurityAssociation) throws -> Void) rethrows {
        try sad.byKey.forEach { _, installed in try body(installed.sa) }
    }

    /// The policies in force, in merged order.
    public var policies: [Policy] {
        var all = spd.active.values
        all.sort { $0.index < $1.index }
        return all
    }

    public var policyCount: Int { spd.active.count }

    /// SA for an inbound packet (RFC 4301 §4.1: SPI, destination, protocol).
    @inline(__always)
    func inboundSA(spi: UInt32, destination: IPAddress, proto: IPSecProtocol) -> SecurityAssociation? {
        guard let list = sad.bySPI[spi] else { return nil }
        for sa in list where sa.config.destination == destination && sa.config.proto == proto { return sa }
        return nil
    }

    /// SA that a policy rule sends on for a packet with selectors `s`.
    @inline(__always)
    func outboundSA(for rule: IPSecRule, _ s: PacketSelectors) -> SecurityAssociation? {
        if case .unique(let id) = rule.level, id != 0 {
            return sad.byReqid[ReqidKey(proto: rule.proto, reqid: id)]
        }
        let src = rule.tunnelSource ?? s.source
        let dst = rule.tunnelDestination ?? s.destination
        guard let sa = sad.byEndpoints[SAEndpointKey(proto: rule.proto, source: src, destination: dst)] else { return nil }
        if sa.config.mode != .any && sa.config.mode != rule.mode { return nil }
        return sa
    }

    /// The SAs with this SPI (any destination and protocol): O(1), for control-plane queries.
    public func associations(spi: UInt32) -> [SecurityAssociation] { sad.bySPI[spi] ?? [] }

    public func outboundPolicy(_ s: PacketSelectors) -> Policy? { spd.outbound.lookup(s) }

    /// Would a packet with these selectors find an SA for its policy's first rule? (Whether
    /// packets held for a trap policy can go now.)
    public func hasOutboundSA(for s: PacketSelectors) -> Bool {
        guard let policy = spd.outbound.lookup(s), case .protect(let rules) = policy.config.action,
              let first = rules.first else { return false }
        return outboundSA(for: first, s) != nil
    }
    public func inboundPolicy(_ s: PacketSelectors) -> Policy? { spd.inbound.lookup(s) ?? spd.forward.lookup(s) }

    /// The largest tunnel overhead of any installed SA (for the TUN MTU).
    public var worstCaseOverhead: Int {
        sad.overheads.keys.max() ?? 0
    }
}
