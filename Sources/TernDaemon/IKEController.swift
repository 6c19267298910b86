import Atomics
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import CTernLinux
import TernDataPlane
import TernConfig
import TernIKE
import TernPlatform
import TernWire

/// The IKE engine's edge: feeds it datagrams (UDP 500 here, UDP 4500 from the inbound worker),
/// commands and timer ticks on one serial queue, and carries out its actions — sending,
/// installing SAs and policies into the data plane, logging events.
///
/// Threading: every touch of `endpoint` happens on `queue`. Other threads (VICI handlers, the
/// inbound worker, the port-500 reader) hop onto it.
final class IKEController: @unchecked Sendable {
    let queue = DispatchQueue(label: "tern.ike")
    let endpoint: IKEEndpoint
    private let log: Logger
    private let sockets: DataPlaneSockets
    private let sendBatch = IOBatch(size: 1)
    private var timer: DispatchSourceTimer?
    private var trafficTimer: DispatchSourceTimer?
    /// Data-plane counters by SPI, for rekey_bytes/rekey_packets; set by the daemon.
    var trafficCounters: (@Sendable () -> [UInt32: (bytes: UInt64, packets: UInt64)])?
    /// The IKE port's sockets and reader threads (kernel-steered: existing SAs first).
    let portReaders: IKEPortReaders
    private var running = true
    private let keyLog: FileHandle?
    /// Applies SA/policy changes to the data plane (publishes a new snapshot).
    private let publish: @Sendable (_ change: DynamicDatabaseChange) -> Void
    /// The installation order of each SA IKE has installed (newest last, so a rekeyed SA sends).
    /// The configs themselves live in the engine and the snapshot: a third copy here cost ~0.3 KB
    /// per IKE SA. Dictionaries because ten thousand IKE SAs made linear searches quadratic.
    private var saOrders: [SAKey: UInt64] = [:]
    private var policies: [UInt32: (order: UInt64, policies: [PolicyConfig])] = [:]
    private var nextOrder: UInt64 = 0
    /// What changed since the last publish (nil: removed); a publish hands over only these.
    private var changedSAs: [SAKey: OrderedSA?] = [:]
    private var changedPolicies = Set<UInt32>()
    /// Under load, publishing happens at most once per `publishInterval`, and datagrams that
    /// follow an unpublished change wait for it.
    private let publishInterval: Double
    private var unpublished = false
    private var heldSends: [(bytes: [UInt8], from: SocketAddress, to: SocketAddress)] = []
    private var lastPublish: MonotonicInstant?
    private var lastPublishDuration = 0.0
    private var publishScheduled = false
    private var waiters: [UUID: (IKEEvent) -> Bool] = [:]
    /// Lifecycle events counted by connection, for the metrics endpoint; touched on `queue` only.
    private var counts = IKEEventCounts()
    /// Sends (true) or drops the packets a trap policy held for a reqid; set by the daemon.
    var releaseHeld: (@Sendable (_ reqid: UInt32, _ send: Bool) -> Void)?
    enum VirtualIPChange { case add(IPAddress, dns: [IPAddress], connection: String), remove(IPAddress) }
    /// Installs or removes a virtual IP the gateway assigned us, before the CHILD SA that uses
    /// it is published (so its routes take the address as their source).
    var virtualIP: ((VirtualIPChange) -> Void)?
    let ikePort: UInt16
    /// Every engine event, on the IKE queue (the daemon publishes VICI events from it).
    var onEvent: ((IKEEvent) -> Void)?
    /// Temporary event watchers (VICI control-log streams); touched only on the IKE queue.
    private var observers: [UUID: (IKEEvent) -> Void] = [:]
    /// strongSwan counters-plugin counters (the engine counts the messages); touched only on the IKE queue.
    var counters = IKECounters()

    /// DNS, route and CRL lookups the engine asks for, off this queue.
    private let lookups: LookupService
    /// Received IKE datagrams waiting for the IKE queue.
    let intake = IKEIntake()
    /// Tags for operator initiations (VICI `initiate`), so each call waits for its own outcome.
    private let initiationTags = ManagedAtomic<UInt64>(0)
    func nextInitiationTag() -> UInt64 { initiationTags.wrappingIncrementThenLoad(ordering: .relaxed) }
    /// When the timer is armed for (to re-arm only when the next deadline moves).
    private var armedFor = MonotonicInstant.never

