import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// A private key of any type TernPKI handles, with the encodings strongSwan and OpenSSL exchange:
/// RSA as PKCS#1 ("RSA PRIVATE KEY", what `pki --gen` writes), ECDSA as SEC1 ("EC PRIVATE KEY" with the curve
/// and public key, as OpenSSL writes it), Ed25519 as PKCS#8 ("PRIVATE KEY"). It reads PKCS#1, SEC1 and PKCS#8,
/// as PEM or DER. Key material is never printed or logged; `description` shows the type only.
public struct PrivateKeyBundle: Sendable, CustomStringConvertible {
    enum Backing: Sendable {
        case rsa(_RSA.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
        case p384(P384.Signing.PrivateKey)
        case p521(P521.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
    }

    let backing: Backing

    init(backing: Backing) { self.backing = backing }

    /// A fresh key from the system's secure random source.
    public static func generate(_ type: PKIKeyType) throws(PKIError) -> PrivateKeyBundle {
        try type.validate()
        switch type {
        case .rsa(let bits):
            do {
                return PrivateKeyBundle(backing: .rsa(try _RSA.Signing.PrivateKey(keySize: .init(bitCount: bits))))
            } catch {
                throw PKIError(.signingFailed, "RSA \(bits) key generation failed: \(error)")
            }
        case .ecdsa(256): return PrivateKeyBundle(backing: .p256(P256.Signing.PrivateKey()))
        case .ecdsa(384): return PrivateKeyBundle(backing: .p384(P384.Signing.PrivateKey()))
        case .ecdsa: return PrivateKeyBundle(backing: .p521(P521.Signing.PrivateKey()))
        case .ed25519: return PrivateKeyBundle(backing: .ed25519(Curve25519.Signing.PrivateKey()))
        }
    }

    public var keyType: PKIKeyType {
        switch backing {
        case .rsa(let key): .rsa(bits: key.keySizeInBits)
        case .p256: .ecdsa(bits: 256)
        case .p384: .ecdsa(bits: 384)
        case .p521: .ecdsa(bits: 521)
        case .ed25519: .ed25519
        }
    }

    public var publicKey: PublicKeyBundle {
        switch backing {
        case .rsa(let key): PublicKeyBundle(backing: .rsa(key.publicKey))
        case .p256(let key): PublicKeyBundle(backing: .p256(key.publicKey))
        case .p384(let key): PublicKeyBundle(backing: .p384(key.publicKey))
        case .p521(let key): PublicKeyBundle(backing: .p521(key.publicKey))
        case .ed25519(let key): PublicKeyBundle(backing: .ed25519(key.publicKey))
        }
    }

    public var description: String { "private key (\(keyType))" }

    // MARK: Encoding

    /// The PEM label of `derEncoded`.
    public var pemLabel: String {
        switch backing {
        case .rsa: "RSA PRIVATE KEY"
        case .p256, .p384, .p521: "EC PRIVATE KEY"
        case .ed25519: "PRIVATE KEY"
        }
    }

    /// PKCS#1 for RSA, SEC1 for ECDSA, PKCS#8 for Ed25519 (what `pki --gen --outform der` writes).
    public var derEncoded: [UInt8] {
        switch backing {
        case .rsa(let key):
            return [UInt8](key.derRepresentation)
        case .p256(let key):
            return Self.sec1(raw: [UInt8](key.rawRepresentation), curve: OID.secp256r1, publicPoint: [UInt8](key.publicKey.x963Representation))
        case .p384(let key):
            return Self.sec1(raw: [UInt8](key.rawRepresentation), curve: OID.secp384r1, publicPoint: [UInt8](key.publicKey.x963Representation))
        case .p521(let key):
            return Self.sec1(raw: [UInt8](key.rawRepresentation), curve: OID.secp521r1, publicPoint: [UInt8](key.publicKey.x963Representation))
        case .ed25519(let key):
            // RFC 8410 §7: OneAsymmetricKey v1 with the 32-byte seed wrapped in an inner OCTET STRING.
            return DERWriter.sequence(DERWriter.integer(0), DERWriter.algorithmIdentifier(OID.ed25519),
                                      DERWriter.octetString(DERWriter.octetString([UInt8](key.rawRepresentation))))
        }
    }

    public var pemEncoded: String { PEMBlock(label: pemLabel, der: derEncoded).encoded }

    /// The unencrypted PKCS#8 form ("PRIVATE KEY") for any key type, as `openssl pkey` writes it.
    public var pkcs8DEREncoded: [UInt8] {
        switch backing {
        case .rsa(let key):
            return [UInt8](key.pkcs8DERRepresentation)
        case .p256, .p384, .p521:
            let curve: ASN1ObjectIdentifier = switch backing {
            case .p256: OID.secp256r1
            case .p384: OID.secp384r1
            default: OID.secp521r1
            }
            return DERWriter.sequence(DERWriter.integer(0),
                                      DERWriter.algorithmIdentifier(OID.ecPublicKey, parameters: DERWriter.oid(curve)),
                                      DERWriter.octetString(derEncoded))
        case .ed25519:
            return derEncoded
        }
    }

    /// RFC 5915 ECPrivateKey with the optional curve and public key present (OpenSSL reads it either way,
    /// strongSwan needs the curve).
    static func sec1(raw: [UInt8], curve: ASN1ObjectIdentifier, publicPoint: [UInt8]) -> [UInt8] {
        DERWriter.sequence(DERWriter.integer(1), DERWriter.octetString(raw),
                           DERWriter.context(0, DERWriter.oid(curve)),
                           DERWriter.context(1, DERWriter.bitString(publicPoint)))
    }

    /// swift-certificates' view of the key, for signing certificates and requests.
    var certificatePrivateKey: Certificate.PrivateKey {
        switch backing {
        case .rsa(let key): Certificate.PrivateKey(key)
        case .p256(let key): Certificate.PrivateKey(key)
        case .p384(let key): Certificate.PrivateKey(key)
        case .p521(let key): Certificate.PrivateKey(key)
        case .ed25519(let key): Certificate.PrivateKey(key)
        }
    }

    // MARK: Loading

    /// Reads a private key from PEM ("RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY") or DER (PKCS#1, SEC1,
    /// PKCS#8). "EC PARAMETERS" blocks before the key, as `openssl ecparam -genkey` writes them, are skipped.
    public static func load(_ bytes: [UInt8]) throws(PKIError) -> PrivateKeyBundle {
        if PEM.looksLikePEM(bytes) {
            let blocks = try PEM.decodeAll(String(decoding: bytes, as: UTF8.self))
            if blocks.contains(where: { $0.label == "ENCRYPTED PRIVATE KEY" || $0.headers["Proc-Type"]?.contains("ENCRYPTED") == true }) {
                throw PKIError(.encryptedKey, "the private key is encrypted: load it with a passphrase (tern pki reads TERN_PKI_PASSPHRASE), or decrypt it first (openssl pkey -in KEY -out PLAIN)")
            }
            guard let block = blocks.first(where: { ["RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY"].contains($0.label) }) else {
                throw PKIError(.malformedPEM, "no private key PEM block (found: \(blocks.map(\.label).joined(separator: ", ")))")
            }
            switch block.label {
            case "RSA PRIVATE KEY": return try loadPKCS1(block.der)
            case "EC PRIVATE KEY": return try loadSEC1(block.der, curve: nil)
            default: return try loadPKCS8(block.der)
            }
        }
        return try loadDER(bytes)
    }

    /// DER in any of the three forms: PKCS#8 has an AlgorithmIdentifier second, SEC1 an OCTET STRING,
    /// PKCS#1 nine INTEGERs.
    static func loadDER(_ der: [UInt8]) throws(PKIError) -> PrivateKeyBundle {
        let root = try parseDER(der, "private key")
        let fields = try root.sequenceChildren("private key")
        guard fields.count >= 2 else { throw PKIError(.malformedDER, "private key: too few fields") }
        switch fields[1].identifier {
        case .sequence: return try loadPKCS8(der)
        case .octetString: return try loadSEC1(der, curve: nil)
        case .integer: return try loadPKCS1(der)
        default: throw PKIError(.malformedDER, "not a PKCS#1, SEC1 or PKCS#8 private key")
        }
    }

    static func loadPKCS1(_ der: [UInt8]) throws(PKIError) -> PrivateKeyBundle {
        do {
            return PrivateKeyBundle(backing: .rsa(try _RSA.Signing.PrivateKey(derRepresentation: der)))
        } catch {
            throw PKIError(.malformedDER, "not a usable PKCS#1 RSA private key (RSA keys must be 2048 bits or more): \(error)")
        }
    }

    static func loadSEC1(_ der: [UInt8], curve outerCurve: ASN1ObjectIdentifier?) throws(PKIError) -> PrivateKeyBundle {
        let fields = try parseDER(der, "EC private key").sequenceChildren("EC private key")
        guard fields.count >= 2, try fields[0].smallInteger("EC private key version") == 1 else {
            throw PKIError(.malformedDER, "EC private key: not an RFC 5915 ECPrivateKey")
        }
        let raw = try fields[1].octetStringBytes("EC private key")
        var curve = outerCurve
        for field in fields.dropFirst(2) where field.identifier == .context(0) {
            guard let inner = try field.children("EC parameters").first else { continue }
            curve = try inner.objectIdentifier("EC curve")
        }
        if curve == nil {
            // Neither SEC1 nor PKCS#8 named the curve: the private scalar's length tells.
            curve = switch raw.count {
            case 32: OID.secp256r1
            case 48: OID.secp384r1
            case 65, 66: OID.secp521r1
            default: nil
            }
        }
        do {
            switch curve {
            case OID.secp256r1: return PrivateKeyBundle(backing: .p256(try P256.Signing.PrivateKey(rawRepresentation: raw)))
            case OID.secp384r1: return PrivateKeyBundle(backing: .p384(try P384.Signing.PrivateKey(rawRepresentation: raw)))
            case OID.secp521r1:
                let padded = [UInt8](repeating: 0, count: max(0, 66 - raw.count)) + raw
                return PrivateKeyBundle(backing: .p521(try P521.Signing.PrivateKey(rawRepresentation: padded)))
            default: break
            }
        } catch {
            throw PKIError(.malformedDER, "EC private key: invalid scalar: \(error)")
        }
        throw PKIError(.unsupportedKeyType, "EC private key on an unsupported curve \(curve.map { "\($0)" } ?? "(unknown)") (P-256, P-384, P-521 are)")
    }

    static func loadPKCS8(_ der: [UInt8]) throws(PKIError) -> PrivateKeyBundle {
        let fields = try parseDER(der, "PKCS#8 private key").sequenceChildren("PKCS#8 private key")
        guard fields.count >= 3 else { throw PKIError(.malformedDER, "PKCS#8 private key: too few fields") }
        let algorithm = try fields[1].sequenceChildren("PKCS#8 algorithm")
        guard let algorithmOID = try algorithm.first?.objectIdentifier("PKCS#8 algorithm") else {
            throw PKIError(.malformedDER, "PKCS#8 private key: empty AlgorithmIdentifier")
        }
        let inner = try fields[2].octetStringBytes("PKCS#8 private key")
        switch algorithmOID {
        case OID.rsaEncryption, OID.rsassaPSS:
            return try loadPKCS1(inner)
        case OID.ecPublicKey:
            let curve = algorithm.count > 1 ? try algorithm[1].objectIdentifier("EC curve") : nil
            return try loadSEC1(inner, curve: curve)
        case OID.ed25519:
            let seed = try parseDER(inner, "Ed25519 private key").octetStringBytes("Ed25519 private key")
            do {
                return PrivateKeyBundle(backing: .ed25519(try Curve25519.Signing.PrivateKey(rawRepresentation: seed)))
            } catch {
                throw PKIError(.malformedDER, "Ed25519 private key: \(error)")
            }
        default:
            throw PKIError(.unsupportedKeyType, "private key algorithm \(algorithmOID) is not supported (RSA, ECDSA, Ed25519 are)")
        }
    }
}
