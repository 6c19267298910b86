import Atomics
import TernCrypto
import TernWire

/// An installed SA: its configuration, its cipher contexts (ESP: built on each direction's
/// first packet; AH: here), and the mutable state the workers own.
///
/// Threading: the outbound worker alone uses `outboundCipher()`/`outboundMAC` and the sequence
/// counter; the inbound worker alone uses `inboundCipher()`/`inboundMAC` and `replay`. Counters
/// are relaxed atomics that the control thread reads. An SA that moved to another address
/// shares all of this with the object it continues (`init(_:isOutbound:continuing:)`).
public final class SecurityAssociation: @unchecked Sendable {
    public let config: SAConfig
    /// True when this host is the SA's source (it sends on it).
    public let isOutbound: Bool
    /// Creation time, Unix seconds (for `tern state`).
    public let created: MonotonicInstant
    /// When the SA stops carrying packets (`hardLifetimeSeconds` after `created`; `.never` without one).
    public let hardExpiry: MonotonicInstant

    /// Whether the SA has inbound contexts (an outbound SA to a non-local destination has none).
    public var servesInbound: Bool { inboundCipherSlot != nil || inboundMAC != nil }
    private let outboundCipherSlot: ESPCipherSlot?
    private let inboundCipherSlot: ESPCipherSlot?
    let outboundMAC: IntegrityMAC?
    let inboundMAC: IntegrityMAC?

    public let replay: ReplayWindow
    /// Last sequence number sent (the next packet uses +1).
    let sequence: ManagedAtomic<UInt64>
    public let counters: CounterBlock

    /// ESP: IV and ICV bytes and padding alignment; AH: ICV length padded for the family.
    let ivLength: Int
    let icvLength: Int
    let blockSize: Int

    /// - Parameter servesInbound: whether packets can arrive on this SA (its destination is
    ///   ours). Each direction gets its own cipher context (one per worker), and only the
    ///   directions the SA serves get one. An EVP context with its key schedule is most of an
    ///   SA's memory (~1.2 KB), which matters with 10 000 tunnels, most of them idle: so ESP
    ///   contexts are built on the direction's first packet, and only the parameters are
    ///   checked here.
    public init(_ config: SAConfig, isOutbound: Bool, servesInbound: Bool = true, now: MonotonicInstant) throws(CryptoError) {
        self.config = config
        self.isOutbound = isOutbound
        self.created = now
        hardExpiry = config.hardLifetimeSeconds == 0 ? .never : now.adding(seconds: config.hardLifetimeSeconds)
        guard config.replayWindow >= 0 && config.replayWindow <= SAConfig.maximumReplayWindow else {
            throw CryptoError("replay window \(config.replayWindow) is outside 0…\(SAConfig.maximumReplayWindow)")
        }
        replay = ReplayWindow(size: config.replayWindow, extendedSequenceNumbers: config.extendedSequenceNumbers)
        sequence = ManagedAtomic<UInt64>(0)
        counters = CounterBlock(count: SACounter.allCases.count)
        switch config.proto {
        case .esp:
            try ESPCipher.validate(encryption: config.encryption, encryptionKeyLength: config.encryptionKey.count,
                                   integrity: config.integrity, integrityKeyLength: config.integrityKey.count)
            outboundCipherSlot = isOutbound ? ESPCipherSlot() : nil
            inboundCipherSlot = !isOutbound || servesInbound ? ESPCipherSlot() : nil
            outboundMAC = nil; inboundMAC = nil
            ivLength = config.encryption.ivLength
            icvLength = config.encryption.isCombinedMode ? config.encryption.combinedICVLength : config.integrity.icvLength
            blockSize = config.encryption.blockSize
        case .ah:
            guard config.encryption == .null else {
                throw CryptoError("AH authenticates only: it takes no encryption algorithm")
            }
            guard config.integrity != .none else { throw CryptoError("AH needs an integrity algorithm") }
            let mac = try IntegrityMAC(algorithm: config.integrity, key: config.integrityKey.bytes)
            outboundMAC = isOutbound ? mac : nil
            inboundMAC = !isOutbound ? mac : (servesInbound ? mac.copy() : nil)
            outboundCipherSlot = nil; inboundCipherSlot = nil
            ivLength = 0; icvLength = mac.icvLength; blockSize = 4
        }
    }

