import TernWire

// Trap policies (swanctl `start_action = trap`, `dpd_action = trap`; the kernel's ACQUIRE):
//
//   TUN packet → trap policy, no SA → OutboundVerdict.hold(reqid)
//     → HoldQueue.hold: copy the packet (bounded per reqid and in total, oldest dropped first)
//       and, at most once per reqid per `acquireInterval`, an AcquireRequest for the control plane
//   control plane negotiates the CHILD SA, publishes the snapshot →
//     held packets whose SA now exists are taken (`ready`, `take`) and re-run through
//     OutboundProcessor in the order they came; on failure `discard` drops them;
//     packets still held after `timeout` are dropped by `expire`.
//
// This is the slow path: it copies and allocates, but only for packets that would otherwise be
// dropped, and its memory is bounded. The queue is a plain value owned by one thread (the
// outbound worker); it reads no clock: `now` is passed in.

/// What a trap policy asks the control plane for: negotiate the SAs for `reqid`. The selectors
/// are the triggering packet's (RFC 7296 §2.9: sent first in TSi/TSr so the responder can
/// narrow the traffic selectors to the flow that needed them).
public struct AcquireRequest: Sendable, Hashable {
    public var reqid: UInt32
    public var selectors: PacketSelectors
    public init(reqid: UInt32, selectors: PacketSelectors) {
        self.reqid = reqid; self.selectors = selectors
    }
}

/// A copy of a packet that waits for its SA.
public struct HeldPacket: Sendable {
    public let bytes: [UInt8]
    public let selectors: PacketSelectors
    public let heldAt: MonotonicInstant

    /// Copies the packet into a slot at the standard headroom, ready for `OutboundProcessor`;
    /// nil if the slot cannot take it with head- and tailroom.
    public func load(into base: UnsafeMutableRawPointer, capacity: Int) -> PacketBuffer? {
        guard bytes.count + packetHeadroom + packetTailroom <= capacity else { return nil }
        bytes.withUnsafeBytes { (base + packetHeadroom).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return PacketBuffer(base: base, capacity: capacity, start: packetHeadroom, length: bytes.count)
    }
}

/// Packets held for trap policies, by reqid, and the acquire rate limit.
public struct HoldQueue {
    public struct Limits: Sendable {
        /// Packets held per reqid; a further packet pushes out the oldest (as Linux's
        /// XFRM_MAX_QUEUE_LEN-style queue does).
        public var packetsPerReqid: Int
        /// Bytes held across all reqids.
        public var totalBytes: Int
        /// At most one acquire per reqid in this interval, however many packets arrive.
        public var acquireInterval: Duration
        /// A packet not sent within this time is dropped.
        public var timeout: Duration

        public init(packetsPerReqid: Int = 32, totalBytes: Int = 1 << 20, acquireInterval: Duration = .seconds(2),
                    timeout: Duration = .seconds(10)) {
            precondition(packetsPerReqid >= 0 && totalBytes >= 0, "hold limits must not be negative")
            self.packetsPerReqid = packetsPerReqid; self.totalBytes = totalBytes
            self.acquireInterval = acquireInterval; self.timeout = timeout
        }
    }

    public let limits: Limits
    /// Oldest first.
    private var queues: [UInt32: [HeldPacket]] = [:]
    private var lastAcquire: [UInt32: MonotonicInstant] = [:]
    /// No held packet is older than this (nil when none is held): `expire` has nothing to do
    /// before it times out. It may be earlier than the oldest packet, never later.
    private var oldest: MonotonicInstant?
    public private(set) var packetCount = 0
    public private(set) var byteCount = 0

    public init(limits: Limits = Limits()) { self.limits = limits }

    public var isEmpty: Bool { packetCount == 0 }
    /// Nothing held and no rate limit running: `expire` need not be called.
    public var isIdle: Bool { packetCount == 0 && lastAcquire.isEmpty }
    /// The reqids that have packets held, in ascending order.
    public var reqids: [UInt32] { queues.keys.sorted() }
    public func count(reqid: UInt32) -> Int { queues[reqid]?.count ?? 0 }

