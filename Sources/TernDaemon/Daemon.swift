import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import TernConfig
import TernDataPlane
import TernIKE
import TernPlatform
import TernVICI
import TernWire

public struct DaemonOptions: Sendable {
    public var setkeyFiles: [String] = []
    /// racoon's psk.txt: with it, outbound require/unique policies of the setkey files are keyed
    /// by IKEv2 (RacoonKeying) instead of waiting for manual SAs.
    public var pskFile: String?
    /// swanctl.conf for IKE connections and secrets (nil: IKE answers nothing until configured).
    public var swanctlFile: String?
    /// The folder holding swanctl's x509/, x509ca/, x509crl/, private/ … (nil: swanctl.conf's folder).
    public var swanctlDirectory: String?
    /// UDP port for IKE (500; 0 turns IKE off).
    public var ikePort: UInt16 = 500
    /// Test-only: append each IKE SA's keys as JSON lines (for Wireshark/tshark decryption).
    public var ikeKeyLog: String?
    public var retransmission = RetransmissionPolicy()
    /// IKE fragmentation threshold (RFC 7383), strongSwan's fragment_size.
    public var fragmentSize = 1280
    /// false: every `initiate` negotiates a new IKE SA (strongSwan's reuse_ikesa = no).
    public var reuseIKESA = true
    /// false: no cookies and no per-source half-open limit (strongSwan's dos_protection = no),
    /// for benchmarks that open thousands of IKE SAs from one address at once.
    public var dosProtection = true
    /// IKE_SA_INIT admission under load (EngineConfiguration's fields of the same names).
    public var cookieThreshold = 30
    public var perSourceCookieThreshold = 3
    public var perSourceHalfOpenLimit = 5
    public var halfOpenLimit = 10_000
    public var cookieRateLimit = 0
    /// Under load, IKE publishes data-plane changes at most this often (seconds); 0: every change.
    /// Off by default: 5 ms lost one ping in 1500 across CHILD SA rekeys with strongSwan
    /// (test_rekeys_from_both_sides_lose_nothing, not yet understood); benchmarks turn it on.
    public var publishInterval = 0.0
    public var viciPath: String = "/run/tern/ternd.vici"
    public var viciGroup: String?
    public var tunName = "tern0"
    /// nil: underlay MTU minus the worst-case overhead of the installed SAs.
    public var tunMTU: Int?
    /// TUN transmit queue. Linux's default of 500 overflows in TCP bursts faster than one worker
    /// drains it (measured: ~17 000 drops and as many TCP retransmits in 8 s at 1.1 Gbit/s);
    /// 4096 removed them at the same throughput.
    public var tunQueueLength = 4096
    public var underlayMTU = 1500
    public var routeTable = 220
    public var fwmark: UInt32 = 0x7e41
    /// ESP-in-UDP port (RFC 3948); 0 turns it off.
    public var udpPort: UInt16 = 4500
    public var installRoutes = true
    /// Where virtual IPs a gateway assigns us go (nil: the TUN).
    public var virtualIPInterface: String?
    /// What to do with the DNS servers that come with them (--dns, --dns-hook).
    public var dnsHandling = DNSHandling.auto
    public var dnsHook: String?
    public var batchSize = 64
    /// ADDRESS:PORT for the Prometheus endpoint (`/metrics`); nil: no endpoint.
    public var metricsAddress: String?
    public init() {}
}

/// Everything that can stop the daemon from starting or reloading, phrased for the operator.
public struct DaemonError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The runtime: loads configuration into data-plane snapshots, owns the TUN, sockets, routes
/// and worker threads, and serves the control socket.
public final class Daemon: @unchecked Sendable {
    public let options: DaemonOptions
    let log: Logger
    let drops = DropCounters()
    let udpCounters = UDPPortCounters()
    private let controlLock = NSLock()
    private var box: SnapshotBox!
    private var tun: TunDevice!
    private var sockets = DataPlaneSockets()
    private var outbound: OutboundWorker!
    private var inbound: InboundWorker!
    private var threads: [Thread] = []
    private var routes: RouteManager?
    private var virtualIPs: VirtualIPInstaller?
    private(set) var vici: VICIServer?
    private var metrics: MetricsServer?
    private var currentTunMTU = 0
    var ike: IKEController?
    /// Connections, shared keys and pools loaded over VICI, merged with the file's.
    let viciConfig = VICIConfigStore()
    let credentials = VICICredentialStore()
    /// Reads `file://` CRL URIs for chain validation, for file and VICI credentials alike.
    let crlFetcher = FileCRLFetcher()
    let startedAt = Date()
    /// What setkey configured; what IKE installed is in the snapshot (`DataPlaneSnapshot.dynamic`).
    private var setkeyDatabase = SecurityDatabaseConfig()
    /// IKE's entries when the published snapshot lacks some: a change failed to install, and
    /// every publish rebuilds from these until one succeeds (as the full rebuild always did).
    private var unpublishedIKE: DynamicDatabase?

