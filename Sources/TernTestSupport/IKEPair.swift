import Foundation
import TernCrypto
import TernDataPlane
import TernIKE
import TernPKI
import TernWire

/// Two IKE endpoints in memory with a manual clock and a link that can drop, duplicate, delay
/// and rewrite datagrams (a NAT). Every datagram and action is recorded.
public final class IKEPair {
    public final class Side {
        public let name: String
        public let endpoint: IKEEndpoint
        public let address: IPAddress
        /// SAs installed in the data plane, in installation order (the newest outbound of a reqid sends).
        public var sas: [SAConfig] = []
        public var policies: [UInt32: [PolicyConfig]] = [:]
        public var events: [IKEEvent] = []
        public var keepalives = 0
        public var released: [(reqid: UInt32, send: Bool)] = []
        /// Virtual IPs installed on this side (addVirtualIP/removeVirtualIP) and their DNS servers.
        public var virtualIPs: [IPAddress] = []
        public var dns: [IPAddress: [IPAddress]] = [:]
        /// What this side's lookups answer: its source address, host names, CRL URIs.
        public var sourceAddress: IPAddress?
        public var names: [String: [IPAddress]] = [:]
        public var crls: (String) -> [CRL]? = { _ in nil }
        /// Lookups this side asked for, in order.
        public var lookups: [IKELookup] = []
        /// Lookups the test answers itself (`answer`), instead of at once.
        public var holdLookups: (IKELookup) -> Bool = { _ in false }
        public var heldLookups: [(id: UInt64, lookup: IKELookup)] = []
        init(copying o: Side) {
            name = o.name; endpoint = o.endpoint.copy(); address = o.address
            sas = o.sas; policies = o.policies; events = o.events; keepalives = o.keepalives; released = o.released
            sourceAddress = o.sourceAddress; names = o.names; crls = o.crls
            lookups = o.lookups; holdLookups = o.holdLookups; heldLookups = o.heldLookups
        }

        public init(name: String, endpoint: IKEEndpoint, address: IPAddress) {
            self.name = name; self.endpoint = endpoint; self.address = address; self.sourceAddress = address
        }

        public func result(of lookup: IKELookup) -> IKELookupResult {
            switch lookup {
            case .resolve(let h): names[h].map { .addresses($0) } ?? .failed("no such host")
            case .sourceAddress: .sourceAddress(sourceAddress)
            case .fetchCRL(let uri): .crls(crls(uri))
            }
        }

        public var established: [IKESAInfo] { endpoint.listSAs(now: 0).filter { $0.state == .established } }
        public var logLines: [String] { events.map(\.description) }
        public func sa(_ key: SAKey) -> SAConfig? { sas.first { $0.key == key } }
        public var inboundSAs: [SAConfig] { sas.filter { $0.destination == address || $0.source != address } }
        public var outboundSAs: [SAConfig] { sas.filter { $0.source == address } }

        /// The SA the data plane would send on for a reqid: the newest outbound one.
        public func currentOutbound(reqid: UInt32) -> SAConfig? { outboundSAs.last { $0.reqid == reqid } }
    }

    public struct Datagram {
        public var bytes: [UInt8]
        public var from: SocketAddress
        public var to: SocketAddress
        public var deliverAt: MonotonicInstant
        public var sender: String
    }

    public let a: Side
    public let b: Side
    public var now: MonotonicInstant = 0
    public var inFlight: [Datagram] = []
    public var log: [Datagram] = []
    public var latency = 0.01
    /// Return false to drop a datagram (sender name, datagram index in `log`).
    public var shouldDeliver: (Datagram, Int) -> Bool = { _, _ in true }
    public var duplicate: (Datagram) -> Bool = { _ in false }
    /// Rewrites a datagram on its way (NAT). Applied before delivery.
    public var rewrite: (inout Datagram) -> Void = { _ in }

