import TernCrypto
import TernDataPlane
import TernPKI
import TernWire

/// A UDP endpoint (address and port) of an IKE exchange.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16
    public init(_ address: IPAddress, _ port: UInt16) { self.address = address; self.port = port }
    public var description: String { address.family == .v6 ? "[\(address)]:\(port)" : "\(address):\(port)" }
}

/// Identifies a CHILD SA pair across the engine and the daemon: the reqid ties its policies
/// to whichever of its SAs is current; the SPIs name the SAs.
public struct ChildSAHandle: Sendable, Hashable, CustomStringConvertible {
    public var reqid: UInt32
    public var inboundSPI: UInt32
    public var outboundSPI: UInt32
    public var description: String {
        "reqid \(reqid) spi in 0x\(String(inboundSPI, radix: 16)) out 0x\(String(outboundSPI, radix: 16))"
    }
}

/// What the engine asks the I/O layer to do. Carried out in order.
public enum IKEAction: Sendable {
    /// Send an IKE datagram. On port 4500 the I/O layer prepends the non-ESP marker.
    case send(datagram: [UInt8], from: SocketAddress, to: SocketAddress)
    /// Send a NAT keepalive (a single 0xFF byte, RFC 3948 §2.3) from port 4500.
    case sendKeepalive(from: SocketAddress, to: SocketAddress)
    /// Install one SA into the data plane (inbound SAs of a new CHILD SA come before outbound).
    case installSA(SAConfig)
    /// Move an installed SA to new endpoints (NAT mapping change), keeping its sequence numbers,
    /// replay window and counters.
    case updateSA(old: SAKey, new: SAConfig)
    /// Remove an SA (after a rekey or delete).
    case removeSA(SAKey)
    /// Install or replace the policies that belong to a reqid (a CHILD SA and its rekeyed successors).
    case installPolicies(reqid: UInt32, [PolicyConfig])
    case removePolicies(reqid: UInt32)
    /// Packets a trap policy held for `reqid` (acquire): send them now that the CHILD SA is
    /// installed, or drop them because the negotiation failed.
    case releaseHeld(reqid: UInt32, send: Bool)
    /// Something an operator wants to know (log line, VICI event).
    case event(IKEEvent)
    /// Test-only key log (never emitted unless the engine was built with a key log sink enabled).
    case keyLog(IKEKeyLogEntry)
    /// Client: the gateway assigned us this virtual IP (with these DNS servers): put it on the
    /// tunnel interface so tunnelled traffic leaves from it. Emitted once per address however
    /// many IKE SAs hold it (a reauthentication keeps it).
    case addVirtualIP(IPAddress, dns: [IPAddress], connection: String)
    /// The last IKE SA holding this virtual IP went: remove it (and its DNS servers).
    case removeVirtualIP(IPAddress)
    /// Work that waits (DNS, the routing table, a file): carry it out off the engine's queue and
    /// answer with `IKEEndpoint.complete(lookup:result:now:)`. The engine parks whatever needs the
    /// answer (an initiation, a trap, an IKE_SA_INIT, an IKE_AUTH) and keeps serving every other SA.
    case lookup(id: UInt64, IKELookup)
}

/// What the engine cannot find out without waiting.
public enum IKELookup: Sendable, Hashable, CustomStringConvertible {
    /// The addresses of a host name in local_addrs/remote_addrs.
    case resolve(host: String)
    /// The local address the routing table would use toward a peer.
    case sourceAddress(toward: IPAddress)
    /// The CRLs a distribution point or an authority's `crl_uris` entry names.
    case fetchCRL(uri: String)

    public var description: String {
        switch self {
        case .resolve(let h): "name lookup of '\(h)'"
        case .sourceAddress(let a): "source address toward \(a)"
        case .fetchCRL(let u): "CRL fetch of \(u)"
        }
    }
}

/// The answer to an `IKELookup`.
public enum IKELookupResult: Sendable {
    /// `.resolve`: the name's addresses (empty: it has none).
    case addresses([IPAddress])
    /// `.sourceAddress`: nil when no route reaches the peer.
    case sourceAddress(IPAddress?)
    /// `.fetchCRL`: nil when the URI cannot be fetched.
    case crls([CRL]?)
    /// The lookup failed; the reason ends up in the log line of whatever waited for it.
    case failed(String)
}

public enum IKEEvent: Sendable, CustomStringConvertible {
    case ikeEstablished(IKESAInfo)
    case ikeFailed(connection: String, reason: String)
    case ikeDeleted(IKESAInfo, reason: String)
    case ikeRekeyed(old: IKESAInfo, new: IKESAInfo)
    case childEstablished(IKESAInfo, ChildSAInfo)
    case childFailed(connection: String, child: String, reason: String)
    case childDeleted(IKESAInfo, ChildSAInfo, reason: String)
    case childRekeyed(IKESAInfo, old: ChildSAInfo, new: ChildSAInfo)
    case peerAddressChanged(IKESAInfo, from: SocketAddress, to: SocketAddress)
    /// The peer stopped answering (DPD or retransmissions gave up); the IKE SA is deleted next.
    case peerDead(IKESAInfo, reason: String)
    /// A tagged `initiate` finished: its CHILD SA (or IKE SA) is up (failure nil), or why not.
    case initiationFinished(tag: UInt64, failure: String?)
    case log(LogLevel, String)

    public enum LogLevel: Int, Sendable, Comparable {
        case debug, info, notice, warning, error
        public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
    }

