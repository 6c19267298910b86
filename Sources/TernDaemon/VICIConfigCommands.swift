import Foundation
import TernConfig
import TernIKE
import TernPKI
import TernVICI
import X509

/// strongSwan's configuration commands (vici_config.c, vici_cred.c's shared keys,
/// vici_attribute.c's pools): load-conn, unload-conn, get-conns, list-conns, load-shared,
/// unload-shared, get-shared, load-pool, unload-pool, get-pools, reload-settings.
extension Daemon {
    func registerConfigCommands(_ server: VICIServer, _ ike: IKEController) {
        server.register(event: "list-conn")

        server.register(command: "load-conn") { [weak self] req, _ in
            guard let self else { return Self.failure("daemon stopping") }
            // Each section is a connection named after it (swanctl sends one per message;
            // charon accepts several). All convert before any is stored, so a bad one changes nothing.
            var loaded: [VICIConfigStore.LoadedConnection] = []
            for entry in req.entries {
                guard case .section(let body) = entry.element else { continue }
                let name = entry.key
                do throws(ConfigError) {
                    loaded.append(try self.viciConnection(name: name, body: body))
                } catch {
                    return Self.failure("loading connection '\(name)' failed: \(error)")
                }
            }
            self.viciConfig.withLock {
                for c in loaded { self.viciConfig.putConnection(c) }
                ike.update(configuration: self.viciConfig.mergedUnlocked)
            }
            for c in loaded { self.cfgLog.info("vici: loaded connection '\(c.name)'") }
            return Self.success()
        }

        server.register(command: "unload-conn") { [weak self] req, _ in
            guard let self else { return Self.failure("daemon stopping") }
            guard let name = req.string("name") else { return Self.failure("missing connection name to unload") }
            let removed = self.viciConfig.withLock { () -> VICIConfigStore.LoadedConnection? in
                guard let old = self.viciConfig.removeConnection(name) else { return nil }
                ike.update(configuration: self.viciConfig.mergedUnlocked)
                return old
            }
            guard let removed else { return Self.failure("configuration name not found") }
            // As charon's clear_start_action: traps go; SAs that start_action started close;
            // SAs initiated by hand stay up.
            let started = Set(removed.policy.children.filter { $0.startAction == .start || $0.startAction == .trapAndStart }.map(\.name))
            try? ike.command { e, now throws(IKECommandError) in
                var acts: [IKEAction] = []
                for t in e.installedTraps where t.connection == name {
                    if let a = try? e.uninstallTrap(child: t.child, connection: name) { acts += a }
                }
                for sa in e.listSAs(now: now) where sa.connection == name && sa.children.contains(where: { started.contains($0.name) }) {
                    if let a = try? e.terminate(ike: nil, uniqueID: sa.uniqueID, now: now) { acts += a }
                }
                return (acts, ())
            }
            return Self.success()
        }

        server.register(command: "get-conns") { [weak self] _, _ in
            var m = VICIMessage()
            m.set("conns", list: self?.viciConfig.withLock { self?.viciConfig.connectionNames } ?? [])
            return m
        }

        server.register(command: "list-conns") { req, stream in
            let filter = req.string("ike")
            let connections = ike.queue.sync { ike.endpoint.configuration.connections }
            for c in connections where filter == nil || c.name == filter {
                var m = VICIMessage()
                m.set(c.name, section: Self.connectionSection(c))
                stream.send(event: "list-conn", m)
            }
            return VICIMessage()
        }

        server.register(command: "load-shared") { [weak self] req, _ in
            guard let self else { return Self.failure("daemon stopping") }
            guard let type = req.string("type") else { return Self.failure("shared key type missing") }
            guard let data = req.bytes("data"), !data.isEmpty else { return Self.failure("shared key data missing") }
            let ownerNames: [String]
            if req["owners"] == nil { ownerNames = [] } else {
                guard let list = req.list("owners") else { return Self.failure("owners must be a list of identities") }
                ownerNames = list
            }
            switch type.uppercased() {
            case "IKE":
                var owners: [Identity] = []
                for o in ownerNames {
                    do { owners.append(try Identity(parsing: o)) } catch { return Self.failure("owner '\(o)': \(error)") }
                }
                let id = self.viciConfig.withLock { () -> String in
                    let id = self.viciConfig.putShared(id: req.string("id"), type: "IKE", owners: ownerNames,
                                                       key: SharedKey(owners: owners, secret: data))
                    ike.update(configuration: self.viciConfig.mergedUnlocked)
                    return id
                }
                self.cfgLog.info("vici: loaded IKE shared key '\(id)' for \(ownerNames.isEmpty ? "%any" : ownerNames.joined(separator: ", "))")
                return Self.success()
            case "EAP", "XAUTH", "NTLM", "PPK":
                return Self.failure("shared key type \(type) is not supported by ternd (only IKE)")
            default:
                return Self.failure("invalid shared key type '\(type)'")
            }
        }

        server.register(command: "unload-shared") { [weak self] req, _ in
            guard let self else { return Self.failure("daemon stopping") }
            guard let id = req.string("id") else { return Self.failure("unique identifier (id) required") }
            let removed = self.viciConfig.withLock { () -> Bool in
                guard self.viciConfig.removeShared(id) else { return false }
                ike.update(configuration: self.viciConfig.mergedUnlocked)
                return true
            }
            return removed ? Self.success() : Self.failure("shared key '\(id)' not found")
        }

        server.register(command: "get-shared") { [weak self] _, _ in
            var m = VICIMessage()
            m.set("keys", list: self?.viciConfig.sharedIDs ?? [])
            return m
        }

        server.register(command: "load-pool") { [weak self] req, _ in
            guard let self else { return Self.failure("daemon stopping") }
            // Each section is a pool named after it; all are checked before any is stored.
            var pools: [AddressPoolConfig] = []
            for e in req.entries {
                guard case .section(let body) = e.element else { continue }
                guard body.string("addrs") != nil else { return Self.failure("missing addrs for pool '\(e.key)'") }
                do { pools.append(try SwanctlAdmission.addressPool(named: e.key, vici: body)) } catch {
                    return Self.failure("\(error)")
                }
            }
            return self.viciConfig.withLock { () -> VICIMessage in
                // strongSwan refuses to change the range of a pool that has addresses online.
                if let refusal = ike.poolChangeRefusal(self.viciConfig.poolsUnlocked(putting: pools)) { return Self.failure(refusal) }
                for p in pools {
                    self.viciConfig.putPool(p)
                    self.cfgLog.info("vici: loaded pool '\(p.name)' (\(p.first)-\(p.last), \(p.size) addresses)")
                }
                ike.update(configuration: self.viciConfig.mergedUnlocked)
                return Self.success()
            }
        }

        server.register(command: "unload-pool") { [weak self] req, _ in
            guard let self else { return Self.failure("daemon stopping") }
            guard let name = req.string("name") else { return Self.failure("missing pool name") }
            return self.viciConfig.withLock { () -> VICIMessage in
                guard self.viciConfig.hasPool(name) else { return Self.failure("pool '\(name)' not found") }
                if let refusal = ike.poolChangeRefusal(self.viciConfig.poolsUnlocked(removing: name)) { return Self.failure(refusal) }
                _ = self.viciConfig.removePool(name)
                ike.update(configuration: self.viciConfig.mergedUnlocked)
                return Self.success()
            }
        }

        server.register(command: "get-pools") { req, _ in
            Self.poolsMessage(ike.poolStatus, name: req.string("name"), leases: req.string("leases") == "yes")
        }

        server.register(command: "reload-settings") { [weak self] _, _ in
            do { try self?.reload(); return Self.success() } catch { return Self.failure("\(error)") }
        }
    }