    /// Subsystem loggers, like charondebug's: configuration, network (TUN, sockets, routes), control.
    let cfgLog = Logger(label: "ternd.cfg")
    let netLog = Logger(label: "ternd.net")
    let viciLog = Logger(label: "ternd.vici")

    public init(options: DaemonOptions, logger: Logger) {
        self.options = options
        self.log = logger
    }

    /// Reads every setkey file, in order, into one database configuration; with a psk.txt, the
    /// policies IKE keys (RacoonKeying) leave it for the engine's connections.
    static func loadConfiguration(_ files: [String], pskFile: String? = nil) throws -> (SecurityDatabaseConfig, RacoonKeying.Result?) {
        var db = SecurityDatabaseConfig()
        var all: [SetkeyStatement] = []
        for f in files {
            let statements = try SetkeyFile.load(path: f)
            try SetkeyFile.apply(statements, to: &db)
            all += statements
        }
        guard let pskFile else { return (db, nil) }
        let psk = try RacoonPSKFile.load(path: pskFile)
        let keying = try RacoonKeying.connections(statements: all, database: db, psk: psk)
        for s in keying.keyedPolicies { try? db.deletePolicy(s) }
        return (db, keying)
    }

    /// What `--psk-file` keys: connections and keys added to swanctl.conf's.
    private var racoonKeying: RacoonKeying.Result?

    static var now: MonotonicInstant { .now }

    /// Reads swanctl.conf into the IKE engine's configuration.
    func loadIKEConfiguration() throws -> EngineConfiguration {
        var base = EngineConfiguration()
        base.retransmission = options.retransmission
        base.fragmentSize = options.fragmentSize
        base.reuseIKESA = options.reuseIKESA
        base.cookieThreshold = options.cookieThreshold
        base.perSourceCookieThreshold = options.perSourceCookieThreshold
        base.perSourceHalfOpenLimit = options.perSourceHalfOpenLimit
        base.halfOpenLimit = options.halfOpenLimit
        base.cookieRateLimit = options.cookieRateLimit
        if !options.dosProtection {
            base.cookieThreshold = .max
            base.perSourceCookieThreshold = .max
            base.perSourceHalfOpenLimit = .max
        }
        guard let path = options.swanctlFile else { return viciConfig.replacingFile(withRacoonKeying(base)) }
        let parsed = try SwanctlLoader.load(path: path)
        var loader = SwanctlCredentialLoader(directory: credentialDirectory(swanctlFile: path), crlFetcher: crlFetcher)
        let credentials = try loader.load(parsed)
        for w in parsed.warnings + loader.warnings { cfgLog.warning("\(w)") }
        // Keys loaded over VICI count for `certs =` too: charon holds one credential store.
        let available = credentials.merged(with: viciConfig.credentialsFromVICI)
        let folders = loader
        let source = CertificateSource(certificates: { reference, folder, at throws(ConfigError) in
            try folders.certificates(named: reference, folder: folder, at: at)
        }, hasPrivateKey: available.hasPrivateKey(for:))
        let configuration = try SwanctlAdmission.engineConfiguration(parsed, base: base, credentials: credentials, certificates: source)
        for c in parsed.connections { for w in SwanctlAdmission.authWarnings(c, source: parsed.source(of: c)) { cfgLog.warning("\(w)") } }
        let set = configuration.credentials
        cfgLog.info("credentials: \(set.certificates.count) certificates, \(set.authorities.count) CAs, \(set.privateKeys.count) private keys, \(set.crls.count) CRLs from \(loader.directory)")
        return viciConfig.replacingFile(withRacoonKeying(configuration))
    }

    /// `c` plus the connections and keys `--psk-file` derived from the setkey policies.
    private func withRacoonKeying(_ c: EngineConfiguration) -> EngineConfiguration {
        guard let k = racoonKeying else { return c }
        var c = c
        c.connections += k.connections.map { var p = $0; p.fragmentSize = c.fragmentSize; return p }
        c.sharedKeys += k.sharedKeys
        return c
    }

    private func logKeying(_ keying: RacoonKeying.Result?) {
        guard let keying, let psk = options.pskFile else { return }
        for w in keying.warnings { cfgLog.warning("\(w)") }
        let children = keying.connections.reduce(0) { $0 + $1.children.count }
        cfgLog.info("\(psk): IKEv2 keys \(children) setkey policies toward \(keying.connections.count) peers (\(keying.connections.map(\.name).joined(separator: ", ")))")
    }

