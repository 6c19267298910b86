import TernWire

// The configuration payload in IKE_AUTH (RFC 7296 §2.19, §3.15): a client with `vips` asks
// for addresses (CFG_REQUEST) and proposes TSi 0.0.0.0/0 (::/0) until it has one; a gateway
// with `pools` leases one per requested family from the pools in the order written and answers
// CFG_REPLY with the address and the pool's attributes, narrowing the peer's selectors to it.
//
//   client:  startAuth ─ configurationRequest ─▶ processAuthResponse ─ acceptConfigurationReply
//   gateway: processAuthRequest ─ assignVirtualIPs ─▶ CFG_REPLY | INTERNAL_ADDRESS_FAILURE
//            (leases are released when the IKE SA goes; an IKE rekey hands them to its successor)

extension IKESession {
    /// Whether we asked for virtual IPs and have none yet (our selectors are then 0/0).
    var awaitingVirtualIPs: Bool { !policy.vips.isEmpty && localVirtualIPs.isEmpty && state == .connecting }

    /// Our selectors for `cp`: `dynamic` is our virtual IP(s) when we have them, the whole
    /// address space of each family we ask for while asking, else our IKE address.
    func localSelectors(_ cp: ChildPolicy) -> [IKETrafficSelector] {
        cp.localSelectors.flatMap { sel -> [IKETrafficSelector] in
            guard case .dynamic = sel.addresses else { return [sel.resolved(host: local.address)] }
            if !localVirtualIPs.isEmpty { return localVirtualIPs.map { sel.resolved(host: $0) } }
            if awaitingVirtualIPs {
                return requestedVirtualIPFamilies.map { family in
                    let (lo, hi) = family == .v4 ? (IPAddress(v4: 0), IPAddress(v4: .max)) : (IPAddress(v6High: 0, low: 0), IPAddress(v6High: .max, low: .max))
                    return IKETrafficSelector(ipProtocol: sel.ipProtocol, startPort: sel.startPort, endPort: sel.endPort, startAddress: lo, endAddress: hi)
                }
            }
            return [sel.resolved(host: local.address)]
        }
    }

    /// The peer's selectors for `cp`: `dynamic` is the address(es) we leased it, else its IKE address.
    func remoteSelectors(_ cp: ChildPolicy) -> [IKETrafficSelector] {
        cp.remoteSelectors.flatMap { sel -> [IKETrafficSelector] in
            guard case .dynamic = sel.addresses, !remoteLeases.isEmpty else { return [sel.resolved(host: remote.address)] }
            return remoteLeases.map { sel.resolved(host: $0.address) }
        }
    }

    var requestedVirtualIPFamilies: [IPAddress.Family] {
        var out: [IPAddress.Family] = []
        for v in policy.vips where !out.contains(v.family) { out.append(v.family) }
        return out
    }

    /// The key a lease is kept under (strongSwan: the EAP identity when EAP ran, else the IKE identity).
    var leaseIdentity: String { eapIdentity ?? remoteIdentity.description }

    // MARK: Client

    /// CFG_REQUEST for `vips` (a concrete address is a wish the gateway may ignore; a
    /// reauthentication wishes for the address it has) and the DNS servers of those families.
    func configurationRequest() -> IKEPayload? {
        guard !policy.vips.isEmpty else { return nil }
        var attributes: [IKEConfigurationAttribute] = []
        let current = replaces?.localVirtualIPs ?? []
        for v in policy.vips {
            let wish = v.isUnspecified ? current.first { $0.family == v.family } : v
            if v.family == .v4 {
                attributes.append(IKEConfigurationAttribute(type: IKEConfigurationAttributeType.internalIP4Address.rawValue, value: wish?.bytes ?? []))
            } else {
                attributes.append(IKEConfigurationAttribute(type: IKEConfigurationAttributeType.internalIP6Address.rawValue,
                                                            value: wish.map { $0.bytes + [128] } ?? []))
            }
        }
        for family in requestedVirtualIPFamilies {
            let type: IKEConfigurationAttributeType = family == .v4 ? .internalIP4DNS : .internalIP6DNS
            attributes.append(IKEConfigurationAttribute(type: type.rawValue, value: []))
        }
        return .configuration(type: IKEConfigurationType.request.rawValue, attributes: attributes)
    }

