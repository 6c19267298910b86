import TernWire
import TernCrypto

/// The configuration model shared by setkey (manual keying), the IKE engine and the data
/// plane: what an SA and a policy *are*, independent of how they are processed.

public enum IPSecProtocol: UInt8, Sendable, Hashable, CustomStringConvertible {
    case esp = 50
    case ah = 51
    public var description: String { self == .esp ? "esp" : "ah" }
}

public enum IPSecMode: Sendable, Hashable, CustomStringConvertible {
    case transport, tunnel
    /// setkey's default for SAs (`-m any`): the SA serves whichever mode the policy asks for.
    case any
    public var description: String {
        switch self { case .transport: "transport"; case .tunnel: "tunnel"; case .any: "any" }
    }
}

/// ESP-in-UDP (RFC 3948) ports, or none for raw ESP/AH.
public enum Encapsulation: Sendable, Hashable {
    case none
    case udp(sourcePort: UInt16, destinationPort: UInt16)
}

/// Key bytes that never print themselves.
public struct KeyMaterial: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var count: Int { bytes.count }
    public var description: String { "<\(bytes.count) key bytes>" }
    public var debugDescription: String { description }
}

/// Identifies an SA in the SAD: RFC 4301 §4.4.2 lets the SPI alone select an SA for unicast,
/// but setkey and the kernel key it by (destination, protocol, SPI); so do we.
public struct SAKey: Sendable, Hashable, CustomStringConvertible {
    public var destination: IPAddress
    public var proto: IPSecProtocol
    public var spi: UInt32
    public init(destination: IPAddress, proto: IPSecProtocol, spi: UInt32) {
        self.destination = destination; self.proto = proto; self.spi = spi
    }
    public var description: String { "\(proto) spi 0x\(String(spi, radix: 16)) dst \(destination)" }
}

/// A security association as configured (manually or by IKE).
public struct SAConfig: Sendable, Hashable {
    public var source: IPAddress
    public var destination: IPAddress
    public var proto: IPSecProtocol
    public var spi: UInt32
    public var mode: IPSecMode
    public var encapsulation: Encapsulation
    /// setkey `-u`: ties the SA to policies that name `unique:reqid`. 0 = none.
    public var reqid: UInt32
    /// Anti-replay window in packets; 0 disables replay protection (RFC 4303 §3.4.3 allows it for manual SAs).
    public var replayWindow: Int
    /// 64-bit extended sequence numbers (RFC 4303 §2.2.1).
    public var extendedSequenceNumbers: Bool
    public var encryption: EncryptionAlgorithm
    public var encryptionKey: KeyMaterial
    public var integrity: IntegrityAlgorithm
    public var integrityKey: KeyMaterial
    /// Hard/soft lifetimes (0 = unlimited).
    public var hardLifetimeSeconds: UInt64
    public var softLifetimeSeconds: UInt64
    public var hardLifetimeBytes: UInt64
    public var softLifetimeBytes: UInt64

    public init(source: IPAddress, destination: IPAddress, proto: IPSecProtocol, spi: UInt32,
                mode: IPSecMode = .any, encapsulation: Encapsulation = .none, reqid: UInt32 = 0,
                replayWindow: Int = 128, extendedSequenceNumbers: Bool = false,
                encryption: EncryptionAlgorithm = .null, encryptionKey: KeyMaterial = KeyMaterial([]),
                integrity: IntegrityAlgorithm = .none, integrityKey: KeyMaterial = KeyMaterial([]),
                hardLifetimeSeconds: UInt64 = 0, softLifetimeSeconds: UInt64 = 0,
                hardLifetimeBytes: UInt64 = 0, softLifetimeBytes: UInt64 = 0) {
        self.source = source; self.destination = destination; self.proto = proto; self.spi = spi
        self.mode = mode; self.encapsulation = encapsulation; self.reqid = reqid
        self.replayWindow = replayWindow; self.extendedSequenceNumbers = extendedSequenceNumbers
        self.encryption = encryption; self.encryptionKey = encryptionKey
        self.integrity = integrity; self.integrityKey = integrityKey
        self.hardLifetimeSeconds = hardLifetimeSeconds; self.softLifetimeSeconds = softLifetimeSeconds
        self.hardLifetimeBytes = hardLifetimeBytes; self.softLifetimeBytes = softLifetimeBytes
    }

