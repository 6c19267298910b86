import Foundation
import SwiftASN1
import X509

public enum CertificateFormat: String, Sendable, CaseIterable {
    case pem, der
}

/// The three parts every X.509 signed object has (certificate, request, CRL), kept as the exact bytes received
/// so a signature is checked over what the signer signed, not over a re-encoding.
struct SignedEnvelope: Sendable {
    let toBeSigned: [UInt8]
    let algorithmIdentifier: [UInt8]
    let signature: [UInt8]

    init(der: [UInt8], what: String) throws(PKIError) {
        let fields = try parseDER(der, what).sequenceChildren(what)
        guard fields.count == 3 else { throw PKIError(.malformedDER, "\(what): expected 3 fields, found \(fields.count)") }
        toBeSigned = fields[0].encoded
        algorithmIdentifier = fields[1].encoded
        signature = try fields[2].bitStringBytes("\(what) signature")
    }

    var scheme: SignatureScheme? { SignatureScheme(algorithmIdentifierDER: algorithmIdentifier) }

    func isSigned(by key: PublicKeyBundle) -> Bool {
        guard let scheme else { return false }
        return key.verify(signature, over: toBeSigned, scheme: scheme)
    }
}

/// Reading and writing certificates in PEM ("CERTIFICATE") or DER.
public enum CertificateFile {
    static func parseCertificate(_ der: [UInt8]) throws(PKIError) -> Certificate {
        do { return try Certificate(derEncoded: der) } catch {
            // swift-certificates refuses certificates signed with RSASSA-PSS; say so rather than "not a certificate".
            if let envelope = try? SignedEnvelope(der: der, what: "certificate"), envelope.scheme.map({ if case .rsaPSS = $0 { true } else { false } }) == true {
                throw PKIError(.unsupportedAlgorithm, "X.509 certificates signed with RSASSA-PSS are not supported yet")
            }
            throw PKIError(.notACertificate, "not an X.509 certificate: \(error)")
        }
    }

    /// Every certificate in the bytes: all "CERTIFICATE" PEM blocks, or one DER certificate.
    public static func load(_ bytes: [UInt8]) throws(PKIError) -> [Certificate] {
        var certificates: [Certificate] = []
        for object in try PEM.derObjects(in: bytes, labels: ["CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"]) {
            certificates.append(try parseCertificate(object.der))
        }
        return certificates
    }

    /// The first certificate in the bytes.
    public static func loadOne(_ bytes: [UInt8]) throws(PKIError) -> Certificate {
        guard let first = try load(bytes).first else { throw PKIError(.notACertificate, "no certificate found") }
        return first
    }
}

extension Certificate {
    /// The DER encoding, exactly as parsed or signed.
    public var derEncoded: [UInt8] {
        var serializer = DER.Serializer()
        try? serializer.serialize(self)
        return serializer.serializedBytes
    }

    public var pemEncoded: String { PEMBlock(label: "CERTIFICATE", der: derEncoded).encoded }

    public func encoded(_ format: CertificateFormat) -> [UInt8] {
        format == .pem ? Array(pemEncoded.utf8) : derEncoded
    }

    /// Checks this certificate's signature with `issuerKey`, for every scheme TernPKI verifies (RSASSA-PSS too).
    public func isSignature(validFor issuerKey: PublicKeyBundle) -> Bool {
        guard let envelope = try? SignedEnvelope(der: derEncoded, what: "certificate") else { return false }
        return envelope.isSigned(by: issuerKey)
    }

    /// The signature scheme of this certificate, nil when TernPKI cannot verify it (SHA-1, MD5, ...).
    public var signatureScheme: SignatureScheme? {
        (try? SignedEnvelope(der: derEncoded, what: "certificate"))?.scheme
    }
}
