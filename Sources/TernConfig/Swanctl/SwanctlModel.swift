import TernDataPlane
import TernIKE
import TernWire

/// The typed swanctl.conf model the IKE daemon consumes. Every field carries strongSwan's
/// default (5.9.x, src/swanctl/swanctl.opt and the VICI backend that applies them,
/// src/libcharon/plugins/vici/vici_config.c), so a `ConnectionConfig(name:location:)` is what a
/// section with no keys means. Proposals stay strings here: TernCrypto parses them.
public struct SwanctlConfiguration: Sendable {
    public var connections: [ConnectionConfig]
    public var secrets: [SecretConfig]
    public var pools: [PoolConfig]
    /// `authorities { }` sections, unparsed (CA certificates and CRL/OCSP URIs).
    public var authorities: [SwanctlSection]
    public var warnings: [ConfigWarning]

    public init(connections: [ConnectionConfig] = [], secrets: [SecretConfig] = [], pools: [PoolConfig] = [],
                authorities: [SwanctlSection] = [], warnings: [ConfigWarning] = []) {
        self.connections = connections; self.secrets = secrets; self.pools = pools
        self.authorities = authorities; self.warnings = warnings
    }
}

/// One `local…`/`remote…` section: an authentication round (RFC 4739 allows several).
public struct AuthConfig: Sendable, Hashable {
    /// `round`, by which rounds are ordered (ties keep their order in the file).
    public var round: Int
    public var location: SourceLocation
    /// As written: `pubkey` (default), `psk`, `rsa`, `ecdsa`, `ike:…` signature constraints,
    /// `eap`, `eap-mschapv2`, `eap-tls:…`, `xauth[-backend]`, or key-strength constraints
    /// such as `rsa-2048-sha256` on remote rounds.
    public var auth: String
    /// nil: local defaults to the certificate subject (or the IP address), remote to `%any`.
    public var id: String?
    /// nil: defaults to `id`.
    public var eapID: String?
    /// nil: defaults to the remote identity.
    public var aaaID: String?
    /// nil: defaults to `id`.
    public var xauthID: String?
    /// `ca_id`: an identity some CA in the peer's chain must have (remote rounds).
    public var caID: String?
    /// Certificate files (relative: to swanctl's x509 directory), `0x…`/`0s…` blobs, and the
    /// `file` of `cert<suffix>` sections.
    public var certs: [String]
    /// CA certificate files (relative: to x509ca), blobs, `cacert<suffix>` files.
    public var cacerts: [String]
    /// Raw public keys (relative: to the pubkey directory) or blobs.
    public var pubkeys: [String]
    /// `groups`: the peer must prove membership of one of them.
    public var groups: [String]
    /// `cert_policy`: OIDs the peer's certificate must carry.
    public var certPolicies: [String]
    public var revocation: RevocationPolicy

    public init(round: Int = 0, location: SourceLocation, auth: String = "pubkey", id: String? = nil,
                eapID: String? = nil, aaaID: String? = nil, xauthID: String? = nil, caID: String? = nil,
                certs: [String] = [], cacerts: [String] = [], pubkeys: [String] = [], groups: [String] = [],
                certPolicies: [String] = [], revocation: RevocationPolicy = .relaxed) {
        self.round = round; self.location = location; self.auth = auth; self.id = id; self.eapID = eapID
        self.aaaID = aaaID; self.xauthID = xauthID; self.caID = caID; self.certs = certs; self.cacerts = cacerts
        self.pubkeys = pubkeys; self.groups = groups; self.certPolicies = certPolicies; self.revocation = revocation
    }
}

public enum ChildMode: String, Sendable, Hashable {
    case tunnel, transport, beet
    /// Shunt policies: bypass IPsec, or drop.
    case pass, drop
}

/// A `children.<name>` section: one CHILD SA configuration.
public struct ChildConfig: Sendable, Hashable {
    public var name: String
    public var location: SourceLocation
    public var localTS: [SelectorPolicy]
    public var remoteTS: [SelectorPolicy]
    /// Empty when only AH proposals are configured (strongSwan then proposes no ESP).
    public var espProposals: [String]
    public var ahProposals: [String]
    public var mode: ChildMode
    public var startAction: ChildStartAction
    public var dpdAction: ChildDPDAction
    public var closeAction: ChildCloseAction
    /// Seconds. strongSwan: rekey 1h (or life/1.1 when only life_time is set), life rekey×1.1,
    /// rand life−rekey (vici_config.c check_lifetimes).
    public var rekeyTime: UInt64
    public var lifeTime: UInt64
    public var randTime: UInt64
    /// Volume limits; 0 disables. Derived like the times (rekey 0 → life 0 → rand 0).
    public var rekeyBytes: UInt64
    public var lifeBytes: UInt64
    public var randBytes: UInt64
    public var rekeyPackets: UInt64
    public var lifePackets: UInt64
    public var randPackets: UInt64
    /// Packets; 0 disables replay protection. Default: charon.replay_window, 32.
    public var replayWindow: UInt32
    /// 0: allocated dynamically.
    public var reqid: UInt32
    public var ipcomp: Bool
    /// Seconds without traffic before closing; 0 disables.
    public var inactivity: UInt64
    public var updown: String?
    public var hostaccess: Bool
    public var policies: Bool

