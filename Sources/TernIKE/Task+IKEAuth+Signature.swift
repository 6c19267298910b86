import Foundation
import TernPKI
import TernWire
import X509

// Public-key authentication in IKE_AUTH: RFC 7427 digital signatures (and the classic RSA and
// ECDSA methods for peers without SIGNATURE_HASH_ALGORITHMS), CERT and CERTREQ payloads, and
// the checks strongSwan's credential manager makes before it trusts a peer's certificate.

/// RFC 7427 hash algorithm identifiers in SIGNATURE_HASH_ALGORITHMS.
enum SignatureHash: UInt16 {
    case sha1 = 1, sha256 = 2, sha384 = 3, sha512 = 4, identity = 5

    init(_ sha: SignatureScheme.SHA) {
        switch sha {
        case .sha256: self = .sha256
        case .sha384: self = .sha384
        case .sha512: self = .sha512
        }
    }
}

/// What the peer told us about public-key authentication before IKE_AUTH: the RFC 7427 hashes
/// it accepts and whether it asked for our certificate. Dropped once the IKE SA is up.
struct PeerAuthCapabilities {
    /// Bit n set: hash algorithm n announced.
    var hashes: UInt8 = 0
    var requestedCertificate = false

    var announcedHashes: Bool { hashes != 0 }
    func accepts(_ h: SignatureHash) -> Bool { hashes & (1 << h.rawValue) != 0 }

    mutating func record(_ payloads: [IKEPayload]) {
        for p in payloads {
            switch p {
            case .notify(let n) where n.type == .signatureHashAlgorithms:
                var i = 0
                while i + 1 < n.data.count {
                    let id = UInt16(n.data[i]) << 8 | UInt16(n.data[i + 1])
                    if id > 0 && id < 8 { hashes |= 1 << id }
                    i += 2
                }
            case .certificateRequest(let encoding, _) where encoding == IKECertificateEncoding.x509Signature.rawValue:
                requestedCertificate = true
            default: break
            }
        }
    }
}

/// Our certificate, its private key and the intermediates that lead to a trusted root.
struct LocalSigner {
    var certificate: Certificate
    var key: PrivateKeyBundle
    var intermediates: [Certificate]
}

/// At most this many CERT payloads are looked at (a chain deeper than this is refused anyway).
let maxPeerCertificates = 8

extension IKESession {
    var credentials: CredentialSet { context.configuration.credentials }

    /// SignedOctets (RFC 7296 §2.15): the signer's IKE_SA_INIT message | the other side's nonce |
    /// prf(SK_p, RestOfIDPayload). `ofInitiator` says whose AUTH this is.
    func signedOctets(ofInitiator: Bool, identity: IKEIdentification, auth: AuthPhase) -> [UInt8] {
        let message = ofInitiator ? auth.initRequest : auth.initResponse
        let nonce = ofInitiator ? auth.nonceR : auth.nonceI
        return message + nonce + auth.keys.prf.compute(key: ofInitiator ? auth.skPi : auth.skPr, data: identity.restOfPayload)
    }

    // MARK: Our side

    /// The certificate we authenticate with: `local.certs`, else a loaded certificate for our
    /// identity that we hold the key of.
    func localSigner(for identity: Identity?) -> Result<LocalSigner, AuthFailure> {
        let candidates = policy.certificates.localCertificates.isEmpty
            ? credentials.certificates.filter { certificate in !certificate.isCA && (identity.map { certificate.confirms($0) } ?? true) }
            : policy.certificates.localCertificates
        guard !candidates.isEmpty else {
            return .failure(AuthFailure("no certificate found for local identity '\(identity ?? .any)' (set local.certs or load one into x509/)"))
        }
        for certificate in candidates {
            guard let publicKey = try? PublicKeyBundle(certificate: certificate),
                  let key = credentials.privateKeys.first(where: { $0.publicKey == publicKey }) else { continue }
            return .success(LocalSigner(certificate: certificate, key: key, intermediates: intermediates(above: certificate)))
        }
        return .failure(AuthFailure("no private key found for certificate \"\(candidates[0].subject.strongSwanDescription)\""))
    }

    /// The CA certificates between `leaf` and its root that we hold, root excluded (the peer has it).
    func intermediates(above leaf: Certificate) -> [Certificate] {
        let pool = credentials.certificates + credentials.authorities
        var chain: [Certificate] = []
        var current = leaf
        while chain.count < maxPeerCertificates,
              let issuer = pool.first(where: { $0.subject == current.issuer && $0 != current && $0.isCA }),
              !issuer.isSelfSigned, !chain.contains(issuer) {
            chain.append(issuer)
            current = issuer
        }
        return chain
    }

