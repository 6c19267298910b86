import TernWire

// Virtual IPs (RFC 7296 §2.19, §3.15). As a gateway the endpoint owns the address pools, so
// leases outlive configuration reloads and the IKE SAs that held them; as a client it counts
// which IKE SAs use each address we were assigned, so a reauthentication (the new IKE SA gets
// the same address before the old one goes) never removes an address still in use.

/// An address leased from a pool to one IKE SA's peer.
struct VirtualIPLease: Hashable {
    var pool: String
    var address: IPAddress
    /// The lease key: the EAP identity when EAP ran, else the peer's IKE identity.
    var identity: String
}

/// A pool as `get-pools` reports it.
public struct AddressPoolStatus: Sendable, Hashable {
    public var name: String
    public var base: IPAddress
    public var size: UInt64
    public var online: Int
    public var offline: Int
    public var leases: [AddressPool.Lease]
}

extension IKEEndpoint {
    /// Makes the pools those of `configuration.pools`. A pool whose range is unchanged keeps its
    /// leases and takes the new attributes; a pool removed or given another range goes, unless
    /// addresses from it are online: then it keeps serving as it was (and a warning says so).
    func reconcilePools() -> [String] {
        var warnings: [String] = []
        var next: [String: AddressPool] = [:]
        for config in configuration.pools {
            if let old = pools[config.name] {
                if old.config.first == config.first && old.config.last == config.last {
                    old.replaceAttributes(config.attributes)
                    next[config.name] = old
                    continue
                }
                if old.onlineCount > 0 {
                    warnings.append("pool '\(config.name)' has online leases, unable to replace it: it keeps \(old.config.first)-\(old.config.last)")
                    next[config.name] = old
                    continue
                }
            }
            next[config.name] = AddressPool(config)
        }
        for (name, old) in pools where next[name] == nil && old.onlineCount > 0 {
            warnings.append("pool '\(name)' has online leases, unable to remove it")
            next[name] = old
        }
        pools = next
        return warnings
    }

    /// Why `configs` could not replace the pools now (strongSwan's load-pool/unload-pool
    /// errors), or nil. For VICI commands that must answer before the change is made.
    public func poolChangeRefusal(_ configs: [AddressPoolConfig]) -> String? {
        let wanted = Dictionary(configs.map { ($0.name, $0) }, uniquingKeysWith: { _, b in b })
        for (name, old) in pools.sorted(by: { $0.key < $1.key }) where old.onlineCount > 0 {
            guard let new = wanted[name] else { return "pool '\(name)' has online leases, unable to unload" }
            if new.first != old.config.first || new.last != old.config.last {
                return "pool '\(name)' has online leases, unable to replace"
            }
        }
        return nil
    }

    public var poolStatus: [AddressPoolStatus] {
        pools.values.sorted { $0.name < $1.name }.map {
            AddressPoolStatus(name: $0.name, base: $0.config.base, size: $0.size, online: $0.onlineCount,
                              offline: $0.offlineCount, leases: $0.leases)
        }
    }

    /// An address of `family` from the first of `poolNames` that has one (the order written).
    func leaseVirtualIP(pools poolNames: [String], family: IPAddress.Family, identity: String,
                        requested: IPAddress?) -> (VirtualIPLease?, missing: [String]) {
        var missing: [String] = []
        for name in poolNames {
            guard let pool = pools[name] else { missing.append(name); continue }
            guard pool.config.family == family else { continue }
            if let a = pool.acquire(identity: identity, requested: requested.flatMap { $0.family == family ? $0 : nil }) {
                return (VirtualIPLease(pool: name, address: a, identity: identity), missing)
            }
        }
        return (nil, missing)
    }

    func releaseVirtualIP(_ lease: VirtualIPLease) {
        pools[lease.pool]?.release(lease.address, identity: lease.identity)
    }

    func countVirtualIPFailure() { stats.virtualIPFailures += 1 }

    func poolAttributes(_ name: String) -> [IKEConfigurationAttribute] { pools[name]?.config.attributes ?? [] }

    /// Client: an IKE SA took these assigned addresses; the first holder installs each.
    func virtualIPsAcquired(_ addresses: [IPAddress], dns: [IPAddress], connection: String, _ out: inout [IKEAction]) {
        for a in addresses {
            localVirtualIPHolders[a, default: 0] += 1
            if localVirtualIPHolders[a] == 1 { out.append(.addVirtualIP(a, dns: dns, connection: connection)) }
        }
    }

    /// Client: an IKE SA holding these addresses went; the last holder removes each.
    func virtualIPsReleased(_ addresses: [IPAddress], _ out: inout [IKEAction]) {
        for a in addresses {
            guard let n = localVirtualIPHolders[a] else { continue }
            if n > 1 { localVirtualIPHolders[a] = n - 1; continue }
            localVirtualIPHolders[a] = nil
            out.append(.removeVirtualIP(a))
        }
    }
}
