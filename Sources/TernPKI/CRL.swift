import Foundation
import SwiftASN1
import X509

/// RFC 5280 §5.3.1 reason codes, with pki's `--reason` spellings.
public enum CRLReason: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case unspecified = 0, keyCompromise = 1, caCompromise = 2, affiliationChanged = 3, superseded = 4
    case cessationOfOperation = 5, certificateHold = 6, removeFromCRL = 8, privilegeWithdrawn = 9, aaCompromise = 10

    public init(pkiName: String) throws(PKIError) {
        let names: [String: CRLReason] = [
            "key-compromise": .keyCompromise, "ca-compromise": .caCompromise,
            "affiliation-changed": .affiliationChanged, "superseded": .superseded,
            "cessation-of-operation": .cessationOfOperation, "certificate-hold": .certificateHold,
            "unspecified": .unspecified,
        ]
        guard let reason = names[pkiName] else { throw PKIError(.invalidInput, "invalid revocation reason '\(pkiName)'") }
        self = reason
    }

    /// strongSwan's crl_reason_names, as `pki --print --type crl` shows them.
    public var description: String {
        switch self {
        case .unspecified: "unspecified"
        case .keyCompromise: "key compromise"
        case .caCompromise: "ca compromise"
        case .affiliationChanged: "affiliation changed"
        case .superseded: "superseded"
        case .cessationOfOperation: "cessation of operation"
        case .certificateHold: "certificate hold"
        case .removeFromCRL: "remove from crl"
        case .privilegeWithdrawn: "privilege withdrawn"
        case .aaCompromise: "aa compromise"
        }
    }
}

public struct RevokedCertificate: Sendable, Equatable {
    /// Big-endian serial magnitude, without sign padding.
    public var serial: [UInt8]
    public var date: Date
    public var reason: CRLReason

    public init(serial: [UInt8], date: Date, reason: CRLReason = .unspecified) {
        self.serial = Array(serial.drop(while: { $0 == 0 }))
        self.date = date
        self.reason = reason
    }
}

/// An X.509 v2 CRL (RFC 5280 §5), parsed and signed here; swift-certificates has no CRL type.
///
///     CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }
///     TBSCertList ::= SEQUENCE { version INTEGER OPTIONAL (v2 = 1), signature AlgorithmIdentifier, issuer Name,
///         thisUpdate Time, nextUpdate Time OPTIONAL,
///         revokedCertificates SEQUENCE OF SEQUENCE { userCertificate INTEGER, revocationDate Time,
///                                                    crlEntryExtensions Extensions OPTIONAL } OPTIONAL,
///         crlExtensions [0] EXPLICIT Extensions OPTIONAL }
public struct CRL: Sendable {
    public let der: [UInt8]
    public let issuer: DistinguishedName
    public let thisUpdate: Date
    public let nextUpdate: Date?
    public let revoked: [RevokedCertificate]
    /// The cRLNumber extension's magnitude.
    public let crlNumber: [UInt8]?
    public let authorityKeyID: [UInt8]?
    /// URIs of the freshestCRL (delta CRL) extension.
    public let freshestCRLURIs: [String]
    public let signatureScheme: SignatureScheme?
    let envelope: SignedEnvelope

    public var pemEncoded: String { PEMBlock(label: "X509 CRL", der: der).encoded }

    public func encoded(_ format: CertificateFormat) -> [UInt8] {
        format == .pem ? Array(pemEncoded.utf8) : der
    }

    public func isSignature(validFor issuerKey: PublicKeyBundle) -> Bool { envelope.isSigned(by: issuerKey) }

    /// The entry for a certificate serial, if the CRL lists it.
    public func revocation(of serial: some Collection<UInt8>) -> RevokedCertificate? {
        let wanted = Array(serial.drop(while: { $0 == 0 }))
        return revoked.first { $0.serial == wanted }
    }

