import Crypto
import Foundation
import _CryptoExtras

extension PrivateKeyBundle {
    /// Signs `data` (hashing it as the scheme says). ECDSA signatures are DER Ecdsa-Sig-Value, as RFC 7427 and
    /// X.509 carry them; RSA signatures are as long as the modulus; Ed25519 signs the data itself (PureEdDSA).
    public func sign(_ data: [UInt8], scheme: SignatureScheme) throws(PKIError) -> [UInt8] {
        guard scheme.fits(keyType) else {
            throw PKIError(.schemeMismatch, "\(scheme) cannot be made with a \(keyType) key")
        }
        do {
            switch (backing, scheme) {
            case (.rsa(let key), .rsaPKCS1(let h)):
                return try Self.rsaSign(key, data, h, padding: .insecurePKCS1v1_5)
            case (.rsa(let key), .rsaPSS(let h)):
                return try Self.rsaSign(key, data, h, padding: .PSS)
            case (.p256(let key), .ecdsa(let h)):
                return try Self.withDigest(data, h) { [UInt8](try key.signature(for: $0).derRepresentation) }
            case (.p384(let key), .ecdsa(let h)):
                return try Self.withDigest(data, h) { [UInt8](try key.signature(for: $0).derRepresentation) }
            case (.p521(let key), .ecdsa(let h)):
                return try Self.withDigest(data, h) { [UInt8](try key.signature(for: $0).derRepresentation) }
            case (.ed25519(let key), .ed25519):
                return [UInt8](try key.signature(for: data))
            default:
                throw PKIError(.schemeMismatch, "\(scheme) cannot be made with a \(keyType) key")
            }
        } catch let error as PKIError {
            throw error
        } catch {
            throw PKIError(.signingFailed, "\(scheme) signing failed: \(error)")
        }
    }

    static func rsaSign(_ key: _RSA.Signing.PrivateKey, _ data: [UInt8], _ hash: SignatureScheme.SHA,
                        padding: _RSA.Signing.Padding) throws -> [UInt8] {
        try withDigest(data, hash) { [UInt8](try key.signature(for: $0, padding: padding).rawRepresentation) }
    }

    /// Calls `body` with the digest of `data` under `hash`, keeping each digest's concrete type.
    static func withDigest<R>(_ data: [UInt8], _ hash: SignatureScheme.SHA, _ body: (any Digest) throws -> R) rethrows -> R {
        switch hash {
        case .sha256: try body(SHA256.hash(data: data))
        case .sha384: try body(SHA384.hash(data: data))
        case .sha512: try body(SHA512.hash(data: data))
        }
    }
}

extension PublicKeyBundle {
    /// Checks a signature made by `PrivateKeyBundle.sign` (or by strongSwan/OpenSSL with the same scheme).
    /// False for a scheme that does not fit the key, a malformed signature, or a wrong one.
    public func verify(_ signature: [UInt8], over data: [UInt8], scheme: SignatureScheme) -> Bool {
        guard scheme.fits(keyType) else { return false }
        switch (backing, scheme) {
        case (.rsa(let key), .rsaPKCS1(let h)):
            return Self.rsaVerify(key, signature, data, h, padding: .insecurePKCS1v1_5)
        case (.rsa(let key), .rsaPSS(let h)):
            return Self.rsaVerify(key, signature, data, h, padding: .PSS)
        case (.p256(let key), .ecdsa(let h)):
            guard let sig = try? P256.Signing.ECDSASignature(derRepresentation: signature) else { return false }
            return PrivateKeyBundle.withDigest(data, h) { key.isValidSignature(sig, for: $0) }
        case (.p384(let key), .ecdsa(let h)):
            guard let sig = try? P384.Signing.ECDSASignature(derRepresentation: signature) else { return false }
            return PrivateKeyBundle.withDigest(data, h) { key.isValidSignature(sig, for: $0) }
        case (.p521(let key), .ecdsa(let h)):
            guard let sig = try? P521.Signing.ECDSASignature(derRepresentation: signature) else { return false }
            return PrivateKeyBundle.withDigest(data, h) { key.isValidSignature(sig, for: $0) }
        case (.ed25519(let key), .ed25519):
            return key.isValidSignature(signature, for: data)
        default:
            return false
        }
    }

    static func rsaVerify(_ key: _RSA.Signing.PublicKey, _ signature: [UInt8], _ data: [UInt8],
                          _ hash: SignatureScheme.SHA, padding: _RSA.Signing.Padding) -> Bool {
        // A signature longer or shorter than the modulus is malformed, not merely wrong.
        guard signature.count == (key.keySizeInBits + 7) / 8 else { return false }
        let sig = _RSA.Signing.RSASignature(rawRepresentation: signature)
        return PrivateKeyBundle.withDigest(data, hash) { key.isValidSignature(sig, for: $0, padding: padding) }
    }
}
