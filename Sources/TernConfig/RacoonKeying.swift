import TernCrypto
import TernDataPlane
import TernIKE
import TernWire

/// racoon's way of keying, with IKEv2: `ternd --setkey POLICIES --psk-file psk.txt`. Every
/// outbound `ipsec esp/…/require` (or `unique`) policy that no manual SA serves becomes a trap
/// connection: the first packet it matches is held, ternd negotiates with the policy's tunnel
/// endpoint (transport mode: the packet's destination), authenticated with psk.txt's secret for
/// that peer, and the CHILD SA gets exactly the policy's selectors.
///
///   spdadd 10.1.0.0/16 10.2.0.0/16 any -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;
///     → connection setkey-192.0.2.2: local 192.0.2.1, remote 192.0.2.2, ids the addresses, psk,
///       strongSwan's default proposals; child setkey-192.0.2.2-1: 10.1.0.0/16 === 10.2.0.0/16, trap
///       (every further policy toward that gateway adds a child)
///
/// The inbound (and fwd) policies of the same traffic are what the CHILD SA installs, so they
/// are taken over too: the engine installs both directions when the SA is up. Policies IKE takes
/// over leave the static (setkey) database. The responder side of a negotiation finds its
/// connection by the same rules on its own mirrored policies.
public enum RacoonKeying {
    public struct Result: Sendable {
        public var connections: [ConnectionPolicy] = []
        public var sharedKeys: [SharedKey] = []
        /// The policies IKE now installs (to leave out of the static database).
        public var keyedPolicies: Set<PolicySelector> = []
        public var warnings: [ConfigWarning] = []
    }

    /// - Parameters:
    ///   - statements: every setkey file's statements, in order (for file:line in messages).
    ///   - database: what they built (policies after spddelete/spdflush, manual SAs).
    public static func connections(statements: [SetkeyStatement], database: SecurityDatabaseConfig,
                                   psk: RacoonPSKFile) throws(ConfigError) -> Result {
        var out = Result()
        var locations: [PolicySelector: SourceLocation] = [:]
        for s in statements { if case .spdAdd(let p) = s.command { locations[p.selector] = s.location } }
        let proposals: [AlgorithmProposal]
        let espProposals: [AlgorithmProposal]
        do {
            proposals = try ProposalParser.parse(list: ["default"], for: .ike)
            espProposals = try ProposalParser.parse(list: ["default"], for: .esp)
        } catch {
            throw ConfigError(location: SourceLocation(file: "ternd", line: 0, column: 0), message: "default proposals: \(error.message)")
        }
        var perPeer: [IPAddress: Int] = [:]
        var keyed: Set<IPAddress> = []
        for p in database.policies where p.direction == .outbound {
            guard case .protect(let rules) = p.action, let rule = rules.first else { continue }
            let at = locations[p.selector] ?? SourceLocation(file: "setkey", line: 0, column: 0)
            let negotiates: Bool
            switch rule.level {
            case .require, .unique: negotiates = true
            case .use, .default: negotiates = false
            }
            guard negotiates else { continue }
            let (local, remote): (IPAddress, IPAddress)
            if rule.mode == .tunnel {
                guard let s = rule.tunnelSource, let d = rule.tunnelDestination else { continue }
                (local, remote) = (s, d)
            } else {
                guard p.source.isHost, p.destination.isHost else {
                    throw ConfigError(location: at, message: "a transport-mode policy negotiated by IKE must select one host on each side, not \(p.source) -> \(p.destination)",
                                      hint: "write host addresses (/32 or /128), or use tunnel mode with the gateways' addresses")
                }
                (local, remote) = (p.source.address, p.destination.address)
            }
            // A manual SA for this traffic keys it already (setkey's `add`): leave it to setkey.
            if database.associations.contains(where: { $0.destination == remote && $0.source == local && $0.proto == rule.proto }) {
                continue
            }
            guard rule.proto == .esp else {
                throw ConfigError(location: at, message: "\(rule) asks IKE for an AH SA; ternd negotiates ESP only",
                                  hint: "use esp/…/require (ESP with integrity), or key AH by hand with `add … ah`")
            }
            guard rules.count == 1 else {
                throw ConfigError(location: at, message: "a bundle of \(rules.count) rules cannot be negotiated by IKE",
                                  hint: "use one esp rule per policy")
            }
            // One connection (IKE SA) per pair of gateways, one child per policy: a responder
            // picks its connection by the peers' identities and then the child by selectors.
            perPeer[remote, default: 0] += 1
            var child = ChildPolicy(name: "setkey-\(remote)-\(perPeer[remote]!)",
                                    localSelectors: [selector(p.source, p.sourcePorts, p.upperProtocol)],
                                    remoteSelectors: [selector(p.destination, p.destinationPorts, p.upperProtocol)],
                                    proposals: espProposals)
            child.proposalSpec = ["default"]
            child.mode = rule.mode
            child.startAction = .trap
            if let i = out.connections.firstIndex(where: { $0.localAddresses == [.address(local)] && $0.remoteAddresses == [.address(remote)] }) {
                out.connections[i].children.append(child)
            } else {
                var c = ConnectionPolicy(name: "setkey-\(remote)", localAddresses: [.address(local)],
                                         remoteAddresses: [.address(remote)], proposals: proposals, children: [child])
                c.proposalSpec = ["default"]
                c.local = [AuthRound(auth: "psk", id: identity(local))]
                c.remote = [AuthRound(auth: "psk", id: identity(remote))]
                out.connections.append(c)
            }
            out.keyedPolicies.insert(p.selector)
            // The same traffic's other directions: the CHILD SA installs them.
            for dir in [PolicyDirection.inbound, .forward] {
                let back = PolicySelector(source: p.destination, destination: p.source, sourcePorts: p.destinationPorts,
                                          destinationPorts: p.sourcePorts, upperProtocol: p.upperProtocol, direction: dir)
                if database.policies.contains(where: { $0.selector == back }) { out.keyedPolicies.insert(back) }
            }
            if keyed.insert(remote).inserted {
                if let secret = psk.secret(forAddress: remote) {
                    out.sharedKeys.append(SharedKey(owners: [identity(local), identity(remote)], secret: secret))
                } else {
                    out.warnings.append(ConfigWarning(location: at, message: "the pre-shared key file has no line for \(remote): negotiations with it will fail"))
                }
            }
        }
        // Lines naming identities (FQDN, user@FQDN): a responder matches them by the peer's ID.
        for e in psk.entries {
            switch e.peer {
            case .address: continue
            case .fqdn(let s): out.sharedKeys.append(SharedKey(owners: [.fqdn(s)], secret: e.secret))
            case .userFQDN(let s): out.sharedKeys.append(SharedKey(owners: [.rfc822(s)], secret: e.secret))
            }
        }
        return out
    }

    static func identity(_ a: IPAddress) -> Identity { a.family == .v4 ? .ipv4(a) : .ipv6(a) }

    static func selector(_ prefix: IPPrefix, _ ports: PortRange?, _ proto: UInt8?) -> SelectorPolicy {
        SelectorPolicy(prefix: prefix, ipProtocol: proto ?? 0, startPort: ports?.lower ?? 0, endPort: ports?.upper ?? 65_535)
    }
}
