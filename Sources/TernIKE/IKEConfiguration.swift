import TernCrypto
import TernDataPlane
import TernWire

/// A connection: the one typed form of a swanctl.conf `connections.<name>` section. TernConfig's
/// swanctl parser, VICI `load-conn` and `tern import` produce it; the engine consumes it; tests
/// build it directly. It also carries what swanctl configures and the engine does not act on yet
/// (virtual IPs, pools, EAP/XAUTH identities, MOBIKE, DSCP …), so those features add behaviour,
/// not a mapping; TernConfig refuses at load what the engine would not honour. Where the
/// settings were written (file:line) stays in TernConfig. Durations are in seconds; 0 disables
/// the corresponding timer, as in strongSwan.
public struct ConnectionPolicy: Sendable, Hashable {
    public var name: String
    /// `version`: 0 any (responds to both, initiates IKEv2), 2 IKEv2. (1, IKEv1, is refused.)
    public var version = 0
    /// Local addresses we accept IKE on for this connection (empty = any; `%any` alone reads so).
    public var localAddresses: [AddressMatch]
    /// Peers: the first concrete address is the one we initiate to.
    public var remoteAddresses: [AddressMatch]
    public var localPort: UInt16 = 500
    public var remotePort: UInt16 = 500
    public var proposals: [AlgorithmProposal]
    /// `proposals` as written (`default`, `aes256-sha256-modp2048` …), for writing them back;
    /// empty when the proposals were built in code.
    public var proposalSpec: [String] = []
    /// Authentication rounds (RFC 4739 allows several), sorted by `round`; never empty.
    public var local: [AuthRound] = [AuthRound(auth: "psk")]
    public var remote: [AuthRound] = [AuthRound(auth: "psk")]
    /// Certificates and their handling for `pubkey` authentication (resolved from the rounds'
    /// `certs`/`cacerts` when the configuration is loaded).
    public var certificates = CertificatePolicy()
    /// `vips`: virtual IPs to request in a CFG_REQUEST; 0.0.0.0 / :: ask for any of the family.
    public var vips: [IPAddress] = []
    /// `pools`: where a peer's virtual IP comes from, tried in the order written.
    public var pools: [String] = []
    /// `pull`: ask for configuration attributes (rather than push them).
    public var pull = true
    /// `dscp`: the DSCP of outgoing IKE packets (six bits).
    public var dscp: UInt8 = 0
    /// `mobike` (RFC 4555). (Not negotiated yet.)
    public var mobike = true
    /// `encap = yes`: pretend a NAT so ESP is UDP-encapsulated even without one (RFC 3948).
    public var forceEncapsulation = false
    public var dpdDelay: UInt64 = 0
    /// IKEv1 only in strongSwan; kept as written.
    public var dpdTimeout: UInt64 = 0
    /// Defaults (vici_config.c): rekey 4h unless reauth_time is set (then 0), over 10% of the
    /// longer of rekey/reauth, rand min(over, half the rekey/reauth time).
    public var rekeyTime: UInt64 = 14_400
    public var reauthTime: UInt64 = 0
    public var overTime: UInt64 = 1_440
    public var randTime: UInt64 = 1_440
    public var fragmentation: FragmentationPolicy = .yes
    /// Largest IKE datagram we send before fragmenting (strongSwan's fragment_size default).
    public var fragmentSize = 1280
    /// 0: retry forever.
    public var keyingTries: UInt32 = 1
    public var unique: UniquenessPolicy = .no
    public var sendInitialContact = true
    public var children: [ChildPolicy]

    public init(name: String, localAddresses: [AddressMatch] = [], remoteAddresses: [AddressMatch],
                proposals: [AlgorithmProposal], children: [ChildPolicy]) {
        self.name = name; self.localAddresses = localAddresses; self.remoteAddresses = remoteAddresses
        self.proposals = proposals; self.children = children
    }