    public init(name: String, location: SourceLocation) {
        self.name = name; self.location = location
        localTS = [.dynamic]; remoteTS = [.dynamic]          // local_ts/remote_ts = dynamic
        espProposals = ["default"]; ahProposals = []          // esp_proposals = default
        mode = .tunnel; startAction = .none; dpdAction = .clear; closeAction = .none
        rekeyTime = 3600; lifeTime = 3960; randTime = 360      // 1h, +10%, life − rekey
        rekeyBytes = 0; lifeBytes = 0; randBytes = 0
        rekeyPackets = 0; lifePackets = 0; randPackets = 0
        replayWindow = 32; reqid = 0; ipcomp = false; inactivity = 0
        updown = nil; hostaccess = false; policies = true
    }
}

/// A `connections.<name>` section: an IKE SA configuration with its CHILD SAs.
public struct ConnectionConfig: Sendable, Hashable {
    public var name: String
    public var location: SourceLocation
    /// 0: any (responds to both, initiates IKEv2); 2: IKEv2. (1, IKEv1, is refused.)
    public var version: Int
    public var localAddrs: [AddressMatch]
    public var remoteAddrs: [AddressMatch]
    public var localPort: UInt16
    public var remotePort: UInt16
    /// IKE proposals as written; `default` is strongSwan's default set.
    public var proposals: [String]
    /// Virtual IPs to request; 0.0.0.0 / :: ask for any.
    public var vips: [IPAddress]
    public var aggressive: Bool
    public var pull: Bool
    /// DSCP for outgoing IKE packets (`dscp` is six binary digits).
    public var dscp: UInt8
    public var encap: Bool
    public var mobike: Bool
    public var dpdDelay: UInt64
    /// IKEv1 only; kept for completeness.
    public var dpdTimeout: UInt64
    public var fragmentation: FragmentationPolicy
    public var sendCertreq: Bool
    public var sendCert: SendCertificatePolicy
    /// 0: retry forever.
    public var keyingtries: UInt32
    public var unique: UniquenessPolicy
    /// Seconds. Defaults (vici_config.c): rekey 4h unless reauth_time is set (then 0),
    /// over 10% of the longer of rekey/reauth, rand min(over, half the rekey/reauth time).
    public var reauthTime: UInt64
    public var rekeyTime: UInt64
    public var overTime: UInt64
    public var randTime: UInt64
    public var pools: [String]
    /// Authentication rounds, sorted by `round` (stable).
    public var local: [AuthConfig]
    public var remote: [AuthConfig]
    public var children: [ChildConfig]

    public init(name: String, location: SourceLocation) {
        self.name = name; self.location = location
        version = 0
        localAddrs = [.any]; remoteAddrs = [.any]             // local_addrs/remote_addrs = %any
        localPort = 500; remotePort = 500
        proposals = ["default"]; vips = []
        aggressive = false; pull = true; dscp = 0; encap = false; mobike = true
        dpdDelay = 0; dpdTimeout = 0
        fragmentation = .yes; sendCertreq = true; sendCert = .ifAsked
        keyingtries = 1; unique = .no
        reauthTime = 0; rekeyTime = 14_400; overTime = 1440; randTime = 1440   // 4h, 10%, min(over, 2h)
        pools = []
        // A connection without local/remote sections gets one default round each.
        local = [AuthConfig(location: location)]; remote = [AuthConfig(location: location)]
        children = []
    }
}

public enum SecretKind: String, Sendable, Hashable {
    case ike, eap, xauth, ntlm, ppk, `private`, rsa, ecdsa, pkcs8, pkcs12, token
}

/// Secret bytes. Its description never shows them, only their number.
public struct SecretValue: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    public var bytes: [UInt8]
    public init(bytes: [UInt8]) { self.bytes = bytes }
    public var description: String { "<\(bytes.count) secret bytes>" }
    public var debugDescription: String { description }
}

/// A `secrets.<kind><suffix>` section.
public struct SecretConfig: Sendable, Hashable {
    public var kind: SecretKind
    /// The section name, e.g. `ike-site-b`.
    public var name: String
    public var location: SourceLocation
    /// Values of the `id`, `id-a`, `id-anything` keys, in order.
    public var ids: [String]
    /// Decoded `secret` (`0x` hex, `0s` base64, or the text itself).
    public var secret: SecretValue?
    /// `file` of private/rsa/ecdsa/pkcs8/pkcs12 passphrase sections.
    public var file: String?

    public init(kind: SecretKind, name: String, location: SourceLocation, ids: [String] = [],
                secret: SecretValue? = nil, file: String? = nil) {
        self.kind = kind; self.name = name; self.location = location; self.ids = ids
        self.secret = secret; self.file = file
    }
}

/// A `pools.<name>` section: virtual IPs and configuration attributes.
public struct PoolConfig: Sendable, Hashable {
    public var name: String
    public var location: SourceLocation
    /// The address range: one subnet (`10.3.0.0/24`) or range (`10.3.0.10-10.3.0.99`).
    public var addrs: [String]
    /// dns, nbns, dhcp, netmask, server, subnet, split_include, split_exclude (or a numeric
    /// attribute type) → their values.
    public var attributes: [String: [String]]

    public init(name: String, location: SourceLocation, addrs: [String] = [], attributes: [String: [String]] = [:]) {
        self.name = name; self.location = location; self.addrs = addrs; self.attributes = attributes
    }
}