    /// CERT payloads for our chain, when send_cert says so.
    func certificatePayloads(_ signer: LocalSigner, peerAuth: PeerAuthCapabilities) -> [IKEPayload] {
        switch policy.certificates.sendCertificate {
        case .never: return []
        case .ifAsked where !peerAuth.requestedCertificate: return []
        default:
            return ([signer.certificate] + signer.intermediates).map {
                .certificate(encoding: IKECertificateEncoding.x509Signature.rawValue, data: $0.derEncoded)
            }
        }
    }

    /// A CERTREQ naming the CAs we trust for the peer (SHA-1 of each CA's SubjectPublicKeyInfo).
    /// The responder's IKE_SA_INIT does not know the final connection yet: any candidate that
    /// wants a certificate makes it ask, naming every trusted CA.
    func certificateRequestPayloads(candidates: [ConnectionPolicy] = []) -> [IKEPayload] {
        let wanting = ([policy] + candidates).filter { $0.remoteAuth == .pubkey && $0.certificates.sendCertificateRequest }
        guard let first = wanting.first else { return [] }
        let cas = wanting.count == 1 && first.name == policy.name && !first.certificates.remoteCACertificates.isEmpty
            ? first.certificates.remoteCACertificates : credentials.authorities
        let hashes = cas.compactMap { try? PublicKeyBundle(certificate: $0).keyID }.flatMap { $0 }
        return [.certificateRequest(encoding: IKECertificateEncoding.x509Signature.rawValue, data: hashes)]
    }

    /// Our AUTH payload: RFC 7427 when the peer announced signature hashes, else the classic
    /// method of our key type.
    func signatureAuthentication(_ signer: LocalSigner, ofInitiator: Bool, identity: IKEIdentification,
                                 auth: AuthPhase) -> Result<IKEPayload, AuthFailure> {
        let octets = signedOctets(ofInitiator: ofInitiator, identity: identity, auth: auth)
        let peerAuth = auth.peerAuth
        let keyType = signer.key.keyType
        do {
            if peerAuth.announcedHashes && context.configuration.signatureAuthentication {
                guard let scheme = signatureScheme(for: keyType, peerAuth: peerAuth) else {
                    return .failure(AuthFailure("the peer accepts none of the signature hashes a \(keyType) key can use"))
                }
                let algorithm = scheme.algorithmIdentifierDER
                let signature = try signer.key.sign(octets, scheme: scheme)
                return .success(.authentication(method: IKEAuthMethod.digitalSignature.rawValue,
                                                data: [UInt8(algorithm.count)] + algorithm + signature))
            }
            guard let classic = ClassicIKESignature.method(for: keyType) else {
                return .failure(AuthFailure("a \(keyType) key needs RFC 7427 signature authentication, which the peer did not announce"))
            }
            return .success(.authentication(method: classic.rawValue, data: try signer.key.sign(octets, classic: classic)))
        } catch {
            return .failure(AuthFailure("signing AUTH failed: \(error)"))
        }
    }

    /// strongSwan's choice: the key's default hash if the peer accepts it, else the first it does.
    func signatureScheme(for keyType: PKIKeyType, peerAuth: PeerAuthCapabilities) -> SignatureScheme? {
        let preferred = SignatureScheme.defaultScheme(for: keyType, pss: policy.certificates.preferPSS)
        switch preferred {
        case .ed25519:
            return peerAuth.accepts(.identity) ? .ed25519 : nil
        case .rsaPKCS1(let h), .rsaPSS(let h), .ecdsa(let h):
            let order = [h] + SignatureScheme.SHA.allCases.filter { $0 != h }
            guard let hash = order.first(where: { peerAuth.accepts(SignatureHash($0)) }) else { return nil }
            switch preferred {
            case .rsaPSS: return .rsaPSS(hash)
            case .ecdsa: return .ecdsa(hash)
            default: return .rsaPKCS1(hash)
            }
        }
    }

    // MARK: The peer's side

