import Foundation
import TernPKI
import X509

/// Certificates, private keys and CRLs the engine authenticates with: swanctl's x509, x509ca,
/// x509crl and private/rsa/ecdsa/pkcs8 folders, the `authorities` section, and VICI's
/// load-cert/load-key/load-authority. Replaced as a whole with the configuration.
public struct CredentialSet: Sendable {
    /// Trusted CA certificates (x509ca, `authorities`, VICI flag CA): chains must end at one.
    public var authorities: [Certificate]
    /// End-entity and intermediate certificates (x509, VICI flag NONE): our own, intermediates
    /// we send with them or use to build a peer's chain, and peers' certificates for `remote.certs`.
    public var certificates: [Certificate]
    public var privateKeys: [PrivateKeyBundle]
    public var crls: [CRL]
    /// CRL URIs of the `authorities` (`crl_uris`), fetched (an `IKELookup.fetchCRL`, as are
    /// certificates' distribution points) whenever a chain is checked, so a CRL file replaced on
    /// disk counts without a reload.
    public var crlURIs: [String]

    public init(authorities: [Certificate] = [], certificates: [Certificate] = [], privateKeys: [PrivateKeyBundle] = [],
                crls: [CRL] = [], crlURIs: [String] = []) {
        self.authorities = authorities; self.certificates = certificates; self.privateKeys = privateKeys
        self.crls = crls; self.crlURIs = crlURIs
    }

    public var isEmpty: Bool { authorities.isEmpty && certificates.isEmpty && privateKeys.isEmpty && crls.isEmpty }
}

/// `remote.revocation`: what to do when a certificate's revocation status is unknown.
public enum RevocationPolicy: String, Sendable, Hashable {
    /// Fail unless a CRL of the issuer shows the certificate is not revoked.
    case strict
    /// Fail only if the certificate names a CRL distribution point that cannot be fetched.
    case ifuri
    /// Fail only if the certificate is known to be revoked (strongSwan's default).
    case relaxed
}

/// `send_cert`: when our certificate (and intermediates) go into a CERT payload.
public enum SendCertificatePolicy: String, Sendable, Hashable {
    /// Only when the peer sent a CERTREQ (strongSwan's default).
    case ifAsked = "ifasked"
    case always, never
}

/// Public-key authentication settings of a connection (swanctl `local.certs`, `remote.cacerts`,
/// `remote.certs`, `remote.revocation`, `send_cert`, `send_certreq`).
public struct CertificatePolicy: Sendable, Hashable {
    /// `local.certs`: the first is the certificate we authenticate with.
    public var localCertificates: [Certificate] = []
    /// `remote.cacerts`: the peer's chain must end at one of these (empty: any trusted CA).
    public var remoteCACertificates: [Certificate] = []
    /// `remote.certs`: the peer must authenticate with one of these certificates.
    public var remoteCertificates: [Certificate] = []
    public var revocation: RevocationPolicy = .relaxed
    public var sendCertificate: SendCertificatePolicy = .ifAsked
    public var sendCertificateRequest = true
    /// Sign with RSASSA-PSS rather than PKCS#1 v1.5 (`auth = rsa/pss`, or `ike:rsa/pss…`).
    public var preferPSS = false

    public init() {}
}
