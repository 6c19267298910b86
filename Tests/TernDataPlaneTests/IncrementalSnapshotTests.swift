import Testing
import TernCrypto
@testable import TernDataPlane
import TernTestSupport
import TernWire

/// The persistent structures behind incremental publishing, and snapshots built by applying
/// changes, checked against plain dictionaries, sorted arrays and from-scratch builds.
@Suite struct IncrementalSnapshotTests {
    @Test func shardedMapAgreesWithDictionaryAndLeavesCopiesAlone() {
        var rng = SeededBytes(seed: 7)
        var map = ShardedMap<UInt32, Int>()
        var model: [UInt32: Int] = [:]
        var saved: [(ShardedMap<UInt32, Int>, [UInt32: Int])] = []
        for step in 0..<20_000 {
            let key = UInt32(rng.next() % 3000)
            if rng.next() % 3 == 0 {
                #expect(map.updateValue(nil, forKey: key) == model.removeValue(forKey: key))
            } else {
                #expect(map.updateValue(step, forKey: key) == model.updateValue(step, forKey: key))
            }
            if step % 2500 == 0 { saved.append((map, model)) }
        }
        #expect(map.count == model.count)
        for k in UInt32(0)..<3000 { #expect(map[k] == model[k]) }
        // Every earlier copy still holds what it held (no shard written while shared).
        for (m, d) in saved {
            #expect(m.count == d.count)
            var seen = 0
            m.forEach { k, v in
                seen += 1
                #expect(d[k] == v)
            }
            #expect(seen == d.count)
        }
    }

    @Test func rankedListStaysSortedAndLeavesCopiesAlone() {
        var rng = SeededBytes(seed: 11)
        var list = RankedList<UInt64>()
        var model: [UInt64] = []
        var saved: [(RankedList<UInt64>, [UInt64])] = []
        for step in 0..<5000 {
            // Mostly appends (installation order), some in the middle, some removals.
            let r = rng.next() % 4
            if r == 0, !model.isEmpty {
                let victim = model[Int(rng.next() % UInt64(model.count))]
                #expect(list.remove(rank: victim) == victim)
                model.removeAll { $0 == victim }
            } else {
                let rank = r == 1 ? rng.next() % 100_000 : 100_000 + UInt64(step)
                list.insert(rank, rank: rank)
                if !model.contains(rank) { model.append(rank); model.sort() }
            }
            #expect(list.last == model.last)
            #expect(list.first?.value == model.first)
            if step % 500 == 0 { saved.append((list, model)) }
        }
        #expect(list.remove(rank: 99_999_999) == nil)
        for (l, m) in saved + [(list, model)] {
            var got: [UInt64] = []
            l.forEach { r, v in
                #expect(r == v)
                got.append(v)
            }
            #expect(got == m && l.count == m.count)
        }
    }

    // MARK: - Snapshots

    static let local = IPAddress("192.0.2.1")!
    static let peers = (2...4).map { IPAddress(v4: 0xC000_0200 | UInt32($0)) }   // 192.0.2.2–4

    struct Model {
        var rng: SeededBytes
        var dynamic = DynamicDatabase()
        var order: UInt64 = 0

        /// Keys in a small space, so changes hit existing entries, shadow setkey's and each other's.
        mutating func saConfig(spi: UInt32, outbound: Bool, peer: IPAddress, reqid: UInt32) -> SAConfig {
            let (s, d) = outbound ? (IncrementalSnapshotTests.local, peer) : (peer, IncrementalSnapshotTests.local)
            return SAConfig(source: s, destination: d, proto: .esp, spi: spi, mode: .tunnel, reqid: reqid,
                            encryption: .aesGCM16(keyBits: 128), encryptionKey: KeyMaterial(rng.bytes(20)))
        }

        mutating func policies(reqid: UInt32) -> [PolicyConfig] {
            let peer = IncrementalSnapshotTests.peers[Int(rng.next() % 3)]
            let net = Int(rng.next() % 4)
            let dst = IPPrefix(IPAddress(v4: 0xC633_6400 | UInt32(net * 16)), length: 28 + Int(rng.next() % 2) * 4)
            let src = IPPrefix("203.0.113.0/24")!
            let rule = IPSecRule(proto: .esp, mode: .tunnel, tunnelSource: IncrementalSnapshotTests.local,
                                 tunnelDestination: peer, level: .unique(reqid: reqid))
            let priority = UInt32(rng.next() % 2)
            return [PolicyConfig(source: src, destination: dst, direction: .outbound, priority: priority, action: .protect([rule])),
                    PolicyConfig(source: dst, destination: src, direction: .inbound, priority: priority, action: .protect([rule]))]
        }

        /// A random change (several entries), applied to `dynamic`. Like the controller's, each
        /// entry follows from the state after the ones before (orders stay unique).
        mutating func change() -> DynamicDatabaseChange {
            var c = DynamicDatabaseChange()
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                var step = DynamicDatabaseChange()
                defer {
                    dynamic.apply(step)
                    c.sas += step.sas
                }
                let spi = 0x100 + UInt32(rng.next() % 24)
                let outbound = rng.next() % 2 == 0
                let peer = IncrementalSnapshotTests.peers[Int(rng.next() % 3)]
                let key = SAKey(destination: outbound ? peer : IncrementalSnapshotTests.local, proto: .esp, spi: spi)
                switch rng.next() % 5 {
                case 0:
                    step.sas.append((key, nil))
                case 1:
                    // A move: the same SA (SPI, keys) at another peer address.
                    if let e = dynamic.orderedSAs.first(where: { $0.config.spi == spi }) {
                        var moved = e.config
                        if moved.source == IncrementalSnapshotTests.local { moved.destination = peer } else { moved.source = peer }
                        step.sas.append((e.config.key, nil))
                        step.sas.append((moved.key, OrderedSA(order: e.order, config: moved)))
                    }
                default:
                    let cfg = saConfig(spi: spi, outbound: outbound, peer: peer, reqid: 1 + UInt32(rng.next() % 6))
                    step.sas.append((cfg.key, OrderedSA(order: order, config: cfg)))
                    order += 1
                }
            }
            if rng.next() % 2 == 0 {
                let reqid = 1 + UInt32(rng.next() % 6)
                if rng.next() % 3 == 0 {
                    c.policyGroups.append((reqid, nil))
                } else {
                    let keep = dynamic[policies: reqid]?.order
                    c.policyGroups.append((reqid, PolicyGroup(order: keep ?? order, policies: policies(reqid: reqid))))
                    if keep == nil { order += 1 }
                }
            }
            if let g = c.policyGroups.first { dynamic.apply({ var p = DynamicDatabaseChange(); p.policyGroups = [g]; return p }()) }
            // The controller sends each key once, with its state now: the last entry's.
            var seen = Set<SAKey>()
            c.sas = c.sas.reversed().filter { seen.insert($0.key).inserted }.reversed()
            return c
        }
    }

