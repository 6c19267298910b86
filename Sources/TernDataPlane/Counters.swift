import Atomics

/// Why a packet was dropped. Every drop increments exactly one of these (and, when an SA is
/// known, that SA's own counter), so `tern state` can say where traffic went.
public enum DropReason: Int, CaseIterable, Sendable, Error {
    case malformed          // not a parseable IP/ESP/AH packet, or shorter than its headers claim
    case noSA               // unknown SPI, or a PROTECT policy with `require` and no SA
    case replay             // duplicate or behind the window
    case integrity          // ICV mismatch
    case badPadding         // RFC 4303 §2.4 padding bytes not 1, 2, 3…
    case badNextHeader      // next header that does not fit the SA's mode
    case policyMismatch     // decrypted packet does not match the SA's inbound policy (RFC 4301 §5.2)
    case noPolicy           // a decrypted packet with no inbound policy at all
    case discardPolicy      // a DISCARD policy matched
    case tooBig             // larger than the path through the SA allows (ICMP sent where allowed)
    case sequenceExhausted  // the SA used its last sequence number; it never wraps
    case saExpired          // hard lifetime reached
    case tfcDummy           // RFC 4303 dummy packet (next header 59): dropped by design
    case unsupported        // valid but outside what this data plane handles (e.g. AH over IPv4 options)
    case sendFailed         // the socket refused the protected packet
    case tunWriteFailed     // the TUN refused the cleartext packet
    case holdOverflow       // trap policy: the packet's hold queue (per reqid or in total) was full
    case holdExpired        // trap policy: held longer than the hold timeout without an SA
    case holdDiscarded      // trap policy: the control plane could not set up the SA (discardHeld)

    /// Stable names for JSON and metrics.
    public var name: String {
        switch self {
        case .malformed: "malformed"
        case .noSA: "no_sa"
        case .replay: "replay"
        case .integrity: "integrity"
        case .badPadding: "bad_padding"
        case .badNextHeader: "bad_next_header"
        case .policyMismatch: "policy_mismatch"
        case .noPolicy: "no_policy"
        case .discardPolicy: "discard_policy"
        case .tooBig: "too_big"
        case .sequenceExhausted: "sequence_exhausted"
        case .saExpired: "sa_expired"
        case .tfcDummy: "tfc_dummy"
        case .unsupported: "unsupported"
        case .sendFailed: "send_failed"
        case .tunWriteFailed: "tun_write_failed"
        case .holdOverflow: "hold_overflow"
        case .holdExpired: "hold_expired"
        case .holdDiscarded: "hold_discarded"
        }
    }
}

/// A fixed block of 64-bit counters updated with relaxed atomics: no locks, no allocation,
/// readable from the control thread while workers write.
public final class CounterBlock: @unchecked Sendable {
    private let storage: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    public let count: Int

    public init(count: Int) {
        self.count = count
        storage = .allocate(capacity: count)
        for i in 0..<count { (storage + i).initialize(to: .init(0)) }
    }

    deinit {
        // Not UnsafeAtomic.destroy(): that frees each element's address, but the block is one allocation.
        storage.deinitialize(count: count)
        storage.deallocate()
    }

    @inline(__always)
    public func add(_ index: Int, _ value: UInt64 = 1) {
        UnsafeAtomic<UInt64>(at: storage + index).wrappingIncrement(by: value, ordering: .relaxed)
    }

    @inline(__always)
    public func set(_ index: Int, _ value: UInt64) {
        UnsafeAtomic<UInt64>(at: storage + index).store(value, ordering: .relaxed)
    }

    @inline(__always)
    public func load(_ index: Int) -> UInt64 {
        UnsafeAtomic<UInt64>(at: storage + index).load(ordering: .relaxed)
    }
}

/// Global drop counters by reason.
public final class DropCounters: @unchecked Sendable {
    let block = CounterBlock(count: DropReason.allCases.count)
    public init() {}
    @inline(__always) public func count(_ reason: DropReason) { block.add(reason.rawValue) }
    public subscript(reason: DropReason) -> UInt64 { block.load(reason.rawValue) }
}

/// Per-SA counters, the figures `ip -s xfrm state` shows.
public enum SACounter: Int, CaseIterable {
    /// `lastUsed`: whole seconds on the monotonic clock (0: never).
    case packets, bytes, replayDrops, integrityFailures, policyMismatches, lastUsed
}