    public var key: SAKey { SAKey(destination: destination, proto: proto, spi: spi) }

    /// Largest replay window we accept (a 4096-packet bitmap is 64 words).
    public static let maximumReplayWindow = 4096
}

public enum PolicyDirection: String, Sendable, Hashable {
    case inbound = "in", outbound = "out", forward = "fwd"
}

/// setkey's level of an IPsec rule (RFC 2367 / KAME): `use` falls back to cleartext when no SA
/// exists, `require` drops, `unique` additionally binds the SA by reqid.
public enum IPSecLevel: Sendable, Hashable, CustomStringConvertible {
    case `default`, use, require
    case unique(reqid: UInt32)
    public var description: String {
        switch self {
        case .default: "default"
        case .use: "use"
        case .require: "require"
        case .unique(let id): id == 0 ? "unique" : "unique:\(id)"
        }
    }
}

/// One transform of a policy's bundle: `esp/tunnel/192.0.2.1-192.0.2.2/require`.
public struct IPSecRule: Sendable, Hashable, CustomStringConvertible {
    public var proto: IPSecProtocol
    public var mode: IPSecMode            // .transport or .tunnel
    public var tunnelSource: IPAddress?   // tunnel endpoints; nil in transport mode
    public var tunnelDestination: IPAddress?
    public var level: IPSecLevel
    public init(proto: IPSecProtocol, mode: IPSecMode, tunnelSource: IPAddress? = nil,
                tunnelDestination: IPAddress? = nil, level: IPSecLevel = .require) {
        self.proto = proto; self.mode = mode; self.tunnelSource = tunnelSource
        self.tunnelDestination = tunnelDestination; self.level = level
    }
    /// The reqid that binds this rule's SAs (`unique:reqid`), 0 for none.
    public var reqid: UInt32 {
        if case .unique(let id) = level { return id }
        return 0
    }
    public var description: String {
        let ends = tunnelSource.map { "\($0)-\(tunnelDestination.map { "\($0)" } ?? "")" } ?? ""
        return "\(proto)/\(mode)/\(ends)/\(level)"
    }
}

public enum PolicyAction: Sendable, Hashable {
    case protect([IPSecRule])   // setkey `ipsec`
    case bypass                 // setkey `none`
    case discard                // setkey `discard`
}

/// A port range selector; `nil` in a policy means any port.
public struct PortRange: Sendable, Hashable, CustomStringConvertible {
    public var lower: UInt16
    public var upper: UInt16
    public init(_ lower: UInt16, _ upper: UInt16) { self.lower = lower; self.upper = upper }
    public init(_ port: UInt16) { self.init(port, port) }
    public func contains(_ p: UInt16) -> Bool { p >= lower && p <= upper }
    public var description: String { lower == upper ? "\(lower)" : "\(lower)-\(upper)" }
}

/// An SPD entry. Lower `priority` values win (as in Linux XFRM); ties go to the earlier entry.
public struct PolicyConfig: Sendable, Hashable {
    public var source: IPPrefix
    public var destination: IPPrefix
    public var sourcePorts: PortRange?
    public var destinationPorts: PortRange?
    /// Upper-layer protocol number (6 tcp, 17 udp, 1 icmp, 58 ipv6-icmp, 4 ipencap…); nil = any.
    public var upperProtocol: UInt8?
    public var direction: PolicyDirection
    public var priority: UInt32
    public var action: PolicyAction
    /// A trap policy (swanctl `start_action = trap`, `dpd_action = trap`): an outbound packet that
    /// finds no SA for its first rule is held and the control plane is asked to negotiate one
    /// (an acquire, `HoldQueue`), instead of being dropped as `no_sa`. With an SA it behaves as
    /// any PROTECT policy. Applies to `require` and `unique` rules; `use` still bypasses.
    public var acquire: Bool

    /// ipsec-tools' default priority (`prio def`).
    public static let defaultPriority: UInt32 = 0x8000_0000