    static func staticDatabase() throws -> SecurityDatabaseConfig {
        var db = SecurityDatabaseConfig()
        var rng = SeededBytes(seed: 99)
        // One setkey SA whose key IKE's random ones will hit (it must keep it), one of its own.
        for (spi, peer) in [(UInt32(0x105), peers[0]), (0x900, peers[1])] {
            try db.addSA(SAConfig(source: local, destination: peer, proto: .esp, spi: spi, mode: .tunnel, reqid: 3,
                                  encryption: .aesGCM16(keyBits: 128), encryptionKey: KeyMaterial(rng.bytes(20))))
        }
        try db.addPolicy(PolicyConfig(source: IPPrefix("203.0.113.0/24")!, destination: IPPrefix("198.51.100.16/28")!,
                                      direction: .outbound, action: .bypass))
        try db.addPolicy(PolicyConfig(source: IPPrefix("0.0.0.0/0")!, destination: IPPrefix("198.51.100.0/24")!,
                                      direction: .outbound, priority: 1, action: .discard))
        return db
    }

    func probes() -> [PacketSelectors] {
        (0..<64).map { i in
            PacketSelectors(source: IPAddress(v4: 0xCB00_7105), destination: IPAddress(v4: 0xC633_6400 | UInt32(i)),
                            upperProtocol: 17, sourcePort: 1000, destinationPort: 53, upperLayerOffset: 20, totalLength: 100)
        }
    }

