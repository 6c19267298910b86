import Foundation
import TernIKE
import TernVICI

/// strongSwan's VICI events from the IKE engine's: ike-updown, child-updown, ike-rekey,
/// child-rekey, ike-update and log, with the list-sas layout vici_query.c uses.
extension Daemon {
    func registerEvents(_ server: VICIServer, _ ike: IKEController) {
        for e in ["log", "ike-rekey", "child-rekey", "ike-update"] { server.register(event: e) }
        // Set on the IKE queue: the engine may already be reporting events.
        ike.queue.sync {
            ike.onEvent = { [weak self, weak server] event in
                guard let self, let server else { return }
                for (name, message) in self.viciEvents(for: event, wanted: server.hasListeners(for:)) {
                    server.publish(event: name, message)
                }
            }
        }
    }

    /// The VICI events for one engine event (runs on the IKE queue), only those `wanted` says a
    /// client listens for: building them reads the SA's counters and formats every field.
    func viciEvents(for event: IKEEvent, wanted: (String) -> Bool = { _ in true }) -> [(String, VICIMessage)] {
        var out: [(String, VICIMessage)] = []
        let name: String? = switch event {
        case .ikeEstablished, .ikeDeleted: "ike-updown"
        case .childEstablished, .childDeleted: "child-updown"
        case .ikeRekeyed: "ike-rekey"
        case .childRekeyed: "child-rekey"
        case .peerAddressChanged: "ike-update"
        case .ikeFailed, .childFailed, .log, .peerDead, .initiationFinished: nil
        }
        if let name, !wanted(name) {
            if wanted("log") { out.append(("log", Self.logMessage(event))) }
            return out
        }
        var spis: [UInt32] = []
        switch event {
        case .ikeEstablished(let sa), .ikeDeleted(let sa, _), .childEstablished(let sa, _), .childDeleted(let sa, _, _),
             .childRekeyed(let sa, _, _), .ikeRekeyed(let sa, _), .peerAddressChanged(let sa, _, _):
            spis = sa.children.flatMap { [$0.inboundSPI, $0.outboundSPI] }
        default: break
        }
        if case .childEstablished(_, let c) = event { spis += [c.inboundSPI, c.outboundSPI] }
        if case .childDeleted(_, let c, _) = event { spis += [c.inboundSPI, c.outboundSPI] }
        if case .childRekeyed(_, let o, let n) = event { spis += [o.inboundSPI, o.outboundSPI, n.inboundSPI, n.outboundSPI] }
        let counters = saCounters(spis: spis)
        func one(_ key: String, _ section: VICIMessage, up: Bool?) -> VICIMessage {
            var m = VICIMessage()
            if up == true { m.set("up", "yes") }
            m.set(key, section: section)
            return m
        }
        func withOnly(_ sa: IKESAInfo, _ children: [ChildSAInfo]) -> IKESAInfo {
            var s = sa
            s.children = children
            return s
        }
        switch event {
        case .ikeEstablished(let sa):
            out.append(("ike-updown", one(sa.connection, Self.ikeSection(sa, counters: counters), up: true)))
        case .ikeDeleted(let sa, _):
            out.append(("ike-updown", one(sa.connection, Self.ikeSection(sa, counters: counters), up: nil)))
        case .childEstablished(let sa, let child):
            out.append(("child-updown", one(sa.connection, Self.ikeSection(withOnly(sa, [child]), counters: counters), up: true)))
        case .childDeleted(let sa, let child, _):
            out.append(("child-updown", one(sa.connection, Self.ikeSection(withOnly(sa, [child]), counters: counters), up: nil)))
        case .ikeRekeyed(let old, let new):
            var s = VICIMessage()
            s.set("old", section: Self.ikeSection(old, counters: counters))
            s.set("new", section: Self.ikeSection(new, counters: counters))
            out.append(("ike-rekey", one(new.connection, s, up: nil)))
        case .childRekeyed(let sa, let old, let new):
            var ikeSection = Self.ikeSection(withOnly(sa, []), counters: counters)
            var pair = VICIMessage()
            pair.set("old", section: Self.childSection(old, counters: counters))
            pair.set("new", section: Self.childSection(new, counters: counters))
            var children = VICIMessage()
            children.set("\(new.name)-\(new.uniqueID)", section: pair)
            ikeSection.set("child-sas", section: children)
            out.append(("child-rekey", one(sa.connection, ikeSection, up: nil)))
        case .peerAddressChanged(let sa, _, let to):
            // vici_query.c's ike_update: the new endpoints at the top, then the IKE SA.
            var m = VICIMessage()
            m.set("local-host", "\(sa.local.address)")
            m.set("local-port", "\(sa.local.port)")
            m.set("remote-host", "\(to.address)")
            m.set("remote-port", "\(to.port)")
            m.set(sa.connection, section: Self.ikeSection(sa, counters: counters))
            out.append(("ike-update", m))
        case .ikeFailed, .childFailed, .log, .peerDead:
            break
        case .initiationFinished:
            return out   // the engine's bookkeeping for one VICI initiate, not a log line
        }
        if wanted("log") { out.append(("log", Self.logMessage(event))) }
        return out
    }

    /// A `log` event as charon's vici_logger sends it: group, level, thread, ikesa-*, msg.
    static func logMessage(_ event: IKEEvent) -> VICIMessage {
        var m = VICIMessage()
        var level = 1
        if case .log(let l, _) = event {
            switch l {
            case .debug: level = 2
            case .info, .notice: level = 1
            case .warning, .error: level = 0
            }
        }
        m.set("group", "IKE")
        m.set("level", level)
        m.set("thread", 1)
        let sa: IKESAInfo?
        switch event {
        case .ikeEstablished(let s), .ikeDeleted(let s, _), .childEstablished(let s, _), .childDeleted(let s, _, _),
             .childRekeyed(let s, _, _), .peerAddressChanged(let s, _, _), .peerDead(let s, _): sa = s
        case .ikeRekeyed(_, let s): sa = s
        case .ikeFailed, .childFailed, .log, .initiationFinished: sa = nil
        }
        if let sa {
            m.set("ikesa-name", sa.connection)
            m.set("ikesa-uniqueid", sa.uniqueID)
        }
        m.set("msg", event.description)
        return m
    }
}

extension Daemon {
    /// Runs a control command (initiate, terminate, rekey) while streaming the events about
    /// `connection` to the requesting client as `control-log`, as charon does for swanctl.
    /// Sends go through a private queue so a slow client never blocks the IKE queue.
    func withControlLog(_ req: VICIMessage, _ stream: VICIEventSink, _ ike: IKEController, connection: String?,
                        _ body: () -> VICIMessage) -> VICIMessage {
        // Most scripted initiations (python vici, benchmarks) do not listen: no observer then.
        guard stream.wants(event: "control-log") else { return body() }
        let level = Int(req.string("loglevel") ?? "1") ?? 1
        let sender = DispatchQueue(label: "tern.vici.control-log")
        let id = ike.observe { event in
            let message = Self.logMessage(event)
            guard let l = Int(message.string("level") ?? "1"), l <= level else { return }
            if let connection {
                let name = message.string("ikesa-name")
                if let name, name != connection { return }
                if name == nil, !(message.string("msg") ?? "").contains(connection) { return }
            }
            sender.async { stream.send(event: "control-log", message) }
        }
        let response = body()
        ike.unobserve(id)
        sender.sync {}
        return response
    }
}
