import CTernLibcrypto

/// Per-packet ESP protection (RFC 4303) over one SA's keys, in place, with no allocation.
///
/// One per SA per worker thread; not thread-safe. Key schedule runs in init only; `copy()`
/// duplicates the scheduled contexts for another thread. The packet layout seal and open
/// work on, from the ESP header on:
///
/// ```
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |               Security Parameters Index (SPI)                 |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |             Sequence Number (low 32 bits of the ESN)          |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    IV (ivLength bytes)                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  payload ‖ padding ‖ pad length ‖ next header (plaintextLength)|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    ICV (icvLength bytes)                      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// What each transform authenticates (SPI and Seq are the 8 header bytes; SeqHi is the
/// high half of the 64-bit ESN, present only when `esn` is true):
/// - AES-GCM (RFC 4106 §5) and ChaCha20-Poly1305 (RFC 7634 §2.1): nonce = salt ‖ IV,
///   AAD = SPI ‖ [SeqHi] ‖ Seq, the plaintext is encrypted, ICV = the 16-byte tag.
/// - AES-GMAC (RFC 4543 §3.3): nonce = salt ‖ IV, nothing encrypted,
///   AAD = SPI ‖ [SeqHi] ‖ Seq ‖ IV ‖ plaintext, ICV = the 16-byte tag.
/// - AES-CBC + HMAC (RFC 3602, RFC 4303 §3.3.2.1): encrypt, then
///   ICV = HMAC(SPI ‖ Seq ‖ IV ‖ ciphertext ‖ [SeqHi]) truncated (RFC 2404, RFC 4868).
/// - NULL + HMAC (RFC 2410): ICV = HMAC(SPI ‖ Seq ‖ plaintext ‖ [SeqHi]) truncated.
///
/// Trailer checks (pad length, next header, 4-byte alignment) belong to the data plane;
/// `open` only rejects lengths no transform could have produced.
public final class ESPCipher: @unchecked Sendable {
    private enum Mode { case aead, gmac, cbcHMAC, nullHMAC }

    /// Which library seals and opens AES-GCM here: intel-ipsec-mb where the CPU has AVX2 or
    /// AVX-512, else OpenSSL (`TERN_AEAD=openssl` in the environment forces OpenSSL).
    public static var aesGCMBackend: String {
        tern_aead_gcm_backend() == Int32(TERN_AEAD_BACKEND_IPSEC_MB)
            ? "intel-ipsec-mb \(String(cString: tern_ipsec_mb_arch()))" : "OpenSSL"
    }

    public let encryption: EncryptionAlgorithm
    public let integrity: IntegrityAlgorithm
    public let ivLength: Int
    /// Combined modes 16, else the INTEG transform's (truncated) ICV length.
    public let icvLength: Int
    /// Alignment the caller pads payload ‖ padding ‖ pad length ‖ next header to (CBC 16, others 4).
    public let blockSize: Int

    private let mode: Mode
    private let aead: OpaquePointer?
    private let cbc: OpaquePointer?
    private let hmac: OpaquePointer?
    /// The 4 salt bytes of a combined mode's key material, kept in wire order.
    private var salt: UInt32
    /// Random per SA (not per copy): hides the sequence number in the IV, and keeps two SAs
    /// that were manually given the same key from ever sharing an IV. Same idea as Linux seqiv.
    private var ivMask: UInt64

    /// The checks `init` makes before building contexts: the transform pair and key lengths.
    /// Lets a caller that builds the context later (on an SA's first packet) refuse bad
    /// parameters up front. Errors name the algorithm and lengths, never key bytes.
    public static func validate(encryption: EncryptionAlgorithm, encryptionKeyLength: Int,
                                integrity: IntegrityAlgorithm, integrityKeyLength: Int) throws(CryptoError) {
        guard encryption.isValidKeySize else {
            throw CryptoError("\(encryption): AES key size must be 128, 192 or 256 bits")
        }
        if encryption.isCombinedMode {
            guard integrity == .none else {
                throw CryptoError("\(encryption) is a combined-mode transform and takes no integrity algorithm, got \(integrity)")
            }
        } else {
            guard integrity != .none else {
                throw CryptoError("\(encryption) needs an integrity algorithm (ESP without integrity is not supported)")
            }
        }
        let expectedKeyLength = encryption.keyMaterialLength
        guard encryptionKeyLength == expectedKeyLength else {
            let salted = encryption.isCombinedMode ? " (key ‖ 4-byte salt)" : ""
            throw CryptoError("\(encryption): encryption key must be \(expectedKeyLength) bytes\(salted), got \(encryptionKeyLength)")
        }
        guard integrityKeyLength == integrity.keyLength else {
            throw CryptoError("\(integrity): integrity key must be \(integrity.keyLength) bytes, got \(integrityKeyLength)")
        }
    }

