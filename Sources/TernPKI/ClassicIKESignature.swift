import Crypto
import _CryptoExtras

/// IKEv2's AUTH methods from before RFC 7427, for peers that do not announce
/// SIGNATURE_HASH_ALGORITHMS: RSA PKCS#1 v1.5 with SHA-1 (RFC 7296 §3.8) and ECDSA with the
/// curve's hash and a fixed-size r‖s signature (RFC 4754).
public enum ClassicIKESignature: UInt8, Sendable, Hashable, CustomStringConvertible {
    case rsaSHA1 = 1
    case ecdsaP256SHA256 = 9
    case ecdsaP384SHA384 = 10
    case ecdsaP521SHA512 = 11

    /// The classic method a key signs with, if any (Ed25519 has none: it needs RFC 7427).
    public static func method(for key: PKIKeyType) -> ClassicIKESignature? {
        switch key {
        case .rsa: .rsaSHA1
        case .ecdsa(256): .ecdsaP256SHA256
        case .ecdsa(384): .ecdsaP384SHA384
        case .ecdsa(521): .ecdsaP521SHA512
        default: nil
        }
    }

    public var description: String {
        switch self {
        case .rsaSHA1: "RSA signature with SHA-1"
        case .ecdsaP256SHA256: "ECDSA-256 signature with SHA-256"
        case .ecdsaP384SHA384: "ECDSA-384 signature with SHA-384"
        case .ecdsaP521SHA512: "ECDSA-521 signature with SHA-512"
        }
    }
}

extension PrivateKeyBundle {
    public func sign(_ data: [UInt8], classic method: ClassicIKESignature) throws(PKIError) -> [UInt8] {
        do {
            switch (backing, method) {
            case (.rsa(let key), .rsaSHA1):
                return [UInt8](try key.signature(for: Insecure.SHA1.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation)
            case (.p256(let key), .ecdsaP256SHA256):
                return [UInt8](try key.signature(for: SHA256.hash(data: data)).rawRepresentation)
            case (.p384(let key), .ecdsaP384SHA384):
                return [UInt8](try key.signature(for: SHA384.hash(data: data)).rawRepresentation)
            case (.p521(let key), .ecdsaP521SHA512):
                return [UInt8](try key.signature(for: SHA512.hash(data: data)).rawRepresentation)
            default:
                throw PKIError(.schemeMismatch, "\(method) cannot be made with a \(keyType) key")
            }
        } catch let error as PKIError {
            throw error
        } catch {
            throw PKIError(.signingFailed, "\(method) signing failed: \(error)")
        }
    }
}

extension PublicKeyBundle {
    /// False for a method that does not fit the key, a malformed signature, or a wrong one.
    public func verify(_ signature: [UInt8], over data: [UInt8], classic method: ClassicIKESignature) -> Bool {
        switch (backing, method) {
        case (.rsa(let key), .rsaSHA1):
            guard signature.count == (key.keySizeInBits + 7) / 8 else { return false }
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature),
                                        for: Insecure.SHA1.hash(data: data), padding: .insecurePKCS1v1_5)
        case (.p256(let key), .ecdsaP256SHA256):
            guard let sig = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(sig, for: SHA256.hash(data: data))
        case (.p384(let key), .ecdsaP384SHA384):
            guard let sig = try? P384.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(sig, for: SHA384.hash(data: data))
        case (.p521(let key), .ecdsaP521SHA512):
            guard let sig = try? P521.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(sig, for: SHA512.hash(data: data))
        default:
            return false
        }
    }
}