    public convenience init(configA: EngineConfiguration, configB: EngineConfiguration,
         addressA: IPAddress = IPAddress("192.0.2.1")!, addressB: IPAddress = IPAddress("192.0.2.2")!, seed: UInt64 = 1) {
        let ea = IKEEndpoint(configuration: configA, random: .seeded(seed))
        let eb = IKEEndpoint(configuration: configB, random: .seeded(seed &+ 1000))
        self.init(endpointA: ea, endpointB: eb, addressA: addressA, addressB: addressB)
    }

    /// A pair over endpoints made elsewhere: one gateway endpoint can serve many pairs (one per
    /// client address), as a roadwarrior gateway serves many clients.
    public init(endpointA ea: IKEEndpoint, endpointB eb: IKEEndpoint, addressA: IPAddress, addressB: IPAddress) {
        if ea.calendarTime == Date(timeIntervalSince1970: 0) { ea.calendarTime = Date() }
        if eb.calendarTime == Date(timeIntervalSince1970: 0) { eb.calendarTime = ea.calendarTime }
        a = Side(name: "A", endpoint: ea, address: addressA)
        b = Side(name: "B", endpoint: eb, address: addressB)
    }

    /// An independent pair in the same state (endpoints copied with `IKEEndpoint.copy()`, the
    /// link's datagrams in flight and every record): drive it without touching this one. Fuzzers
    /// and tests start many runs from one established pair this way instead of negotiating anew.
    public func copy() -> IKEPair { IKEPair(copying: self) }

    private init(copying o: IKEPair) {
        a = Side(copying: o.a)
        b = Side(copying: o.b)
        now = o.now; inFlight = o.inFlight; log = o.log; latency = o.latency
        shouldDeliver = o.shouldDeliver; duplicate = o.duplicate; rewrite = o.rewrite
    }

    /// Answers a lookup the test held back (`holdLookups`).
    public func answer(_ s: Side, _ lookup: IKELookup, with result: IKELookupResult? = nil) {
        guard let i = s.heldLookups.firstIndex(where: { $0.lookup == lookup }) else { return }
        let held = s.heldLookups.remove(at: i)
        apply(s.endpoint.complete(lookup: held.id, result: result ?? s.result(of: lookup), now: now), on: s)
    }

    public func side(for address: IPAddress) -> Side? {
        if address == a.address { return a }
        if address == b.address { return b }
        return nil
    }

    public func apply(_ actions: [IKEAction], on s: Side) {
        for act in actions {
            switch act {
            case .send(let d, let from, let to):
                let dg = Datagram(bytes: d, from: from, to: to, deliverAt: now + latency, sender: s.name)
                log.append(dg)
                guard shouldDeliver(dg, log.count - 1) else { continue }
                inFlight.append(dg)
                if duplicate(dg) { inFlight.append(Datagram(bytes: d, from: from, to: to, deliverAt: now + latency * 2, sender: s.name)) }
            case .sendKeepalive: s.keepalives += 1
            case .installSA(let c):
                precondition(!s.sas.contains { $0.key == c.key }, "\(s.name): SA \(c.key) installed twice")
                s.sas.append(c)
            case .updateSA(let old, let new):
                if let i = s.sas.firstIndex(where: { $0.key == old }) { s.sas[i] = new }
            case .removeSA(let k):
                s.sas.removeAll { $0.key == k }
            case .installPolicies(let r, let p): s.policies[r] = p
            case .removePolicies(let r): s.policies[r] = nil
            case .event(let e): s.events.append(e)
            case .keyLog: break
            case .releaseHeld(let r, let send): s.released.append((r, send))
            case .addVirtualIP(let a, let dns, _):
                precondition(!s.virtualIPs.contains(a), "\(s.name): virtual IP \(a) added twice")
                s.virtualIPs.append(a)
                s.dns[a] = dns
            case .removeVirtualIP(let a):
                precondition(s.virtualIPs.contains(a), "\(s.name): virtual IP \(a) removed but not installed")
                s.virtualIPs.removeAll { $0 == a }
                s.dns[a] = nil
            case .lookup(let id, let lookup):
                s.lookups.append(lookup)
                if s.holdLookups(lookup) {
                    s.heldLookups.append((id, lookup))
                } else {
                    apply(s.endpoint.complete(lookup: id, result: s.result(of: lookup), now: now), on: s)
                }
            }
        }
    }

