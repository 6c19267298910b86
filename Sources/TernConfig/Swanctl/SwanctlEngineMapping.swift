import TernCrypto
import TernDataPlane
import TernIKE
import TernPKI
import TernWire
import X509

/// Turns a parsed swanctl.conf into the IKE engine's configuration, refusing (with file:line
/// and a fix) what the engine cannot honour rather than running something weaker.
public enum SwanctlMapping {
    /// `credentials` are what the folders beside swanctl.conf hold; `certificates` resolves the
    /// connections' `certs`/`cacerts`. Certificates the connections name join the credentials.
    public static func engineConfiguration(_ s: SwanctlConfiguration, base: EngineConfiguration = EngineConfiguration(),
                                    credentials: CredentialSet = CredentialSet(),
                                    certificates: CertificateSource = .unavailable) throws(ConfigError) -> EngineConfiguration {
        var e = base
        e.connections = []
        for c in s.connections {
            var p = try connection(c, certificates: certificates)
            p.fragmentSize = base.fragmentSize
            e.connections.append(p)
        }
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

    public static func connection(_ c: ConnectionConfig, certificates: CertificateSource = .unavailable) throws(ConfigError) -> ConnectionPolicy {
        func fail(_ message: String, hint: String? = nil) -> ConfigError {
            ConfigError(location: c.location, message: "connection '\(c.name)': \(message)", hint: hint)
        }
        if c.version == 1 { throw fail("IKEv1 is not supported", hint: "use version = 2 (or 0)") }
        if !c.vips.isEmpty || !c.pools.isEmpty {
            throw fail("virtual IPs and address pools (vips, pools) are not supported yet", hint: "use fixed inner addresses in local_ts/remote_ts")
        }
        let ike: [AlgorithmProposal]
        do { ike = try ProposalParser.parse(list: c.proposals, for: .ike) } catch { throw fail("proposals: \(error.message)") }
        var locals = c.localAddrs
        let remotes = c.remoteAddrs
        // %any alone means "no restriction".
        if locals == [.any] { locals = [] }
        var p = ConnectionPolicy(name: c.name, localAddresses: locals, remoteAddresses: remotes, proposals: ike, children: [])
        p.localPort = c.localPort
        p.remotePort = c.remotePort
        p.forceEncapsulation = c.encap
        p.dpdDelay = c.dpdDelay
        p.dpdTimeout = c.dpdTimeout
        p.rekeyTime = c.rekeyTime
        p.reauthTime = c.reauthTime
        p.overTime = c.overTime
        p.randTime = c.randTime
        p.keyingTries = c.keyingtries
        p.fragmentation = c.fragmentation
        p.unique = c.unique
        guard c.local.count == 1, c.remote.count == 1 else {
            throw fail("\(max(c.local.count, c.remote.count)) authentication rounds; only one round per side is supported",
                       hint: "remove local-2/remote-2 sections")
        }
        p.localAuth = try authMethod(c.local[0], side: "local", c)
        p.remoteAuth = try authMethod(c.remote[0], side: "remote", c)
        p.certificates = try certificatePolicy(c, source: certificates)
        do {
            if let id = c.local[0].id { p.localIdentity = try Identity(parsing: id) }
            if let id = c.remote[0].id { p.remoteIdentity = try Identity(parsing: id) }
        } catch {
            throw fail("id: \(error)")
        }
        for child in c.children { p.children.append(try childPolicy(child, c)) }
        return p
    }

    /// strongSwan's parse_auth: `psk`; `pubkey`, `rsa…`, `ecdsa…` and `ike:…` are signatures
    /// (their key-strength and scheme constraints are not enforced; `authWarnings` says so).
    static func authMethod(_ a: AuthConfig, side: String, _ c: ConnectionConfig) throws(ConfigError) -> AuthMethod {
        if a.auth.lowercased() == "psk" { return .psk }
        if ["pubkey", "rsa", "ecdsa", "ike:"].contains(where: { a.auth.hasPrefix($0) }) { return .pubkey }
        throw ConfigError(location: a.location, message: "connection '\(c.name)' \(side): auth = \(a.auth) is not supported yet",
                          hint: "use auth = psk with a secrets { ike-… } entry, or auth = pubkey with certificates")
    }

    /// Accepted but weaker than written: signature constraints ternd does not check.
    public static func authWarnings(_ c: ConnectionConfig) -> [ConfigWarning] {
        var out: [ConfigWarning] = []
        for (side, rounds) in [("local", c.local), ("remote", c.remote)] {
            for a in rounds where a.auth != "pubkey" && a.auth.lowercased() != "psk" && (try? authMethod(a, side: side, c)) == .pubkey {
                out.append(ConfigWarning(location: a.location,
                                         message: "connection '\(c.name)' \(side): auth = \(a.auth) is read as pubkey; its key type, strength and signature-scheme constraints are not enforced"))
            }
        }
        return out
    }

    /// `local.certs`, `remote.cacerts`, `remote.certs`, `remote.revocation`, `send_cert`,
    /// `send_certreq`. Our first certificate must have its private key loaded, so a missing key
    /// shows at load rather than as a failed IKE_AUTH.
    static func certificatePolicy(_ c: ConnectionConfig, source: CertificateSource) throws(ConfigError) -> CertificatePolicy {
        let local = c.local[0], remote = c.remote[0]
        func fail(_ a: AuthConfig, _ side: String, _ message: String, hint: String) -> ConfigError {
            ConfigError(location: a.location, message: "connection '\(c.name)' \(side): \(message)", hint: hint)
        }
        for (side, a) in [("local", local), ("remote", remote)] {
            if !a.pubkeys.isEmpty {
                throw fail(a, side, "pubkeys (raw public keys) are not supported", hint: "use certificates (certs/cacerts)")
            }
            if let caID = a.caID {
                throw fail(a, side, "ca_id = \(caID) is not enforced by ternd", hint: "name the CA with cacerts = FILE instead")
            }
            if !a.certPolicies.isEmpty {
                throw fail(a, side, "cert_policy is not enforced by ternd", hint: "remove it, or issue peers from a CA of their own and use cacerts")
            }
            if !a.groups.isEmpty {
                // Accepting it would let every peer in that the groups were meant to keep out.
                throw fail(a, side, "groups = \(a.groups.joined(separator: ", ")) is not enforced by ternd (peers would not be restricted)",
                           hint: "remove it, and restrict peers with id = … or cacerts = … instead")
            }
        }
        if !local.cacerts.isEmpty {
            throw fail(local, "local", "cacerts on the local side are not supported", hint: "move them to remote { cacerts = … }")
        }
        var policy = CertificatePolicy()
        for reference in local.certs {
            policy.localCertificates += try source.certificates(reference, SwanctlCredentialLoader.certificateFolder, local.location)
        }
        for reference in remote.cacerts {
            for ca in try source.certificates(reference, SwanctlCredentialLoader.authorityFolder, remote.location) {
                try SwanctlCredentialLoader.requireCA(ca, at: remote.location)
                policy.remoteCACertificates.append(ca)
            }
        }
        for reference in remote.certs {
            policy.remoteCertificates += try source.certificates(reference, SwanctlCredentialLoader.certificateFolder, remote.location)
        }
        if local.auth.lowercased() != "psk", let ours = policy.localCertificates.first, let hasKey = source.hasPrivateKey, !hasKey(ours) {
            throw fail(local, "local", "no private key for certificate \(ours.subject.strongSwanDescription) in private/, rsa/, ecdsa/ or pkcs8/",
                       hint: "put the certificate's private key into private/ beside swanctl.conf (chmod 600)")
        }
        policy.revocation = remote.revocation
        policy.sendCertificate = c.sendCert
        policy.sendCertificateRequest = c.sendCertreq
        // `rsa/pss` or `ike:rsa/pss…`: we sign with RSASSA-PSS (strongSwan's spelling of that wish).
        policy.preferPSS = local.auth.lowercased().contains("pss")
        return policy
    }

    static func childPolicy(_ ch: ChildConfig, _ c: ConnectionConfig) throws(ConfigError) -> ChildPolicy {
        func fail(_ m: String, hint: String? = nil) -> ConfigError {
            ConfigError(location: ch.location, message: "child '\(ch.name)' of '\(c.name)': \(m)", hint: hint)
        }
        if !ch.ahProposals.isEmpty { throw fail("ah_proposals: AH negotiated by IKE is not supported", hint: "use esp_proposals, or AH with setkey") }
        if ch.ipcomp { throw fail("ipcomp = yes is not supported", hint: "remove it") }
        let esp: [AlgorithmProposal]
        do { esp = try ProposalParser.parse(list: ch.espProposals, for: .esp) } catch { throw fail("esp_proposals: \(error.message)") }
        var p = ChildPolicy(name: ch.name, localSelectors: ch.localTS, remoteSelectors: ch.remoteTS, proposals: esp)
        switch ch.mode {
        case .tunnel: p.mode = .tunnel
        case .transport: p.mode = .transport
        case .beet, .pass, .drop: throw fail("mode = \(ch.mode.rawValue) is not supported", hint: "use tunnel or transport")
        }
        p.startAction = ch.startAction
        // strongSwan: keep the trap and re-initiate; restarting installs the SA the trap waits for.
        p.dpdAction = ch.dpdAction == .trapAndRestart ? .restart : ch.dpdAction
        p.closeAction = ch.closeAction == .trapAndStart ? .start : ch.closeAction
        p.rekeyTime = ch.rekeyTime
        p.lifeTime = ch.lifeTime
        p.randTime = ch.randTime
        p.rekeyBytes = ch.rekeyBytes
        p.lifeBytes = ch.lifeBytes
        p.rekeyPackets = ch.rekeyPackets
        p.lifePackets = ch.lifePackets
        p.randBytes = ch.randBytes
        p.randPackets = ch.randPackets
        p.replayWindow = Int(min(ch.replayWindow, UInt32(SAConfig.maximumReplayWindow)))
        return p
    }

}

/// What the connection mapping needs from the credentials: the certificates `certs`/`cacerts`
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
