import Foundation
import TernIKE

/// Datagrams between the socket readers (UDP 500 thread, the inbound worker for UDP 4500) and
/// the IKE queue: bounded, and served by class so a flood of new IKE_SA_INITs never starves the
/// IKE SAs that exist.
///
///   reader threads ── classify (header bytes only) ──► established: messages with a responder
///                                                      SPI or responses, and IKE_SA_INITs that
///                                                      return a COOKIE
///                                                      new: IKE_SA_INIT without a cookie
///   IKE queue ◄── drain: up to `turn` datagrams, established first, then yields to the queue
///
/// When a class is full (count or bytes) the datagram is dropped and counted; nothing grows
/// without bound (the old `queue.async` per datagram grew to hundreds of MB under a flood).
/// Threading: `lock` guards everything; `push` is called from any thread, `pop` on the IKE queue.
final class IKEIntake: @unchecked Sendable {
    enum Class: Int, CaseIterable { case established = 0, new = 1 }

    struct Item {
        var bytes: [UInt8]
        var from: SocketAddress
        var to: SocketAddress
    }

    struct Stats: Sendable {
        var depth: [Int] = [0, 0]
        var dropped: [UInt64] = [0, 0]
        var queuedBytes = 0
    }

    /// Datagrams each class may hold, and bytes for both together.
    let capacity: [Int]
    let maxBytes: Int

    private let lock = NSLock()
    private var queues: [[Item]] = [[], []]
    private var heads = [0, 0]
    private var bytes = 0
    private var dropped: [UInt64] = [0, 0]
    private var drainScheduled = false

    init(established: Int = 4096, new: Int = 1024, maxBytes: Int = 16 << 20) {
        capacity = [established, new]
        self.maxBytes = maxBytes
    }

    /// Which class a datagram belongs to, from its IKE header (RFC 7296 §3.1) alone.
    static func classify(_ b: [UInt8]) -> Class {
        guard b.count >= 28 else { return .new }
        let responderSPIZero = b[8..<16].allSatisfy { $0 == 0 }
        let isResponse = b[19] & 0x20 != 0
        guard b[18] == 34, !isResponse, responderSPIZero else { return .established }
        // IKE_SA_INIT: a COOKIE notify (16390) must be the first payload (§2.6).
        if b[16] == 41, b.count >= 36, b[34] == 0x40, b[35] == 0x06 { return .established }
        return .new
    }

    /// Queues a datagram; returns true when the caller must schedule a drain (the intake was idle).
    func push(_ item: Item) -> (accepted: Bool, scheduleDrain: Bool) {
        let c = Self.classify(item.bytes).rawValue
        lock.lock()
        defer { lock.unlock() }
        guard queues[c].count - heads[c] < capacity[c], bytes + item.bytes.count <= maxBytes else {
            dropped[c] += 1
            return (false, false)
        }
        queues[c].append(item)
        bytes += item.bytes.count
        if drainScheduled { return (true, false) }
        drainScheduled = true
        return (true, true)
    }

    /// Up to `max` datagrams, established ones first. An empty result clears the drain flag, so
    /// the next push schedules a new drain.
    func pop(max: Int) -> [Item] {
        lock.lock()
        defer { lock.unlock() }
        var out: [Item] = []
        for c in 0..<queues.count {
            while out.count < max, heads[c] < queues[c].count {
                let item = queues[c][heads[c]]
                queues[c][heads[c]].bytes = []
                heads[c] += 1
                bytes -= item.bytes.count
                out.append(item)
            }
            if heads[c] == queues[c].count {
                queues[c].removeAll(keepingCapacity: queues[c].count <= 256)
                heads[c] = 0
            } else if heads[c] > 1024 {
                queues[c].removeFirst(heads[c])
                heads[c] = 0
            }
        }
        if out.isEmpty { drainScheduled = false }
        return out
    }

    var stats: Stats {
        lock.lock()
        defer { lock.unlock() }
        return Stats(depth: (0..<queues.count).map { queues[$0].count - heads[$0] }, dropped: dropped, queuedBytes: bytes)
    }
}
