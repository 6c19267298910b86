import TernWire

/// A key that picks its shard cheaply. SPIs and reqids are on the per-packet path, so they
/// mix their own bits instead of paying for a second full hash.
protocol ShardHashable: Hashable {
    var shardHash: Int { get }
}

extension ShardHashable {
    var shardHash: Int { hashValue }
}

@inline(__always)
func mixShardBits(_ x: UInt32) -> Int {
    // Fibonacci hashing: the multiply spreads every input bit into the high half.
    Int(truncatingIfNeeded: (UInt64(x) &* 0x9E37_79B9_7F4A_7C15) >> 32)
}

extension UInt32: ShardHashable {
    var shardHash: Int { mixShardBits(self) }
}

extension SAKey: ShardHashable {
    var shardHash: Int { mixShardBits(spi) }
}

extension SAEndpointKey: ShardHashable {}
extension PolicySelector: ShardHashable {}

/// A dictionary split into shards held by reference. A copy shares every shard; changing it
/// copies the shard array and the shards it touches, so a new snapshot that differs in one
/// entry costs O(shards + entries per shard) instead of O(entries). Shards grow with the count
/// (a rebuild now and then, amortized O(1) per insert).
struct ShardedMap<Key: ShardHashable, Value> {
    private final class Shard {
        var entries: [Key: Value]
        init(_ entries: [Key: Value] = [:]) { self.entries = entries }
    }

    /// Entries per shard before the shard count grows (×4).
    private static var targetShardSize: Int { 64 }
    private static var maxShards: Int { 1 << 14 }

    private var shards: [Shard]
    private var mask: Int
    private(set) var count = 0

    init() {
        shards = [Shard()]
        mask = 0
    }

    @inline(__always)
    subscript(key: Key) -> Value? {
        shards[key.shardHash & mask].entries[key]
    }

    var isEmpty: Bool { count == 0 }

    /// Sets (or with nil removes) the value for `key`; returns the old value.
    @discardableResult
    mutating func updateValue(_ value: Value?, forKey key: Key) -> Value? {
        var old: Value?
        modify(key) { v in
            old = v
            v = value
        }
        return old
    }

    /// Changes the value for `key` in place (nil: absent / remove).
    mutating func modify<R>(_ key: Key, _ body: (inout Value?) throws -> R) rethrows -> R {
        let i = key.shardHash & mask
        if !isKnownUniquelyReferenced(&shards[i]) { shards[i] = Shard(shards[i].entries) }
        let shard = shards[i]
        let before = shard.entries.count
        let r = try body(&shard.entries[key])
        count += shard.entries.count - before
        if count > shards.count * Self.targetShardSize && shards.count < Self.maxShards { reshard(shards.count * 4) }
        return r
    }

    private mutating func reshard(_ n: Int) {
        let fresh = (0..<n).map { _ in Shard() }
        let m = n - 1
        for s in shards { for (k, v) in s.entries { fresh[k.shardHash & m].entries[k] = v } }
        shards = fresh
        mask = m
    }

    /// Every entry, in no particular order.
    func forEach(_ body: (Key, Value) throws -> Void) rethrows {
        for s in shards { for (k, v) in s.entries { try body(k, v) } }
    }

    var values: [Value] {
        var out: [Value] = []
        out.reserveCapacity(count)
        forEach { _, v in out.append(v) }
        return out
    }
}

/// A list kept sorted by a unique rank, in chunks held by reference: inserting or removing one
/// element of a shared copy copies the chunk array and one chunk, O(n/64 + 64). Ranks are
/// installation orders, so inserts land at the end almost always.
struct RankedList<Value> {
    private final class Chunk {
        var ranks: [UInt64]
        var values: [Value]
        init(ranks: [UInt64], values: [Value]) { self.ranks = ranks; self.values = values }
    }

    private static var chunkLimit: Int { 64 }
    private var chunks: [Chunk] = []
    private(set) var count = 0

    init() {}

    var isEmpty: Bool { count == 0 }

    /// The highest-ranked element.
    @inline(__always)
    var last: Value? { chunks.last?.values.last }

    /// The lowest-ranked element and its rank.
    var first: (rank: UInt64, value: Value)? {
        guard let c = chunks.first, let v = c.values.first else { return nil }
        return (c.ranks[0], v)
    }

    /// The chunk that holds, or would hold, `rank`.
    private func chunkIndex(for rank: UInt64) -> Int {
        var lo = 0, hi = chunks.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if chunks[mid].ranks[0] <= rank { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    private mutating func uniqueChunk(_ i: Int) -> Chunk {
        if !isKnownUniquelyReferenced(&chunks[i]) { chunks[i] = Chunk(ranks: chunks[i].ranks, values: chunks[i].values) }
        return chunks[i]
    }

    /// Inserts `value` at `rank`, replacing an element with the same rank.
    mutating func insert(_ value: Value, rank: UInt64) {
        guard !chunks.isEmpty else {
            chunks = [Chunk(ranks: [rank], values: [value])]
            count = 1
            return
        }
        let ci = chunkIndex(for: rank)
        let c = uniqueChunk(ci)
        var pos = c.ranks.count
        while pos > 0 && c.ranks[pos - 1] > rank { pos -= 1 }   // appends are the common case
        if pos > 0 && c.ranks[pos - 1] == rank {
            c.values[pos - 1] = value
            return
        }
        c.ranks.insert(rank, at: pos)
        c.values.insert(value, at: pos)
        count += 1
        if c.ranks.count > Self.chunkLimit {
            let half = c.ranks.count / 2
            let tail = Chunk(ranks: Array(c.ranks[half...]), values: Array(c.values[half...]))
            c.ranks.removeSubrange(half...)
            c.values.removeSubrange(half...)
            chunks.insert(tail, at: ci + 1)
        }
    }

    /// Removes the element at `rank`; returns it.
    @discardableResult
    mutating func remove(rank: UInt64) -> Value? {
        guard !chunks.isEmpty else { return nil }
        let ci = chunkIndex(for: rank)
        guard let pos = chunks[ci].ranks.firstIndex(of: rank) else { return nil }
        let c = uniqueChunk(ci)
        c.ranks.remove(at: pos)
        let v = c.values.remove(at: pos)
        count -= 1
        if c.ranks.isEmpty { chunks.remove(at: ci) }
        return v
    }

    func forEach(_ body: (UInt64, Value) throws -> Void) rethrows {
        for c in chunks { for (r, v) in zip(c.ranks, c.values) { try body(r, v) } }
    }
}