    /// The same SA after it moved (RFC 7296 §2.23: the peer's NAT mapping changed, or MOBIKE):
    /// `config` differs from `old.config` only in source, destination and encapsulation.
    ///
    /// The new object *shares* the old one's mutable state (sequence counter, replay window,
    /// counters) and its cipher contexts rather than copying them, because a worker may still be
    /// processing a batch with the old snapshot while this one is published:
    /// - a copied sequence number would let the old object hand out numbers the new one hands
    ///   out again, and with AES-GCM/ChaCha20 the IV is the sequence number masked by a random
    ///   per-cipher value, so a fresh cipher context (new mask, same key) or a repeated number
    ///   could repeat a nonce; sharing the atomic counter and the contexts rules both out;
    /// - a copied replay window would accept again what the old one accepted after the copy.
    /// Sharing keeps the single-writer rule: each direction's worker switches from the old
    /// object to the new one between batches, never using both at once.
    public init(_ config: SAConfig, isOutbound: Bool, continuing old: SecurityAssociation) {
        precondition(config.isSameSA(movedFrom: old.config) && isOutbound == old.isOutbound,
                     "an SA continues only as itself at other addresses or ports")
        self.config = config
        self.isOutbound = isOutbound
        created = old.created
        hardExpiry = old.hardExpiry
        outboundCipherSlot = old.outboundCipherSlot; inboundCipherSlot = old.inboundCipherSlot
        outboundMAC = old.outboundMAC; inboundMAC = old.inboundMAC
        replay = old.replay
        sequence = old.sequence
        counters = old.counters
        ivLength = old.ivLength; icvLength = old.icvLength; blockSize = old.blockSize
    }

    /// The outbound worker's ESP context, built on first use; nil for AH, for an SA we do not
    /// send on, or when libcrypto cannot build it (out of memory: the packet is dropped).
    @inline(__always)
    func outboundCipher() -> ESPCipher? { outboundCipherSlot?.cipher(for: config) }

    /// The inbound worker's ESP context, as `outboundCipher()`.
    @inline(__always)
    func inboundCipher() -> ESPCipher? { inboundCipherSlot?.cipher(for: config) }

    public var lastSequenceSent: UInt64 { sequence.load(ordering: .relaxed) }

    /// Takes the next outbound sequence number; nil when the SA is exhausted (it never wraps:
    /// RFC 4303 §3.3.3 — a new SA must be set up instead).
    @inline(__always)
    func nextSequence() -> UInt64? {
        let limit: UInt64 = config.extendedSequenceNumbers ? UInt64.max : UInt64(UInt32.max)
        let current = sequence.load(ordering: .relaxed)
        if current >= limit { return nil }
        return sequence.loadThenWrappingIncrement(ordering: .relaxed) &+ 1
    }

    /// For tests and state import: continue numbering after `value`.
    public func setLastSequence(_ value: UInt64) { sequence.store(value, ordering: .relaxed) }

    /// AH's ICV field is padded to 32 bits (IPv4) or 64 bits (IPv6), RFC 4302 §2.6.
    func ahICVFieldLength(_ family: IPAddress.Family) -> Int {
        let headerAndICV = 12 + icvLength
        let align = family == .v4 ? 4 : 8
        return (headerAndICV + align - 1) / align * align - 12
    }

    /// Worst-case bytes this SA adds in tunnel mode around an inner packet.
    public var tunnelOverhead: Int {
        let outer = config.destination.family == .v4 ? 20 : 40
        switch config.proto {
        case .esp:
            var udp = 0
            if case .udp = config.encapsulation { udp = 8 }
            return outer + udp + 8 + ivLength + (blockSize - 1) + 2 + icvLength
        case .ah:
            return outer + 12 + ahICVFieldLength(config.destination.family)
        }
    }

    @inline(__always)
    func count(_ counter: SACounter, _ value: UInt64 = 1) { counters.add(counter.rawValue, value) }
}

extension SAConfig {
    var endpointKey: SAEndpointKey { SAEndpointKey(proto: proto, source: source, destination: destination) }

    /// Is this the SA `old` at other addresses or encapsulation ports, everything else (SPI,
    /// protocol, mode, reqid, algorithms, keys, replay and lifetime settings) equal?
    public func isSameSA(movedFrom old: SAConfig) -> Bool {
        var moved = old
        moved.source = source; moved.destination = destination; moved.encapsulation = encapsulation
        return moved == self
    }
}

/// How outbound processing finds an SA for a rule: by protocol and endpoints.
struct SAEndpointKey: Hashable {
    var proto: IPSecProtocol
    var source: IPAddress
    var destination: IPAddress
}

/// One direction's ESP context of an SA, built from the SA's keys when that direction's worker
/// first needs it, then kept: the hot path stays a load and a nil check, allocation-free after
/// the first packet. Only that worker calls `cipher(for:)`, so the lazy write has one writer.
/// A moved SA shares the slot with the object it continues, so both use one context (one IV
/// mask for the shared sequence counter); the context and its key schedule go with the SA.
final class ESPCipherSlot: @unchecked Sendable {
    private var built: ESPCipher?

    @inline(__always)
    func cipher(for config: SAConfig) -> ESPCipher? {
        if let built { return built }
        return build(config)
    }

    @inline(never)
    private func build(_ config: SAConfig) -> ESPCipher? {
        // The parameters were validated at install, so only an allocation can fail here.
        built = try? ESPCipher(encryption: config.encryption, encryptionKey: config.encryptionKey.bytes,
                               integrity: config.integrity, integrityKey: config.integrityKey.bytes)
        return built
    }
}