    /// get-pools' reply as vici_attribute.c's get_pools builds it (5.9: `base` is the subnet's
    /// network ID as written, a range's first address).
    static func poolsMessage(_ pools: [AddressPoolStatus], name: String?, leases: Bool) -> VICIMessage {
        var m = VICIMessage()
        for pool in pools where name == nil || name == pool.name {
            var p = VICIMessage()
            p.set("base", "\(pool.base)")
            p.set("size", "\(pool.size)")
            p.set("online", "\(pool.online)")
            p.set("offline", "\(pool.offline)")
            if leases {
                var l = VICIMessage()
                for (i, lease) in pool.leases.enumerated() {
                    var e = VICIMessage()
                    e.set("address", "\(lease.address)")
                    e.set("identity", lease.identity)
                    e.set("status", lease.online ? "online" : "offline")
                    l.set("\(i)", section: e)
                }
                p.set("leases", section: l)
            }
            m.set(pool.name, section: p)
        }
        return m
    }

    /// A `load-conn` section converted as the file's connections are. Certificates come as
    /// blobs; a missing private key is only a warning, since swanctl may load keys afterwards.
    func viciConnection(name: String, body: VICIMessage) throws(ConfigError) -> VICIConfigStore.LoadedConnection {
        var blobs = VICICertificateBlobs()
        let stripped = blobs.extract(body)
        let tree = try SwanctlVICI.section(named: name, from: stripped, origin: "vici:load-conn:\(name)")
        let (parsed, source, warnings) = try SwanctlLoader.connection(name: name, section: tree)
        for w in warnings + SwanctlAdmission.authWarnings(parsed, source: source) { cfgLog.warning("\(w)") }
        let policy = try SwanctlAdmission.admit(parsed, source: source, certificates: blobs.source(hasPrivateKey: nil))
        let available = viciConfig.merged.credentials
        if policy.localAuth == .pubkey, let ours = policy.certificates.localCertificates.first, !available.hasPrivateKey(for: ours) {
            cfgLog.warning("vici: connection '\(name)': no private key loaded yet for certificate \(ours.subject.strongSwanDescription)")
        }
        return .init(policy: policy, source: source)
    }