    /// swanctl's directory (x509/, x509ca/, private/ …): `--swanctl-dir`, else swanctl.conf's.
    func credentialDirectory(swanctlFile path: String) -> String {
        if let dir = options.swanctlDirectory { return dir }
        let dir = (path as NSString).deletingLastPathComponent
        return dir.isEmpty ? "." : dir
    }

    public func start() throws {
        // A few hot threads (workers, IKE queue) and many short VICI/GCD ones: two arenas keep
        // memory per IKE SA down without contention on the hot paths (they allocate nothing).
        MemoryTuning.limitMallocArenas(2)
        let (db, keying) = try Daemon.loadConfiguration(options.setkeyFiles, pskFile: options.pskFile)
        setkeyDatabase = db
        racoonKeying = keying
        logKeying(keying)
        let ikeConfiguration = try loadIKEConfiguration()
        let snapshot: DataPlaneSnapshot
        do {
            snapshot = try DataPlaneSnapshot(config: db, localAddresses: LocalAddresses.current(),
                                             underlayMTU: options.underlayMTU, now: Daemon.now)
        } catch {
            throw DaemonError("\(error)")
        }
        box = SnapshotBox(snapshot)
        cfgLog.info("loaded \(snapshot.associationCount) SAs and \(snapshot.policyCount) policies from \(options.setkeyFiles.joined(separator: ", "))")

        tun = try TunDevice(name: options.tunName)
        try applyTunMTU(snapshot)
        try tun.setTransmitQueueLength(options.tunQueueLength)
        try tun.up()
        netLog.info("TUN \(tun.name) up, MTU \(currentTunMTU)")

        try openSockets()
        let maxPacket = 65_535
        outbound = try OutboundWorker(tun: tun, sockets: sockets, box: box, drops: drops,
                                      batchSize: options.batchSize, maxPacket: maxPacket)
        inbound = try InboundWorker(tun: tun, sockets: sockets, box: box, drops: drops, udpCounters: udpCounters,
                                    batchSize: options.batchSize, maxPacket: maxPacket)
        let out: OutboundWorker = outbound, inb: InboundWorker = inbound
        for (name, isOutbound) in [("tern-out", true), ("tern-in", false)] {
            let t = Thread { if isOutbound { out.run() } else { inb.run() } }
            t.name = name
            t.stackSize = 1 << 20
            t.start()
            threads.append(t)
        }

        if options.installRoutes {
            routes = RouteManager(table: options.routeTable, mark: options.fwmark, device: tun.name) { [netLog] in netLog.info("\($0)") }
            try installRoutes(snapshot)
        }
        if options.ikePort != 0 {
            let ikeLog = Logger(label: "ternd.ike")
            let controller = try IKEController(configuration: ikeConfiguration, sockets: sockets, ikePort: options.ikePort,
                                               mark: options.fwmark, keyLogPath: options.ikeKeyLog, crlFetcher: crlFetcher,
                                               publishInterval: options.publishInterval, log: ikeLog) { [weak self] change in
                self?.installIKE(change)
            }
            inb.onIKE = { [weak controller] bytes, src, port, dst in
                controller?.receiveEncapsulated(bytes, source: src, sourcePort: port, destination: dst)
            }
            out.onAcquire = { [weak controller] request in controller?.acquire(reqid: request.reqid) }
            controller.trafficCounters = { [weak self] in
                guard let self else { return [:] }
                var usage: [UInt32: (bytes: UInt64, packets: UInt64)] = [:]
                for (spi, c) in self.saCounters() { usage[spi] = (c.bytes, c.packets) }
                return usage
            }
            let vips = VirtualIPInstaller(device: options.virtualIPInterface ?? tun.name, dns: options.dnsHandling,
                                          hook: options.dnsHook) { [netLog] in netLog.info("\($0)") }
            virtualIPs = vips
            controller.virtualIP = { change in
                switch change {
                case .add(let a, let dns, let connection): vips.add(a, dns: dns, connection: connection)
                case .remove(let a): vips.remove(a)
                }
            }
            controller.releaseHeld = { reqid, send in
                if send { out.flushHeld(reqid: reqid) } else { out.discardHeld(reqid: reqid) }
            }
            ike = controller
            controller.start()
            log.info("IKE on UDP \(options.ikePort)/\(options.udpPort): \(ikeConfiguration.connections.count) connections, \(ikeConfiguration.sharedKeys.count) shared keys")
        }
        try startControlSocket()
        if let address = options.metricsAddress {
            let server = try MetricsServer(address: address, log: log) { [weak self] in self?.metricsText() ?? "" }
            metrics = server
            log.notice("metrics on http://\(address)/metrics (port \(server.port))")
        }
        log.notice("ternd ready: \(snapshot.associationCount) SAs, \(snapshot.policyCount) policies, control socket \(options.viciPath)")
    }

