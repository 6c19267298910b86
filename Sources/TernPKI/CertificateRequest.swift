import Foundation
import SwiftASN1
import X509

/// A PKCS#10 certificate request (RFC 2986), built and parsed here rather than through swift-certificates so
/// that RSASSA-PSS requests work both ways.
///
///     CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING }
///     CertificationRequestInfo ::= SEQUENCE {
///         version INTEGER { v1(0) }, subject Name, subjectPKInfo SubjectPublicKeyInfo,
///         attributes [0] IMPLICIT SET OF Attribute }   -- extensionRequest (PKCS#9) carries subjectAltName
public struct CertificateRequest: Sendable {
    public let der: [UInt8]
    public let subject: DistinguishedName
    public let publicKey: PublicKeyBundle
    public let subjectAltNames: [GeneralName]
    /// Extended key usages asked for in the extensionRequest (pki carries them into the certificate).
    public let extendedKeyUsageOIDs: [ASN1ObjectIdentifier]
    public let challengePassword: String?
    /// nil when the signature algorithm is one TernPKI cannot verify.
    public let signatureScheme: SignatureScheme?
    let envelope: SignedEnvelope

    /// True when the request is signed by the key it carries (proof of possession).
    public var isSelfSignatureValid: Bool { envelope.isSigned(by: publicKey) }

    public var pemEncoded: String { PEMBlock(label: "CERTIFICATE REQUEST", der: der).encoded }

    public func encoded(_ format: CertificateFormat) -> [UInt8] {
        format == .pem ? Array(pemEncoded.utf8) : der
    }

    /// The flags strongSwan derives from the requested extended key usages.
    public var flags: Set<CertificateFlag> {
        Set(CertificateFlag.allCases.filter { flag in flag.extendedKeyUsage.map(extendedKeyUsageOIDs.contains) ?? false })
    }

    /// `pki --req`: a request for `subject` signed with `key`, with the names in an extensionRequest attribute
    /// and an optional challengePassword (UTF8String, as strongSwan writes it).
    public static func create(key: PrivateKeyBundle, subject: DistinguishedName, subjectAltNames: [GeneralName] = [],
                              challengePassword: String? = nil, scheme: SignatureScheme? = nil) throws(PKIError) -> CertificateRequest {
        let scheme = scheme ?? SignatureScheme.defaultScheme(for: key.keyType)
        var attributes: [UInt8] = []
        if !subjectAltNames.isEmpty {
            let sanExtension: Certificate.Extension
            do { sanExtension = try Certificate.Extension(SubjectAlternativeNames(subjectAltNames), critical: false) } catch {
                throw PKIError(.invalidIdentity, "cannot encode subjectAltNames: \(error)")
            }
            var serializer = DER.Serializer()
            do { try serializer.serialize(sanExtension) } catch {
                throw PKIError(.invalidIdentity, "cannot encode subjectAltNames: \(error)")
            }
            attributes += DERWriter.sequence(DERWriter.oid(OID.extensionRequest),
                                             DERWriter.set(DERWriter.sequence(serializer.serializedBytes)))
        }
        if let challengePassword {
            attributes += DERWriter.sequence(DERWriter.oid(OID.challengePassword), DERWriter.set(DERWriter.utf8String(challengePassword)))
        }
        let info = DERWriter.sequence(DERWriter.integer(0), subject.derEncoded, key.publicKey.subjectPublicKeyInfo,
                                      DERWriter.context(0, attributes))
        let signature = try key.sign(info, scheme: scheme)
        let der = DERWriter.sequence(info, scheme.algorithmIdentifierDER, DERWriter.bitString(signature))
        return try CertificateRequest(der: der)
    }

    /// Parses a DER request.
    public init(der: [UInt8]) throws(PKIError) {
        self.der = der
        envelope = try SignedEnvelope(der: der, what: "certificate request")
        signatureScheme = envelope.scheme
        let info = try parseDER(envelope.toBeSigned, "CertificationRequestInfo").sequenceChildren("CertificationRequestInfo")
        guard info.count >= 3, try info[0].smallInteger("request version") == 0 else {
            throw PKIError(.notARequest, "not a PKCS#10 v1 certification request")
        }
        do { subject = try DistinguishedName(derEncoded: info[1]) } catch {
            throw PKIError(.malformedDER, "request subject: \(error)")
        }
        publicKey = try PublicKeyBundle(subjectPublicKeyInfo: info[2].encoded)
        var names: [GeneralName] = []
        var usages: [ASN1ObjectIdentifier] = []
        var password: String?
        if info.count > 3, info[3].identifier == .context(0) {
            for attribute in try info[3].children("request attributes") {
                let parts = try attribute.sequenceChildren("request attribute")
                guard parts.count == 2 else { continue }
                let values = try parts[1].children("attribute values")
                switch try parts[0].objectIdentifier("attribute type") {
                case OID.extensionRequest:
                    for value in values {
                        for node in try value.sequenceChildren("extensionRequest") {
                            guard let ext = try? Certificate.Extension(derEncoded: node) else { continue }
                            if let san = try? SubjectAlternativeNames(ext) { names += Array(san) }
                            if ext.oid == OID.extendedKeyUsage { usages += ExtendedKeyUsageValue.parse(Array(ext.value)) }
                        }
                    }
                case OID.challengePassword:
                    if let value = values.first, case .primitive(let bytes) = value.content {
                        password = String(decoding: bytes, as: UTF8.self)
                    }
                default:
                    continue
                }
            }
        }
        subjectAltNames = names
        extendedKeyUsageOIDs = usages
        challengePassword = password
    }

    /// Reads a request from PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST") or DER.
    public static func load(_ bytes: [UInt8]) throws(PKIError) -> CertificateRequest {
        let objects = try PEM.derObjects(in: bytes, labels: ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"])
        do { return try CertificateRequest(der: objects[0].der) } catch let error where error.code == .malformedDER {
            throw PKIError(.notARequest, "not a PKCS#10 certificate request: \(error)")
        }
    }

    /// True when the bytes hold a request (PEM label or DER structure), for pki's `--issue` without `--type`.
    public static func looksLikeRequest(_ bytes: [UInt8]) -> Bool {
        if PEM.looksLikePEM(bytes) {
            let text = String(decoding: bytes, as: UTF8.self)
            return text.contains("-----BEGIN CERTIFICATE REQUEST-----") || text.contains("-----BEGIN NEW CERTIFICATE REQUEST-----")
        }
        return (try? CertificateRequest(der: bytes)) != nil
    }
}
