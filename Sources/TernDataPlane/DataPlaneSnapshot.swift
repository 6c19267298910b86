import TernCrypto
import TernWire

/// An immutable, compiled view of the SAD and SPD that the workers read. The control plane
/// builds a new one for every change and publishes it; SA and policy objects that did not
/// change are carried over, so sequence numbers, replay windows and counters survive reloads,
/// and SAs that only moved to another address or port keep theirs (`SecurityAssociation(_:isOutbound:continuing:)`).
public final class DataPlaneSnapshot: @unchecked Sendable {
    public let generation: UInt64
    public let associations: [SecurityAssociation]
    public let policies: [Policy]
    public let localAddresses: Set<IPAddress>
    /// Path MTU of the underlay (outer packets must fit it).
    public let underlayMTU: Int

    let bySPI: [UInt32: [SecurityAssociation]]
    let byEndpoints: [SAEndpointKey: SecurityAssociation]
    let byReqid: [ReqidKey: SecurityAssociation]
    let outbound: CompiledSPD
    let inbound: CompiledSPD
    let forward: CompiledSPD

    struct ReqidKey: Hashable { var proto: IPSecProtocol; var reqid: UInt32 }

    /// An SA that could not be installed, with the reason (bad key length, bad combination…).
    public struct InstallError: Error, Sendable, CustomStringConvertible {
        public let sa: SAKey
        public let reason: String
        public var description: String { "cannot install SA \(sa): \(reason)" }
    }

    public init(config: SecurityDatabaseConfig, localAddresses: Set<IPAddress>, underlayMTU: Int = 1500,
                previous: DataPlaneSnapshot? = nil, now: UInt64) throws(InstallError) {
        generation = (previous?.generation ?? 0) &+ 1
        self.localAddresses = localAddresses
        self.underlayMTU = underlayMTU

        // Unchanged SAs are carried over as they are. An SA that only moved (same SPI, keys and
        // algorithms at a new address or port: a NAT rebinding, RFC 7296 §2.23) continues the
        // old one's state; were it restarted, its sequence numbers would begin again at 1 and
        // the peer's replay window would drop everything. Each old SA is carried over once.
        let old = previous?.associations ?? []
        var unchanged: [SAKey: Int] = [:]
        for (i, sa) in old.enumerated() { unchanged[sa.config.key] = i }
        var carried = [Bool](repeating: false, count: old.count)
        var exact = [Int?](repeating: nil, count: config.associations.count)
        for (n, c) in config.associations.enumerated() {
            if let i = unchanged[c.key], old[i].config == c, old[i].isOutbound == localAddresses.contains(c.source),
               old[i].servesInbound || !localAddresses.contains(c.destination) {
                exact[n] = i; carried[i] = true
            }
        }
        var bySPIBefore: [UInt32: [Int]] = [:]
        for (i, sa) in old.enumerated() where !carried[i] { bySPIBefore[sa.config.spi, default: []].append(i) }

        var sas: [SecurityAssociation] = []
        for (n, c) in config.associations.enumerated() {
            let outbound = localAddresses.contains(c.source)
            if let i = exact[n] {
                sas.append(old[i])
                continue
            }
            if let i = bySPIBefore[c.spi]?.first(where: { !carried[$0] && old[$0].isOutbound == outbound
                                                           && c.isSameSA(movedFrom: old[$0].config) }) {
                carried[i] = true
                sas.append(SecurityAssociation(c, isOutbound: outbound, continuing: old[i]))
                continue
            }
            do {
                sas.append(try SecurityAssociation(c, isOutbound: outbound, servesInbound: localAddresses.contains(c.destination), now: now))
            } catch {
                throw InstallError(sa: c.key, reason: error.message)
            }
        }
        associations = sas

        var spi: [UInt32: [SecurityAssociation]] = [:]
        var ends: [SAEndpointKey: SecurityAssociation] = [:]
        var reqids: [ReqidKey: SecurityAssociation] = [:]
        // Only SAs we send on are candidates for sending: IKE installs CHILD SAs in pairs that
        // share a reqid, and an inbound SA listed after its outbound twin must not take its place.
        // Later SAs win for the same endpoints or reqid: after a rekey the newest SA is used for
        // sending, as in Linux.
        for sa in sas {
            spi[sa.config.spi, default: []].append(sa)
            guard sa.isOutbound else { continue }
            ends[sa.config.endpointKey] = sa
            if sa.config.reqid != 0 { reqids[ReqidKey(proto: sa.config.proto, reqid: sa.config.reqid)] = sa }
        }
        bySPI = spi; byEndpoints = ends; byReqid = reqids

        var oldPolicies: [PolicyConfig: Policy] = [:]
        for p in previous?.policies ?? [] { oldPolicies[p.config] = p }
        var pols: [Policy] = []
        var out = CompiledSPD(), inb = CompiledSPD(), fwd = CompiledSPD()
        for (i, c) in config.policies.enumerated() {
            let p = oldPolicies[c].map { $0.index == i ? $0 : Policy(c, index: i) } ?? Policy(c, index: i)
            pols.append(p)
            switch c.direction {
            case .outbound: out.insert(p)
            case .inbound: inb.insert(p)
            case .forward: fwd.insert(p)
            }
        }
        policies = pols
        outbound = out; inbound = inb; forward = fwd
    }

    /// SA for an inbound packet (RFC 4301 §4.1: SPI, destination, protocol).
    @inline(__always)
    func inboundSA(spi: UInt32, destination: IPAddress, proto: IPSecProtocol) -> SecurityAssociation? {
        guard let list = bySPI[spi] else { return nil }
        for sa in list where sa.config.destination == destination && sa.config.proto == proto { return sa }
        return nil
    }

    /// SA that a policy rule sends on for a packet with selectors `s`.
    @inline(__always)
    func outboundSA(for rule: IPSecRule, _ s: PacketSelectors) -> SecurityAssociation? {
        if case .unique(let id) = rule.level, id != 0 {
            if let sa = byReqid[ReqidKey(proto: rule.proto, reqid: id)] { return sa }
            return nil
        }
        let src = rule.tunnelSource ?? s.source
        let dst = rule.tunnelDestination ?? s.destination
        guard let sa = byEndpoints[SAEndpointKey(proto: rule.proto, source: src, destination: dst)] else { return nil }
        if sa.config.mode != .any && sa.config.mode != rule.mode { return nil }
        return sa
    }

    /// The SAs with this SPI (any destination and protocol): O(1), for control-plane queries.
    public func associations(spi: UInt32) -> [SecurityAssociation] { bySPI[spi] ?? [] }

    public func outboundPolicy(_ s: PacketSelectors) -> Policy? { outbound.lookup(s) }

    /// Would a packet with these selectors find an SA for its policy's first rule? (Whether
    /// packets held for a trap policy can go now.)
    public func hasOutboundSA(for s: PacketSelectors) -> Bool {
        guard let policy = outbound.lookup(s), case .protect(let rules) = policy.config.action,
              let first = rules.first else { return false }
        return outboundSA(for: first, s) != nil
    }
    public func inboundPolicy(_ s: PacketSelectors) -> Policy? { inbound.lookup(s) ?? forward.lookup(s) }

    /// The largest tunnel overhead of any installed SA (for the TUN MTU).
    public var worstCaseOverhead: Int {
        associations.filter(\.isOutbound).map(\.tunnelOverhead).max() ?? 0
    }
}