    /// Whether remote_addrs names a single peer at all (an address or a host name).
    public var canInitiate: Bool {
        remoteAddresses.contains { if case .address = $0 { true } else if case .hostname = $0 { true } else { false } }
    }

    /// The first local round's method (psk unless it names a signature method).
    public var localAuth: AuthMethod {
        get { local.first?.method ?? .psk }
        set { Self.setFirst(&local) { $0.auth = newValue.rawValue } }
    }
    public var remoteAuth: AuthMethod {
        get { remote.first?.method ?? .psk }
        set { Self.setFirst(&remote) { $0.auth = newValue.rawValue } }
    }
    /// The first local round's `id`; nil: our IP address (or our certificate's subject).
    public var localIdentity: Identity? {
        get { local.first?.id }
        set { Self.setFirst(&local) { $0.id = newValue } }
    }
    /// The first remote round's `id`; nil: any peer identity (%any).
    public var remoteIdentity: Identity? {
        get { remote.first?.id }
        set { Self.setFirst(&remote) { $0.id = newValue } }
    }

    private static func setFirst(_ rounds: inout [AuthRound], _ change: (inout AuthRound) -> Void) {
        if rounds.isEmpty { rounds = [AuthRound(auth: "psk")] }
        change(&rounds[0])
    }
}

/// One `local…`/`remote…` section: an authentication round.
public struct AuthRound: Sendable, Hashable {
    /// `round`, by which rounds are ordered (ties keep their order in the file).
    public var round: Int
    /// As written: `pubkey` (swanctl's default), `psk`, `rsa`, `ecdsa`, `ike:…` signature
    /// constraints, `eap`, `eap-mschapv2`, `eap-tls:…`, `xauth[-backend]`, or key-strength
    /// constraints such as `rsa-2048-sha256` on remote rounds.
    public var auth: String
    /// nil: local defaults to the certificate subject (or the IP address), remote to `%any`.
    public var id: Identity?
    /// nil: defaults to `id`.
    public var eapID: String?
    /// nil: defaults to the remote identity.
    public var aaaID: String?
    /// nil: defaults to `id`.
    public var xauthID: String?
    /// `ca_id`: an identity some CA in the peer's chain must have (remote rounds).
    public var caID: String?
    /// Certificate files (relative: to swanctl's x509 directory), `0x…`/`0s…` blobs, the `file`
    /// of `cert<suffix>` sections; `CertificatePolicy` holds what they resolved to.
    public var certs: [String]
    /// CA certificate files (relative: to x509ca), blobs, `cacert<suffix>` files.
    public var cacerts: [String]
    /// Raw public keys (relative: to the pubkey directory) or blobs.
    public var pubkeys: [String]
    /// `groups`: the peer must prove membership of one of them.
    public var groups: [String]
    /// `cert_policy`: OIDs the peer's certificate must carry.
    public var certPolicies: [String]

    public init(round: Int = 0, auth: String = "pubkey", id: Identity? = nil, eapID: String? = nil, aaaID: String? = nil,
                xauthID: String? = nil, caID: String? = nil, certs: [String] = [], cacerts: [String] = [],
                pubkeys: [String] = [], groups: [String] = [], certPolicies: [String] = []) {
        self.round = round; self.auth = auth; self.id = id; self.eapID = eapID; self.aaaID = aaaID
        self.xauthID = xauthID; self.caID = caID; self.certs = certs; self.cacerts = cacerts
        self.pubkeys = pubkeys; self.groups = groups; self.certPolicies = certPolicies
    }

    /// strongSwan's parse_auth: `psk` (any case); `pubkey`, `rsa…`, `ecdsa…` and `ike:…` are
    /// signatures (their key-strength and scheme constraints are not enforced); nil for what the
    /// engine cannot do yet (EAP, XAUTH).
    public var method: AuthMethod? {
        if auth.lowercased() == "psk" { return .psk }
        if ["pubkey", "rsa", "ecdsa", "ike:"].contains(where: { auth.hasPrefix($0) }) { return .pubkey }
        return nil
    }
}

