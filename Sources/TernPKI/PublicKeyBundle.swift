import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// A public key of any type TernPKI handles, with its SubjectPublicKeyInfo and the two SHA-1 key identifiers
/// strongSwan uses:
/// - `keyID` ("keyid" in `pki --keyid`/`--print`): SHA-1 over the whole DER SubjectPublicKeyInfo. This is the
///   hash IKEv2 CERTREQ payloads carry for certificate authorities (RFC 7296 §3.7).
/// - `subjectKeyID` ("subjkey"): SHA-1 over the subjectPublicKey BIT STRING's contents (RFC 5280 §4.2.1.2
///   method 1), what strongSwan writes into SubjectKeyIdentifier and AuthorityKeyIdentifier.
public struct PublicKeyBundle: Sendable, Equatable, CustomStringConvertible {
    enum Backing: Sendable {
        case rsa(_RSA.Signing.PublicKey)
        case p256(P256.Signing.PublicKey)
        case p384(P384.Signing.PublicKey)
        case p521(P521.Signing.PublicKey)
        case ed25519(Curve25519.Signing.PublicKey)
    }

    let backing: Backing

    init(backing: Backing) { self.backing = backing }

    public static func == (a: PublicKeyBundle, b: PublicKeyBundle) -> Bool {
        a.subjectPublicKeyInfo == b.subjectPublicKeyInfo
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

    public var description: String { "public key (\(keyType), keyid \(colonHex(keyID)))" }

    /// The subjectPublicKey BIT STRING contents: PKCS#1 RSAPublicKey, an uncompressed EC point, or 32 Ed25519 bytes.
    public var subjectPublicKey: [UInt8] {
        switch backing {
        case .rsa(let key): [UInt8](key.pkcs1DERRepresentation)
        case .p256(let key): [UInt8](key.x963Representation)
        case .p384(let key): [UInt8](key.x963Representation)
        case .p521(let key): [UInt8](key.x963Representation)
        case .ed25519(let key): [UInt8](key.rawRepresentation)
        }
    }

    /// The DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7; RSA with NULL parameters, EC with the named curve).
    public var subjectPublicKeyInfo: [UInt8] {
        let algorithm: [UInt8] = switch backing {
        case .rsa: DERWriter.algorithmIdentifier(OID.rsaEncryption, parameters: DERWriter.null)
        case .p256: DERWriter.algorithmIdentifier(OID.ecPublicKey, parameters: DERWriter.oid(OID.secp256r1))
        case .p384: DERWriter.algorithmIdentifier(OID.ecPublicKey, parameters: DERWriter.oid(OID.secp384r1))
        case .p521: DERWriter.algorithmIdentifier(OID.ecPublicKey, parameters: DERWriter.oid(OID.secp521r1))
        case .ed25519: DERWriter.algorithmIdentifier(OID.ed25519)
        }
        return DERWriter.sequence(algorithm, DERWriter.bitString(subjectPublicKey))
    }

    public var derEncoded: [UInt8] { subjectPublicKeyInfo }
    public var pemEncoded: String { PEMBlock(label: "PUBLIC KEY", der: subjectPublicKeyInfo).encoded }

    /// SHA-1 of the DER SubjectPublicKeyInfo (strongSwan's "keyid", the IKEv2 CERTREQ hash).
    public var keyID: [UInt8] { Array(Insecure.SHA1.hash(data: subjectPublicKeyInfo)) }
    /// SHA-1 of the subjectPublicKey bits (strongSwan's "subjkey", its SubjectKeyIdentifier).
    public var subjectKeyID: [UInt8] { Array(Insecure.SHA1.hash(data: subjectPublicKey)) }

    var certificatePublicKey: Certificate.PublicKey {
        switch backing {
        case .rsa(let key): Certificate.PublicKey(key)
        case .p256(let key): Certificate.PublicKey(key)
        case .p384(let key): Certificate.PublicKey(key)
        case .p521(let key): Certificate.PublicKey(key)
        case .ed25519(let key): Certificate.PublicKey(key)
        }
    }

    // MARK: Loading

    /// The subject public key of a parsed certificate.
    public init(certificate: Certificate) throws(PKIError) {
        try self.init(subjectPublicKeyInfo: Array(certificate.publicKey.subjectPublicKeyInfoDER))
    }

    /// Reads a DER SubjectPublicKeyInfo.
    public init(subjectPublicKeyInfo der: [UInt8]) throws(PKIError) {
        let fields = try parseDER(der, "SubjectPublicKeyInfo").sequenceChildren("SubjectPublicKeyInfo")
        guard fields.count == 2 else { throw PKIError(.malformedDER, "SubjectPublicKeyInfo: expected 2 fields") }
        let algorithm = try fields[0].sequenceChildren("SubjectPublicKeyInfo algorithm")
        guard let oid = try algorithm.first?.objectIdentifier("SubjectPublicKeyInfo algorithm") else {
            throw PKIError(.malformedDER, "SubjectPublicKeyInfo: empty AlgorithmIdentifier")
        }
        let bits = try fields[1].bitStringBytes("subjectPublicKey")
        do {
            switch oid {
            case OID.rsaEncryption, OID.rsassaPSS:
                backing = .rsa(try _RSA.Signing.PublicKey(derRepresentation: bits))
            case OID.ecPublicKey:
                guard algorithm.count > 1 else { throw PKIError(.malformedDER, "EC public key without a curve") }
                switch try algorithm[1].objectIdentifier("EC curve") {
                case OID.secp256r1: backing = .p256(try P256.Signing.PublicKey(x963Representation: bits))
                case OID.secp384r1: backing = .p384(try P384.Signing.PublicKey(x963Representation: bits))
                case OID.secp521r1: backing = .p521(try P521.Signing.PublicKey(x963Representation: bits))
                case let curve: throw PKIError(.unsupportedKeyType, "EC public key on unsupported curve \(curve)")
                }
            case OID.ed25519:
                backing = .ed25519(try Curve25519.Signing.PublicKey(rawRepresentation: bits))
            default:
                throw PKIError(.unsupportedKeyType, "public key algorithm \(oid) is not supported (RSA, ECDSA, Ed25519 are)")
            }
        } catch let error as PKIError {
            throw error
        } catch {
            throw PKIError(.malformedDER, "invalid \(oid) public key: \(error)")
        }
    }

    /// Reads a public key from PEM or DER: a SubjectPublicKeyInfo ("PUBLIC KEY"), a PKCS#1 "RSA PUBLIC KEY", a
    /// certificate, a certificate request, or a private key (whose public half is taken).
    public static func load(_ bytes: [UInt8]) throws(PKIError) -> PublicKeyBundle {
        if PEM.looksLikePEM(bytes) {
            let blocks = try PEM.decodeAll(String(decoding: bytes, as: UTF8.self))
            for block in blocks {
                switch block.label {
                case "PUBLIC KEY": return try PublicKeyBundle(subjectPublicKeyInfo: block.der)
                case "RSA PUBLIC KEY":
                    do { return PublicKeyBundle(backing: .rsa(try _RSA.Signing.PublicKey(derRepresentation: block.der))) } catch {
                        throw PKIError(.malformedDER, "invalid RSA PUBLIC KEY: \(error)")
                    }
                case "CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE":
                    return try PublicKeyBundle(certificate: try CertificateFile.parseCertificate(block.der))
                case "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST":
                    return try CertificateRequest(der: block.der).publicKey
                case "RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
                    return try PrivateKeyBundle.load(bytes).publicKey
                default: continue
                }
            }
            throw PKIError(.malformedPEM, "no public key, certificate, request or private key PEM block found")
        }
        // DER: the most specific structure that parses wins.
        if let key = try? PublicKeyBundle(subjectPublicKeyInfo: bytes) { return key }
        if let certificate = try? CertificateFile.parseCertificate(bytes) { return try PublicKeyBundle(certificate: certificate) }
        if let request = try? CertificateRequest(der: bytes) { return request.publicKey }
        if let key = try? PrivateKeyBundle.loadDER(bytes) { return key.publicKey }
        if let rsa = try? _RSA.Signing.PublicKey(derRepresentation: bytes) { return PublicKeyBundle(backing: .rsa(rsa)) }
        throw PKIError(.malformedDER, "not a public key, certificate, certificate request or private key")
    }
}

extension Certificate.PublicKey {
    /// The DER SubjectPublicKeyInfo as swift-certificates serializes it.
    var subjectPublicKeyInfoDER: [UInt8] {
        var serializer = DER.Serializer()
        try? serializer.serialize(self)
        return serializer.serializedBytes
    }
}
