import Crypto
import Foundation
import SwiftASN1
import X509

/// What goes into a certificate besides keys: the same choices `pki --self` and `pki --issue` offer.
public struct CertificateProfile: Sendable {
    public var subject: DistinguishedName
    public var subjectAltNames: [GeneralName] = []
    /// Big-endian serial; nil draws 8 random bytes with the top bit clear and a non-zero first byte, as pki does.
    public var serial: [UInt8]?
    public var notBefore: Date
    public var notAfter: Date
    public var isCA = false
    public var pathLength: Int?
    public var flags: Set<CertificateFlag> = []
    public var crlDistributionPoints: [(uri: String, issuer: DistinguishedName?)] = []
    public var ocspURIs: [String] = []
    /// nil: strongSwan's default for the signing key (`SignatureScheme.defaultScheme`).
    public var scheme: SignatureScheme?

    /// pki's defaults: valid from `now` for `lifetimeDays` (pki: 1095).
    public init(subject: DistinguishedName, now: Date = Date(), lifetimeDays: Int = 1095) {
        self.subject = subject
        self.notBefore = now
        self.notAfter = now.addingTimeInterval(TimeInterval(lifetimeDays) * 86400)
    }
}

/// Makes certificates with strongSwan's layout (x509_cert.c generate()): version 3; for a CA basicConstraints
/// (critical, CA:TRUE and any pathlen) and keyUsage keyCertSign+cRLSign (critical); subjectKeyIdentifier on CA,
/// CRL signer and OCSP signer certificates; authorityKeyIdentifier (key identifier only) on every certificate
/// not self-signed; subjectAltName, extendedKeyUsage, CRL distribution points and OCSP access as asked.
/// Key identifiers are SHA-1 over the subjectPublicKey bits.
public enum CertificateIssuer {
    /// `pki --self`: subject and issuer are the profile's subject, signed by `key`.
    public static func selfSigned(key: PrivateKeyBundle, profile: CertificateProfile) throws(PKIError) -> Certificate {
        try build(subjectKey: key.publicKey, profile: profile, issuerName: profile.subject, issuerKeyID: nil, signer: key)
    }

    /// `pki --issue`: signs `publicKey` with the CA. The CA certificate must be a CA and `caKey` its key.
    public static func issue(publicKey: PublicKeyBundle, profile: CertificateProfile,
                             caCertificate: Certificate, caKey: PrivateKeyBundle) throws(PKIError) -> Certificate {
        guard caCertificate.isCA else {
            throw PKIError(.notACA, "CA certificate misses CA basicConstraint (\(caCertificate.subject.strongSwanDescription))")
        }
        guard try PublicKeyBundle(certificate: caCertificate) == caKey.publicKey else {
            throw PKIError(.keyMismatch, "CA private key does not match CA certificate")
        }
        return try build(subjectKey: publicKey, profile: profile, issuerName: caCertificate.subject,
                         issuerKeyID: caKey.publicKey.subjectKeyID, signer: caKey)
    }

