import Foundation
import TernDataPlane
import TernIKE

/// Daemon counters in Prometheus' text exposition format (version 0.0.4), for `--metrics`.
///
/// Everything is read from what the daemon already keeps: the data plane's per-SA and drop
/// counters (`state()`), the IKE engine's SA list (connection and child names per SPI, IKE SA
/// states) and the controller's event counts (rekeys, DPD failures).
extension Daemon {
    public func metricsText() -> String {
        var out = PrometheusText()
        let report = state()
        let ikeSAs = ike?.listSAs() ?? []
        var names: [UInt32: (connection: String, child: String)] = [:]
        for sa in ikeSAs {
            for c in sa.children {
                names[c.inboundSPI] = (sa.connection, c.name)
                names[c.outboundSPI] = (sa.connection, c.name)
            }
        }
        func labels(_ sa: StateReport.SA) -> [(String, String)] {
            var l = [("direction", sa.outbound ? "out" : "in"), ("spi", String(format: "%08x", sa.spi)),
                     ("reqid", String(sa.reqid)), ("proto", sa.proto)]
            if let n = names[sa.spi] { l += [("connection", n.connection), ("child", n.child)] }
            return l
        }
        // Replay, integrity and policy checks happen on inbound SAs only: no samples for outbound ones.
        let families: [(String, String, Bool, (StateReport.SA) -> UInt64)] = [
            ("tern_sa_bytes_total", "Payload bytes protected (out) or accepted (in) by the SA.", false, { $0.bytes }),
            ("tern_sa_packets_total", "Packets protected (out) or accepted (in) by the SA.", false, { $0.packets }),
            ("tern_sa_replay_drops_total", "Inbound packets dropped as replayed or behind the window.", true, { $0.replayDrops }),
            ("tern_sa_integrity_failures_total", "Inbound packets whose ICV did not verify.", true, { $0.integrityFailures }),
            ("tern_sa_policy_mismatches_total", "Decrypted packets that did not match the SA's policy.", true, { $0.policyMismatches }),
        ]
        for (name, help, inboundOnly, value) in families {
            out.family(name, type: "counter", help: help)
            for sa in report.sas where !(inboundOnly && sa.outbound) { out.sample(name, labels(sa), value(sa)) }
        }
        out.family("tern_drops_total", type: "counter", help: "Packets the data plane dropped, by reason.")
        for d in report.drops { out.sample("tern_drops_total", [("reason", d.name)], d.count) }
        out.family("tern_udp_keepalives_total", type: "counter", help: "NAT-T keepalives received on the ESP-in-UDP port.")
        out.sample("tern_udp_keepalives_total", [], report.udpKeepalives)

        if let ike {
            var states: [String: UInt64] = [:]
            for sa in ikeSAs { states[sa.state.rawValue, default: 0] += 1 }
            out.family("tern_ike_sas", type: "gauge", help: "IKE SAs by state.")
            for s in Set(states.keys).union(["CONNECTING", "ESTABLISHED"]).sorted() {
                out.sample("tern_ike_sas", [("state", s)], states[s] ?? 0)
            }
            var children: [String: UInt64] = [:]
            for sa in ikeSAs { for c in sa.children { children[c.state.rawValue, default: 0] += 1 } }
            out.family("tern_child_sas", type: "gauge", help: "CHILD SAs by state.")
            for s in Set(children.keys).union(["INSTALLED"]).sorted() {
                out.sample("tern_child_sas", [("state", s)], children[s] ?? 0)
            }
            let events = ike.eventCounts
            let perConnection: [(String, String, [String: UInt64])] = [
                ("tern_ike_rekeys_total", "IKE SA rekeys completed.", events.ikeRekeys),
                ("tern_child_rekeys_total", "CHILD SA rekeys completed.", events.childRekeys),
                ("tern_dpd_failures_total", "IKE SAs closed because the peer stopped answering (DPD or retransmits).", events.dpdFailures),
                ("tern_ike_established_total", "IKE SAs established.", events.ikeEstablished),
                ("tern_ike_failures_total", "IKE SA negotiations that failed.", events.ikeFailures),
            ]
            for (name, help, counts) in perConnection {
                out.family(name, type: "counter", help: help)
                for (connection, n) in counts.sorted(by: { $0.key < $1.key }) { out.sample(name, [("connection", connection)], n) }
            }
            let s = ike.stats
            out.family("tern_ike_messages_total", type: "counter", help: "IKE messages received, and those refused, by outcome.")
            for (outcome, n) in [("received", s.received), ("malformed", s.malformed), ("unknown_spi", s.unknownSPI),
                                 ("cookie_sent", s.cookiesSent), ("half_open_limited", s.halfOpenLimited),
                                 ("no_connection", s.noConnection)] {
                out.sample("tern_ike_messages_total", [("outcome", outcome)], UInt64(max(0, n)))
            }
            out.sample("tern_ike_messages_total", [("outcome", "cookie_sent_by_reader")], ike.portReaders.cookiesSent.load(ordering: .relaxed))
            out.sample("tern_ike_messages_total", [("outcome", "cookie_rate_limited")], UInt64(max(0, s.cookiesRateLimited)))
            out.sample("tern_ike_messages_total", [("outcome", "parked_dropped")], UInt64(max(0, s.parkedDropped)))
            out.family("tern_ike_port_datagrams_total", type: "counter",
                       help: "Datagrams read from the IKE port, by the kernel-steered socket they arrived on (priority: existing IKE SAs and returned cookies; flood: cookie-less IKE_SA_INITs).")
            out.sample("tern_ike_port_datagrams_total", [("socket", "priority")], ike.portReaders.priorityDatagrams.load(ordering: .relaxed))
            out.sample("tern_ike_port_datagrams_total", [("socket", "flood")], ike.portReaders.floodDatagrams.load(ordering: .relaxed))
            out.family("tern_ike_half_open_evicted_total", type: "counter",
                       help: "Half-open IKE SAs evicted (oldest first) because init_limit_half_open was reached.")
            out.sample("tern_ike_half_open_evicted_total", [], UInt64(max(0, s.halfOpenEvicted)))
            out.family("tern_ike_lookups_total", type: "counter", help: "DNS, route and CRL lookups the IKE engine asked for, by outcome.")
            out.sample("tern_ike_lookups_total", [("outcome", "asked")], UInt64(max(0, s.lookups)))
            out.sample("tern_ike_lookups_total", [("outcome", "failed")], UInt64(max(0, s.lookupsFailed)))
            let q = ike.intake.stats
            let classes = IKEIntake.Class.allCases.map { ($0 == .established ? "established" : "new", $0.rawValue) }
            out.family("tern_ike_intake_depth", type: "gauge", help: "Received IKE datagrams waiting for the engine, by class.")
            for (name, i) in classes { out.sample("tern_ike_intake_depth", [("class", name)], UInt64(q.depth[i])) }
            out.family("tern_ike_intake_dropped_total", type: "counter",
                       help: "Received IKE datagrams dropped because the intake queue of their class was full.")
            for (name, i) in classes { out.sample("tern_ike_intake_dropped_total", [("class", name)], q.dropped[i]) }
        }
        if let v = vici?.stats {
            out.family("tern_vici_clients", type: "gauge", help: "Clients connected to the VICI control socket.")
            out.sample("tern_vici_clients", [], UInt64(max(0, v.currentClients)))
            out.family("tern_vici_clients_closed_total", type: "counter",
                       help: "VICI clients the daemon closed or refused, by reason (idle, partial message, evicted for a newcomer, slow event subscriber, refused).")
            for (reason, n) in [("idle", v.closedForIdle), ("partial_message", v.closedForPartialMessage), ("evicted", v.evicted),
                                ("slow_subscriber", v.slowSubscriberDrops), ("refused", v.refusedTotal)] {
                out.sample("tern_vici_clients_closed_total", [("reason", reason)], n)
            }
            out.family("tern_vici_clients_accepted_total", type: "counter", help: "VICI clients accepted.")
            out.sample("tern_vici_clients_accepted_total", [], v.acceptedTotal)
        }
        return out.text
    }
}

/// Builds the exposition text: `# HELP`/`# TYPE` once per family, label values escaped.
struct PrometheusText {
    private(set) var text = ""

    mutating func family(_ name: String, type: String, help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: UInt64) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
        }
        text += " \(value)\n"
    }

    /// Backslash, double quote and newline are the characters the format escapes.
    static func escape(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(ch)
            }
        }
        return out
    }
}