    init(configuration: EngineConfiguration, sockets: DataPlaneSockets, ikePort: UInt16, mark: UInt32,
         floodReaders: Int = IKEPortReaders.defaultFloodReaders, keyLogPath: String?, crlFetcher: FileCRLFetcher, publishInterval: Double = 0, log: Logger,
         publish: @escaping @Sendable (DynamicDatabaseChange) -> Void) throws {
        self.log = log
        self.sockets = sockets
        self.publish = publish
        self.ikePort = ikePort
        self.publishInterval = publishInterval
        if let keyLogPath {
            _ = FileManager.default.createFile(atPath: keyLogPath, contents: nil, attributes: [.posixPermissions: 0o600])
            keyLog = FileHandle(forWritingAtPath: keyLogPath)
            log.warning("IKE key log enabled (\(keyLogPath)): for testing only, it holds the IKE SA keys")
        } else {
            keyLog = nil
        }
        endpoint = IKEEndpoint(configuration: Self.withPorts(configuration, ike: ikePort, nat: sockets.udpPort),
                               random: .system(), keyLogEnabled: keyLogPath != nil)
        lookups = LookupService(mark: mark, crlFetcher: crlFetcher)
        portReaders = try IKEPortReaders(port: ikePort, mark: mark, floodReaders: floodReaders, cookies: endpoint.cookies,
                                         warn: { log.warning("\($0)") })
    }

    /// The monotonic clock (the data plane's clock too), for the engine. Reading it also hands
    /// the engine the calendar time (certificate validity), so every input carries both.
    var now: MonotonicInstant {
        endpoint.calendarTime = Date()
        return .now
    }

    /// The engine's ports are ternd's (--ike-port/--udp-port); connections that kept swanctl's
    /// default local_port (500) use ternd's IKE port.
    static func withPorts(_ c: EngineConfiguration, ike: UInt16, nat: UInt16) -> EngineConfiguration {
        var c = c
        c.ikePort = ike
        c.natPort = nat == 0 ? 4500 : nat
        for i in c.connections.indices where c.connections[i].localPort == 500 { c.connections[i].localPort = ike }
        return c
    }

    func start() {
        portReaders.start { [weak self] bytes, from, to in self?.receive(bytes, from: from, to: to) }
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.setEventHandler { [weak self] in
            guard let self else { return }
            self.apply(self.endpoint.handleTimeout(now: self.now))
        }
        timer.resume()
        self.timer = timer
        let traffic = DispatchSource.makeTimerSource(queue: queue)
        traffic.schedule(deadline: .now() + 1, repeating: 1, leeway: .milliseconds(100))
        traffic.setEventHandler { [weak self] in
            guard let self, self.running, let counters = self.trafficCounters?() else { return }
            self.apply(self.endpoint.updateTraffic(counters, now: self.now))
        }
        traffic.resume()
        trafficTimer = traffic
        queue.async { self.apply(self.endpoint.startConnections(now: self.now)) }
    }

    func stop() {
        queue.sync {
            running = false
            timer?.cancel()
            trafficTimer?.cancel()
            // Tell peers we are going (best effort, like charon on shutdown).
            for sa in endpoint.listSAs(now: now) where sa.state == .established {
                if let acts = try? endpoint.terminate(ike: nil, uniqueID: sa.uniqueID, now: now) { apply(acts, publishing: false) }
            }
        }
        portReaders.stop()
        lookups.stop()
    }

    /// Replaces connections and secrets (SIGHUP); running SAs stay.
    func update(configuration: EngineConfiguration) {
        queue.async {
            for warning in self.endpoint.update(configuration: Self.withPorts(configuration, ike: self.ikePort, nat: self.sockets.udpPort)) {
                self.log.warning("\(warning)")
            }
            self.apply(self.endpoint.startConnections(now: self.now))
        }
    }

    // MARK: - Input

    /// From the outbound worker: a packet matched a trap policy that has no SA yet.
    func acquire(reqid: UInt32) {
        queue.async {
            guard self.running else { return }
            self.apply(self.endpoint.acquire(reqid: reqid, now: self.now))
        }
    }

    /// From the inbound worker: an IKE message on the ESP-in-UDP port.
    func receiveEncapsulated(_ raw: UnsafeRawBufferPointer, source: IPAddress, sourcePort: UInt16, destination: IPAddress) {
        receive([UInt8](raw), from: SocketAddress(source, sourcePort), to: SocketAddress(destination, sockets.udpPort))
    }