    static func build(subjectKey: PublicKeyBundle, profile: CertificateProfile, issuerName: DistinguishedName,
                      issuerKeyID: [UInt8]?, signer: PrivateKeyBundle) throws(PKIError) -> Certificate {
        if let length = profile.pathLength, !(0...255).contains(length) {
            throw PKIError(.invalidInput, "path length constraint \(length) out of range (0 to 255)")
        }
        guard profile.notAfter > profile.notBefore else {
            throw PKIError(.invalidInput, "the certificate would expire before it becomes valid")
        }
        let scheme = profile.scheme ?? SignatureScheme.defaultScheme(for: signer.keyType)
        let algorithm = try certificateAlgorithm(scheme, key: signer.keyType)
        let serial = profile.serial ?? randomSerial()
        guard !serial.isEmpty, serial.count <= 20 else {
            throw PKIError(.invalidInput, "serial numbers are 1 to 20 bytes (RFC 5280 §4.1.2.2)")
        }
        do {
            let extensions = try Certificate.Extensions(extensionList(profile: profile, subjectKey: subjectKey, issuerKeyID: issuerKeyID))
            return try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(bytes: serial), publicKey: subjectKey.certificatePublicKey,
                notValidBefore: profile.notBefore.wholeSeconds, notValidAfter: profile.notAfter.wholeSeconds,
                issuer: issuerName, subject: profile.subject, signatureAlgorithm: algorithm,
                extensions: extensions, issuerPrivateKey: signer.certificatePrivateKey)
        } catch let error as PKIError {
            throw error
        } catch {
            throw PKIError(.signingFailed, "building the certificate failed: \(error)")
        }
    }

    static func extensionList(profile: CertificateProfile, subjectKey: PublicKeyBundle,
                              issuerKeyID: [UInt8]?) throws -> [Certificate.Extension] {
        var list: [Certificate.Extension] = []
        if profile.isCA {
            var constraints = [DERWriter.boolean(true)]
            if let length = profile.pathLength { constraints.append(DERWriter.integer(length)) }
            list.append(.init(oid: OID.basicConstraints, critical: true, value: DERWriter.sequence(of: constraints)[...]))
        }
        // keyUsage BIT STRING: keyCertSign is bit 5, cRLSign bit 6; one unused bit.
        if profile.isCA {
            list.append(.init(oid: OID.keyUsage, critical: true, value: DERWriter.tlv(0x03, [0x01, 0x06])[...]))
        } else if profile.flags.contains(.crlSign) {
            list.append(.init(oid: OID.keyUsage, critical: true, value: DERWriter.tlv(0x03, [0x01, 0x02])[...]))
        }
        if profile.isCA || profile.flags.contains(.crlSign) || profile.flags.contains(.ocspSigning) {
            list.append(.init(oid: OID.subjectKeyIdentifier, critical: false, value: DERWriter.octetString(subjectKey.subjectKeyID)[...]))
        }
        if let issuerKeyID {
            list.append(.init(oid: OID.authorityKeyIdentifier, critical: false,
                              value: DERWriter.sequence(DERWriter.tlv(0x80, issuerKeyID))[...]))
        }
        if !profile.subjectAltNames.isEmpty {
            list.append(try Certificate.Extension(SubjectAlternativeNames(profile.subjectAltNames), critical: false))
        }
        let usages = CertificateFlag.allCases.filter(profile.flags.contains).compactMap(\.extendedKeyUsage)
        if !usages.isEmpty {
            list.append(.init(oid: OID.extendedKeyUsage, critical: false,
                              value: DERWriter.sequence(of: usages.map(DERWriter.oid))[...]))
        }
        if !profile.crlDistributionPoints.isEmpty {
            list.append(.init(oid: OID.crlDistributionPoints, critical: false,
                              value: CRLDistributionPoints.build(profile.crlDistributionPoints)[...]))
        }
        if !profile.ocspURIs.isEmpty {
            let access = profile.ocspURIs.map { DERWriter.sequence(DERWriter.oid(OID.ocsp), DERWriter.tlv(0x86, Array($0.utf8))) }
            list.append(.init(oid: OID.authorityInfoAccess, critical: false, value: DERWriter.sequence(of: access)[...]))
        }
        return list
    }

    /// swift-certificates signs certificates with PKCS#1 v1.5, ECDSA and Ed25519; RSASSA-PSS is not offered there.
    static func certificateAlgorithm(_ scheme: SignatureScheme, key: PKIKeyType) throws(PKIError) -> Certificate.SignatureAlgorithm {
        guard scheme.fits(key) else { throw PKIError(.schemeMismatch, "\(scheme) cannot be made with a \(key) key") }
        switch scheme {
        case .rsaPKCS1(.sha256): return .sha256WithRSAEncryption
        case .rsaPKCS1(.sha384): return .sha384WithRSAEncryption
        case .rsaPKCS1(.sha512): return .sha512WithRSAEncryption
        case .ecdsa(.sha256): return .ecdsaWithSHA256
        case .ecdsa(.sha384): return .ecdsaWithSHA384
        case .ecdsa(.sha512): return .ecdsaWithSHA512
        case .ed25519: return .ed25519
        case .rsaPSS:
            throw PKIError(.unsupportedAlgorithm, "RSASSA-PSS signatures on certificates are not supported yet (swift-certificates cannot sign them); use --rsa-padding pkcs1")
        }
    }

    /// pki's allocate_serial(8): random, positive, first byte non-zero.
    static func randomSerial() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<8).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[0] = UInt8.random(in: 1...0x7F, using: &generator)
        return bytes
    }
}

extension Date {
    /// Certificates carry whole seconds; dropping the fraction keeps notBefore at or before "now".
    var wholeSeconds: Date { Date(timeIntervalSince1970: timeIntervalSince1970.rounded(.down)) }
}
