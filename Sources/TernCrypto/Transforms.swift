/// ESP/AH transforms, named after their IANA IKEv2 transform IDs (RFC 7296 §3.3.2 and the
/// IANA "Transform Type 1/3" registries) so the IKE engine and setkey share one vocabulary.

/// Transform type 1 (ENCR). Combined-mode (AEAD) algorithms carry their own integrity.
public enum EncryptionAlgorithm: Sendable, Hashable, CustomStringConvertible {
    case null                         // ENCR_NULL (11), RFC 2410: integrity from an INTEG transform
    case aesCBC(keyBits: Int)         // ENCR_AES_CBC (12), RFC 3602
    case aesGCM16(keyBits: Int)       // ENCR_AES_GCM_16 (20), RFC 4106; key material = key ‖ 4-byte salt
    case chacha20Poly1305             // ENCR_CHACHA20_POLY1305 (28), RFC 7634; 32-byte key ‖ 4-byte salt
    case aesGMAC(keyBits: Int)        // ENCR_NULL_AUTH_AES_GMAC (21), RFC 4543: integrity only; key ‖ salt

    public var ikeTransformID: UInt16 {
        switch self {
        case .null: 11
        case .aesCBC: 12
        case .aesGCM16: 20
        case .chacha20Poly1305: 28
        case .aesGMAC: 21
        }
    }

    /// Bytes of keying material, including the salt of the combined modes.
    public var keyMaterialLength: Int {
        switch self {
        case .null: 0
        case .aesCBC(let bits): bits / 8
        case .aesGCM16(let bits), .aesGMAC(let bits): bits / 8 + 4
        case .chacha20Poly1305: 36
        }
    }

    /// Combined-mode transforms compute their own ICV and take no INTEG transform.
    public var isCombinedMode: Bool {
        switch self {
        case .aesGCM16, .chacha20Poly1305, .aesGMAC: true
        case .null, .aesCBC: false
        }
    }

    /// Does the payload stay confidential? (GMAC and NULL only authenticate.)
    public var providesConfidentiality: Bool {
        switch self {
        case .aesCBC, .aesGCM16, .chacha20Poly1305: true
        case .null, .aesGMAC: false
        }
    }

    /// Bytes of explicit IV carried in each packet.
    public var ivLength: Int {
        switch self {
        case .null: 0
        case .aesCBC: 16
        case .aesGCM16, .chacha20Poly1305, .aesGMAC: 8
        }
    }

    /// Alignment of payload ‖ padding ‖ pad length ‖ next header (RFC 4303 §2.4: at least 4).
    public var blockSize: Int {
        switch self {
        case .aesCBC: 16
        default: 4
        }
    }

    /// ICV bytes a combined mode appends (0 for the others: their INTEG transform decides).
    public var combinedICVLength: Int { isCombinedMode ? 16 : 0 }

    public var isValidKeySize: Bool {
        switch self {
        case .aesCBC(let b), .aesGCM16(let b), .aesGMAC(let b): b == 128 || b == 192 || b == 256
        default: true
        }
    }

    /// The name setkey(8) uses; also used in `tern state`.
    public var description: String {
        switch self {
        case .null: "null"
        case .aesCBC(let b): "aes-cbc-\(b)"
        case .aesGCM16(let b): "aes-gcm-16-\(b)"
        case .chacha20Poly1305: "chacha20-poly1305"
        case .aesGMAC(let b): "aes-gmac-\(b)"
        }
    }
}

/// Transform type 3 (INTEG), with RFC 4868 truncation for HMAC-SHA2.
public enum IntegrityAlgorithm: Sendable, Hashable, CustomStringConvertible {
    case none                 // NONE (0): only with a combined-mode ENCR
    case hmacSHA1_96          // AUTH_HMAC_SHA1_96 (2), RFC 2404
    case hmacSHA256_128       // AUTH_HMAC_SHA2_256_128 (12), RFC 4868
    case hmacSHA384_192       // AUTH_HMAC_SHA2_384_192 (13)
    case hmacSHA512_256       // AUTH_HMAC_SHA2_512_256 (14)

    public var ikeTransformID: UInt16 {
        switch self {
        case .none: 0
        case .hmacSHA1_96: 2
        case .hmacSHA256_128: 12
        case .hmacSHA384_192: 13
        case .hmacSHA512_256: 14
        }
    }

    /// Key length the RFCs require (equal to the hash output).
    public var keyLength: Int {
        switch self {
        case .none: 0
        case .hmacSHA1_96: 20
        case .hmacSHA256_128: 32
        case .hmacSHA384_192: 48
        case .hmacSHA512_256: 64
        }
    }

    public var icvLength: Int {
        switch self {
        case .none: 0
        case .hmacSHA1_96: 12
        case .hmacSHA256_128: 16
        case .hmacSHA384_192: 24
        case .hmacSHA512_256: 32
        }
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .hmacSHA1_96: "hmac-sha1"
        case .hmacSHA256_128: "hmac-sha256"
        case .hmacSHA384_192: "hmac-sha384"
        case .hmacSHA512_256: "hmac-sha512"
        }
    }
}

/// A failure to build a cipher context: wrong key length, an invalid combination, or libcrypto
/// refusing. Never carries key bytes.
public struct CryptoError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