    public init(source: IPPrefix, destination: IPPrefix, sourcePorts: PortRange? = nil,
                destinationPorts: PortRange? = nil, upperProtocol: UInt8? = nil,
                direction: PolicyDirection, priority: UInt32 = PolicyConfig.defaultPriority,
                action: PolicyAction, acquire: Bool = false) {
        self.source = source; self.destination = destination
        self.sourcePorts = sourcePorts; self.destinationPorts = destinationPorts
        self.upperProtocol = upperProtocol; self.direction = direction
        self.priority = priority; self.action = action; self.acquire = acquire
    }

    /// The selector part, which `spddelete` matches on.
    public var selector: PolicySelector {
        PolicySelector(source: source, destination: destination, sourcePorts: sourcePorts,
                       destinationPorts: destinationPorts, upperProtocol: upperProtocol, direction: direction)
    }
}

public struct PolicySelector: Sendable, Hashable {
    public var source: IPPrefix
    public var destination: IPPrefix
    public var sourcePorts: PortRange?
    public var destinationPorts: PortRange?
    public var upperProtocol: UInt8?
    public var direction: PolicyDirection
    public init(source: IPPrefix, destination: IPPrefix, sourcePorts: PortRange?, destinationPorts: PortRange?,
                upperProtocol: UInt8?, direction: PolicyDirection) {
        self.source = source; self.destination = destination; self.sourcePorts = sourcePorts
        self.destinationPorts = destinationPorts; self.upperProtocol = upperProtocol; self.direction = direction
    }
}

/// The databases as configured: what setkey commands edit and what the data plane compiles.
public struct SecurityDatabaseConfig: Sendable, Hashable {
    public private(set) var associations: [SAConfig] = []
    public private(set) var policies: [PolicyConfig] = []
    public init() {}

    public enum EditError: Error, Sendable, Equatable, CustomStringConvertible {
        case duplicateSA(SAKey)
        case noSuchSA(SAKey)
        case duplicatePolicy
        case noSuchPolicy
        public var description: String {
            switch self {
            case .duplicateSA(let k): "an SA with \(k) already exists (use `delete` first, as setkey requires)"
            case .noSuchSA(let k): "no SA with \(k)"
            case .duplicatePolicy: "a policy with the same selector and direction already exists (spddelete it first)"
            case .noSuchPolicy: "no policy with that selector and direction"
            }
        }
    }

    public mutating func addSA(_ sa: SAConfig) throws(EditError) {
        guard !associations.contains(where: { $0.key == sa.key }) else { throw .duplicateSA(sa.key) }
        associations.append(sa)
    }

    public mutating func deleteSA(_ key: SAKey) throws(EditError) {
        guard let i = associations.firstIndex(where: { $0.key == key }) else { throw .noSuchSA(key) }
        associations.remove(at: i)
    }

    /// setkey `deleteall src dst proto`.
    public mutating func deleteAllSAs(source: IPAddress, destination: IPAddress, proto: IPSecProtocol) {
        associations.removeAll { $0.source == source && $0.destination == destination && $0.proto == proto }
    }

    public func sa(_ key: SAKey) -> SAConfig? { associations.first { $0.key == key } }

    /// setkey `flush [proto]`.
    public mutating func flushSAs(proto: IPSecProtocol? = nil) {
        associations.removeAll { proto == nil || $0.proto == proto }
    }

    public mutating func addPolicy(_ p: PolicyConfig) throws(EditError) {
        guard !policies.contains(where: { $0.selector == p.selector }) else { throw .duplicatePolicy }
        policies.append(p)
    }

    public mutating func deletePolicy(_ s: PolicySelector) throws(EditError) {
        guard let i = policies.firstIndex(where: { $0.selector == s }) else { throw .noSuchPolicy }
        policies.remove(at: i)
    }

    public mutating func flushPolicies() { policies.removeAll() }

    /// Appends the SAs and policies whose key or selector is not present yet (earlier entries
    /// win), in linear time: `addSA` per entry is quadratic with ten thousand IKE SAs.
    public mutating func merge(sas: [SAConfig], policies more: [PolicyConfig]) {
        var keys = Set(associations.map(\.key))
        for sa in sas where keys.insert(sa.key).inserted { associations.append(sa) }
        var selectors = Set(policies.map(\.selector))
        for p in more where selectors.insert(p.selector).inserted { policies.append(p) }
    }
}