    /// `pki --signcrl`: signed by the CA's key, issuer and authorityKeyIdentifier taken from the CA certificate,
    /// with cRLNumber and any freshestCRL URIs; a reason other than unspecified becomes a reasonCode entry
    /// extension.
    public static func sign(caCertificate: Certificate, caKey: PrivateKeyBundle, thisUpdate: Date, nextUpdate: Date,
                            revoked: [RevokedCertificate], crlNumber: [UInt8] = [1], freshestCRLURIs: [String] = [],
                            scheme: SignatureScheme? = nil) throws(PKIError) -> CRL {
        guard try PublicKeyBundle(certificate: caCertificate) == caKey.publicKey else {
            throw PKIError(.keyMismatch, "CA private key does not match CA certificate")
        }
        let scheme = scheme ?? SignatureScheme.defaultScheme(for: caKey.keyType)
        let entries = revoked.map { entry -> [UInt8] in
            var fields = [DERWriter.unsignedInteger(entry.serial), DERWriter.time(entry.date.wholeSeconds)]
            if entry.reason != .unspecified {
                fields.append(DERWriter.sequence(DERWriter.sequence(
                    DERWriter.oid(OID.crlReason), DERWriter.octetString(DERWriter.enumerated(entry.reason.rawValue)))))
            }
            return DERWriter.sequence(of: fields)
        }
        var extensions = [
            DERWriter.sequence(DERWriter.oid(OID.authorityKeyIdentifier),
                               DERWriter.octetString(DERWriter.sequence(DERWriter.tlv(0x80, caCertificate.subjectKeyID)))),
            DERWriter.sequence(DERWriter.oid(OID.crlNumber), DERWriter.octetString(DERWriter.unsignedInteger(crlNumber))),
        ]
        if !freshestCRLURIs.isEmpty {
            extensions.append(DERWriter.sequence(DERWriter.oid(OID.freshestCRL),
                                                 DERWriter.octetString(CRLDistributionPoints.build(freshestCRLURIs.map { ($0, nil) }))))
        }
        var tbs = [DERWriter.integer(1), scheme.algorithmIdentifierDER, caCertificate.subject.derEncoded,
                   DERWriter.time(thisUpdate.wholeSeconds), DERWriter.time(nextUpdate.wholeSeconds)]
        // RFC 5280 §5.1.2.6: absent, not empty, when nothing is revoked.
        if !entries.isEmpty { tbs.append(DERWriter.sequence(of: entries)) }
        tbs.append(DERWriter.context(0, DERWriter.sequence(of: extensions)))
        let toBeSigned = DERWriter.sequence(of: tbs)
        let signature = try caKey.sign(toBeSigned, scheme: scheme)
        return try CRL(der: DERWriter.sequence(toBeSigned, scheme.algorithmIdentifierDER, DERWriter.bitString(signature)))
    }

