import Foundation
import TernDataPlane
import TernIKE
import TernVICI

/// strongSwan's IKE commands over VICI (initiate, terminate, rekey, list-sas, stats), with the
/// field names and value formats charon uses so swanctl and python-vici read them unchanged.
extension Daemon {
    func registerIKECommands(_ server: VICIServer, _ ike: IKEController) {
        server.register(event: "list-sa")
        server.register(event: "control-log")
        server.register(event: "ike-updown")
        server.register(event: "child-updown")

        server.register(command: "initiate") { req, stream in
            self.withControlLog(req, stream, ike, connection: req.string("ike") ?? self.connectionName(ofChild: req.string("child"), ike)) {
                let child = req.string("child"), ikeName = req.string("ike")
                let timeoutMS = Int(req.string("timeout") ?? "0") ?? 0
                guard let conn = ikeName ?? self.connectionName(ofChild: child, ike) else {
                    return Self.failure("no connection found for \(child.map { "child '\($0)'" } ?? "this request")")
                }
                if timeoutMS < 0 {   // strongSwan: return at once without waiting for the outcome
                    do {
                        try ike.command { e, now throws(IKECommandError) in (try e.initiate(connection: conn, child: child, now: now), ()) }
                        return Self.success()
                    } catch {
                        return Self.failure("\(error)")
                    }
                }
                // This call's own outcome: the engine reports it by tag, for the IKE/CHILD SA this
                // initiation created or reused, whatever other initiations of the connection do.
                let tag = ike.nextInitiationTag()
                var failure: String?
                do {
                    let done = try ike.wait(timeout: Double(timeoutMS) / 1000, after: { () throws(IKECommandError) in
                        try ike.command { e, now throws(IKECommandError) in (try e.initiate(connection: conn, child: child, now: now, tag: tag), ()) }
                    }, match: { e in
                        guard case .initiationFinished(tag, let f) = e else { return false }
                        failure = f
                        return true
                    })
                    if let failure { return Self.failure("establishing CHILD_SA '\(child ?? conn)' failed: \(failure)") }
                    if !done { return Self.failure("establishing CHILD_SA '\(child ?? conn)' timed out") }
                    return Self.success()
                } catch {
                    return Self.failure("\(error)")
                }
            }
        }

        server.register(command: "terminate") { req, stream in
            self.withControlLog(req, stream, ike, connection: req.string("ike") ?? self.connectionName(ofChild: req.string("child"), ike)) {
                do {
                    if let c = req.string("child") ?? req.string("child-id") {
                        let id = req.string("child-id").flatMap(UInt32.init)
                        try ike.command { e, now throws(IKECommandError) in
                            (try e.terminate(child: id == nil ? c : nil, uniqueID: id, now: now), ())
                        }
                    } else if let i = req.string("ike") ?? req.string("ike-id") {
                        let id = req.string("ike-id").flatMap(UInt32.init)
                        try ike.command { e, now throws(IKECommandError) in
                            (try e.terminate(ike: id == nil ? i : nil, uniqueID: id, now: now), ())
                        }
                    } else {
                        return Self.failure("terminate needs child, child-id, ike or ike-id")
                    }
                    return Self.success()
                } catch {
                    return Self.failure("\(error)")
                }
            }
        }

        server.register(command: "rekey") { req, stream in
            self.withControlLog(req, stream, ike, connection: req.string("ike") ?? self.connectionName(ofChild: req.string("child"), ike)) {
                do {
                    let child = req.string("child"), name = req.string("ike")
                    guard child != nil || name != nil else { return Self.failure("rekey needs child or ike") }
                    try ike.command { e, now throws(IKECommandError) in (try e.rekey(ike: name, child: child, now: now), ()) }
                    return Self.success(["matches": .str("1")])
                } catch {
                    return Self.failure("\(error)")
                }
            }
        }

        server.register(command: "list-sas") { [weak self] req, stream in
            guard let self else { return VICIMessage() }
            let filter = req.string("ike"), filterID = req.string("ike-id").flatMap(UInt32.init)
            let counters = self.saCounters()
            for sa in ike.listSAs() where (filter == nil || sa.connection == filter) && (filterID == nil || sa.uniqueID == filterID) {
                var m = VICIMessage()
                m[sa.connection] = .section(Self.ikeSection(sa, counters: counters))
                stream.send(event: "list-sa", m)
            }
            return VICIMessage()
        }

        server.register(command: "stats") { [weak self] _, _ in
            let counts = ike.saCounts
            var m = VICIMessage()
            let since = self?.startedAt ?? Date()
            let uptime = Int(Date().timeIntervalSince(since))
            // charon: "%V" ("1 second", "5 seconds") and "%T" ("Nov 27 16:33:56 2026", local time).
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.dateFormat = "MMM dd HH:mm:ss yyyy"
            m["uptime"] = .section(VICIMessage(entries: [.init(key: "running", element: .str(Self.timeDelta(uptime))),
                                                         .init(key: "since", element: .str(formatter.string(from: since)))]))
            let priorities = ["critical", "high", "medium", "low"]
            let zeros = VICIMessage(entries: priorities.map { .init(key: $0, element: .str("0")) })
            m["workers"] = .section(VICIMessage(entries: [.init(key: "total", element: .str("1")), .init(key: "idle", element: .str("1")),
                                                          .init(key: "active", element: .section(zeros))]))
            m["queues"] = .section(zeros)
            m["scheduled"] = .str("0")
            m["ikesas"] = .section(VICIMessage(entries: [
                .init(key: "total", element: .str("\(counts.total)")),
                .init(key: "half-open", element: .str("\(counts.connecting)")),
            ]))
            m["plugins"] = .list([])
            return m
        }
    }

