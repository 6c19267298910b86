import TernDataPlane
import TernIKE
import TernWire

/// A parsed swanctl.conf. Connections are the engine's own `ConnectionPolicy` values, with
/// strongSwan's defaults (5.9.x, src/swanctl/swanctl.opt and the VICI backend that applies
/// them, src/libcharon/plugins/vici/vici_config.c) for every key not written; where each was
/// written is in `sources`, so validation can name file and line.
public struct SwanctlConfiguration: Sendable {
    public var connections: [ConnectionPolicy]
    /// By connection name (swanctl merges sections of the same name, so names are unique).
    public var sources: [String: SwanctlSource]
    public var secrets: [SecretConfig]
    public var pools: [PoolConfig]
    /// `authorities { }` sections, unparsed (CA certificates and CRL/OCSP URIs).
    public var authorities: [SwanctlSection]
    public var warnings: [ConfigWarning]

    public init(connections: [ConnectionPolicy] = [], sources: [String: SwanctlSource] = [:], secrets: [SecretConfig] = [],
                pools: [PoolConfig] = [], authorities: [SwanctlSection] = [], warnings: [ConfigWarning] = []) {
        self.connections = connections; self.sources = sources; self.secrets = secrets; self.pools = pools
        self.authorities = authorities; self.warnings = warnings
    }

    /// Where connection `name` was written (its section's location for every part when the
    /// table has no entry, e.g. for a connection added in code).
    public func source(of connection: ConnectionPolicy) -> SwanctlSource {
        sources[connection.name] ?? SwanctlSource(location: SourceLocation(file: "<\(connection.name)>", line: 0, column: 0))
    }
}

/// Where a connection's sections were written, the side table beside a `ConnectionPolicy`, and
/// what was read but cannot run here.
public struct SwanctlSource: Sendable, Hashable {
    /// The `connections.<name>` section.
    public var location: SourceLocation
    /// The `local…`/`remote…` sections, in the policy's round order (the connection's location
    /// for a default round).
    public var local: [SourceLocation]
    public var remote: [SourceLocation]
    /// `children.<name>` sections by child name.
    public var children: [String: SourceLocation]
    /// Proposals and identities Tern cannot parse (strongSwan may: `aes256ctr`), left out of the
    /// policy and refused by `SwanctlAdmission` in its order, so that such a file still reads
    /// (`tern import` notes it; ternd refuses it).
    public var proposalsRefusal: ConfigError?
    public var identityRefusal: ConfigError?
    /// `esp_proposals` by child name.
    public var childProposalsRefusals: [String: ConfigError] = [:]

    public init(location: SourceLocation, local: [SourceLocation] = [], remote: [SourceLocation] = [],
                children: [String: SourceLocation] = [:]) {
        self.location = location; self.local = local; self.remote = remote; self.children = children
    }

    public func local(_ round: Int) -> SourceLocation { local.indices.contains(round) ? local[round] : location }
    public func remote(_ round: Int) -> SourceLocation { remote.indices.contains(round) ? remote[round] : location }
    public func child(_ name: String) -> SourceLocation { children[name] ?? location }
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
