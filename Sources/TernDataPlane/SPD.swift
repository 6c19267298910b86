import TernWire

/// A policy as installed: its configuration plus counters.
public final class Policy: @unchecked Sendable {
    public let config: PolicyConfig
    /// Insertion order: breaks priority ties (earlier wins).
    public let index: Int
    public let counters = CounterBlock(count: 2)   // packets, bytes

    public init(_ config: PolicyConfig, index: Int) {
        self.config = config
        self.index = index
    }

    /// Do the packet's selectors fall within this policy's (addresses checked by the caller's trie
    /// for the destination; everything else here)?
    @inline(__always)
    func matches(_ s: PacketSelectors) -> Bool {
        let c = config
        guard c.source.contains(s.source), c.destination.contains(s.destination) else { return false }
        if let proto = c.upperProtocol, proto != s.upperProtocol { return false }
        if let r = c.sourcePorts, !r.contains(s.sourcePort) { return false }
        if let r = c.destinationPorts, !r.contains(s.destinationPort) { return false }
        return true
    }

    @inline(__always)
    func ranks(before other: Policy) -> Bool {
        (config.priority, index) < (other.config.priority, other.index)
    }
}

/// The SPD for one direction and family, compiled into a binary trie on the destination prefix
/// (as wireguard-go's allowedips): a lookup walks at most 32/128 nodes and tests only the
/// policies whose destination covers the packet, never every policy.
struct PolicyTrie {
    private struct Node {
        var children: (Int32, Int32) = (-1, -1)
        /// Policies whose destination prefix ends at this node, best rank first.
        var policies: [Policy] = []
    }

    private var nodes: [Node] = [Node()]
    let family: IPAddress.Family
    /// Installed policies, and removals since the trie was last compacted (removals leave
    /// empty nodes behind; rebuilding once they outnumber the policies keeps it amortized O(1)).
    private(set) var count = 0
    private var removals = 0

    init(family: IPAddress.Family) { self.family = family }

    mutating func insert(_ policy: Policy) {
        let prefix = policy.config.destination
        var node = 0
        for depth in 0..<prefix.length {
            let bit = prefix.address.bit(depth)
            var next = bit ? nodes[node].children.1 : nodes[node].children.0
            if next < 0 {
                nodes.append(Node())
                next = Int32(nodes.count - 1)
                if bit { nodes[node].children.1 = next } else { nodes[node].children.0 = next }
            }
            node = Int(next)
        }
        // Keep the node's policies best rank first.
        let pos = nodes[node].policies.firstIndex { policy.ranks(before: $0) } ?? nodes[node].policies.count
        nodes[node].policies.insert(policy, at: pos)
        count += 1
    }

    /// Removes this policy object (if installed).
    mutating func remove(_ policy: Policy) {
        let prefix = policy.config.destination
        var node = 0
        for depth in 0..<prefix.length {
            let next = prefix.address.bit(depth) ? nodes[node].children.1 : nodes[node].children.0
            if next < 0 { return }
            node = Int(next)
        }
        guard let i = nodes[node].policies.firstIndex(where: { $0 === policy }) else { return }
        nodes[node].policies.remove(at: i)
        count -= 1
        removals += 1
        if removals > max(64, count) { compact() }
    }

    private mutating func compact() {
        var all: [Policy] = []
        for n in nodes { all.append(contentsOf: n.policies) }
        self = PolicyTrie(family: family)
        for p in all { insert(p) }
    }

    /// The best-ranked policy that matches, or nil.
    func lookup(_ s: PacketSelectors) -> Policy? {
        var best: Policy?
        var node = 0
        var depth = 0
        let maxDepth = s.destination.bitCount
        while true {
            for p in nodes[node].policies where p.matches(s) {
                if best == nil || p.ranks(before: best!) { best = p }
                break   // the rest of this node ranks lower
            }
            if depth == maxDepth { break }
            let next = s.destination.bit(depth) ? nodes[node].children.1 : nodes[node].children.0
            if next < 0 { break }
            node = Int(next)
            depth += 1
        }
        return best
    }
}

/// One direction's SPD across both families.
struct CompiledSPD {
    var v4 = PolicyTrie(family: .v4)
    var v6 = PolicyTrie(family: .v6)

    mutating func insert(_ p: Policy) {
        if p.config.destination.family == .v4 { v4.insert(p) } else { v6.insert(p) }
    }

    mutating func remove(_ p: Policy) {
        if p.config.destination.family == .v4 { v4.remove(p) } else { v6.remove(p) }
    }

    @inline(__always)
    func lookup(_ s: PacketSelectors) -> Policy? {
        s.family == .v4 ? v4.lookup(s) : v6.lookup(s)
    }
}