    /// Holds a copy of the packet in `pkt` (it must be an IP packet; anything else is counted as
    /// malformed). Returns the acquire to signal, or nil while the reqid's rate limit runs.
    /// Drops it makes are counted in `drops`: the oldest packet of a full queue, or this one
    /// when the total limit leaves no room even after this reqid's older packets went.
    public mutating func hold(_ pkt: PacketBuffer, reqid: UInt32, now: MonotonicInstant,
                              drops: DropCounters) -> AcquireRequest? {
        guard let selectors = PacketSelectors.parse(pkt.bytes, length: pkt.length) else {
            drops.count(.malformed); return nil
        }
        let length = min(pkt.length, selectors.totalLength)
        var queue = queues.removeValue(forKey: reqid) ?? []
        let othersBytes = byteCount - queue.reduce(0) { $0 + $1.bytes.count }
        if limits.packetsPerReqid > 0 && othersBytes + length <= limits.totalBytes {
            // Room can be made from this reqid's own packets: push out its oldest ones.
            while queue.count >= limits.packetsPerReqid || byteCount + length > limits.totalBytes {
                let evicted = queue.removeFirst()
                packetCount -= 1; byteCount -= evicted.bytes.count
                drops.count(.holdOverflow)
            }
            queue.append(HeldPacket(bytes: Array(UnsafeRawBufferPointer(start: pkt.bytes, count: length)),
                                    selectors: selectors, heldAt: now))
            packetCount += 1; byteCount += length
            if oldest == nil { oldest = now }   // later packets are newer; an older bound only makes `expire` look early
        } else {
            // Other reqids' packets fill the memory: they are not pushed out for this one.
            drops.count(.holdOverflow)
        }
        if !queue.isEmpty { queues[reqid] = queue }

        if let last = lastAcquire[reqid], now - last < limits.acquireInterval { return nil }
        lastAcquire[reqid] = now
        return AcquireRequest(reqid: reqid, selectors: selectors)
    }

    /// Removes and returns the reqid's packets, oldest first, to be re-run through the outbound path.
    public mutating func take(reqid: UInt32) -> [HeldPacket] {
        guard let queue = queues.removeValue(forKey: reqid) else { return [] }
        packetCount -= queue.count
        byteCount -= queue.reduce(0) { $0 + $1.bytes.count }
        if packetCount == 0 { oldest = nil }
        return queue
    }

    /// Drops the reqid's packets (the SA could not be set up); returns how many, counted as `hold_discarded`.
    @discardableResult
    public mutating func discard(reqid: UInt32, drops: DropCounters) -> Int {
        let dropped = take(reqid: reqid).count
        drops.block.add(DropReason.holdDiscarded.rawValue, UInt64(dropped))
        return dropped
    }

    /// The reqids whose held packets can go now: the first one's policy finds an SA in `snapshot`.
    public func ready(in snapshot: DataPlaneSnapshot) -> [UInt32] {
        reqids.filter { queues[$0].flatMap(\.first).map { snapshot.hasOutboundSA(for: $0.selectors) } ?? false }
    }

    /// Drops packets held for `timeout` or longer (counted as `hold_expired`) and forgets
    /// acquire times older than the interval. Returns how many packets it dropped.
    @discardableResult
    public mutating func expire(now: MonotonicInstant, drops: DropCounters) -> Int {
        // Called once per batch while anything is held: allocate only when something is due.
        if lastAcquire.contains(where: { now - $0.value >= limits.acquireInterval }) {
            lastAcquire = lastAcquire.filter { now - $0.value < limits.acquireInterval }
        }
        guard let oldest, now - oldest >= limits.timeout else { return 0 }
        var dropped = 0
        for (reqid, queue) in queues {
            let stale = queue.prefix { now - $0.heldAt >= limits.timeout }
            guard !stale.isEmpty else { continue }
            dropped += stale.count
            byteCount -= stale.reduce(0) { $0 + $1.bytes.count }
            queues[reqid] = stale.count == queue.count ? nil : Array(queue.dropFirst(stale.count))
        }
        packetCount -= dropped
        drops.block.add(DropReason.holdExpired.rawValue, UInt64(dropped))
        recomputeOldest()
        return dropped
    }

    private mutating func recomputeOldest() {
        oldest = queues.values.compactMap(\.first?.heldAt).min()
    }
}
