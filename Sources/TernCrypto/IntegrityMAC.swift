import CTernLibcrypto

/// Incremental HMAC for AH (RFC 4302), which MACs a modified copy of the IP header, the AH
/// header and the payload, so the caller feeds the pieces in order.
///
/// One per SA per worker thread; not thread-safe. The key is absorbed once in init (the
/// HMAC inner and outer pad states are precomputed); `start`/`update`/`finish` allocate nothing.
public final class IntegrityMAC: @unchecked Sendable {
    public let algorithm: IntegrityAlgorithm
    /// Bytes `finish` writes: the RFC 2404 / RFC 4868 truncation (96, 128, 192 or 256 bits).
    public let icvLength: Int
    private let context: OpaquePointer

    /// Keys must be as long as the hash output (RFC 2404 §3, RFC 4868 §2.1.1).
    public convenience init(algorithm: IntegrityAlgorithm, key: [UInt8]) throws(CryptoError) {
        guard algorithm != .none else {
            throw CryptoError("IntegrityMAC needs an HMAC algorithm, got \(algorithm)")
        }
        guard key.count == algorithm.keyLength else {
            throw CryptoError("\(algorithm): integrity key must be \(algorithm.keyLength) bytes, got \(key.count)")
        }
        try self.init(algorithm: algorithm, anyLengthKey: key)
    }

    /// HMAC with any key length (RFC 2104), for the RFC 2202 / RFC 4231 vectors whose keys are
    /// not the hash length. Not for SAs: they go through the validating init.
    init(algorithm: IntegrityAlgorithm, anyLengthKey key: [UInt8]) throws(CryptoError) {
        guard let id = algorithm.hmacID,
              let context = key.withUnsafeBufferPointer({ tern_hmac_new(id, $0.baseAddress, $0.count) }) else {
            throw CryptoError("\(algorithm): libcrypto could not build the HMAC context")
        }
        self.algorithm = algorithm
        self.icvLength = algorithm.icvLength
        self.context = context
    }

    private init(copying other: IntegrityMAC) {
        guard let context = tern_hmac_dup(other.context) else {
            fatalError("could not duplicate an HMAC context (out of memory)")
        }
        self.algorithm = other.algorithm
        self.icvLength = other.icvLength
        self.context = context
    }

    /// A context for another thread with the same key; no key processing.
    public func copy() -> IntegrityMAC { IntegrityMAC(copying: self) }

    /// The pad states are as good as the key: the shim zeroes them.
    deinit { tern_hmac_free(context) }

    /// Begins a new MAC; any unfinished one is discarded.
    public func start() { tern_hmac_start(context) }

    public func update(_ bytes: UnsafeRawPointer, count: Int) {
        precondition(count >= 0, "negative byte count")
        tern_hmac_update(context, bytes, count)
    }

    /// Writes icvLength bytes (the truncated MAC) and ends this MAC; call `start` before the next.
    public func finish(into icv: UnsafeMutableRawPointer) {
        tern_hmac_finish(context, icv.assumingMemoryBound(to: UInt8.self), icvLength)
    }

    /// The untruncated MAC length, for tests against full-length published vectors.
    var digestLength: Int { tern_hmac_digest_length(context) }

    /// Writes the full, untruncated MAC (digestLength bytes).
    func finishFull(into digest: UnsafeMutableRawPointer) {
        tern_hmac_finish(context, digest.assumingMemoryBound(to: UInt8.self), digestLength)
    }
}

/// Compares `count` bytes in time that depends only on `count` (CRYPTO_memcmp), for ICVs.
public func constantTimeEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int) -> Bool {
    precondition(count >= 0, "negative byte count")
    return tern_constant_time_equal(a, b, count) == 1
}

/// libcrypto allocations made on the calling thread so far, or nil if the shim could not
/// install its counting allocator. Lets tests and benchmarks prove a per-packet path is
/// allocation-free on the libcrypto side: read it before and after, on one thread.
package func libcryptoAllocationsOnThisThread() -> Int64? {
    let count = tern_libcrypto_thread_allocations()
    return count < 0 ? nil : count
}