    /// Checks the peer's AUTH made with a private key: its certificate (from CERT payloads,
    /// `remote.certs` or loaded credentials), the chain to a trusted CA, revocation, that the
    /// certificate confirms the identity, and the signature. Nil when all hold.
    func verifySignatureAuthentication(method: UInt8, data: [UInt8], identity: IKEIdentification, peer: Identity,
                                       certificatePayloads: [[UInt8]], auth: inout AuthPhase) -> AuthFailure? {
        var received: [Certificate] = []
        for der in certificatePayloads.prefix(maxPeerCertificates) {
            guard let c = peerCertificate(der) else {
                return AuthFailure("peer '\(peer)' sent a malformed certificate (\(der.count) bytes)")
            }
            received.append(c)
        }
        let pinned = policy.certificates.remoteCertificates
        let leaf: Certificate
        if let first = received.first {
            guard pinned.isEmpty || pinned.contains(first) else {
                return AuthFailure("certificate \"\(first.subject.strongSwanDescription)\" of '\(peer)' does not match the certificate configured in remote.certs")
            }
            leaf = first
        } else if let known = pinned.first(where: { $0.confirms(peer) })
                    ?? credentials.certificates.first(where: { !$0.isCA && $0.confirms(peer) }) {
            leaf = known
        } else {
            return AuthFailure("peer '\(peer)' sent no certificate and none is loaded for it")
        }
        let subject = leaf.subject.strongSwanDescription
        guard leaf.confirms(peer) else {
            return AuthFailure("identity '\(peer)' is not confirmed by certificate \"\(subject)\" (subject and subjectAltNames do not match)")
        }
        guard leaf.isIKECompliant else {
            return AuthFailure("certificate \"\(subject)\" has a wrong key usage: keyUsage allows neither digitalSignature nor nonRepudiation")
        }
        // A pinned self-signed certificate is trusted as itself (a raw-key style peer).
        if !(pinned.contains(leaf) && leaf.isSelfSigned) {
            if let failure = validateChain(leaf, received: Array(received.dropFirst())) { return failure }
        } else if case .failure(let failure) = ChainValidator(trustedRoots: [leaf], now: context.calendarTime).validate(leaf: leaf) {
            return AuthFailure("\(failure)")
        }
        guard let key = try? PublicKeyBundle(certificate: leaf) else {
            return AuthFailure("certificate \"\(subject)\" holds a key type that cannot verify IKE signatures")
        }
        // The AUTH being checked is the other side's: the initiator's when we are the responder.
        let octets = signedOctets(ofInitiator: !isInitiator, identity: identity, auth: auth)
        let verified: Bool
        let how: String
        if method == IKEAuthMethod.digitalSignature.rawValue {
            guard let length = data.first, data.count > 1 + Int(length) else {
                return AuthFailure("malformed RFC 7427 AUTH data from '\(peer)'")
            }
            let algorithm = Array(data[1...Int(length)])
            guard let scheme = SignatureScheme(algorithmIdentifierDER: algorithm) else {
                return AuthFailure("'\(peer)' signed AUTH with an unsupported signature algorithm")
            }
            guard scheme.fits(key.keyType) else {
                return AuthFailure("'\(peer)' signed AUTH with \(scheme), which does not match the \(key.keyType) key of certificate \"\(subject)\"")
            }
            verified = key.verify(Array(data[(1 + Int(length))...]), over: octets, scheme: scheme)
            how = "\(scheme) (RFC 7427)"
        } else if let classic = ClassicIKESignature(rawValue: method) {
            verified = key.verify(data, over: octets, classic: classic)
            how = classic.description
        } else {
            return AuthFailure("'\(peer)' used authentication method \(method), which is not a signature method ternd supports")
        }
        guard verified else {
            return AuthFailure("AUTH signature of '\(peer)' does not verify with the key of certificate \"\(subject)\" (wrong key)")
        }
        auth.peerAuthenticatedWith = "\(how), certificate \"\(subject)\""
        return nil
    }

    /// The CRL URIs a signature-authenticated IKE_AUTH may need checked: the authorities'
    /// crl_uris and the distribution points of every certificate that could be in the peer's
    /// chain whose issuer has no loaded CRL. Fetched (lookups) before the message is handled;
    /// empty for PSK and for certificates without distribution points, so nothing waits then.
    func crlURIsToFetch(exchange: UInt8, _ payloads: [IKEPayload]) -> [String] {
        guard exchange == IKEExchangeType.ikeAuth.rawValue,
              payloads.contains(where: { if case .authentication(let m, _) = $0 { m != IKEAuthMethod.sharedKeyMIC.rawValue } else { false } })
        else { return [] }
        var uris = credentials.crlURIs
        var candidates = credentials.certificates + credentials.authorities + policy.certificates.remoteCertificates
        for case .certificate(_, let der) in payloads.prefix(64) {
            if let c = peerCertificate(der) { candidates.append(c) }
            if candidates.count > 64 + maxPeerCertificates { break }
        }
        for c in candidates where !credentials.crls.contains(where: { $0.issuer == c.issuer }) {
            for point in c.crlDistributionPoints where !uris.contains(point.uri) { uris.append(point.uri) }
        }
        return uris
    }

