/// The key types `tern pki gen` makes and TernPKI signs with.
public enum PKIKeyType: Sendable, Hashable, CustomStringConvertible {
    case rsa(bits: Int)
    /// NIST curves by field size: 256 (P-256), 384 (P-384), 521 (P-521).
    case ecdsa(bits: Int)
    case ed25519

    /// RSA sizes TernPKI generates: 2048 and up in whole bytes, at most 8192 (pki accepts any size; BoringSSL
    /// refuses below 2048).
    public static let rsaSizes = 2048...8192

    /// Parses pki's `--type` and `--size` (size 0 means pki's default: rsa 2048, ecdsa 384).
    public init(pkiType: String, size: Int = 0) throws(PKIError) {
        switch pkiType.lowercased() {
        case "rsa":
            self = .rsa(bits: size == 0 ? 2048 : size)
        case "ecdsa":
            self = .ecdsa(bits: size == 0 ? 384 : size)
        case "ed25519":
            self = .ed25519
        case "ed448", "bliss":
            throw PKIError(.unsupportedKeyType, "key type \(pkiType) is not supported (rsa, ecdsa, ed25519 are)")
        default:
            throw PKIError(.invalidInput, "invalid key type '\(pkiType)' (rsa, ecdsa or ed25519)")
        }
        try validate()
    }

    func validate() throws(PKIError) {
        switch self {
        case .rsa(let bits):
            guard Self.rsaSizes.contains(bits), bits % 8 == 0 else {
                throw PKIError(.unsupportedKeySize, "RSA key size \(bits) not supported (2048 to 8192, a multiple of 8)")
            }
        case .ecdsa(let bits):
            guard [256, 384, 521].contains(bits) else {
                throw PKIError(.unsupportedKeySize, "ECDSA key size \(bits) not supported (256, 384 or 521)")
            }
        case .ed25519:
            break
        }
    }

    /// strongSwan's names, as `pki --print` shows them: "RSA 2048 bits", "ECDSA 256 bits", "ED25519 256 bits".
    public var description: String {
        switch self {
        case .rsa(let bits): "RSA \(bits) bits"
        case .ecdsa(let bits): "ECDSA \(bits) bits"
        case .ed25519: "ED25519 256 bits"
        }
    }

    /// The key size in bits as pki reports it.
    public var bits: Int {
        switch self {
        case .rsa(let bits), .ecdsa(let bits): bits
        case .ed25519: 256
        }
    }
}