    private func connectionName(ofChild child: String?, _ ike: IKEController) -> String? {
        guard let child else { return nil }
        return ike.queue.sync { ike.endpoint.configuration.connections.first { $0.children.contains { $0.name == child } }?.name }
    }

    /// strongSwan's "%V" time delta: the largest unit that leaves more than two of it.
    static func timeDelta(_ seconds: Int) -> String {
        var value = seconds, unit = "second"
        if seconds > 2 * 86_400 { value = seconds / 86_400; unit = "day" }
        else if seconds > 2 * 3_600 { value = seconds / 3_600; unit = "hour" }
        else if seconds > 2 * 60 { value = seconds / 60; unit = "minute" }
        return "\(value) \(unit)\(value == 1 ? "" : "s")"
    }

    static func success(_ extra: [String: VICIMessage.Element] = [:]) -> VICIMessage {
        var m = VICIMessage()
        m["success"] = .str("yes")
        for (k, v) in extra { m[k] = v }
        return m
    }

    static func failure(_ why: String) -> VICIMessage {
        var m = VICIMessage()
        m["success"] = .str("no")
        m["errmsg"] = .str(why)
        return m
    }

    /// Data-plane counters by (SPI, inbound?) from the current snapshot.
    /// Counters of just these SPIs (events about one SA must not walk every SA).
    func saCounters(spis: [UInt32]) -> [UInt32: (bytes: UInt64, packets: UInt64, lastUsed: UInt64)] {
        let snapshot = currentSnapshot()
        var out: [UInt32: (UInt64, UInt64, UInt64)] = [:]
        for spi in spis {
            for sa in snapshot.associations(spi: spi) {
                out[spi] = (sa.counters.load(SACounter.bytes.rawValue), sa.counters.load(SACounter.packets.rawValue),
                            sa.counters.load(SACounter.lastUsed.rawValue))
            }
        }
        return out
    }

    func saCounters() -> [UInt32: (bytes: UInt64, packets: UInt64, lastUsed: UInt64)] {
        var out: [UInt32: (UInt64, UInt64, UInt64)] = [:]
        currentSnapshot().forEachAssociation { sa in
            out[sa.config.spi] = (sa.counters.load(SACounter.bytes.rawValue), sa.counters.load(SACounter.packets.rawValue),
                                  sa.counters.load(SACounter.lastUsed.rawValue))
        }
        return out
    }

