import SwiftASN1
import X509

/// pki's `--flag` values: extended key usages, plus crlSign, which sets keyUsage cRLSign on a non-CA.
public enum CertificateFlag: String, Sendable, Hashable, CaseIterable {
    case serverAuth, clientAuth, ikeIntermediate, crlSign, ocspSigning, msSmartcardLogon

    /// The extended key usage this flag writes; crlSign is a key usage instead.
    var extendedKeyUsage: ASN1ObjectIdentifier? {
        switch self {
        case .serverAuth: OID.serverAuth
        case .clientAuth: OID.clientAuth
        case .ikeIntermediate: OID.ikeIntermediate
        case .ocspSigning: OID.ocspSigning
        case .msSmartcardLogon: OID.msSmartcardLogon
        case .crlSign: nil
        }
    }

    /// Parses pki's spelling, which is case-sensitive there; accepted here in any case.
    public init(pkiName: String) throws(PKIError) {
        guard let flag = Self.allCases.first(where: { $0.rawValue.caseInsensitiveCompare(pkiName) == .orderedSame }) else {
            throw PKIError(.invalidInput, "invalid --flag '\(pkiName)' (\(Self.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self = flag
    }
}

/// strongSwan's view of a certificate's extensions, as `pki --print` shows them and validation needs them.
/// Malformed extensions read as absent rather than failing the whole certificate.
extension Certificate {
    /// basicConstraints CA:TRUE.
    public var isCA: Bool {
        if case .isCertificateAuthority? = (try? extensions.basicConstraints) ?? nil { return true }
        return false
    }

    /// basicConstraints pathLenConstraint, when present on a CA.
    public var pathLengthConstraint: Int? {
        if case .isCertificateAuthority(let length)? = (try? extensions.basicConstraints) ?? nil { return length }
        return nil
    }

    /// The usages strongSwan prints under "flags", in its order.
    public var pkiFlags: [String] {
        var flags: [String] = []
        let usage = (try? extensions.keyUsage) ?? nil
        if isCA { flags.append("CA") }
        if usage?.cRLSign == true { flags.append("CRLSign") }
        let ekus = Set(extendedKeyUsageOIDs)
        if ekus.contains(OID.ocspSigning) { flags.append("ocspSigning") }
        if ekus.contains(OID.serverAuth) { flags.append("serverAuth") }
        if ekus.contains(OID.clientAuth) { flags.append("clientAuth") }
        if ekus.contains(OID.ikeIntermediate) { flags.append("ikeIntermediate") }
        if ekus.contains(OID.msSmartcardLogon) { flags.append("msSmartcardLogon") }
        if isSelfSigned { flags.append("self-signed") }
        return flags
    }

    /// RFC 4945 §5.1.3.2: usable for IKE signatures unless a keyUsage extension lacks both digitalSignature
    /// and nonRepudiation (strongSwan's X509_IKE_COMPLIANT).
    public var isIKECompliant: Bool {
        guard let usage = (try? extensions.keyUsage) ?? nil else { return true }
        return usage.digitalSignature || usage.nonRepudiation
    }

    /// The extended key usage OIDs, empty when the extension is absent.
    public var extendedKeyUsageOIDs: [ASN1ObjectIdentifier] {
        extensions[oid: OID.extendedKeyUsage].map { ExtendedKeyUsageValue.parse(Array($0.value)) } ?? []
    }

    /// Issuer equal to subject and the signature valid with the certificate's own key.
    public var isSelfSigned: Bool {
        guard issuer == subject, let key = try? PublicKeyBundle(certificate: self) else { return false }
        return isSignature(validFor: key)
    }

    public var subjectAltNames: [GeneralName] {
        ((try? extensions.subjectAlternativeNames) ?? nil).map { Array($0) } ?? []
    }

    /// The subjectKeyIdentifier extension, else the SHA-1 of the public key (as strongSwan falls back).
    public var subjectKeyID: [UInt8] {
        if let ski = (try? extensions.subjectKeyIdentifier) ?? nil { return Array(ski.keyIdentifier) }
        return (try? PublicKeyBundle(certificate: self))?.subjectKeyID ?? []
    }

    /// authorityKeyIdentifier's keyIdentifier, when present.
    public var authorityKeyID: [UInt8]? {
        (((try? extensions.authorityKeyIdentifier) ?? nil)?.keyIdentifier).map { Array($0) }
    }

    /// The fullName URIs of the CRL distribution points (RFC 5280 §4.2.1.13), with any cRLIssuer.
    public var crlDistributionPoints: [(uri: String, issuer: DistinguishedName?)] {
        guard let ext = extensions[oid: OID.crlDistributionPoints] else { return [] }
        return (try? CRLDistributionPoints.parse(Array(ext.value))) ?? []
    }

    /// OCSP responder URIs from authorityInfoAccess.
    public var ocspURIs: [String] {
        guard let aia = (try? extensions.authorityInformationAccess) ?? nil else { return [] }
        return aia.compactMap { description in
            guard description.method == .ocspServer, case .uniformResourceIdentifier(let uri) = description.location else { return nil }
            return uri
        }
    }
}

/// ExtKeyUsageSyntax ::= SEQUENCE OF KeyPurposeId (OBJECT IDENTIFIER); unknown purposes kept as OIDs.
enum ExtendedKeyUsageValue {
    static func parse(_ value: [UInt8]) -> [ASN1ObjectIdentifier] {
        guard let nodes = try? parseDER(value, "extendedKeyUsage").sequenceChildren("extendedKeyUsage") else { return [] }
        return nodes.compactMap { try? $0.objectIdentifier("key purpose") }
    }
}

/// CRLDistributionPoints ::= SEQUENCE OF DistributionPoint
///   DistributionPoint ::= SEQUENCE { distributionPoint [0] { fullName [0] GeneralNames | ... } OPTIONAL,
///                                    reasons [1] OPTIONAL, cRLIssuer [2] GeneralNames OPTIONAL }
enum CRLDistributionPoints {
    /// The extension value for a list of URIs, laid out as strongSwan writes it.
    static func build(_ points: [(uri: String, issuer: DistinguishedName?)]) -> [UInt8] {
        DERWriter.sequence(of: points.map { point in
            let fullName = DERWriter.context(0, DERWriter.context(0, DERWriter.tlv(0x86, Array(point.uri.utf8))))
            let issuer = point.issuer.map { DERWriter.context(2, DERWriter.context(4, $0.derEncoded)) } ?? []
            return DERWriter.sequence(fullName, issuer)
        })
    }

    static func parse(_ value: [UInt8]) throws(PKIError) -> [(uri: String, issuer: DistinguishedName?)] {
        var result: [(String, DistinguishedName?)] = []
        for point in try parseDER(value, "CRLDistributionPoints").sequenceChildren("CRLDistributionPoints") {
            var uris: [String] = []
            var issuer: DistinguishedName?
            for field in try point.sequenceChildren("DistributionPoint") {
                if field.identifier == .context(0) {
                    for name in try field.children("distributionPoint") where name.identifier == .context(0) {
                        for general in try name.children("fullName") where general.identifier == .context(6) {
                            uris.append(String(decoding: try general.primitive("URI"), as: UTF8.self))
                        }
                    }
                } else if field.identifier == .context(2) {
                    for general in try field.children("cRLIssuer") {
                        if case .directoryName(let dn)? = try? GeneralName(derEncoded: general) { issuer = dn }
                    }
                }
            }
            result += uris.map { ($0, issuer) }
        }
        return result
    }
}
