import TernWire

/// A virtual-IP pool (swanctl `pools.<name>`): an address range and the configuration
/// attributes (DNS, NBNS, subnets …) that go with an address from it in a CFG_REPLY.
public struct AddressPoolConfig: Sendable, Hashable {
    public var name: String
    /// The first and last address handed out (a subnet `10.3.0.0/24` gives .1 … .254 for IPv4,
    /// and skips the subnet's first address for IPv6, as strongSwan's mem_pool does).
    public var first: IPAddress
    public var last: IPAddress
    /// What `get-pools` reports as the pool's base: the subnet as written (strongSwan 5.9's
    /// network ID) or a range's first address.
    public var base: IPAddress
    /// Attributes sent with every lease from this pool, in order (RFC 7296 §3.15.1).
    public var attributes: [IKEConfigurationAttribute]

    public init(name: String, first: IPAddress, last: IPAddress, attributes: [IKEConfigurationAttribute] = []) {
        self.name = name; self.first = first; self.last = last; self.base = first; self.attributes = attributes
    }

    /// A pool of a subnet's host addresses.
    public init(name: String, subnet: IPPrefix, attributes: [IKEConfigurationAttribute] = []) {
        let hostBits = (subnet.address.family == .v4 ? 32 : 128) - subnet.length
        let first = hostBits >= 2 ? subnet.address.advanced(by: 1) : subnet.address
        var last = subnet.lastAddress
        if subnet.address.family == .v4 && hostBits >= 2 { last = last.advanced(by: -1) }
        self.init(name: name, first: first, last: last, attributes: attributes)
        base = subnet.address
    }

    public var family: IPAddress.Family { first.family }
    /// Addresses in the pool (ranges beyond 2^32 addresses are cut there).
    public var size: UInt64 { min(last.distance(from: first) + 1, 1 << 32) }
}

/// The leases of one pool, as strongSwan's mem_pool keeps them: an identity that had an address
/// gets the same one back (its lease goes offline when its IKE SA does, and stays reserved for
/// it); new identities get unused addresses first, then the oldest offline lease of someone
/// else; when every address is online the pool is exhausted and nobody gets a duplicate.
///
/// Sans-I/O and single-threaded: the engine owns it and calls it on its queue.
public final class AddressPool {
    /// The attributes may change on reload (`replaceAttributes`); the range never does.
    public private(set) var config: AddressPoolConfig

    public struct Lease: Sendable, Hashable {
        public var address: IPAddress
        public var identity: String
        public var online: Bool
    }

    /// Offsets from `config.first` handed out so far (0 ..< nextUnused); they stay leased
    /// (online or offline) until reassigned, never return to unused.
    private var nextUnused: UInt64 = 0
    /// offset → identity and how many IKE SAs hold it online (one identity may hold it twice
    /// during a reauthentication).
    private var holders: [UInt64: (identity: String, online: Int)] = [:]
    /// identity → its offsets (usually one).
    private var byIdentity: [String: [UInt64]] = [:]
    /// Offline offsets, oldest first (reassigned to other identities in this order).
    private var offlineOrder: [UInt64] = []

    public init(_ config: AddressPoolConfig) { self.config = config }

    public var name: String { config.name }

    /// A reload with the same range: new CFG_REPLY attributes, leases kept (strongSwan's load-pool).
    public func replaceAttributes(_ attributes: [IKEConfigurationAttribute]) { config.attributes = attributes }

    /// An independent pool with the same leases (`IKEEndpoint.copy()`).
    public func copy() -> AddressPool {
        let c = AddressPool(config)
        c.nextUnused = nextUnused; c.holders = holders; c.byIdentity = byIdentity; c.offlineOrder = offlineOrder
        return c
    }
    public var size: UInt64 { config.size }
    public var onlineCount: Int { holders.values.filter { $0.online > 0 }.count }
    public var offlineCount: Int { holders.values.filter { $0.online == 0 }.count }