    /// After every random change, the snapshot built by `applying` looks up exactly what a
    /// from-scratch build of the merged databases (the way the daemon built every snapshot
    /// before) looks up, lists the same SAs and policies in the same order, and carries over the
    /// same objects as a from-scratch build from the same previous snapshot.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func applyingEqualsFromScratch(seed: UInt64) throws {
        let db = try Self.staticDatabase()
        let localAddresses: Set<IPAddress> = [Self.local]
        var model = Model(rng: SeededBytes(seed: seed))
        var incremental = try DataPlaneSnapshot(config: db, localAddresses: localAddresses, now: 1)
        for step in 0..<300 {
            let previous = incremental
            let change = model.change()
            incremental = try previous.applying(change, now: 1)
            let merged = try DataPlaneSnapshot(config: model.dynamic.merged(into: db), localAddresses: localAddresses, now: 1)
            let rebuilt = try DataPlaneSnapshot(static: db, dynamic: model.dynamic, localAddresses: localAddresses,
                                                previous: previous, now: 1)

            #expect(incremental.associations.map(\.config) == merged.associations.map(\.config), "step \(step)")
            #expect(incremental.policies.map(\.config) == merged.policies.map(\.config), "step \(step)")
            #expect(incremental.associationCount == merged.associationCount && incremental.policyCount == merged.policyCount)
            #expect(incremental.worstCaseOverhead == merged.worstCaseOverhead)
            for s in probes() {
                let policy = incremental.outboundPolicy(s)
                #expect(policy?.config == merged.outboundPolicy(s)?.config, "step \(step) \(s.destination)")
                #expect(incremental.inboundPolicy(s)?.config == merged.inboundPolicy(s)?.config)
                if let policy, case .protect(let rules) = policy.config.action, let rule = rules.first {
                    #expect(incremental.outboundSA(for: rule, s)?.config == merged.outboundSA(for: rule, s)?.config, "step \(step)")
                }
            }
            for spi in UInt32(0x100)..<0x118 {
                for dst in Self.peers + [Self.local] {
                    #expect(incremental.inboundSA(spi: spi, destination: dst, proto: .esp)?.config
                            == merged.inboundSA(spi: spi, destination: dst, proto: .esp)?.config)
                }
            }
            // Same objects carried over (or continued) as a full build from the same snapshot.
            let old = Dictionary(previous.associations.map { ($0.config.key, $0) }, uniquingKeysWith: { a, _ in a })
            let full = Dictionary(rebuilt.associations.map { ($0.config.key, $0) }, uniquingKeysWith: { a, _ in a })
            for sa in incremental.associations {
                let twin = try #require(full[sa.config.key])
                #expect((old[sa.config.key] === sa) == (old[sa.config.key] === twin), "step \(step) \(sa.config.key)")
                #expect(sa.lastSequenceSent == twin.lastSequenceSent)
            }
            let oldPolicies = Set(previous.policies.map(ObjectIdentifier.init))
            #expect(incremental.policies.map { oldPolicies.contains(ObjectIdentifier($0)) }
                    == rebuilt.policies.map { oldPolicies.contains(ObjectIdentifier($0)) }, "step \(step)")
            // Send on every outbound SA, so continued state is visible in later steps.
            for sa in incremental.associations where sa.isOutbound { _ = sa.nextSequence() }
        }
    }

    /// A rekey (make-before-break): the new outbound SA sends while the old one is still
    /// installed; removing the new one again falls back to the old.
    @Test func newestOutboundSASendsAndOlderTakesOverWhenItGoes() throws {
        var model = Model(rng: SeededBytes(seed: 5))
        let old = model.saConfig(spi: 0x10, outbound: true, peer: Self.peers[0], reqid: 9)
        let new = model.saConfig(spi: 0x11, outbound: true, peer: Self.peers[0], reqid: 9)
        var c = DynamicDatabaseChange()
        c.sas = [(old.key, OrderedSA(order: 1, config: old))]
        c.policyGroups = [(9, PolicyGroup(order: 2, policies: model.policies(reqid: 9)))]
        var snap = try DataPlaneSnapshot(config: SecurityDatabaseConfig(), localAddresses: [Self.local], now: 1).applying(c, now: 1)
        let rule = IPSecRule(proto: .esp, mode: .tunnel, level: .unique(reqid: 9))
        let s = probes()[0]
        #expect(snap.outboundSA(for: rule, s)?.config.spi == 0x10)
        let before = snap.policyVersion
        snap = try snap.applying({ var c = DynamicDatabaseChange(); c.sas = [(new.key, OrderedSA(order: 3, config: new))]; return c }(), now: 1)
        #expect(snap.outboundSA(for: rule, s)?.config.spi == 0x11)
        #expect(snap.policyVersion == before)   // no policy changed: routes stay
        snap = try snap.applying({ var c = DynamicDatabaseChange(); c.sas = [(new.key, nil)]; return c }(), now: 1)
        #expect(snap.outboundSA(for: rule, s)?.config.spi == 0x10)
    }

    /// An SA that cannot be installed fails the change and leaves the snapshot as it was.
    @Test func failedChangeLeavesSnapshotAlone() throws {
        var model = Model(rng: SeededBytes(seed: 6))
        let good = model.saConfig(spi: 0x20, outbound: true, peer: Self.peers[0], reqid: 1)
        var bad = model.saConfig(spi: 0x21, outbound: true, peer: Self.peers[0], reqid: 1)
        bad.encryptionKey = KeyMaterial([1, 2, 3])
        var c = DynamicDatabaseChange()
        c.sas = [(good.key, OrderedSA(order: 1, config: good))]
        let snap = try DataPlaneSnapshot(config: SecurityDatabaseConfig(), localAddresses: [Self.local], now: 1).applying(c, now: 1)
        c.sas = [(good.key, nil), (bad.key, OrderedSA(order: 2, config: bad))]
        #expect(throws: DataPlaneSnapshot.InstallError.self) { try snap.applying(c, now: 1) }
        #expect(snap.associations.map(\.config) == [good])
        #expect(snap.dynamic.saCount == 1)
    }
}
