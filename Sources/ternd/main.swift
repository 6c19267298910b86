import ArgumentParser
import Dispatch
import Foundation
import Logging
import TernDaemon
import TernIKE

struct Ternd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ternd",
        abstract: "Tern IPsec daemon: a userspace ESP/AH data plane on a TUN interface.",
        discussion: """
        Examples:
          ternd --setkey /etc/tern/ipsec.setkey --vici /run/tern/ternd.vici
          ternd --setkey keys.conf --setkey policies.conf --tun-mtu 1400 --log-level debug
          ternd --conf /etc/swanctl/swanctl.conf     IKEv2 gateway from a swanctl.conf
          ternd --conf swanctl.conf --metrics 127.0.0.1:9100 --log-format json

        SIGHUP reloads swanctl.conf and the setkey files (SAs that did not change keep their counters and
        sequence numbers); SIGTERM and SIGINT remove routes and the TUN and exit.
        """)

    @Option(name: .customLong("setkey"), help: "KAME setkey file to load (repeatable; applied in order).")
    var setkeyFiles: [String] = []

    @Option(name: .customLong("psk-file"),
            help: "racoon's psk.txt: every outbound require/unique policy of the --setkey files is then keyed by IKEv2 with the peer's pre-shared key from it, as racoon did (mode 0600).")
    var pskFile: String?

    @Option(help: "swanctl.conf with IKE connections and secrets; certificates and keys come from x509/, x509ca/, private/ … beside it (SIGHUP reloads them).")
    var conf: String?

    @Option(name: .customLong("swanctl-dir"),
            help: "Folder with swanctl's x509/, x509ca/, x509crl/, private/, rsa/, ecdsa/, pkcs8/ (default: the folder of --conf).")
    var swanctlDir: String?

    @Option(help: "UDP port for IKE; 0 turns IKE off.")
    var ikePort: UInt16 = 500

    @Option(help: "TEST ONLY: append IKE SA keys to this file (JSON lines) so tshark can decrypt IKE.")
    var ikeKeylog: String?

    @Option(help: "IKE retransmission timeout in seconds (strongSwan's retransmit_timeout).")
    var retransmitTimeout = 4.0

    @Option(help: "IKE retransmission backoff base (retransmit_base).")
    var retransmitBase = 1.8

    @Option(help: "IKE retransmissions before giving up (retransmit_tries).")
    var retransmitTries = 5

    @Option(help: "Fragment IKE messages larger than this many bytes (RFC 7383; strongSwan's fragment_size).")
    var fragmentSize = 1280

    @Flag(help: "Negotiate a new IKE SA on every initiate instead of adding a CHILD SA to an established one (reuse_ikesa = no).")
    var noReuseIkesa = false

    @Flag(help: "No IKE cookies and no per-address half-open limit (dos_protection = no); for benchmarks only.")
    var noDosProtection = false

    @Option(help: "Half-open IKE SAs in all before every new initiator must return a cookie (strongSwan's cookie_threshold).")
    var cookieThreshold = 30

    @Option(help: "Half-open IKE SAs from one address before that address must return a cookie (strongSwan asks at 3 too).")
    var cookieThresholdIp = 3

    @Option(help: "Half-open IKE SAs one address may hold; further IKE_SA_INITs from it are dropped until some finish (block_threshold).")
    var blockThreshold = 5

    @Option(help: "Half-open IKE SAs at most; the oldest is evicted for a new one (init_limit_half_open); 0: no ceiling.")
    var initLimitHalfOpen = 10_000

    @Option(help: "Cookie answers per second at most from the engine; 0 (default): no cap.")
    var cookieRate = 0

    @Option(help: "Under load, publish IKE's data-plane changes at most every this many milliseconds (and four times their cost); 0: after every change. For many SAs at once (benchmarks).")
    var publishIntervalMs = 0.0

    @Option(help: "Control socket path (strongSwan VICI protocol).")
    var vici = "/run/tern/ternd.vici"

    @Option(help: "Group allowed to use the control socket (default: root only).")
    var viciGroup: String?

    @Option(help: "TUN interface name.")
    var tun = "tern0"

    @Option(help: "TUN MTU (default: underlay MTU minus the worst-case overhead of the installed SAs).")
    var tunMtu: Int?

    @Option(help: "TUN transmit queue length in packets (Linux's default 500 drops TCP bursts).")
    var tunQueueLength = 4096

    @Option(help: "Path MTU of the underlay network.")
    var underlayMtu = 1500

    @Option(help: "Routing table for the routes into the TUN.")
    var routeTable = 220

    @Option(help: "fwmark on the daemon's own sockets; the routing rule skips marked packets.")
    var fwmark = "0x7e41"

    @Option(help: "UDP port for ESP-in-UDP (RFC 3948); 0 turns it off.")
    var udpPort: UInt16 = 4500

    @Flag(help: "Do not install routes or rules (you route traffic into the TUN yourself).")
    var noRoutes = false

    @Option(help: "Interface for the virtual IPs a gateway assigns (default: the TUN).")
    var virtualIpInterface: String?

    @Option(help: ArgumentHelp("What to do with DNS servers a gateway assigns: auto, resolved, resolvconf, hook or none.",
                               discussion: "auto: systemd-resolved if it runs, else resolvconf if installed, else none. hook: run --dns-hook with the interface and the servers (none: restore)."))
    var dns = "auto"

    @Option(help: "Program run as `HOOK IFACE [SERVER...]` when assigned DNS servers change (--dns hook); no servers: restore.")
    var dnsHook: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Option(help: ArgumentHelp("Per-subsystem log levels, like charondebug: e.g. ike=debug,cfg=warning.",
                               discussion: "Subsystems: ike (IKE engine), cfg (configuration), net (TUN, sockets, routes), vici (control socket), dmn (the rest)."))
    var logLevels: String?

    @Option(help: "Log format: text (human) or json (one JSON object per line: time, level, subsystem, message, metadata).")
    var logFormat = "text"

    @Option(help: ArgumentHelp("Serve Prometheus metrics on http://ADDRESS:PORT/metrics (off by default).",
                               discussion: "For example 127.0.0.1:9100 or [::]:9100; the counters are readable by anyone who can reach the port."))
    var metrics: String?

    func validate() throws {
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format is text or json") }
        guard let mode = DNSHandling(rawValue: dns) else {
            throw ValidationError("--dns is \(DNSHandling.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if mode == .hook && dnsHook == nil { throw ValidationError("--dns hook needs --dns-hook PROGRAM") }
        if let metrics, MetricsServer.split(metrics) == nil {
            throw ValidationError("--metrics takes ADDRESS:PORT, e.g. 127.0.0.1:9100 or [::]:9100")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("unknown log level '\(logLevel)'; use trace, debug, info, notice, warning, error or critical")
        }
        _ = try subsystemLevels()
        guard parseMark() != nil else { throw ValidationError("--fwmark takes a number such as 0x7e41") }
        guard (576...65_535).contains(underlayMtu) else { throw ValidationError("--underlay-mtu must be 576…65535") }
        if let m = tunMtu, !(576...65_535).contains(m) { throw ValidationError("--tun-mtu must be 576…65535") }
        if !(16...1_000_000).contains(tunQueueLength) { throw ValidationError("--tun-queue-length must be 16…1000000") }
        if !(512...65_000).contains(fragmentSize) { throw ValidationError("--fragment-size must be 512…65000") }
        if !(0...1_000).contains(publishIntervalMs) { throw ValidationError("--publish-interval-ms must be 0…1000") }
        if retransmitTimeout <= 0 || retransmitBase < 1 || !(0...100).contains(retransmitTries) {
            throw ValidationError("retransmission: --retransmit-timeout > 0, --retransmit-base >= 1, --retransmit-tries 0…100")
        }
    }

    static let subsystems = ["ike": "ternd.ike", "cfg": "ternd.cfg", "net": "ternd.net", "vici": "ternd.vici", "dmn": "ternd"]

    /// `ike=debug,cfg=warning` as logger label → level.
    func subsystemLevels() throws -> [String: Logger.Level] {
        var out: [String: Logger.Level] = [:]
        for item in (logLevels ?? "").split(separator: ",") where !item.isEmpty {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let label = Self.subsystems[parts[0]] else {
                throw ValidationError("--log-levels: '\(item)' is not SUBSYSTEM=LEVEL with SUBSYSTEM one of \(Self.subsystems.keys.sorted().joined(separator: ", "))")
            }
            guard let level = Logger.Level(rawValue: parts[1]) else {
                throw ValidationError("--log-levels: unknown level '\(parts[1])' for \(parts[0]); use trace, debug, info, notice, warning, error or critical")
            }
            out[label] = level
        }
        return out
    }

    func parseMark() -> UInt32? {
        fwmark.hasPrefix("0x") ? UInt32(fwmark.dropFirst(2), radix: 16) : UInt32(fwmark)
    }

    func run() throws {
        let level = Logger.Level(rawValue: logLevel)!
        let levels = (try? subsystemLevels()) ?? [:]
        let json = logFormat == "json"
        LoggingSystem.bootstrap { label in
            if json {
                var h = JSONLogHandler(label: label)
                h.logLevel = levels[label] ?? level
                return h
            }
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = levels[label] ?? level
            return h
        }
        let log = Logger(label: "ternd")
        var o = DaemonOptions()
        o.setkeyFiles = setkeyFiles
        o.pskFile = pskFile
        o.swanctlFile = conf
        o.swanctlDirectory = swanctlDir
        o.ikePort = ikePort
        o.ikeKeyLog = ikeKeylog
        o.fragmentSize = fragmentSize
        o.retransmission = RetransmissionPolicy(timeout: retransmitTimeout, base: retransmitBase, tries: retransmitTries)
        o.reuseIKESA = !noReuseIkesa
        o.dosProtection = !noDosProtection
        o.cookieThreshold = cookieThreshold
        o.perSourceCookieThreshold = cookieThresholdIp
        o.perSourceHalfOpenLimit = blockThreshold
        o.halfOpenLimit = initLimitHalfOpen
        o.cookieRateLimit = cookieRate
        o.publishInterval = publishIntervalMs / 1000
        o.viciPath = vici
        o.viciGroup = viciGroup
        o.tunName = tun
        o.tunMTU = tunMtu
        o.tunQueueLength = tunQueueLength
        o.underlayMTU = underlayMtu
        o.routeTable = routeTable
        o.fwmark = parseMark()!
        o.udpPort = udpPort
        o.installRoutes = !noRoutes
        o.virtualIPInterface = virtualIpInterface
        o.dnsHandling = DNSHandling(rawValue: dns)!
        o.dnsHook = dnsHook
        o.metricsAddress = metrics
        let daemon = Daemon(options: o, logger: log)
        do {
            try daemon.start()
        } catch {
            daemon.stop()
            log.critical("\(error)")
            Foundation.exit(1)
        }

        var sources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT, SIGHUP] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .main)
            s.setEventHandler {
                if sig == SIGHUP {
                    do { try daemon.reload() } catch { log.error("reload failed, keeping the running configuration: \(error)") }
                } else {
                    log.notice("signal \(sig): shutting down")
                    daemon.stop()
                    Foundation.exit(0)
                }
            }
            s.resume()
            sources.append(s)
        }
        let timer = DispatchSource.makeTimerSource(queue: .main)
        timer.schedule(deadline: .now() + 5, repeating: 5)
        timer.setEventHandler { daemon.refreshAddresses() }
        timer.resume()
        withExtendedLifetime((sources, timer)) { dispatchMain() }
    }
}

Ternd.main()