public enum AuthMethod: String, Sendable, Hashable { case psk, pubkey }

public enum FragmentationPolicy: String, Sendable, Hashable { case yes, accept, force, no }
public enum UniquenessPolicy: String, Sendable, Hashable { case no, never, keep, replace }

/// An address pattern from local_addrs / remote_addrs.
public enum AddressMatch: Sendable, Hashable, CustomStringConvertible {
    case any
    case address(IPAddress)
    case prefix(IPPrefix)
    case range(IPAddress, IPAddress)
    /// A DNS name, resolved when it is needed (initiation, matching a peer).
    case hostname(String)

    public func matches(_ a: IPAddress, resolve: (String) -> [IPAddress] = { _ in [] }) -> Bool {
        switch self {
        case .any: true
        case .address(let x): x == a
        case .prefix(let p): p.contains(a)
        case .range(let lo, let hi): lo.family == a.family && lo <= a && a <= hi
        case .hostname(let h): resolve(h).contains(a)
        }
    }

    /// How specific the match is, so the most specific connection wins.
    var specificity: Int {
        switch self {
        case .any: 0
        case .prefix(let p): 1 + p.length
        case .range: 100
        case .address, .hostname: 200
        }
    }

    public var description: String {
        switch self {
        case .any: "%any"
        case .address(let a): "\(a)"
        case .prefix(let p): "\(p)"
        case .range(let a, let b): "\(a)-\(b)"
        case .hostname(let h): h
        }
    }
}

/// `start_action` (strongSwan also reads `route` as trap, `restart` as start, `clear` as none).
public enum ChildStartAction: String, Sendable, Hashable {
    case none, trap, start
    case trapAndStart = "trap|start"
    var traps: Bool { self == .trap || self == .trapAndStart }
    var starts: Bool { self == .start || self == .trapAndStart }
}
/// `dpd_action` (strongSwan reads `none` as clear, `route` as trap, `start` as restart).
public enum ChildDPDAction: String, Sendable, Hashable {
    /// `trap|restart` reads as restart: restarting installs the SA the trap would wait for.
    case clear, trap, restart
}
/// `close_action` (5.9: none, trap, start; `clear`, `route`, `restart` are the same words).
public enum ChildCloseAction: String, Sendable, Hashable {
    /// `trap|start` reads as start, as strongSwan 5.9 does.
    case none, trap, start
}

/// A selector as configured: `dynamic` becomes the IKE endpoint's own address at negotiation.
public struct SelectorPolicy: Sendable, Hashable, CustomStringConvertible {
    public enum Addresses: Sendable, Hashable { case dynamic, range(IPAddress, IPAddress) }
    public var addresses: Addresses
    public var ipProtocol: UInt8
    public var startPort: UInt16
    public var endPort: UInt16

    public init(_ addresses: Addresses, ipProtocol: UInt8 = 0, startPort: UInt16 = 0, endPort: UInt16 = 65_535) {
        self.addresses = addresses; self.ipProtocol = ipProtocol; self.startPort = startPort; self.endPort = endPort
    }
    public static let dynamic = SelectorPolicy(.dynamic)
    public init(prefix: IPPrefix, ipProtocol: UInt8 = 0, startPort: UInt16 = 0, endPort: UInt16 = 65_535) {
        self.init(.range(prefix.address, prefix.lastAddress), ipProtocol: ipProtocol, startPort: startPort, endPort: endPort)
    }

    /// The concrete selector with `dynamic` replaced by `host`.
    func resolved(host: IPAddress) -> IKETrafficSelector {
        switch addresses {
        case .dynamic:
            IKETrafficSelector(ipProtocol: ipProtocol, startPort: startPort, endPort: endPort, startAddress: host, endAddress: host)
        case .range(let lo, let hi):
            IKETrafficSelector(ipProtocol: ipProtocol, startPort: startPort, endPort: endPort, startAddress: lo, endAddress: hi)
        }
    }

