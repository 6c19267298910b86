import TernCrypto
import TernDataPlane
import TernIKE
import TernPKI
import TernWire
import X509

/// The last step of loading swanctl.conf: the parser already built the engine's own
/// `ConnectionPolicy`; this refuses (with file:line from the side table, and a fix) what the
/// engine cannot honour rather than running something weaker, and resolves the certificates
/// the rounds name. There is no field-by-field mapping left.
public enum SwanctlAdmission {
    /// `credentials` are what the folders beside swanctl.conf hold; `certificates` resolves the
    /// connections' `certs`/`cacerts`. Certificates the connections name join the credentials.
    public static func engineConfiguration(_ s: SwanctlConfiguration, base: EngineConfiguration = EngineConfiguration(),
                                    credentials: CredentialSet = CredentialSet(),
                                    certificates: CertificateSource = .unavailable) throws(ConfigError) -> EngineConfiguration {
        var e = base
        e.connections = []
        for c in s.connections {
            var p = try admit(c, source: s.source(of: c), certificates: certificates)
            p.fragmentSize = base.fragmentSize
            e.connections.append(p)
        }
        e.pools = []
        for pool in s.pools { e.pools.append(try addressPool(pool)) }
        e.credentials = credentials
        e.credentials.insertCertificates(of: e.connections)
        e.sharedKeys = []
        for secret in s.secrets where secret.kind == .ike {
            guard let value = secret.secret else { continue }
            var owners: [Identity] = []
            for id in secret.ids {
                do { owners.append(try Identity(parsing: id)) } catch {
                    throw ConfigError(location: secret.location, message: "secrets.\(secret.name): identity '\(id)': \(error)")
                }
            }
            e.sharedKeys.append(SharedKey(owners: owners, secret: value.bytes))
        }
        return e
    }

    /// `c` as the engine will run it: refused if it asks for what the engine does not do, with
    /// `certificates` filled from the rounds' `certs`/`cacerts`.
    public static func admit(_ c: ConnectionPolicy, source: SwanctlSource,
                             certificates: CertificateSource = .unavailable) throws(ConfigError) -> ConnectionPolicy {
        func fail(_ message: String, hint: String? = nil) -> ConfigError {
            ConfigError(location: source.location, message: "connection '\(c.name)': \(message)", hint: hint)
        }
        if c.version == 1 { throw fail("IKEv1 is not supported", hint: "use version = 2 (or 0)") }
        if let refusal = source.proposalsRefusal { throw refusal }
        guard c.local.count == 1, c.remote.count == 1 else {
            throw fail("\(max(c.local.count, c.remote.count)) authentication rounds; only one round per side is supported",
                       hint: "remove local-2/remote-2 sections")
        }
        try requireMethod(c.local[0], side: "local", at: source.local(0), c)
        try requireMethod(c.remote[0], side: "remote", at: source.remote(0), c)
        var p = c
        p.certificates = try certificatePolicy(c, source, certificates)
        if let refusal = source.identityRefusal { throw refusal }
        for child in c.children { try admit(child, at: source.child(child.name), refusal: source.childProposalsRefusals[child.name], c) }
        return p
    }

    /// EAP and XAUTH rounds have no engine behaviour yet.
    static func requireMethod(_ a: AuthRound, side: String, at: SourceLocation, _ c: ConnectionPolicy) throws(ConfigError) {
        guard a.method == nil else { return }
        throw ConfigError(location: at, message: "connection '\(c.name)' \(side): auth = \(a.auth) is not supported yet",
                          hint: "use auth = psk with a secrets { ike-… } entry, or auth = pubkey with certificates")
    }

    /// Accepted but weaker than written: signature constraints ternd does not check.
    public static func authWarnings(_ c: ConnectionPolicy, source: SwanctlSource) -> [ConfigWarning] {
        var out: [ConfigWarning] = []
        for (side, rounds, at) in [("local", c.local, source.local(_:)), ("remote", c.remote, source.remote(_:))] {
            for (i, a) in rounds.enumerated() where a.auth != "pubkey" && a.method == .pubkey {
                out.append(ConfigWarning(location: at(i),
                                         message: "connection '\(c.name)' \(side): auth = \(a.auth) is read as pubkey; its key type, strength and signature-scheme constraints are not enforced"))
            }
        }
        return out
    }