    /// Takes the addresses (of the families we asked for) and DNS servers of a CFG_REPLY.
    func acceptConfigurationReply(_ payloads: [IKEPayload], now: MonotonicInstant, _ out: inout [IKEAction]) {
        guard !policy.vips.isEmpty else { return }
        var addresses: [IPAddress] = [], dns: [IPAddress] = []
        for case .configuration(let type, let attributes) in payloads where type == IKEConfigurationType.reply.rawValue {
            for a in attributes {
                switch IKEConfigurationAttributeType(rawValue: a.type) {
                case .internalIP4Address where a.value.count == 4, .internalIP6Address where a.value.count == 17:
                    if let ip = IPAddress(bytes: a.value.prefix(a.value.count == 4 ? 4 : 16)),
                       requestedVirtualIPFamilies.contains(ip.family), !ip.isUnspecified, !addresses.contains(ip) {
                        addresses.append(ip)
                    }
                case .internalIP4DNS where a.value.count == 4, .internalIP6DNS where a.value.count == 16:
                    if let ip = IPAddress(bytes: a.value) { dns.append(ip) }
                default:
                    break   // SUBNET is informational (§3.15.2); the TS decide what is tunnelled
                }
            }
        }
        receivedDNS = dns
        guard !addresses.isEmpty else {
            log(.warning, "peer assigned no virtual IP (asked for \(policy.vips.map(\.description).joined(separator: ", ")))", &out)
            return
        }
        for a in addresses { log(.info, "installing new virtual IP \(a)", &out) }
        localVirtualIPs = addresses
        context.virtualIPsAcquired(addresses, dns: dns, connection: policy.name, &out)
    }

    // MARK: Gateway

    enum VirtualIPAssignment {
        /// The connection assigns no addresses (no `pools`), or the peer asked for none.
        case none
        case assigned(IKEPayload)
        /// No CHILD SA: answer with this notify instead (the IKE SA stays up, as strongSwan's does).
        case failed(IKENotifyType, reason: String)
    }

    /// Leases an address per family the peer's CFG_REQUEST asks for, from `policy.pools` in order.
    func assignVirtualIPs(_ payloads: [IKEPayload], _ out: inout [IKEAction]) -> VirtualIPAssignment {
        var requests: [(IPAddress.Family, IPAddress?)] = []
        var sawRequest = false
        for case .configuration(let type, let attributes) in payloads where type == IKEConfigurationType.request.rawValue {
            sawRequest = true
            for a in attributes {
                switch IKEConfigurationAttributeType(rawValue: a.type) {
                case .internalIP4Address where requests.allSatisfy({ $0.0 != .v4 }):
                    requests.append((.v4, a.value.count == 4 ? IPAddress(bytes: a.value) : nil))
                case .internalIP6Address where requests.allSatisfy({ $0.0 != .v6 }):
                    requests.append((.v6, a.value.count == 17 ? IPAddress(bytes: a.value.prefix(16)) : nil))
                default: break
                }
            }
        }
        guard !policy.pools.isEmpty else { return .none }
        guard sawRequest, !requests.isEmpty else {
            return .failed(.failedCPRequired, reason: "connection \(policy.name) assigns virtual IPs from \(policy.pools.joined(separator: ", ")) but '\(leaseIdentity)' asked for none")
        }
        var missing: Set<String> = []
        for (family, wish) in requests {
            let (lease, notFound) = context.leaseVirtualIP(pools: policy.pools, family: family, identity: leaseIdentity,
                                                           requested: wish.flatMap { $0.isUnspecified ? nil : $0 })
            missing.formUnion(notFound)
            if let lease { remoteLeases.append(lease) }
        }
        for name in missing.sorted() { log(.warning, "pool '\(name)' named by connection \(policy.name) does not exist", &out) }
        guard !remoteLeases.isEmpty else {
            context.countVirtualIPFailure()
            return .failed(.internalAddressFailure,
                           reason: "no virtual IP for '\(leaseIdentity)': pools \(policy.pools.joined(separator: ", ")) have no free \(requests.map { $0.0 == .v4 ? "IPv4" : "IPv6" }.joined(separator: "/")) address")
        }
        var attributes: [IKEConfigurationAttribute] = []
        var fromPools: [String] = []
        for lease in remoteLeases {
            log(.info, "assigning virtual IP \(lease.address) to peer '\(lease.identity)' from pool '\(lease.pool)'", &out)
            if lease.address.family == .v4 {
                attributes.append(IKEConfigurationAttribute(type: IKEConfigurationAttributeType.internalIP4Address.rawValue, value: lease.address.bytes))
            } else {
                // strongSwan sends IPv6 leases with a /64 (informational: the TS say what is tunnelled).
                attributes.append(IKEConfigurationAttribute(type: IKEConfigurationAttributeType.internalIP6Address.rawValue, value: lease.address.bytes + [64]))
            }
            if !fromPools.contains(lease.pool) { fromPools.append(lease.pool) }
        }
        // Attributes only from the pools that supplied an address (vici_attribute.c).
        for name in fromPools { attributes += context.poolAttributes(name) }
        return .assigned(.configuration(type: IKEConfigurationType.reply.rawValue, attributes: attributes))
    }

    /// The IKE SA is gone: its leases go offline (kept for the identity), its assigned addresses
    /// are released (the daemon removes them when no other IKE SA holds them).
    func releaseVirtualIPs(_ out: inout [IKEAction]) {
        for l in remoteLeases { context.releaseVirtualIP(l) }
        remoteLeases = []
        context.virtualIPsReleased(localVirtualIPs, &out)
        localVirtualIPs = []
    }
}
