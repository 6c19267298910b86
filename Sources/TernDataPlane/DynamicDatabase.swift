import TernWire

/// An SA a control plane (IKE) installed, with its installation order (newer is larger).
public struct OrderedSA: Sendable, Hashable {
    public var order: UInt64
    public var config: SAConfig
    public init(order: UInt64, config: SAConfig) { self.order = order; self.config = config }
}

/// The policies a control plane installed for one reqid, with the group's installation order.
public struct PolicyGroup: Sendable, Hashable {
    public var order: UInt64
    public var policies: [PolicyConfig]
    public init(order: UInt64, policies: [PolicyConfig]) { self.order = order; self.policies = policies }
}

/// The net change to a `DynamicDatabase` since the last publish: each touched SA key and reqid
/// with its entry now (nil: gone). Applying it costs O(changes), not O(everything installed).
public struct DynamicDatabaseChange: Sendable {
    public var sas: [(key: SAKey, entry: OrderedSA?)] = []
    public var policyGroups: [(reqid: UInt32, group: PolicyGroup?)] = []
    public init() {}
    public var isEmpty: Bool { sas.isEmpty && policyGroups.isEmpty }
}

/// What a control plane (IKE) has installed on top of the static (setkey) databases: SAs by key
/// and policy groups by reqid, each with its installation order. The data plane sees them as
/// `SecurityDatabaseConfig.merge` would list them after the static entries: static first, then by
/// order (so after a rekey the newest SA sends), and an SA key or policy selector already taken
/// by an earlier entry stays shadowed until that entry goes.
public struct DynamicDatabase: @unchecked Sendable {
    // Unchecked: the maps share immutable shards between copies; a copy that changes one
    // replaces it with its own (ShardedMap), so no shard is ever written while shared.
    var sas = ShardedMap<SAKey, OrderedSA>()
    var groups = ShardedMap<UInt32, PolicyGroup>()

    public init() {}

    public var saCount: Int { sas.count }
    public var policyGroupCount: Int { groups.count }

    public subscript(sa key: SAKey) -> OrderedSA? { sas[key] }
    public subscript(policies reqid: UInt32) -> PolicyGroup? { groups[reqid] }

    public mutating func apply(_ change: DynamicDatabaseChange) {
        for (key, entry) in change.sas { sas.updateValue(entry, forKey: key) }
        for (reqid, group) in change.policyGroups { groups.updateValue(group, forKey: reqid) }
    }

    /// The SAs in installation order.
    public var orderedSAs: [OrderedSA] { sas.values.sorted { $0.order < $1.order } }
    /// The policy groups in installation order.
    public var orderedGroups: [PolicyGroup] { groups.values.sorted { $0.order < $1.order } }

    /// `base` with these entries merged after its own, as the data plane sees them.
    public func merged(into base: SecurityDatabaseConfig) -> SecurityDatabaseConfig {
        var db = base
        db.merge(sas: orderedSAs.map(\.config), policies: orderedGroups.flatMap(\.policies))
        return db
    }
}

/// Where entries stand in the merged order. Static entries rank by position; dynamic ones
/// after every static one, by installation order (policies: then position in their group).
enum MergeRank {
    static let dynamicBase: UInt64 = 1 << 62

    static func sa(order: UInt64) -> UInt64 { dynamicBase + min(order, dynamicBase - 1) }
    static func isStatic(_ rank: UInt64) -> Bool { rank < dynamicBase }

    /// A dynamic policy's `Policy.index`: 2^46 group orders of 2^16 policies each.
    static func policy(order: UInt64, position: Int) -> Int {
        Int(dynamicBase + (min(order, (1 << 46) - 1) << 16) + UInt64(min(position, 0xFFFF)))
    }
}
