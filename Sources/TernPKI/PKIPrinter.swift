import Foundation
import X509

/// Human-readable output modelled line for line on `pki --print` (libstrongswan's certificate_printer.c):
/// two-space indent, a label column ten wide, times in local time, identifiers as colon-separated hex.
public enum PKIPrinter {
    public static func certificate(_ certificate: Certificate, now: Date = Date(), timeZone: TimeZone = .current) -> String {
        var out = ""
        out += "  subject:  \"\(certificate.subject.strongSwanDescription)\"\n"
        out += "  issuer:   \"\(certificate.issuer.strongSwanDescription)\"\n"
        out += validity(notBefore: certificate.notValidBefore, notAfter: certificate.notValidAfter, now: now, timeZone: timeZone,
                        labels: ("validity:", "not before", "not after "))
        out += "  serial:    \(colonHex(certificate.serialNumber.bytes.drop(while: { $0 == 0 })))\n"
        let names = certificate.subjectAltNames.map(SANString.format)
        if !names.isEmpty { out += "  altNames:  \(names.joined(separator: ", "))\n" }
        let flags = certificate.pkiFlags
        // strongSwan prints the line whenever any flag is set, its unprinted RFC 4945 compliance flag included.
        if !flags.isEmpty || certificate.isIKECompliant {
            // strongSwan ends every flag but msSmartcardLogon with a space.
            out += "  flags:     " + flags.map { $0 == "msSmartcardLogon" ? $0 : $0 + " " }.joined() + "\n"
        }
        for (index, point) in certificate.crlDistributionPoints.enumerated() {
            out += (index == 0 ? "  CRL URIs:  " : "             ") + point.uri
            if let issuer = point.issuer { out += " (CRL issuer: \(issuer.strongSwanDescription))" }
            out += "\n"
        }
        for (index, uri) in certificate.ocspURIs.enumerated() {
            out += (index == 0 ? "  OCSP URIs: " : "             ") + uri + "\n"
        }
        if let length = certificate.pathLengthConstraint { out += "  pathlen:   \(length)\n" }
        if let authorityKeyID = certificate.authorityKeyID { out += "  authkeyId: \(colonHex(authorityKeyID))\n" }
        out += "  subjkeyId: \(colonHex(certificate.subjectKeyID))\n"
        if let key = try? PublicKeyBundle(certificate: certificate) {
            out += publicKeyLines(key)
        } else {
            out += "  pubkey:    unsupported key type\n"
        }
        return out
    }

    public static func crl(_ crl: CRL, now: Date = Date(), timeZone: TimeZone = .current) -> String {
        var out = "  issuer:   \"\(crl.issuer.strongSwanDescription)\"\n"
        if let nextUpdate = crl.nextUpdate {
            out += validity(notBefore: crl.thisUpdate, notAfter: nextUpdate, now: now, timeZone: timeZone,
                            labels: ("update:  ", "this on", "next on"))
        }
        out += "  serial:    \(colonHex(crl.crlNumber ?? []))\n"
        out += "  authKeyId: \(colonHex(crl.authorityKeyID ?? []))\n"
        for (index, uri) in crl.freshestCRLURIs.enumerated() {
            out += (index == 0 ? "  freshest:  " : "             ") + uri + "\n"
        }
        let count = crl.revoked.count
        out += "  \(count) revoked certificate\(count == 1 ? "" : "s")\(count > 0 ? ":" : "")\n"
        for entry in crl.revoked {
            out += "    \(colonHex(entry.serial)): \(PKITime.format(entry.date, timeZone: timeZone)), \(entry.reason)\n"
        }
        return out
    }

    /// `pki --print --type priv`.
    public static func privateKey(_ key: PrivateKeyBundle) -> String {
        let pub = key.publicKey
        return "  privkey:   \(pub.keyType)\n  keyid:     \(colonHex(pub.keyID))\n  subjkey:   \(colonHex(pub.subjectKeyID))\n"
    }

    /// `pki --print --type pub`.
    public static func publicKey(_ key: PublicKeyBundle) -> String { publicKeyLines(key) }

    /// A certificate request (pki 5.9.8 cannot print these; the layout follows its certificates).
    public static func request(_ request: CertificateRequest) -> String {
        var out = "  subject:  \"\(request.subject.strongSwanDescription)\"\n"
        let names = request.subjectAltNames.map(SANString.format)
        if !names.isEmpty { out += "  altNames:  \(names.joined(separator: ", "))\n" }
        let flags = CertificateFlag.allCases.filter(request.flags.contains).map(\.rawValue)
        if !flags.isEmpty { out += "  flags:     \(flags.joined(separator: " "))\n" }
        out += "  signature: \(request.signatureScheme.map(String.init(describing:)) ?? "unsupported algorithm"), "
        out += request.isSelfSignatureValid ? "ok\n" : "INVALID\n"
        out += publicKeyLines(request.publicKey)
        return out
    }

    static func publicKeyLines(_ key: PublicKeyBundle) -> String {
        "  pubkey:    \(key.keyType)\n  keyid:     \(colonHex(key.keyID))\n  subjkey:   \(colonHex(key.subjectKeyID))\n"
    }

    static func validity(notBefore: Date, notAfter: Date, now: Date, timeZone: TimeZone,
                         labels: (title: String, before: String, after: String)) -> String {
        var out = "  \(labels.title)  \(labels.before) \(PKITime.format(notBefore, timeZone: timeZone)), "
        out += now < notBefore ? "not valid yet (valid in \(PKITime.delta(now, notBefore)))\n" : "ok\n"
        out += "             \(labels.after) \(PKITime.format(notAfter, timeZone: timeZone)), "
        out += now > notAfter ? "expired (\(PKITime.delta(now, notAfter)) ago)\n" : "ok (expires in \(PKITime.delta(now, notAfter)))\n"
        return out
    }
}