    public var description: String {
        let a: String
        switch addresses {
        case .dynamic: a = "dynamic"
        case .range(let lo, let hi): a = IKETrafficSelector(startAddress: lo, endAddress: hi).addressText
        }
        return ipProtocol == 0 && startPort == 0 && endPort == 65_535 ? a : "\(a)[\(ipProtocol)/\(startPort)-\(endPort)]"
    }
}

/// `mode` as written: the engine negotiates tunnel and transport; TernConfig refuses the others.
public enum ChildMode: String, Sendable, Hashable {
    case tunnel, transport, beet
    /// Shunt policies: bypass IPsec, or drop.
    case pass, drop
}

/// A `children.<name>` section: one CHILD SA configuration (defaults: strongSwan's).
public struct ChildPolicy: Sendable, Hashable {
    public var name: String
    public var localSelectors: [SelectorPolicy] = [.dynamic]
    public var remoteSelectors: [SelectorPolicy] = [.dynamic]
    /// ESP proposals; empty when only AH proposals are configured (strongSwan then proposes no ESP).
    public var proposals: [AlgorithmProposal]
    /// `esp_proposals` as written, for writing them back; empty when built in code.
    public var proposalSpec: [String] = []
    /// `ah_proposals` (not negotiated by the engine; TernConfig refuses them).
    public var ahProposals: [AlgorithmProposal] = []
    public var ahProposalSpec: [String] = []
    public var configuredMode: ChildMode = .tunnel
    public var startAction: ChildStartAction = .none
    public var dpdAction: ChildDPDAction = .clear
    public var closeAction: ChildCloseAction = .none
    /// strongSwan: rekey 1h (or life/1.1 when only life_time is set), life rekey×1.1,
    /// rand life−rekey (vici_config.c check_lifetimes); the volume limits likewise, from 0.
    public var rekeyTime: UInt64 = 3_600
    public var lifeTime: UInt64 = 3_960
    public var randTime: UInt64 = 360
    public var rekeyBytes: UInt64 = 0
    public var lifeBytes: UInt64 = 0
    public var randBytes: UInt64 = 0
    public var rekeyPackets: UInt64 = 0
    public var lifePackets: UInt64 = 0
    public var randPackets: UInt64 = 0
    /// Packets; 0 disables replay protection (charon.replay_window's default, 32).
    public var replayWindow: Int = 32
    /// 0: allocated dynamically. (A configured reqid is not honoured yet.)
    public var reqid: UInt32 = 0
    public var ipcomp = false
    /// Seconds without traffic before closing; 0 disables. (Not enforced yet.)
    public var inactivity: UInt64 = 0
    public var updown: String?
    public var hostaccess = false
    public var policies = true

    public init(name: String, localSelectors: [SelectorPolicy] = [.dynamic], remoteSelectors: [SelectorPolicy] = [.dynamic],
                proposals: [AlgorithmProposal]) {
        self.name = name; self.localSelectors = localSelectors; self.remoteSelectors = remoteSelectors
        self.proposals = proposals
    }

    /// The mode the engine negotiates: transport, or tunnel for everything else.
    public var mode: IPSecMode {
        get { configuredMode == .transport ? .transport : .tunnel }
        set { configuredMode = newValue == .transport ? .transport : .tunnel }
    }
}

/// A pre-shared key and the identities it belongs to (swanctl `secrets { ike-x { id-a, id-b, secret } }`).
public struct SharedKey: Sendable, CustomStringConvertible {
    public var owners: [Identity]
    public var secret: [UInt8]
    public init(owners: [Identity], secret: [UInt8]) { self.owners = owners; self.secret = secret }
    public var description: String { "shared key for \(owners.map(\.description).joined(separator: ", "))" }
}