    /// An address for `identity`, or nil when the pool is exhausted (or of the other family).
    /// `requested`: what the peer asked for (its previous address after a reconnect, say); it
    /// gets it when that is its own lease.
    public func acquire(identity: String, requested: IPAddress? = nil) -> IPAddress? {
        // Its own leases: the requested one, else an offline one, else (a second IKE SA of the
        // same identity, as strongSwan with unique = never) a new address.
        let own = byIdentity[identity] ?? []
        if let r = requested, let o = offset(of: r), own.contains(o) { return take(o) }
        if let o = own.first(where: { holders[$0]?.online == 0 }) { return take(o) }
        // (A request for someone else's or an unused address is not honoured, as in strongSwan:
        // addresses go out in order.)
        if nextUnused < size {
            let o = nextUnused
            nextUnused += 1
            return assign(o, to: identity)
        }
        // Reassign the oldest offline lease of another identity.
        while let o = offlineOrder.first {
            offlineOrder.removeFirst()
            guard let h = holders[o], h.online == 0 else { continue }
            byIdentity[h.identity]?.removeAll { $0 == o }
            if byIdentity[h.identity]?.isEmpty == true { byIdentity[h.identity] = nil }
            holders[o] = nil
            return assign(o, to: identity)
        }
        return nil
    }

    /// The IKE SA holding `address` for `identity` went: its lease goes offline (kept for the
    /// identity until someone else needs it). False when it held no such lease.
    @discardableResult
    public func release(_ address: IPAddress, identity: String) -> Bool {
        guard let o = offset(of: address), var h = holders[o], h.identity == identity, h.online > 0 else { return false }
        h.online -= 1
        holders[o] = h
        if h.online == 0 { offlineOrder.append(o) }
        return true
    }

    /// Every lease, online and offline, by address.
    public var leases: [Lease] {
        holders.sorted { $0.key < $1.key }.map {
            Lease(address: config.first.advanced(by: Int64($0.key)), identity: $0.value.identity, online: $0.value.online > 0)
        }
    }

    public func contains(_ a: IPAddress) -> Bool { offset(of: a) != nil }

    private func offset(of a: IPAddress) -> UInt64? {
        guard a.family == config.family, a >= config.first, a <= config.last else { return nil }
        let o = a.distance(from: config.first)
        return o < size ? o : nil
    }

    private func take(_ o: UInt64) -> IPAddress {
        var h = holders[o]!
        if h.online == 0 { offlineOrder.removeAll { $0 == o } }
        h.online += 1
        holders[o] = h
        return config.first.advanced(by: Int64(o))
    }

    private func assign(_ o: UInt64, to identity: String) -> IPAddress {
        holders[o] = (identity, 1)
        byIdentity[identity, default: []].append(o)
        return config.first.advanced(by: Int64(o))
    }
}

extension IPAddress {
    /// This address plus `n` (wrapping within the family's address space).
    public func advanced(by n: Int64) -> IPAddress {
        switch family {
        case .v4:
            return IPAddress(v4: UInt32(truncatingIfNeeded: Int64(v4Value) &+ n))
        case .v6:
            let delta = UInt64(bitPattern: n)
            let (lo, carry) = low.addingReportingOverflow(delta)
            // Sign-extend the high word of a negative delta.
            let hi = high &+ (n < 0 ? UInt64.max : 0) &+ (carry ? 1 : 0)
            return IPAddress(v6High: hi, low: lo)
        }
    }

    /// `self − other` as a count of addresses (same family, self ≥ other), saturating at 2^64 − 1.
    public func distance(from other: IPAddress) -> UInt64 {
        switch family {
        case .v4: return UInt64(v4Value &- other.v4Value)
        case .v6:
            let (lo, borrow) = low.subtractingReportingOverflow(other.low)
            let hi = high &- other.high &- (borrow ? 1 : 0)
            return hi == 0 ? lo : .max
        }
    }
}
