import SwiftASN1

/// The object identifiers TernPKI reads and writes, named as their RFCs name them.
enum OID {
    // RFC 8017 / RFC 4055: RSA
    static let rsaEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 1]
    static let sha1WithRSAEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 5]
    static let sha256WithRSAEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 11]
    static let sha384WithRSAEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 12]
    static let sha512WithRSAEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 13]
    static let rsassaPSS: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 10]
    static let mgf1: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 8]
    // RFC 5480 / RFC 5758: ECDSA
    static let ecPublicKey: ASN1ObjectIdentifier = [1, 2, 840, 10045, 2, 1]
    static let secp256r1: ASN1ObjectIdentifier = [1, 2, 840, 10045, 3, 1, 7]
    static let secp384r1: ASN1ObjectIdentifier = [1, 3, 132, 0, 34]
    static let secp521r1: ASN1ObjectIdentifier = [1, 3, 132, 0, 35]
    static let ecdsaWithSHA256: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 2]
    static let ecdsaWithSHA384: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 3]
    static let ecdsaWithSHA512: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 4]
    // RFC 8410
    static let ed25519: ASN1ObjectIdentifier = [1, 3, 101, 112]
    static let ed448: ASN1ObjectIdentifier = [1, 3, 101, 113]
    // NIST hashes
    static let sha1: ASN1ObjectIdentifier = [1, 3, 14, 3, 2, 26]
    static let sha256: ASN1ObjectIdentifier = [2, 16, 840, 1, 101, 3, 4, 2, 1]
    static let sha384: ASN1ObjectIdentifier = [2, 16, 840, 1, 101, 3, 4, 2, 2]
    static let sha512: ASN1ObjectIdentifier = [2, 16, 840, 1, 101, 3, 4, 2, 3]
    // RFC 5280 extensions
    static let subjectKeyIdentifier: ASN1ObjectIdentifier = [2, 5, 29, 14]
    static let keyUsage: ASN1ObjectIdentifier = [2, 5, 29, 15]
    static let subjectAltName: ASN1ObjectIdentifier = [2, 5, 29, 17]
    static let basicConstraints: ASN1ObjectIdentifier = [2, 5, 29, 19]
    static let crlNumber: ASN1ObjectIdentifier = [2, 5, 29, 20]
    static let crlReason: ASN1ObjectIdentifier = [2, 5, 29, 21]
    static let deltaCRLIndicator: ASN1ObjectIdentifier = [2, 5, 29, 27]
    static let crlDistributionPoints: ASN1ObjectIdentifier = [2, 5, 29, 31]
    static let authorityKeyIdentifier: ASN1ObjectIdentifier = [2, 5, 29, 35]
    static let extendedKeyUsage: ASN1ObjectIdentifier = [2, 5, 29, 37]
    static let freshestCRL: ASN1ObjectIdentifier = [2, 5, 29, 46]
    static let authorityInfoAccess: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 1, 1]
    static let ocsp: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 48, 1]
    // Extended key usages
    static let serverAuth: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 3, 1]
    static let clientAuth: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 3, 2]
    static let ocspSigning: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 3, 9]
    static let ikeIntermediate: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 8, 2, 2]
    static let msSmartcardLogon: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 311, 20, 2, 2]
    // PKCS#9
    static let extensionRequest: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 9, 14]
    static let challengePassword: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 9, 7]
}