    public func initiate(_ s: Side, connection: String, child: String? = nil) throws {
        apply(try s.endpoint.initiate(connection: connection, child: child, now: now), on: s)
    }

    /// Delivers datagrams and fires timers in time order until `condition` holds or `limit` seconds pass.
    @discardableResult
    public func run(until condition: () -> Bool = { false }, for limit: Double = 60) -> Bool {
        let end = now + limit
        while !condition() {
            for s in [a, b] {
                // The deadline heap is never later than a walk over every IKE SA.
                if let scan = s.endpoint.nextDeadlineByScan {
                    precondition((s.endpoint.nextDeadline ?? .never) <= scan, "\(s.name): deadline heap missed a timer at \(scan)")
                }
            }
            let nextPacket = inFlight.map(\.deliverAt).min()
            let nextTimer = [a.endpoint.nextDeadline, b.endpoint.nextDeadline].compactMap { $0 }.min()
            guard let t = [nextPacket, nextTimer].compactMap({ $0 }).min(), t <= end else { now = end; return condition() }
            now = max(now, t)
            if let np = nextPacket, np <= now, let i = inFlight.firstIndex(where: { $0.deliverAt == np }) {
                var d = inFlight.remove(at: i)
                rewrite(&d)
                guard let target = side(for: d.to.address) else { continue }
                apply(target.endpoint.handle(datagram: d.bytes, from: d.from, to: d.to, now: now), on: target)
            } else {
                apply(a.endpoint.handleTimeout(now: now), on: a)
                apply(b.endpoint.handleTimeout(now: now), on: b)
            }
        }
        return true
    }

    /// The two sides agree: every outbound SA of one is an inbound SA of the other with the same keys.
    public func consistent() -> Bool {
        for (x, y) in [(a, b), (b, a)] {
            for o in x.outboundSAs {
                guard let i = y.sas.first(where: { $0.spi == o.spi && $0.proto == o.proto }),
                      i.encryptionKey == o.encryptionKey, i.integrityKey == o.integrityKey, i.encryption == o.encryption else { return false }
            }
        }
        return true
    }
}

/// Engine configurations the in-memory tests start from.
public enum IKEFixtures {
    /// A roadwarrior client A (`vips`, dynamic TSi, 10.2.0.0/24 behind the gateway) and a
    /// gateway B leasing from `pools` (by default one pool `rw` of 10.3.0.0/28), PSK-authenticated.
    public static func roadwarrior(client: String = "alice@example.com", vips: [String] = ["0.0.0.0"],
                                   pools: [AddressPoolConfig] = [AddressPoolConfig(name: "rw", subnet: IPPrefix("10.3.0.0/28")!)],
                                   poolNames: [String]? = nil, addressA: String = "192.0.2.1", addressB: String = "192.0.2.2",
                                   remoteNets: [String] = ["10.2.0.0/24"],
                                   tune: (inout ConnectionPolicy) -> Void = { _ in }) -> (EngineConfiguration, EngineConfiguration) {
        let (ip, ep) = proposals("aes256gcm16-prfsha256-x25519", "aes256gcm16")
        let nets = remoteNets.map { SelectorPolicy(prefix: IPPrefix($0)!) }
        var c = ConnectionPolicy(name: "home", remoteAddresses: [.address(IPAddress(addressB)!)], proposals: ip,
                                 children: [ChildPolicy(name: "home", remoteSelectors: nets, proposals: ep)])
        c.localIdentity = try! Identity(parsing: client)
        c.remoteIdentity = try! Identity(parsing: "gw.example.com")
        c.vips = vips.map { IPAddress($0)! }
        var g = ConnectionPolicy(name: "rw", localAddresses: [.address(IPAddress(addressB)!)], remoteAddresses: [.any], proposals: ip,
                                 children: [ChildPolicy(name: "rw", localSelectors: nets, proposals: ep)])
        g.localIdentity = try! Identity(parsing: "gw.example.com")
        g.remoteIdentity = nil
        g.pools = poolNames ?? pools.map(\.name)
        tune(&g)
        let key = SharedKey(owners: [], secret: psk)
        var a = EngineConfiguration(connections: [c], sharedKeys: [key])
        var b = EngineConfiguration(connections: [g], sharedKeys: [key])
        b.pools = pools
        a.retransmission = RetransmissionPolicy(timeout: 1, base: 1.8, tries: 3)
        b.retransmission = a.retransmission
        return (a, b)
    }