    static func ikeSection(_ sa: IKESAInfo, counters: [UInt32: (bytes: UInt64, packets: UInt64, lastUsed: UInt64)]) -> VICIMessage {
        var m = VICIMessage()
        func put(_ k: String, _ v: String) { m.entries.append(.init(key: k, element: .str(v))) }
        put("uniqueid", "\(sa.uniqueID)")
        put("version", "2")
        put("state", sa.state.rawValue)
        put("local-host", "\(sa.local.address)")
        put("local-port", "\(sa.local.port)")
        put("local-id", sa.localIdentity)
        put("remote-host", "\(sa.remote.address)")
        put("remote-port", "\(sa.remote.port)")
        put("remote-id", sa.remoteIdentity)
        if let eap = sa.remoteEAPIdentity { put("remote-eap-id", eap) }
        put("initiator", sa.isInitiator ? "yes" : "no")
        put("initiator-spi", String(format: "%016llx", sa.initiatorSPI))
        put("responder-spi", String(format: "%016llx", sa.responderSPI))
        if sa.natLocal { put("nat-local", "yes") }
        if sa.natRemote { put("nat-remote", "yes") }
        if sa.natForced { put("nat-fake", "yes") }
        if sa.natLocal || sa.natRemote { put("nat-any", "yes") }
        if !sa.encryption.isEmpty {
            put("encr-alg", sa.encryption)
            if let k = sa.encryptionKeySize { put("encr-keysize", "\(k)") }
            if let i = sa.integrity { put("integ-alg", i) }
            put("prf-alg", sa.prf)
            put("dh-group", sa.keyExchange)
        }
        if let e = sa.established { put("established", wholeSeconds(e)) }
        // vici_query.c lists virtual IPs after the timers, as lists.
        if !sa.localVirtualIPs.isEmpty { m.entries.append(.init(key: "local-vips", element: .strings(sa.localVirtualIPs.map(\.description)))) }
        if !sa.remoteVirtualIPs.isEmpty { m.entries.append(.init(key: "remote-vips", element: .strings(sa.remoteVirtualIPs.map(\.description)))) }
        if let r = sa.rekeyIn { put("rekey-time", wholeSeconds(r)) }
        if let r = sa.reauthIn { put("reauth-time", wholeSeconds(r)) }
        var children = VICIMessage()
        for c in sa.children {
            children.entries.append(.init(key: "\(c.name)-\(c.uniqueID)", element: .section(childSection(c, counters: counters))))
        }
        m.entries.append(.init(key: "child-sas", element: .section(children)))
        return m
    }

    /// One CHILD SA of list-sas (also child-updown's and child-rekey's old/new).
    static func childSection(_ c: ChildSAInfo, counters: [UInt32: (bytes: UInt64, packets: UInt64, lastUsed: UInt64)]) -> VICIMessage {
        var s = VICIMessage()
        func cput(_ k: String, _ v: String) { s.entries.append(.init(key: k, element: .str(v))) }
        cput("name", c.name)
        cput("uniqueid", "\(c.uniqueID)")
        cput("reqid", "\(c.reqid)")
        cput("state", c.state.rawValue)
        cput("mode", c.mode)
        cput("protocol", c.protocolName)
        if c.encapsulated { cput("encap", "yes") }
        cput("spi-in", c.inboundSPIHex)
        cput("spi-out", c.outboundSPIHex)
        cput("encr-alg", c.encryption)
        if let k = c.encryptionKeySize { cput("encr-keysize", "\(k)") }
        if let i = c.integrity { cput("integ-alg", i) }
        if let d = c.keyExchange { cput("dh-group", d) }
        if c.esn { cput("esn", "1") }
        let inC = counters[c.inboundSPI], outC = counters[c.outboundSPI]
        cput("bytes-in", "\(inC?.bytes ?? 0)")
        cput("packets-in", "\(inC?.packets ?? 0)")
        cput("bytes-out", "\(outC?.bytes ?? 0)")
        cput("packets-out", "\(outC?.packets ?? 0)")
        if let r = c.rekeyIn { cput("rekey-time", wholeSeconds(r)) }
        if let l = c.lifeIn { cput("life-time", wholeSeconds(l)) }
        if let a = c.installedAgo { cput("install-time", wholeSeconds(a)) }
        s.entries.append(.init(key: "local-ts", element: .list(c.localTS.map { Array($0.utf8) })))
        s.entries.append(.init(key: "remote-ts", element: .list(c.remoteTS.map { Array($0.utf8) })))
        return s
    }
}

/// A duration as VICI shows it: whole seconds. Never traps: a timer that is off (infinite) or
/// not a number shows as 0.
func wholeSeconds(_ t: Double) -> String {
    t.isFinite ? "\(Int(max(0, min(t, Double(Int32.max)))))" : "0"
}
