import Foundation
import TernWire

// What an IKE SA may ask of the endpoint that owns it, and what it reports back. A session
// never holds the endpoint itself: it sees this narrow context (IKEEndpoint implements it),
// so a task can be read, tested and fuzzed knowing exactly what it reaches: configuration
// and credentials, randomness, the numbering of SPIs, reqids and unique IDs, the lookups
// it may wait for, and the deadline heap it must mark. Everything else the endpoint does
// for a session (forget it, retry or restart a connection, trap a child, replace duplicates,
// take in a rekeyed successor) it does on an `IKESessionReport`, a value.

protocol IKESessionContext: AnyObject {
    // Read live: a configuration reload reaches running SAs (retransmission, ports, credentials).
    var configuration: EngineConfiguration { get }
    /// The calendar time certificates are checked against (an input, like `now`).
    var calendarTime: Date { get }
    var keyLogEnabled: Bool { get }
    var random: EngineRandom { get set }
    var logLimiter: LogLimiter { get set }

    // Matching and credentials.
    func connectionForAuth(current: ConnectionPolicy, local: IPAddress, remote: IPAddress, peer: Identity,
                           requestedLocal: Identity?, keys: IKESAKeying, signature: Bool) -> ConnectionPolicy?
    func sharedKey(local: Identity, remote: Identity) -> [UInt8]?
    func hasOtherSA(with c: ConnectionPolicy, excluding s: IKESession, peer: Identity?, includingConnecting: Bool) -> Bool

    // Virtual IPs (IKEEndpoint+Pools.swift).
    func leaseVirtualIP(pools: [String], family: IPAddress.Family, identity: String, requested: IPAddress?) -> (VirtualIPLease?, missing: [String])
    func releaseVirtualIP(_ lease: VirtualIPLease)
    func poolAttributes(_ name: String) -> [IKEConfigurationAttribute]
    func countVirtualIPFailure()
    func virtualIPsAcquired(_ addresses: [IPAddress], dns: [IPAddress], connection: String, _ out: inout [IKEAction])
    func virtualIPsReleased(_ addresses: [IPAddress], _ out: inout [IKEAction])

    // Numbering.
    func allocateIKESPI() -> UInt64
    func allocateChildSPI() -> UInt32
    func releaseChildSPI(_ spi: UInt32)
    func allocateReqid() -> UInt32
    func allocateUniqueID() -> UInt32

    // Trap policies and acquires.
    func trapReqid(connection: String, child: String) -> UInt32?
    func isTrap(reqid: UInt32) -> Bool
    func reqidInUse(_ reqid: UInt32) -> Bool
    /// A CHILD SA with this reqid is up (or failed): was a trap or an acquire waiting on it?
    func acquireCompleted(reqid: UInt32) -> Bool

    /// Asks for `lookup` (or joins the same one in flight); the answer comes back to `waiter`.
    func waitFor(_ lookup: IKELookup, for waiter: LookupWaiter, now: MonotonicInstant, _ out: inout [IKEAction])
    /// Marks a session whose deadline may move during this input (the deadline heap).
    func touch(_ s: IKESession)

    /// Something the endpoint acts on now, in order with the session's own actions.
    func report(_ r: IKESessionReport, now: MonotonicInstant, _ out: inout [IKEAction])
}

enum IKESessionReport {
    /// IKE_AUTH done: no longer half-open; the IKE SA it reauthenticates is deleted.
    case established(IKESession)
    /// The session is dead: forget it.
    case removed(IKESession)
    /// A new IKE SA of a connection (keyingtries, dpd_action/close_action = restart/start,
    /// reauthentication).
    case initiate(IKEEndpoint.InitiationRequest)
    /// dpd_action / close_action = trap: a trap policy for the child, under `reqid`.
    case installTrap(ConnectionPolicy, ChildPolicy, reqid: UInt32)
    /// The IKE SA failed for good before these children came up: drop what their traps held.
    case acquiresFailed(connection: String, children: [String])
    /// INITIAL_CONTACT or unique = replace: other IKE SAs with this identity go.
    case replaceDuplicates(of: IKESession, identity: Identity, initialContact: Bool)
    /// A rekey made this IKE SA (its SPI is new): the endpoint routes to it from now on.
    case successor(IKESession)
}

extension IKEEndpoint: IKESessionContext {
    func report(_ r: IKESessionReport, now: MonotonicInstant, _ out: inout [IKEAction]) {
        switch r {
        case .established(let s): sessionEstablished(s, now: now, &out)
        case .removed(let s): remove(s)
        case .initiate(let request): initiate(request, now: now, &out)
        case .installTrap(let c, let child, let reqid): installTrap(connection: c, child: child, reqid: reqid, now: now, &out)
        case .acquiresFailed(let connection, let children): acquiresFailed(connection: connection, children: children, &out)
        case .replaceDuplicates(let s, let identity, let initialContact):
            removeDuplicates(of: s, identity: identity, now: now, &out, initialContact: initialContact)
        case .successor(let s): sessions[s.localSPI] = s   // touched when made
        }
    }
}
