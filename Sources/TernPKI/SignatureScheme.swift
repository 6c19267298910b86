import SwiftASN1

/// A signature algorithm as RFC 7427 names it in IKEv2 AUTH payloads and as X.509 names it in certificates:
/// the key type, the padding and the hash.
public enum SignatureScheme: Sendable, Hashable, CustomStringConvertible {
    public enum SHA: Int, Sendable, Hashable, CaseIterable {
        case sha256 = 256
        case sha384 = 384
        case sha512 = 512

        var byteCount: Int { rawValue / 8 }
        var oid: ASN1ObjectIdentifier {
            switch self {
            case .sha256: OID.sha256
            case .sha384: OID.sha384
            case .sha512: OID.sha512
            }
        }
    }

    case rsaPKCS1(SHA)
    case rsaPSS(SHA)
    case ecdsa(SHA)
    case ed25519

    public var description: String {
        switch self {
        case .rsaPKCS1(let h): "sha\(h.rawValue)WithRSAEncryption"
        case .rsaPSS(let h): "RSASSA-PSS with SHA-\(h.rawValue)"
        case .ecdsa(let h): "ecdsa-with-SHA\(h.rawValue)"
        case .ed25519: "Ed25519"
        }
    }

    /// The DER AlgorithmIdentifier carried in an RFC 7427 AUTH payload and in certificates. RSA PKCS#1 with
    /// NULL parameters, ECDSA and Ed25519 with none (RFC 5758, RFC 8410), RSASSA-PSS with explicit hash, MGF1
    /// hash and a salt as long as the hash (RFC 4055), byte for byte what strongSwan sends.
    public var algorithmIdentifierDER: [UInt8] {
        switch self {
        case .rsaPKCS1(let h):
            let oid: ASN1ObjectIdentifier = switch h {
            case .sha256: OID.sha256WithRSAEncryption
            case .sha384: OID.sha384WithRSAEncryption
            case .sha512: OID.sha512WithRSAEncryption
            }
            return DERWriter.algorithmIdentifier(oid, parameters: DERWriter.null)
        case .rsaPSS(let h):
            let hash = DERWriter.algorithmIdentifier(h.oid, parameters: DERWriter.null)
            let parameters = DERWriter.sequence(
                DERWriter.context(0, hash),
                DERWriter.context(1, DERWriter.algorithmIdentifier(OID.mgf1, parameters: hash)),
                DERWriter.context(2, DERWriter.integer(h.byteCount)))
            return DERWriter.algorithmIdentifier(OID.rsassaPSS, parameters: parameters)
        case .ecdsa(let h):
            let oid: ASN1ObjectIdentifier = switch h {
            case .sha256: OID.ecdsaWithSHA256
            case .sha384: OID.ecdsaWithSHA384
            case .sha512: OID.ecdsaWithSHA512
            }
            return DERWriter.algorithmIdentifier(oid)
        case .ed25519:
            return DERWriter.algorithmIdentifier(OID.ed25519)
        }
    }

    /// Parses an AlgorithmIdentifier (RFC 7427 AUTH data, a certificate's or CRL's signatureAlgorithm). Returns nil
    /// for anything TernPKI cannot verify: SHA-1 and MD5 signatures, PSS with a salt other than the hash length
    /// or an MGF1 hash other than the message hash, unknown algorithms.
    public init?(algorithmIdentifierDER der: [UInt8]) {
        guard let root = try? parseDER(der, "AlgorithmIdentifier"),
              let fields = try? root.sequenceChildren("AlgorithmIdentifier"),
              let oid = try? fields.first?.objectIdentifier("algorithm") else { return nil }
        // Parameters must be absent or NULL except for PSS.
        let parameters = fields.count > 1 ? fields[1] : nil
        let nullOrAbsent = parameters == nil || parameters?.identifier == .null
        switch oid {
        case OID.sha256WithRSAEncryption where nullOrAbsent: self = .rsaPKCS1(.sha256)
        case OID.sha384WithRSAEncryption where nullOrAbsent: self = .rsaPKCS1(.sha384)
        case OID.sha512WithRSAEncryption where nullOrAbsent: self = .rsaPKCS1(.sha512)
        case OID.ecdsaWithSHA256 where nullOrAbsent: self = .ecdsa(.sha256)
        case OID.ecdsaWithSHA384 where nullOrAbsent: self = .ecdsa(.sha384)
        case OID.ecdsaWithSHA512 where nullOrAbsent: self = .ecdsa(.sha512)
        case OID.ed25519 where parameters == nil: self = .ed25519
        case OID.rsassaPSS:
            guard let parameters, let hash = Self.pssHash(parameters) else { return nil }
            self = .rsaPSS(hash)
        default: return nil
        }
    }

    /// RSASSA-PSS-params whose hash, MGF1 hash and salt length agree (what swift-crypto can verify).
    private static func pssHash(_ node: ASN1Node) -> SHA? {
        guard let fields = try? node.sequenceChildren("RSASSA-PSS-params") else { return nil }
        // RFC 4055 defaults: SHA-1, MGF1 with SHA-1, salt 20, trailer 1. SHA-1 is not supported here.
        var hash: SHA?
        var mgfHash: SHA?
        var salt = 20
        func hashFrom(_ algorithm: ASN1Node) -> SHA? {
            guard let parts = try? algorithm.sequenceChildren("hash"), let oid = try? parts.first?.objectIdentifier("hash") else { return nil }
            return SHA.allCases.first { $0.oid == oid }
        }
        for field in fields {
            guard let inner = (try? field.children("PSS parameter"))?.first else { return nil }
            switch field.identifier {
            case .context(0): hash = hashFrom(inner)
            case .context(1):
                guard let mgf = try? inner.sequenceChildren("MGF"), mgf.count == 2,
                      (try? mgf[0].objectIdentifier("MGF")) == OID.mgf1 else { return nil }
                mgfHash = hashFrom(mgf[1])
            case .context(2):
                guard let value = try? inner.smallInteger("salt length") else { return nil }
                salt = value
            case .context(3):
                guard (try? inner.smallInteger("trailer field")) == 1 else { return nil }
            default: return nil
            }
        }
        guard let hash, mgfHash == hash, salt == hash.byteCount else { return nil }
        return hash
    }

    /// strongSwan's default for a key (libstrongswan's signature_schemes_for_key with PKCS#1 padding):
    /// RSA up to 3072 bits SHA-256, up to 7680 SHA-384, else SHA-512; ECDSA with the curve's hash.
    public static func defaultScheme(for key: PKIKeyType, pss: Bool = false) -> SignatureScheme {
        switch key {
        case .rsa(let bits):
            let hash: SHA = bits <= 3072 ? .sha256 : bits <= 7680 ? .sha384 : .sha512
            return pss ? .rsaPSS(hash) : .rsaPKCS1(hash)
        case .ecdsa(let bits):
            return .ecdsa(bits <= 256 ? .sha256 : bits <= 384 ? .sha384 : .sha512)
        case .ed25519:
            return .ed25519
        }
    }

    /// Whether a key of this type can make or check this signature.
    public func fits(_ key: PKIKeyType) -> Bool {
        switch (self, key) {
        case (.rsaPKCS1, .rsa), (.rsaPSS, .rsa), (.ecdsa, .ecdsa), (.ed25519, .ed25519): true
        default: false
        }
    }
}