    /// A CERT payload's certificate, parsed once per message (`certificateCache`).
    func peerCertificate(_ der: [UInt8]) -> Certificate? {
        if let hit = certificateCache.first(where: { $0.der == der }) { return hit.certificate }
        let c = try? Certificate(derEncoded: der)
        certificateCache.append((der, c))
        return c
    }

    /// Chain to a trusted CA (`remote.cacerts`, else every loaded CA), with CRLs loaded or fetched
    /// from the certificates' distribution points, and `remote.revocation` applied.
    func validateChain(_ leaf: Certificate, received: [Certificate]) -> AuthFailure? {
        let constrained = policy.certificates.remoteCACertificates
        let roots = constrained.isEmpty ? credentials.authorities : constrained
        guard !roots.isEmpty else { return AuthFailure("no trusted CA certificates are loaded (x509ca/, authorities, or remote.cacerts)") }
        let pool = received + credentials.certificates.filter(\.isCA) + credentials.authorities
        // CRLs fetched for this message before it was handled (crlURIsToFetch names a superset).
        var crls = credentials.crls
        for uri in credentials.crlURIs { crls += (fetchedCRLs[uri] ?? nil) ?? [] }
        for certificate in [leaf] + pool where !crls.contains(where: { $0.issuer == certificate.issuer }) {
            for point in certificate.crlDistributionPoints {
                if let fetched = fetchedCRLs[point.uri] ?? nil { crls += fetched }
            }
        }
        let validator = ChainValidator(trustedRoots: roots, intermediates: pool, crls: crls, now: context.calendarTime)
        let chain: [Certificate]
        switch validator.validate(leaf: leaf) {
        case .failure(.unknownCA(let issuer)) where !constrained.isEmpty:
            return AuthFailure("no trusted CA certificate found for issuer \"\(issuer)\" among remote.cacerts")
        case .failure(let failure):
            return AuthFailure("\(failure)")
        case .success(let c):
            chain = c
        }
        // Every certificate below the anchor must have its status known as the policy demands.
        for (i, certificate) in chain.dropLast().enumerated() {
            let issuer = chain[i + 1]
            let known = crls.contains { $0.issuer == issuer.subject }
            let name = certificate.subject.strongSwanDescription
            switch policy.certificates.revocation {
            case .strict where !known:
                return AuthFailure("revocation status of certificate \"\(name)\" is unknown: no CRL of \"\(issuer.subject.strongSwanDescription)\" (remote.revocation = strict)")
            case .ifuri where !known && !certificate.crlDistributionPoints.isEmpty:
                return AuthFailure("revocation status of certificate \"\(name)\" is unknown: its CRL distribution point could not be fetched (remote.revocation = ifuri)")
            default: break
            }
        }
        return nil
    }
}

/// Why authentication failed, in words for the log and `tern initiate`.
struct AuthFailure: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

extension Certificate {
    /// Whether this certificate vouches for an IKE identity, as strongSwan's x509 has_subject:
    /// the subject DN, or a subjectAltName of the same kind (DNS, email, IP), or the key ID.
    func confirms(_ identity: Identity) -> Bool {
        switch identity {
        case .any: return true
        case .distinguishedName(let pattern): return subject.matches(pattern)
        case .fqdn(let name):
            let wanted = name.lowercased()
            return subjectAltNames.contains { if case .dnsName(let d) = $0 { d.lowercased() == wanted } else { false } }
        case .rfc822(let mail):
            let wanted = mail.lowercased()
            return subjectAltNames.contains { if case .rfc822Name(let m) = $0 { m.lowercased() == wanted } else { false } }
        case .ipv4(let a), .ipv6(let a):
            return subjectAltNames.contains { if case .ipAddress(let octets) = $0 { Array(octets.bytes) == a.bytes } else { false } }
        case .keyID(let id):
            return id == subjectKeyID || id == (try? PublicKeyBundle(certificate: self))?.keyID
        case .other: return false
        }
    }
}