    /// One `list-conn` entry, as vici_query.c's list_conns builds it.
    static func connectionSection(_ c: ConnectionPolicy) -> VICIMessage {
        var m = VICIMessage()
        m.set("local_addrs", list: c.localAddresses.isEmpty ? ["%any"] : c.localAddresses.map(\.description))
        m.set("remote_addrs", list: c.remoteAddresses.isEmpty ? ["%any"] : c.remoteAddresses.map(\.description))
        m.set("version", "IKEv2")
        m.set("reauth_time", c.reauthTime)
        m.set("rekey_time", c.rekeyTime)
        m.set("unique", "UNIQUE_" + c.unique.rawValue.uppercased())
        // charon 5.9 lists DPD only when configured.
        if c.dpdDelay != 0 { m.set("dpd_delay", c.dpdDelay) }
        if c.dpdTimeout != 0 { m.set("dpd_timeout", c.dpdTimeout) }
        let subjects = { (certificates: [Certificate]) in certificates.map(\.subject.strongSwanDescription) }
        let rounds = [("local-1", c.localAuth, c.localIdentity, subjects(c.certificates.localCertificates), [String]()),
                      ("remote-1", c.remoteAuth, c.remoteIdentity, subjects(c.certificates.remoteCertificates),
                       subjects(c.certificates.remoteCACertificates))]
        for (key, auth, id, certs, cacerts) in rounds {
            var a = VICIMessage()
            a.set("id", id.map { "\($0)" } ?? "%any")
            a.set("class", auth == .psk ? "pre-shared key" : "public key")
            a.set("groups", list: [])
            a.set("cert_policy", list: [])
            a.set("certs", list: certs)
            a.set("cacerts", list: cacerts)
            m.set(key, section: a)
        }
        var children = VICIMessage()
        for ch in c.children {
            var s = VICIMessage()
            s.set("mode", ch.mode == .tunnel ? "TUNNEL" : "TRANSPORT")
            s.set("rekey_time", ch.rekeyTime)
            s.set("rekey_bytes", ch.rekeyBytes)
            s.set("rekey_packets", ch.rekeyPackets)
            // charon 5.9's action_names: none, trap, start (dpd_action = clear/restart read as none/start).
            s.set("dpd_action", ch.dpdAction == .clear ? "none" : ch.dpdAction == .restart ? "start" : "trap")
            s.set("close_action", ch.closeAction.rawValue)
            s.set("local-ts", list: ch.localSelectors.map(\.description))
            s.set("remote-ts", list: ch.remoteSelectors.map(\.description))
            children.set(ch.name, section: s)
        }
        m.set("children", section: children)
        return m
    }
}

extension VICIConfigStore {
    /// `merged` for callers already inside `withLock`.
    var mergedUnlocked: EngineConfiguration { mergedWithoutLocking() }
}
