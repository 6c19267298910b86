import Foundation
import TernPlatform
import TernWire

/// How DNS servers a gateway assigned (INTERNAL_IP4_DNS/IP6_DNS) reach the system.
public enum DNSHandling: String, Sendable, CaseIterable {
    /// systemd-resolved when it runs, else resolvconf when installed, else nothing (logged).
    case auto
    /// `resolvectl dns IFACE …` and `resolvectl revert IFACE`.
    case resolved
    /// `resolvconf -a IFACE.tern` with the servers, `resolvconf -d IFACE.tern` after.
    case resolvconf
    /// The program given with --dns-hook: `HOOK IFACE [SERVER…]` (no servers: restore).
    case hook
    /// Leave DNS alone.
    case none
}

/// Client side of virtual IPs: puts each address the gateway assigned on the tunnel interface
/// (so traffic into the tunnel leaves from it: the routes into the TUN take it as their source
/// once it is a local address) and hands the DNS servers to the system, undoing both when the
/// last IKE SA holding the address goes and at shutdown.
final class VirtualIPInstaller: @unchecked Sendable {
    let device: String
    let dns: DNSHandling
    let hook: String?
    private let log: @Sendable (String) -> Void
    private let lock = NSLock()
    /// Installed addresses and the DNS servers each brought, in installation order.
    private var installed: [(address: IPAddress, dns: [IPAddress], connection: String)] = []
    private var dnsApplied = false

    init(device: String, dns: DNSHandling, hook: String?, log: @escaping @Sendable (String) -> Void) {
        self.device = device; self.dns = dns; self.hook = hook; self.log = log
    }

    func add(_ address: IPAddress, dns servers: [IPAddress], connection: String) {
        lock.lock(); defer { lock.unlock() }
        var args = [address.family == .v4 ? "-4" : "-6", "addr", "replace", "\(IPPrefix(host: address))", "dev", device]
        if address.family == .v6 { args.append("nodad") }   // usable at once: DAD would delay the first packets
        do {
            try RouteManager.ip(args)
            log("virtual IP \(address) installed on \(device) (\(connection))")
        } catch {
            log("cannot install virtual IP \(address) on \(device): \(error)")
        }
        installed.append((address, servers, connection))
        applyDNS()
    }

    func remove(_ address: IPAddress) {
        lock.lock(); defer { lock.unlock() }
        guard let i = installed.firstIndex(where: { $0.address == address }) else { return }
        installed.remove(at: i)
        do {
            try RouteManager.ip([address.family == .v4 ? "-4" : "-6", "addr", "del", "\(IPPrefix(host: address))", "dev", device])
            log("virtual IP \(address) removed from \(device)")
        } catch {
            log("cannot remove virtual IP \(address) from \(device): \(error)")
        }
        applyDNS()
    }

    func removeAll() {
        for a in (lock.withLock { installed.map(\.address) }) { remove(a) }
    }

    var addresses: [IPAddress] { lock.withLock { installed.map(\.address) } }

    /// Every installed address's servers, without repeats, in the order they came.
    private var servers: [IPAddress] {
        var out: [IPAddress] = []
        for s in installed.flatMap(\.dns) where !out.contains(s) { out.append(s) }
        return out
    }

    private func applyDNS() {
        let servers = self.servers
        guard !servers.isEmpty || dnsApplied else { return }
        let mode = resolvedMode
        let list = servers.map(\.description)
        switch mode {
        case .none, .auto:
            if !servers.isEmpty { log("DNS servers \(list.joined(separator: ", ")) received but not applied (no systemd-resolved or resolvconf; see --dns)") }
            return
        case .resolved:
            run("/usr/bin/resolvectl", servers.isEmpty ? ["revert", device] : ["dns", device] + list)
        case .resolvconf:
            let name = "\(device).tern"
            if servers.isEmpty {
                run("/sbin/resolvconf", ["-d", name])
            } else {
                run("/sbin/resolvconf", ["-a", name], input: list.map { "nameserver \($0)\n" }.joined())
            }
        case .hook:
            guard let hook else { return }
            run(hook, [device] + list)
        }
        dnsApplied = !servers.isEmpty
        log(servers.isEmpty ? "DNS servers of \(device) restored (\(mode.rawValue))" : "DNS servers \(list.joined(separator: ", ")) set for \(device) (\(mode.rawValue))")
    }

    private var resolvedMode: DNSHandling {
        guard dns == .auto else { return dns }
        let fm = FileManager.default
        if fm.fileExists(atPath: "/run/systemd/resolve/io.systemd.Resolve"), fm.isExecutableFile(atPath: "/usr/bin/resolvectl") { return .resolved }
        if fm.isExecutableFile(atPath: "/sbin/resolvconf") { return .resolvconf }
        return .none
    }

    private func run(_ path: String, _ args: [String], input: String? = nil) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let inPipe = Pipe(), outPipe = Pipe()
        p.standardInput = inPipe
        p.standardOutput = outPipe
        p.standardError = outPipe
        do { try p.run() } catch { log("cannot run \(path): \(error)"); return }
        if let input { inPipe.fileHandleForWriting.write(Data(input.utf8)) }
        try? inPipe.fileHandleForWriting.close()
        let output = String(decoding: outPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        if p.terminationStatus != 0 {
            log("\(path) \(args.joined(separator: " ")) failed (\(p.terminationStatus)): \(output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