    /// Validates the transform pair and key lengths, then runs the key schedule.
    /// Errors name the algorithm and the expected and given lengths, never key bytes.
    public init(encryption: EncryptionAlgorithm, encryptionKey: [UInt8],
                integrity: IntegrityAlgorithm, integrityKey: [UInt8]) throws(CryptoError) {
        try Self.validate(encryption: encryption, encryptionKeyLength: encryptionKey.count,
                          integrity: integrity, integrityKeyLength: integrityKey.count)
        let expectedKeyLength = encryption.keyMaterialLength

        self.encryption = encryption
        self.integrity = integrity
        self.ivLength = encryption.ivLength
        self.icvLength = encryption.isCombinedMode ? encryption.combinedICVLength : integrity.icvLength
        self.blockSize = encryption.blockSize
        self.salt = 0
        self.ivMask = 0

        var aead: OpaquePointer? = nil
        var cbc: OpaquePointer? = nil
        var hmac: OpaquePointer? = nil
        switch encryption {
        case .aesGCM16, .chacha20Poly1305, .aesGMAC:
            let isGMAC = if case .aesGMAC = encryption { true } else { false }
            let algorithm = encryption == .chacha20Poly1305 ? TERN_AEAD_CHACHA20_POLY1305 : isGMAC ? TERN_AEAD_AES_GMAC : TERN_AEAD_AES_GCM
            let keyLength = expectedKeyLength - 4
            aead = encryptionKey.withUnsafeBufferPointer { tern_aead_new(Int32(algorithm), $0.baseAddress, keyLength) }
            salt = encryptionKey.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: keyLength, as: UInt32.self) }
            mode = isGMAC ? .gmac : .aead
        case .aesCBC:
            cbc = encryptionKey.withUnsafeBufferPointer { tern_cbc_new($0.baseAddress, $0.count) }
            mode = .cbcHMAC
        case .null:
            mode = .nullHMAC
        }
        if let id = integrity.hmacID {
            hmac = integrityKey.withUnsafeBufferPointer { tern_hmac_new(id, $0.baseAddress, $0.count) }
        }
        self.aead = aead
        self.cbc = cbc
        self.hmac = hmac
        guard (aead != nil) == (mode == .aead || mode == .gmac), (cbc != nil) == (mode == .cbcHMAC),
              (hmac != nil) == (integrity != .none) else {
            throw CryptoError("\(encryption)/\(integrity): libcrypto could not build the cipher context")
        }
        if mode != .nullHMAC {
            guard withUnsafeMutableBytes(of: &ivMask, { tern_random_bytes($0.baseAddress!.assumingMemoryBound(to: UInt8.self), 8) }) == 1 else {
                throw CryptoError("\(encryption): libcrypto's random generator failed")
            }
        }
    }

    private init(copying other: ESPCipher) {
        encryption = other.encryption
        integrity = other.integrity
        ivLength = other.ivLength
        icvLength = other.icvLength
        blockSize = other.blockSize
        mode = other.mode
        salt = other.salt
        ivMask = other.ivMask
        aead = other.aead.map { Self.duplicated(tern_aead_dup($0)) }
        cbc = other.cbc.map { Self.duplicated(tern_cbc_dup($0)) }
        hmac = other.hmac.map { Self.duplicated(tern_hmac_dup($0)) }
    }

    private static func duplicated(_ pointer: OpaquePointer?) -> OpaquePointer {
        guard let pointer else { fatalError("libcrypto could not duplicate a cipher context (out of memory)") }
        return pointer
    }

    /// A context for another thread, sharing this SA's keys, salt and IV mask. No key schedule.
    public func copy() -> ESPCipher { ESPCipher(copying: self) }

    deinit {
        tern_aead_free(aead)
        tern_cbc_free(cbc)
        tern_hmac_free(hmac)
        withUnsafeMutableBytes(of: &salt) { tern_cleanse($0.baseAddress, $0.count) }
        withUnsafeMutableBytes(of: &ivMask) { tern_cleanse($0.baseAddress, $0.count) }
    }

    // MARK: Seal

    /// `esp` points at the ESP header. Layout: [SPI 4][Seq(low 32) 4][IV ivLength][plaintext plaintextLength][ICV icvLength].
    /// The caller has written SPI, Seq and the plaintext (payload ‖ padding ‖ pad length ‖ next header).
    /// seal writes the IV, encrypts in place and writes the ICV. `sequence` is the full 64-bit sequence
    /// number (unique per SA: it makes the IV); `esn` says whether the high 32 bits take part in the
    /// ICV/AAD (RFC 4303 §2.2.1, RFC 4106 §5, RFC 4543 §3.3, RFC 7634 §2.1).
    /// Returns false only for a plaintext length the transform cannot take (CBC: not a multiple of 16).
    public func seal(esp: UnsafeMutableRawPointer, plaintextLength: Int, sequence: UInt64, esn: Bool) -> Bool {
        guard plaintextLength >= 0 else { return false }
        switch mode {
        case .aead, .gmac:
            // RFC 4106 §3.1: the IV must never repeat under a key; the sequence number never
            // does within an SA, and XOR with a per-SA constant keeps that property.
            esp.storeBytes(of: (sequence ^ ivMask).bigEndian, toByteOffset: 8, as: UInt64.self)
        case .cbcHMAC:
            // RFC 3602 §2.4 wants an unpredictable IV. We use NIST SP 800-38A App. C: the
            // forward cipher, under the SA key, of a nonce (random per-SA mask ‖ sequence).
            // It is unique because the sequence number is, unpredictable without the key,
            // deterministic (testable, no RNG lock or syscall per packet) and costs one
            // AES block. RAND_bytes per packet would be slower and would share a DRBG.
            guard plaintextLength % 16 == 0 else { return false }
            var nonce = (ivMask, sequence.bigEndian)
            let made = withUnsafeBytes(of: &nonce) {
                tern_cbc_make_iv(cbc, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes(esp + 8))
            }
            guard made == 1 else { return false }
        case .nullHMAC:
            break
        }
        return sealWithIVInPlace(esp: esp, plaintextLength: plaintextLength,
                                 sequenceHigh: UInt32(truncatingIfNeeded: sequence >> 32), esn: esn)
    }

    /// Seal with the IV the caller already wrote at `esp + 8`. For known-answer tests, which
    /// fix the IV; the data plane always goes through `seal`, which derives it.
    func sealWithIVInPlace(esp: UnsafeMutableRawPointer, plaintextLength: Int, sequenceHigh: UInt32, esn: Bool) -> Bool {
        guard plaintextLength >= 0 else { return false }
        let text = esp + 8 + ivLength
        let icv = text + plaintextLength
        switch mode {
        case .aead:
            var nonce = aeadNonce(esp)
            var aad = esnAAD(esp, sequenceHigh)
            return withUnsafeBytes(of: &nonce) { nonce in
                withUnsafeBytes(of: &aad) { aad in
                    tern_aead_seal(aead, bytes(nonce), esn ? bytes(aad) : constBytes(esp), esn ? 12 : 8, nil, 0,
                                   bytes(text), plaintextLength, bytes(icv)) == 1
                }
            }
        case .gmac:
            var nonce = aeadNonce(esp)
            var aad = esnAAD(esp, sequenceHigh)
            return withUnsafeBytes(of: &nonce) { nonce in
                withUnsafeBytes(of: &aad) { aad in
                    esn ? tern_aead_seal(aead, bytes(nonce), bytes(aad), 12, bytes(esp + 8), 8 + plaintextLength,
                                         nil, 0, bytes(icv)) == 1
                        : tern_aead_seal(aead, bytes(nonce), bytes(esp), 16 + plaintextLength, nil, 0,
                                         nil, 0, bytes(icv)) == 1
                }
            }
        case .cbcHMAC:
            guard plaintextLength % 16 == 0,
                  tern_cbc_encrypt(cbc, bytes(esp + 8), bytes(text), plaintextLength) == 1 else { return false }
            computeICV(esp, covered: 8 + 16 + plaintextLength, sequenceHigh, esn, into: icv)
            return true
        case .nullHMAC:
            computeICV(esp, covered: 8 + plaintextLength, sequenceHigh, esn, into: icv)
            return true
        }
    }

    // MARK: Open

    /// `totalLength` covers header through ICV. Verifies the ICV first (constant-time compare), then
    /// decrypts the ciphertext in place. Returns false on ICV failure or a length that cannot be valid
    /// (shorter than header + IV + ICV, or CBC ciphertext not a multiple of 16). `sequenceHigh` is the
    /// inferred ESN high half (ignored unless esn).
    ///
    /// For the AEADs, verification and decryption are one libcrypto pass; when the tag is wrong the
    /// ciphertext region is zeroed before returning false, so no unauthenticated plaintext survives.
    public func open(esp: UnsafeMutableRawPointer, totalLength: Int, sequenceHigh: UInt32, esn: Bool) -> Bool {
        let textLength = totalLength - 8 - ivLength - icvLength
        guard textLength >= 0 else { return false }
        let text = esp + 8 + ivLength
        let icv = text + textLength
        switch mode {
        case .aead:
            var nonce = aeadNonce(esp)
            var aad = esnAAD(esp, sequenceHigh)
            return withUnsafeBytes(of: &nonce) { nonce in
                withUnsafeBytes(of: &aad) { aad in
                    tern_aead_open(aead, bytes(nonce), esn ? bytes(aad) : constBytes(esp), esn ? 12 : 8, nil, 0,
                                   bytes(text), textLength, bytes(icv)) == 1
                }
            }
        case .gmac:
            var nonce = aeadNonce(esp)
            var aad = esnAAD(esp, sequenceHigh)
            return withUnsafeBytes(of: &nonce) { nonce in
                withUnsafeBytes(of: &aad) { aad in
                    esn ? tern_aead_open(aead, bytes(nonce), bytes(aad), 12, bytes(esp + 8), 8 + textLength,
                                         nil, 0, bytes(icv)) == 1
                        : tern_aead_open(aead, bytes(nonce), bytes(esp), 16 + textLength, nil, 0,
                                         nil, 0, bytes(icv)) == 1
                }
            }
        case .cbcHMAC:
            guard textLength % 16 == 0,
                  verifyICV(esp, covered: 8 + 16 + textLength, sequenceHigh, esn, against: icv) else { return false }
            return tern_cbc_decrypt(cbc, bytes(esp + 8), bytes(text), textLength) == 1
        case .nullHMAC:
            return verifyICV(esp, covered: 8 + textLength, sequenceHigh, esn, against: icv)
        }
    }

    // MARK: Pieces

    /// salt ‖ IV, 12 bytes in wire order (RFC 4106 §4, RFC 7634 §2).
    @inline(__always)
    private func aeadNonce(_ esp: UnsafeMutableRawPointer) -> (UInt32, UInt32, UInt32) {
        (salt, esp.loadUnaligned(fromByteOffset: 8, as: UInt32.self),
         esp.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
    }

    /// SPI ‖ SeqHi ‖ Seq, 12 bytes in wire order: the ESN AAD of RFC 4106 §5 / RFC 4543 §3.3 / RFC 7634 §2.1.
    @inline(__always)
    private func esnAAD(_ esp: UnsafeMutableRawPointer, _ sequenceHigh: UInt32) -> (UInt32, UInt32, UInt32) {
        (esp.loadUnaligned(as: UInt32.self), sequenceHigh.bigEndian,
         esp.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
    }

    /// HMAC over the first `covered` bytes, plus SeqHi after them when ESN is on (RFC 4303 §3.3.2.1:
    /// the high bits are authenticated but never sent), truncated to icvLength.
    @inline(__always)
    private func computeICV(_ esp: UnsafeMutableRawPointer, covered: Int, _ sequenceHigh: UInt32, _ esn: Bool,
                            into icv: UnsafeMutableRawPointer) {
        tern_hmac_start(hmac)
        tern_hmac_update(hmac, esp, covered)
        if esn {
            var high = sequenceHigh.bigEndian
            withUnsafeBytes(of: &high) { tern_hmac_update(hmac, $0.baseAddress, 4) }
        }
        tern_hmac_finish(hmac, bytes(icv), icvLength)
    }

    @inline(__always)
    private func verifyICV(_ esp: UnsafeMutableRawPointer, covered: Int, _ sequenceHigh: UInt32, _ esn: Bool,
                           against received: UnsafeMutableRawPointer) -> Bool {
        var computed: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes: the longest ICV
        return withUnsafeMutableBytes(of: &computed) { computed in
            computeICV(esp, covered: covered, sequenceHigh, esn, into: computed.baseAddress!)
            return tern_constant_time_equal(computed.baseAddress, received, icvLength) == 1
        }
    }
}

// The shim takes uint8_t pointers; packets and stack scratch are raw memory, which may always
// be viewed as UInt8.
@inline(__always)
private func bytes(_ pointer: UnsafeMutableRawPointer) -> UnsafeMutablePointer<UInt8> {
    pointer.assumingMemoryBound(to: UInt8.self)
}

@inline(__always)
private func constBytes(_ pointer: UnsafeRawPointer) -> UnsafePointer<UInt8> {
    pointer.assumingMemoryBound(to: UInt8.self)
}

@inline(__always)
private func bytes(_ buffer: UnsafeRawBufferPointer) -> UnsafePointer<UInt8> {
    buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
}

extension IntegrityAlgorithm {
    /// The shim's HMAC identifier, or nil for `.none`.
    var hmacID: Int32? {
        switch self {
        case .none: nil
        case .hmacSHA1_96: Int32(TERN_HMAC_SHA1)
        case .hmacSHA256_128: Int32(TERN_HMAC_SHA256)
        case .hmacSHA384_192: Int32(TERN_HMAC_SHA384)
        case .hmacSHA512_256: Int32(TERN_HMAC_SHA512)
        }
    }
}
