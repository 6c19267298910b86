import Foundation
import TernCrypto
import TernIKE
import TernVICI

/// strongSwan's remaining control and query commands: install, uninstall, list-policies,
/// redirect, get-algorithms, get-counters, reset-counters (vici_control.c, vici_query.c,
/// counters_query.c).
extension Daemon {
    func registerQueryCommands(_ server: VICIServer, _ ike: IKEController) {
        server.register(event: "list-policy")

        server.register(command: "install") { req, _ in
            guard let child = req.string("child") else { return Self.failure("missing configuration name") }
            let conn = req.string("ike")
            do {
                try ike.command { e, now throws(IKECommandError) in (try e.installTrap(child: child, connection: conn, now: now), ()) }
                return Self.success()
            } catch {
                return Self.failure("\(error)")
            }
        }

        server.register(command: "uninstall") { req, _ in
            guard let child = req.string("child") else { return Self.failure("missing configuration name") }
            let conn = req.string("ike")
            do {
                try ike.command { e, _ throws(IKECommandError) in (try e.uninstallTrap(child: child, connection: conn), ()) }
                return Self.success()
            } catch {
                return Self.failure("\(error)")
            }
        }

        server.register(command: "list-policies") { req, stream in
            // Only trap policies exist here (no pass/drop shunts yet); like charon, nothing is
            // listed unless traps are asked for.
            guard req.string("trap") == "yes" else { return VICIMessage() }
            let filter = req.string("child")
            let (traps, connections) = ike.queue.sync { (ike.endpoint.installedTraps, ike.endpoint.configuration.connections) }
            for t in traps where filter == nil || filter == t.child {
                let child = connections.first { $0.name == t.connection }?.children.first { $0.name == t.child }
                var s = VICIMessage()
                s.set("child", t.child)
                s.set("ike", t.connection)
                s.set("mode", child?.mode == .transport ? "TRANSPORT" : "TUNNEL")
                s.set("local-ts", list: child?.localSelectors.map(\.description) ?? [])
                s.set("remote-ts", list: child?.remoteSelectors.map(\.description) ?? [])
                var m = VICIMessage()
                m.set("\(t.connection)/\(t.child)", section: s)
                stream.send(event: "list-policy", m)
            }
            return VICIMessage()
        }

        server.register(command: "redirect") { _, _ in
            Self.failure("redirect is not supported: ternd does not implement IKEv2 redirection (RFC 5685) yet")
        }

        server.register(command: "get-algorithms") { _, _ in
            // strongSwan's transform names (the %N enum names), each with the implementing plugin.
            // Named from the engine's own algorithm types, so the list cannot claim more than it does.
            let groups: [(String, [String])] = [
                ("encryption", [EncryptionAlgorithm.aesCBC(keyBits: 128).strongSwanName]),
                ("integrity", [IntegrityAlgorithm.hmacSHA1_96, .hmacSHA256_128, .hmacSHA384_192, .hmacSHA512_256].map(\.strongSwanName)),
                ("aead", [EncryptionAlgorithm.aesGCM16(keyBits: 128), .chacha20Poly1305].map(\.strongSwanName)),
                ("prf", PRFAlgorithm.allCases.map(\.strongSwanName)),
                ("dh", KeyExchangeGroup.allCases.map(\.strongSwanName)),
            ]
            var m = VICIMessage()
            for (group, names) in groups {
                var s = VICIMessage()
                for n in names { s.set(n, "tern") }
                m.set(group, section: s)
            }
            return m
        }

        server.register(command: "get-counters") { req, _ in
            var counters = VICIMessage()
            let name = req.string("name"), all = req.string("all") == "yes"
            let result: [(String, [(String, UInt64)])]? = ike.queue.sync {
                if all {
                    return ike.counters.connections(ike.endpoint).map { ($0, ike.counters.snapshot(connection: $0, ike.endpoint)) }
                }
                if let name {
                    guard ike.endpoint.configuration.connections.contains(where: { $0.name == name })
                            || ike.counters.connections(ike.endpoint).contains(name) else { return nil }
                    return [(name, ike.counters.snapshot(connection: name, ike.endpoint))]
                }
                // The global set goes under the empty name, as counters_query.c names it.
                return [("", ike.counters.snapshot(ike.endpoint))]
            }
            guard let result else { return Self.failure("no counters found for '\(name ?? "")'") }
            for (section, values) in result {
                var s = VICIMessage()
                for (k, v) in values { s.set(k, v) }
                counters.set(section, section: s)
            }
            var m = VICIMessage()
            m.set("counters", section: counters)
            m.set("success", "yes")
            return m
        }

        server.register(command: "reset-counters") { req, _ in
            let name = req.string("name"), all = req.string("all") == "yes"
            ike.queue.sync {
                if all || name == nil { ike.counters.reset(ike.endpoint) }
                if let name, !all { ike.counters.reset(connection: name, ike.endpoint) }
            }
            return Self.success()
        }
    }
}
