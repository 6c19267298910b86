import TernDataPlane
import TernWire

// Trap policies (start_action / dpd_action / close_action = trap, VICI install/uninstall) and
// the acquires the data plane raises for them.

extension IKEEndpoint {
    struct Trap: Hashable { var connection: String; var child: String }
    /// An acquire for a reqid already being negotiated is ignored for this long.
    static let acquireHoldoff = 30.0

    func isTrap(reqid: UInt32) -> Bool { traps[reqid] != nil }

    func trapReqid(connection: String, child: String) -> UInt32? {
        traps.first { $0.value == Trap(connection: connection, child: child) }?.key
    }

    /// A CHILD SA with this reqid is up (or failed): is there a trap or acquire waiting on it?
    func acquireCompleted(reqid: UInt32) -> Bool {
        acquiring.removeValue(forKey: reqid) != nil || traps[reqid] != nil
    }

    /// Installs trap policies for every child with start_action = trap that has none yet.
    func installTraps(now: MonotonicInstant, _ out: inout [IKEAction]) {
        for c in configuration.connections {
            for child in c.children where child.startAction.traps && trapReqid(connection: c.name, child: child.name) == nil {
                installTrap(connection: c, child: child, reqid: allocateReqid(), now: now, &out)
            }
        }
    }

    /// Makes `reqid` a trap for the child (dpd_action/close_action = trap reuse the CHILD SA's reqid).
    func installTrap(connection c: ConnectionPolicy, child: ChildPolicy, reqid: UInt32, now: MonotonicInstant = 0,
                     sourceAddress: IPAddress? = nil, _ out: inout [IKEAction]) {
        // The trap counts as installed while its addresses are looked up, so it is not installed twice.
        traps[reqid] = Trap(connection: c.name, child: child.name)
        let remote: IPAddress
        switch initiationTarget(of: c, now: now) {
        case .address(let a): remote = a
        case .wait(let host):
            waitFor(.resolve(host: host), for: .trap(connection: c.name, child: child.name, reqid: reqid), now: now, &out)
            return
        case .failed(let why):
            traps[reqid] = nil
            out.append(.event(.log(.warning, "\(c.name): cannot trap child \(child.name): \(why)")))
            return
        }
        var local: IPAddress?
        for m in c.localAddresses { if case .address(let a) = m, a.family == remote.family { local = a; break } }
        guard let localAddress = local ?? sourceAddress else {
            waitFor(.sourceAddress(toward: remote), for: .trap(connection: c.name, child: child.name, reqid: reqid), now: now, &out)
            return
        }
        let policies = ChildSA.policies(localTS: child.localSelectors.map { $0.resolved(host: localAddress) },
                                        remoteTS: child.remoteSelectors.map { $0.resolved(host: remote) }, mode: child.mode,
                                        local: localAddress, remote: remote, reqid: reqid, acquire: true)
        out.append(.installPolicies(reqid: reqid, policies))
        out.append(.event(.log(.info, "\(c.name): trap policy for child \(child.name) installed (reqid \(reqid))")))
    }

    /// An installed trap policy, as VICI `list-policies` reports it.
    public struct TrapInfo: Sendable, Hashable {
        public var reqid: UInt32
        public var connection: String
        public var child: String
        public init(reqid: UInt32, connection: String, child: String) { self.reqid = reqid; self.connection = connection; self.child = child }
    }

    /// Every installed trap, by reqid.
    public var installedTraps: [TrapInfo] {
        traps.sorted { $0.key < $1.key }.map { TrapInfo(reqid: $0.key, connection: $0.value.connection, child: $0.value.child) }
    }

    /// VICI `install`: a trap policy for `child` (of `connection`, or of the first connection
    /// that has such a child). Installing a child that is already trapped is an error, as in charon.
    public func installTrap(child: String, connection: String? = nil, now: MonotonicInstant) throws(IKECommandError) -> [IKEAction] {
        guard let c = configuration.connections.first(where: { (connection == nil || $0.name == connection) && $0.children.contains { $0.name == child } }),
              let cp = c.children.first(where: { $0.name == child }) else {
            throw IKECommandError("no CHILD_SA config named '\(child)'\(connection.map { " in '\($0)'" } ?? "")")
        }
        if trapReqid(connection: c.name, child: child) != nil { throw IKECommandError("CHILD_SA '\(child)' is already installed") }
        var out: [IKEAction] = []
        installTrap(connection: c, child: cp, reqid: allocateReqid(), now: now, &out)
        if trapReqid(connection: c.name, child: child) == nil { throw IKECommandError("installing policy '\(child)' failed") }
        return countSent(out)
    }

    /// VICI `uninstall`: removes the trap for `child`. Policies of a CHILD SA negotiated under
    /// the trap's reqid stay with that SA.
    public func uninstallTrap(child: String, connection: String? = nil) throws(IKECommandError) -> [IKEAction] {
        guard let (reqid, _) = traps.first(where: { $0.value.child == child && (connection == nil || $0.value.connection == connection) }) else {
            throw IKECommandError("policy '\(child)' not found")
        }
        traps[reqid] = nil
        acquiring[reqid] = nil
        var out: [IKEAction] = [.releaseHeld(reqid: reqid, send: false)]
        let saUses = sessions.values.contains { s in s.state != .dead && s.children.contains { $0.reqid == reqid } }
        if !saUses { out.append(.removePolicies(reqid: reqid)) }
        return countSent(out)
    }

    /// The data plane saw a packet for a trap policy without an SA: negotiate it.
    public func acquire(reqid: UInt32, now: MonotonicInstant) -> [IKEAction] {
        var out: [IKEAction] = []
        defer { rescheduleTouched() }
        guard let trap = traps[reqid], let c = configuration.connections.first(where: { $0.name == trap.connection }) else { return countSent(out) }
        if let t = acquiring[reqid], now.seconds(since: t) < Self.acquireHoldoff { return countSent(out) }
        if sessions.values.contains(where: { s in s.children.contains { $0.reqid == reqid && $0.state != .deleting } }) { return countSent(out) }
        acquiring[reqid] = now
        out.append(.event(.log(.info, "acquire for \(trap.connection)/\(trap.child) (reqid \(reqid))")))
        if let s = sessions.values.first(where: { $0.policy.name == c.name && $0.isEstablished && $0.successor == nil }) {
            s.enqueue(.createChild(trap.child), now: now, &out)
        } else {
            initiate(InitiationRequest(connection: c.name, children: [trap.child], attempt: 1), now: now, &out)
        }
        return countSent(out)
    }

    /// An IKE SA failed before these children came up: drop what their traps held.
    func acquiresFailed(connection: String, children: [String], _ out: inout [IKEAction]) {
        for child in children {
            if let r = trapReqid(connection: connection, child: child), acquiring.removeValue(forKey: r) != nil {
                out.append(.releaseHeld(reqid: r, send: false))
            }
        }
    }
}