    public var description: String {
        switch self {
        case .ikeEstablished(let i): "IKE_SA \(i.connection)[\(i.uniqueID)] established between \(i.local)[\(i.localIdentity)]...\(i.remote)[\(i.remoteIdentity)]"
        case .ikeFailed(let c, let r): "IKE_SA \(c) failed: \(r)"
        case .ikeDeleted(let i, let r): "IKE_SA \(i.connection)[\(i.uniqueID)] deleted: \(r)"
        case .ikeRekeyed(let o, let n): "IKE_SA \(o.connection)[\(o.uniqueID)] rekeyed to [\(n.uniqueID)]"
        case .childEstablished(let i, let c): "CHILD_SA \(c.name){\(c.uniqueID)} established with SPIs \(c.inboundSPIHex)_i \(c.outboundSPIHex)_o and TS \(c.localTS) === \(c.remoteTS) (IKE_SA \(i.connection)[\(i.uniqueID)])"
        case .childFailed(let c, let ch, let r):
            // A responder that matched none of its children has no name to give.
            ch.isEmpty ? "CHILD_SA of \(c) refused: \(r)" : "CHILD_SA \(ch) of \(c) failed: \(r)"
        case .childDeleted(_, let c, let r): "CHILD_SA \(c.name){\(c.uniqueID)} deleted: \(r)"
        case .childRekeyed(_, let o, let n): "CHILD_SA \(o.name){\(o.uniqueID)} rekeyed to {\(n.uniqueID)} with SPIs \(n.inboundSPIHex)_i \(n.outboundSPIHex)_o"
        case .peerAddressChanged(let i, let f, let t): "IKE_SA \(i.connection)[\(i.uniqueID)]: peer moved from \(f) to \(t)"
        case .peerDead(let i, let r): "IKE_SA \(i.connection)[\(i.uniqueID)]: peer \(i.remote) is dead: \(r)"
        case .initiationFinished(let tag, let failure): "initiation #\(tag) \(failure.map { "failed: \($0)" } ?? "succeeded")"
        case .log(_, let s): s
        }
    }
}

/// An IKE SA's state, spelled as charon's list-sas spells it.
public enum IKESAState: String, Sendable, Hashable {
    case connecting = "CONNECTING"       // IKE_SA_INIT/IKE_AUTH in progress
    case established = "ESTABLISHED"
    case rekeying = "REKEYING"           // we are rekeying this IKE SA
    case rekeyed = "REKEYED"             // replaced by a new IKE SA, waiting for the delete
    case deleting = "DELETING"
    case dead = "DESTROYING"
}

/// A CHILD SA's state, as charon spells it.
public enum ChildSAState: String, Sendable, Hashable {
    case installed = "INSTALLED", rekeying = "REKEYING", rekeyed = "REKEYED", deleting = "DELETING"
}

/// A read-only description of an IKE SA for events and listings (VICI list-sas).
public struct IKESAInfo: Sendable, Hashable {
    public var uniqueID: UInt32
    public var connection: String
    public var state: IKESAState
    public var isInitiator: Bool
    public var initiatorSPI: UInt64
    public var responderSPI: UInt64
    public var local: SocketAddress
    public var remote: SocketAddress
    public var localIdentity: String
    public var remoteIdentity: String
    public var encryption: String
    public var encryptionKeySize: Int?
    public var integrity: String?
    public var prf: String
    public var keyExchange: String
    public var natLocal: Bool
    public var natRemote: Bool
    public var natForced: Bool
    public var established: Double?      // seconds since established (filled by listings)
    public var rekeyIn: Double?
    public var reauthIn: Double?
    public var children: [ChildSAInfo]
    /// Virtual IPs the peer assigned us, and those we assigned the peer (list-sas local-vips/remote-vips).
    public var localVirtualIPs: [IPAddress] = []
    public var remoteVirtualIPs: [IPAddress] = []
    /// The identity the peer proved with EAP (list-sas remote-eap-id).
    public var remoteEAPIdentity: String?
}

public struct ChildSAInfo: Sendable, Hashable {
    public var uniqueID: UInt32
    public var name: String
    public var state: ChildSAState
    public var reqid: UInt32
    public var mode: String
    public var protocolName: String
    public var encapsulated: Bool
    public var inboundSPI: UInt32
    public var outboundSPI: UInt32
    public var encryption: String
    public var encryptionKeySize: Int?
    public var integrity: String?
    public var keyExchange: String?
    public var esn: Bool
    public var localTS: [String]
    public var remoteTS: [String]
    public var installedAgo: Double?
    public var rekeyIn: Double?
    public var lifeIn: Double?
    public var inboundSPIHex: String { String(inboundSPI, radix: 16).leftPadded(8) }
    public var outboundSPIHex: String { String(outboundSPI, radix: 16).leftPadded(8) }
}

/// Keys of one IKE SA in the form Wireshark's IKEv2 decryption table wants. Only produced when
/// the engine's `keyLogEnabled` is set, which ternd does only for `--ike-keylog FILE` (test use).
public struct IKEKeyLogEntry: Sendable {
    public var initiatorSPI: UInt64
    public var responderSPI: UInt64
    public var skEi: [UInt8]
    public var skEr: [UInt8]
    public var skAi: [UInt8]
    public var skAr: [UInt8]
    public var encryption: EncryptionAlgorithm
    public var integrity: IntegrityAlgorithm
}