    public init(der: [UInt8]) throws(PKIError) {
        self.der = der
        envelope = try SignedEnvelope(der: der, what: "CRL")
        signatureScheme = envelope.scheme
        var fields = try parseDER(envelope.toBeSigned, "TBSCertList").sequenceChildren("TBSCertList")[...]
        if fields.first?.identifier == .integer {
            guard try fields.removeFirst().smallInteger("CRL version") == 1 else {
                throw PKIError(.notACRL, "CRL version is not v2")
            }
        }
        guard fields.count >= 3 else { throw PKIError(.notACRL, "CRL: too few fields") }
        fields.removeFirst()  // signature AlgorithmIdentifier, repeated outside
        do { issuer = try DistinguishedName(derEncoded: fields.removeFirst()) } catch {
            throw PKIError(.malformedDER, "CRL issuer: \(error)")
        }
        thisUpdate = try Self.time(fields.removeFirst(), "thisUpdate")
        if let next = fields.first, next.identifier == .utcTime || next.identifier == .generalizedTime {
            nextUpdate = try Self.time(fields.removeFirst(), "nextUpdate")
        } else {
            nextUpdate = nil
        }
        var entries: [RevokedCertificate] = []
        if let list = fields.first, list.identifier == .sequence {
            fields.removeFirst()
            for entry in try list.children("revokedCertificates") {
                let parts = try entry.sequenceChildren("revoked certificate")
                guard parts.count >= 2 else { throw PKIError(.malformedDER, "revoked certificate: too few fields") }
                var reason = CRLReason.unspecified
                if parts.count > 2 {
                    for ext in try parts[2].sequenceChildren("crlEntryExtensions") {
                        let extParts = try ext.sequenceChildren("CRL entry extension")
                        guard extParts.count >= 2, try extParts[0].objectIdentifier("extension") == OID.crlReason,
                              let value = extParts.last else { continue }
                        let enumerated = try parseDER(try value.octetStringBytes("reasonCode"), "reasonCode")
                        if let byte = try enumerated.primitive("reasonCode").last, let known = CRLReason(rawValue: byte) {
                            reason = known
                        }
                    }
                }
                entries.append(RevokedCertificate(serial: try Self.serial(parts[0]), date: try Self.time(parts[1], "revocationDate"),
                                                  reason: reason))
            }
        }
        revoked = entries
        var number: [UInt8]?
        var authorityKey: [UInt8]?
        var freshest: [String] = []
        if let extensionsNode = fields.first, extensionsNode.identifier == .context(0) {
            for ext in try extensionsNode.children("crlExtensions").first?.sequenceChildren("crlExtensions") ?? [] {
                let parts = try ext.sequenceChildren("CRL extension")
                guard parts.count >= 2, let valueNode = parts.last else { continue }
                let value = try valueNode.octetStringBytes("CRL extension value")
                switch try parts[0].objectIdentifier("CRL extension") {
                case OID.crlNumber:
                    number = try parseDER(value, "cRLNumber").unsignedIntegerBytes("cRLNumber")
                case OID.authorityKeyIdentifier:
                    for field in try parseDER(value, "authorityKeyIdentifier").sequenceChildren("authorityKeyIdentifier")
                    where field.identifier == .context(0) {
                        authorityKey = Array(try field.primitive("keyIdentifier"))
                    }
                case OID.freshestCRL:
                    freshest = try CRLDistributionPoints.parse(value).map(\.uri)
                default:
                    continue
                }
            }
        }
        crlNumber = number
        authorityKeyID = authorityKey
        freshestCRLURIs = freshest
    }

    /// Every CRL in the bytes: "X509 CRL" PEM blocks, or one DER CRL.
    public static func load(_ bytes: [UInt8]) throws(PKIError) -> [CRL] {
        var crls: [CRL] = []
        for object in try PEM.derObjects(in: bytes, labels: ["X509 CRL", "CRL"]) {
            do { crls.append(try CRL(der: object.der)) } catch let error where error.code == .malformedDER {
                throw PKIError(.notACRL, "not an X.509 CRL: \(error)")
            }
        }
        return crls
    }

    static func serial(_ node: ASN1Node) throws(PKIError) -> [UInt8] {
        try node.expect(.integer, "serial")
        // Serials are positive by RFC 5280, but some CAs wrote negative ones; keep their bytes as they are.
        let raw = Array(try node.primitive("serial"))
        return Array(raw.drop(while: { $0 == 0 }))
    }

    static func time(_ node: ASN1Node, _ what: String) throws(PKIError) -> Date {
        var components = DateComponents()
        do {
            if node.identifier == .utcTime {
                let time = try UTCTime(derEncoded: node)
                components = DateComponents(year: time.year, month: time.month, day: time.day,
                                            hour: time.hours, minute: time.minutes, second: time.seconds)
            } else {
                let time = try GeneralizedTime(derEncoded: node)
                components = DateComponents(year: time.year, month: time.month, day: time.day,
                                            hour: time.hours, minute: time.minutes, second: time.seconds)
            }
        } catch {
            throw PKIError(.malformedDER, "\(what): not a valid time")
        }
        guard let date = Calendar.utc.date(from: components) else {
            throw PKIError(.malformedDER, "\(what): not a valid date")
        }
        return date
    }
}