    /// `local.certs`, `remote.cacerts`, `remote.certs` resolved into the policy the parser began
    /// (`remote.revocation`, `send_cert`, `send_certreq`, PSS). Our first certificate must have
    /// its private key loaded, so a missing key shows at load rather than as a failed IKE_AUTH.
    static func certificatePolicy(_ c: ConnectionPolicy, _ at: SwanctlSource, _ source: CertificateSource) throws(ConfigError) -> CertificatePolicy {
        let local = c.local[0], remote = c.remote[0]
        func fail(_ side: String, _ message: String, hint: String) -> ConfigError {
            ConfigError(location: side == "local" ? at.local(0) : at.remote(0), message: "connection '\(c.name)' \(side): \(message)", hint: hint)
        }
        for (side, a) in [("local", local), ("remote", remote)] {
            if !a.pubkeys.isEmpty {
                throw fail(side, "pubkeys (raw public keys) are not supported", hint: "use certificates (certs/cacerts)")
            }
            if let caID = a.caID {
                throw fail(side, "ca_id = \(caID) is not enforced by ternd", hint: "name the CA with cacerts = FILE instead")
            }
            if !a.certPolicies.isEmpty {
                throw fail(side, "cert_policy is not enforced by ternd", hint: "remove it, or issue peers from a CA of their own and use cacerts")
            }
            if !a.groups.isEmpty {
                // Accepting it would let every peer in that the groups were meant to keep out.
                throw fail(side, "groups = \(a.groups.joined(separator: ", ")) is not enforced by ternd (peers would not be restricted)",
                           hint: "remove it, and restrict peers with id = … or cacerts = … instead")
            }
        }
        if !local.cacerts.isEmpty {
            throw fail("local", "cacerts on the local side are not supported", hint: "move them to remote { cacerts = … }")
        }
        var policy = c.certificates
        policy.localCertificates = []; policy.remoteCACertificates = []; policy.remoteCertificates = []
        for reference in local.certs {
            policy.localCertificates += try source.certificates(reference, SwanctlCredentialLoader.certificateFolder, at.local(0))
        }
        for reference in remote.cacerts {
            for ca in try source.certificates(reference, SwanctlCredentialLoader.authorityFolder, at.remote(0)) {
                try SwanctlCredentialLoader.requireCA(ca, at: at.remote(0))
                policy.remoteCACertificates.append(ca)
            }
        }
        for reference in remote.certs {
            policy.remoteCertificates += try source.certificates(reference, SwanctlCredentialLoader.certificateFolder, at.remote(0))
        }
        if local.method != .psk, let ours = policy.localCertificates.first, let hasKey = source.hasPrivateKey, !hasKey(ours) {
            throw fail("local", "no private key for certificate \(ours.subject.strongSwanDescription) in private/, rsa/, ecdsa/ or pkcs8/",
                       hint: "put the certificate's private key into private/ beside swanctl.conf (chmod 600)")
        }
        return policy
    }

    static func admit(_ ch: ChildPolicy, at: SourceLocation, refusal: ConfigError?, _ c: ConnectionPolicy) throws(ConfigError) {
        func fail(_ m: String, hint: String? = nil) -> ConfigError {
            ConfigError(location: at, message: "child '\(ch.name)' of '\(c.name)': \(m)", hint: hint)
        }
        if !ch.ahProposalSpec.isEmpty || !ch.ahProposals.isEmpty { throw fail("ah_proposals: AH negotiated by IKE is not supported", hint: "use esp_proposals, or AH with setkey") }
        if ch.ipcomp { throw fail("ipcomp = yes is not supported", hint: "remove it") }
        if let refusal { throw refusal }
        switch ch.configuredMode {
        case .tunnel, .transport: break
        case .beet, .pass, .drop: throw fail("mode = \(ch.configuredMode.rawValue) is not supported", hint: "use tunnel or transport")
        }
    }
}

/// What admitting a connection needs from the credentials: the certificates `certs`/`cacerts`
/// entries name (files beside swanctl.conf, or blobs VICI sent), and whether a private key is
/// loaded for a certificate (nil: not checked).
public struct CertificateSource {
    public var certificates: (_ reference: String, _ folder: String, _ at: SourceLocation) throws(ConfigError) -> [Certificate]
    public var hasPrivateKey: ((Certificate) -> Bool)?

    public init(certificates: @escaping (_ reference: String, _ folder: String, _ at: SourceLocation) throws(ConfigError) -> [Certificate],
                hasPrivateKey: ((Certificate) -> Bool)?) {
        self.certificates = certificates
        self.hasPrivateKey = hasPrivateKey
    }

    /// Nothing to read certificates from: naming one is an error.
    public static var unavailable: CertificateSource {
        CertificateSource(certificates: { reference, _, at throws(ConfigError) in
            throw ConfigError(location: at, message: "certificate '\(reference)' cannot be loaded here")
        }, hasPrivateKey: nil)
    }
}