/// Everything the engine is configured with: connections and credentials. Replaced as a whole
/// on reload; running IKE SAs keep the policy they were negotiated with.
public struct EngineConfiguration: Sendable {
    public var connections: [ConnectionPolicy]
    public var sharedKeys: [SharedKey]
    public var credentials = CredentialSet()
    /// Virtual-IP pools (swanctl `pools`, VICI load-pool), which connections name in `pools`.
    public var pools: [AddressPoolConfig] = []
    public var retransmission = RetransmissionPolicy()
    /// Half-open IKE SAs before cookies are required (RFC 7296 §2.6); strongSwan's cookie_threshold.
    public var cookieThreshold = 30
    /// Half-open IKE SAs one peer address may hold; further IKE_SA_INITs from it are dropped
    /// until some finish or time out (only initiators that returned a cookie get that far, so
    /// the peer retransmits and gets in); strongSwan's block_threshold.
    public var perSourceHalfOpenLimit = 5
    /// Half-open IKE SAs one address may hold before it must return a cookie (strongSwan asks
    /// per address at 3 too), so spoofing a peer's address cannot lock the peer out.
    public var perSourceCookieThreshold = 3
    /// Half-open IKE SAs in all before the oldest is evicted for a new one (strongSwan's
    /// init_limit_half_open, there off by default); 0: no ceiling.
    public var halfOpenLimit = 10_000
    /// Cookie answers per second at most from the engine; 0: no cap (the default: a cookie
    /// answer is smaller than the request it answers, so it amplifies nothing, and a cap below
    /// what the engine can answer only delays legitimate first requests).
    public var cookieRateLimit = 0
    /// `initiate` on a connection with an established IKE SA adds a CHILD SA to it (strongSwan's
    /// reuse_ikesa = yes); false makes every initiate negotiate a new IKE SA.
    public var reuseIKESA = true
    /// RFC 7427 signature authentication: announce SIGNATURE_HASH_ALGORITHMS and sign with it when
    /// the peer does too (strongSwan's signature_authentication); false: the classic RSA/ECDSA methods.
    public var signatureAuthentication = true
    /// Seconds a half-open SA may wait for IKE_AUTH (strongSwan's half_open_timeout).
    public var halfOpenTimeout: UInt64 = 30
    /// NAT keepalive interval (strongSwan's keep_alive).
    public var natKeepalive: UInt64 = 20
    /// IKE messages larger than this are fragmented (RFC 7383) when the peer supports it;
    /// strongSwan's charon.fragment_size. Applied to connections loaded from swanctl.conf.
    public var fragmentSize = 1280
    /// A lookup (DNS, route, CRL file) that has not answered by then fails what waits for it.
    public var lookupTimeout = 30.0
    /// Our IKE port and our NAT-T port (ternd's --ike-port/--udp-port): after NAT detection an
    /// IKE SA floats from the first to the second (RFC 3948), and a peer on our IKE port is
    /// assumed to float to the same NAT-T port (with the defaults, 500 and 4500).
    public var ikePort: UInt16 = 500
    public var natPort: UInt16 = 4500
    public init(connections: [ConnectionPolicy] = [], sharedKeys: [SharedKey] = []) {
        self.connections = connections; self.sharedKeys = sharedKeys
    }
}

/// strongSwan's retransmission defaults: timeout 4 s, base 1.8, 5 tries.
public struct RetransmissionPolicy: Sendable, Hashable {
    public var timeout: Double = 4.0
    public var base: Double = 1.8
    public var tries: Int = 5
    public init(timeout: Double = 4.0, base: Double = 1.8, tries: Int = 5) {
        self.timeout = timeout; self.base = base; self.tries = tries
    }
    /// Seconds to wait after the n-th send (0 = the first transmission).
    func delay(afterSend n: Int) -> Double { timeout * pow(base, n) }
}

@inline(__always) func pow(_ b: Double, _ e: Int) -> Double {
    var r = 1.0
    for _ in 0..<max(0, e) { r *= b }
    return r
}
