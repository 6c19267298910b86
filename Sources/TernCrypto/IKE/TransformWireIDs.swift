/// Reading transforms from IKE SA payloads (RFC 7296 §3.3.2 transform IDs, §3.3.5 Key Length
/// attribute) and naming them as strongSwan does.

extension EncryptionAlgorithm {
    /// The ENCR transform for a transform ID and its Key Length attribute (bits), or nil if we
    /// don't support it or the attribute is missing, unexpected or a size we don't support.
    /// AES-CBC (12), AES-GCM-16 (20) and AES-GMAC (21) require the attribute (128, 192 or
    /// 256); ChaCha20-Poly1305 (28, RFC 7634 §2) and NULL (11) must not carry one.
    public init?(ikeTransformID: UInt16, keyLength: UInt16?) {
        switch (ikeTransformID, keyLength) {
        case (11, nil): self = .null
        case (28, nil): self = .chacha20Poly1305
        case (12, let bits?) where Self.isAESKeySize(bits): self = .aesCBC(keyBits: Int(bits))
        case (20, let bits?) where Self.isAESKeySize(bits): self = .aesGCM16(keyBits: Int(bits))
        case (21, let bits?) where Self.isAESKeySize(bits): self = .aesGMAC(keyBits: Int(bits))
        default: return nil
        }
    }

    private static func isAESKeySize(_ bits: UInt16) -> Bool { bits == 128 || bits == 192 || bits == 256 }

    /// The Key Length attribute to send with this transform (bits), nil where none is sent.
    public var ikeKeyLengthAttribute: UInt16? {
        keySizeBits.map { UInt16($0) }
    }

    /// The cipher key size in bits for the AES transforms (salt excluded), nil for the
    /// fixed-size ones; strongSwan's `encr-keysize`.
    public var keySizeBits: Int? {
        switch self {
        case .aesCBC(let bits), .aesGCM16(let bits), .aesGMAC(let bits): bits
        case .null, .chacha20Poly1305: nil
        }
    }

    /// The name strongSwan prints (`swanctl --list-sas`, VICI `encr-alg`); the key size is
    /// printed separately (`keySizeBits`).
    public var strongSwanName: String {
        switch self {
        case .null: "NULL"
        case .aesCBC: "AES_CBC"
        case .aesGCM16: "AES_GCM_16"
        case .chacha20Poly1305: "CHACHA20_POLY1305"
        case .aesGMAC: "NULL_AES_GMAC"  // strongSwan's encryption_algorithm_names for ID 21
        }
    }
}

extension IntegrityAlgorithm {
    /// The INTEG transform for a transform ID (0 = NONE), or nil if we don't support it.
    public init?(ikeTransformID: UInt16) {
        switch ikeTransformID {
        case 0: self = .none
        case 2: self = .hmacSHA1_96
        case 12: self = .hmacSHA256_128
        case 13: self = .hmacSHA384_192
        case 14: self = .hmacSHA512_256
        default: return nil
        }
    }

    /// The name strongSwan prints (`swanctl --list-sas`, VICI `integ-alg`).
    public var strongSwanName: String {
        switch self {
        case .none: "NONE"
        case .hmacSHA1_96: "HMAC_SHA1_96"
        case .hmacSHA256_128: "HMAC_SHA2_256_128"
        case .hmacSHA384_192: "HMAC_SHA2_384_192"
        case .hmacSHA512_256: "HMAC_SHA2_512_256"
        }
    }
}
