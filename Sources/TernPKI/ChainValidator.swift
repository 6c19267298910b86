import Foundation
import X509

/// Why a certificate chain did not validate. Each case names the certificate it is about by its subject DN
/// in strongSwan's form.
public enum ChainValidationFailure: Error, Sendable, Equatable, CustomStringConvertible {
    case expired(subject: String, notAfter: Date)
    case notYetValid(subject: String, notBefore: Date)
    /// No trusted root or intermediate has the issuer's name (and key identifier).
    case unknownCA(issuer: String)
    case revoked(serial: [UInt8], subject: String, reason: CRLReason)
    /// A certificate with the issuer's name exists, but none of their keys verifies the signature.
    case badSignature(subject: String)
    /// The issuer lacks basicConstraints CA:TRUE.
    case notACA(subject: String)
    /// The issuer's keyUsage extension lacks keyCertSign.
    case keyUsage(subject: String)
    /// More CAs below this one than its pathLenConstraint allows.
    case pathLength(subject: String)
    /// A CRL by the issuer that does not verify, so revocation cannot be decided.
    case badCRL(issuer: String)
    case chainTooLong

    public var description: String {
        switch self {
        case .expired(let s, let date): "certificate \"\(s)\" expired on \(PKITime.format(date))"
        case .notYetValid(let s, let date): "certificate \"\(s)\" is not valid before \(PKITime.format(date))"
        case .unknownCA(let issuer): "no trusted CA certificate found for issuer \"\(issuer)\""
        case .revoked(let serial, let s, let reason): "certificate \"\(s)\" (serial \(colonHex(serial))) is revoked: \(reason)"
        case .badSignature(let s): "signature of certificate \"\(s)\" does not verify with its issuer's key"
        case .notACA(let s): "issuer certificate \"\(s)\" is not a CA (no basicConstraints CA:TRUE)"
        case .keyUsage(let s): "issuer certificate \"\(s)\" may not sign certificates (keyUsage lacks keyCertSign)"
        case .pathLength(let s): "path length constraint of \"\(s)\" exceeded"
        case .badCRL(let issuer): "CRL of \"\(issuer)\" has an invalid signature"
        case .chainTooLong: "certificate chain longer than \(ChainValidator.maxDepth)"
        }
    }
}

/// Validates a leaf certificate up to a trusted root, as strongSwan's credential manager does for IKE_AUTH:
/// each certificate within its validity at `now`, each issuer found by name (and authorityKeyIdentifier when
/// both sides carry one), a CA with keyCertSign if it has a keyUsage, each signature verified (RSASSA-PSS too),
/// path length constraints kept, and each certificate checked against the CRLs its issuer signed. A
/// certificate with no CRL from its issuer counts as not revoked (strongSwan's default, non-strict policy).
public struct ChainValidator: Sendable {
    static let maxDepth = 8

    public let trustedRoots: [Certificate]
    public let intermediates: [Certificate]
    public let crls: [CRL]
    public let now: Date

    public init(trustedRoots: [Certificate], intermediates: [Certificate] = [], crls: [CRL] = [], now: Date = Date()) {
        self.trustedRoots = trustedRoots
        self.intermediates = intermediates
        self.crls = crls
        self.now = now
    }

    /// The chain from the leaf to the trusted root that ends it, or why there is none.
    public func validate(leaf: Certificate) -> Result<[Certificate], ChainValidationFailure> {
        var chain = [leaf]
        var current = leaf
        while true {
            if let failure = checkValidity(current) { return .failure(failure) }
            if trustedRoots.contains(current) { return .success(chain) }
            guard chain.count <= Self.maxDepth else { return .failure(.chainTooLong) }

            let candidates = (trustedRoots + intermediates).filter { candidate in
                candidate.subject == current.issuer || candidate.subject.matches(current.issuer)
            }.filter { candidate in
                // When both carry key identifiers they must agree (a CA that re-keyed keeps its name).
                guard let authorityKeyID = current.authorityKeyID else { return true }
                return candidate.subjectKeyID == authorityKeyID
            }
            guard !candidates.isEmpty else { return .failure(.unknownCA(issuer: current.issuer.strongSwanDescription)) }
            guard let issuer = candidates.first(where: { candidate in
                guard let key = try? PublicKeyBundle(certificate: candidate) else { return false }
                return current.isSignature(validFor: key)
            }) else {
                return .failure(.badSignature(subject: current.subject.strongSwanDescription))
            }
            let issuerName = issuer.subject.strongSwanDescription
            guard issuer.isCA else { return .failure(.notACA(subject: issuerName)) }
            if let usage = (try? issuer.extensions.keyUsage) ?? nil, !usage.keyCertSign {
                return .failure(.keyUsage(subject: issuerName))
            }
            // pathLenConstraint counts the CA certificates below the issuer, the leaf not included.
            if let limit = issuer.pathLengthConstraint, chain.count - 1 > limit {
                return .failure(.pathLength(subject: issuerName))
            }
            if let failure = checkRevocation(current, issuer: issuer) { return .failure(failure) }
            // Self-signed but not among the trusted roots: nothing vouches for it.
            if issuer == current { return .failure(.unknownCA(issuer: current.issuer.strongSwanDescription)) }
            chain.append(issuer)
            current = issuer
        }
    }

    func checkValidity(_ certificate: Certificate) -> ChainValidationFailure? {
        let subject = certificate.subject.strongSwanDescription
        if now < certificate.notValidBefore { return .notYetValid(subject: subject, notBefore: certificate.notValidBefore) }
        if now > certificate.notValidAfter { return .expired(subject: subject, notAfter: certificate.notValidAfter) }
        return nil
    }

    func checkRevocation(_ certificate: Certificate, issuer: Certificate) -> ChainValidationFailure? {
        guard let issuerKey = try? PublicKeyBundle(certificate: issuer) else { return nil }
        for crl in crls where crl.issuer == issuer.subject {
            if let keyID = crl.authorityKeyID, keyID != issuer.subjectKeyID { continue }
            guard crl.isSignature(validFor: issuerKey) else {
                return .badCRL(issuer: issuer.subject.strongSwanDescription)
            }
            if let entry = crl.revocation(of: certificate.serialNumber.bytes) {
                return .revoked(serial: entry.serial, subject: certificate.subject.strongSwanDescription, reason: entry.reason)
            }
        }
        return nil
    }
}

/// strongSwan's way of printing times ("%T"): "Nov 27 15:15:11 2026" in local time.
enum PKITime {
    static func format(_ date: Date, timeZone: TimeZone = .current) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let month = months[max(0, min(11, (c.month ?? 1) - 1))]
        return String(format: "%@ %02d %02d:%02d:%02d %04d", month, c.day ?? 0, c.hour ?? 0, c.minute ?? 0, c.second ?? 0, c.year ?? 0)
    }

    /// strongSwan's "%V": the distance between two times in the largest unit that fits twice.
    static func delta(_ a: Date, _ b: Date) -> String {
        // Whole seconds on both sides, as time_t is: a certificate made this second expires in 365 days, not 364.
        var seconds = abs(Int(a.timeIntervalSince1970.rounded(.down)) - Int(b.timeIntervalSince1970.rounded(.down)))
        var unit = "second"
        if seconds > 2 * 86400 {
            seconds /= 86400; unit = "day"
        } else if seconds > 2 * 3600 {
            seconds /= 3600; unit = "hour"
        } else if seconds > 2 * 60 {
            seconds /= 60; unit = "minute"
        }
        return "\(seconds) \(unit)\(seconds == 1 ? "" : "s")"
    }
}
