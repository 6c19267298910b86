import Crypto

/// Transform type 2 (PRF), by IANA IKEv2 transform ID (RFC 7296 §3.3.2, RFC 4868 §2.1 for
/// the SHA-2 ones). Used for SKEYSEED, prf+ and the AUTH payload; IKE is not the hot path, so
/// this runs on swift-crypto's HMAC and returns fresh arrays.
public enum PRFAlgorithm: UInt16, Sendable, Hashable, CaseIterable {
    case hmacSHA1 = 2      // PRF_HMAC_SHA1, RFC 2104
    case hmacSHA256 = 5    // PRF_HMAC_SHA2_256, RFC 4868
    case hmacSHA384 = 6    // PRF_HMAC_SHA2_384
    case hmacSHA512 = 7    // PRF_HMAC_SHA2_512

    /// Bytes of one PRF output, which is also the preferred key length (RFC 7296 §2.13) and
    /// the length of SK_d, SK_pi and SK_pr (§2.14).
    public var outputLength: Int {
        switch self {
        case .hmacSHA1: 20
        case .hmacSHA256: 32
        case .hmacSHA384: 48
        case .hmacSHA512: 64
        }
    }

    /// HMAC over `data` with a key of any length (RFC 2104: long keys are hashed, short ones padded).
    public func compute(key: [UInt8], data: [UInt8]) -> [UInt8] {
        let symmetricKey = SymmetricKey(data: key)
        switch self {
        case .hmacSHA1: return Array(HMAC<Insecure.SHA1>.authenticationCode(for: data, using: symmetricKey))
        case .hmacSHA256: return Array(HMAC<SHA256>.authenticationCode(for: data, using: symmetricKey))
        case .hmacSHA384: return Array(HMAC<SHA384>.authenticationCode(for: data, using: symmetricKey))
        case .hmacSHA512: return Array(HMAC<SHA512>.authenticationCode(for: data, using: symmetricKey))
        }
    }

    /// prf+ (RFC 7296 §2.13):
    ///
    ///     prf+ (K,S) = T1 | T2 | T3 | T4 | ...
    ///     T1 = prf (K, S | 0x01)
    ///     T2 = prf (K, T1 | S | 0x02)
    ///     ...
    ///
    /// truncated to `length`. The counter is one octet, so at most 255 blocks exist:
    /// precondition `0 <= length <= 255 * outputLength` (a programming error otherwise, since
    /// lengths come from the negotiated transforms, never from the peer).
    public func plus(key: [UInt8], seed: [UInt8], length: Int) -> [UInt8] {
        precondition(length >= 0 && length <= 255 * outputLength, "prf+ can produce at most 255 blocks")
        var output: [UInt8] = []
        output.reserveCapacity(length + outputLength)
        var previous: [UInt8] = []
        var counter: UInt8 = 1
        while output.count < length {
            previous = compute(key: key, data: previous + seed + [counter])
            output += previous
            counter &+= 1
        }
        return Array(output.prefix(length))
    }

    /// The name strongSwan prints (`swanctl --list-sas`, VICI `prf-alg`).
    public var strongSwanName: String {
        switch self {
        case .hmacSHA1: "PRF_HMAC_SHA1"
        case .hmacSHA256: "PRF_HMAC_SHA2_256"
        case .hmacSHA384: "PRF_HMAC_SHA2_384"
        case .hmacSHA512: "PRF_HMAC_SHA2_512"
        }
    }
}