    /// Queues a datagram for the engine (any thread): bounded, established IKE SAs first.
    func receive(_ bytes: [UInt8], from: SocketAddress, to: SocketAddress) {
        let r = intake.push(IKEIntake.Item(bytes: bytes, from: from, to: to))
        if r.scheduleDrain { queue.async { self.drainIntake() } }
    }

    /// Datagrams handled per turn on the IKE queue before commands and timers get theirs.
    private static let intakeTurn = 64

    private func drainIntake() {
        guard running else { return }
        let items = intake.pop(max: Self.intakeTurn)
        for i in items {
            apply(endpoint.handle(datagram: i.bytes, from: i.from, to: i.to, now: now), rearm: false)
        }
        // Once per turn: the timer (a dispatch call and a wakeup each) and the reader's cookie mode.
        rescheduleTimer()
        portReaders.cookieMode.store(endpoint.requiresCookies, ordering: .relaxed)
        if !items.isEmpty { queue.async { self.drainIntake() } }
    }

    // MARK: - Commands (from VICI threads)

    /// Runs `body` on the IKE queue with the endpoint, applies its actions, and returns its result.
    func command<T>(_ body: (IKEEndpoint, MonotonicInstant) throws(IKECommandError) -> ([IKEAction], T)) throws(IKECommandError) -> T {
        let r: Result<T, IKECommandError> = queue.sync {
            do throws(IKECommandError) {
                let (acts, value) = try body(endpoint, now)
                apply(acts)
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        return try r.get()
    }

    /// Waits (on the caller's thread) until `match` accepts an event or `timeout` passes.
    /// `match` runs on the IKE queue; return true to stop waiting.
    func wait(timeout: Double, after start: () throws(IKECommandError) -> Void, match: @escaping (IKEEvent) -> Bool) throws(IKECommandError) -> Bool {
        let done = DispatchSemaphore(value: 0)
        let id = UUID()
        queue.sync { waiters[id] = { e in if match(e) { done.signal(); return true }; return false } }
        do { try start() } catch {
            queue.sync { waiters[id] = nil }
            throw error
        }
        let ok = done.wait(timeout: timeout <= 0 ? .distantFuture : .now() + timeout) == .success
        queue.sync { waiters[id] = nil }
        return ok
    }

    /// Calls `watch` (on the IKE queue) with every event until `unobserve`.
    func observe(_ watch: @escaping (IKEEvent) -> Void) -> UUID {
        let id = UUID()
        queue.sync { observers[id] = watch }
        return id
    }

    func unobserve(_ id: UUID) { queue.sync { observers[id] = nil } }

    func listSAs() -> [IKESAInfo] { queue.sync { endpoint.listSAs(now: now) } }
    var stats: IKEEndpointStats { queue.sync { endpoint.stats } }
    var poolStatus: [AddressPoolStatus] { queue.sync { endpoint.poolStatus } }
    /// Why the engine cannot take these pools now (online leases in a changed or removed pool).
    /// Asked behind `update(configuration:)`'s queued work, so it sees every earlier change.
    func poolChangeRefusal(_ pools: [AddressPoolConfig]) -> String? { queue.sync { endpoint.poolChangeRefusal(pools) } }
    var saCounts: (total: Int, connecting: Int) { queue.sync { endpoint.saCounts } }
    var eventCounts: IKEEventCounts { queue.sync { counts } }

    // MARK: - Output

    private func apply(_ actions: [IKEAction], publishing: Bool = true, rearm: Bool = true) {
        for act in actions {
            switch act {
            case .send(let d, let from, let to):
                // Changes to the data plane land before any message that lets the peer use them
                // (an IKE_AUTH or CREATE_CHILD_SA response needs its inbound SA in place); held
                // datagrams keep their order.
                if publishing && (unpublished || !heldSends.isEmpty) {
                    heldSends.append((d, from, to))
                } else {
                    send(d, from: from, to: to)
                }
            case .sendKeepalive(let from, let to):
                send([0xFF], from: from, to: to, raw: true)
            case .installSA(let c):
                saOrders[c.key] = nextOrder
                changedSAs[c.key] = OrderedSA(order: nextOrder, config: c)
                nextOrder += 1
                unpublished = true
            case .updateSA(let old, let new):
                if let order = saOrders.removeValue(forKey: old) {
                    saOrders[new.key] = order
                    changedSAs.updateValue(nil, forKey: old)
                    changedSAs[new.key] = OrderedSA(order: order, config: new)
                }
                unpublished = true
            case .removeSA(let k):
                saOrders[k] = nil
                changedSAs.updateValue(nil, forKey: k)
                unpublished = true
            case .installPolicies(let reqid, let p):
                if let e = policies[reqid] {
                    policies[reqid] = (e.order, p)
                } else {
                    policies[reqid] = (nextOrder, p)
                    nextOrder += 1
                }
                changedPolicies.insert(reqid)
                unpublished = true
            case .removePolicies(let reqid):
                policies[reqid] = nil
                changedPolicies.insert(reqid)
                unpublished = true
            case .event(let e):
                report(e)
            case .keyLog(let k):
                writeKeyLog(k)
            case .lookup(let id, let lookup):
                log.debug("lookup \(id): \(lookup)")
                lookups.start(lookup) { [weak self] result in
                    guard let self else { return }
                    self.queue.async {
                        guard self.running else { return }
                        self.apply(self.endpoint.complete(lookup: id, result: result, now: self.now))
                    }
                }
            case .addVirtualIP(let a, let dns, let connection):
                virtualIP?(.add(a, dns: dns, connection: connection))
            case .removeVirtualIP(let a):
                virtualIP?(.remove(a))
            case .releaseHeld(let reqid, let send):
                // Held packets may only go out once the snapshot has their SA.
                if publishing && unpublished { flush() }
                releaseHeld?(reqid, send)
            }
        }
        if publishing && unpublished { publishSoon() }
        if rearm { rescheduleTimer() }
    }

    /// Arms the timer for the engine's next deadline (O(1): the engine keeps a deadline heap).
    private func rescheduleTimer() {
        let t = now
        let due = endpoint.nextDeadline ?? .never
        // An armed timer that fires early only finds nothing due and re-arms: re-arm when the
        // deadline moves earlier, or when the armed one has passed.
        if due >= armedFor && armedFor > t { return }
        armedFor = due
        if due != .never {
            timer?.schedule(deadline: .now() + max(0, due.seconds(since: t)) + 0.001, leeway: .milliseconds(5))
        } else {
            timer?.schedule(deadline: .distantFuture)
        }
    }

    /// Publishes now if the last publish is at least `publishInterval` (or four times as long as
    /// it took, so publishing takes at most a fifth of this queue) old, else once that much time
    /// has passed: everything changed meanwhile goes in one snapshot.
    private func publishSoon() {
        let spacing = publishInterval > 0 ? max(publishInterval, 4 * lastPublishDuration) : 0
        let wait = lastPublish.map { spacing - now.seconds(since: $0) } ?? 0
        if wait <= 0 {
            flush()
        } else if !publishScheduled {
            publishScheduled = true
            queue.asyncAfter(deadline: .now() + wait) { [weak self] in
                guard let self, self.running else { return }
                self.publishScheduled = false
                self.flush()
            }
        }
    }

    /// Publishes the pending data-plane changes, then sends the datagrams that waited for them.
    private func flush() {
        if unpublished {
            var change = DynamicDatabaseChange()
            for (k, entry) in changedSAs { change.sas.append((k, entry)) }
            for r in changedPolicies { change.policyGroups.append((r, policies[r].map { PolicyGroup(order: $0.order, policies: $0.policies) })) }
            changedSAs.removeAll(keepingCapacity: true)
            changedPolicies.removeAll(keepingCapacity: true)
            let start = now
            publish(change)
            unpublished = false
            let end = now
            lastPublish = end
            lastPublishDuration = end.seconds(since: start)
        }
        let held = heldSends
        heldSends = []
        for h in held { send(h.bytes, from: h.from, to: h.to) }
    }

    private func send(_ bytes: [UInt8], from: SocketAddress, to: SocketAddress, raw: Bool = false) {
        let encapsulated = from.port != ikePort && from.port == sockets.udpPort
        guard let socket = encapsulated ? sockets.udp[to.address.family] : portReaders.sendSockets[to.address.family] else {
            log.warning("IKE: no socket to send from \(from) to \(to)")
            return
        }
        let payload = encapsulated && !raw ? IKEMessage.nonESPMarker + bytes : bytes
        payload.withUnsafeBufferPointer { buf in
            var tx = tern_tx()
            tx.buf = buf.baseAddress
            tx.len = UInt32(buf.count)
            tx.family = to.address.family == .v4 ? 4 : 6
            tx.dst_port = to.port
            to.address.store(into: &tx.dst)
            if !from.address.isUnspecified {
                tx.has_src = 1
                from.address.store(into: &tx.src)
            }
            sendBatch.tx[0] = tx
            let r = sendBatch.send(socket, from: 0, count: 1)
            if r < 0 { log.debug("IKE: send to \(to) failed: errno \(-r)") }
        }
    }

    private func report(_ e: IKEEvent) {
        counts.record(e)
        switch e {
        case .log(let level, let text):
            switch level {
            case .debug: log.debug("\(text)")
            case .info: log.info("\(text)")
            case .notice: log.notice("\(text)")
            case .warning: log.warning("\(text)")
            case .error: log.error("\(text)")
            }
        case .ikeFailed, .childFailed: log.warning("\(e.description)")
        case .peerDead: break   // the session logged it as it found out
        case .initiationFinished: log.debug("\(e.description)")
        default: log.notice("\(e.description)")
        }
        for (id, w) in waiters where w(e) { waiters[id] = nil }
        counters.count(event: e)
        onEvent?(e)
        for o in observers.values { o(e) }
    }

    private func writeKeyLog(_ k: IKEKeyLogEntry) {
        guard let keyLog else { return }
        func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
        let line = "{\"ispi\": \"\(String(format: "%016llx", k.initiatorSPI))\", \"rspi\": \"\(String(format: "%016llx", k.responderSPI))\", "
            + "\"sk_ei\": \"\(hex(k.skEi))\", \"sk_er\": \"\(hex(k.skEr))\", \"sk_ai\": \"\(hex(k.skAi))\", \"sk_ar\": \"\(hex(k.skAr))\", "
            + "\"encr\": \"\(k.encryption.strongSwanName)\(k.encryption.keySizeBits.map { "_\($0)" } ?? "")\", \"integ\": \"\(k.integrity.strongSwanName)\"}\n"
        keyLog.write(Data(line.utf8))
    }

    /// The local address the kernel would use toward `peer`, ignoring our own routes into the
    /// TUN (the IKE sockets carry the fwmark our routing rule skips).
    static func sourceAddress(toward peer: IPAddress, mark: UInt32) -> IPAddress? {
        let fam = peer.family == .v4 ? AF_INET : AF_INET6
        let fd = socket(fam, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var m = mark
        _ = setsockopt(fd, SOL_SOCKET, SO_MARK, &m, socklen_t(MemoryLayout<UInt32>.size))
        var storage = sockaddr_storage()
        var len: socklen_t
        if peer.family == .v4 {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = UInt16(500).bigEndian
            sin.sin_addr.s_addr = peer.v4Value.bigEndian
            len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let r = withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, len) } }
            guard r == 0 else { return nil }
        } else {
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = UInt16(500).bigEndian
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { p in for (i, b) in peer.bytes.enumerated() { p[i] = b } }
            len = socklen_t(MemoryLayout<sockaddr_in6>.size)
            let r = withUnsafePointer(to: &sin6) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, len) } }
            guard r == 0 else { return nil }
        }
        len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let r = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        guard r == 0 else { return nil }
        if peer.family == .v4 {
            return withUnsafeBytes(of: storage) { p in IPAddress(bytes: Array(p[4..<8])) }
        }
        return withUnsafeBytes(of: storage) { p in IPAddress(bytes: Array(p[8..<24])) }
    }
}

/// How often IKE and CHILD SAs came up, rekeyed, failed or lost their peer, per connection.
struct IKEEventCounts {
    var ikeEstablished: [String: UInt64] = [:]
    var ikeFailures: [String: UInt64] = [:]
    var ikeRekeys: [String: UInt64] = [:]
    var childRekeys: [String: UInt64] = [:]
    var dpdFailures: [String: UInt64] = [:]

    mutating func record(_ e: IKEEvent) {
        switch e {
        case .ikeEstablished(let sa): ikeEstablished[sa.connection, default: 0] += 1
        case .ikeFailed(let connection, _): ikeFailures[connection, default: 0] += 1
        case .ikeRekeyed(let old, _): ikeRekeys[old.connection, default: 0] += 1
        case .childRekeyed(let sa, _, _): childRekeys[sa.connection, default: 0] += 1
        case .peerDead(let sa, _): dpdFailures[sa.connection, default: 0] += 1
        default: break
        }
    }
}