    private func openSockets() throws {
        let mark = options.fwmark
        for fam in [IPAddress.Family.v4, .v6] {
            do {
                sockets.espRaw[fam] = try .raw(family: fam, proto: Int32(IPProtocolNumber.esp), mark: mark, headerIncluded: false)
                sockets.ahRaw[fam] = try .raw(family: fam, proto: Int32(IPProtocolNumber.ah), mark: mark, headerIncluded: false)
                sockets.headerIncluded[fam] = try .raw(family: fam, proto: 255 /* IPPROTO_RAW */, mark: mark, headerIncluded: true)
            } catch {
                // A host without IPv6 still runs IPv4 tunnels.
                if fam == .v6 { netLog.warning("IPv6 sockets unavailable: \(error)"); continue }
                throw error
            }
            if options.udpPort != 0 {
                do {
                    sockets.udp[fam] = try .udp(family: fam, port: options.udpPort, mark: mark)
                } catch {
                    throw DaemonError("cannot listen on UDP port \(options.udpPort) for ESP-in-UDP: \(error)"
                        + " (another IKE daemon running? use --udp-port 0 to turn ESP-in-UDP off)")
                }
            }
        }
        sockets.udpPort = options.udpPort
    }

    private func applyTunMTU(_ snapshot: DataPlaneSnapshot) throws {
        // Without SAs assume the worst case: IPv6 outer, UDP, AES-CBC, HMAC-SHA-512.
        let overhead = snapshot.associationCount == 0 ? 40 + 8 + 8 + 16 + 17 + 32 : snapshot.worstCaseOverhead
        let mtu = options.tunMTU ?? max(1280, options.underlayMTU - max(overhead, 1))
        if mtu != currentTunMTU {
            try tun.setMTU(mtu)
            currentTunMTU = mtu
        }
    }

    /// Routes for every outbound PROTECT policy: its destination into the TUN, with a local
    /// address inside the policy's source as the source hint (so local traffic picks it).
    private func installRoutes(_ snapshot: DataPlaneSnapshot) throws {
        guard let routes else { return }
        var wanted = Set<RouteManager.Route>()
        for p in snapshot.policies where p.config.direction == .outbound {
            guard case .protect = p.config.action else { continue }
            let src = p.config.source
            let hint = src.length == 0 ? nil : snapshot.localAddresses.filter { src.contains($0) }.min()
            wanted.insert(RouteManager.Route(destination: p.config.destination, sourceHint: hint))
        }
        try routes.apply(wanted)
    }

    /// Re-reads the setkey files and publishes the new databases; unchanged SAs keep their
    /// sequence numbers, replay windows and counters. On error the running state is kept.
    public func reload() throws {
        controlLock.lock(); defer { controlLock.unlock() }
        let previousKeying = racoonKeying
        let (db, keying) = try Daemon.loadConfiguration(options.setkeyFiles, pskFile: options.pskFile)
        racoonKeying = keying
        let ikeConfiguration: EngineConfiguration
        do { ikeConfiguration = try loadIKEConfiguration() } catch { racoonKeying = previousKeying; throw error }
        logKeying(keying)
        setkeyDatabase = db
        try publishFull(dynamic: ikeDatabase)
        ike?.update(configuration: ikeConfiguration)
        log.notice("reloaded: \(box.load().associationCount) SAs, \(box.load().policyCount) policies")
    }

    /// Edits the setkey database (`tern setkey`) and publishes it; on error nothing changes.
    func replaceSetkeyDatabase(_ edit: (inout SecurityDatabaseConfig) throws -> Void) throws {
        controlLock.lock(); defer { controlLock.unlock() }
        let previous = setkeyDatabase
        var db = setkeyDatabase
        try edit(&db)
        setkeyDatabase = db
        do { try publishFull(dynamic: ikeDatabase) } catch { setkeyDatabase = previous; throw error }
    }

    /// Everything IKE has installed.
    private var ikeDatabase: DynamicDatabase { unpublishedIKE ?? box.load().dynamic }

