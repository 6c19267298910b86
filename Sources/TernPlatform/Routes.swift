import Foundation
import TernWire

/// Routes that steer traffic for outbound PROTECT policies into the TUN, in a table of their own
/// (strongSwan's table 220 convention), reached by an `ip rule` that skips packets carrying our
/// fwmark: the daemon's own sockets set that mark, so protected packets (and transport mode's)
/// leave by the underlay instead of looping into the TUN.
///
/// Uses iproute2 (`ip`) rather than raw netlink: routes change only on configuration events.
public final class RouteManager: @unchecked Sendable {
    public let table: Int
    public let mark: UInt32
    public let device: String
    public let rulePriority: Int
    private var installed: [Route] = []
    private var rulesInstalled = false
    private let log: @Sendable (String) -> Void

    public struct Route: Hashable, Sendable {
        public var destination: IPPrefix
        public var sourceHint: IPAddress?
        public init(destination: IPPrefix, sourceHint: IPAddress?) { self.destination = destination; self.sourceHint = sourceHint }
    }

    public struct CommandError: Error, CustomStringConvertible {
        public let command: String
        public let output: String
        public var description: String { "`\(command)` failed: \(output)" }
    }

    public init(table: Int, mark: UInt32, device: String, rulePriority: Int = 220, log: @escaping @Sendable (String) -> Void) {
        self.table = table; self.mark = mark; self.device = device; self.rulePriority = rulePriority; self.log = log
    }

    @discardableResult
    public static func ip(_ args: [String]) throws(CommandError) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip")
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        do { try p.run() } catch { throw CommandError(command: "ip " + args.joined(separator: " "), output: "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let out = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard p.terminationStatus == 0 else { throw CommandError(command: "ip " + args.joined(separator: " "), output: out) }
        return out
    }

    private func ruleArgs(_ family: String, _ verb: String) -> [String] {
        [family, "rule", verb, "priority", String(rulePriority), "not", "fwmark", "0x" + String(mark, radix: 16),
         "lookup", String(table)]
    }

    /// Makes the installed routes exactly `routes` (adding and removing the difference).
    public func apply(_ routes: Set<Route>) throws(CommandError) {
        if !rulesInstalled {
            for fam in ["-4", "-6"] {
                _ = try? RouteManager.ip(ruleArgs(fam, "del"))   // a stale rule from a crashed run
                try RouteManager.ip(ruleArgs(fam, "add"))
            }
            rulesInstalled = true
        }
        let current = Set(installed)
        for r in current.subtracting(routes) { try? remove(r) }
        for r in routes.subtracting(current) {
            var args = [r.destination.family == .v4 ? "-4" : "-6", "route", "replace", r.destination.description,
                        "dev", device, "table", String(table)]
            if let s = r.sourceHint { args += ["src", s.description] }
            do {
                try RouteManager.ip(args)
            } catch {
                // A source hint the kernel refuses (e.g. a tentative IPv6 address): route without it.
                guard r.sourceHint != nil else { throw error }
                log("route \(r.destination) with src \(r.sourceHint!) refused (\(error.output)); installing without src")
                try RouteManager.ip(Array(args.dropLast(2)))
            }
            log("route \(r.destination) dev \(device) table \(table)" + (r.sourceHint.map { " src \($0)" } ?? ""))
        }
        installed = Array(routes)
    }

    private func remove(_ r: Route) throws(CommandError) {
        try RouteManager.ip([r.destination.family == .v4 ? "-4" : "-6", "route", "del", r.destination.description,
                             "dev", device, "table", String(table)])
    }

    /// Removes every route and the rules (shutdown).
    public func removeAll() {
        for r in installed { try? remove(r) }
        installed = []
        if rulesInstalled {
            for fam in ["-4", "-6"] { _ = try? RouteManager.ip(ruleArgs(fam, "del")) }
            rulesInstalled = false
        }
    }
}