    public static let psk = Array("a shared secret long enough for tests".utf8)

    public static func proposals(_ ike: String, _ esp: String) -> ([AlgorithmProposal], [AlgorithmProposal]) {
        (try! ProposalParser.parse(ike, for: .ike), try! ProposalParser.parse(esp, for: .esp))
    }

    /// A site-to-site pair: A (192.0.2.1, 10.1.0.0/24) and B (192.0.2.2, 10.2.0.0/24).
    public static func siteToSite(ike: String = "aes256gcm16-prfsha256-x25519", esp: String = "aes256gcm16",
                           ikeB: String? = nil, espB: String? = nil, pskB: [UInt8]? = nil,
                           addressA: String = "192.0.2.1", addressB: String = "192.0.2.2",
                           tune: (inout ConnectionPolicy) -> Void = { _ in }) -> (EngineConfiguration, EngineConfiguration) {
        func conn(name: String, local: String, remote: String, localNet: String, remoteNet: String, localID: String, remoteID: String,
                  ike: String, esp: String) -> ConnectionPolicy {
            let (ip, ep) = proposals(ike, esp)
            var child = ChildPolicy(name: "net", localSelectors: [SelectorPolicy(prefix: IPPrefix(localNet)!)],
                                    remoteSelectors: [SelectorPolicy(prefix: IPPrefix(remoteNet)!)], proposals: ep)
            child.dpdAction = .restart
            var c = ConnectionPolicy(name: name, localAddresses: [.address(IPAddress(local)!)], remoteAddresses: [.address(IPAddress(remote)!)],
                                     proposals: ip, children: [child])
            c.localIdentity = try! Identity(parsing: localID)
            c.remoteIdentity = try! Identity(parsing: remoteID)
            tune(&c)
            return c
        }
        let ca = conn(name: "to-b", local: addressA, remote: addressB, localNet: "10.1.0.0/24", remoteNet: "10.2.0.0/24",
                      localID: "gateway-a@example.com", remoteID: "gateway-b@example.com", ike: ike, esp: esp)
        let cb = conn(name: "to-a", local: addressB, remote: addressA, localNet: "10.2.0.0/24", remoteNet: "10.1.0.0/24",
                      localID: "gateway-b@example.com", remoteID: "gateway-a@example.com", ike: ikeB ?? ike, esp: espB ?? esp)
        let owners = [try! Identity(parsing: "gateway-a@example.com"), try! Identity(parsing: "gateway-b@example.com")]
        var a = EngineConfiguration(connections: [ca], sharedKeys: [SharedKey(owners: owners, secret: psk)])
        var b = EngineConfiguration(connections: [cb], sharedKeys: [SharedKey(owners: owners, secret: pskB ?? psk)])
        a.retransmission = RetransmissionPolicy(timeout: 1, base: 1.8, tries: 3)
        b.retransmission = a.retransmission
        return (a, b)
    }
}