    /// Called by the IKE controller (on its queue) with what IKE changed since its last call.
    /// Applied to the current snapshot in O(changes); a full rebuild only when local addresses
    /// changed meanwhile or an earlier change failed.
    func installIKE(_ change: DynamicDatabaseChange) {
        controlLock.lock(); defer { controlLock.unlock() }
        let previous = box.load()
        let addresses = LocalAddresses.current()
        do {
            if unpublishedIKE == nil && addresses == previous.localAddresses {
                let next: DataPlaneSnapshot
                do {
                    next = try previous.applying(change, now: Daemon.now)
                } catch {
                    var all = previous.dynamic
                    all.apply(change)
                    unpublishedIKE = all
                    throw DaemonError("\(error)")
                }
                box.publish(next)
                try applyTunMTU(next)
                if next.policyVersion != previous.policyVersion { try installRoutes(next) }
            } else {
                var all = ikeDatabase
                all.apply(change)
                unpublishedIKE = all
                try publishFull(dynamic: all, addresses: addresses)
            }
        } catch {
            log.error("cannot install IKE SAs into the data plane: \(error)")
        }
    }

    /// Rebuilds the snapshot from setkey's database and IKE's (newest last, so a rekeyed SA
    /// sends; a duplicate selector keeps the older policy).
    private func publishFull(dynamic: DynamicDatabase, addresses: Set<IPAddress>? = nil) throws {
        let previous = box.load()
        let next: DataPlaneSnapshot
        do {
            next = try DataPlaneSnapshot(static: setkeyDatabase, dynamic: dynamic, localAddresses: addresses ?? LocalAddresses.current(),
                                         underlayMTU: options.underlayMTU, previous: previous, now: Daemon.now)
        } catch {
            throw DaemonError("\(error)")
        }
        box.publish(next)
        unpublishedIKE = nil
        try applyTunMTU(next)
        try installRoutes(next)
    }

    /// Picks up address changes (an SA whose source appeared becomes outbound).
    public func refreshAddresses() {
        controlLock.lock(); defer { controlLock.unlock() }
        let current = box.load()
        let addresses = LocalAddresses.current()
        guard addresses != current.localAddresses else { return }
        do {
            try publishFull(dynamic: ikeDatabase, addresses: addresses)
            netLog.info("local addresses changed; data plane updated")
        } catch {
            log.error("cannot apply address change: \(error)")
        }
    }

    func currentSnapshot() -> DataPlaneSnapshot { box.load() }

    public func state() -> StateReport {
        StateReport(snapshot: box.load(), drops: drops, tunName: tun.name, tunMTU: currentTunMTU, udp: udpCounters)
    }

    /// uname(2) fields for VICI `version`, as charon reports them.
    static func uname() -> (sysname: String, release: String, machine: String) {
        var u = utsname()
        guard Glibc.uname(&u) == 0 else { return ("Linux", "", "") }
        func field<T>(_ f: T) -> String {
            withUnsafeBytes(of: f) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return (field(u.sysname), field(u.release), field(u.machine))
    }

    private func startControlSocket() throws {
        let dir = (options.viciPath as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let server = VICIServer(path: options.viciPath, mode: options.viciGroup == nil ? 0o600 : 0o660,
                                group: options.viciGroup) { [viciLog] in viciLog.info("\($0)") }
        server.register(command: "version") { _, _ in
            var m = VICIMessage()
            m["daemon"] = .str("ternd"); m["version"] = .str(ternVersion)
            let host = Self.uname()
            m["sysname"] = .str(host.sysname); m["release"] = .str(host.release); m["machine"] = .str(host.machine)
            return m
        }
        server.register(command: "tern-state") { [weak self] _, _ in
            self?.state().message ?? VICIMessage()
        }
        server.register(command: "tern-reload") { [weak self] _, _ in
            var m = VICIMessage()
            do {
                try self?.reload()
                m["success"] = .str("yes")
            } catch {
                m["success"] = .str("no"); m["errmsg"] = .str("\(error)")
            }
            return m
        }
        registerCredentialCommands(server)
        registerSetkeyCommands(server)
        if let ike {
            registerIKECommands(server, ike)
            registerConfigCommands(server, ike)
            registerQueryCommands(server, ike)
            registerEvents(server, ike)
        }
        do { try server.start() } catch { throw DaemonError("control socket \(options.viciPath): \(error)") }
        vici = server
    }

    public func stop() {
        ike?.stop()
        outbound?.stop(); inbound?.stop()
        while threads.contains(where: { !$0.isFinished }) { usleep(10_000) }
        vici?.stop()
        metrics?.stop()
        routes?.removeAll()
        virtualIPs?.removeAll()
        log.notice("ternd stopped")
    }
}

public let ternVersion = "0.1.0"
