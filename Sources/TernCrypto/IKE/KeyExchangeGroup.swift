/// Transform type 4 (KE, formerly D-H group), by IANA IKEv2 transform ID: the MODP groups of
/// RFC 3526, the NIST curves of RFC 5903 and Curve25519 (RFC 8031).
public enum KeyExchangeGroup: UInt16, Sendable, Hashable, CaseIterable {
    case modp2048 = 14     // RFC 3526 §3
    case modp3072 = 15     // RFC 3526 §4
    case modp4096 = 16     // RFC 3526 §5
    case ecp256 = 19       // RFC 5903 §3.1 (NIST P-256)
    case ecp384 = 20       // RFC 5903 §3.2 (NIST P-384)
    case ecp521 = 21       // RFC 5903 §3.3 (NIST P-521)
    case curve25519 = 31   // RFC 8031

    /// Bytes of the KE payload's key exchange data: the prime's length for MODP, x ‖ y for
    /// ECP (RFC 5903 §7), the u-coordinate for Curve25519 (RFC 8031 §3.1).
    public var publicValueLength: Int {
        switch self {
        case .modp2048: 256
        case .modp3072: 384
        case .modp4096: 512
        case .ecp256: 64
        case .ecp384: 96
        case .ecp521: 132
        case .curve25519: 32
        }
    }

    /// Bytes of g^ir: the prime's length for MODP (RFC 7296 §2.14 keeps leading zeros), the
    /// x-coordinate for ECP (RFC 5903 §7), 32 for Curve25519.
    public var sharedSecretLength: Int {
        switch self {
        case .modp2048, .modp3072, .modp4096, .curve25519: publicValueLength
        case .ecp256, .ecp384, .ecp521: publicValueLength / 2
        }
    }

    public var isMODP: Bool {
        switch self {
        case .modp2048, .modp3072, .modp4096: true
        default: false
        }
    }

    /// The name strongSwan prints (`swanctl --list-sas`, VICI `dh-group`).
    public var strongSwanName: String {
        switch self {
        case .modp2048: "MODP_2048"
        case .modp3072: "MODP_3072"
        case .modp4096: "MODP_4096"
        case .ecp256: "ECP_256"
        case .ecp384: "ECP_384"
        case .ecp521: "ECP_521"
        case .curve25519: "CURVE_25519"
        }
    }
}
